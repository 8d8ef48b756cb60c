import { describe, expect, it } from "vitest";

import { collapseFanOuts, groupStatus } from "./collapse";
import { task } from "./fixtures";
import type { Task } from "./types";

function fanOut(width: number, status: (i: number) => string = (i) => (i < 3 ? "Running" : "Pending")): Task[] {
  const tasks: Task[] = [task("start", [], { status: "Succeeded" })];
  for (let i = 0; i < width; i++) tasks.push(task(`shard-${i}`, ["start"], { status: status(i) }));
  for (let i = 0; i < width; i++) tasks.push(task(`check-${i}`, [`shard-${i}`]));
  tasks.push(task("end", Array.from({ length: width }, (_, i) => `check-${i}`)));
  return tasks;
}

describe("collapseFanOuts", () => {
  it("keeps the grouping while only states change, and works it out again when the tasks do", () => {
    const before = fanOut(100);
    const first = collapseFanOuts(before, new Set(), 50);
    // A batch of events: changed tasks are copies sharing their dependencies.
    const after = before.map((t) => (t.name === "shard-7" ? { ...t, status: "Failed" } : t));
    const second = collapseFanOuts(after, new Set(), 50);
    expect(second.groupOf).toBe(first.groupOf);
    const shards = [...second.groups.values()][0];
    expect(shards.counts).toEqual({ Running: 3, Pending: 96, Failed: 1 });
    // A new dependency (a snapshot, a retry) is a new structure.
    const rewired = after.map((t) => (t.name === "shard-7" ? { ...t, dependencies: [] } : t));
    const third = collapseFanOuts(rewired, new Set(), 50);
    expect(third.groupOf).not.toBe(first.groupOf);
    expect(third.groupOf.has("shard-7")).toBe(false);
    // Expanding a group is a new structure too.
    const id = [...first.groups.keys()][0];
    expect(collapseFanOuts(after, new Set([id]), 50).groupOf.has("shard-0")).toBe(false);
  });

  it("leaves a narrow DAG alone", () => {
    const { tasks, groups } = collapseFanOuts(fanOut(5), new Set(), 50);
    expect(groups.size).toBe(0);
    expect(tasks).toHaveLength(12);
  });

  it("draws a 1,000-wide map as one group per stage, counting states", () => {
    const { tasks, groups } = collapseFanOuts(fanOut(1000), new Set(), 50);
    expect(tasks.map((t) => t.id)).toHaveLength(4);
    const [shards, checks] = [...groups.values()];
    expect(shards.members).toHaveLength(1000);
    expect(shards.counts).toEqual({ Running: 3, Pending: 997 });
    expect(shards.status).toBe("Running");
    const drawnChecks = tasks.find((t) => t.id === checks.id)!;
    expect(drawnChecks.dependencies).toEqual([shards.id]);
    expect(drawnChecks.collapsed).toBe(1000);
    expect(tasks.find((t) => t.id === "end")!.dependencies).toEqual([checks.id]);
  });

  it("expands a group it is asked to, keeping the others collapsed", () => {
    const first = collapseFanOuts(fanOut(100), new Set(), 50);
    const shardGroup = first.groupOf.get("shard-0")!;
    const { tasks, groupOf } = collapseFanOuts(fanOut(100), new Set([shardGroup]), 50);
    expect(groupOf.has("shard-0")).toBe(false);
    expect(tasks.filter((t) => t.id.startsWith("shard-"))).toHaveLength(100);
    // Each check now has its own shard: no longer siblings, so drawn one by one.
    expect(tasks).toHaveLength(1 + 100 + 100 + 1);
  });

  it("keeps the same group id when only states change", () => {
    const a = collapseFanOuts(fanOut(60), new Set(), 50);
    const b = collapseFanOuts(fanOut(60, () => "Succeeded"), new Set(), 50);
    expect([...a.groups.keys()]).toEqual([...b.groups.keys()]);
    expect(b.groups.values().next().value!.status).toBe("Succeeded");
  });
});

describe("a run without some of its version's tasks", () => {
  it("draws no edge to a task it does not hold", () => {
    const { tasks } = collapseFanOuts([task("b", ["a"])]);
    expect(tasks).toEqual([expect.objectContaining({ id: "b", dependencies: [] })]);
  });
});

describe("groupStatus", () => {
  it("shows a failure over success, and activity over both", () => {
    expect(groupStatus({ Succeeded: 3, Failed: 1 })).toBe("Failed");
    expect(groupStatus({ Succeeded: 3, Failed: 1, Running: 1 })).toBe("Running");
    expect(groupStatus({ Succeeded: 3 })).toBe("Succeeded");
    expect(groupStatus({ Succeeded: 3, Pending: 2 })).toBe("Running");
  });
});

describe("groupStatus with control flow", () => {
  it("reads skipped members as settled and an expanded one as active", () => {
    expect(groupStatus({ Skipped: 4 })).toBe("Skipped");
    expect(groupStatus({ Succeeded: 3, Skipped: 1 })).toBe("Succeeded");
    expect(groupStatus({ Skipped: 3, Pending: 2 })).toBe("Running");
    expect(groupStatus({ Expanded: 1, Succeeded: 3 })).toBe("Expanded");
  });
});
