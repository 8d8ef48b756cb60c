// The live run: a snapshot plus the events applied to it since, in seq order.
// Pure: the page and the tests share it. Events are state assignments, so one
// already reflected in the snapshot may safely be applied again (docs/live.md).
import type { Attempt, Run, RunEvent, Task } from "./types";

export const TERMINAL_TASK = new Set(["Succeeded", "Failed", "Error", "UpstreamFailed", "Skipped", "Cancelled"]);
/** Ended without succeeding: what a retry runs again. Skipped is no failure. */
export const UNSUCCESSFUL_TASK = new Set(["Failed", "Error", "UpstreamFailed", "Cancelled"]);
export const TERMINAL_RUN = new Set(["Succeeded", "Failed", "Cancelled"]);
export const TERMINAL_ATTEMPT = new Set(["Succeeded", "Failed", "Error", "Cancelled"]);
/** Statuses a task is put back into when a person retries it. */
const RESET_TASK = new Set(["Pending", "Queued"]);
/** Live events kept for the drawer's state history; older ones are re-read over REST. */
export const MAX_EVENTS = 10_000;

export interface LiveRun {
  run: Run;
  /** The last event applied (or the snapshot's seq): what a reconnect asks `since`. */
  seq: number;
  /** Events applied since the page loaded, oldest first (bounded). */
  events: RunEvent[];
  /** name -> index in run.tasks */
  index: Map<string, number>;
}

export interface ApplyResult {
  state: LiveRun;
  /** Events were skipped because one is missing: reconnect with `since` = state.seq. */
  gap: boolean;
  /** How many events changed the state (duplicates and old ones do not count). */
  applied: number;
}

export function fromSnapshot(run: Run, seq: number = run.last_seq): LiveRun {
  return {
    run,
    seq,
    events: [],
    index: new Map(run.tasks.map((task, position) => [task.name, position])),
  };
}

/** A new snapshot replaces the run but keeps the events seen so far. */
export function replaceSnapshot(state: LiveRun, run: Run, seq: number): LiveRun {
  return { ...fromSnapshot(run, seq), events: state.events.filter((event) => event.seq <= seq) };
}

/**
 * Apply `events` (any order, possibly repeated) to `state`: those at or below
 * `state.seq` are ignored, the rest applied in seq order until one is missing.
 */
export function applyEvents(state: LiveRun, events: RunEvent[]): ApplyResult {
  const fresh = events.filter((event) => event.seq > state.seq).sort((a, b) => a.seq - b.seq);
  if (fresh.length === 0) return { state, gap: false, applied: 0 };
  let seq = state.seq;
  let run: Run = state.run;
  let tasks: Task[] | null = null;
  let index = state.index;
  const applied: RunEvent[] = [];
  let gap = false;
  // A fan-out's instances are made without events of their own: they are
  // added as the expansion's event says (or as one is first heard of).
  const addInstance = (group: number, fanIndex: number): number => {
    tasks ??= run.tasks.slice();
    if (index === state.index) index = new Map(index);
    const instance = placeholderInstance(tasks[group], fanIndex);
    index.set(instance.name, tasks.length);
    tasks.push(instance);
    return tasks.length - 1;
  };
  for (const event of fresh) {
    if (event.seq === seq) continue; // the same event twice in one batch
    if (event.seq !== seq + 1) {
      gap = true;
      break;
    }
    seq = event.seq;
    applied.push(event);
    if (event.kind === "run") {
      run = applyRunEvent(run, event);
    } else if (event.kind === "task" || event.kind === "attempt") {
      let position = index.get(event.task);
      if (position === undefined) {
        const instance = splitInstance(event.task);
        const group = instance ? index.get(instance.group) : undefined;
        if (instance === null || group === undefined) continue;
        position = addInstance(group, instance.index);
      }
      tasks ??= run.tasks.slice();
      tasks[position] =
        event.kind === "task" ? applyTaskEvent(tasks[position], event) : applyAttemptEvent(tasks[position], event);
      const size = event.data?.fan_out;
      if (event.kind === "task" && event.status === "Expanded" && typeof size === "number") {
        const name = tasks[position].name;
        tasks[position] = { ...tasks[position], fan_out: size, fan_done: 0, fan_failed: 0 };
        for (let i = 0; i < size; i++) if (!index.has(`${name}[${i}]`)) addInstance(position, i);
      }
    }
  }
  if (applied.length === 0) return { state, gap, applied: 0 };
  if (tasks) run = { ...run, tasks };
  run = { ...run, last_seq: Math.max(run.last_seq, seq) };
  let kept = state.events.concat(applied);
  if (kept.length > MAX_EVENTS) kept = kept.slice(kept.length - MAX_EVENTS);
  return { state: { ...state, run, seq, events: kept, index }, gap, applied: applied.length };
}

/** `square[2]` as its fan-out and index; null for a task's own name. */
export function splitInstance(name: string): { group: string; index: number } | null {
  const match = /^(.+)\[(\d+)\]$/.exec(name);
  return match ? { group: match[1], index: Number(match[2]) } : null;
}

/** An instance as an expansion makes it: Queued, its item not read yet; it
 * runs what its fan-out runs (a workflow: a child run each) and is an exit
 * handler when its fan-out is one, as the server says of it. */
