import { describe, expect, it } from "vitest";

import type { RunSummary } from "../run/types";
import { type Filters, formatElapsed, matches, place, waitingNote } from "./live";

const none: Filters = { project: "", workflow: "", status: "", who: "", since: "", until: "" };

function summary(extra: Partial<RunSummary> = {}): RunSummary {
  return {
    id: 10,
    project: { id: 1, name: "team" },
    workflow: { id: 3, name: "etl" },
    version: 1,
    status: "Running",
    parameters: {},
    trigger: "manual",
    triggered_by: "alice",
    resubmitted_from: null,
    message: "",
    created_at: "2026-11-29T10:00:00Z",
    started_at: "2026-11-29T10:00:00Z",
    finished_at: null,
    duration_seconds: 1,
    last_seq: 3,
    ...extra,
  };
}

describe("matches", () => {
  it("applies every filter the list applies", () => {
    expect(matches(summary(), none)).toBe(true);
    expect(matches(summary(), { ...none, workflow: "3", project: "1", who: "alice" })).toBe(true);
    expect(matches(summary(), { ...none, workflow: "4" })).toBe(false);
    expect(matches(summary(), { ...none, status: "Failed" })).toBe(false);
    expect(matches(summary(), { ...none, who: "bob" })).toBe(false);
    expect(matches(summary({ triggered_by: null }), { ...none, who: "bob" })).toBe(false);
    expect(matches(summary(), { ...none, since: "2026-11-29", until: "2026-11-29" })).toBe(true);
    expect(matches(summary(), { ...none, since: "2026-11-30" })).toBe(false);
    expect(matches(summary(), { ...none, until: "2026-11-28" })).toBe(false);
  });
});

describe("place", () => {
  const shown = new Set([8, 9]);
  it("updates a row it shows", () => {
    expect(place(summary({ id: 9 }), shown, none, 1)).toBe("update");
  });
  it("prepends a new run on the first page only", () => {
    expect(place(summary({ id: 10 }), shown, none, 1)).toBe("prepend");
    expect(place(summary({ id: 10 }), shown, none, 2)).toBe("ignore");
  });
  it("ignores an older run it does not show, and one the filters exclude", () => {
    expect(place(summary({ id: 5 }), shown, none, 1)).toBe("ignore");
    expect(place(summary({ id: 10, workflow: { id: 4, name: "x" } }), shown, { ...none, workflow: "3" }, 1)).toBe("ignore");
  });
  it("removes a row whose new status the filter excludes", () => {
    expect(place(summary({ id: 9, status: "Succeeded" }), shown, { ...none, status: "Running" }, 1)).toBe("remove");
  });
  it("prepends into an empty first page", () => {
    expect(place(summary({ id: 1 }), new Set(), none, 1)).toBe("prepend");
  });
});

describe("formatElapsed", () => {
  it("reads like the server's durations", () => {
    expect(formatElapsed(null)).toBe("");
    expect(formatElapsed(4.23)).toBe("4.2s");
    expect(formatElapsed(185)).toBe("3m 05s");
    expect(formatElapsed(3720)).toBe("1h 02m");
  });
});

describe("waitingNote", () => {
  it("says why a Pending run waits, and nothing once it runs", () => {
    const waiting = "waiting: 2 of 2 runs of etl are active (run 41, run 43)";
    expect(waitingNote(summary({ status: "Pending", message: waiting }))).toBe(waiting);
    expect(waitingNote(summary({ status: "Pending", message: "" }))).toBe("");
    expect(waitingNote(summary({ status: "Failed", message: "1 task(s) did not succeed" }))).toBe("");
  });
});
