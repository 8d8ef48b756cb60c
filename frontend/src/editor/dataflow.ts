// Data between tasks, as the editor sees the document: which tasks are
// upstream of one, what each declares as outputs, the references a field may
// use (offered as completions where `{{` is typed) and the artifacts an input
// may take. The rules are the server's (docs/spec.md, "Data between tasks"):
// a task reads only the outputs of tasks upstream of it, a secret output only
// in an env value, an artifact only through inputs.artifacts. Pure: tested in
// dataflow.test.ts.
import { fanOutMode, itemFields } from "./controlFlow";
import { type Doc, type Obj, dependenciesOf, exitNames, findTask, isObj, specOf, tasksOf } from "./model";
import { type CalledOutputs, callOf } from "./subworkflow";

export const OUTPUTS_DIR = "/flowdeck/outputs";
export const INPUTS_DIR = "/flowdeck/inputs";

/** Every task upstream of `name` (its dependencies, theirs, and so on),
 * nearest first, each once; safe on a document with a cycle. */
export function upstreamOf(doc: Doc, name: string): string[] {
  const byName = new Map(tasksOf(doc).map((task) => [task.name, task]));
  const seen = new Set<string>([name]);
  const order: string[] = [];
  let layer = [name];
  while (layer.length) {
    const next: string[] = [];
    for (const current of layer) {
      const task = byName.get(current);
      if (!task) continue;
      for (const dep of dependenciesOf(task)) {
        if (seen.has(dep) || !byName.has(dep)) continue;
        seen.add(dep);
        order.push(dep);
        next.push(dep);
      }
    }
    layer = next;
  }
  return order;
}

export interface DeclaredParameter {
  name: string;
  secret: boolean;
  description: string;
}

export interface DeclaredArtifact {
  name: string;
  path: string;
}

export interface DeclaredOutputs {
  /** Where the result is read from; "" for the task's log. */
  resultPath: string;
  parameters: DeclaredParameter[];
  artifacts: DeclaredArtifact[];
}

const text = (value: unknown) => (typeof value === "string" ? value : "");

function listOf(value: unknown): Obj[] {
  return Array.isArray(value) ? value.filter(isObj) : [];
}

/** What a task declares under `outputs` (entries without a name left out). */
export function declaredOutputs(task: Obj): DeclaredOutputs {
  const outputs = isObj(task.outputs) ? task.outputs : {};
  const result = isObj(outputs.result) && isObj(outputs.result.valueFrom) ? outputs.result.valueFrom : {};
  return {
    resultPath: text(result.path),
    parameters: listOf(outputs.parameters)
      .filter((entry) => text(entry.name))
      .map((entry) => ({ name: text(entry.name), secret: entry.secret === true, description: text(entry.description) })),
    artifacts: listOf(outputs.artifacts)
      .filter((entry) => text(entry.name))
      .map((entry) => ({ name: text(entry.name), path: text(entry.path) })),
  };
}

export interface Completion {
  /** What is inserted: the whole reference, braces included. */
  text: string;
  /** The reference without braces, what is matched against what was typed. */
  label: string;
  detail: string;
}

/**
 * Where a reference is written decides what it may name:
 * - "text": command, args, image: parameters, upstream results and non-secret output parameters;
 * - "value": an env value or a workflow output's value, where a secret output may go (it stays masked);
 * - "defaults": spec.defaults: parameters only.
 */
export type Place = "text" | "value" | "defaults";

function parameterCompletions(doc: Doc): Completion[] {
  return listOf(specOf(doc).parameters)
    .filter((parameter) => text(parameter.name))
    .map((parameter) => {
      const name = text(parameter.name);
      const fallback = parameter.default === undefined || parameter.default === null ? "" : String(parameter.default);
      const detail = text(parameter.description) || (fallback ? `parameter, default ${fallback}` : "parameter, required");
      return { text: `{{params.${name}}}`, label: `params.${name}`, detail };
    });
}

/** What the workflows that tasks run return, by workflow name (known once read). */
export type Called = ReadonlyMap<string, CalledOutputs>;

