// A small icon per task state, so states read without their colour too (and
// in a legend). Drawn in SVG: the glyphs of fonts vary from machine to
// machine, and some have none for a stack or a skip.
import { statusColour } from "./status";

const PATHS: Record<string, string> = {
  Pending: "M6 1.5a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9z",
  Queued: "M6 1.5a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9zM6 3.5V6l1.8 1.2",
  Running: "M3.5 2l6 4-6 4z",
  Expanded: "M1.5 4.5h6v6h-6zM3.5 2.5h6v6M5.5 0.8h5.7v5.7",
  Retrying: "M9.8 4.2A4.2 4.2 0 1 0 10 7.5M10 1.5v3h-3",
  Cancelling: "M6 1.5a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9zM3 3l6 6",
  Succeeded: "M2 6.3l2.6 2.6L10 3.3",
  Skipped: "M1.5 8.5C2.5 3 8 2 10 6.5M10.3 3.6l-.3 2.9-2.8-.6M1.5 10.5h9",
  Failed: "M2.5 2.5l7 7M9.5 2.5l-7 7",
  Error: "M6 1.2l5 9H1zM6 4.5v2.6M6 8.4v.4",
  UpstreamFailed: "M6 1.5v6M3.5 5l2.5 2.7L8.5 5M2 10.3h8",
  Cancelled: "M6 1.5a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9zM3 3l6 6",
};

export function StatusIcon({ status, size = 12, colour }: { status: string; size?: number; colour?: string }) {
  const path = PATHS[status];
  if (!path) return null;
  const stroke = colour ?? darker(statusColour(status));
  return (
    <svg
      className="fd-status-icon"
      width={size}
      height={size}
      viewBox="0 0 12 12"
      aria-hidden="true"
      focusable="false"
      data-icon={status}
    >
      <path d={path} fill={status === "Running" ? stroke : "none"} stroke={stroke} strokeWidth={1.4} strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}

/** The state's colour darkened, so light ones (Pending, Skipped) still show on white. */
function darker(hex: string): string {
  const value = Number.parseInt(hex.slice(1), 16);
  const channel = (shift: number) => Math.round(((value >> shift) & 255) * 0.7);
  return `rgb(${channel(16)}, ${channel(8)}, ${channel(0)})`;
}
