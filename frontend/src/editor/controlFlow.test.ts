import { describe, expect, it } from "vitest";

import { canonical } from "./canonical";
import {
  addToDepends,
  dependsFromList,
  dependsNames,
  dependsResults,
  errorPosition,
  explainRule,
  fanOutBadge,
  fanOutMode,
  itemFields,
  itemsToText,
  renameInDepends,
  sequenceSize,
  textToItems,
  TRIGGER_RULES,
} from "./controlFlow";
import { itemCompletions, taskReferences } from "./dataflow";
import { buildEdges, buildNodes, edgeRule } from "./flowModel";
import { connect, copyTasks, dependsEdges, pasteTasks, renameTask } from "./graphOps";
import { type Doc, type Task, dependenciesOf, edgesOf, findTask, orderTaskKeys } from "./model";

function doc(tasks: Task[]): Doc {
  return { apiVersion: "flowdeck.io/v1", kind: "Workflow", metadata: { name: "w" }, spec: { tasks } };
}

describe("trigger rules", () => {
  it("lists the server's six, each with what it means", () => {
    expect(TRIGGER_RULES.map((rule) => rule.value)).toEqual(["allSucceeded", "noneFailed", "allDone", "anyFailed", "anySucceeded", "allFailed"]);
    expect(explainRule("noneFailed")).toMatch(/none failed/);
    expect(explainRule("bogus")).toBe("");
  });
});

describe("depends", () => {
  it("names the tasks it reads, each once, as the task's dependencies", () => {
    expect(dependsNames("load.Failed && (cleanup || !load-2.Succeeded)")).toEqual(["load", "cleanup", "load-2"]);
    expect(dependsNames(undefined)).toEqual([]);
    const task = { name: "report", depends: "load.Failed && cleanup" };
    expect(dependenciesOf(task)).toEqual(["load", "cleanup"]);
    expect(edgesOf(doc([{ name: "load" }, { name: "cleanup" }, task])).map((e) => `${e.source}->${e.target}`)).toEqual([
      "load->report",
      "cleanup->report",
    ]);
  });

  it("tells which results it asks of each task", () => {
    expect(dependsResults("a.Failed || a.Errored && b")).toEqual(
      new Map([
        ["a", ["Failed", "Errored"]],
        ["b", [""]],
      ]),
    );
  });

  it("renames a task in it without touching names that only start the same", () => {
    expect(renameInDepends("load.Failed && load-2 || !load", "load", "ingest")).toBe("ingest.Failed && load-2 || !ingest");
  });

  it("adds a task as a dependency would, keeping the precedence of what was there", () => {
    expect(addToDepends("", "a")).toBe("a");
    expect(addToDepends("a.Failed && b", "c")).toBe("a.Failed && b && c");
    expect(addToDepends("a.Failed || b", "c")).toBe("(a.Failed || b) && c");
    expect(dependsFromList(["a", "b"])).toBe("a && b");
  });
});

describe("graph edits of a task with depends", () => {
  const handlers = () =>
    doc([
      { name: "load", image: "x" },
      { name: "cleanup", image: "x", dependencies: ["load"], triggerRule: "anyFailed" },
      { name: "extra", image: "x" },
      { name: "report", image: "x", depends: "load.Failed && cleanup" },
    ]);

  it("connects by adding to the expression, never by writing dependencies beside it", () => {
    const result = connect(handlers(), "extra", "report");
    expect(result.ok).toBe(true);
    const report = findTask((result as { doc: Doc }).doc, "report")!;
    expect(report).toEqual({ name: "report", image: "x", depends: "load.Failed && cleanup && extra" });
  });

  it("refuses to cut an edge its expression draws, and renames through it", () => {
    expect(dependsEdges(handlers(), [{ source: "load", target: "report" }, { source: "load", target: "cleanup" }])).toEqual([
      { source: "load", target: "report" },
    ]);
    const renamed = renameTask(handlers(), "load", "ingest");
    expect(renamed.ok && findTask(renamed.doc, "report")!.depends).toBe("ingest.Failed && cleanup");
  });

  it("copies an expression with every task it names, renamed with them, and drops it otherwise", () => {
    const all = pasteTasks(handlers(), copyTasks(handlers(), ["load", "cleanup", "report"]));
    expect(findTask(all.doc, "report-2")!.depends).toBe("load-2.Failed && cleanup-2");
    const alone = copyTasks(handlers(), ["report"]);
    expect(alone.tasks[0]).not.toHaveProperty("depends");
  });
});

