// The shapes of GET /api/runs/{id}/ and of the websocket messages (docs/live.md).
import type { RunOutputs } from "./outputs";

export interface Attempt {
  number: number;
  status: string;
  backend: string;
  handle: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  reason: string;
  message: string;
  /** The rendered request (image, command, resources...), when the API exposes it. */
  request?: Record<string, unknown> | null;
}

export interface Task {
  name: string;
  status: string;
  position: number;
  priority?: number;
  attempts_count: number;
  /** Its first attempt since the run was last retried (1 when it never was). */
  round_start?: number;
  started_at: string | null;
  finished_at: string | null;
  retry_at: string | null;
  reason: string;
  message: string;
  dependencies: string[];
  attempts: Attempt[];
  /** An instance of a fan-out (`square[2]`): its fan-out's name; "" otherwise. */
  fan_group?: string;
  /** An instance's index, and its item (absent while the page has not read it yet). */
  fan_index?: number | null;
  fan_item?: unknown;
  /** A fan-out once expanded: how many instances it has; null before. */
  fan_out?: number | null;
  fan_done?: number;
  fan_failed?: number;
  /** In spec.onExit: runs once every other task has ended (the "On exit" group). */
  exit_handler?: boolean;
  /** A sub-workflow task: the workflow it runs (its child runs are the run's `children`). */
  workflow?: { name: string; version: number | null } | null;
}

/** A run a sub-workflow task started. */
export interface ChildRun {
  id: number;
  task: string;
  status: string;
}

export interface RunSummary {
  id: number;
  project: { id: number; name: string };
  workflow: { id: number; name: string };
  version: number;
  status: string;
  parameters: Record<string, unknown>;
  trigger: string;
  triggered_by: string | null;
  resubmitted_from: number | null;
  message: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_seconds: number | null;
  last_seq: number;
  /** A sub-workflow's run: the run it is a step of, and the task it is there. */
  parent_run?: number | null;
  parent_task?: string;
  urls?: Record<string, string>;
}

/** How many tasks are in each status, in all and per fan-out (GET /api/runs/{id}/). */
export interface TaskSummary {
  total: number;
  by_status: Record<string, number>;
  groups: { name: string; total: number; by_status: Record<string, number> }[];
}

export interface Run extends RunSummary {
  tasks: Task[];
  /** False in a big run's websocket snapshot: only its live and failed tasks are listed. */
  tasks_complete?: boolean;
  summary?: TaskSummary;
  /** What the run returned (spec.outputs), once it succeeded; {} otherwise. */
  outputs?: RunOutputs;
  /** The runs its sub-workflow tasks started, oldest first. */
  children?: ChildRun[];
}

export interface RunEvent {
  seq: number;
  kind: "run" | "task" | "attempt" | "message" | string;
  task: string;
  attempt: number | null;
  status: string;
  previous: string;
  message: string;
  data: Record<string, unknown> | null;
  created_at: string;
}

export type RunMessage =
  | { type: "snapshot"; seq: number; run: Run }
  | { type: "events"; events: RunEvent[] };
