// Sub-workflows as the editor sees a task (docs/spec.md, "Sub-workflows"): a
// task with `workflow: {name, version?, parameters?}` runs another workflow of
// the project and has no container; what it passes, against what the called
// workflow declares; what it hands back (the called workflow's outputs).
// Pure: tested in subworkflow.test.ts. Validation stays the server's.
import { type Doc, type Obj, type Parameter, type Task, isObj, orderTaskKeys, setField, specOf } from "./model";

/** The fields a task that runs a workflow may not have (flowcore's
 * `_CONTAINER_FIELDS`), and `imagePullPolicy`, which means nothing without
 * an image. Its fan-out stays: each item starts a child run of its own. */
export const CONTAINER_FIELDS = [
  "image",
  "imagePullPolicy",
  "command",
  "args",
  "env",
  "resources",
  "volumes",
  "volumeMounts",
  "workingDir",
  "securityContext",
  "outputs",
  "inputs",
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

export interface Call {
  name: string;
  /** null: the workflow's latest version when the task starts. */
  version: number | null;
  parameters: Record<string, unknown>;
}

export function isSubWorkflow(task: Obj): boolean {
  return isObj(task.workflow);
}

export function callOf(task: Obj): Call | null {
  if (!isObj(task.workflow)) return null;
  const call = task.workflow;
  return {
    name: typeof call.name === "string" ? call.name : "",
    version: typeof call.version === "number" ? call.version : null,
    parameters: isObj(call.parameters) ? call.parameters : {},
  };
}

/** The task made to run a workflow: its container fields go (the form says
 * so; undo brings them back). Returns the task and the fields it lost. */
export function toSubWorkflow(task: Task): { task: Task; removed: string[] } {
  const removed = CONTAINER_FIELDS.filter((key) => key in task);
  let next: Obj = task;
  for (const key of removed) next = setField(next, key, undefined);
  // An empty name is written (and refused by the server at workflow.name)
  // until one is picked: the task is a sub-workflow from the first click.
  if (!isObj(next.workflow)) next = { ...next, workflow: { name: "" } };
  return { task: orderTaskKeys(next) as Task, removed };
}

/** The task made a container again: the call goes, a shell script in its place. */
export function toContainer(task: Task): Task {
  const next: Obj = setField(task, "workflow", undefined);
  return orderTaskKeys({ ...next, image: "busybox:1.36", command: ["sh", "-c", "echo hello"] }) as Task;
}

function withCall(task: Obj, change: (call: Obj) => Obj): Obj {
  const call = isObj(task.workflow) ? task.workflow : {};
  const next = change({ ...call });
  // The keys in the spec's order: name, version, parameters.
  const ordered: Obj = { name: next.name ?? "" };
  if (next.version !== undefined) ordered.version = next.version;
  if (isObj(next.parameters) && Object.keys(next.parameters).length) ordered.parameters = next.parameters;
  return { ...task, workflow: ordered };
}

/** Call `name` instead; the version goes (a version of another workflow
 * means nothing), and of the parameters only those `name` declares stay
 * (all of them while its parameters are not known). */
export function setCallName(task: Obj, name: string, declared: Parameter[] | null = null): Obj {
  return withCall(task, (call) => {
    const was = callOf(task);
    const next: Obj = { ...call, name };
    if (was && was.name !== name) {
      delete next.version;
      if (declared) {
        const known = new Set(declared.map((parameter) => parameter.name));
        next.parameters = Object.fromEntries(Object.entries(was.parameters).filter(([key]) => known.has(key)));
      }
    }
    return next;
  });
}

export function setCallVersion(task: Obj, version: number | null): Obj {
  return withCall(task, (call) => {
    const next = { ...call };
    if (version === null) delete next.version;
    else next.version = version;
    return next;
  });
}

/** Pass `value` as parameter `name`; "" passes nothing (the called
 * workflow's default applies). */
export function setCallParameter(task: Obj, name: string, value: string): Obj {
  return withCall(task, (call) => ({
    ...call,
    parameters: setField(isObj(call.parameters) ? call.parameters : {}, name, value === "" ? undefined : value),
  }));
}

export interface ParameterRow {
  name: string;
  value: string;
  /** The called workflow declares it (false: passed, but not one of its parameters). */
  declared: boolean;
  /** Declared without a default: the run needs a value. */
  required: boolean;
  default?: string;
  description?: string;
}

/** A row for each parameter the called workflow declares, in its order, then
 * one for each passed value it does not declare; `declared` null while its
 * parameters are not known (every passed value is then a plain row). */
export function parameterRows(declared: Parameter[] | null, given: Record<string, unknown>): ParameterRow[] {
  const text = (value: unknown) => (value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value));
  const rows: ParameterRow[] = (declared ?? []).map((parameter) => ({
    name: parameter.name,
    value: text(given[parameter.name]),
    declared: true,
    required: parameter.default === undefined,
    default: parameter.default,
    description: parameter.description,
  }));
  const known = new Set(rows.map((row) => row.name));
  for (const [name, value] of Object.entries(given)) {
    if (!known.has(name)) rows.push({ name, value: text(value), declared: declared === null, required: false });
  }
  return rows;
}

/** The path of a parameter's value inside the task, as the server writes it
 * (flowcore's field_path: a key that is not a plain word is quoted). */
export function parameterField(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) ? `workflow.parameters.${name}` : `workflow.parameters[${JSON.stringify(name)}]`;
}

/** What a run of a workflow returns (`spec.outputs`): what a task that runs
 * it hands to the tasks after it. */
export interface CalledOutputs {
  parameters: { name: string; description: string }[];
  artifacts: { name: string; description: string }[];
}

export function calledOutputs(doc: Doc): CalledOutputs {
  const outputs = isObj(specOf(doc).outputs) ? (specOf(doc).outputs as Obj) : {};
  const list = (value: unknown) =>
    (Array.isArray(value) ? value.filter(isObj) : [])
      .filter((entry) => typeof entry.name === "string" && entry.name)
      .map((entry) => ({ name: entry.name as string, description: typeof entry.description === "string" ? entry.description : "" }));
  return { parameters: list(outputs.parameters), artifacts: list(outputs.artifacts) };
}

/** The workflows the document's tasks call, each once, in order. */
export function calledNames(tasks: Obj[]): string[] {
  const names = new Set<string>();
  for (const task of tasks) {
    const call = callOf(task);
    if (call?.name) names.add(call.name);
  }
  return [...names];
}
