// What the run page shows of the data between tasks: the shapes of the outputs
// endpoint and of a run's `outputs`, values pretty-printed when they are JSON
// (only white space changes: numbers and strings stay as written), long values
// folded, sizes and checksums made readable. Pure: tested in outputs.test.ts.

/** GET /api/runs/{id}/tasks/{name}/outputs/?attempt=N (docs/api.md). */
export interface TaskOutputs {
  attempt: number | null;
  status: string | null;
  result: string | null;
  parameters: OutputValue[];
  artifacts: Artifact[];
  inputs: InputValue[];
  input_artifacts: InputArtifact[];
}

export interface OutputValue {
  name: string;
  value: string;
  secret: boolean;
  size: number;
}

export interface Artifact {
  name: string;
  size: number;
  sha256: string;
  filename: string;
  directory?: boolean;
  url: string;
}

export interface InputValue {
  reference: string;
  task: string;
  attempt: number;
  value: string;
  secret: boolean;
}

export interface InputArtifact extends Artifact {
  path: string;
  task: string;
}

/** `outputs` of GET /api/runs/{id}/: what the run returned once it succeeded. */
export interface RunOutputs {
  parameters?: Record<string, { value: string; secret: boolean }>;
  artifacts?: Record<string, { size: number; sha256: string; filename: string; task: string; url: string; artifact?: string }>;
  /** Outputs left out, with why ("tasks.x.outputs.result has no value"). */
  missing?: Record<string, string>;
}

export function hasTaskData(outputs: TaskOutputs): boolean {
  return (
    outputs.result !== null ||
    outputs.parameters.length > 0 ||
    outputs.artifacts.length > 0 ||
    outputs.inputs.length > 0 ||
    outputs.input_artifacts.length > 0
  );
}

export function hasRunOutputs(outputs: RunOutputs | undefined | null): boolean {
  if (!outputs) return false;
  return (
    Object.keys(outputs.parameters ?? {}).length > 0 ||
    Object.keys(outputs.artifacts ?? {}).length > 0 ||
    Object.keys(outputs.missing ?? {}).length > 0
  );
}

// --- JSON, pretty-printed without changing a value ---------------------------------

type Node =
  | { kind: "scalar"; text: string }
  | { kind: "array"; items: Node[] }
  | { kind: "object"; entries: [string, Node][] };