/** A task that runs a workflow hands back that workflow's outputs (no result). */
function callCompletions(task: Obj, called: Called): Completion[] {
  const name = text(task.name);
  const workflow = callOf(task)?.name ?? "";
  const outputs = called.get(workflow);
  if (!outputs) return [];
  return outputs.parameters.map((parameter) => ({
    text: `{{tasks.${name}.outputs.parameters.${parameter.name}}}`,
    label: `tasks.${name}.outputs.parameters.${parameter.name}`,
    detail: `returned by ${name} (workflow ${workflow})${parameter.description ? `: ${parameter.description}` : ""}`,
  }));
}

/** What an exit handler may read of the run that ended (docs/spec.md, "Exit handlers"). */
export const RUN_COMPLETIONS: Completion[] = [
  { text: "{{run.status}}", label: "run.status", detail: "how the run ended: Succeeded, Failed or Cancelled" },
  { text: "{{run.failures}}", label: "run.failures", detail: "the tasks that did not succeed, as JSON: [{task, status, reason, message}]" },
  { text: "{{run.id}}", label: "run.id", detail: "the run's id" },
];

function taskCompletions(task: Obj, place: Place, called: Called): Completion[] {
  if (callOf(task)) return callCompletions(task, called);
  const name = text(task.name);
  if (task.daemon === true) {
    // A daemon leaves its address, nothing else (docs/spec.md, "Daemons").
    return [
      { text: `{{tasks.${name}.ip}}`, label: `tasks.${name}.ip`, detail: `where daemon ${name} serves: its Service's IP (127.0.0.1 locally)` },
      { text: `{{tasks.${name}.service}}`, label: `tasks.${name}.service`, detail: `daemon ${name}'s Service's DNS name (127.0.0.1 locally)` },
    ];
  }
  const declared = declaredOutputs(task);
  const found: Completion[] = [
    {
      text: `{{tasks.${name}.outputs.result}}`,
      label: `tasks.${name}.outputs.result`,
      detail: declared.resultPath ? `${name}'s result, from ${declared.resultPath}` : `${name}'s result: its log, trimmed`,
    },
  ];
  for (const parameter of declared.parameters) {
    if (parameter.secret && place !== "value") continue;
    found.push({
      text: `{{tasks.${name}.outputs.parameters.${parameter.name}}}`,
      label: `tasks.${name}.outputs.parameters.${parameter.name}`,
      detail: `${parameter.secret ? "secret " : ""}output of ${name}${parameter.description ? `: ${parameter.description}` : ""}`,
    });
  }
  return found;
}

/** The tasks whose outputs `task` may read, nearest first: its upstream
 * tasks; for an exit handler also every task of the run (they have all
 * ended); `task` null (a workflow output): every task of the run. */
export function readableTasks(doc: Doc, task: string | null): string[] {
  const exits = exitNames(doc);
  const main = tasksOf(doc)
    .map((item) => item.name)
    .filter((name) => !exits.has(name));
  if (task === null) return main;
  const upstream = upstreamOf(doc, task);
  return exits.has(task) ? [...upstream, ...main.filter((name) => !upstream.includes(name))] : upstream;
}

/** The references a field may use: the workflow's parameters (and, in an
 * exit handler, the run's status, failures and id), then the outputs of the
 * tasks it may read, nearest first (`task` null: a workflow output, which
 * may name any task of the run). */
export function referenceCompletions(doc: Doc, task: string | null, place: Place, called: Called = new Map()): Completion[] {
  const found = parameterCompletions(doc);
  if (place === "defaults") return found;
  if (task !== null && exitNames(doc).has(task)) found.push(...RUN_COMPLETIONS);
  const byName = new Map(tasksOf(doc).map((item) => [item.name, item]));
  for (const name of readableTasks(doc, task)) found.push(...taskCompletions(byName.get(name)!, place, called));
  return found;
}

