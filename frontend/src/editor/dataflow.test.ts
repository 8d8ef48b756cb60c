import { describe, expect, it } from "vitest";

import {
  artifactChoices,
  declaredOutputs,
  followName,
  referenceCompletions,
  renameReferences,
  upstreamOf,
} from "./dataflow";
import { renameTask } from "./graphOps";
import { type Doc, findTask } from "./model";

/** extract → transform → load, and report beside them reading only extract. */
function etl(): Doc {
  return {
    apiVersion: "flowdeck.io/v1",
    kind: "Workflow",
    metadata: { name: "etl" },
    spec: {
      parameters: [{ name: "day", default: "2024-01-01" }, { name: "region", description: "Where" }],
      tasks: [
        {
          name: "extract",
          image: "python",
          outputs: {
            parameters: [
              { name: "rows", valueFrom: { path: "/flowdeck/outputs/rows" }, description: "How many" },
              { name: "token", valueFrom: { path: "/flowdeck/outputs/token" }, secret: true },
              { valueFrom: { path: "/flowdeck/outputs/unnamed" } },
            ],
            artifacts: [{ name: "data", path: "/flowdeck/outputs/data.csv" }],
          },
        },
        {
          name: "transform",
          image: "python",
          dependencies: ["extract"],
          outputs: { result: { valueFrom: { path: "/flowdeck/outputs/result.json" } } },
        },
        { name: "load", image: "python", dependencies: ["transform"] },
        { name: "report", image: "python", dependencies: ["extract"] },
      ],
    },
  };
}

const labels = (list: { label: string }[]) => list.map((item) => item.label);

describe("upstream tasks", () => {
  it("are the dependencies, theirs and so on, nearest first", () => {
    expect(upstreamOf(etl(), "load")).toEqual(["transform", "extract"]);
    expect(upstreamOf(etl(), "report")).toEqual(["extract"]);
    expect(upstreamOf(etl(), "extract")).toEqual([]);
  });

  it("each once, in a diamond and through a cycle, and never the task itself", () => {
    const doc: Doc = {
      spec: {
        tasks: [
          { name: "a", dependencies: ["d"] },
          { name: "b", dependencies: ["a"] },
          { name: "c", dependencies: ["a", "ghost"] },
          { name: "d", dependencies: ["b", "c"] },
        ],
      },
    };
    expect(upstreamOf(doc, "d")).toEqual(["b", "c", "a"]);
  });
});

describe("what a task declares", () => {
  it("reads outputs, leaving out entries without a name", () => {
    expect(declaredOutputs(findTask(etl(), "extract")!)).toEqual({
      resultPath: "",
      parameters: [
        { name: "rows", secret: false, description: "How many" },
        { name: "token", secret: true, description: "" },
      ],
      artifacts: [{ name: "data", path: "/flowdeck/outputs/data.csv" }],
    });
    expect(declaredOutputs({ name: "x", outputs: "nonsense" })).toEqual({ resultPath: "", parameters: [], artifacts: [] });
  });
});

describe("completions", () => {
  it("offer the parameters and the outputs of upstream tasks only, transitively", () => {
    expect(labels(referenceCompletions(etl(), "load", "text"))).toEqual([
      "params.day",
      "params.region",
      "tasks.transform.outputs.result",
      "tasks.extract.outputs.result",
      "tasks.extract.outputs.parameters.rows",
    ]);
    expect(labels(referenceCompletions(etl(), "extract", "text"))).toEqual(["params.day", "params.region"]);
  });

  it("offer a secret output only where it stays masked", () => {
    expect(labels(referenceCompletions(etl(), "report", "value"))).toContain("tasks.extract.outputs.parameters.token");
    expect(labels(referenceCompletions(etl(), "report", "text"))).not.toContain("tasks.extract.outputs.parameters.token");
  });

  it("offer every task for the workflow's outputs and parameters only in defaults", () => {
    expect(labels(referenceCompletions(etl(), null, "value"))).toContain("tasks.load.outputs.result");
    expect(labels(referenceCompletions(etl(), null, "defaults"))).toEqual(["params.day", "params.region"]);
  });

  it("insert the whole reference and say what it is", () => {
    const [day, region, transform] = referenceCompletions(etl(), "load", "text");
    expect(day).toEqual({ text: "{{params.day}}", label: "params.day", detail: "parameter, default 2024-01-01" });
    expect(region.detail).toBe("Where");
    expect(transform.text).toBe("{{tasks.transform.outputs.result}}");
    expect(transform.detail).toBe("transform's result, from /flowdeck/outputs/result.json");
  });
});

