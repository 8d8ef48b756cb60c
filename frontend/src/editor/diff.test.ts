import { describe, expect, it } from "vitest";

import { diffLines } from "./diff";

describe("side-by-side diff", () => {
  it("pairs a changed line and keeps the rest aligned", () => {
    const rows = diffLines("a\nb\nc\nd", "a\nB\nc\nd\ne");
    expect(rows.map((row) => row.kind)).toEqual(["same", "changed", "same", "same", "added"]);
    expect(rows[1].left!.text).toBe("b");
    expect(rows[1].right!.text).toBe("B");
    expect(rows[4].right!.number).toBe(5);
  });

  it("shows removed lines on the left only", () => {
    const rows = diffLines("x\ny\nz", "x\nz");
    expect(rows.map((row) => row.kind)).toEqual(["same", "removed", "same"]);
    expect(rows[1].right).toBeNull();
  });

  it("handles identical and completely different texts", () => {
    expect(diffLines("a\nb", "a\nb").every((row) => row.kind === "same")).toBe(true);
    const rows = diffLines("a\nb", "c\nd\ne");
    expect(rows.filter((row) => row.left).map((row) => row.left!.text)).toEqual(["a", "b"]);
    expect(rows.filter((row) => row.right).map((row) => row.right!.text)).toEqual(["c", "d", "e"]);
  });
});
