import { describe, expect, it } from "vitest";

import { collapseFanOuts } from "./collapse";
import { run, task } from "./fixtures";
import { childRunsByTask, childrenStale, decorateNodes, splitExitHandlers } from "./subruns";

const page = (id: number) => `/runs/${id}/`;

function parent() {
  return run(
    [
      task("etl", [], { workflow: { name: "etl-values", version: null }, attempts_count: 2, status: "Running" }),
      task("announce", ["etl"]),
      task("report", [], { exit_handler: true }),
    ],
    {
      children: [
        { id: 12, task: "etl", status: "Failed" },
        { id: 15, task: "etl", status: "Running" },
      ],
    },
  );
}

describe("sub-workflow runs", () => {
  it("lists each task's child runs oldest first", () => {
    const byTask = childRunsByTask({ children: [{ id: 15, task: "etl", status: "Running" }, { id: 12, task: "etl", status: "Failed" }] });
    expect(byTask.get("etl")!.map((child) => child.id)).toEqual([12, 15]);
    expect(childRunsByTask({}).size).toBe(0);
  });

  it("asks for the children when a task started one the page does not know, or ended before its child did", () => {
    expect(childrenStale(parent())).toBe(false);
    const retried = parent();
    retried.tasks[0] = { ...retried.tasks[0], attempts_count: 3 };
    expect(childrenStale(retried)).toBe(true);
    // Ended, while its child still reads as running: read again.
    const ended = parent();
    ended.tasks[0] = { ...ended.tasks[0], status: "Succeeded" };
    expect(childrenStale(ended)).toBe(true);
    ended.children = [{ id: 12, task: "etl", status: "Failed" }, { id: 15, task: "etl", status: "Succeeded" }];
    expect(childrenStale(ended)).toBe(false);
    // A container task's attempts have no child run.
    expect(childrenStale(run([task("a", [], { attempts_count: 2 })]))).toBe(false);
  });

  it("links a sub-workflow task's node to its latest child run and names what it runs", () => {
    const nodes = collapseFanOuts(parent().tasks).tasks;
    const decorated = decorateNodes(nodes, parent(), page);
    expect(decorated[0]).toMatchObject({ id: "etl", calls: "etl-values", link: { href: "/runs/15/", label: "open run #15" } });
    expect(decorated[1]).toBe(nodes[1]);
    expect(decorated[2]).toMatchObject({ id: "report", exitHandler: true });
    expect(decorated[2].link).toBeUndefined();
  });

  it("leaves a run without sub-workflows or exit handlers as it was drawn", () => {
    const plain = run([task("a"), task("b", ["a"])]);
    const nodes = collapseFanOuts(plain.tasks).tasks;
    expect(decorateNodes(nodes, plain, page)).toBe(nodes);
  });
});

describe("exit handlers", () => {
  it("are a group of their own after the run's tasks", () => {
    const { main, exit } = splitExitHandlers(parent().tasks);
    expect(main.map((item) => item.name)).toEqual(["etl", "announce"]);
    expect(exit.map((item) => item.name)).toEqual(["report"]);
  });

  it("are never collapsed with the run's tasks of the same depth", () => {
    const roots = Array.from({ length: 60 }, (_, i) => task(`t${i}`));
    const graph = collapseFanOuts([...roots, task("notify", [], { exit_handler: true })]);
    expect(graph.groups.size).toBe(1);
    expect(graph.groupOf.has("notify")).toBe(false);
    expect(graph.tasks.find((node) => node.id === "notify")).toBeDefined();
  });
});
