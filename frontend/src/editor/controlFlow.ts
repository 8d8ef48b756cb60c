// Control flow as the editor sees a task (docs/spec.md, "Control flow"):
// trigger rules and what each means, the tasks a `depends` expression names
// (they are the task's dependencies), fan-outs (withItems, withParam,
// withSequence) and the items' one-per-line text. Pure: no React, no model
// imports (model.ts reads dependencies through here); tested in
// controlFlow.test.ts. Validation stays the server's.

export type TriggerRule = "allSucceeded" | "noneFailed" | "allDone" | "anyFailed" | "anySucceeded" | "allFailed";

export const DEFAULT_RULE: TriggerRule = "allSucceeded";

/** Each rule with one line on when the task starts (the spec's table). */
export const TRIGGER_RULES: { value: TriggerRule; explain: string }[] = [
  { value: "allSucceeded", explain: "every upstream succeeded; a skipped one skips this task too (the default)" },
  { value: "noneFailed", explain: "every upstream is done and none failed: skipped ones are fine" },
  { value: "allDone", explain: "every upstream is done, however it ended" },
  { value: "anyFailed", explain: "as soon as an upstream fails: a failure handler" },
  { value: "anySucceeded", explain: "as soon as an upstream succeeds" },
  { value: "allFailed", explain: "every upstream is done and every one failed" },
];

export function explainRule(rule: string): string {
  return TRIGGER_RULES.find((item) => item.value === rule)?.explain ?? "";
}

/** A depends expression's results (flowcore/conditions.py). */
export const DEPENDS_RESULTS = ["Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Cancelled"];

// A word of the expression languages (flowcore/conditions.py's tokenizer).
const WORD = /[A-Za-z0-9_.\-/:@+]+/g;

/** `task.Result` (or a bare `task`) words of a depends expression, in order. */
function dependsWords(expression: string): { task: string; result: string; start: number; end: number }[] {
  const words: { task: string; result: string; start: number; end: number }[] = [];
  for (const match of expression.matchAll(WORD)) {
    const dot = match[0].indexOf(".");
    const task = dot < 0 ? match[0] : match[0].slice(0, dot);
    if (!task) continue;
    words.push({ task, result: dot < 0 ? "" : match[0].slice(dot + 1), start: match.index, end: match.index + match[0].length });
  }
  return words;
}

/** The tasks a depends expression names, each once, in order: they are the
 * task's dependencies (the server draws the same edges). */
export function dependsNames(expression: unknown): string[] {
  if (typeof expression !== "string") return [];
  return [...new Set(dependsWords(expression).map((word) => word.task))];
}

/** Which results the expression asks of each task it names; a bare name asks
 * `Succeeded || Skipped` and is listed as "". */
export function dependsResults(expression: unknown): Map<string, string[]> {
  const found = new Map<string, string[]>();
  if (typeof expression !== "string") return found;
  for (const word of dependsWords(expression)) {
    const list = found.get(word.task) ?? [];
    if (!list.includes(word.result)) list.push(word.result);
    found.set(word.task, list);
  }
  return found;
}

/** `expression` with task `from` called `to` (`from.Failed` → `to.Failed`). */
export function renameInDepends(expression: string, from: string, to: string): string {
  let out = "";
  let at = 0;
  for (const word of dependsWords(expression)) {
    if (word.task !== from) continue;
    out += expression.slice(at, word.start) + to;
    at = word.start + from.length;
  }
  return out + expression.slice(at);
}

/** `expression` asking also that `name` succeeded (or was skipped), as a
 * dependency drawn on the canvas means. */
export function addToDepends(expression: string, name: string): string {
  const trimmed = expression.trim();
  if (!trimmed) return name;
  return /\|\|/.test(trimmed) ? `(${trimmed}) && ${name}` : `${trimmed} && ${name}`;
}

/** A list of dependencies as the equivalent depends expression. */
export function dependsFromList(names: string[]): string {
  return names.join(" && ");
}

// --- fan-out ---------------------------------------------------------------

export type FanOutMode = "none" | "items" | "param" | "sequence";

export const FAN_OUT_KEYS = ["withItems", "withParam", "withSequence"] as const;

export function fanOutMode(task: Record<string, unknown>): FanOutMode {
  if ("withItems" in task) return "items";
  if ("withParam" in task) return "param";
  if ("withSequence" in task) return "sequence";
  return "none";
}

function integer(value: unknown): number | null {
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof number === "number" && Number.isInteger(number) ? number : null;
}

/** How many items a withSequence makes, when it can be told from the text. */
export function sequenceSize(sequence: unknown): number | null {
  if (typeof sequence !== "object" || sequence === null || Array.isArray(sequence)) return null;
  const seq = sequence as Record<string, unknown>;
  const count = integer(seq.count);
  if (count !== null) return count;
  const start = integer(seq.start) ?? 0;
  const end = integer(seq.end);
  return end === null ? null : Math.abs(end - start) + 1;
}

/** What the canvas writes on a fan-out's node: "×6", or "per item" when the
 * count is known only at run time (withParam); "" for a plain task. */
export function fanOutBadge(task: Record<string, unknown>): string {
  switch (fanOutMode(task)) {
    case "items":
      return Array.isArray(task.withItems) ? `×${task.withItems.length}` : "per item";
    case "sequence": {
      const size = sequenceSize(task.withSequence);
      return size === null ? "per item" : `×${size}`;
    }
    case "param":
      return "per item";
    default:
      return "";
  }
}

/** One item per line: text as it is, anything else (and text that would
 * read as something else: `"42"`, `"true"`, a line with spaces around it) as
 * JSON. */
export function itemToLine(item: unknown): string {
  if (typeof item === "string") {
    if (item !== "" && item === item.trim() && !item.includes("\n") && !readsAsJson(item)) return item;
  }
  return JSON.stringify(item) ?? "null";
}

function readsAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A line as an item: JSON when it reads as JSON (numbers, mappings, lists,
 * quoted text), the text as it is otherwise. */
export function lineToItem(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return line;
  }
}

export function itemsToText(items: unknown): string {
  return Array.isArray(items) ? items.map(itemToLine).join("\n") : "";
}

/** The items of a text, one per line; blank lines are skipped. */
export function textToItems(text: string): unknown[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map(lineToItem);
}

/** The fields of mapping items, for `{{item.field}}` completions. */
export function itemFields(items: unknown): string[] {
  if (!Array.isArray(items)) return [];
  const fields = new Set<string>();
  for (const item of items.slice(0, 50)) {
    if (typeof item === "object" && item !== null && !Array.isArray(item)) for (const key of Object.keys(item)) fields.add(key);
  }
  return [...fields];
}

// --- errors ----------------------------------------------------------------

/** Where an expression error points: the server says `position N` (1-based)
 * of the expression; null when it does not. */
export function errorPosition(message: string): number | null {
  const match = /\bposition (\d+):/.exec(message);
  return match ? Number(match[1]) - 1 : null;
}
