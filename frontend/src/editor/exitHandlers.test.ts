import { describe, expect, it } from "vitest";

import { referenceCompletions } from "./dataflow";
import { placeErrors } from "./errors";
import { autoLayout, connect, copyTasks, pasteTasks, removeTasks, renameTask, setExitHandler, updateTask } from "./graphOps";
import { type Doc, edgesOf, exitNames, positionsOf, rawExitTasks, rawTasks, specOf, tasksOf } from "./model";

/** extract → load, and two exit handlers: report, then notify after it. */
function handled(): Doc {
  return {
    apiVersion: "flowdeck.io/v1",
    kind: "Workflow",
    metadata: { name: "handled" },
    spec: {
      tasks: [
        { name: "extract", image: "busybox", outputs: { parameters: [{ name: "rows", valueFrom: { path: "/flowdeck/outputs/rows" } }] } },
        { name: "load", image: "busybox", dependencies: ["extract"] },
      ],
      onExit: [
        { name: "report", image: "busybox" },
        { name: "notify", image: "busybox", dependencies: ["report"] },
      ],
      ui: {
        positions: {
          extract: { x: 0, y: 0 },
          load: { x: 0, y: 100 },
          report: { x: 0, y: 260 },
          notify: { x: 0, y: 360 },
        },
      },
    },
  };
}

const names = (list: unknown[]) => list.map((task) => (task as { name: string }).name);
const edges = (doc: Doc) => edgesOf(doc).map((edge) => `${edge.source}->${edge.target}`).sort();

