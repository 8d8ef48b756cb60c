import { describe, expect, it } from "vitest";

import { fastLayout } from "./fastLayout";

describe("fastLayout", () => {
  it("puts every task below all of its dependencies", () => {
    const edges = [
      { source: "a", target: "b" },
      { source: "a", target: "c" },
      { source: "b", target: "d" },
      { source: "c", target: "d" },
      { source: "a", target: "d" },
    ];
    const at = fastLayout(["a", "b", "c", "d"].map((id) => ({ id })), edges, "TB");
    for (const { source, target } of edges) expect(at.get(target)!.y).toBeGreaterThan(at.get(source)!.y);
    expect(at.get("b")!.y).toBe(at.get("c")!.y);
    expect(at.get("b")!.x).not.toBe(at.get("c")!.x);
  });

  it("lays out left to right", () => {
    const at = fastLayout([{ id: "a" }, { id: "b" }], [{ source: "a", target: "b" }], "LR");
    expect(at.get("b")!.x).toBeGreaterThan(at.get("a")!.x);
  });

  it("places tasks on a cycle and ignores unknown ends", () => {
    const at = fastLayout(
      [{ id: "a" }, { id: "b" }, { id: "c" }],
      [
        { source: "a", target: "b" },
        { source: "b", target: "a" },
        { source: "ghost", target: "c" },
      ],
    );
    expect([...at.keys()].sort()).toEqual(["a", "b", "c"]);
  });

  it("lays out 2,000 tasks in well under a second", () => {
    const nodes = Array.from({ length: 2000 }, (_, i) => ({ id: `t${i}` }));
    const edges = nodes.flatMap((_, i) =>
      i >= 20 ? [{ source: `t${i - 20}`, target: `t${i}` }, { source: `t${i - 20 + ((i + 7) % 20) - (i % 20)}`, target: `t${i}` }] : [],
    );
    const started = performance.now();
    const at = fastLayout(nodes, edges);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(at.size).toBe(2000);
  });
});
