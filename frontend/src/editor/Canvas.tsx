// The editable canvas: React Flow drawing the document's tasks and edges.
// Node objects are reused while their task is unchanged, so a drag or an edit
// of one task re-renders one node even with thousands on the canvas.
import {
  Background,
  type Connection,
  Controls,
  type Edge,
  type EdgeChange,
  MarkerType,
  MiniMap,
  type NodeChange,
  Panel,
  ReactFlow,
  applyNodeChanges,
  useReactFlow,
} from "@xyflow/react";
import { type DragEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";

import { NODE_HEIGHT, NODE_WIDTH } from "../graph/layout";
import { type TaskFlowNode, type TaskNodeData, nodeTypes } from "../graph/TaskNode";
import { type PlacedErrors } from "./errors";
import { type Direction, type Point, type Task, edgeId, edgesOf, tasksOf, type Doc } from "./model";
import { TEMPLATE_MIME } from "./templates";

export interface CanvasProps {
  doc: Doc;
  positions: Record<string, Point>;
  direction: Direction;
  errors: PlacedErrors;
  selected: Set<string>;
  selectedEdges: Set<string>;
  onSelect: (nodes: Set<string>, edges: Set<string>) => void;
  onMove: (moved: Record<string, Point>) => void;
  onConnect: (source: string, target: string) => void;
  onDropTemplate: (templateId: string, at: Point) => void;
  registerCentre: (centre: () => Point) => void;
}

/** Past this many tasks only what is in view is drawn. */
const MANY = 300;
const FIT_FIRST = 40;

const ARROW = { type: MarkerType.ArrowClosed, width: 16, height: 16 };

function subtitleOf(task: Task): string {
  return typeof task.image === "string" ? task.image : "";
}

export function Canvas(props: CanvasProps) {
  const { doc, positions, direction, errors, selected, selectedEdges, onSelect, onMove, onConnect, onDropTemplate } = props;
  const flow = useReactFlow();
  const [nodes, setNodes] = useState<TaskFlowNode[]>([]);
  // The nodes as React Flow last saw them, measured sizes included: a node
  // object rebuilt without its `measured` makes React Flow measure it again
  // (a forced layout per node: seconds for a big workflow).
  const current = useRef<TaskFlowNode[]>([]);
  current.current = nodes;
  const tasks = useMemo(() => tasksOf(doc), [doc]);

  // Rebuild the nodes from the document, reusing every unchanged one.
  useEffect(() => {
    const previous = new Map(current.current.map((node) => [node.id, node]));
    let changed = previous.size !== tasks.length;
    const next = tasks.map((task, index) => {
      const position = positions[task.name] ?? { x: 0, y: 0 };
      const taskErrors = errors.byTask.get(task.name);
      const error = taskErrors?.length
        ? taskErrors.length === 1
          ? taskErrors[0].message
          : `${taskErrors[0].message} (+${taskErrors.length - 1} more)`
        : undefined;
      const subtitle = subtitleOf(task);
      const isSelected = selected.has(task.name);
      const old = previous.get(task.name);
      if (
        old &&
        old.position.x === position.x &&
        old.position.y === position.y &&
        old.data.error === error &&
        old.data.subtitle === subtitle &&
        old.data.direction === direction &&
        Boolean(old.selected) === isSelected
      ) {
        if (current.current[index] !== old) changed = true;
        return old;
      }
      changed = true;
      const data: TaskNodeData = { label: task.name, subtitle, error, direction };
      return {
        ...old,
        id: task.name,
        type: "task" as const,
        position,
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
        selected: isSelected,
        ariaLabel: `Task ${task.name}${error ? `: ${error}` : ""}`,
        data,
      };
    });
    if (changed) setNodes(next);
  }, [tasks, positions, errors, selected, direction]);

  // Edge objects are reused too: React Flow re-renders an edge whose object
  // changed, and a big workflow has thousands.
  const previousEdges = useRef(new Map<string, Edge>());
  const edges: Edge[] = useMemo(() => {
    const cache = new Map<string, Edge>();
    const list = edgesOf(doc).map((edge) => {
      const id = edgeId(edge);
      const isSelected = selectedEdges.has(id);
      const old = previousEdges.current.get(id);
      const next =
        old && Boolean(old.selected) === isSelected
          ? old
          : {
              id,
              source: edge.source,
              target: edge.target,
              selected: isSelected,
              markerEnd: ARROW,
              ariaLabel: `${edge.source} to ${edge.target}`,
            };
      cache.set(id, next);
      return next;
    });
    previousEdges.current = cache;
    return list;
  }, [doc, selectedEdges]);

  const onNodesChange = useCallback(
    (changes: NodeChange<TaskFlowNode>[]) => {
      setNodes((current) => applyNodeChanges(changes, current));
      const moved: Record<string, Point> = {};
      let selection: Set<string> | null = null;
      for (const change of changes) {
        if (change.type === "position" && change.dragging === false && change.position) {
          moved[change.id] = change.position;
        } else if (change.type === "select") {
          selection ??= new Set(selected);
          if (change.selected) selection.add(change.id);
          else selection.delete(change.id);
        }
      }
      if (Object.keys(moved).length) onMove(moved);
      if (selection) onSelect(selection, selectedEdges);
    },
    [onMove, onSelect, selected, selectedEdges],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      let selection: Set<string> | null = null;
      for (const change of changes) {
        if (change.type === "select") {
          selection ??= new Set(selectedEdges);
          if (change.selected) selection.add(change.id);
          else selection.delete(change.id);
        }
      }
      if (selection) onSelect(selected, selection);
    },
    [onSelect, selected, selectedEdges],
  );

  const handleConnect = useCallback(
    (connection: Connection) => {
      if (connection.source && connection.target) onConnect(connection.source, connection.target);
    },
    [onConnect],
  );

  const onDragOver = useCallback((event: DragEvent) => {
    if (event.dataTransfer.types.includes(TEMPLATE_MIME)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  }, []);

  const onDrop = useCallback(
    (event: DragEvent) => {
      const id = event.dataTransfer.getData(TEMPLATE_MIME);
      if (!id) return;
      event.preventDefault();
      const point = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      onDropTemplate(id, { x: point.x - NODE_WIDTH / 2, y: point.y - NODE_HEIGHT / 2 });
    },
    [flow, onDropTemplate],
  );

  const wrapper = useRef<HTMLDivElement>(null);
  useEffect(() => {
    props.registerCentre(() => {
      const box = wrapper.current?.getBoundingClientRect();
      if (!box) return { x: 0, y: 0 };
      const point = flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 });
      return { x: point.x - NODE_WIDTH / 2, y: point.y - NODE_HEIGHT / 2 };
    });
  }, [flow, props]);

  const many = tasks.length > MANY;
  // Fit a loaded workflow into view once; an empty canvas keeps its zoom so
  // the first drop does not make the view jump. A big one opens on its first
  // tasks at a readable zoom: the whole of it at 5% is unreadable, and
  // drawing thousands of nodes at once is what makes a canvas slow; the
  // minimap shows the whole and only what is in view is drawn.
  const [fitOnLoad] = useState(() => tasks.length > 0);
  const [fitOptions] = useState(() =>
    many ? { nodes: tasks.slice(0, FIT_FIRST).map((task) => ({ id: task.name })), maxZoom: 1 } : { maxZoom: 1.2 },
  );
  return (
    <div className="fd-canvas" ref={wrapper} onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={handleConnect}
        deleteKeyCode={null}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={["Meta", "Control", "Shift"]}
        fitView={fitOnLoad}
        fitViewOptions={fitOptions}
        minZoom={0.02}
        maxZoom={2}
        onlyRenderVisibleElements={many}
        proOptions={{ hideAttribution: true }}
        ariaLabelConfig={{ "node.a11yDescription.default": "Press Enter or Space to select a task; arrow keys move it." }}
      >
        <Background gap={24} />
        <Controls aria-label="Zoom and fit" />
        <MiniMap pannable zoomable ariaLabel="Overview of the workflow" nodeStrokeWidth={3} />
        {tasks.length === 0 ? (
          <Panel position="top-center" className="fd-empty" data-testid="empty-hint">
            <h2>Start your workflow</h2>
            <p>
              Drag a <strong>task template</strong> from the palette onto the canvas, or focus one and press
              Enter.
            </p>
            <p>Connect two tasks by dragging from the dot at the bottom of one to the top of another: the second runs after the first.</p>
            <p>Prefer text? Type or paste YAML in the text view on the right, or import a file.</p>
          </Panel>
        ) : null}
      </ReactFlow>
    </div>
  );
}
