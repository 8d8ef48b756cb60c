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

  it("puts the concurrency fields where the server's dump does", () => {
    const stored = {
      spec: {
        tasks: [{ synchronization: { semaphore: "warehouse" }, dependencies: ["x"], name: "load" }],
        synchronization: { mutex: "nightly" },
        timeout: "1h",
        maxActiveRuns: 2,
        failFast: true,
      },
    };
    expect(JSON.stringify(canonical(stored))).toBe(
      JSON.stringify({
        spec: {
          failFast: true,
          maxActiveRuns: 2,
          synchronization: { mutex: "nightly" },
          timeout: "1h",
          tasks: [{ name: "load", dependencies: ["x"], synchronization: { semaphore: "warehouse" } }],
        },
      }),
    );
  });

  it("orders outputs, inputs and the workflow's outputs as docs/spec.md does", () => {
    const stored = {
      spec: {
        outputs: { artifacts: [{ from: "{{tasks.a.outputs.artifacts.d}}", name: "d" }], parameters: [{ value: "v", name: "p" }] },
        tasks: [
          {
            inputs: { artifacts: [{ path: "/in", from: "f", name: "i" }] },
            outputs: { artifacts: [{ path: "/flowdeck/outputs/d", name: "d" }], parameters: [{ secret: true, valueFrom: { default: "0", path: "/p" }, name: "p" }] },
            dependencies: ["z"],
            name: "a",
          },
        ],
        ui: {},
      },
    };
    expect(JSON.stringify(canonical(stored))).toBe(
      JSON.stringify({
        spec: {
          tasks: [
            {
              name: "a",
              dependencies: ["z"],
              outputs: { parameters: [{ name: "p", valueFrom: { path: "/p", default: "0" }, secret: true }], artifacts: [{ name: "d", path: "/flowdeck/outputs/d" }] },
              inputs: { artifacts: [{ name: "i", from: "f", path: "/in" }] },
            },
          ],
          outputs: { parameters: [{ name: "p", value: "v" }], artifacts: [{ name: "d", from: "{{tasks.a.outputs.artifacts.d}}" }] },
          ui: {},
        },
      }),
    );
  });
});
