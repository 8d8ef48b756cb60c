// One colour per task state, shared by the editor's preview and the run monitor.
// The names match workflows/states.py (TaskStatus).
export type TaskStatus =
  | "Pending"
  | "Queued"
  | "Running"
  | "Retrying"
  | "Cancelling"
  | "Succeeded"
  | "Failed"
  | "Error"
  | "UpstreamFailed"
  | "Cancelled";

export const STATUS_COLOURS: Record<string, string> = {
  Pending: "#d0d4da",
  Queued: "#b8c4d6",
  Running: "#3b82f6",
  Retrying: "#f59e0b",
  Cancelling: "#a78bfa",
  Succeeded: "#22c55e",
  Failed: "#ef4444",
  Error: "#b91c1c",
  UpstreamFailed: "#fca5a5",
  Cancelled: "#9ca3af",
};

export function statusColour(status: string | undefined): string {
  return (status && STATUS_COLOURS[status]) || "#e5e7eb";
}

export const ACTIVE_STATUSES = new Set(["Queued", "Running", "Retrying", "Cancelling"]);
