import { describe, expect, it } from "vitest";

import {
  addTask,
  autoLayout,
  connect,
  copyTasks,
  disconnect,
  duplicateTasks,
  moveTasks,
  pasteTasks,
  placeMissing,
  removeTasks,
  renameTask,
  uniqueName,
} from "./graphOps";
import { type Doc, edgesOf, emptyDocument, findTask, positionsOf, taskNames } from "./model";

function diamond(): Doc {
  return {
    apiVersion: "flowdeck.io/v1",
    kind: "Workflow",
    metadata: { name: "diamond" },
    spec: {
      tasks: [
        { name: "a", image: "busybox" },
        { name: "b", image: "busybox", dependencies: ["a"] },
        { name: "c", image: "busybox", dependencies: ["a"] },
        { name: "d", image: "busybox", dependencies: ["b", "c"] },
      ],
      ui: { positions: { a: { x: 0, y: 0 }, b: { x: -100, y: 100 }, c: { x: 100, y: 100 }, d: { x: 0, y: 200 } } },
    },
  };
}

const edges = (doc: Doc) => edgesOf(doc).map((edge) => `${edge.source}->${edge.target}`).sort();

describe("adding and removing tasks", () => {
  it("adds a task from a template under a fresh name at the drop point", () => {
    let doc = emptyDocument("w");
    const first = addTask(doc, { image: "busybox" }, { x: 10.4, y: 20.6 }, "shell");
    doc = first.doc;
    const second = addTask(doc, { image: "busybox" }, { x: 0, y: 0 }, "shell");
    expect([first.name, second.name]).toEqual(["shell", "shell-2"]);
    expect(positionsOf(first.doc).shell).toEqual({ x: 10, y: 21 });
    expect(findTask(second.doc, "shell-2")).toEqual({ name: "shell-2", image: "busybox" });
  });

  it("does not change the document it was given", () => {
    const doc = diamond();
    const before = JSON.stringify(doc);
    removeTasks(doc, ["b"]);
    addTask(doc, { image: "x" }, { x: 0, y: 0 });
    connect(doc, "b", "c");
    expect(JSON.stringify(doc)).toBe(before);
  });

  it("removes a task with its edges and its position", () => {
    const doc = removeTasks(diamond(), ["b"]);
    expect([...taskNames(doc)]).toEqual(["a", "c", "d"]);
    expect(edges(doc)).toEqual(["a->c", "c->d"]);
    expect(positionsOf(doc).b).toBeUndefined();
  });

  it("drops an emptied dependency list instead of writing []", () => {
    const doc = removeTasks(diamond(), ["a"]);
    expect(findTask(doc, "b")).toEqual({ name: "b", image: "busybox" });
  });

  it("makes names DNS labels and unique", () => {
    expect(uniqueName("My Task!", new Set())).toBe("my-task");
    expect(uniqueName("a-2", new Set(["a", "a-2"]))).toBe("a-3");
    expect(uniqueName("", new Set())).toBe("task");
  });
});

describe("connecting tasks", () => {
  it("adds the source to the target's dependencies", () => {
    const result = connect(diamond(), "b", "c");
    expect(result.ok).toBe(true);
    if (result.ok) expect(findTask(result.doc, "c")!.dependencies).toEqual(["a", "b"]);
  });

  it("refuses an edge that would close a cycle and names the cycle", () => {
    const result = connect(diamond(), "d", "a");
    expect(result).toEqual({
      ok: false,
      message: "Refused: d → a would close a cycle (a → b → d → a).",
    });
  });

  it("refuses a task depending on itself and a repeated edge", () => {
    expect(connect(diamond(), "a", "a").ok).toBe(false);
    const repeated = connect(diamond(), "a", "b");
    expect(repeated.ok).toBe(false);
    if (!repeated.ok) expect(repeated.message).toBe("b already depends on a.");
  });

  it("removes the chosen edges only", () => {
    const doc = disconnect(diamond(), [{ source: "b", target: "d" }]);
    expect(edges(doc)).toEqual(["a->b", "a->c", "c->d"]);
  });
});

describe("renaming", () => {
  it("renames the task, the dependencies on it and its position", () => {
    const result = renameTask(diamond(), "a", "extract");
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(edges(result.doc)).toEqual(["b->d", "c->d", "extract->b", "extract->c"]);
    expect(positionsOf(result.doc).extract).toEqual({ x: 0, y: 0 });
  });

  it("refuses a name another task has", () => {
    expect(renameTask(diamond(), "a", "b")).toEqual({ ok: false, message: "Another task is named b." });
  });
});

describe("copy, paste and duplicate", () => {
  it("pastes copies under new names, keeping the edges among them", () => {
    const doc = diamond();
    const clip = copyTasks(doc, ["b", "d"]);
    const pasted = pasteTasks(doc, clip, { x: 50, y: 0 });
    expect(pasted.names).toEqual(["b-2", "d-2"]);
    expect(findTask(pasted.doc, "d-2")!.dependencies).toEqual(["b-2"]);
    expect(findTask(pasted.doc, "b-2")!.dependencies).toBeUndefined();
    expect(positionsOf(pasted.doc)["d-2"]).toEqual({ x: 50, y: 200 });
  });

  it("duplicates a selection next to itself", () => {
    const result = duplicateTasks(diamond(), ["a"]);
    expect(result.names).toEqual(["a-2"]);
    expect(positionsOf(result.doc)["a-2"]).toEqual({ x: 40, y: 40 });
  });
});

describe("positions and layout", () => {
  it("saves moved positions rounded", () => {
    const doc = moveTasks(diamond(), { a: { x: 5.5, y: 7.2 } });
    expect(positionsOf(doc).a).toEqual({ x: 6, y: 7 });
  });

  it("lays out top-down and left-right and remembers the direction", () => {
    const down = autoLayout(diamond(), "TB");
    expect(positionsOf(down).d.y).toBeGreaterThan(positionsOf(down).a.y);
    const right = autoLayout(diamond(), "LR");
    expect(positionsOf(right).d.x).toBeGreaterThan(positionsOf(right).a.x);
    expect((right.spec as { ui: { direction: string } }).ui.direction).toBe("LR");
  });

  it("places tasks that have no position without moving the others", () => {
    const doc = diamond();
    (doc.spec as { tasks: unknown[] }).tasks.push({ name: "e", image: "x" });
    const placed = placeMissing(doc);
    expect(positionsOf(placed).a).toEqual({ x: 0, y: 0 });
    // No upstream: beside the first layer, clear of every node.
    expect(positionsOf(placed).e).toEqual({ x: 310, y: 0 });
  });

  it("places a task added in the text one layer after its upstream tasks, as the layout would", () => {
    const doc = diamond();
    const tasks = (doc.spec as { tasks: unknown[] }).tasks;
    tasks.push({ name: "e", image: "x", dependencies: ["d"] });
    tasks.push({ name: "f", image: "x", dependencies: ["d"] });
    tasks.push({ name: "g", image: "x", dependencies: ["e"] });
    const positions = positionsOf(placeMissing(doc));
    expect(positions.e).toEqual({ x: 0, y: 310 });
    expect(positions.f).toEqual({ x: 210, y: 310 }); // beside e, not on it
    expect(positions.g).toEqual({ x: 0, y: 420 });
    // Left to right, the next layer is to the right.
    const right = diamond();
    (right.spec as { ui: Record<string, unknown> }).ui.direction = "LR";
    (right.spec as { tasks: unknown[] }).tasks.push({ name: "e", image: "x", dependencies: ["b", "c"] });
    expect(positionsOf(placeMissing(right)).e).toEqual({ x: 340, y: 100 });
  });
});
