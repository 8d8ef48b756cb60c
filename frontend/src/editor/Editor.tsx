// The workflow editor: palette, canvas, task/workflow forms, text view,
// validation as you type, save/run/history/import/export. The state is one
// spec document with an undo history (history.ts); every edit is a pure
// function of it (graphOps.ts).
import "@xyflow/react/dist/style.css";
import "../graph/graph.css";
import "./editor.css";

import { ReactFlowProvider } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";

import { api, csrfToken } from "../common/api";
import { type ExportKind, isArgoText, saveBody } from "./argo";
import { ArgoImportDialog, ConversionReportPanel, downloadArgo, useArgo } from "./ArgoViews";
import { useCatalogue } from "./catalogue";
import { ErrorList, HistoryDialog, RunDialog, SaveDialog, errorsOf } from "./Dialogs";
import { Palette, Problems, Shortcuts } from "./Panels";
import { canonical } from "./canonical";
import { Canvas } from "./Canvas";
import { type Called, taskReferences } from "./dataflow";
import { type FieldError, countPlaced, placeErrors } from "./errors";
import {
  type Clipboard,
  autoLayout,
  connect,
  copyTasks,
  dependsEdges,
  disconnect,
  duplicateTasks,
  addTask,
  moveTasks,
  pasteTasks,
  placeMissing,
  removeTasks,
  renameTask,
  setExitHandler,
  updateTask,
} from "./graphOps";
import { canRedo, canUndo, record, redo, startHistory, undo } from "./history";
import {
  type Direction,
  type Doc,
  type Obj,
  type Point,
  type Task,
  directionOf,
  emptyDocument,
  exitNames,
  findTask,
  metadataOf,
  positionsOf,
  tasksOf,
  withMetadata,
} from "./model";
import { calledNames, calledOutputs } from "./subworkflow";
import { TaskForm } from "./TaskForm";
import { templateById } from "./templates";
import { TextPane } from "./TextPane";
import { type Project, WorkflowForm } from "./WorkflowForm";
import { type TextFormat, describeParseError, parseText, toText } from "./yamlText";

export interface InitialData {
  workflow: { id: number; name: string; version: number | null; project: Project } | null;
  document: Doc | null;
  projects: Project[];
  project: string;
  canRun: boolean;
  /** For a new workflow: the projects where the user may start runs. */
  runProjects?: number[];
  /** A viewer's editor: everything shown, nothing changed (the API refuses it anyway). */
  readOnly?: boolean;
}

interface Validation {
  doc: Doc;
  errors: FieldError[];
  /** What this server's backend cannot run in a valid document (a task
   * without a command where the backend ignores images). */
  warnings: FieldError[];
  state: "checking" | "valid" | "invalid" | "offline";
}

type Toast = { kind: "info" | "error" | "success"; text: string } | null;
type DialogName = "save" | "run" | "history" | "shortcuts" | null;

const EXPORT_LABEL: Record<ExportKind, string> = { Workflow: "an Argo Workflow", WorkflowTemplate: "an Argo WorkflowTemplate" };

const VALIDATE_DELAY_MS = 400;
const NO_ERRORS: FieldError[] = [];

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

function download(blob: Blob, filename: string) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function Editor({ initial }: { initial: InitialData }) {
  return (
    <ReactFlowProvider>
      <EditorView initial={initial} />
    </ReactFlowProvider>
  );
}

