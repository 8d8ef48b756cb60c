import { describe, expect, it } from "vitest";

import { insertCompletion, matchCompletions, openReference } from "./completion";
import type { Completion } from "./dataflow";

const item = (label: string): Completion => ({ text: `{{${label}}}`, label, detail: "" });
const LIST = [item("params.day"), item("tasks.extract.outputs.result"), item("tasks.extract.outputs.parameters.rows"), item("tasks.transform.outputs.result")];

describe("an open reference", () => {
  it("is a {{ before the caret with a reference's characters after it", () => {
    expect(openReference("echo {{", 7)).toEqual({ start: 5, query: "" });
    expect(openReference("echo {{ tasks.ex", 16)).toEqual({ start: 5, query: "tasks.ex" });
    expect(openReference("{{a}} {{b", 9)).toEqual({ start: 6, query: "b" });
  });

  it("is not there once closed, away from braces or across other text", () => {
    expect(openReference("echo {{params.day}}", 19)).toBeNull();
    expect(openReference("echo {{params.day}} x", 21)).toBeNull();
    expect(openReference("echo {{ a b", 11)).toBeNull();
    expect(openReference("echo {", 6)).toBeNull();
    expect(openReference("plain", 5)).toBeNull();
  });
});

describe("matching", () => {
  it("puts what starts with the query first, then what contains it, in any case", () => {
    expect(matchCompletions(LIST, "").map((c) => c.label)).toEqual(LIST.map((c) => c.label));
    expect(matchCompletions(LIST, "RESULT").map((c) => c.label)).toEqual([
      "tasks.extract.outputs.result",
      "tasks.transform.outputs.result",
    ]);
    expect(matchCompletions(LIST, "tasks.t").map((c) => c.label)).toEqual(["tasks.transform.outputs.result"]);
    expect(matchCompletions(LIST, "rows", 1)).toHaveLength(1);
    expect(matchCompletions(LIST, "nothing")).toEqual([]);
  });
});

describe("inserting", () => {
  it("replaces what was typed with the whole reference and puts the caret after it", () => {
    const text = "echo {{tas and more";
    const open = openReference(text, 10)!;
    expect(insertCompletion(text, 10, open, LIST[1])).toEqual({
      text: "echo {{tasks.extract.outputs.result}} and more",
      caret: 37,
    });
  });

  it("never doubles the closing braces of a reference being edited", () => {
    const text = "{{tasks.ex}} rest";
    const open = openReference(text, 10)!;
    expect(insertCompletion(text, 10, open, LIST[1]).text).toBe("{{tasks.extract.outputs.result}} rest");
    const middle = "{{tasks.extract.out}}";
    expect(insertCompletion(middle, 12, openReference(middle, 12)!, LIST[2]).text).toBe(
      "{{tasks.extract.outputs.parameters.rows}}",
    );
  });
});
