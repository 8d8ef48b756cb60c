import { describe, expect, it } from "vitest";

import { attempt, event, run, task } from "./fixtures";
import { applyEvents, formatDuration, fromSnapshot, groupsMissingItems, itemsMissing, mergeItems, replaceSnapshot, taskHistory } from "./state";

const diamond = () =>
  run([
    task("a", [], { status: "Running", attempts_count: 1, attempts: [attempt(1)] }),
    task("b", ["a"]),
    task("c", ["a"]),
  ]);

describe("applyEvents", () => {
  it("moves a task and its attempt to Succeeded with the exit code", () => {
    const { state, gap, applied } = applyEvents(fromSnapshot(diamond()), [
      event(3, { kind: "attempt", task: "a", attempt: 1, status: "Succeeded", previous: "Running", data: { exit_code: 0 } }),
      event(4, { kind: "task", task: "a", attempt: 1, status: "Succeeded", previous: "Running" }),
    ]);
    expect(gap).toBe(false);
    expect(applied).toBe(2);
    expect(state.seq).toBe(4);
    expect(state.run.last_seq).toBe(4);
    const a = state.run.tasks[0];
    expect(a.status).toBe("Succeeded");
    expect(a.finished_at).toBe("2026-11-29T10:00:04Z");
    expect(a.attempts[0]).toMatchObject({ status: "Succeeded", exit_code: 0, finished_at: "2026-11-29T10:00:03Z" });
  });

  it("starts a new round for a task the run's retry resets", () => {
    const failed = run([task("a", [], { status: "Failed", attempts_count: 2, attempts: [attempt(1), attempt(2)] })]);
    const { state } = applyEvents(fromSnapshot(failed), [
      event(3, { kind: "task", task: "a", status: "Pending", previous: "Failed", data: { reason: "Retried" } }),
    ]);
    expect(state.run.tasks[0].round_start).toBe(3);
  });

  it("ignores events at or below the applied seq, so a replay changes nothing", () => {
    const first = applyEvents(fromSnapshot(diamond()), [event(3, { task: "b", status: "Queued", previous: "Pending" })]);
    const again = applyEvents(first.state, [event(3, { task: "b", status: "Running", previous: "Queued" })]);
    expect(again.applied).toBe(0);
    expect(again.state).toBe(first.state);
    expect(again.state.run.tasks[1].status).toBe("Queued");
  });

  it("applies events given out of order in seq order, and a duplicate once", () => {
    const { state } = applyEvents(fromSnapshot(diamond()), [
      event(4, { task: "b", status: "Running", previous: "Queued", attempt: 1 }),
      event(3, { task: "b", status: "Queued", previous: "Pending" }),
      event(4, { task: "b", status: "Running", previous: "Queued", attempt: 1 }),
    ]);
    expect(state.seq).toBe(4);
    expect(state.run.tasks[1]).toMatchObject({ status: "Running", attempts_count: 1 });
    expect(state.events.map((e) => e.seq)).toEqual([3, 4]);
  });

  it("stops at a missing seq and says so, keeping what came before it", () => {
    const { state, gap } = applyEvents(fromSnapshot(diamond()), [
      event(3, { task: "b", status: "Queued", previous: "Pending" }),
      event(5, { task: "c", status: "Queued", previous: "Pending" }),
    ]);
    expect(gap).toBe(true);
    expect(state.seq).toBe(3);
    expect(state.run.tasks[2].status).toBe("Pending");
  });

  it("adds an attempt it has not seen and counts it on the task", () => {
    const { state } = applyEvents(fromSnapshot(diamond()), [
      event(3, { kind: "attempt", task: "b", attempt: 1, status: "Launching" }),
      event(4, { kind: "attempt", task: "b", attempt: 1, status: "Running", previous: "Launching" }),
    ]);
    const b = state.run.tasks[1];
    expect(b.attempts_count).toBe(1);
    expect(b.attempts).toHaveLength(1);
    expect(b.attempts[0]).toMatchObject({ number: 1, status: "Running", started_at: "2026-11-29T10:00:04Z" });
  });

  it("records an attempt's reason and message when it fails", () => {
    const { state } = applyEvents(fromSnapshot(diamond()), [
      event(3, {
        kind: "attempt",
        task: "a",
        attempt: 1,
        status: "Error",
        previous: "Running",
        message: "the pod was evicted",
        data: { reason: "Evicted" },
      }),
    ]);
    expect(state.run.tasks[0].attempts[0]).toMatchObject({ status: "Error", reason: "Evicted", message: "the pod was evicted" });
  });

  it("follows the run's own status, finishing it with the event's time", () => {
    const { state } = applyEvents(fromSnapshot(diamond()), [event(3, { kind: "run", status: "Failed", previous: "Running" })]);
    expect(state.run).toMatchObject({ status: "Failed", finished_at: "2026-11-29T10:00:03Z" });
    const again = applyEvents(state, [event(4, { kind: "run", status: "Running", previous: "Failed" })]);
    expect(again.state.run).toMatchObject({ status: "Running", finished_at: null, started_at: "2026-11-29T10:00:00Z" });
  });

  it("clears a retried task's times when it goes back to Pending", () => {
    const failed = run([task("a", [], { status: "Failed", started_at: "2026-11-29T09:00:00Z", finished_at: "2026-11-29T09:01:00Z" })]);
    const { state } = applyEvents(fromSnapshot(failed), [event(3, { task: "a", status: "Pending", previous: "Failed" })]);
    expect(state.run.tasks[0]).toMatchObject({ status: "Pending", started_at: null, finished_at: null });
  });

  it("keeps a task's status on a note about it but shows its reason", () => {
    const { state } = applyEvents(fromSnapshot(diamond()), [
      event(3, { task: "b", status: "Pending", previous: "Pending", message: "quota", data: { reason: "QuotaExceeded" } }),
    ]);
    expect(state.run.tasks[1]).toMatchObject({ status: "Pending", reason: "QuotaExceeded", message: "quota" });
  });

  it("ignores an event about a task the snapshot does not have", () => {
    const { state, applied } = applyEvents(fromSnapshot(diamond()), [event(3, { task: "ghost", status: "Running" })]);
    expect(applied).toBe(1);
    expect(state.seq).toBe(3);
    expect(state.run.tasks.map((t) => t.status)).toEqual(["Running", "Pending", "Pending"]);
  });
});