describe("fan-outs", () => {
  it("knows how a task runs once per item and what its node says", () => {
    expect(fanOutMode({ withParam: "{{x}}" })).toBe("param");
    expect(fanOutBadge({ withItems: [1, 2, 3] })).toBe("×3");
    expect(fanOutBadge({ withParam: "{{tasks.a.outputs.result}}" })).toBe("per item");
    expect(fanOutBadge({ withSequence: { count: 200 } })).toBe("×200");
    expect(fanOutBadge({ withSequence: { start: 10, end: 1 } })).toBe("×10");
    expect(fanOutBadge({ name: "plain" })).toBe("");
    expect(sequenceSize({ count: "x" })).toBeNull();
  });

  it("writes items one per line and reads them back the same, whatever they are", () => {
    const items = ["a.csv", 42, "42", "true", true, null, { file: "b.csv", rows: [1, 2] }, " spaced ", "two\nlines", "", '"quoted"', "{not json"];
    const text = itemsToText(items);
    expect(text.split("\n").slice(0, 4)).toEqual(["a.csv", "42", '"42"', '"true"']);
    expect(textToItems(text)).toEqual(items);
  });

  it("skips blank lines and keeps what does not read as JSON as text", () => {
    expect(textToItems('a\n\n  \n{"x": 1}\n{oops\n3.5')).toEqual(["a", { x: 1 }, "{oops", 3.5]);
  });

  it("offers {{item}} and the fields of its items where the task's texts may use them, not in its condition", () => {
    const task = { name: "each", withItems: [{ file: "a.csv", rows: 1 }, { file: "b.csv" }] };
    expect(itemFields(task.withItems)).toEqual(["file", "rows"]);
    expect(itemCompletions(task).map((c) => c.text)).toEqual(["{{item}}", "{{item.file}}", "{{item.rows}}"]);
    const refs = taskReferences(doc([task]), "each");
    expect(refs.text.map((c) => c.label)).toContain("item.file");
    expect(refs.condition.map((c) => c.label)).not.toContain("item");
    expect(itemCompletions({ name: "plain" })).toEqual([]);
  });
});

describe("on the canvas", () => {
  const none = { byTask: new Map(), workflow: [] };

  it("marks a fan-out and a conditional task on their nodes", () => {
    const tasks: Task[] = [
      { name: "flip", image: "x" },
      { name: "heads", image: "x", dependencies: ["flip"], when: "{{tasks.flip.outputs.result}} == heads" },
      { name: "each", image: "x", withSequence: { count: 200 }, parallelism: 20 },
    ];
    const nodes = buildNodes(tasks, {}, none, new Set(), "TB", [])!;
    expect(nodes[0].data).toMatchObject({ fanOut: undefined, condition: undefined });
    expect(nodes[1].data.condition).toBe("{{tasks.flip.outputs.result}} == heads");
    expect(nodes[1].ariaLabel).toBe("Task heads, runs only when {{tasks.flip.outputs.result}} == heads");
    expect(nodes[2].data.fanOut).toBe("×200");
    // A change of its item count draws the node again.
    const changed = buildNodes([tasks[0], tasks[1], { ...tasks[2], withSequence: { count: 5 } }], {}, none, new Set(), "TB", nodes)!;
    expect(changed[0]).toBe(nodes[0]);
    expect(changed[2].data.fanOut).toBe("×5");
  });

  it("labels and dashes an edge into a task whose rule is not the default", () => {
    const d = doc([
      { name: "load", image: "x" },
      { name: "cleanup", image: "x", dependencies: ["load"], triggerRule: "anyFailed" },
      { name: "next", image: "x", dependencies: ["load"] },
      { name: "report", image: "x", depends: "load.Failed && cleanup" },
    ]);
    const { edges, cache } = buildEdges(d, new Set(), new Map());
    const byId = new Map(edges.map((edge) => [edge.id, edge]));
    expect(byId.get("load->cleanup")).toMatchObject({ label: "anyFailed", style: { strokeDasharray: "6 4" } });
    expect(byId.get("load->next")!.label).toBeUndefined();
    expect(byId.get("load->report")!.label).toBe("Failed");
    expect(byId.get("cleanup->report")!.label).toBe("depends");
    expect(edgeRule({ name: "x", triggerRule: "allSucceeded" }, "a")).toBe("");
    // Unchanged edges are reused; a rule changed draws its edges again.
    expect(buildEdges(d, new Set(), cache).edges[0]).toBe(edges[0]);
    const relaxed = doc([
      { name: "load", image: "x" },
      { name: "cleanup", image: "x", dependencies: ["load"], triggerRule: "allDone" },
    ]);
    expect(buildEdges(relaxed, new Set(), cache).edges[0].label).toBe("allDone");
  });
});

describe("key order", () => {
  it("writes control flow after the rest of a task, in the spec's order", () => {
    const task = orderTaskKeys({ parallelism: 3, withItems: [1], when: "x", name: "t", dependencies: ["a"], continueOn: { failed: true } });
    expect(Object.keys(task)).toEqual(["name", "dependencies", "when", "continueOn", "withItems", "parallelism"]);
    const stored = canonical(doc([{ withSequence: { format: "p-%d", count: 2 }, name: "t" } as unknown as Task]));
    expect(Object.keys(findTask(stored, "t")!.withSequence as object)).toEqual(["count", "format"]);
  });
});

describe("errors", () => {
  it("reads the position an expression error names", () => {
    expect(errorPosition("'{{tasks.a.outputs.result}} ==': position 30: expected a value after '==', found the end")).toBe(29);
    expect(errorPosition("must be one of allSucceeded, ...")).toBeNull();
  });
});
