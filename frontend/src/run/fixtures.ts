// Small runs and events for the unit tests.
import type { Attempt, Run, RunEvent, Task } from "./types";

export function task(name: string, dependencies: string[] = [], extra: Partial<Task> = {}): Task {
  return {
    name,
    status: "Pending",
    position: 0,
    attempts_count: 0,
    started_at: null,
    finished_at: null,
    retry_at: null,
    reason: "",
    message: "",
    dependencies,
    attempts: [],
    ...extra,
  };
}

export function attempt(number: number, extra: Partial<Attempt> = {}): Attempt {
  return {
    number,
    status: "Running",
    backend: "local",
    handle: "",
    created_at: "2026-11-29T10:00:00Z",
    started_at: "2026-11-29T10:00:00Z",
    finished_at: null,
    exit_code: null,
    reason: "",
    message: "",
    ...extra,
  };
}

export function run(tasks: Task[], extra: Partial<Run> = {}): Run {
  return {
    id: 7,
    project: { id: 1, name: "team" },
    workflow: { id: 3, name: "diamond" },
    version: 1,
    status: "Running",
    parameters: {},
    trigger: "manual",
    triggered_by: "alice",
    resubmitted_from: null,
    message: "",
    created_at: "2026-11-29T10:00:00Z",
    started_at: "2026-11-29T10:00:00Z",
    finished_at: null,
    duration_seconds: null,
    last_seq: 2,
    tasks,
    ...extra,
  };
}

export function event(seq: number, extra: Partial<RunEvent>): RunEvent {
  return {
    seq,
    kind: "task",
    task: "",
    attempt: null,
    status: "",
    previous: "",
    message: "",
    data: {},
    created_at: `2026-11-29T10:00:${String(seq).padStart(2, "0")}Z`,
    ...extra,
  };
}
