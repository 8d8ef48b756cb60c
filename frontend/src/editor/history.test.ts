import { describe, expect, it } from "vitest";

import { canRedo, canUndo, record, redo, startHistory, undo } from "./history";

describe("undo and redo", () => {
  it("undoes and redoes edits in order", () => {
    let history = startHistory("a");
    history = record(history, "b");
    history = record(history, "c");
    history = undo(history);
    expect(history.present).toBe("b");
    history = undo(history);
    expect(history.present).toBe("a");
    expect(canUndo(history)).toBe(false);
    history = redo(history);
    expect(history.present).toBe("b");
    expect(canRedo(history)).toBe(true);
  });

  it("forgets the redo branch after a new edit", () => {
    let history = record(record(startHistory("a"), "b"), "c");
    history = record(undo(history), "d");
    expect(canRedo(history)).toBe(false);
    expect(undo(history).present).toBe("b");
  });

  it("coalesces quick edits of the same field into one step", () => {
    let history = startHistory("");
    history = record(history, "h", "name", 1000);
    history = record(history, "he", "name", 1200);
    history = record(history, "hey", "name", 1500);
    expect(undo(history).present).toBe("");
    history = record(history, "hey!", "name", 5000);
    expect(undo(history).present).toBe("hey");
  });

  it("ignores an edit that changes nothing", () => {
    const history = startHistory("a");
    expect(record(history, "a")).toBe(history);
  });
});