function EditorView({ initial }: { initial: InitialData }) {
  const first = useMemo(
    () => placeMissing(initial.document ? canonical(initial.document) : emptyDocument("")),
    [initial],
  );
  const [history, setHistory] = useState(() => startHistory(first));
  const doc = history.present;
  const [savedDoc, setSavedDoc] = useState<Doc | null>(initial.workflow ? first : null);
  const [workflow, setWorkflow] = useState(initial.workflow);
  const [project, setProject] = useState(initial.project);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [selectedEdges, setSelectedEdges] = useState<Set<string>>(new Set());
  const [validation, setValidation] = useState<Validation>({ doc: first, errors: NO_ERRORS, warnings: NO_ERRORS, state: "checking" });
  const [saveErrors, setSaveErrors] = useState<FieldError[]>(NO_ERRORS);
  const [toast, setToast] = useState<Toast>(null);
  const [dialog, setDialog] = useState<DialogName>(null);
  const [saveMessage, setSaveMessage] = useState("");
  const [format, setFormat] = useState<TextFormat>("yaml");
  const [showText, setShowText] = useState(true);
  const clipboard = useRef<Clipboard | null>(null);
  const centre = useRef<() => Point>(() => ({ x: 0, y: 0 }));
  const fileInput = useRef<HTMLInputElement>(null);

  const readOnly = Boolean(initial.readOnly);
  const apply = useCallback(
    (change: (doc: Doc) => Doc, key: string | null = null) => {
      if (readOnly) return;
      setHistory((current) => record(current, change(current.present), key));
    },
    [readOnly],
  );

  const say = useCallback((kind: "info" | "error" | "success", text: string) => setToast({ kind, text }), []);
  useEffect(() => {
    if (!toast) return;
    const handle = window.setTimeout(() => setToast(null), toast.kind === "error" ? 9000 : 5000);
    return () => window.clearTimeout(handle);
  }, [toast]);
  // An error is about the document as it was when it was said (a refused
  // edge, "Not saved"): the next edit ends it. Bound after the render that
  // showed it, so an edit and its own message (made together) keep it.
  const toastDoc = useRef<Doc | null>(null);
  useEffect(() => {
    toastDoc.current = toast ? doc : null;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [toast]);
  useEffect(() => {
    if (toast?.kind === "error" && toastDoc.current !== null && toastDoc.current !== doc) setToast(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [doc]);

  // A document that replaces the whole workflow (an import, a restored
  // version) is fitted into view, as one opened is.
  const [fitRequest, setFitRequest] = useState(0);
  const refit = useCallback(() => setFitRequest((count) => count + 1), []);

  // A converted Argo document goes onto the canvas as an imported file does.
  const placeImported = useCallback(
    (imported: Doc) => {
      let next = canonical(imported);
      if (workflow) next = withMetadata(next, (metadata) => ({ ...metadata, name: workflow.name }));
      apply(() => placeMissing(next));
      refit();
      setSelected(new Set());
      setSelectedEdges(new Set());
    },
    [apply, refit, workflow],
  );
  const argo = useArgo({ place: placeImported, say });

  // --- derived ---------------------------------------------------------------
  const tasks = useMemo(() => tasksOf(doc), [doc]);
  const positions = useMemo(() => positionsOf(placeMissing(doc)), [doc]);
  const direction = directionOf(doc);
  // A new, untouched workflow is not "wrong" yet: problems show from the
  // first edit on.
  const [checkedOnce, setCheckedOnce] = useState(false);
  const fresh = !workflow && history.past.length === 0 && !checkedOnce;
  const allErrors = saveErrors.length ? saveErrors : fresh ? NO_ERRORS : validation.errors;
  const placed = useMemo(
    () => placeErrors(saveErrors.length ? doc : validation.doc, allErrors),
    [saveErrors, validation, allErrors, doc],
  );
  const warnings = fresh ? NO_ERRORS : validation.warnings;
  const placedWarnings = useMemo(() => placeErrors(validation.doc, warnings), [validation.doc, warnings]);
  const dirty = useMemo(
    () => savedDoc === null || (doc !== savedDoc && JSON.stringify(doc) !== JSON.stringify(savedDoc)),
    [doc, savedDoc],
  );
  const name = String(metadataOf(doc).name ?? "");
  const only = selected.size === 1 ? findTask(doc, [...selected][0]) : undefined;
  const exits = useMemo(() => exitNames(doc), [doc]);
  // The project's workflows, and what those the tasks run return.
  const calls = useMemo(() => calledNames(tasks), [tasks]);
  const catalogue = useCatalogue(project, calls);
  const called: Called = useMemo(
    () => new Map([...catalogue.documents].map(([called, document]) => [called, calledOutputs(document)])),
    [catalogue.documents],
  );
  // What the selected task's fields may refer to (its upstream tasks' outputs).
  const references = useMemo(() => (only ? taskReferences(doc, only.name, called) : null), [doc, only, called]);

  // Drop selections of tasks that no longer exist (undo, text edits).
  useEffect(() => {
    const names = new Set(tasks.map((task) => task.name));
    if ([...selected].some((item) => !names.has(item))) {
      setSelected(new Set([...selected].filter((item) => names.has(item))));
    }
    if (selectedEdges.size) setSelectedEdges(new Set());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tasks]);

  // --- validation as you type, by the server's own validator ----------------
  useEffect(() => {
    if (readOnly) return;
    let cancelled = false;
    setValidation((current) => ({ ...current, state: "checking" }));
    const handle = window.setTimeout(async () => {
      try {
        const result = await api<{ valid: boolean; errors: FieldError[]; warnings?: FieldError[] }>(
          "/api/workflows/validate/",
          { method: "POST", body: doc },
        );
        if (!cancelled) {
          setSaveErrors(NO_ERRORS);
          setValidation({
            doc,
            errors: result.errors,
            warnings: result.warnings ?? NO_ERRORS,
            state: result.valid ? "valid" : "invalid",
          });
        }
      } catch {
        if (!cancelled) setValidation((current) => ({ ...current, state: "offline" }));
      }
    }, VALIDATE_DELAY_MS);
    return () => {
      cancelled = true;
      window.clearTimeout(handle);
    };
  }, [doc, readOnly]);

  // --- unsaved changes guard ---------------------------------------------------
  useEffect(() => {
    if (!dirty || tasks.length === 0 && !workflow) return;
    const guard = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = "";
    };
    window.addEventListener("beforeunload", guard);
    return () => window.removeEventListener("beforeunload", guard);
  }, [dirty, tasks.length, workflow]);

  // --- edits -----------------------------------------------------------------
  const select = useCallback((nodes: Set<string>, edges: Set<string> = new Set()) => {
    setSelected(nodes);
    setSelectedEdges(edges);
  }, []);
  const selectOnCanvas = useCallback((nodes: Set<string> | null, edges: Set<string> | null) => {
    if (nodes) setSelected(nodes);
    if (edges) setSelectedEdges(edges);
  }, []);

  const addFromTemplate = useCallback(
    (templateId: string, at?: Point) => {
      const template = templateById(templateId);
      if (!template) return;
      let where = at;
      if (!where) {
        // Keyboard: near the middle of the view, stepped so adds don't stack.
        const middle = centre.current();
        const step = (tasksOf(history.present).length % 6) * 24;
        where = { x: middle.x + step, y: middle.y + step };
      }
      const result = addTask(history.present, template.task, where, template.base);
      apply(() => result.doc);
      select(new Set([result.name]));
      say("info", `Added ${result.name}. Fill in its form on the right.`);
    },
    [apply, history.present, say, select],
  );

  const connectTasks = useCallback(
    (source: string, target: string) => {
      const result = connect(history.present, source, target);
      if (result.ok) {
        apply(() => result.doc);
        say("success", `${target} now runs after ${source}.`);
      } else say("error", result.message);
    },
    [apply, history.present, say],
  );

  const deleteSelection = useCallback(() => {
    if (selected.size === 0 && selectedEdges.size === 0) return;
    let edges = [...selectedEdges].map((id) => {
      const [source, target] = id.split("->");
      return { source, target };
    });
    // An edge a depends expression draws goes when the expression says so.
    const locked = dependsEdges(history.present, edges).filter((edge) => !selected.has(edge.source) && !selected.has(edge.target));
    const kept = locked.length
      ? ` ${locked[0].target} runs after ${locked[0].source} by its depends expression: edit the expression in its form to remove that.`
      : "";
    edges = edges.filter((edge) => !locked.includes(edge));
    if (edges.length === 0 && selected.size === 0) {
      say("error", kept.trim());
      return;
    }
    apply((current) => removeTasks(disconnect(current, edges), selected));
    const parts = [];
    if (selected.size) parts.push(`${selected.size} task${selected.size > 1 ? "s" : ""}`);
    if (edges.length) parts.push(`${edges.length} connection${edges.length > 1 ? "s" : ""}`);
    say(kept ? "error" : "info", `Deleted ${parts.join(" and ")}. Ctrl+Z brings them back.${kept}`);
    select(new Set());
  }, [apply, history.present, say, select, selected, selectedEdges]);

  const duplicateSelection = useCallback(() => {
    if (selected.size === 0) return;
    const result = duplicateTasks(history.present, selected);
    apply(() => result.doc);
    select(new Set(result.names));
  }, [apply, history.present, select, selected]);

  const copySelection = useCallback(() => {
    if (selected.size === 0) return;
    clipboard.current = copyTasks(history.present, selected);
    say("info", `Copied ${selected.size} task${selected.size > 1 ? "s" : ""}.`);
  }, [history.present, say, selected]);

  const paste = useCallback(() => {
    if (!clipboard.current) return;
    const result = pasteTasks(history.present, clipboard.current);
    apply(() => result.doc);
    select(new Set(result.names));
  }, [apply, history.present, select]);

  const onMove = useCallback((moved: Record<string, Point>) => apply((current) => moveTasks(current, moved)), [apply]);

  const layout = useCallback(
    (next: Direction) => {
      apply((current) => autoLayout(current, next));
      say("info", next === "TB" ? "Laid out top to bottom." : "Laid out left to right.");
    },
    [apply, say],
  );

  const updateSelected = useCallback(
    (change: (task: Task) => Obj, key: string) => {
      if (!only) return;
      const taskName = only.name;
      apply((current) => updateTask(current, taskName, change), `task:${taskName}:${key}`);
    },
    [apply, only],
  );

  const renameSelected = useCallback(
    (next: string): boolean => {
      if (!only) return false;
      const result = renameTask(history.present, only.name, next);
      if (!result.ok) {
        say("error", result.message);
        return false;
      }
      apply(() => result.doc);
      select(new Set([next]));
      return true;
    },
    [apply, history.present, only, say, select],
  );

  const setDependency = useCallback(
    (upstream: string, on: boolean) => {
      if (!only) return;
      if (on) connectTasks(upstream, only.name);
      else apply((current) => disconnect(current, [{ source: upstream, target: only.name }]));
    },
    [apply, connectTasks, only],
  );

  const setExit = useCallback(
    (on: boolean) => {
      if (!only) return;
      const result = setExitHandler(history.present, only.name, on);
      if (!result.ok) {
        say("error", result.message);
        return;
      }
      apply(() => result.doc);
      const cut = result.cut.map((edge) => `${edge.source} → ${edge.target}`);
      say(
        cut.length ? "info" : "success",
        `${only.name} is ${on ? "an exit handler: it runs once every other task has ended" : "a task of the run again"}.${
          cut.length ? ` Removed ${cut.join(", ")}: exit handlers run after every task, and after each other only.` : ""
        }`,
      );
    },
    [apply, history.present, only, say],
  );

  // Tasks typed into the text view are placed by the layout (placeMissing)
  // and brought into view.
  const [reveal, setReveal] = useState<{ names: string[]; seq: number }>({ names: [], seq: 0 });
  const fromText = useCallback(
    (next: Doc) => {
      const before = new Set(tasksOf(history.present).map((task) => task.name));
      const added = tasksOf(next)
        .map((task) => task.name)
        .filter((taskName) => !before.has(taskName));
      apply(() => next, "text");
      if (added.length) setReveal((current) => ({ names: added, seq: current.seq + 1 }));
    },
    [apply, history.present],
  );

  const doUndo = useCallback(() => setHistory((current) => undo(current)), []);
  const doRedo = useCallback(() => setHistory((current) => redo(current)), []);

  // --- keyboard --------------------------------------------------------------
  const keys = useRef({ deleteSelection, duplicateSelection, copySelection, paste, doUndo, doRedo, tasks, select, readOnly });
  keys.current = { deleteSelection, duplicateSelection, copySelection, paste, doUndo, doRedo, tasks, select, readOnly };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event.target) || document.querySelector("dialog[open]")) return;
      const k = keys.current;
      if (k.readOnly && event.key !== "Escape" && event.key !== "?" && !((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "a")) return;
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (mod && key === "z") {
        event.preventDefault();
        if (event.shiftKey) k.doRedo();
        else k.doUndo();
      } else if (mod && key === "y") {
        event.preventDefault();
        k.doRedo();
      } else if (mod && key === "c") k.copySelection();
      else if (mod && key === "v") {
        event.preventDefault();
        k.paste();
      } else if (mod && key === "d") {
        event.preventDefault();
        k.duplicateSelection();
      } else if (mod && key === "a") {
        event.preventDefault();
        k.select(new Set(k.tasks.map((task) => task.name)));
      } else if (!mod && (event.key === "Delete" || event.key === "Backspace")) {
        event.preventDefault();
        k.deleteSelection();
      } else if (event.key === "Escape") k.select(new Set());
      else if (event.key === "?") setDialog("shortcuts");
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  // --- save, run, import, export ----------------------------------------------
  const save = async (message: string) => {
    const toSave = placeMissing(doc);
    const query = `message=${encodeURIComponent(message)}`;
    // The first save after an Argo import keeps the original with the version.
    const body = saveBody(toSave, argo.source);
    try {
      const saved = workflow
        ? await api<{ id: number; name: string; latest_version: { number: number }; project: Project }>(
            `/api/workflows/${workflow.id}/?${query}`,
            { method: "PUT", body },
          )
        : await api<{ id: number; name: string; latest_version: { number: number }; project: Project }>(
            `/api/workflows/?project=${encodeURIComponent(project)}&${query}`,
            { method: "POST", body },
          );
      argo.setSource(null);
      if (toSave !== doc) apply(() => toSave);
      setSavedDoc(toSave);
      setSaveErrors(NO_ERRORS);
      setDialog(null);
      setSaveMessage("");
      const number = saved.latest_version.number;
      if (workflow && workflow.version === number) say("info", `No changes: ${saved.name} stays at version ${number}.`);
      else say("success", `Saved version ${number} of ${saved.name}.`);
      setWorkflow({ id: saved.id, name: saved.name, version: number, project: saved.project });
      if (!workflow) window.history.replaceState(null, "", `/workflows/${saved.id}/editor/`);
    } catch (error) {
      setSaveErrors(errorsOf(error));
      setDialog(null);
      say("error", "Not saved: the server found problems, listed under the canvas.");
    }
  };

  // A document with known problems is refused before a message is asked for:
  // the validator is asked now, so a check still on its way is not missed.
  const requestSave = async () => {
    const checked = doc;
    let result: { valid: boolean; errors: FieldError[]; warnings?: FieldError[] };
    try {
      result = await api("/api/workflows/validate/", { method: "POST", body: checked });
    } catch {
      setDialog("save"); // the server decides when it is reached
      return;
    }
    setValidation({ doc: checked, errors: result.errors, warnings: result.warnings ?? NO_ERRORS, state: result.valid ? "valid" : "invalid" });
    if (result.valid) {
      setDialog("save");
      return;
    }
    setSaveErrors(NO_ERRORS);
    setCheckedOnce(true);
    say("error", "Not saved: fix the problems listed under the canvas first.");
    window.setTimeout(() => document.querySelector<HTMLElement>(".fd-problems summary")?.focus(), 0);
  };

  const startRun = () => {
    if (!workflow) return;
    if (dirty) {
      say("error", "Save your changes first: a run uses the saved version.");
      return;
    }
    setDialog("run");
  };

  const importFile = async (file: File) => {
    const text = await file.text();
    if (isArgoText(text)) {
      await argo.importArgo(file.name, text);
      return;
    }
    const result = parseText(text, "yaml");
    if (!result.ok) {
      say("error", `Cannot import ${file.name}: ${describeParseError(result)}`);
      return;
    }
    // The canvas no longer holds what an Argo import converted.
    argo.dismissReport();
    argo.setSource(null);
    let imported = result.doc;
    if (workflow) imported = withMetadata(imported, (metadata) => ({ ...metadata, name: workflow.name }));
    apply(() => placeMissing(imported));
    refit();
    select(new Set());
    say("success", `Imported ${file.name}${workflow ? ` (kept the name ${workflow.name})` : ""}. Save to keep it.`);
  };

  const exportArgo = async (kind: ExportKind) => {
    if (!workflow?.version) return;
    const shown = { id: workflow.id, name: workflow.name, version: workflow.version };
    const problem = await downloadArgo(shown, kind, download);
    if (problem) say("error", `Cannot export v${shown.version} as ${EXPORT_LABEL[kind]}: ${problem}`);
    else if (dirty) say("info", `Downloaded v${shown.version} as ${EXPORT_LABEL[kind]}: the saved version, without your unsaved changes.`);
    else say("success", `Downloaded v${shown.version} as ${EXPORT_LABEL[kind]}.`);
  };

  const exportPicture = async (kind: "svg" | "png") => {
    const response = await fetch(`/api/workflows/graph/?as=${kind}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
      body: JSON.stringify(doc),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      say("error", `Cannot draw the DAG: ${(body as { detail?: string }).detail ?? response.status}`);
      return;
    }
    download(await response.blob(), `${name || "workflow"}.${kind}`);
  };

  // The project the editor works in: a saved workflow's, or the one chosen for a new one.
  const currentProject = workflow
    ? workflow.project
    : (initial.projects.find((item) => String(item.id) === project) ?? null);

  // The one count of problems: the header and the list under the canvas
  // both read `placed`.
  const problemCount = countPlaced(placed);
  const warningCount = countPlaced(placedWarnings);
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;
  const statusKind = saveErrors.length
    ? "invalid"
    : fresh
      ? "fresh"
      : validation.state === "valid" && warningCount
        ? "warning"
        : validation.state;
  const status =
    saveErrors.length > 0
      ? plural(problemCount, "problem")
      : fresh
        ? "Not saved yet"
        : validation.state === "checking"
        ? "Checking…"
        : validation.state === "offline"
          ? "Cannot reach the validator"
          : validation.state === "valid"
            ? warningCount
              ? `Valid, but ${plural(warningCount, "task")} cannot run here`
              : "Valid"
            : plural(problemCount, "problem");

  return (
    <div className="fd-editor" data-dirty={dirty ? "true" : "false"}>
      <header className="fd-toolbar" role="toolbar" aria-label="Editor">
        <div className="fd-toolbar__title">
          <strong data-testid="workflow-title">{workflow ? workflow.name : name || "New workflow"}</strong>
          {workflow?.version ? <span className="fd-hint"> v{workflow.version}</span> : null}
          {dirty && !fresh ? <span className="fd-unsaved"> · unsaved changes</span> : null}
        </div>
        {readOnly ? null : (
        <>
        <div className="fd-toolbar__group">
          <button type="button" onClick={doUndo} disabled={!canUndo(history)} title="Undo (Ctrl+Z)">
            Undo
          </button>
          <button type="button" onClick={doRedo} disabled={!canRedo(history)} title="Redo (Ctrl+Shift+Z)">
            Redo
          </button>
        </div>
        <div className="fd-toolbar__group" aria-label="Layout">
          <button type="button" onClick={() => layout("TB")} title="Lay out top to bottom">
            Layout ↓
          </button>
          <button type="button" onClick={() => layout("LR")} title="Lay out left to right">
            Layout →
          </button>
        </div>
        </>
        )}
        <div className="fd-toolbar__group">
          {readOnly ? null : (
          <button type="button" onClick={() => fileInput.current?.click()}>
            Import…
          </button>
          )}
          <input
            ref={fileInput}
            type="file"
            accept=".yaml,.yml,.json,application/yaml,application/json,text/yaml"
            hidden
            data-testid="import-file"
            onChange={(event) => {
              const file = event.target.files?.[0];
              if (file) void importFile(file);
              event.target.value = "";
            }}
          />
          <details className="fd-menu">
            <summary>Export</summary>
            <div className="fd-menu__items fd-menu__items--export">
              <button type="button" onClick={() => download(new Blob([toText(doc, "yaml")], { type: "application/yaml" }), `${name || "workflow"}.yaml`)}>
                YAML file
              </button>
              <button type="button" onClick={() => void exportPicture("svg")}>
                Picture (SVG)
              </button>
              <button type="button" onClick={() => void exportPicture("png")}>
                Picture (PNG)
              </button>
              <hr />
              <button type="button" disabled={!workflow?.version} onClick={() => void exportArgo("Workflow")}>
                Argo Workflow (YAML)
              </button>
              <button type="button" disabled={!workflow?.version} onClick={() => void exportArgo("WorkflowTemplate")}>
                Argo WorkflowTemplate (YAML)
              </button>
              <p className="fd-menu__note" data-testid="argo-export-note">
                {!workflow?.version
                  ? "Argo exports a saved version: create the workflow first."
                  : dirty && !fresh
                    ? `Argo: exports v${workflow.version} as saved, without your unsaved changes.`
                    : `Argo: exports v${workflow.version}.`}
              </p>
            </div>
          </details>
          <button type="button" onClick={() => setShowText(!showText)} aria-pressed={showText}>
            Text view
          </button>
          {workflow ? (
            <button type="button" onClick={() => setDialog("history")}>
              History
            </button>
          ) : null}
          <button type="button" onClick={() => setDialog("shortcuts")} aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">
            ?
          </button>
        </div>
        <div className="fd-toolbar__group fd-toolbar__end">
          {readOnly ? (
            <span className="fd-status fd-status--readonly" role="status" data-testid="read-only" title="Editing this workflow needs the editor role in its project">
              Read-only: you may look, not change
            </span>
          ) : (
          <>
          <span className={`fd-status fd-status--${statusKind}`} role="status" data-testid="validation-status">
            {status}
          </span>
          <button type="button" className="fd-primary" onClick={() => void requestSave()} disabled={!dirty && Boolean(workflow)}>
            {workflow ? "Save" : "Create"}
          </button>
          </>
          )}
          {workflow && !readOnly && (initial.canRun || initial.runProjects?.includes(workflow.project.id)) ? (
            <button type="button" onClick={startRun}>
              Run…
            </button>
          ) : null}
          {workflow ? <a href={`/workflows/${workflow.id}/`}>Close</a> : <a href="/">Close</a>}
        </div>
      </header>

      <div className={`fd-body${showText ? " fd-body--text" : ""}${argo.report ? " fd-body--report" : ""}`}>
        {readOnly ? (
          <aside className="fd-palette fd-palette--readonly" aria-label="Read-only">
            <p className="fd-hint">
              You see this workflow as a viewer: select a task to read its settings; History compares versions.
            </p>
          </aside>
        ) : (
        <Palette
          selected={selected.size}
          anyEdge={selectedEdges.size > 0}
          onAdd={addFromTemplate}
          onDuplicate={duplicateSelection}
          onCopy={copySelection}
          onPaste={paste}
          onDelete={deleteSelection}
        />
        )}

        <div className={argo.report ? "fd-main fd-main--report" : "fd-main"}>
          {toast ? (
            <div className={`fd-toast fd-toast--${toast.kind}`} role={toast.kind === "error" ? "alert" : "status"} data-testid="toast">
              {toast.text}
              <button type="button" className="fd-icon" aria-label="Dismiss" onClick={() => setToast(null)}>
                ×
              </button>
            </div>
          ) : null}
          <div className="fd-stage">
          <Canvas
            doc={doc}
            positions={positions}
            direction={direction}
            errors={placed}
            selected={selected}
            selectedEdges={selectedEdges}
            onSelect={selectOnCanvas}
            onMove={onMove}
            onConnect={connectTasks}
            onDropTemplate={addFromTemplate}
            registerCentre={(fn) => (centre.current = fn)}
            fitRequest={fitRequest}
            reveal={reveal}
            readOnly={readOnly}
          />
          {argo.report ? <ConversionReportPanel report={argo.report} onDismiss={argo.dismissReport} /> : null}
          </div>
          <Problems placed={placed} warnings={placedWarnings} onSelect={(name) => select(new Set(name ? [name] : []))} />
        </div>

        {showText ? <TextPane doc={doc} format={format} onFormat={setFormat} onChange={fromText} readOnly={readOnly} /> : null}

        <aside className="fd-panel" aria-label="Properties">
          {/* A disabled fieldset disables every control in the forms at once. */}
          <fieldset className="fd-panel__fields" disabled={readOnly}>
          {only && references ? (
            <TaskForm
              key={only.name}
              task={only}
              others={tasks.map((task) => task.name).filter((other) => other !== only.name && exits.has(other) === exits.has(only.name))}
              errors={placed.byTask.get(only.name)}
              warnings={placedWarnings.byTask.get(only.name)}
              references={references}
              onChange={updateSelected}
              onRename={renameSelected}
              onDependency={setDependency}
              onDelete={deleteSelection}
              onDuplicate={duplicateSelection}
              exitHandler={exits.has(only.name)}
              onExitHandler={setExit}
              catalogue={catalogue}
              self={workflow ? workflow.name : name}
            />
          ) : (
            <>
              {selected.size > 1 ? (
                <p className="fd-hint">
                  {selected.size} tasks selected: Delete, Duplicate (Ctrl+D) or Copy (Ctrl+C) them together.
                </p>
              ) : null}
              <WorkflowForm
                doc={doc}
                errors={placed.workflow}
                existing={Boolean(workflow)}
                projects={initial.projects}
                project={project}
                onProject={setProject}
                onChange={apply}
              />
              {tasks.length > 0 && selected.size === 0 ? (
                <p className="fd-hint">{readOnly ? "Select a task to see its settings." : "Select a task to edit it."}</p>
              ) : null}
            </>
          )}
          </fieldset>
        </aside>
      </div>

      {dialog === "save" ? (
        <SaveDialog existing={Boolean(workflow)} initialMessage={saveMessage} onSave={save} onClose={() => setDialog(null)} />
      ) : null}
      {dialog === "run" && workflow ? (
        <RunDialog workflowId={workflow.id} doc={doc} version={workflow.version} onClose={() => setDialog(null)} />
      ) : null}
      {dialog === "history" && workflow ? (
        <HistoryDialog
          workflowId={workflow.id}
          onClose={() => setDialog(null)}
          onRestore={readOnly ? undefined : (restored, number) => {
            apply(() => placeMissing(canonical(restored)));
            refit();
            argo.setSource(null);
            select(new Set());
            setSaveMessage(`restore v${number}`);
            setDialog(null);
            say("info", `Restored v${number} into the editor. Save to make it the latest version.`);
          }}
        />
      ) : null}
      {dialog === "shortcuts" ? <Shortcuts onClose={() => setDialog(null)} /> : null}
      {argo.choice ? (
        <ArgoImportDialog
          choice={argo.choice}
          project={currentProject}
          projects={initial.projects}
          onOpen={argo.openOne}
          onImported={() => catalogue.reload()}
          onClose={argo.closeChoice}
        />
      ) : null}
      {saveErrors.length && !problemCount ? <ErrorList errors={saveErrors} /> : null}
    </div>
  );
}