const TOKEN =
  /("(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")|(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([[\]{},:])/y;
const SPACE = /[ \t\n\r]*/y;

/** The tokens of `text` as written, or null when it is not JSON's lexicon. */
function tokenize(text: string): string[] | null {
  const tokens: string[] = [];
  let at = 0;
  for (;;) {
    SPACE.lastIndex = at;
    SPACE.exec(text);
    at = SPACE.lastIndex;
    if (at >= text.length) return tokens;
    TOKEN.lastIndex = at;
    const match = TOKEN.exec(text);
    if (!match) return null;
    tokens.push(match[1] ?? match[2] ?? match[3] ?? match[4]);
    at = TOKEN.lastIndex;
  }
}

/** JSON parsed into a tree that keeps every scalar's text (JSON.parse would
 * turn 12345678901234567890 into 12345678901234567000 and 1.0 into 1). */
function parseJson(text: string): Node | null {
  const tokens = tokenize(text);
  if (!tokens || tokens.length === 0) return null;
  let at = 0;
  const value = (depth: number): Node | null => {
    if (depth > 200) return null;
    const token = tokens[at++];
    if (token === undefined) return null;
    if (token === "[") {
      const items: Node[] = [];
      if (tokens[at] === "]") {
        at++;
        return { kind: "array", items };
      }
      for (;;) {
        const item = value(depth + 1);
        if (!item) return null;
        items.push(item);
        const next = tokens[at++];
        if (next === "]") return { kind: "array", items };
        if (next !== ",") return null;
      }
    }
    if (token === "{") {
      const entries: [string, Node][] = [];
      if (tokens[at] === "}") {
        at++;
        return { kind: "object", entries };
      }
      for (;;) {
        const key = tokens[at++];
        if (key === undefined || !key.startsWith('"') || tokens[at++] !== ":") return null;
        const item = value(depth + 1);
        if (!item) return null;
        entries.push([key, item]);
        const next = tokens[at++];
        if (next === "}") return { kind: "object", entries };
        if (next !== ",") return null;
      }
    }
    if ("]},:".includes(token)) return null;
    return { kind: "scalar", text: token };
  };
  const root = value(0);
  return root && at === tokens.length ? root : null;
}

function inline(node: Node): string {
  if (node.kind === "scalar") return node.text;
  if (node.kind === "array") return `[${node.items.map(inline).join(", ")}]`;
  return `{${node.entries.map(([key, item]) => `${key}: ${inline(item)}`).join(", ")}}`;
}

function render(node: Node, indent: string, used: number, width: number): string {
  const flat = inline(node);
  if (node.kind === "scalar" || used + flat.length <= width) return flat;
  const inner = `${indent}  `;
  if (node.kind === "array") {
    return `[\n${node.items.map((item) => inner + render(item, inner, inner.length, width)).join(",\n")}\n${indent}]`;
  }
  const lines = node.entries.map(([key, item]) => {
    const head = `${key}: `;
    return inner + head + render(item, inner, inner.length + head.length, width);
  });
  return `{\n${lines.join(",\n")}\n${indent}}`;
}

export interface ShownValue {
  text: string;
  /** A JSON array or object (shown pretty-printed). */
  json: boolean;
}

/**
 * A value as the page shows it: a JSON array or object pretty-printed, what
 * fits in `width` columns kept on one line (`[10, 20, 30, 40, 50]` stays as
 * Python prints it); anything else exactly as it is.
 */
export function showValue(text: string, width = 60): ShownValue {
  const node = text.length <= 1_000_000 ? parseJson(text) : null;
  if (!node || node.kind === "scalar") return { text, json: false };
  return { text: render(node, "", 0, width), json: true };
}

export interface Folded {
  /** What is shown while folded: the whole text when `folded` is false. */
  head: string;
  folded: boolean;
  lines: number;
}

/** The first `maxLines` lines (and at most `maxChars` characters) of `text`;
 * a final newline ends the last line rather than starting one. */
export function fold(text: string, maxLines = 12, maxChars = 2000): Folded {
  const lines = text.split("\n");
  const count = lines.length > 1 && text.endsWith("\n") ? lines.length - 1 : lines.length;
  if (count <= maxLines && text.length <= maxChars) return { head: text, folded: false, lines: count };
  let head = lines.slice(0, maxLines).join("\n");
  if (head.length > maxChars) head = `${head.slice(0, maxChars)}…`;
  return { head, folded: true, lines: count };
}

// --- sizes and checksums ------------------------------------------------------

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/** 31 → "31 bytes", 1536 → "1.5 KiB", 5 GiB → "5.0 GiB". */
export function formatBytes(size: number): string {
  if (size < 1024) return `${size} ${size === 1 ? "byte" : "bytes"}`;
  let value = size;
  let unit = -1;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

/** The first 12 hex digits: enough to tell two files apart at a glance. */
export function shortSha(sha256: string): string {
  return sha256.length > 12 ? `${sha256.slice(0, 12)}…` : sha256;
}

/** Why an attempt shows no outputs, in words. */
export function emptyReason(status: string | null): string {
  if (status === "Succeeded") return "This attempt left no outputs: its task declares none, and no task reads its result.";
  if (status === "Running" || status === "Queued" || status === "Pending" || status === null)
    return "Nothing yet: outputs are recorded when the attempt succeeds.";
  return `This attempt left no outputs: they are kept only when an attempt succeeds (this one ${status === "Error" ? "ended in Error" : `is ${status}`}).`;
}
