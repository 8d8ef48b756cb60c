import { describe, expect, it } from "vitest";

import { boundsOf, LANE_GAP, LANE_PADDING, LANE_TITLE, laneBox, offsetAfter, overlaps, placeLane } from "./lanes";

describe("a lane after the graph", () => {
  const graph = new Map([
    ["a", { x: 0, y: 0 }],
    ["b", { x: 200, y: 100 }],
  ]);
  const lane = new Map([
    ["report", { x: 0, y: 0 }],
    ["notify", { x: 0, y: 100 }],
  ]);

  it("bounds nodes of the default size, and none as null", () => {
    expect(boundsOf(graph)).toEqual({ x: 0, y: 0, width: 380, height: 144 });
    expect(boundsOf([])).toBeNull();
  });

  it("draws the lane's box around its nodes with room for its title", () => {
    expect(laneBox(lane)).toEqual({
      x: -LANE_PADDING,
      y: -LANE_PADDING - LANE_TITLE,
      width: 180 + 2 * LANE_PADDING,
      height: 144 + 2 * LANE_PADDING + LANE_TITLE,
    });
  });

  it("puts the lane below the graph top to bottom, centred, and to its right left to right", () => {
    const below = placeLane(graph, lane, "TB");
    const box = laneBox([...below].filter(([id]) => lane.has(id)))!;
    expect(box.y).toBe(144 + LANE_GAP);
    expect(box.x + box.width / 2).toBe(190);
    expect(below.get("a")).toEqual({ x: 0, y: 0 });
    const right = placeLane(graph, lane, "LR");
    const beside = laneBox([...right].filter(([id]) => lane.has(id)))!;
    expect(beside.x).toBe(380 + LANE_GAP);
    expect(overlaps(beside, boundsOf(graph)!)).toBe(false);
  });

  it("leaves a lane alone when there is no graph", () => {
    expect(offsetAfter(null, laneBox(lane)!, "TB")).toEqual({ x: 0, y: 0 });
  });
});
