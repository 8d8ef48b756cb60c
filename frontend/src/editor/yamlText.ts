// The text view: the document as YAML or JSON, and back. YAML is read as 1.2
// (the server's rules: `on`/`yes` stay strings) with duplicate keys refused;
// a syntax error is reported with its line and column.
import { parseDocument } from "yaml";

import { emitYaml } from "./fastYaml";

import { type Doc, isObj } from "./model";

export type TextFormat = "yaml" | "json";

export type ParseResult =
  | { ok: true; doc: Doc }
  | { ok: false; message: string; line: number | null; column: number | null };

export function toText(doc: Doc, format: TextFormat): string {
  if (format === "json") return `${JSON.stringify(doc, null, 2)}\n`;
  return emitYaml(doc, {
    // Positions are many and dull: one line each. Short dependency lists
    // read best inline: [a, b].
    flowMaps: [["spec", "ui", "positions", "*"]],
    flowLists: [["spec", "tasks", "*", "dependencies"]],
  });
}

export function parseText(text: string, format: TextFormat): ParseResult {
  if (format === "json") return parseJson(text);
  const parsed = parseDocument(text, { version: "1.2", uniqueKeys: true, prettyErrors: true });
  if (parsed.errors.length) {
    const error = parsed.errors[0];
    const at = error.linePos?.[0];
    const message = error.message.split("\n")[0];
    return { ok: false, message, line: at?.line ?? null, column: at?.col ?? null };
  }
  return asDocument(parsed.toJS({ maxAliasCount: 100 }));
}

function parseJson(text: string): ParseResult {
  try {
    return asDocument(JSON.parse(text));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const lineColumn = message.match(/line (\d+) column (\d+)/);
    if (lineColumn) {
      return { ok: false, message, line: Number(lineColumn[1]), column: Number(lineColumn[2]) };
    }
    const position = message.match(/position (\d+)/);
    if (position) {
      const before = text.slice(0, Number(position[1]));
      const lines = before.split("\n");
      return { ok: false, message, line: lines.length, column: lines[lines.length - 1].length + 1 };
    }
    // Some engines' messages carry no position: find it ourselves.
    const offset = jsonErrorOffset(text);
    if (offset === null) return { ok: false, message, line: null, column: null };
    const lines = text.slice(0, offset).split("\n");
    return { ok: false, message, line: lines.length, column: lines[lines.length - 1].length + 1 };
  }
}

/** Where a JSON text stops being valid (a small recursive-descent scan). */
export function jsonErrorOffset(text: string): number | null {
  let at = 0;
  const fail = (): never => {
    throw at;
  };
  const space = () => {
    while (at < text.length && " \t\r\n".includes(text[at])) at += 1;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, at)) at += word.length;
    else fail();
  };
  const string = () => {
    at += 1;
    while (at < text.length && text[at] !== '"') {
      if (text[at] === "\\") at += 1;
      else if (text.charCodeAt(at) < 0x20) fail();
      at += 1;
    }
    if (at >= text.length) fail();
    at += 1;
  };
  const value = (): void => {
    space();
    const char = text[at];
    if (char === "{") {
      at += 1;
      space();
      if (text[at] === "}") {
        at += 1;
        return;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail();
        string();
        space();
        if (text[at] !== ":") fail();
        at += 1;
        value();
        space();
        if (text[at] === ",") at += 1;
        else if (text[at] === "}") {
          at += 1;
          return;
        } else fail();
      }
    } else if (char === "[") {
      at += 1;
      space();
      if (text[at] === "]") {
        at += 1;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[at] === ",") at += 1;
        else if (text[at] === "]") {
          at += 1;
          return;
        } else fail();
      }
    } else if (char === '"') string();
    else if (char === "t") literal("true");
    else if (char === "f") literal("false");
    else if (char === "n") literal("null");
    else {
      const number = text.slice(at).match(/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/);
      if (!number) fail();
      at += number![0].length;
    }
  };
  try {
    value();
    space();
    if (at < text.length) fail();
    return null;
  } catch (offset) {
    if (typeof offset === "number") return offset;
    throw offset;
  }
}

function asDocument(value: unknown): ParseResult {
  if (!isObj(value)) {
    return { ok: false, message: "The document must be a mapping (apiVersion, kind, metadata, spec).", line: 1, column: 1 };
  }
  return { ok: true, doc: value };
}

export function describeParseError(result: Extract<ParseResult, { ok: false }>): string {
  if (result.line === null) return result.message;
  return `Line ${result.line}, column ${result.column}: ${result.message}`;
}
