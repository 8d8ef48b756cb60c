// The timeline: one bar per attempt, from its start to its end (now while it
// runs), placed as fractions of the run's span. Pure.
import { TERMINAL_ATTEMPT } from "./state";
import type { Task } from "./types";

export interface Bar {
  task: string;
  attempt: number;
  status: string;
  start: number;
  end: number;
  running: boolean;
  /** Position and width in [0, 1] of the span. */
  left: number;
  width: number;
}

export interface Gantt {
  start: number;
  end: number;
  /** One row per task that has an attempt, in the order given. */
  rows: { task: string; bars: Bar[] }[];
}

/** The bars of every attempt; `now` (ms) ends those still running. */
export function computeGantt(tasks: Task[], now: number): Gantt {
  const raw: { task: string; bars: Omit<Bar, "left" | "width">[] }[] = [];
  let start = Infinity;
  let end = -Infinity;
  for (const task of tasks) {
    const bars: Omit<Bar, "left" | "width">[] = [];
    for (const attempt of task.attempts) {
      const begun = attempt.started_at ?? attempt.created_at;
      if (!begun) continue;
      const from = Date.parse(begun);
      const running = !TERMINAL_ATTEMPT.has(attempt.status);
      const to = attempt.finished_at ? Date.parse(attempt.finished_at) : running ? Math.max(now, from) : from;
      bars.push({ task: task.name, attempt: attempt.number, status: attempt.status, start: from, end: to, running });
      start = Math.min(start, from);
      end = Math.max(end, to);
    }
    if (bars.length) raw.push({ task: task.name, bars });
  }
  if (raw.length === 0) return { start: now, end: now, rows: [] };
  const span = Math.max(end - start, 1);
  const MIN_WIDTH = 0.002; // an instant attempt still shows
  return {
    start,
    end,
    rows: raw.map((row) => ({
      task: row.task,
      bars: row.bars.map((bar) => ({
        ...bar,
        left: (bar.start - start) / span,
        width: Math.max((bar.end - bar.start) / span, MIN_WIDTH),
      })),
    })),
  };
}

/** Evenly spaced tick marks across the span, at round second/minute steps. */
export function ticks(start: number, end: number, wanted = 6): number[] {
  const span = Math.max(end - start, 1);
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400].map((s) => s * 1000);
  const step = steps.find((s) => span / s <= wanted) ?? steps[steps.length - 1];
  const out: number[] = [];
  for (let t = 0; t <= span; t += step) out.push(t);
  return out;
}
