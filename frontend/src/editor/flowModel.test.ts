import { describe, expect, it } from "vitest";

import type { TaskFlowNode } from "../graph/TaskNode";
import { type PlacedErrors } from "./errors";
import { buildEdges, buildNodes } from "./flowModel";
import { type Task } from "./model";

const tasks: Task[] = [
  { name: "a", image: "busybox" },
  { name: "b", image: "busybox", dependencies: ["a"] },
];
const positions = { a: { x: 0, y: 0 }, b: { x: 0, y: 100 } };
const none: PlacedErrors = { byTask: new Map(), workflow: [] };

function measured(nodes: TaskFlowNode[]): TaskFlowNode[] {
  // What applyNodeChanges leaves after React Flow measured the nodes.
  return nodes.map((node) => ({ ...node, measured: { width: 180, height: 46 } }));
}

describe("nodes for the canvas", () => {
  it("reuses unchanged nodes and keeps the measured size of a changed one", () => {
    const first = measured(buildNodes(tasks, positions, none, new Set(), "TB", [])!);
    expect(buildNodes(tasks, positions, none, new Set(), "TB", first)).toBeNull();
    const selected = buildNodes(tasks, positions, none, new Set(["b"]), "TB", first)!;
    expect(selected[0]).toBe(first[0]);
    expect(selected[1]).not.toBe(first[1]);
    expect(selected[1].selected).toBe(true);
    expect(selected[1].measured).toEqual({ width: 180, height: 46 });
  });

  it("puts the first error and a count on the node", () => {
    const errors: PlacedErrors = {
      byTask: new Map([
        [
          "a",
          [
            { field: "image", message: "is required", path: "spec.tasks[0].image" },
            { field: "timeout", message: "bad", path: "spec.tasks[0].timeout" },
          ],
        ],
      ]),
      workflow: [],
    };
    const nodes = buildNodes(tasks, positions, errors, new Set(), "TB", [])!;
    expect(nodes[0].data.error).toBe("is required (+1 more)");
    expect(nodes[0].ariaLabel).toBe("Task a: is required (+1 more)");
    expect(nodes[1].data.error).toBeUndefined();
  });

  it("notices a removed task and a new order", () => {
    const first = buildNodes(tasks, positions, none, new Set(), "TB", [])!;
    expect(buildNodes([tasks[0]], positions, none, new Set(), "TB", first)).toHaveLength(1);
    expect(buildNodes([tasks[1], tasks[0]], positions, none, new Set(), "TB", first)!.map((n) => n.id)).toEqual([
      "b",
      "a",
    ]);
  });
});

describe("edges for the canvas", () => {
  it("reuses an edge object until its selection changes", () => {
    const doc = { spec: { tasks } };
    const first = buildEdges(doc, new Set(), new Map());
    expect(first.edges.map((edge) => edge.id)).toEqual(["a->b"]);
    const again = buildEdges(doc, new Set(), first.cache);
    expect(again.edges[0]).toBe(first.edges[0]);
    const picked = buildEdges(doc, new Set(["a->b"]), again.cache);
    expect(picked.edges[0]).not.toBe(first.edges[0]);
    expect(picked.edges[0].selected).toBe(true);
  });
});
