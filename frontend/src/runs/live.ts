// The runs list's live logic, pure: which pushed runs belong on this page.
import type { RunSummary } from "../run/types";

export interface Filters {
  project: string;
  workflow: string;
  status: string;
  who: string;
  /** YYYY-MM-DD, inclusive, as the server compares dates (UTC). */
  since: string;
  until: string;
}

export interface RunsPageConfig {
  filters: Filters;
  page: number;
  page_size: number;
  dashboard: Dashboard;
}

export interface Dashboard {
  // A number, or "10,000+" past the server's cap (workflows/listing.py).
  counts: Record<string, number | string>;
  failures: { id: number; workflow: string; finished_at: string | null; message: string; url: string }[];
}

/** Whether the list, as filtered, would show `run`. */
export function matches(run: RunSummary, filters: Filters): boolean {
  if (filters.project && String(run.project.id) !== filters.project) return false;
  if (filters.workflow && String(run.workflow.id) !== filters.workflow) return false;
  if (filters.status && run.status !== filters.status) return false;
  if (filters.who && run.triggered_by !== filters.who) return false;
  const day = run.created_at.slice(0, 10);
  if (filters.since && day < filters.since) return false;
  if (filters.until && day > filters.until) return false;
  return true;
}

export type Placement = "update" | "prepend" | "remove" | "ignore";

/**
 * What to do with a pushed run: update its row in place; prepend it (a new run,
 * on the first page, newer than every row shown); remove its row (it no longer
 * matches a status filter); or ignore it.
 */
export function place(run: RunSummary, shown: ReadonlySet<number>, filters: Filters, page: number): Placement {
  const fits = matches(run, filters);
  if (shown.has(run.id)) return fits ? "update" : "remove";
  if (!fits || page !== 1) return "ignore";
  const newest = Math.max(0, ...shown);
  return run.id > newest ? "prepend" : "ignore";
}

/** Seconds a run has run: to its end, or to `now` while it runs. */
export function elapsedSeconds(started: string | null, finished: string | null, now: number): number | null {
  if (!started) return null;
  const end = finished ? Date.parse(finished) : now;
  return Math.max(0, (end - Date.parse(started)) / 1000);
}

/** Like the server's `duration` filter: "4.2s", "3m 05s", "1h 02m". */
export function formatElapsed(seconds: number | null): string {
  if (seconds === null) return "";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.floor(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s).padStart(2, "0")}s`;
}

/** Why a Pending run has not started (maxActiveRuns, its semaphore), as the
 * server's table shows it under the status; "" for any other run. */
export function waitingNote(run: Pick<RunSummary, "status" | "message">): string {
  return run.status === "Pending" ? run.message : "";
}
