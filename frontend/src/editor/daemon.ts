// Daemon tasks and extra containers in the task form (docs/spec.md, "Daemons",
// "Init containers and sidecars"): what the form's text boxes say, read into the
// spec's shapes and written back. Pure: tested in daemon.test.ts.
import { type Obj, isObj } from "./model";

export interface Port {
  name?: string;
  port: number | string;
}

/** "pg:5432, 8080" -> [{name: "pg", port: 5432}, {port: 8080}]; what does
 * not read as a number stays as written, for the server to name. */
export function portsFromText(text: string): Port[] | undefined {
  const ports = text
    .split(/[,\s]+/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part): Port => {
      const at = part.lastIndexOf(":");
      const name = at > 0 ? part.slice(0, at) : "";
      const raw = at > 0 ? part.slice(at + 1) : part;
      const number = Number(raw);
      const port = raw !== "" && Number.isInteger(number) ? number : raw;
      return name ? { name, port } : { port };
    });
  return ports.length ? ports : undefined;
}

export function portsText(ports: unknown): string {
  if (!Array.isArray(ports)) return "";
  return ports
    .filter(isObj)
    .map((port) => (port.name ? `${String(port.name)}:${String(port.port ?? "")}` : String(port.port ?? "")))
    .join(", ");
}

export type ProbeKind = "tcp" | "http" | "exec";

/** Which kind of readiness probe the task has, and its one value (the port,
 * the path, or the command as a shell line); "tcp" and "" when none is set
 * (the default: a TCP connection to the first port). */
export function probeOf(probe: unknown): { kind: ProbeKind; value: string } {
  if (!isObj(probe)) return { kind: "tcp", value: "" };
  if (isObj(probe.httpGet)) return { kind: "http", value: String(probe.httpGet.path ?? "/") };
  if (isObj(probe.exec)) {
    const command = Array.isArray(probe.exec.command) ? probe.exec.command.map(String) : [];
    return { kind: "exec", value: command.length === 3 && command[1] === "-c" ? command[2] : command.join(" ") };
  }
  if (isObj(probe.tcpSocket)) return { kind: "tcp", value: String(probe.tcpSocket.port ?? "") };
  return { kind: "tcp", value: "" };
}

/** The probe the form describes, keeping the timings the task had;
 * undefined for the default (TCP on the first port, no timings). */
export function probeFrom(kind: ProbeKind, value: string, ports: Port[] | undefined, old: unknown): Obj | undefined {
  const timings: Obj = {};
  if (isObj(old)) {
    for (const [key, item] of Object.entries(old)) {
      if (!["tcpSocket", "httpGet", "exec"].includes(key)) timings[key] = item;
    }
  }
  const first = ports?.[0];
  const port = first ? (first.name ? first.name : first.port) : undefined;
  if (kind === "exec") return value.trim() ? { exec: { command: ["sh", "-c", value] }, ...timings } : undefined;
  if (kind === "http") return { httpGet: { path: value.trim() || "/", port }, ...timings };
  if (!value.trim()) return Object.keys(timings).length ? { tcpSocket: { port }, ...timings } : undefined;
  const number = Number(value);
  return { tcpSocket: { port: Number.isInteger(number) ? number : value.trim() }, ...timings };
}

/** "KEY=value" lines -> env entries (a line without "=" is a name with an
 * empty value); the other fields of an entry that stays (secret, valueFrom)
 * are kept. */
export function envFromText(text: string, old: unknown): Obj[] | undefined {
  const before = new Map((Array.isArray(old) ? old.filter(isObj) : []).map((entry) => [String(entry.name), entry]));
  const env = text
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => {
      const at = line.indexOf("=");
      const name = (at >= 0 ? line.slice(0, at) : line).trim();
      const value = at >= 0 ? line.slice(at + 1) : "";
      const kept = before.get(name);
      if (kept && isObj(kept.valueFrom)) return kept;
      return { ...(kept ?? {}), name, value };
    });
  return env.length ? env : undefined;
}

export function envText(env: unknown): string {
  if (!Array.isArray(env)) return "";
  return env
    .filter(isObj)
    .map((entry) => (isObj(entry.valueFrom) ? `${String(entry.name)}=<from a secret or config map>` : `${String(entry.name)}=${String(entry.value ?? "")}`))
    .join("\n");
}

/** "volume:/path" lines, ":ro" at the end for read only -> volumeMounts. */
export function mountsFromText(text: string): Obj[] | undefined {
  const mounts = text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const readOnly = line.endsWith(":ro");
      const body = readOnly ? line.slice(0, -3) : line;
      const at = body.indexOf(":");
      const mount: Obj = { name: at >= 0 ? body.slice(0, at) : body, mountPath: at >= 0 ? body.slice(at + 1) : "" };
      if (readOnly) mount.readOnly = true;
      return mount;
    });
  return mounts.length ? mounts : undefined;
}

export function mountsText(mounts: unknown): string {
  if (!Array.isArray(mounts)) return "";
  return mounts
    .filter(isObj)
    .map((mount) => `${String(mount.name ?? "")}:${String(mount.mountPath ?? "")}${mount.readOnly ? ":ro" : ""}`)
    .join("\n");
}

/** A container's resources with one quantity set (or removed when empty);
 * undefined when nothing is left. */
export function withResource(resources: unknown, side: "requests" | "limits", name: string, value: string): Obj | undefined {
  const next: Obj = isObj(resources) ? { ...resources } : {};
  const part: Obj = isObj(next[side]) ? { ...(next[side] as Obj) } : {};
  if (value.trim()) part[name] = value.trim();
  else delete part[name];
  if (Object.keys(part).length) next[side] = part;
  else delete next[side];
  return Object.keys(next).length ? next : undefined;
}

export function resourceOf(resources: unknown, side: "requests" | "limits", name: string): string {
  if (!isObj(resources) || !isObj(resources[side])) return "";
  const value = (resources[side] as Obj)[name];
  return value === undefined ? "" : String(value);
}

/** The fields only a daemon has: cleared when the daemon toggle goes off. */
export const DAEMON_ONLY = ["ports", "readinessProbe", "persistent", "storage"] as const;
