// The editor's state is the spec document itself (plain JSON, as the API takes
// it): the canvas, the forms and the text view all read and write it, so the
// YAML view and the saved version can never drift from what is drawn. These
// helpers read a possibly malformed document without throwing; validation of
// what they find is the server's job.
import { dependsNames } from "./controlFlow";

export type Obj = Record<string, unknown>;
export type Doc = Obj;
export type Task = Obj & { name: string };

export interface Point {
  x: number;
  y: number;
}

export type Direction = "TB" | "LR";

export const API_VERSION = "flowdeck.io/v1";

export function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function emptyDocument(name = ""): Doc {
  return {
    apiVersion: API_VERSION,
    kind: "Workflow",
    metadata: { name },
    spec: { tasks: [] },
  };
}

export function specOf(doc: Doc): Obj {
  return isObj(doc.spec) ? doc.spec : {};
}

export function metadataOf(doc: Doc): Obj {
  return isObj(doc.metadata) ? doc.metadata : {};
}

/** The raw `spec.tasks` list (whatever it holds). */
export function rawTasks(doc: Doc): unknown[] {
  const tasks = specOf(doc).tasks;
  return Array.isArray(tasks) ? tasks : [];
}

/** The raw `spec.onExit` list: the exit handlers (docs/spec.md, "Exit handlers"). */
export function rawExitTasks(doc: Doc): unknown[] {
  const tasks = specOf(doc).onExit;
  return Array.isArray(tasks) ? tasks : [];
}

function named(list: unknown[]): Task[] {
  return list.filter((task): task is Task => isObj(task) && typeof task.name === "string");
}

/** Tasks that are mappings with a string name, the run's tasks then the exit
 * handlers: the ones the canvas can draw. Names are unique across both lists. */
export function tasksOf(doc: Doc): Task[] {
  const exits = rawExitTasks(doc);
  return exits.length ? [...named(rawTasks(doc)), ...named(exits)] : named(rawTasks(doc));
}

/** The names of the exit handlers (`spec.onExit`). */
export function exitNames(doc: Doc): Set<string> {
  return new Set(named(rawExitTasks(doc)).map((task) => task.name));
}

export function taskNames(doc: Doc): Set<string> {
  return new Set(tasksOf(doc).map((task) => task.name));
}

export function findTask(doc: Doc, name: string): Task | undefined {
  return tasksOf(doc).find((task) => task.name === name);
}

/** The tasks `task` runs after: its `dependencies`, or the tasks its
 * `depends` expression names (the server takes those as its dependencies). */
export function dependenciesOf(task: Obj): string[] {
  const listed = listedDependencies(task);
  if (typeof task.depends !== "string") return listed;
  return [...new Set([...listed, ...dependsNames(task.depends)])];
}

/** What `dependencies` itself lists (what graph edits write). */
export function listedDependencies(task: Obj): string[] {
  const deps = task.dependencies;
  return Array.isArray(deps) ? deps.filter((dep): dep is string => typeof dep === "string") : [];
}

/** A task whose `depends` expression decides what it runs after. */
export function usesDepends(task: Obj): boolean {
  return typeof task.depends === "string" && task.depends.trim() !== "";
}

export interface GraphEdge {
  source: string;
  target: string;
}

export function edgeId(edge: GraphEdge): string {
  return `${edge.source}->${edge.target}`;
}

/** Edges upstream → downstream between tasks that exist. */
export function edgesOf(doc: Doc): GraphEdge[] {
  const names = taskNames(doc);
  const edges: GraphEdge[] = [];
  for (const task of tasksOf(doc)) {
    for (const dep of new Set(dependenciesOf(task))) {
      if (names.has(dep) && dep !== task.name) edges.push({ source: dep, target: task.name });
    }
  }
  return edges;
}

export interface Parameter {
  name: string;
  default?: string;
  description?: string;
}

/** The workflow's parameters (`spec.parameters`), those with a name. */
export function parametersOf(doc: Doc): Parameter[] {
  const raw = specOf(doc).parameters;
  if (!Array.isArray(raw)) return [];
  return raw.filter(isObj).flatMap((item) =>
    typeof item.name === "string"
      ? [
          {
            name: item.name,
            default: item.default === undefined || item.default === null ? undefined : String(item.default),
            description: typeof item.description === "string" ? item.description : undefined,
          },
        ]
      : [],
  );
}

export function uiOf(doc: Doc): Obj {
  const ui = specOf(doc).ui;
  return isObj(ui) ? ui : {};
}

export function positionsOf(doc: Doc): Record<string, Point> {
  const raw = uiOf(doc).positions;
  const positions: Record<string, Point> = {};
  if (!isObj(raw)) return positions;
  for (const [name, value] of Object.entries(raw)) {
    if (isObj(value) && typeof value.x === "number" && typeof value.y === "number") {
      positions[name] = { x: value.x, y: value.y };
    }
  }
  return positions;
}