describe("artifact choices", () => {
  it("are the upstream tasks' declared artifacts, written as `from` is", () => {
    expect(artifactChoices(etl(), "load")).toEqual([
      {
        value: "{{tasks.extract.outputs.artifacts.data}}",
        task: "extract",
        artifact: "data",
        basename: "data.csv",
      },
    ]);
    expect(artifactChoices(etl(), "extract")).toEqual([]);
  });
});

describe("names and paths", () => {
  it("keeps a default output path following the output's name", () => {
    expect(followName("", "", "rows")).toBe("/flowdeck/outputs/rows");
    expect(followName("/flowdeck/outputs/row", "row", "rows")).toBe("/flowdeck/outputs/rows");
    expect(followName("/flowdeck/outputs/count.txt", "rows", "count")).toBe("/flowdeck/outputs/count.txt");
  });

  it("renames references to a task's outputs, and only those", () => {
    const value = {
      args: ["{{tasks.extract.outputs.result}}", "{{ tasks.extract.outputs.parameters.rows }}", "{{tasks.extractor.outputs.result}}"],
      keep: ["tasks.extract.outputs.result", 3],
    };
    const renamed = renameReferences(value, "extract", "pull");
    expect(renamed.args).toEqual([
      "{{tasks.pull.outputs.result}}",
      "{{ tasks.pull.outputs.parameters.rows }}",
      "{{tasks.extractor.outputs.result}}",
    ]);
    expect(renamed.keep).toBe(value.keep);
    expect(renameReferences(value, "nobody", "x")).toBe(value);
  });

  it("renaming a task rewrites what reads it, the workflow's outputs included", () => {
    const doc = etl();
    const load = findTask(doc, "load")!;
    load.args = ["{{tasks.transform.outputs.result}}"];
    load.inputs = { artifacts: [{ name: "d", from: "{{tasks.extract.outputs.artifacts.data}}", path: "/in" }] };
    (doc.spec as Record<string, unknown>).outputs = { artifacts: [{ name: "d", from: "{{tasks.extract.outputs.artifacts.data}}" }] };
    const result = renameTask(doc, "extract", "pull");
    if (!result.ok) throw new Error(result.message);
    expect(JSON.stringify(result.doc)).not.toContain("tasks.extract.");
    expect(findTask(result.doc, "load")!.inputs).toEqual({
      artifacts: [{ name: "d", from: "{{tasks.pull.outputs.artifacts.data}}", path: "/in" }],
    });
    expect(findTask(result.doc, "load")!.args).toEqual(["{{tasks.transform.outputs.result}}"]);
  });
});

describe("a daemon's address", () => {
  const doc: Doc = {
    spec: {
      tasks: [
        { name: "db", daemon: true, ports: [{ port: 5432 }], outputs: { parameters: [{ name: "x", path: "/x" }] } },
        { name: "client", dependencies: ["db"], args: ["psql -h {{tasks.db.ip}} {{ tasks.db.service }} {{tasks.dbx.ip}}"] },
      ],
    },
  };

  it("is what a dependant is offered of a daemon, nothing else", () => {
    expect(labels(referenceCompletions(doc, "client", "text"))).toEqual(["tasks.db.ip", "tasks.db.service"]);
  });

  it("follows the daemon's renaming", () => {
    const renamed = renameReferences(findTask(doc, "client")!, "db", "postgres");
    expect(renamed.args).toEqual(["psql -h {{tasks.postgres.ip}} {{ tasks.postgres.service }} {{tasks.dbx.ip}}"]);
  });
});
