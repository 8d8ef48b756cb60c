// A read-only DAG: laid out by dagre, zoom/pan/fit, minimap. The run monitor
// draws runs with it; the editor builds its editable canvas from the same parts.
import "@xyflow/react/dist/style.css";
import "./graph.css";

import {
  Background,
  Controls,
  type Edge,
  MiniMap,
  type NodeChange,
  ReactFlow,
  ReactFlowProvider,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";

import type { FanCounts } from "./fanCounts";
import { fastLayout } from "./fastLayout";
import { Lane } from "./Lane";
import { laneBox, placeLane } from "./lanes";
import { type Direction, layoutGraph, NODE_HEIGHT, NODE_WIDTH } from "./layout";
import { describeTask, statusColour } from "./status";
import { nodeTypes, type TaskFlowNode, type TaskNodeData } from "./TaskNode";

/** From this many nodes on, the linear-time layout instead of dagre's. */
export const FAST_LAYOUT_FROM = 300;
/** A fan-out's node is taller: its counts' bar and two lines of words. */
export const FAN_NODE_HEIGHT = 84;

export interface DagTask {
  id: string;
  dependencies: string[];
  label: string;
  status?: string;
  reason?: string;
  message?: string;
  subtitle?: string;
  attempts?: number;
  error?: string;
  collapsed?: number;
  /** A fan-out's instances counted by state: drawn as a stack. */
  fan?: FanCounts;
  /** An exit handler: laid out after the other tasks, in the "On exit" lane. */
  exitHandler?: boolean;
  /** A sub-workflow task: the workflow it runs, and its child run. */
  calls?: string;
  link?: { href: string; label: string };
}

export interface DagViewProps {
  tasks: DagTask[];
  direction?: Direction;
  selected?: string | null;
  onSelect?: (id: string) => void;
  /** Edges out of an active task are animated. */
  animateActive?: boolean;
  /** The most fitting the view may zoom in (a small DAG otherwise fills the canvas at 2×). */
  fitMaxZoom?: number;
  /** Told the laid-out graph's size (flow units), so a page can size its canvas to it. */
  onExtent?: (extent: { width: number; height: number }) => void;
  /** Draw the minimap (an overview helps a graph that does not fit; over a small one it only hides nodes). */
  minimap?: boolean;
}

export function DagView(props: DagViewProps) {
  return (
    <ReactFlowProvider>
      <DagCanvas {...props} />
    </ReactFlowProvider>
  );
}

function DagCanvas({ tasks, direction = "TB", selected, onSelect, animateActive, fitMaxZoom, onExtent, minimap = true }: DagViewProps) {
  const edgesIn = useMemo(
    () => tasks.flatMap((task) => task.dependencies.map((dep) => ({ source: dep, target: task.id }))),
    // Layout depends on the shape only, not on states: recompute when the ids change.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [shapeKey(tasks)],
  );
  const positions = useMemo(
    () => {
      // dagre takes seconds past a few hundred nodes (an expanded fan-out).
      const layout = tasks.length > FAST_LAYOUT_FROM ? fastLayout : layoutGraph;
      const input = (list: DagTask[]) => list.map((task) => ({ id: task.id, height: task.fan ? FAN_NODE_HEIGHT : undefined }));
      const exits = tasks.filter((task) => task.exitHandler);
      if (exits.length === 0) return layout(input(tasks), edgesIn, direction);
      // Exit handlers run after everything else: their own layout, after the graph.
      const main = layout(input(tasks.filter((task) => !task.exitHandler)), edgesIn, direction);
      return placeLane(main, layout(input(exits), edgesIn, direction), direction, layoutSizes(tasks));
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [edgesIn, direction],
  );
  const lane = useMemo(() => {
    const exits = tasks.filter((task) => task.exitHandler);
    return exits.length ? laneBox(exits.map((task) => [task.id, positions.get(task.id) ?? { x: 0, y: 0 }]), layoutSizes(exits)) : null;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [positions]);
  useEffect(() => {
    if (!onExtent) return;
    const sizeOf = layoutSizes(tasks);
    let [left, top, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [id, point] of positions) {
      const size = sizeOf(id);
      left = Math.min(left, point.x);
      top = Math.min(top, point.y);
      right = Math.max(right, point.x + size.width);
      bottom = Math.max(bottom, point.y + size.height);
    }
    if (lane) {
      right = Math.max(right, lane.x + lane.width);
      bottom = Math.max(bottom, lane.y + lane.height);
    }
    if (left !== Infinity) onExtent({ width: right - left, height: bottom - top });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [positions, lane, onExtent]);
  const statusById = useMemo(() => new Map(tasks.map((task) => [task.id, task.status])), [tasks]);
  // The sizes React Flow measured, handed back with every node it is given:
  // a node object without `measured` is hidden until measured again, and a
  // live run rebuilds its nodes on every batch of events (a busy fan-out's
  // node stayed hidden, and the minimap empty).
  const sizes = useRef(new Map<string, { width: number; height: number }>());
  // Measuring a node that is not drawn again soon (a finished run) draws the
  // nodes once more with their sizes, or the minimap stays empty.
  const [measuredAt, setMeasuredAt] = useState(0);
  const onNodesChange = useCallback((changes: NodeChange<TaskFlowNode>[]) => {
    let grown = false;
    for (const change of changes) {
      if (change.type !== "dimensions" || !change.dimensions) continue;
      const old = sizes.current.get(change.id);
      if (old?.width === change.dimensions.width && old.height === change.dimensions.height) continue;
      sizes.current.set(change.id, change.dimensions);
      grown = true;
    }
    if (grown) setMeasuredAt((count) => count + 1);
  }, []);
  const nodes: TaskFlowNode[] = useMemo(
    () =>
      tasks.map((task) => {
        const { id, dependencies: _deps, ...rest } = task;
        const data: TaskNodeData = { ...rest, direction };
        return {
          id,
          type: "task" as const,
          position: positions.get(id) ?? { x: 0, y: 0 },
          measured: sizes.current.get(id),
          data,
          selected: id === selected,
          ariaLabel: `${task.exitHandler ? "Exit handler " : ""}${
            task.fan ? `Fan-out ${describeTask(task.label, task.status)}: open its instances` : describeTask(task.label, task.status, task.reason, task.message)
          }${task.calls ? ` (runs ${task.calls})` : ""}`,
          draggable: false,
          connectable: false,
        };
      }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [tasks, positions, direction, selected, measuredAt],
  );
  const edges: Edge[] = useMemo(
    () =>
      edgesIn.map(({ source, target }) => ({
        id: `${source}->${target}`,
        source,
        target,
        animated: Boolean(animateActive) && statusById.get(source) === "Succeeded" &&
          ["Running", "Queued"].includes(statusById.get(target) ?? ""),
      })),
    [edgesIn, statusById, animateActive],
  );
  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      onNodesChange={onNodesChange}
      onNodeClick={(_event, node) => onSelect?.(node.id)}
      nodesDraggable={false}
      nodesConnectable={false}
      fitView
      fitViewOptions={fitMaxZoom ? { maxZoom: fitMaxZoom } : undefined}
      minZoom={0.05}
      proOptions={{ hideAttribution: true }}
    >
      <Background />
      {lane ? <Lane box={lane} title="On exit" hint="Exit handlers: they ran once every other task had ended, whatever the outcome." /> : null}
      <Controls showInteractive={false} />
      {minimap ? (
        <MiniMap pannable zoomable nodeColor={(node) => statusColour((node.data as TaskNodeData).status as string | undefined)} />
      ) : null}
    </ReactFlow>
  );
}

function shapeKey(tasks: DagTask[]): string {
  return tasks.map((task) => `${task.id}${task.fan ? "*" : ""}${task.exitHandler ? "!" : ""}<${task.dependencies.join(",")}`).join(";");
}

/** The size each node is laid out at: a fan-out's is taller. */
function layoutSizes(tasks: DagTask[]): (id: string) => { width: number; height: number } {
  const fans = new Set(tasks.filter((task) => task.fan).map((task) => task.id));
  return (id) => ({ width: NODE_WIDTH, height: fans.has(id) ? FAN_NODE_HEIGHT : NODE_HEIGHT });
}
