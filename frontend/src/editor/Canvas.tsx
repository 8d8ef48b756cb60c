// The editable canvas: React Flow drawing the document's tasks and edges.
// Node objects are reused while their task is unchanged, so a drag or an edit
// of one task re-renders one node even with thousands on the canvas.
import {
  Background,
  type Connection,
  Controls,
  type Edge,
  type EdgeChange,
  MiniMap,
  type NodeChange,
  Panel,
  ReactFlow,
  applyNodeChanges,
  useReactFlow,
} from "@xyflow/react";
import { type DragEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";

import { Lane } from "../graph/Lane";
import { laneBox } from "../graph/lanes";
import { NODE_HEIGHT, NODE_WIDTH } from "../graph/layout";
import { type TaskFlowNode, nodeTypes } from "../graph/TaskNode";
import { type PlacedErrors } from "./errors";
import { buildEdges, buildNodes } from "./flowModel";
import { type Direction, type Doc, type Point, exitNames, tasksOf } from "./model";
import { TEMPLATE_MIME } from "./templates";

export interface CanvasProps {
  doc: Doc;
  positions: Record<string, Point>;
  direction: Direction;
  errors: PlacedErrors;
  selected: Set<string>;
  selectedEdges: Set<string>;
  /** The canvas's selection changed: nodes, edges or both (null: unchanged).
   * React Flow reports a click on an edge as two changes (the tasks
   * unselected, the edge selected), each of which must keep the other's. */
  onSelect: (nodes: Set<string> | null, edges: Set<string> | null) => void;
  onMove: (moved: Record<string, Point>) => void;
  onConnect: (source: string, target: string) => void;
  onDropTemplate: (templateId: string, at: Point) => void;
  registerCentre: (centre: () => Point) => void;
  /** Changed: fit the workflow into view again (it was replaced whole). */
  fitRequest?: number;
  /** Changed: tasks just added away from the canvas (the text view); brought
   * into view, at no more than the current zoom, when they are outside it. */
  reveal?: { names: string[]; seq: number };
  /** A viewer's editor: tasks can be selected (to read their form), not moved, connected or dropped. */
  readOnly?: boolean;
}

/** Past this many tasks only what is in view is drawn. */
const MANY = 300;
const FIT_FIRST = 40;

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
  const exits = useMemo(() => exitNames(doc), [doc]);

  // Rebuild the nodes from the document, reusing every unchanged one.
  useEffect(() => {
    const next = buildNodes(tasks, positions, errors, selected, direction, current.current, exits);
    if (next) setNodes(next);
  }, [tasks, positions, errors, selected, direction, exits]);

  // The exit handlers' lane, around them wherever they are (following a drag).
  const lane = useMemo(() => {
    if (!exits.size) return null;
    const inLane = nodes.filter((node) => exits.has(node.id));
    const sizes = new Map(inLane.map((node) => [node.id, { width: node.measured?.width ?? NODE_WIDTH, height: node.measured?.height ?? NODE_HEIGHT }]));
    return laneBox(
      inLane.map((node) => [node.id, node.position]),
      (id) => sizes.get(id)!,
    );
  }, [exits, nodes]);

  // Edge objects are reused too: React Flow re-renders an edge whose object
  // changed, and a big workflow has thousands.
  const previousEdges = useRef(new Map<string, Edge>());
  const edges: Edge[] = useMemo(() => {
    const built = buildEdges(doc, selectedEdges, previousEdges.current);
    previousEdges.current = built.cache;
    return built.edges;
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
      if (selection) onSelect(selection, null);
    },
    [onMove, onSelect, selected],
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
      if (selection) onSelect(null, selection);
    },
    [onSelect, selectedEdges],
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
  const fitted = useRef(props.fitRequest ?? 0);
  useEffect(() => {
    if (props.fitRequest === undefined || props.fitRequest === fitted.current) return;
    fitted.current = props.fitRequest;
    // Queued by React Flow until the new nodes are in: the fit sees them.
    void flow.fitView(
      tasks.length > MANY ? { nodes: tasks.slice(0, FIT_FIRST).map((task) => ({ id: task.name })), maxZoom: 1 } : { maxZoom: 1.2 },
    );
  }, [props.fitRequest, tasks, flow]);

  const revealed = useRef(props.reveal?.seq ?? 0);
  useEffect(() => {
    const reveal = props.reveal;
    if (!reveal || reveal.seq === revealed.current) return;
    revealed.current = reveal.seq;
    const box = wrapper.current?.getBoundingClientRect();
    if (!box) return;
    const view = flow.getViewport();
    const margin = 48; // the zoom controls and the minimap sit in the corners
    const outside = reveal.names.some((name) => {
      const point = positions[name];
      if (!point) return false;
      const x = point.x * view.zoom + view.x;
      const y = point.y * view.zoom + view.y;
      return x < margin || y < 8 || x + NODE_WIDTH * view.zoom > box.width - 8 || y + NODE_HEIGHT * view.zoom > box.height - margin;
    });
    if (outside) void flow.fitView({ maxZoom: view.zoom, padding: 0.15 });
  }, [props.reveal, positions, flow]);

  return (
    <div
      className="fd-canvas"
      ref={wrapper}
      onDragOver={props.readOnly ? undefined : onDragOver}
      onDrop={props.readOnly ? undefined : onDrop}
      data-testid="canvas"
      data-readonly={props.readOnly ? "true" : undefined}
    >
      <ReactFlow
        nodesDraggable={!props.readOnly}
        nodesConnectable={!props.readOnly}
        edgesReconnectable={!props.readOnly}
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
        {lane ? <Lane box={lane} title="On exit" hint="Exit handlers: they run once every other task has ended, whatever the outcome." /> : null}
        <Controls aria-label="Zoom and fit" />
        <MiniMap pannable zoomable ariaLabel="Overview of the workflow" nodeStrokeWidth={3} />
        {tasks.length === 0 && !props.readOnly ? (
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
