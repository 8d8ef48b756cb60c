import { describe, expect, it } from "vitest";

import { describeTask, STATUS_COLOURS, STATUS_MEANINGS, statusLine, TASK_STATUSES } from "./status";

describe("statusLine", () => {
  it("adds the reason, unless it only repeats the state", () => {
    expect(statusLine("Skipped", "Condition")).toBe("Skipped: Condition");
    expect(statusLine("Expanded", "Expanded")).toBe("Expanded");
    expect(statusLine("Skipped", "Skipped")).toBe("Skipped");
    expect(statusLine("Running", "")).toBe("Running");
  });

  it("describes a skipped task with its evaluated condition", () => {
    expect(describeTask("tails", "Skipped", "Condition", "when '{{tasks.flip.outputs.result}} == tails' is false (heads == tails)")).toBe(
      "tails: Skipped: Condition — when '{{tasks.flip.outputs.result}} == tails' is false (heads == tails)",
    );
    expect(describeTask("a", undefined)).toBe("a");
  });
});

describe("the states", () => {
  it("give every state the server has a colour and a meaning, Skipped and Expanded included", () => {
    // flowcore/states.py's TaskStatus, in full.
    const server = ["Pending", "Queued", "Running", "Expanded", "Retrying", "Succeeded", "Failed", "Error", "UpstreamFailed", "Skipped", "Cancelling", "Cancelled"];
    expect([...TASK_STATUSES].sort()).toEqual([...server].sort());
    for (const status of server) {
      expect(STATUS_COLOURS[status]).toMatch(/^#[0-9a-f]{6}$/);
      expect(STATUS_MEANINGS[status as keyof typeof STATUS_MEANINGS]).toBeTruthy();
    }
    expect(STATUS_COLOURS.Skipped).not.toBe(STATUS_COLOURS.Pending);
  });
});
