// A lane: a group of nodes drawn after the rest of the graph, in a box with a
// title (the exit handlers, "On exit", which run after every other task).
// Geometry only, shared by the editor and the run page. Pure: tested in
// lanes.test.ts.
import { type Direction, NODE_HEIGHT, NODE_WIDTH, type Point } from "./layout";

/** Room between the graph and the lane, and inside the lane around its nodes. */
export const LANE_GAP = 56;
export const LANE_PADDING = 16;
/** The lane's title sits above its nodes, inside the box. */
export const LANE_TITLE = 22;

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type SizeOf = (id: string) => { width: number; height: number };

const defaultSize: SizeOf = () => ({ width: NODE_WIDTH, height: NODE_HEIGHT });

/** The smallest box around the nodes at `points`; null for none. */
export function boundsOf(points: Iterable<[string, Point]>, sizeOf: SizeOf = defaultSize): Box | null {
  let left = Infinity;
  let top = Infinity;
  let right = -Infinity;
  let bottom = -Infinity;
  for (const [id, point] of points) {
    const size = sizeOf(id);
    left = Math.min(left, point.x);
    top = Math.min(top, point.y);
    right = Math.max(right, point.x + size.width);
    bottom = Math.max(bottom, point.y + size.height);
  }
  if (left === Infinity) return null;
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/** The lane's box around its nodes: padding all round, room for the title on top. */
export function laneBox(points: Iterable<[string, Point]>, sizeOf: SizeOf = defaultSize): Box | null {
  const inner = boundsOf(points, sizeOf);
  if (!inner) return null;
  return {
    x: inner.x - LANE_PADDING,
    y: inner.y - LANE_PADDING - LANE_TITLE,
    width: inner.width + 2 * LANE_PADDING,
    height: inner.height + 2 * LANE_PADDING + LANE_TITLE,
  };
}

export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** How far to move a lane laid out on its own so that it follows the graph
 * along `direction` (below it top to bottom, to its right left to right),
 * centred across; (0, 0) when there is no graph. */
export function offsetAfter(graph: Box | null, lane: Box, direction: Direction): Point {
  if (!graph) return { x: 0, y: 0 };
  if (direction === "TB") {
    return {
      x: Math.round(graph.x + graph.width / 2 - (lane.x + lane.width / 2)),
      y: Math.round(graph.y + graph.height + LANE_GAP - lane.y),
    };
  }
  return {
    x: Math.round(graph.x + graph.width + LANE_GAP - lane.x),
    y: Math.round(graph.y + graph.height / 2 - (lane.y + lane.height / 2)),
  };
}

/** The positions of the graph and of the lane (each laid out on its own),
 * the lane's moved to follow the graph. */
export function placeLane(
  graph: Map<string, Point>,
  lane: Map<string, Point>,
  direction: Direction,
  sizeOf: SizeOf = defaultSize,
): Map<string, Point> {
  const placed = new Map(graph);
  const box = laneBox(lane, sizeOf);
  if (!box) return placed;
  const offset = offsetAfter(boundsOf(graph, sizeOf), box, direction);
  for (const [id, point] of lane) placed.set(id, { x: point.x + offset.x, y: point.y + offset.y });
  return placed;
}
