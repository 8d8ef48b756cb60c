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

function subtitleOf(task: Task): string {
  return typeof task.image === "string" ? task.image : "";
}

export function Canvas(props: CanvasProps) {
  const { doc, positions, direction, errors, selected, selectedEdges, onSelect, onMove, onConnect, onDropTemplate } = props;
  const flow = useReactFlow();
  const [nodes, setNodes] = useState<TaskFlowNode[]>([]);
  const previous = useRef(new Map<string, TaskFlowNode>());
  const tasks = useMemo(() => tasksOf(doc), [doc]);

  // Rebuild the nodes from the document, reusing every unchanged one.
  useEffect(() => {
    const next: TaskFlowNode[] = [];
    const cache = new Map<string, TaskFlowNode>();
    for (const task of tasks) {
      const position = positions[task.name] ?? { x: 0, y: 0 };
      const taskErrors = errors.byTask.get(task.name);
      const error = taskErrors?.length
        ? taskErrors.length === 1
          ? taskErrors[0].message
          : `${taskErrors[0].message} (+${taskErrors.length - 1} more)`
        : undefined;
      const subtitle = subtitleOf(task);
      const isSelected = selected.has(task.name);
      const old = previous.current.get(task.name);
      const node: TaskFlowNode =
        old &&
        old.position.x === position.x &&
        old.position.y === position.y &&
        old.data.error === error &&
        old.data.subtitle === subtitle &&
        old.data.direction === direction &&
        Boolean(old.selected) === isSelected
          ? old
          : {
              id: task.name,
              type: "task",
              position,
              width: NODE_WIDTH,
              height: NODE_HEIGHT,
              selected: isSelected,
              ariaLabel: `Task ${task.name}${error ? `: ${error}` : ""}`,
              data: { label: task.name, subtitle, error, direction } satisfies TaskNodeData,
            };
      cache.set(task.name, node);
      next.push(node);
    }
    previous.current = cache;
    setNodes(next);
  }, [tasks, positions, errors, selected, direction]);

  const edges: Edge[] = useMemo(
    () =>
      edgesOf(doc).map((edge) => {
        const id = edgeId(edge);
        return {
          id,
          source: edge.source,
          target: edge.target,
          selected: selectedEdges.has(id),
          markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
          ariaLabel: `${edge.source} to ${edge.target}`,
        };
      }),
    [doc, selectedEdges],
  );

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

  const many = tasks.length > 300;
  // Fit a loaded workflow into view once; an empty canvas keeps its zoom so
  // the first drop does not make the view jump.
  const [fitOnLoad] = useState(() => tasks.length > 0);
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
        fitViewOptions={{ maxZoom: 1.2 }}
        minZoom={0.02}
        maxZoom={2}
        onlyRenderVisibleElements={many}
        elevateEdgesOnSelect
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