describe("control flow", () => {
  const mapRun = () =>
    run([
      task("generate", [], { status: "Succeeded" }),
      task("square", ["generate"], { position: 1, fan_out: null }),
      task("total", ["square"], { position: 2 }),
    ]);

  it("ends a skipped task with its reason and its evaluated condition", () => {
    const message = "when '{{tasks.flip.outputs.result}} == tails' is false (heads == tails)";
    const { state } = applyEvents(fromSnapshot(diamond()), [
      event(3, { task: "c", status: "Skipped", previous: "Pending", message, data: { reason: "Condition" } }),
    ]);
    expect(state.run.tasks[2]).toMatchObject({ status: "Skipped", reason: "Condition", message, finished_at: "2026-11-29T10:00:03Z" });
  });

  it("draws a fan-out's instances Queued as soon as its expansion says how many", () => {
    const { state } = applyEvents(fromSnapshot(mapRun()), [
      event(3, { task: "square", status: "Expanded", previous: "Pending", message: "3 instances", data: { reason: "Expanded", fan_out: 3 } }),
    ]);
    const names = state.run.tasks.map((t) => t.name);
    expect(names).toEqual(["generate", "square", "total", "square[0]", "square[1]", "square[2]"]);
    expect(state.run.tasks[1]).toMatchObject({ status: "Expanded", fan_out: 3 });
    expect(state.run.tasks[4]).toMatchObject({ status: "Queued", fan_group: "square", fan_index: 1, position: 1 });
    expect(state.index.get("square[2]")).toBe(5);
    expect(itemsMissing(state.run)).toBe(true);
    // Each instance then moves by its own events.
    const next = applyEvents(state, [
      event(4, { task: "square[1]", status: "Running", previous: "Queued", attempt: 1 }),
      event(5, { kind: "attempt", task: "square[1]", attempt: 1, status: "Running" }),
    ]).state;
    expect(next.run.tasks[4]).toMatchObject({ status: "Running", attempts_count: 1, started_at: "2026-11-29T10:00:04Z" });
    expect(next.run.tasks).toHaveLength(6);
  });

  it("adds an instance first heard of by its own event, and ignores names of no fan-out", () => {
    const { state } = applyEvents(fromSnapshot(mapRun()), [
      event(3, { task: "square[4]", status: "Running", previous: "Queued", attempt: 1 }),
      event(4, { task: "ghost[1]", status: "Running", previous: "Queued" }),
    ]);
    expect(state.run.tasks.map((t) => t.name)).toEqual(["generate", "square", "total", "square[4]"]);
    expect(state.run.tasks[3]).toMatchObject({ status: "Running", fan_group: "square", fan_index: 4 });
  });

  it("does not make an instance twice when its expansion is heard after it", () => {
    const first = applyEvents(fromSnapshot(mapRun()), [event(3, { task: "square[0]", status: "Running", previous: "Queued" })]);
    const { state } = applyEvents(first.state, [event(4, { task: "square", status: "Expanded", data: { fan_out: 2 } })]);
    expect(state.run.tasks.map((t) => t.name)).toEqual(["generate", "square", "total", "square[0]", "square[1]"]);
    expect(state.run.tasks[3].status).toBe("Running");
  });

  it("takes only the items from a fresher read, keeping the states events set", () => {
    const expanded = applyEvents(fromSnapshot(mapRun()), [
      event(3, { task: "square", status: "Expanded", data: { fan_out: 2 } }),
      event(4, { task: "square[0]", status: "Running", previous: "Queued" }),
    ]).state;
    expect(groupsMissingItems(expanded.run)).toEqual(["square"]);
    const fresh = [
      task("square[0]", [], { status: "Queued", fan_group: "square", fan_index: 0, fan_item: { n: 1 } }),
      task("square[1]", [], { status: "Queued", fan_group: "square", fan_index: 1, fan_item: 2 }),
    ];
    const merged = mergeItems(expanded, fresh);
    expect(merged.run.tasks[3]).toMatchObject({ status: "Running", fan_item: { n: 1 } });
    expect(merged.run.tasks[4]).toMatchObject({ status: "Queued", fan_item: 2 });
    expect(itemsMissing(merged.run)).toBe(false);
    expect(groupsMissingItems(merged.run)).toEqual([]);
    expect(mergeItems(merged, fresh)).toBe(merged);
  });

  it("gives the instances of a sub-workflow or exit handler fan-out what their fan-out runs", () => {
    const calls = run([
      task("each", [], { workflow: { name: "square", version: null } }),
      task("notify", [], { exit_handler: true }),
    ]);
    const { state } = applyEvents(fromSnapshot(calls), [
      event(3, { task: "each", status: "Expanded", data: { fan_out: 1 } }),
      event(4, { task: "notify[0]", status: "Running", previous: "Queued" }),
    ]);
    expect(state.run.tasks[2]).toMatchObject({ name: "each[0]", workflow: { name: "square", version: null } });
    expect(state.run.tasks[3]).toMatchObject({ name: "notify[0]", exit_handler: true });
  });

  it("opens a retried fan-out again", () => {
    const failed = run([task("each", [], { status: "Failed", fan_out: 3, finished_at: "2026-11-29T09:01:00Z" })]);
    const { state } = applyEvents(fromSnapshot(failed), [event(3, { task: "each", status: "Expanded", previous: "Failed", data: { reason: "Retried" } })]);
    expect(state.run.tasks[0]).toMatchObject({ status: "Expanded", finished_at: null, fan_out: 3 });
  });
});

describe("snapshots and history", () => {
  it("replaces the run on a new snapshot and forgets events after its seq", () => {
    const applied = applyEvents(fromSnapshot(diamond()), [event(3, { task: "b", status: "Queued" })]).state;
    const replaced = replaceSnapshot(applied, diamond(), 2);
    expect(replaced.seq).toBe(2);
    expect(replaced.events).toEqual([]);
  });

  it("gives one task's events in seq order, each once", () => {
    const events = [event(5, { task: "a" }), event(3, { task: "a" }), event(4, { task: "b" }), event(3, { task: "a" })];
    expect(taskHistory(events, "a").map((e) => e.seq)).toEqual([3, 5]);
  });

  it("formats durations for people", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(4.23)).toBe("4.2s");
    expect(formatDuration(185)).toBe("3m 05s");
    expect(formatDuration(3720)).toBe("1h 02m");
  });
});
