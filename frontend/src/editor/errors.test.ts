import { describe, expect, it } from "vitest";

import { errorsUnder, lineErrors, placeErrors } from "./errors";

const doc = {
  spec: { tasks: [{ name: "a" }, "junk", { name: "c" }] },
};

describe("placing server errors", () => {
  it("puts a task's errors on that task, by position in spec.tasks", () => {
    const placed = placeErrors(doc, [
      { path: "spec.tasks[2].resources.limits.cpu", message: "invalid quantity" },
      { path: "spec.tasks[0]", message: "bad" },
      { path: "spec.parallelism", message: "must be at least 1" },
      { path: "spec.tasks[1]", message: "must be a mapping" },
    ]);
    expect(placed.byTask.get("c")).toEqual([
      { field: "resources.limits.cpu", message: "invalid quantity", path: "spec.tasks[2].resources.limits.cpu" },
    ]);
    expect(placed.byTask.get("a")![0].field).toBe("");
    expect(placed.workflow.map((error) => error.path)).toEqual(["spec.parallelism", "spec.tasks[1]"]);
  });

  it("matches a field and what is inside it, not a longer name", () => {
    const errors = [
      { field: "env[0].name", message: "x", path: "" },
      { field: "retry.backoff.delay", message: "y", path: "" },
      { field: "retryx", message: "z", path: "" },
    ];
    expect(errorsUnder(errors, "env").length).toBe(1);
    expect(errorsUnder(errors, "retry").map((error) => error.message)).toEqual(["y"]);
  });

  it("says which line of a one-per-line list a reference error is on", () => {
    const placed = placeErrors({ spec: { tasks: [{ name: "load" }] } }, [
      { path: "spec.tasks[0].args[1]", message: "{{tasks.report.outputs.result}}: task 'report' is not upstream of 'load'" },
      { path: "spec.tasks[0].args", message: "must be a list" },
    ]);
    expect(lineErrors(placed.byTask.get("load"), "args").map((error) => error.message)).toEqual([
      "Line 2: {{tasks.report.outputs.result}}: task 'report' is not upstream of 'load'",
      "must be a list",
    ]);
  });
});
