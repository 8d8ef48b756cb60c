// Argo Workflows files in the editor (docs/frontend.md, "Argo Workflows"): telling
// an Argo file from a Flowdeck one, the shapes of the import API's answers,
// each document's own text in a file of several, a schedule in words, the
// body that saves a converted workflow with its original. Pure: tested in
// argo.test.ts. The conversion itself is the server's (flowcore.argo).
import { parseAllDocuments } from "yaml";

import { type FieldError } from "./errors";
import { type Doc, isObj } from "./model";

export const ARGO_API_VERSION = "argoproj.io/v1alpha1";

export interface ArgoNote {
  /** Where in the Argo file ("spec.templates[1].retryStrategy"). */
  path: string;
  message: string;
  /** Whether the workflow cannot run as Argo would run it without it (then the import is refused). */
  essential: boolean;
}

export interface ArgoSchedule {
  name: string;
  kind: string;
  expression: string;
  timezone: string;
  overlap: string;
  catch_up: string;
  enabled: boolean;
}

/** One document of a dry run (`POST /api/workflows/import/?dry_run=true`). */
export interface Converted {
  kind: string;
  name: string;
  document: Doc;
  schedules: ArgoSchedule[];
  notes: ArgoNote[];
  errors: FieldError[];
}

export interface DryRun {
  documents: Converted[];
}

/** One workflow an import saved (`POST /api/workflows/import/?project=`). */
export interface Imported {
  id: number;
  name: string;
  version: number;
  created: boolean;
  url: string;
  notes: ArgoNote[];
  schedules: { id: number; name: string }[];
}

/** What the conversion report beside the canvas shows. */
export interface ConversionReport {
  file: string;
  /** The Argo kind and the workflow's name; empty when the file was refused. */
  kind: string;
  name: string;
  notes: ArgoNote[];
  /** Validation errors of the converted document, or why the file was refused (nothing placed). */
  errors: FieldError[];
  refused: boolean;
}

const TOP_LEVEL_ARGO = /^apiVersion:[ \t]*["']?argoproj\.io\/v1alpha1["']?[ \t]*(#.*)?$/m;

/** Whether any document of the file is an Argo one (`apiVersion:
 * argoproj.io/v1alpha1` at its top). A file that does not parse is judged by
 * its lines, so that its syntax error comes from the importer it was meant for. */
export function isArgoText(text: string): boolean {
  let documents;
  try {
    documents = parseAllDocuments(text, { uniqueKeys: false });
  } catch {
    return TOP_LEVEL_ARGO.test(text);
  }
  const list = Array.isArray(documents) ? documents : [documents];
  if (list.some((document) => document.errors.length)) return TOP_LEVEL_ARGO.test(text);
  return list.some((document) => {
    const value: unknown = document.toJS({ maxAliasCount: 100 });
    return isObj(value) && value.apiVersion === ARGO_API_VERSION;
  });
}

/** A file that needs the user to choose: several workflows, or a schedule. */
export function needsChoice(documents: Converted[]): boolean {
  return documents.length !== 1 || documents.some((document) => document.kind === "CronWorkflow" || document.schedules.length > 0);
}

// A line that starts a YAML document of a stream (interop.services' rule).
const DOCUMENT_START = /^---(?:[ \t].*)?$/m;

function hasContent(part: string): boolean {
  return part
    .split("\n")
    .some((line) => line.trim() !== "" && !line.trimStart().startsWith("#") && line.trim() !== "...");
}

/** Each document's own text, comments included, split where a line starts a
 * document; the whole text for each when that does not give one part per
 * document (a `---` inside a block scalar, say). The server keeps the same
 * text with each workflow an import saves. */
export function documentTexts(text: string, count: number): string[] {
  const parts = text
    .split(new RegExp(DOCUMENT_START.source, "gm"))
    .map((part) => part.replace(/^\n+|\n+$/g, ""))
    .filter(hasContent);
  if (parts.length !== count) return Array.from({ length: count }, () => text);
  return parts.map((part) => `${part}\n`);
}

const OVERLAP: Record<string, string> = {
  allow: "runs may overlap",
  forbid: "never two at once",
  replace: "a new run replaces a running one",
  queue: "runs wait for each other",
};

/** A schedule in words: "0 6 * * 1 in Europe/Berlin, never two at once". */
export function describeSchedule(schedule: ArgoSchedule): string {
  const parts = [`${schedule.expression}${schedule.timezone ? ` in ${schedule.timezone}` : ""}`];
  if (OVERLAP[schedule.overlap]) parts.push(OVERLAP[schedule.overlap]);
  if (!schedule.enabled) parts.push("paused");
  return parts.join(", ");
}

/** The report of one converted document: what did not carry over (notes that
 * keep it from running refuse the import, so none is left here) and what
 * the spec's validation says of the result. */
export function reportOf(file: string, converted: Converted): ConversionReport {
  return {
    file,
    kind: converted.kind,
    name: converted.name,
    notes: reportedNotes(converted.notes),
    errors: converted.errors,
    refused: false,
  };
}

/** The notes a report lists: those the workflow runs without, each once (a
 * template several tasks call is noted once per call). */
export function reportedNotes(notes: ArgoNote[]): ArgoNote[] {
  const seen = new Set<string>();
  return notes.filter((note) => {
    const key = `${note.path}\n${note.message}`;
    if (note.essential || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The report of a file the importer refused: every reason at its Argo path. */
export function refusedReport(file: string, errors: FieldError[]): ConversionReport {
  return { file, kind: "", name: "", notes: [], errors, refused: true };
}

export interface ArgoSource {
  format: "argo";
  text: string;
}

/** What Save sends: the document, with its original the first time. */
export function saveBody(document: Doc, source: ArgoSource | null): unknown {
  return source ? { document, source } : document;
}

export type ExportKind = "Workflow" | "WorkflowTemplate";

export function exportUrl(workflowId: number, version: number, kind: ExportKind): string {
  const base = `/api/workflows/${workflowId}/versions/${version}/export/?format=argo`;
  return kind === "Workflow" ? base : `${base}&kind=${kind}`;
}

export function exportFilename(name: string, version: number, kind: ExportKind): string {
  return `${name}-v${version}.argo${kind === "Workflow" ? "" : "-template"}.yaml`;
}
