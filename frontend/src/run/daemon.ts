// A daemon attempt in the task drawer (docs/spec.md, "Daemons"): where it
// serves, from its outputs (ip, service) and its request (ports). Pure:
// tested in daemon.test.ts.

export interface DaemonAddress {
  ip: string;
  service: string;
  ports: string[];
}

/** The address a ready daemon serves at; null for an attempt that is not a
 * daemon's or not ready (no ip yet). */
export function daemonAddress(
  request: Record<string, unknown> | null | undefined,
  parameters: { name: string; value: string }[],
): DaemonAddress | null {
  const daemon = request?.daemon as { ports?: { name?: string; port: number }[] } | null | undefined;
  if (!daemon) return null;
  const value = (name: string) => parameters.find((p) => p.name === name)?.value ?? "";
  const ip = value("ip");
  if (!ip) return null;
  const ports = (daemon.ports ?? []).map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port)));
  return { ip, service: value("service"), ports };
}

/** Whether the attempt's request is a daemon's. */
export function isDaemon(request: Record<string, unknown> | null | undefined): boolean {
  return Boolean(request?.daemon);
}
