import { describe, expect, it } from "vitest";

import { emptyReason, fold, formatBytes, hasRunOutputs, hasTaskData, shortSha, showValue } from "./outputs";

/** `text` without the white space outside its strings. */
function squeeze(text: string): string {
  return text.replace(/("(?:[^"\\]|\\.)*")|\s+/g, (_, string: string | undefined) => string ?? "");
}

describe("showing a value", () => {
  it("keeps a short list on one line, as Python prints it", () => {
    expect(showValue("[10,20,30,40,50]")).toEqual({ text: "[10, 20, 30, 40, 50]", json: true });
    expect(showValue("[10, 20, 30, 40, 50]").text).toBe("[10, 20, 30, 40, 50]");
  });

  it("breaks what does not fit into indented lines", () => {
    const value = JSON.stringify({ rows: [{ id: 1, name: "ada" }, { id: 2, name: "grace" }], source: "s3://bucket/people.csv" });
    expect(showValue(value, 40).text).toBe(
      [
        "{",
        '  "rows": [',
        '    {"id": 1, "name": "ada"},',
        '    {"id": 2, "name": "grace"}',
        "  ],",
        '  "source": "s3://bucket/people.csv"',
        "}",
      ].join("\n"),
    );
  });

  it("never changes a number or a string, only white space", () => {
    const text = '{"big": 12345678901234567890, "float": 1.0, "exp": 1E+3, "text": "caf\\u00e9 \\"x\\"", "n": [-0.5e-7, true, null]}';
    const shown = showValue(text, 20);
    expect(shown.json).toBe(true);
    expect(shown.text).toContain("12345678901234567890");
    expect(shown.text).toContain("1.0");
    expect(shown.text).toContain('"caf\\u00e9 \\"x\\""');
    expect(squeeze(shown.text)).toBe(squeeze(text));
  });

  it("round-trips random JSON through white space only", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const make = (depth: number): unknown => {
      const pick = random();
      if (depth > 3 || pick < 0.35) return [1.5, -3, "a b", "x\n\"y\"", true, null, 0][Math.floor(random() * 7)];
      if (pick < 0.7) return Array.from({ length: Math.floor(random() * 5) }, () => make(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`k${i} ${depth}`, make(depth + 1)]));
    };
    for (let i = 0; i < 200; i++) {
      const text = JSON.stringify(make(0));
      const shown = showValue(text, 10 + (i % 50));
      expect(squeeze(shown.text)).toBe(squeeze(text));
      expect(JSON.parse(shown.text)).toEqual(JSON.parse(text));
    }
  });

  it("leaves anything that is not a JSON list or mapping as it is", () => {
    for (const text of ["4", '"quoted"', "hello world", "[1, 2", "{'a': 1}", "[1] [2]", "[01]", "", "NaN", "[1,]", "wrote people.csv\n"]) {
      expect(showValue(text)).toEqual({ text, json: false });
    }
  });
});

describe("folding long values", () => {
  it("shows short values whole", () => {
    expect(fold("a\nb", 3)).toEqual({ head: "a\nb", folded: false, lines: 2 });
    expect(fold("a\nb\n", 2)).toEqual({ head: "a\nb\n", folded: false, lines: 2 });
  });

  it("shows the first lines of a long value and counts them all", () => {
    const text = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join("\n");
    const folded = fold(text, 12);
    expect(folded.folded).toBe(true);
    expect(folded.lines).toBe(30);
    expect(folded.head.split("\n")).toHaveLength(12);
  });

  it("cuts one very long line too", () => {
    const folded = fold("x".repeat(5000), 12, 100);
    expect(folded).toEqual({ head: `${"x".repeat(100)}…`, folded: true, lines: 1 });
  });
});

describe("sizes, checksums and empty states", () => {
  it("writes sizes in binary units", () => {
    expect(formatBytes(1)).toBe("1 byte");
    expect(formatBytes(31)).toBe("31 bytes");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(200 * 1024 * 1024)).toBe("200 MiB");
    expect(formatBytes(5 * 1024 ** 3)).toBe("5.0 GiB");
  });

  it("shortens a sha256 to twelve digits", () => {
    const sha = "a".repeat(64);
    expect(shortSha(sha)).toBe(`${"a".repeat(12)}…`);
  });

  it("says why an attempt has no outputs", () => {
    expect(emptyReason("Succeeded")).toMatch(/declares none/);
    expect(emptyReason("Running")).toMatch(/when the attempt succeeds/);
    expect(emptyReason("Failed")).toMatch(/only when an attempt succeeds \(this one is Failed\)/);
  });

  it("knows when there is anything to show", () => {
    const none = { attempt: 1, status: "Succeeded", result: null, parameters: [], artifacts: [], inputs: [], input_artifacts: [] };
    expect(hasTaskData(none)).toBe(false);
    expect(hasTaskData({ ...none, result: "" })).toBe(true);
    expect(hasRunOutputs({})).toBe(false);
    expect(hasRunOutputs(undefined)).toBe(false);
    expect(hasRunOutputs({ parameters: {}, artifacts: {}, missing: { lines: "no value" } })).toBe(true);
  });
});
