// The timeline: one bar per attempt, from its start to its end (now while it
// runs), placed as fractions of the run's span; a fan-out as one bar over
// its instances' attempts (its list has each one); a skipped task as a mark
// at the moment it was skipped. Pure.
import type { FanOut } from "./fanouts";
import { TERMINAL_ATTEMPT } from "./state";
import type { Task } from "./types";

export interface Bar {
  task: string;
  /** The attempt's number; 0 for a fan-out's bar over its instances. */
  attempt: number;
  status: string;
  start: number;
  end: number;
  running: boolean;
  /** Position and width in [0, 1] of the span. */
  left: number;
  width: number;
}

/** A task that ended without running (Skipped): when, and why. */
export interface Mark {
  status: string;
  at: number;
  left: number;
  reason: string;
  message: string;
}

export interface Row {
  task: string;
  bars: Bar[];
  mark?: Mark;
  /** A fan-out's row: how many instances its bar stands for. */
  instances?: number;
}

export interface Gantt {
  start: number;
  end: number;
  /** One row per task that has an attempt (or was skipped), in the order given. */
  rows: Row[];
}

type RawBar = Omit<Bar, "left" | "width">;

function attemptBars(task: Task, now: number): RawBar[] {
  const bars: RawBar[] = [];
  for (const attempt of task.attempts) {
    const begun = attempt.started_at ?? attempt.created_at;
    if (!begun) continue;
    const from = Date.parse(begun);
    const running = !TERMINAL_ATTEMPT.has(attempt.status);
    const to = attempt.finished_at ? Date.parse(attempt.finished_at) : running ? Math.max(now, from) : from;
    bars.push({ task: task.name, attempt: attempt.number, status: attempt.status, start: from, end: to, running });
  }
  return bars;
}

/** One bar from the first instance's attempt to the last one's end. */
function fanBar(fan: FanOut, now: number): RawBar | null {
  let start = Infinity;
  let end = -Infinity;
  let running = false;
  for (const instance of fan.instances) {
    for (const bar of attemptBars(instance, now)) {
      start = Math.min(start, bar.start);
      end = Math.max(end, bar.end);
      running ||= bar.running;
    }
  }
  if (start === Infinity) return null;
  return { task: fan.name, attempt: 0, status: fan.task.status, start, end, running };
}

/** The shortest span the timeline draws: a run over in a few milliseconds
 * is drawn on a one-second axis, not stretched across the width. */
export const MIN_SPAN_MS = 1000;

/** When the run's latest round began (ms): the first start of an attempt
 * made since the run was last retried; null for a run never retried (or
 * whose retried tasks have not started yet). */
export function latestRoundStart(tasks: Task[]): number | null {
  let first = Infinity;
  for (const task of tasks) {
    const round = task.round_start ?? 1;
    if (round <= 1) continue;
    for (const attempt of task.attempts) {
      const begun = attempt.started_at ?? attempt.created_at;
      if (attempt.number >= round && begun) first = Math.min(first, Date.parse(begun));
    }
  }
  return first === Infinity ? null : first;
}

/** The rows of `tasks` (instances left out: `fanOuts` folds them into their
 * fan-out's row); `now` (ms) ends the bars of what still runs. With `since`,
 * only what started from then on (the latest round). */
export function computeGantt(
  tasks: Task[],
  now: number,
  fanOuts: ReadonlyMap<string, FanOut> = new Map(),
  since: number | null = null,
): Gantt {
  const raw: { task: string; bars: RawBar[]; mark?: Omit<Mark, "left">; instances?: number }[] = [];
  let start = Infinity;
  let end = -Infinity;
  for (const task of tasks) {
    const fan = fanOuts.get(task.name);
    let bars: RawBar[];
    if (fan) {
      const bar = fanBar(fan, now);
      bars = bar ? [bar] : [];
    } else bars = attemptBars(task, now);
    if (since !== null) bars = bars.filter((bar) => bar.start >= since);
    for (const bar of bars) {
      start = Math.min(start, bar.start);
      end = Math.max(end, bar.end);
    }
    let mark: Omit<Mark, "left"> | undefined;
    const skippedAt = task.status === "Skipped" && task.finished_at ? Date.parse(task.finished_at) : null;
    if (skippedAt !== null && bars.length === 0 && (since === null || skippedAt >= since)) {
      const at = skippedAt;
      mark = { status: task.status, at, reason: task.reason, message: task.message };
      start = Math.min(start, at);
      end = Math.max(end, at);
    }
    if (bars.length || mark) raw.push({ task: task.name, bars, mark, instances: fan ? fan.counts.total : undefined });
  }
  if (raw.length === 0) return { start: now, end: now, rows: [] };
  const span = Math.max(end - start, MIN_SPAN_MS);
  const MIN_WIDTH = 0.004; // an instant attempt still shows
  return {
    start,
    end: start + span,
    rows: raw.map((row) => ({
      task: row.task,
      bars: row.bars.map((bar) => ({
        ...bar,
        left: (bar.start - start) / span,
        width: Math.max((bar.end - bar.start) / span, MIN_WIDTH),
      })),
      ...(row.mark ? { mark: { ...row.mark, left: (row.mark.at - start) / span } } : {}),
      ...(row.instances !== undefined ? { instances: row.instances } : {}),
    })),
  };
}

/** Evenly spaced tick marks across the span, at round second/minute steps. */
export function ticks(start: number, end: number, wanted = 6): number[] {
  const span = Math.max(end - start, 1);
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400].map((s) => s * 1000);
  const step = steps.find((s) => span / s <= wanted) ?? steps[steps.length - 1];
  const out: number[] = [];
  for (let i = 0; i * step <= span + 1e-6; i++) out.push(i * step);
  return out;
}
