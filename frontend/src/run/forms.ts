// The action dialogs' form logic, pure: typed parameters, override lists, the
// debug answer's commands.

/** A typed value back from its text: JSON when the original was not a string. */
export function parseParameter(text: string, original: unknown): unknown {
  if (typeof original === "string" || original === undefined) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** One item a line, blank lines dropped; null when there is none (not overridden). */
export function lines(text: string): string[] | null {
  const items = text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  return items.length ? items : null;
}

/** KEY=VALUE lines as the debug endpoint's env list; the first "=" splits. */
export function envLines(text: string): { name: string; value: string }[] | null {
  const entries = (lines(text) ?? []).map((line) => {
    const at = line.indexOf("=");
    return at < 0 ? { name: line, value: "" } : { name: line.slice(0, at), value: line.slice(at + 1) };
  });
  return entries.length ? entries : null;
}

/** POST /api/runs/{id}/tasks/{name}/debug/ answers the new run plus how to look at it. */
export interface DebugResponse {
  id: number;
  commands?: Partial<Record<"backend" | "namespace" | "pod" | "exec" | "logs" | "log_path" | "log_url" | "note", string | null>>;
}

const COMMAND_LABELS: [keyof NonNullable<DebugResponse["commands"]>, string][] = [
  ["exec", "Shell into the pod"],
  ["logs", "Follow its log"],
  ["log_path", "Its log file"],
  ["log_url", "Its log over the API"],
];

/** The commands worth copying, labelled, in the order a person uses them. */
export function debugCommands(answer: DebugResponse): { label: string; text: string }[] {
  const commands = answer.commands ?? {};
  return COMMAND_LABELS.flatMap(([key, label]) => {
    const text = commands[key];
    return text ? [{ label, text }] : [];
  });
}


/** What the Debug dialog starts from: the task as its version's document has it. */
export interface DebugFields {
  command: string[];
  args: string[];
  /** Its plain variables, KEY=value a line (secret and referenced ones are kept as they are, unshown). */
  env: string;
  image: string;
}

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj => typeof value === "object" && value !== null && !Array.isArray(value);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

/** The fields of task `name` (an instance `square[2]` is its fan-out `square`)
 * in a version's document, with the default image when it has none. */
export function debugFields(document: unknown, name: string): DebugFields {
  const spec = isObj(document) && isObj(document.spec) ? document.spec : {};
  const base = name.replace(/\[\d+\]$/, "");
  const all = [...(Array.isArray(spec.tasks) ? spec.tasks : []), ...(Array.isArray(spec.onExit) ? spec.onExit : [])];
  const task = all.find((item): item is Obj => isObj(item) && item.name === base) ?? {};
  const env = (Array.isArray(task.env) ? task.env : [])
    .filter((entry): entry is Obj => isObj(entry) && !entry.secret && entry.valueFrom === undefined)
    .map((entry) => `${String(entry.name)}=${entry.value === undefined ? "" : String(entry.value)}`);
  const defaults = isObj(spec.defaults) ? spec.defaults : {};
  return {
    command: strings(task.command),
    args: strings(task.args),
    env: env.join("\n"),
    image: String(task.image ?? defaults.image ?? ""),
  };
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((item, index) => item === b[index]);

/** The debug endpoint's overrides: only what differs from the task's own
 * (an unchanged field is not sent, so the audit log names what was changed). */
export function debugOverrides(original: DebugFields, edited: DebugFields): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (!same(original.command, edited.command)) body.command = edited.command;
  if (!same(original.args, edited.args)) body.args = edited.args;
  const before = new Set((envLines(original.env) ?? []).map((entry) => `${entry.name}=${entry.value}`));
  const env = (envLines(edited.env) ?? []).filter((entry) => !before.has(`${entry.name}=${entry.value}`));
  if (env.length) body.env = env;
  if (edited.image.trim() && edited.image.trim() !== original.image) body.image = edited.image.trim();
  return body;
}
