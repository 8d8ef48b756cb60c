import { describe, expect, it } from "vitest";

import { canonical } from "./canonical";

describe("canonical key order", () => {
  it("orders a stored document as docs/spec.md does, free-form maps untouched", () => {
    const stored = {
      kind: "Workflow",
      spec: {
        ui: { positions: { b: { y: 1, x: 2 } } },
        tasks: [
          { args: ["x"], name: "a", retry: { on: ["Failed"], limit: 2 }, nodeSelector: { z: "1", a: "2" }, image: "i" },
        ],
      },
      metadata: { labels: { b: "1", a: "2" }, name: "w" },
      apiVersion: "flowdeck.io/v1",
      extra: 1,
    };
    const ordered = canonical(stored);
    expect(ordered).toEqual(stored);
    expect(JSON.stringify(ordered)).toBe(
      JSON.stringify({
        apiVersion: "flowdeck.io/v1",
        kind: "Workflow",
        metadata: { name: "w", labels: { b: "1", a: "2" } },
        spec: {
          tasks: [{ name: "a", image: "i", args: ["x"], nodeSelector: { z: "1", a: "2" }, retry: { limit: 2, on: ["Failed"] } }],
          ui: { positions: { b: { y: 1, x: 2 } } },
        },
        extra: 1,
      }),
    );
  });
});
