import { describe, expect, it } from "vitest";

import { appendLines, emptyLog, hasTimestamps, splitText, splitTimestamp, visibleLines } from "./logs";

describe("log buffer", () => {
  it("numbers lines from the log's start even after dropping old ones", () => {
    let buffer = appendLines(emptyLog, ["a", "b", "c"], 4);
    buffer = appendLines(buffer, ["d", "e", "f"], 4);
    expect(buffer).toEqual({ first: 3, lines: ["c", "d", "e", "f"] });
    expect(visibleLines(buffer, "").map((line) => line.number)).toEqual([3, 4, 5, 6]);
  });

  it("finds lines in any case and keeps their numbers", () => {
    const buffer = appendLines(emptyLog, ["starting", "ERROR: disk full", "retrying", "error again"]);
    expect(visibleLines(buffer, "error").map((line) => [line.number, line.text])).toEqual([
      [2, "ERROR: disk full"],
      [4, "error again"],
    ]);
  });

  it("splits a fetched log into lines without an empty last one", () => {
    expect(splitText("one\ntwo\n")).toEqual(["one", "two"]);
    expect(splitText("")).toEqual([]);
  });

  it("recognises leading timestamps so they can be hidden", () => {
    expect(splitTimestamp("2026-11-29T10:00:00.123456789Z hello")).toEqual({
      time: "2026-11-29T10:00:00.123456789Z",
      text: "hello",
    });
    expect(splitTimestamp("hello 2026-11-29T10:00:00Z")).toEqual({ time: "", text: "hello 2026-11-29T10:00:00Z" });
    expect(hasTimestamps(["2026-11-29T10:00:00Z a", "2026-11-29T10:00:01Z b"])).toBe(true);
    expect(hasTimestamps(["plain"])).toBe(false);
  });
});