export function directionOf(doc: Doc): Direction {
  return uiOf(doc).direction === "LR" ? "LR" : "TB";
}

// --- immutable updates -----------------------------------------------------

export function withSpec(doc: Doc, change: (spec: Obj) => Obj): Doc {
  return { ...doc, spec: change({ ...specOf(doc) }) };
}

export function withMetadata(doc: Doc, change: (metadata: Obj) => Obj): Doc {
  return { ...doc, metadata: change({ ...metadataOf(doc) }) };
}

/** `spec.tasks` changed (adding goes here: the run's tasks). */
export function withTasks(doc: Doc, change: (tasks: unknown[]) => unknown[]): Doc {
  return withSpec(doc, (spec) => ({ ...spec, tasks: change(rawTasks(doc)) }));
}

/** `spec.onExit` changed; left out when it becomes empty (an empty list is an error). */
export function withExitTasks(doc: Doc, change: (tasks: unknown[]) => unknown[]): Doc {
  return withSpec(doc, (spec) => {
    const exits = change(rawExitTasks(doc));
    if (!exits.length) {
      const next = { ...spec };
      delete next.onExit;
      return next;
    }
    if ("onExit" in spec || !("ui" in spec)) return { ...spec, onExit: exits };
    // A new onExit goes before ui, where docs/spec.md lists it.
    const next: Obj = {};
    for (const [key, value] of Object.entries(spec)) {
      if (key === "ui") next.onExit = exits;
      next[key] = value;
    }
    return next;
  });
}

/** Both lists changed alike (a map or a filter over every task). */
export function withEveryTask(doc: Doc, change: (tasks: unknown[]) => unknown[]): Doc {
  const next = withTasks(doc, change);
  return Array.isArray(specOf(doc).onExit) ? withExitTasks(next, change) : next;
}

export function withUi(doc: Doc, change: (ui: Obj) => Obj): Doc {
  return withSpec(doc, (spec) => {
    const ui = change({ ...uiOf(doc) });
    const next = { ...spec };
    if (Object.keys(ui).length === 0) delete next.ui;
    else next.ui = ui;
    return next;
  });
}

export function withPositions(
  doc: Doc,
  change: (positions: Record<string, Point>) => Record<string, Point>,
): Doc {
  return withUi(doc, (ui) => {
    const positions = change({ ...positionsOf(doc) });
    const next = { ...ui };
    if (Object.keys(positions).length === 0) delete next.positions;
    else next.positions = positions;
    return next;
  });
}

export function roundPoint(point: Point): Point {
  return { x: Math.round(point.x), y: Math.round(point.y) };
}

/** Set `key` of `obj`, or remove it when `value` is undefined, "" or an empty
 * list/mapping: the document keeps only what the user set. */
export function setField(obj: Obj, key: string, value: unknown): Obj {
  const next = { ...obj };
  if (isEmpty(value)) delete next[key];
  else next[key] = value;
  return next;
}

export function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isObj(value)) return Object.keys(value).length === 0;
  return false;
}

/** Set a nested field by path (["retry", "backoff", "delay"]), pruning mappings
 * left empty. */
export function setIn(obj: Obj, path: string[], value: unknown): Obj {
  const [head, ...rest] = path;
  if (rest.length === 0) return setField(obj, head, value);
  const child = isObj(obj[head]) ? (obj[head] as Obj) : {};
  return setField(obj, head, setIn(child, rest, value));
}

export function getIn(obj: unknown, path: string[]): unknown {
  let current: unknown = obj;
  for (const key of path) {
    if (!isObj(current)) return undefined;
    current = current[key];
  }
  return current;
}

// The order tasks' keys are written in, as in docs/spec.md (and the server's
// dump_document), so a task made in the editor reads like a hand-written one.
export const TASK_KEY_ORDER = [
  "name",
  "image",
  "imagePullPolicy",
  "command",
  "args",
  "workingDir",
  "env",
  "resources",
  "volumes",
  "volumeMounts",
  "securityContext",
  "nodeSelector",
  "tolerations",
  "affinity",
  "priorityClassName",
  "serviceAccountName",
  "imagePullSecrets",
  "priority",
  "retry",
  "timeout",
  "dependencies",
  "outputs",
  "inputs",
  "when",
  "triggerRule",
  "depends",
  "continueOn",
  "withItems",
  "withParam",
  "withSequence",
  "parallelism",
  "workflow",
  "initContainers",
  "sidecars",
  "kind",
  "job",
  "daemon",
  "ports",
  "readinessProbe",
  "persistent",
  "storage",
];

export function orderTaskKeys(task: Obj): Obj {
  const ordered: Obj = {};
  for (const key of TASK_KEY_ORDER) if (key in task) ordered[key] = task[key];
  for (const key of Object.keys(task)) if (!(key in ordered)) ordered[key] = task[key];
  return ordered;
}