describe("exit handlers in the document", () => {
  it("reads the run's tasks then the exit handlers, and knows which are which", () => {
    const doc = handled();
    expect(tasksOf(doc).map((task) => task.name)).toEqual(["extract", "load", "report", "notify"]);
    expect([...exitNames(doc)]).toEqual(["report", "notify"]);
    expect(edges(doc)).toEqual(["extract->load", "report->notify"]);
  });

  it("edits, renames and removes exit handlers where they are", () => {
    let doc = updateTask(handled(), "report", (task) => ({ ...task, image: "alpine" }));
    expect(rawExitTasks(doc)[0]).toEqual({ name: "report", image: "alpine" });
    const renamed = renameTask(doc, "report", "summary");
    expect(renamed.ok).toBe(true);
    if (!renamed.ok) return;
    doc = renamed.doc;
    expect(rawExitTasks(doc)).toEqual([
      { name: "summary", image: "alpine" },
      { name: "notify", image: "busybox", dependencies: ["summary"] },
    ]);
    doc = removeTasks(doc, ["summary", "notify"]);
    // An empty onExit is an error: the key goes.
    expect("onExit" in specOf(doc)).toBe(false);
    expect(names(rawTasks(doc))).toEqual(["extract", "load"]);
  });

  it("refuses an edge between a task of the run and an exit handler, either way", () => {
    const into = connect(handled(), "load", "report");
    expect(into).toEqual({
      ok: false,
      message:
        "Refused: report is an exit handler, which runs once every other task has ended: it may run after other exit handlers only, not after load.",
    });
    const out = connect(handled(), "notify", "load");
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.message).toContain("load cannot run after it");
    const among = connect(handled(), "notify", "report");
    expect(among.ok).toBe(false); // a cycle, not a lane: report → notify already
    const fine = connect(removeTasks(handled(), ["notify"]), "extract", "load");
    expect(fine.ok).toBe(false); // already there
  });

  it("makes a task an exit handler, cutting its edges to the run's tasks and saying which", () => {
    const result = setExitHandler(handled(), "load", true);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.cut).toEqual([{ source: "extract", target: "load" }]);
    expect(names(rawTasks(result.doc))).toEqual(["extract"]);
    expect(names(rawExitTasks(result.doc))).toEqual(["report", "notify", "load"]);
    expect(rawExitTasks(result.doc)[2]).toEqual({ name: "load", image: "busybox" });
    // A new onExit is written before ui, as the spec lists them.
    const made = setExitHandler(removeTasks(handled(), ["report", "notify"]), "load", true);
    if (made.ok) expect(Object.keys(specOf(made.doc))).toEqual(["tasks", "onExit", "ui"]);
    // Placed beside the other exit handlers, in their lane.
    expect(positionsOf(result.doc).load).toEqual({ x: 204, y: 260 });
  });

  it("makes an exit handler a task of the run again, and cuts the handlers that ran after it", () => {
    const result = setExitHandler(handled(), "report", false);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.cut).toEqual([{ source: "report", target: "notify" }]);
    expect(names(rawTasks(result.doc))).toEqual(["extract", "load", "report"]);
    expect(names(rawExitTasks(result.doc))).toEqual(["notify"]);
    // Below the run's tasks; the lane moved down out of their way.
    const positions = positionsOf(result.doc);
    expect(positions.report).toEqual({ x: 0, y: 192 });
    expect(positions.notify.y).toBeGreaterThan(positions.report.y + 44);
  });

  it("refuses to move a task a depends expression ties to the other side", () => {
    const doc = updateTask(handled(), "load", (task) => ({ name: task.name, image: "busybox", depends: "extract.Failed" }));
    const own = setExitHandler(doc, "load", true);
    expect(own).toEqual({ ok: false, message: "load's depends expression names extract: edit it in its form first (Control flow)." });
    const theirs = setExitHandler(doc, "extract", true);
    expect(theirs.ok).toBe(false);
    if (!theirs.ok) expect(theirs.message).toBe("load's depends expression names extract: edit it in load's form first (Control flow).");
  });

  it("pastes a copied exit handler as an exit handler", () => {
    const doc = handled();
    const pasted = pasteTasks(doc, copyTasks(doc, ["notify", "load"]));
    expect(names(rawTasks(pasted.doc))).toEqual(["extract", "load", "load-2"]);
    expect(names(rawExitTasks(pasted.doc))).toEqual(["report", "notify", "notify-2"]);
  });

  it("lays the exit handlers out in their own lane after the run's tasks", () => {
    const positions = positionsOf(autoLayout(handled(), "TB"));
    const lowestTask = Math.max(positions.extract.y, positions.load.y);
    expect(positions.report.y).toBeGreaterThan(lowestTask + 44);
    expect(positions.notify.y).toBeGreaterThan(positions.report.y);
    const across = positionsOf(autoLayout(handled(), "LR"));
    expect(across.report.x).toBeGreaterThan(Math.max(across.extract.x, across.load.x) + 180);
  });

  it("places the server's errors at spec.onExit[i] on that exit handler", () => {
    const placed = placeErrors(handled(), [
      { path: "spec.onExit[1].dependencies[0]", message: "an exit handler runs after every task" },
      { path: "spec.tasks[1].image", message: "is required" },
      { path: "spec.onExit", message: "must have at least one task (or be left out)" },
    ]);
    expect(placed.byTask.get("notify")).toEqual([
      { field: "dependencies[0]", message: "an exit handler runs after every task", path: "spec.onExit[1].dependencies[0]" },
    ]);
    expect(placed.byTask.get("load")![0].field).toBe("image");
    expect(placed.workflow.map((error) => error.path)).toEqual(["spec.onExit"]);
  });

  it("offers an exit handler the run's status, failures and id, and every task's outputs", () => {
    const labels = (task: string) => referenceCompletions(handled(), task, "text").map((item) => item.label);
    expect(labels("notify")).toEqual([
      "run.status",
      "run.failures",
      "run.id",
      "tasks.report.outputs.result",
      "tasks.extract.outputs.result",
      "tasks.extract.outputs.parameters.rows",
      "tasks.load.outputs.result",
    ]);
    // A task of the run reads neither the run's values nor an exit handler's outputs.
    expect(labels("load")).toEqual(["tasks.extract.outputs.result", "tasks.extract.outputs.parameters.rows"]);
    // A workflow's outputs read the run's tasks only.
    expect(referenceCompletions(handled(), null, "value").map((item) => item.label)).not.toContain("tasks.report.outputs.result");
  });
});
