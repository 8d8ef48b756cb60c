import { describe, expect, it } from "vitest";

import { describeParseError, parseText, toText } from "./yamlText";

const doc = {
  apiVersion: "flowdeck.io/v1",
  kind: "Workflow",
  metadata: { name: "etl", labels: { team: "data" } },
  spec: {
    parameters: [{ name: "day", default: "2024-01-01" }],
    tasks: [
      { name: "extract", image: "busybox", command: ["sh", "-c", "echo a\necho b"], retry: { on: ["Failed"] } },
      { name: "load", image: "busybox", env: [{ name: "ON", value: "yes" }], dependencies: ["extract"] },
    ],
    ui: { positions: { extract: { x: 0, y: 0 }, load: { x: 0, y: 90 } } },
  },
};

describe("the text view", () => {
  it("round-trips a document through YAML unchanged", () => {
    const text = toText(doc, "yaml");
    expect(parseText(text, "yaml")).toEqual({ ok: true, doc });
    expect(text).toContain("extract: { x: 0, y: 0 }");
    expect(text).toContain("dependencies: [ extract ]");
  });

  it("round-trips through JSON", () => {
    expect(parseText(toText(doc, "json"), "json")).toEqual({ ok: true, doc });
  });

  it("reads YAML 1.2: yes and on stay strings, dates stay strings", () => {
    const result = parseText("a: yes\nb: on\nc: 2024-01-01\nd: 010\n", "yaml");
    expect(result).toEqual({ ok: true, doc: { a: "yes", b: "on", c: "2024-01-01", d: 10 } });
  });

  it("reports invalid YAML with its line", () => {
    const result = parseText("apiVersion: x\nmetadata:\n  name: [unclosed\nspec: {}\n", "yaml");
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.line).toBeGreaterThanOrEqual(3);
      expect(describeParseError(result)).toMatch(/^Line \d+, column \d+: /);
    }
  });

  it("refuses duplicate keys", () => {
    const result = parseText("a: 1\na: 2\n", "yaml");
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.line).toBe(2);
  });

  it("reports invalid JSON with its line", () => {
    const result = parseText('{\n  "a": 1,\n  "b": }\n', "json");
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.line).toBe(3);
  });

  it("refuses a document that is not a mapping", () => {
    expect(parseText("- a\n- b\n", "yaml").ok).toBe(false);
  });
});
