import { describe, expect, it } from "vitest";

import { splitFanOuts } from "./fanouts";
import { attempt, task } from "./fixtures";
import { computeGantt, latestRoundStart, MIN_SPAN_MS, ticks } from "./gantt";

const at = (s: number) => new Date(Date.UTC(2026, 10, 29, 10, 0, s)).toISOString();

describe("computeGantt", () => {
  it("places finished attempts as fractions of the run's span", () => {
    const gantt = computeGantt(
      [
        task("a", [], { attempts: [attempt(1, { started_at: at(0), finished_at: at(10), status: "Succeeded" })] }),
        task("b", ["a"], { attempts: [attempt(1, { started_at: at(10), finished_at: at(20), status: "Failed" })] }),
      ],
      Date.parse(at(100)),
    );
    expect(gantt.rows.map((r) => r.task)).toEqual(["a", "b"]);
    expect(gantt.rows[1].bars[0]).toMatchObject({ left: 0.5, width: 0.5, running: false, status: "Failed" });
  });

  it("ends a running attempt at now, so its bar grows as time passes", () => {
    const tasks = [task("a", [], { attempts: [attempt(1, { started_at: at(0), status: "Running" })] })];
    expect(computeGantt(tasks, Date.parse(at(5))).rows[0].bars[0].end - Date.parse(at(0))).toBe(5000);
    expect(computeGantt(tasks, Date.parse(at(9))).rows[0].bars[0]).toMatchObject({ running: true, width: 1 });
  });

  it("draws every attempt of a retried task on its row", () => {
    const tasks = [
      task("a", [], {
        attempts: [
          attempt(1, { started_at: at(0), finished_at: at(5), status: "Failed" }),
          attempt(2, { started_at: at(8), finished_at: at(10), status: "Succeeded" }),
        ],
      }),
    ];
    const bars = computeGantt(tasks, Date.parse(at(10))).rows[0].bars;
    expect(bars.map((b) => [b.attempt, b.left, b.width])).toEqual([
      [1, 0, 0.5],
      [2, 0.8, 0.2],
    ]);
  });

  it("uses the creation time of an attempt that has not started, and skips tasks without one", () => {
    const tasks = [task("a", [], { attempts: [attempt(1, { created_at: at(3), started_at: null, status: "Launching" })] }), task("b")];
    const gantt = computeGantt(tasks, Date.parse(at(4)));
    expect(gantt.rows).toHaveLength(1);
    expect(gantt.start).toBe(Date.parse(at(3)));
  });

  it("draws a run over in milliseconds on a one-second axis, in order, from the left", () => {
    const ms = (n: number) => new Date(Date.parse(at(0)) + n).toISOString();
    const tasks = [
      task("a", [], { attempts: [attempt(1, { started_at: ms(0), finished_at: ms(3), status: "Error" })] }),
      task("b", ["a"], { attempts: [attempt(1, { started_at: ms(4), finished_at: ms(4), status: "Failed" })] }),
    ];
    const gantt = computeGantt(tasks, Date.parse(ms(10)));
    expect(gantt.end - gantt.start).toBe(MIN_SPAN_MS);
    const [a, b] = gantt.rows.map((row) => row.bars[0]);
    expect(a.left).toBe(0);
    expect(b.left).toBeLessThan(0.01);
    expect(b.width).toBeGreaterThan(0); // an instant still shows
    expect(ticks(gantt.start, gantt.end)).toEqual([0, 200, 400, 600, 800, 1000]);
  });

  it("focuses on the latest round of a retried run, from its first new attempt", () => {
    const tasks = [
      task("a", [], { attempts: [attempt(1, { started_at: at(0), finished_at: at(2), status: "Succeeded" })] }),
      task("b", ["a"], {
        round_start: 2,
        attempts: [
          attempt(1, { started_at: at(2), finished_at: at(8), status: "Failed" }),
          attempt(2, { started_at: at(400), finished_at: at(408), status: "Succeeded" }),
        ],
      }),
    ];
    expect(latestRoundStart(tasks)).toBe(Date.parse(at(400)));
    expect(latestRoundStart([tasks[0]])).toBeNull();
    const round = computeGantt(tasks, Date.parse(at(410)), new Map(), latestRoundStart(tasks));
    expect(round.rows.map((row) => [row.task, row.bars.map((bar) => [bar.attempt, bar.left, bar.width])])).toEqual([
      ["b", [[2, 0, 1]]],
    ]);
    // The whole run keeps every round.
    expect(computeGantt(tasks, Date.parse(at(410))).rows).toHaveLength(2);
  });

  it("has round tick steps", () => {
    expect(ticks(0, 60_000)).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000]);
    expect(ticks(0, 3_600_000, 4)).toEqual([0, 900_000, 1_800_000, 2_700_000, 3_600_000]);
  });
});

describe("computeGantt with control flow", () => {
  it("marks a skipped task where it was skipped, with why", () => {
    const gantt = computeGantt(
      [
        task("flip", [], { status: "Succeeded", attempts: [attempt(1, { started_at: at(0), finished_at: at(10), status: "Succeeded" })] }),
        task("tails", ["flip"], { status: "Skipped", finished_at: at(10), reason: "Condition", message: "when 'x' is false" }),
        task("never", ["flip"], { status: "Pending" }),
      ],
      Date.parse(at(20)),
    );
    expect(gantt.rows.map((r) => r.task)).toEqual(["flip", "tails"]);
    expect(gantt.rows[1]).toMatchObject({ bars: [], mark: { status: "Skipped", left: 1, reason: "Condition", message: "when 'x' is false" } });
  });

  it("draws a fan-out as one row over its instances' attempts, however many", () => {
    const tasks = [
      task("square", [], { status: "Expanded", fan_out: 200 }),
      ...Array.from({ length: 200 }, (_, i) =>
        task(`square[${i}]`, [], {
          fan_group: "square",
          fan_index: i,
          status: i < 199 ? "Succeeded" : "Running",
          attempts: [attempt(1, { started_at: at(i % 20), finished_at: i < 199 ? at(10 + (i % 20)) : null, status: i < 199 ? "Succeeded" : "Running" })],
        }),
      ),
    ];
    const split = splitFanOuts(tasks);
    const gantt = computeGantt(split.tasks, Date.parse(at(40)), split.fanOuts);
    expect(gantt.rows).toHaveLength(1);
    expect(gantt.rows[0]).toMatchObject({ task: "square", instances: 200 });
    expect(gantt.rows[0].bars).toEqual([
      expect.objectContaining({ attempt: 0, status: "Expanded", running: true, start: Date.parse(at(0)), end: Date.parse(at(40)) }),
    ]);
  });
});
