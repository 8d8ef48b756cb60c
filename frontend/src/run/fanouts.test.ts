import { describe, expect, it } from "vitest";

import { fanCounts, fanSummary } from "../graph/fanCounts";
import { collapseFanOuts, FAN_OUT_THRESHOLD } from "./collapse";
import { compactItem, fanOutSeconds, filterInstances, instancePage, splitFanOuts } from "./fanouts";
import { computeGantt } from "./gantt";
import { event, run, task } from "./fixtures";
import { applyEvents, fromSnapshot } from "./state";
import type { Task } from "./types";

const at = (s: number) => new Date(Date.UTC(2026, 10, 29, 10, 0, s)).toISOString();

/** generate → square (a fan-out of `size`) → total, instances in the order given. */
function mapRun(size: number, status: (i: number) => string, order: number[] = [...Array(size).keys()]): Task[] {
  return [
    task("generate", [], { status: "Succeeded" }),
    task("square", ["generate"], { status: "Expanded", reason: "Expanded", message: `${size} instances`, fan_out: size }),
    ...order.map((i) => task(`square[${i}]`, [], { status: status(i), fan_group: "square", fan_index: i, fan_item: i + 1 })),
    task("total", ["square"]),
  ];
}

describe("splitFanOuts", () => {
  it("gathers instances under their fan-out in item order and counts them by state", () => {
    const split = splitFanOuts(mapRun(6, (i) => (i < 2 ? "Succeeded" : i === 2 ? "Running" : "Queued"), [5, 0, 3, 1, 4, 2]));
    expect(split.tasks.map((t) => t.name)).toEqual(["generate", "square", "total"]);
    expect(split.instances).toBe(6);
    const square = split.fanOuts.get("square")!;
    expect(square.instances.map((t) => t.fan_index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(square.byStatus).toEqual({ Succeeded: 2, Running: 1, Queued: 3 });
    expect(square.counts).toEqual({ total: 6, running: 1, succeeded: 2, skipped: 0, failed: 0, queued: 3 });
  });

  it("knows a fan-out by its size before any instance is heard of, and a plain task is none", () => {
    const split = splitFanOuts([task("a", [], { fan_out: null }), task("b", [], { fan_out: 4, status: "Expanded" })]);
    expect([...split.fanOuts.keys()]).toEqual(["b"]);
    expect(split.fanOuts.get("b")!.counts.queued).toBe(4);
  });

  it("keeps up with a 2,000-instance fan-out: a batch of events regrouped, drawn and timed in milliseconds", () => {
    const size = 2000;
    let state = fromSnapshot(run([task("generate", [], { status: "Succeeded" }), task("square", ["generate"], { fan_out: null })]));
    state = applyEvents(state, [event(3, { task: "square", status: "Expanded", data: { fan_out: size } })]).state;
    expect(state.run.tasks).toHaveLength(size + 2);
    let seq = 3;
    const started = performance.now();
    for (let batch = 0; batch < 20; batch++) {
      // 50 instances start and 50 end per batch, as a busy worker reports them.
      const events = [];
      for (let i = 0; i < 50; i++) {
        const n = batch * 50 + i;
        events.push(event(++seq, { task: `square[${n}]`, status: "Running", previous: "Queued", attempt: 1 }));
        events.push(event(++seq, { kind: "attempt", task: `square[${n}]`, attempt: 1, status: "Running" }));
        events.push(event(++seq, { task: `square[${n}]`, status: "Succeeded", previous: "Running", attempt: 1 }));
      }
      state = applyEvents(state, events).state;
      const split = splitFanOuts(state.run.tasks);
      collapseFanOuts(split.tasks, new Set(), FAN_OUT_THRESHOLD, split.fanOuts);
      computeGantt(split.tasks, Date.now(), split.fanOuts);
      instancePage(split.fanOuts.get("square")!.instances, "succeeded", 0);
    }
    const perBatch = (performance.now() - started) / 20;
    expect(splitFanOuts(state.run.tasks).fanOuts.get("square")!.counts.succeeded).toBe(1000);
    expect(perBatch).toBeLessThan(25);
  });

  it("splits 2,000 instances and pages them in a few milliseconds", () => {
    const tasks = mapRun(2000, (i) => (i % 10 === 0 ? "Failed" : "Succeeded"));
    const started = performance.now();
    for (let round = 0; round < 10; round++) {
      const fan = splitFanOuts(tasks).fanOuts.get("square")!;
      instancePage(fan.instances, "failed", 1);
    }
    expect((performance.now() - started) / 10).toBeLessThan(20);
  });
});

describe("the fan-out's node", () => {
  it("is one stacked node with its counts, and its instances are not nodes", () => {
    const split = splitFanOuts(mapRun(200, (i) => (i < 150 ? "Succeeded" : i < 170 ? "Running" : "Queued")));
    const { tasks, groups } = collapseFanOuts(split.tasks, new Set(), FAN_OUT_THRESHOLD, split.fanOuts);
    expect(groups.size).toBe(0); // not taken for a wide static fan-out of roots
    expect(tasks.map((t) => t.id)).toEqual(["generate", "square", "total"]);
    const square = tasks.find((t) => t.id === "square")!;
    expect(square.fan).toEqual({ total: 200, running: 20, succeeded: 150, skipped: 0, failed: 0, queued: 30 });
    expect(fanSummary(square.fan!)).toBe("20 running · 150 succeeded · 30 queued of 200");
    expect(tasks.find((t) => t.id === "total")!.dependencies).toEqual(["square"]);
  });

  it("counts failures in the server's sense: failed, error, upstream failed and cancelled", () => {
    expect(fanCounts({ Failed: 1, Error: 1, UpstreamFailed: 1, Cancelled: 1, Retrying: 1, Pending: 2 }, 8)).toEqual({
      total: 8,
      running: 1,
      succeeded: 0,
      skipped: 0,
      failed: 4,
      queued: 3,
    });
    expect(fanSummary(fanCounts({ Succeeded: 195, Failed: 5 }, 200))).toBe("195 succeeded · 5 failed of 200");
  });
});

describe("the instance list", () => {
  const instances = splitFanOuts(mapRun(250, (i) => (i % 50 === 7 ? "Failed" : i < 200 ? "Succeeded" : "Running"))).fanOuts.get(
    "square",
  )!.instances;

  it("filters by the node's buckets", () => {
    expect(filterInstances(instances, "failed").map((t) => t.fan_index)).toEqual([7, 57, 107, 157, 207]);
    expect(filterInstances(instances, "running")).toHaveLength(49);
    expect(filterInstances(instances, "all")).toBe(instances);
  });

  it("shows a page at a time and clamps a page past the end", () => {
    const first = instancePage(instances, "all", 0);
    expect([first.from, first.to, first.total, first.pages]).toEqual([1, 100, 250, 3]);
    const last = instancePage(instances, "all", 9);
    expect([last.page, last.from, last.to]).toEqual([2, 201, 250]);
    expect(last.rows[0].name).toBe("square[200]");
    expect(instancePage(instances, "skipped", 0)).toMatchObject({ from: 0, to: 0, total: 0, pages: 1 });
  });

  it("shows an item on one line: text as it is, the rest as JSON, long ones cut", () => {
    expect(compactItem("a.csv")).toBe("a.csv");
    expect(compactItem(3)).toBe("3");
    expect(compactItem({ file: "a.csv", rows: [1, 2] })).toBe('{"file":"a.csv","rows":[1,2]}');
    expect(compactItem("x".repeat(50), 10)).toBe(`${"x".repeat(9)}…`);
    expect(compactItem(undefined)).toBe("…");
  });

  it("times a fan-out from its first instance's start to its last one's end", () => {
    const tasks = mapRun(3, () => "Succeeded").map((t) =>
      t.fan_group ? { ...t, started_at: at(t.fan_index!), finished_at: at(10 + t.fan_index!) } : t,
    );
    const fan = splitFanOuts(tasks.map((t) => (t.name === "square" ? { ...t, status: "Succeeded" } : t))).fanOuts.get("square")!;
    expect(fanOutSeconds(fan, Date.parse(at(100)))).toBe(12);
    const running = splitFanOuts(tasks).fanOuts.get("square")!; // still Expanded: the clock runs
    expect(fanOutSeconds(running, Date.parse(at(30)))).toBe(30);
  });
});
