import { describe, expect, it } from "vitest";

import { layoutGraph } from "./layout";

describe("layoutGraph", () => {
  it("puts a task below the task it depends on when laid out top-down", () => {
    const positions = layoutGraph([{ id: "a" }, { id: "b" }], [{ source: "a", target: "b" }], "TB");
    expect(positions.get("b")!.y).toBeGreaterThan(positions.get("a")!.y);
  });

  it("puts a task right of the task it depends on when laid out left-right", () => {
    const positions = layoutGraph([{ id: "a" }, { id: "b" }], [{ source: "a", target: "b" }], "LR");
    expect(positions.get("b")!.x).toBeGreaterThan(positions.get("a")!.x);
  });

  it("ignores an edge to a task that does not exist", () => {
    const positions = layoutGraph([{ id: "a" }], [{ source: "a", target: "ghost" }], "TB");
    expect([...positions.keys()]).toEqual(["a"]);
  });
});
