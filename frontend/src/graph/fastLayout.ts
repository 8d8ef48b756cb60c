// A layered layout in linear time for big DAGs, where dagre's crossing
// minimisation takes seconds (7 s for 500 tasks on a slow machine): layers by
// longest path from the roots, a few barycentre sweeps to untangle each
// layer, every layer centred. Same output shape as layoutGraph.
import { type Direction, type LayoutInput, NODE_HEIGHT, NODE_WIDTH, type Point } from "./layout";

const NODE_SEP = 24;
const RANK_SEP = 48;
const SWEEPS = 4;

export function fastLayout(
  nodes: LayoutInput[],
  edges: { source: string; target: string }[],
  direction: Direction = "TB",
): Map<string, Point> {
  const ids = nodes.map((node) => node.id);
  const known = new Set(ids);
  const parents = new Map<string, string[]>(ids.map((id) => [id, []]));
  const children = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const { source, target } of edges) {
    if (!known.has(source) || !known.has(target) || source === target) continue;
    parents.get(target)!.push(source);
    children.get(source)!.push(target);
  }
  // Kahn's order; tasks on a cycle are placed after what precedes them.
  const layer = new Map<string, number>();
  const waiting = new Map(ids.map((id) => [id, parents.get(id)!.length]));
  const queue = ids.filter((id) => waiting.get(id) === 0);
  for (let head = 0; head < queue.length || layer.size < ids.length; head += 1) {
    if (head >= queue.length) {
      const stuck = ids.find((id) => !layer.has(id) && !queue.includes(id))!;
      queue.push(stuck);
    }
    const id = queue[head];
    let depth = 0;
    for (const parent of parents.get(id)!) {
      if (layer.has(parent)) depth = Math.max(depth, layer.get(parent)! + 1);
    }
    layer.set(id, depth);
    for (const child of children.get(id)!) {
      const left = waiting.get(child)! - 1;
      waiting.set(child, left);
      if (left === 0 && !layer.has(child)) queue.push(child);
    }
  }
  const layers: string[][] = [];
  for (const id of ids) (layers[layer.get(id)!] ??= []).push(id);
  const rows = layers.filter(Boolean);
  const index = new Map<string, number>();
  const number = () => rows.forEach((row) => row.forEach((id, i) => index.set(id, i)));
  number();
  const sortBy = (row: string[], neighbours: Map<string, string[]>) => {
    const score = new Map<string, number>();
    for (const id of row) {
      const list = neighbours.get(id)!;
      score.set(id, list.length ? list.reduce((sum, other) => sum + index.get(other)!, 0) / list.length : index.get(id)!);
    }
    row.sort((a, b) => score.get(a)! - score.get(b)!);
    row.forEach((id, i) => index.set(id, i));
  };
  for (let sweep = 0; sweep < SWEEPS; sweep += 1) {
    if (sweep % 2 === 0) for (let r = 1; r < rows.length; r += 1) sortBy(rows[r], parents);
    else for (let r = rows.length - 2; r >= 0; r -= 1) sortBy(rows[r], children);
  }
  const sizes = new Map(nodes.map((node) => [node.id, { w: node.width ?? NODE_WIDTH, h: node.height ?? NODE_HEIGHT }]));
  const positions = new Map<string, Point>();
  const across = direction === "TB" ? NODE_WIDTH + NODE_SEP : NODE_HEIGHT + NODE_SEP;
  const along = direction === "TB" ? NODE_HEIGHT + RANK_SEP : NODE_WIDTH + RANK_SEP * 2;
  rows.forEach((row, r) => {
    const start = (-(row.length - 1) * across) / 2;
    row.forEach((id, i) => {
      const size = sizes.get(id)!;
      const a = start + i * across;
      const b = r * along;
      positions.set(id, direction === "TB" ? { x: a - size.w / 2, y: b } : { x: b, y: a - size.h / 2 });
    });
  });
  return positions;
}

/** dagre for what it lays out quickly, the linear layout beyond. */
export const DAGRE_LIMIT = 150;
