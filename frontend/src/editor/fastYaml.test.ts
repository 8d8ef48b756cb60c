import { describe, expect, it } from "vitest";
import { parse } from "yaml";

import { emitYaml, scalar } from "./fastYaml";

const read = (text: string) => parse(text, { version: "1.2", uniqueKeys: true });

const TRICKY = [
  "", " ", "yes", "no", "on", "true", "True", "FALSE", "null", "~", "1", "-1", "1.5", "1e3", ".5", "010",
  "0o17", "0x1F", ".inf", "-.Inf", ".nan", "2024-01-01", "1:30", "-", "-c", "--day", "- a", "a: b", "a:", "a:b",
  "#c", "a #b", "a#b", " lead", "trail ", "two  spaces", "@x", "`x", "'q'", '"dq"', "{x}", "[x]", "*a", "&a",
  "!t", "%x", "?x", "|x", ">x", "tab\there", "busybox:1.36", "{{params.day}}", "{{ params.day }}",
  "nvidia.com/gpu", "kubernetes.io/arch", "héllo", "emoji 🎉", "back\\slash", "line\nbreak", "ends\n",
  "two\n\n", "\nleading", "a\n b", "a \nb", "x\r\ny", "\u2028", "echo a\necho b\n", "-:x", "=", "a=b",
];

function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

describe("the fast YAML emitter", () => {
  it("writes every tricky string so YAML 1.2 reads it back unchanged", () => {
    for (const text of TRICKY) {
      const doc = { key: text, list: [text, { [text || "k"]: text }], nested: { deep: [text] } };
      expect(read(emitYaml(doc)), JSON.stringify(text)).toEqual(doc);
    }
  });

  it("keeps numbers, booleans, nulls and empty collections", () => {
    const doc = { a: 1, b: -2.5, c: true, d: false, e: null, f: [], g: {}, h: [[], [1, [2]], {}], i: 0 };
    expect(read(emitYaml(doc))).toEqual(doc);
  });

  it("round-trips random documents", () => {
    const next = random(7);
    const pick = <T,>(items: T[]) => items[Math.floor(next() * items.length)];
    const make = (depth: number): unknown => {
      const kind = depth > 3 ? pick(["s", "n", "b"]) : pick(["s", "n", "b", "l", "m", "m"]);
      if (kind === "s") return pick(TRICKY) + (next() < 0.3 ? pick(TRICKY) : "");
      if (kind === "n") return Math.round(next() * 1000) / (next() < 0.5 ? 1 : 8);
      if (kind === "b") return next() < 0.5;
      if (kind === "l") return Array.from({ length: Math.floor(next() * 4) }, () => make(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, () => [pick(TRICKY) || "k", make(depth + 1)]));
    };
    for (let i = 0; i < 300; i += 1) {
      const doc = { root: make(0), other: make(1) };
      expect(read(emitYaml(doc))).toEqual(doc);
    }
  });

  it("writes plain words plainly, scripts as blocks and chosen parts inline", () => {
    const text = emitYaml(
      {
        spec: {
          tasks: [{ name: "a", command: ["sh", "-c", "echo a\necho b"], dependencies: ["x", "y"] }],
          ui: { positions: { a: { x: 0, y: 10 } } },
        },
      },
      { flowMaps: [["spec", "ui", "positions", "*"]], flowLists: [["spec", "tasks", "*", "dependencies"]] },
    );
    expect(text).toBe(
      [
        "spec:",
        "  tasks:",
        "    - name: a",
        "      command:",
        "        - sh",
        "        - -c",
        "        - |-",
        "          echo a",
        "          echo b",
        "      dependencies: [ x, y ]",
        "  ui:",
        "    positions:",
        "      a: { x: 0, y: 10 }",
        "",
      ].join("\n"),
    );
  });

  it("quotes what would read as another type", () => {
    expect(scalar("true")).toBe('"true"');
    expect(scalar("8080")).toBe('"8080"');
    expect(scalar("busybox:1.36")).toBe("busybox:1.36");
  });

  it("writes 2,000 tasks in a blink", () => {
    const tasks = Array.from({ length: 2000 }, (_, i) => ({ name: `t${i}`, command: ["true"], dependencies: [`t${i - 1}`] }));
    const started = performance.now();
    emitYaml({ spec: { tasks } });
    expect(performance.now() - started).toBeLessThan(500);
  });
});
