// One colour and one icon per task state, shared by the editor's preview and
// the run monitor. The names match flowcore/states.py (TaskStatus); the
// badges' colours are static/css/flowdeck.css's.
export type TaskStatus =
  | "Pending"
  | "Queued"
  | "Running"
  | "Expanded"
  | "Retrying"
  | "Cancelling"
  | "Succeeded"
  | "Failed"
  | "Error"
  | "UpstreamFailed"
  | "Skipped"
  | "Cancelled";

export const STATUS_COLOURS: Record<string, string> = {
  Pending: "#d0d4da",
  Queued: "#b8c4d6",
  Running: "#3b82f6",
  // A fan-out whose instances run: indigo, next to Running's blue.
  Expanded: "#6366f1",
  Retrying: "#f59e0b",
  Cancelling: "#a78bfa",
  Succeeded: "#22c55e",
  Failed: "#ef4444",
  Error: "#b91c1c",
  UpstreamFailed: "#fca5a5",
  // Did not run, and no failure: grey (drawn dashed, so never taken for Pending).
  Skipped: "#94a3b8",
  Cancelled: "#9ca3af",
};

/** Every task state in the order a legend lists them: waiting, active, done. */
export const TASK_STATUSES: TaskStatus[] = [
  "Pending",
  "Queued",
  "Running",
  "Expanded",
  "Retrying",
  "Cancelling",
  "Succeeded",
  "Skipped",
  "Failed",
  "Error",
  "UpstreamFailed",
  "Cancelled",
];

/** What each state means, for the legend's tooltips. */
export const STATUS_MEANINGS: Record<TaskStatus, string> = {
  Pending: "waiting for the tasks it runs after",
  Queued: "ready, waiting for a free slot",
  Running: "an attempt is running",
  Expanded: "a fan-out: its instances are running",
  Retrying: "failed, waiting to try again",
  Cancelling: "being stopped",
  Succeeded: "finished well",
  Skipped: "did not run: its condition or trigger rule said so (no failure)",
  Failed: "the program failed",
  Error: "the infrastructure failed",
  UpstreamFailed: "did not run: a task it needed failed",
  Cancelled: "stopped by a person or the run's end",
};

export function statusColour(status: string | undefined): string {
  return (status && STATUS_COLOURS[status]) || "#e5e7eb";
}

export const ACTIVE_STATUSES = new Set(["Queued", "Running", "Retrying", "Cancelling", "Expanded"]);

/** A task's state with its reason, unless the reason only repeats the state
 * (a fan-out is Expanded with the reason Expanded): "Skipped: Condition". */
export function statusLine(status: string, reason: string | undefined): string {
  return reason && reason !== status ? `${status}: ${reason}` : status;
}

/** The tooltip and accessible name of a task in a state: its name, state,
 * reason and message (a skipped task's evaluated condition). */
export function describeTask(label: string, status: string | undefined, reason?: string, message?: string): string {
  if (!status) return label;
  const line = `${label}: ${statusLine(status, reason)}`;
  return message ? `${line} — ${message}` : line;
}
