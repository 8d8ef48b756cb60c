import { describe, expect, it } from "vitest";

import { findTasks } from "./find";
import type { Task } from "./types";

const task = (name: string): Task => ({
  name,
  status: "Pending",
  position: 0,
  attempts_count: 0,
  started_at: null,
  finished_at: null,
  retry_at: null,
  reason: "",
  message: "",
  dependencies: [],
  attempts: [],
});

describe("findTasks", () => {
  const tasks = ["s1-w10", "load", "s1-w1", "reload", "square[1]", "s10-w1"].map(task);
  const names = (query: string, limit?: number) => findTasks(tasks, query, limit).map((t) => t.name);

  it("puts the exact name first, then names starting with the query, then the rest", () => {
    expect(names("s1-w1")).toEqual(["s1-w1", "s1-w10"]);
    expect(names("LOAD")).toEqual(["load", "reload"]);
    expect(names("w1")).toEqual(["s1-w10", "s1-w1", "s10-w1"]);
  });

  it("finds nothing for an empty query and keeps to the limit", () => {
    expect(names("  ")).toEqual([]);
    expect(names("s", 2)).toEqual(["s1-w10", "s1-w1"]);
    expect(names("[1]")).toEqual(["square[1]"]);
  });
});
