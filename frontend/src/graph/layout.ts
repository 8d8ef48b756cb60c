// Auto-layout with dagre: the same layered layout graphviz draws on the server.
import dagre from "@dagrejs/dagre";

export type Direction = "TB" | "LR";

export interface LayoutInput {
  id: string;
  width?: number;
  height?: number;
}

export interface Point {
  x: number;
  y: number;
}

export const NODE_WIDTH = 180;
export const NODE_HEIGHT = 44;

/** Top-left positions for each node, laid out in layers along `direction`. */
export function layoutGraph(
  nodes: LayoutInput[],
  edges: { source: string; target: string }[],
  direction: Direction = "TB",
): Map<string, Point> {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: direction, nodesep: 24, ranksep: 48 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    graph.setNode(node.id, {
      width: node.width ?? NODE_WIDTH,
      height: node.height ?? NODE_HEIGHT,
    });
  }
  for (const edge of edges) {
    if (graph.hasNode(edge.source) && graph.hasNode(edge.target)) {
      graph.setEdge(edge.source, edge.target);
    }
  }
  dagre.layout(graph);
  const positions = new Map<string, Point>();
  for (const node of nodes) {
    const placed = graph.node(node.id);
    const width = node.width ?? NODE_WIDTH;
    const height = node.height ?? NODE_HEIGHT;
    positions.set(node.id, { x: placed.x - width / 2, y: placed.y - height / 2 });
  }
  return positions;
}