function placeholderInstance(group: Task, index: number): Task {
  return {
    ...(group.workflow ? { workflow: group.workflow } : {}),
    ...(group.exit_handler ? { exit_handler: true } : {}),
    name: `${group.name}[${index}]`,
    status: "Queued",
    position: group.position,
    priority: group.priority,
    attempts_count: 0,
    started_at: null,
    finished_at: null,
    retry_at: null,
    reason: "",
    message: "",
    dependencies: [],
    attempts: [],
    fan_group: group.name,
    fan_index: index,
  };
}

/** Instances' items from a fresher read of the run (events carry none):
 * only items are taken, states stay those the events set. */
export function mergeItems(state: LiveRun, fresh: readonly Task[]): LiveRun {
  let tasks: Task[] | null = null;
  for (const task of fresh) {
    if (!task.fan_group) continue;
    const position = state.index.get(task.name);
    if (position === undefined) continue;
    const known = (tasks ?? state.run.tasks)[position];
    if (known.fan_item !== undefined) continue;
    tasks ??= state.run.tasks.slice();
    tasks[position] = { ...known, fan_item: task.fan_item ?? null };
  }
  return tasks ? { ...state, run: { ...state.run, tasks } } : state;
}

/** Whether an instance's item is still to be read (it was made from an event). */
export function itemsMissing(run: Run): boolean {
  return run.tasks.some((task) => Boolean(task.fan_group) && task.fan_item === undefined);
}

/** The fan-outs with instances whose items are still to be read, sorted. */
export function groupsMissingItems(run: Run): string[] {
  const groups = new Set<string>();
  for (const task of run.tasks) {
    if (task.fan_group && task.fan_item === undefined) groups.add(task.fan_group);
  }
  return [...groups].sort();
}

function applyRunEvent(run: Run, event: RunEvent): Run {
  const next: Run = { ...run, status: event.status || run.status, message: event.message };
  if (event.status === "Running") {
    next.started_at = run.started_at ?? event.created_at;
    next.finished_at = null;
  } else if (TERMINAL_RUN.has(event.status)) {
    next.finished_at = event.created_at;
  }
  return next;
}

function reasonOf(event: RunEvent): string {
  const reason = event.data?.reason;
  return typeof reason === "string" ? reason : "";
}

function applyTaskEvent(task: Task, event: RunEvent): Task {
  const next: Task = {
    ...task,
    status: event.status || task.status,
    reason: reasonOf(event),
    message: event.message,
  };
  if (event.attempt) next.attempts_count = Math.max(task.attempts_count, event.attempt);
  // A retry of the run starts a new round: its next attempt is the round's first.
  if (next.reason === "Retried") next.round_start = task.attempts_count + 1;
  if (event.status === event.previous) return next; // a note (waiting for quota), no move
  if (event.status === "Running") {
    next.started_at = event.created_at;
    next.finished_at = null;
    next.retry_at = null;
  } else if (TERMINAL_TASK.has(event.status)) {
    next.finished_at = event.created_at;
  } else if (event.status === "Expanded" && TERMINAL_TASK.has(event.previous)) {
    next.finished_at = null; // a retried fan-out: its failed instances run again
  } else if (RESET_TASK.has(event.status) && TERMINAL_TASK.has(event.previous)) {
    next.started_at = null;
    next.finished_at = null;
    next.retry_at = null;
  }
  return next;
}

function applyAttemptEvent(task: Task, event: RunEvent): Task {
  const number = event.attempt ?? 0;
  if (number < 1) return task;
  const attempts = task.attempts.slice();
  let position = attempts.findIndex((attempt) => attempt.number === number);
  if (position < 0) {
    attempts.push({
      number,
      status: event.status,
      backend: "",
      handle: "",
      created_at: event.created_at,
      started_at: null,
      finished_at: null,
      exit_code: null,
      reason: "",
      message: "",
    });
    attempts.sort((a, b) => a.number - b.number);
    position = attempts.findIndex((attempt) => attempt.number === number);
  }
  const attempt: Attempt = { ...attempts[position], status: event.status || attempts[position].status };
  const data = event.data ?? {};
  if (typeof data.exit_code === "number") attempt.exit_code = data.exit_code;
  const reason = reasonOf(event);
  if (reason) attempt.reason = reason;
  if (event.message) attempt.message = event.message;
  if (event.status === "Running") attempt.started_at = attempt.started_at ?? event.created_at;
  if (TERMINAL_ATTEMPT.has(event.status)) attempt.finished_at = attempt.finished_at ?? event.created_at;
  attempts[position] = attempt;
  return { ...task, attempts, attempts_count: Math.max(task.attempts_count, number) };
}

/** The state changes of one task, oldest first, from every event known. */
export function taskHistory(events: RunEvent[], name: string): RunEvent[] {
  const seen = new Set<number>();
  const mine: RunEvent[] = [];
  for (const event of events) {
    if (event.task !== name || seen.has(event.seq)) continue;
    seen.add(event.seq);
    mine.push(event);
  }
  return mine.sort((a, b) => a.seq - b.seq);
}

/** Whether anything on the page still changes with time. */
export function isLive(run: Run): boolean {
  return !TERMINAL_RUN.has(run.status);
}

/** Seconds between two instants (the second defaulting to `now`). */
export function secondsBetween(start: string | null, end: string | null, now: number): number | null {
  if (!start) return null;
  const from = Date.parse(start);
  const to = end ? Date.parse(end) : now;
  return Math.max(0, (to - from) / 1000);
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const whole = Math.floor(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}m ${String(s).padStart(2, "0")}s`;
}