export interface ArtifactChoice {
  /** `{{tasks.X.outputs.artifacts.N}}`, as `from` is written. */
  value: string;
  task: string;
  artifact: string;
  /** The file's name where the upstream task writes it ("people.csv"). */
  basename: string;
}

/** The artifacts an input of `task` may take: those declared by its upstream
 * tasks (`task` null: by any task, for the workflow's outputs). */
export function artifactChoices(doc: Doc, task: string | null, called: Called = new Map()): ArtifactChoice[] {
  const byName = new Map(tasksOf(doc).map((item) => [item.name, item]));
  const choices: ArtifactChoice[] = [];
  for (const name of readableTasks(doc, task)) {
    const call = callOf(byName.get(name)!);
    if (call) {
      for (const artifact of called.get(call.name)?.artifacts ?? []) {
        choices.push({ value: `{{tasks.${name}.outputs.artifacts.${artifact.name}}}`, task: name, artifact: artifact.name, basename: artifact.name });
      }
      continue;
    }
    for (const artifact of declaredOutputs(byName.get(name)!).artifacts) {
      choices.push({
        value: `{{tasks.${name}.outputs.artifacts.${artifact.name}}}`,
        task: name,
        artifact: artifact.name,
        basename: artifact.path.split("/").pop() || artifact.name,
      });
    }
  }
  return choices;
}

/** Completions and artifact choices for one task's form. */
export interface TaskReferences {
  text: Completion[];
  value: Completion[];
  /** `when` and `withParam`: read before the task runs once per item, so no `{{item}}`. */
  condition: Completion[];
  artifacts: ArtifactChoice[];
}

/** `{{item}}` and the fields of mapping items, in a task that runs once per item. */
export function itemCompletions(task: Obj): Completion[] {
  if (fanOutMode(task) === "none") return [];
  return [
    { text: "{{item}}", label: "item", detail: "this instance's item (text as it is, anything else as JSON)" },
    ...itemFields(task.withItems).map((field) => ({
      text: `{{item.${field}}}`,
      label: `item.${field}`,
      detail: `the ${field} of this instance's item`,
    })),
  ];
}

export function taskReferences(doc: Doc, task: string, called: Called = new Map()): TaskReferences {
  const items = itemCompletions(findTask(doc, task) ?? {});
  const text = referenceCompletions(doc, task, "text", called);
  return {
    text: [...items, ...text],
    value: [...items, ...referenceCompletions(doc, task, "value", called)],
    condition: text,
    artifacts: artifactChoices(doc, task, called),
  };
}

/** A file path that follows an output's name while it is the default one:
 * `/flowdeck/outputs/rows` becomes `/flowdeck/outputs/count` as `rows` is
 * renamed `count`; a path the user wrote is kept. */
export function followName(path: string, from: string, to: string, directory = OUTPUTS_DIR): string {
  return path === "" || path === `${directory}/${from}` ? `${directory}/${to}` : path;
}

// A task's outputs, or a daemon's address ({{tasks.X.ip}}, {{tasks.X.service}}).
const REFERENCE_TO = (name: string) =>
  new RegExp(`\\{\\{(\\s*)tasks\\.${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(outputs\\.|ip\\b|service\\b)`, "g");

/** `value` with every string inside it that refers to task `from`'s outputs
 * made to refer to `to`'s (the same object when nothing changes). */
export function renameReferences<T>(value: T, from: string, to: string): T {
  const pattern = REFERENCE_TO(from);
  const walk = (item: unknown): unknown => {
    if (typeof item === "string") return item.includes("{{") ? item.replace(pattern, `{{$1tasks.${to}.$2`) : item;
    if (Array.isArray(item)) {
      const next = item.map(walk);
      return next.some((entry, index) => entry !== item[index]) ? next : item;
    }
    if (isObj(item)) {
      let changed = false;
      const next: Obj = {};
      for (const [key, entry] of Object.entries(item)) {
        next[key] = walk(entry);
        if (next[key] !== entry) changed = true;
      }
      return changed ? next : item;
    }
    return item;
  };
  return walk(value) as T;
}
