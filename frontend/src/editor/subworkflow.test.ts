import { describe, expect, it } from "vitest";

import { artifactChoices, referenceCompletions } from "./dataflow";
import { type Doc, type Task, tasksOf } from "./model";
import {
  calledNames,
  calledOutputs,
  callOf,
  parameterField,
  parameterRows,
  setCallName,
  setCallParameter,
  setCallVersion,
  toContainer,
  toSubWorkflow,
} from "./subworkflow";

const etlValues: Doc = {
  apiVersion: "flowdeck.io/v1",
  kind: "Workflow",
  metadata: { name: "etl-values" },
  spec: {
    parameters: [{ name: "day", description: "Which day" }, { name: "rows", default: 10 }],
    tasks: [{ name: "extract", image: "python" }],
    outputs: {
      parameters: [{ name: "loaded", value: "{{tasks.extract.outputs.result}}", description: "The rows" }],
      artifacts: [{ name: "report", from: "{{tasks.extract.outputs.artifacts.report}}" }],
    },
  },
};

describe("a task that runs another workflow", () => {
  it("loses its container fields when it becomes one, and says which, keeping its fan-out", () => {
    const task: Task = { name: "etl", image: "busybox", command: ["sh", "-c", "x"], retry: { limit: 2 }, withItems: [1], parallelism: 2 };
    const made = toSubWorkflow(task);
    expect(made.removed).toEqual(["image", "command"]);
    expect(made.task).toEqual({ name: "etl", retry: { limit: 2 }, withItems: [1], parallelism: 2, workflow: { name: "" } });
    expect(callOf(made.task)).toEqual({ name: "", version: null, parameters: {} });
    expect(toContainer(made.task)).toEqual({
      name: "etl",
      image: "busybox:1.36",
      command: ["sh", "-c", "echo hello"],
      retry: { limit: 2 },
      withItems: [1],
      parallelism: 2,
    });
  });

  it("writes the call in the spec's order, and an empty value passes nothing", () => {
    let task: Task = { name: "etl", workflow: { name: "" } };
    task = setCallParameter(task, "day", "{{params.day}}") as Task;
    task = setCallVersion(task, 3) as Task;
    task = setCallName(task, "etl-values") as Task;
    expect(task.workflow).toEqual({ name: "etl-values", parameters: { day: "{{params.day}}" } });
    task = setCallVersion(task, 3) as Task;
    expect(Object.keys(task.workflow as object)).toEqual(["name", "version", "parameters"]);
    task = setCallParameter(setCallVersion(task, null), "day", "") as Task;
    expect(task.workflow).toEqual({ name: "etl-values" });
  });

  it("keeps, when another workflow is picked, only the parameters it declares", () => {
    const task = { name: "etl", workflow: { name: "old", version: 2, parameters: { day: "x", gone: "y" } } };
    expect(setCallName(task, "etl-values", [{ name: "day" }]).workflow).toEqual({ name: "etl-values", parameters: { day: "x" } });
    // Not known yet: everything stays.
    expect(setCallName(task, "etl-values").workflow).toEqual({ name: "etl-values", parameters: { day: "x", gone: "y" } });
  });

  it("lists the called workflow's parameters, then what it does not declare", () => {
    const rows = parameterRows([{ name: "day", description: "Which day" }, { name: "rows", default: "10" }], { rows: "5", extra: 1 });
    expect(rows).toEqual([
      { name: "day", value: "", declared: true, required: true, default: undefined, description: "Which day" },
      { name: "rows", value: "5", declared: true, required: false, default: "10", description: undefined },
      { name: "extra", value: "1", declared: false, required: false },
    ]);
    expect(parameterRows(null, { day: "x" })).toEqual([{ name: "day", value: "x", declared: true, required: false }]);
  });

  it("names a parameter's field as the server's error paths do", () => {
    expect(parameterField("day")).toBe("workflow.parameters.day");
    expect(parameterField("a.b")).toBe('workflow.parameters["a.b"]');
  });

  it("hands the called workflow's outputs to the tasks after it", () => {
    const doc: Doc = {
      spec: {
        tasks: [
          { name: "etl", workflow: { name: "etl-values" } },
          { name: "announce", image: "busybox", dependencies: ["etl"] },
        ],
      },
    };
    expect(calledNames(tasksOf(doc))).toEqual(["etl-values"]);
    const called = new Map([["etl-values", calledOutputs(etlValues)]]);
    expect(referenceCompletions(doc, "announce", "text", called)).toEqual([
      {
        text: "{{tasks.etl.outputs.parameters.loaded}}",
        label: "tasks.etl.outputs.parameters.loaded",
        detail: "returned by etl (workflow etl-values): The rows",
      },
    ]);
    expect(artifactChoices(doc, "announce", called).map((choice) => choice.value)).toEqual(["{{tasks.etl.outputs.artifacts.report}}"]);
    // Not read yet: nothing offered (and no result: a workflow returns its outputs only).
    expect(referenceCompletions(doc, "announce", "text")).toEqual([]);
  });
});
