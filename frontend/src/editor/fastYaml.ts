// A YAML emitter for plain JSON data, in linear time: the `yaml` library's
// Document takes ~1 s for a 2,000-task spec, which the text view would pay
// after every edit. Strings stay plain only when YAML 1.2 reads them back as
// the same string; otherwise they are double-quoted with JSON's escapes (a
// JSON string is a valid YAML double-quoted scalar) or, when multi-line,
// written as a literal block. yamlText.test.ts checks the round trip.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface EmitOptions {
  /** Mappings under these paths are written inline: ["spec","ui","positions","*"]. */
  flowMaps?: string[][];
  /** Short lists under these paths are written inline. */
  flowLists?: string[][];
  flowListMax?: number;
}

const PLAIN = /^-?[A-Za-z0-9_./][A-Za-z0-9_./:@+=-]*(?: [A-Za-z0-9_./:@+=-]+)*$/;
// What YAML 1.2's core schema reads as something other than a string.
const SPECIAL =
  /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

function isPlain(text: string): boolean {
  if (text === "" || !PLAIN.test(text) || SPECIAL.test(text)) return false;
  // "a: b" starts a mapping; a trailing ":" too.
  return !/:( |$)/.test(text) && !text.startsWith("-:");
}

export function scalar(value: Json): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
  if (typeof value !== "string") return JSON.stringify(value);
  return isPlain(value) ? value : JSON.stringify(value);
}

function literalBlock(text: string, indent: string): string | null {
  if (!text.includes("\n") || /[\r\t\u0000-\u0008\u000b-\u001f\u007f\u0085\u2028\u2029\ufeff]/.test(text)) return null;
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  if (body.endsWith("\n") || body === "" || /^[ \n]/.test(body) || / \n|\n +\n| $/.test(body)) return null;
  const chomp = text.endsWith("\n") ? "" : "-";
  const lines = body.split("\n").map((line) => (line === "" ? "" : indent + line));
  return `|${chomp}\n${lines.join("\n")}`;
}

function matches(path: string[], patterns: string[][] | undefined): boolean {
  if (!patterns) return false;
  return patterns.some(
    (pattern) => pattern.length === path.length && pattern.every((part, i) => part === "*" || part === path[i]),
  );
}

function flow(value: Json): string {
  if (Array.isArray(value)) return value.length ? `[ ${value.map(flow).join(", ")} ]` : "[]";
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    return entries.length ? `{ ${entries.map(([key, item]) => `${scalar(key)}: ${flow(item)}`).join(", ")} }` : "{}";
  }
  return scalar(value);
}

function isFlowable(value: Json): boolean {
  if (Array.isArray(value)) return value.every(isFlowable);
  if (value !== null && typeof value === "object") return Object.values(value).every(isFlowable);
  // A multi-line string reads better as a block.
  return typeof value !== "string" || !value.includes("\n");
}

export function emitYaml(root: unknown, options: EmitOptions = {}): string {
  const out: string[] = [];
  const max = options.flowListMax ?? 6;
  const pad = (column: number) => " ".repeat(column);
  const append = (text: string) => {
    out[out.length - 1] += text;
  };

  const mapping = (entries: [string, Json][], column: number, path: string[]) => {
    for (const [key, child] of entries) {
      out.push(`${pad(column)}${scalar(key)}:`);
      value(child, column, [...path, key]);
    }
  };

  // The value of a key (or a list item) at `column`, whose line is the last.
  const value = (item: Json, column: number, path: string[]) => {
    if (Array.isArray(item)) {
      if (item.length === 0) return append(" []");
      if (item.length <= max && matches(path, options.flowLists) && isFlowable(item)) return append(` ${flow(item)}`);
      item.forEach((element, i) => {
        out.push(`${pad(column + 2)}-`);
        listItem(element, column + 4, [...path, String(i)]);
      });
      return;
    }
    if (item !== null && typeof item === "object") {
      const entries = Object.entries(item);
      if (entries.length === 0) return append(" {}");
      if (matches(path, options.flowMaps) && isFlowable(item)) return append(` ${flow(item)}`);
      return mapping(entries, column + 2, path);
    }
    if (typeof item === "string") {
      const block = literalBlock(item, pad(column + 2));
      if (block !== null) return append(` ${block}`);
    }
    append(` ${scalar(item)}`);
  };

  // A list item whose "-" ends the last line; its content starts at `column`.
  const listItem = (item: Json, column: number, path: string[]) => {
    const entries = item !== null && typeof item === "object" && !Array.isArray(item) ? Object.entries(item) : [];
    if (entries.length && !(matches(path, options.flowMaps) && isFlowable(item))) {
      const [[firstKey, firstValue], ...rest] = entries;
      append(` ${scalar(firstKey)}:`);
      value(firstValue, column, [...path, firstKey]);
      return mapping(rest, column, path);
    }
    value(item, column - 2, path);
  };

  const top = root as Json;
  if (top === null || typeof top !== "object" || Array.isArray(top)) return `${flow(top)}\n`;
  mapping(Object.entries(top), 0, []);
  return `${out.join("\n")}\n`;
}
