// Argo Workflows in the editor (docs/frontend.md, "Argo Workflows"): importing an
// Argo file (converted by the server, one document onto the canvas with its
// report beside it, or a file of several into the project at once), the
// report, and exporting a saved version as Argo YAML. The rules are
// argo.ts's; the conversion is the server's.
import { useCallback, useState } from "react";

import { api, ApiError } from "../common/api";
import {
  type ArgoSource,
  type ConversionReport,
  type Converted,
  describeSchedule,
  documentTexts,
  type DryRun,
  type ExportKind,
  exportFilename,
  exportUrl,
  type Imported,
  needsChoice,
  refusedReport,
  reportedNotes,
  reportOf,
} from "./argo";
import { ErrorList, errorsOf, Modal } from "./Dialogs";
import { type FieldError } from "./errors";
import { type Doc } from "./model";

const YAML_TYPE = "application/yaml";

export interface ArgoChoice {
  file: string;
  text: string;
  documents: Converted[];
}

export interface ArgoHooks {
  /** Put a converted document on the canvas (keeping a saved workflow's name). */
  place: (document: Doc) => void;
  say: (kind: "info" | "error" | "success", text: string) => void;
}

/** The editor's Argo state: the open report, the original a first save
 * carries, the choice a file of several documents asks for. */
export function useArgo({ place, say }: ArgoHooks) {
  const [report, setReport] = useState<ConversionReport | null>(null);
  const [source, setSource] = useState<ArgoSource | null>(null);
  const [choice, setChoice] = useState<ArgoChoice | null>(null);

  const open = useCallback(
    (file: string, converted: Converted, original: string) => {
      place(converted.document);
      setReport(reportOf(file, converted));
      setSource({ format: "argo", text: original });
      setChoice(null);
      const notes = reportedNotes(converted.notes).length;
      say(
        converted.errors.length ? "error" : "success",
        `Converted ${converted.kind} ${converted.name} from ${file}: ${notes ? `${notes} note${notes === 1 ? "" : "s"}` : "everything carried over"}${
          converted.errors.length ? `, ${converted.errors.length} problem${converted.errors.length === 1 ? "" : "s"} to fix` : ""
        } (see the report). Save to keep it.`,
      );
    },
    [place, say],
  );

  /** Convert an Argo file (a dry run: nothing is saved) and place it, or ask. */
  const importArgo = useCallback(
    async (file: string, text: string) => {
      setReport(null);
      try {
        const answer = await api<DryRun>("/api/workflows/import/?dry_run=true", { method: "POST", text: { body: text, type: YAML_TYPE } });
        if (needsChoice(answer.documents)) setChoice({ file, text, documents: answer.documents });
        else open(file, answer.documents[0], text);
      } catch (error) {
        const errors = errorsOf(error);
        setReport(refusedReport(file, errors));
        // The API's own sentence speaks of "the workflow spec": name the parts instead.
        const parts = errors.filter((item) => item.path).length;
        const why = parts
          ? `${parts} part${parts === 1 ? "" : "s"} Flowdeck cannot run`
          : error instanceof ApiError
            ? error.message
            : String(error);
        say("error", `Cannot import ${file}: ${why} (see the report).`);
      }
    },
    [open, say],
  );

  /** One document of the file asked about: onto the canvas with its own text. */
  const openOne = useCallback(
    (index: number) => {
      if (!choice) return;
      const texts = documentTexts(choice.text, choice.documents.length);
      open(choice.file, choice.documents[index], texts[index]);
    },
    [choice, open],
  );

  return {
    report,
    dismissReport: () => setReport(null),
    /** The original the next save carries (cleared by the editor once saved). */
    source,
    setSource,
    choice,
    closeChoice: () => setChoice(null),
    importArgo,
    openOne,
  };
}

/** Download a saved version as an Argo document. */
export async function downloadArgo(
  workflow: { id: number; name: string; version: number },
  kind: ExportKind,
  download: (blob: Blob, filename: string) => void,
): Promise<string | null> {
  const response = await fetch(exportUrl(workflow.id, workflow.version, kind), {
    credentials: "same-origin",
    headers: { Accept: YAML_TYPE },
  });
  if (!response.ok) {
    const text = await response.text();
    return `${response.status}: ${text.split("\n").find((line) => line.trim()) ?? ""}`.trim();
  }
  download(await response.blob(), exportFilename(workflow.name, workflow.version, kind));
  return null;
}

/** Beside the canvas: what the conversion left out, and what is wrong. */
export function ConversionReportPanel({ report, onDismiss }: { report: ConversionReport; onDismiss: () => void }) {
  return (
    <aside className="fd-report" aria-label="Conversion report" data-testid="conversion-report" data-refused={report.refused ? "true" : "false"}>
      <div className="fd-report__head">
        <h2>{report.refused ? "Cannot import" : "Converted from Argo"}</h2>
        <button type="button" className="fd-icon" aria-label="Dismiss the conversion report" onClick={onDismiss}>
          ×
        </button>
      </div>
      <p className="fd-hint">
        <code>{report.file}</code>
        {report.refused ? null : (
          <>
            : {report.kind} → workflow <strong>{report.name}</strong>
          </>
        )}
      </p>
      {report.refused ? (
        <>
          <p>Nothing was placed on the canvas. Each part Flowdeck cannot run, at its path in the Argo file:</p>
          <ReportList items={report.errors} kind="error" />
        </>
      ) : (
        <>
          <h3>What did not carry over ({report.notes.length})</h3>
          {report.notes.length ? (
            <ReportList items={report.notes} kind="note" />
          ) : (
            <p className="fd-hint">Nothing: everything in the file has its place in the workflow.</p>
          )}
          <h3>Problems in the converted workflow ({report.errors.length})</h3>
          {report.errors.length ? (
            <>
              <p className="fd-hint">At their paths in the workflow; they show on the canvas and in the forms too.</p>
              <ReportList items={report.errors} kind="error" />
            </>
          ) : (
            <p className="fd-hint">None: it validates.</p>
          )}
          <p className="fd-hint">The first save keeps the Argo original with the version.</p>
        </>
      )}
    </aside>
  );
}

function ReportList({ items, kind }: { items: { path: string; message: string }[]; kind: "note" | "error" }) {
  return (
    <ul className={`fd-report__list fd-report__list--${kind}`}>
      {items.map((item, index) => (
        <li key={index} data-report={kind} data-path={item.path}>
          {item.path ? <code>{item.path}</code> : null} {item.message}
        </li>
      ))}
    </ul>
  );
}

export interface ProjectChoice {
  id: number;
  name: string;
}

/** A file of several documents, or a CronWorkflow: open one of them, or
 * import them all into the project (with their schedules). */
export function ArgoImportDialog({
  choice,
  project,
  projects,
  onOpen,
  onImported,
  onClose,
}: {
  choice: ArgoChoice;
  /** The editor's project, if chosen. */
  project: ProjectChoice | null;
  /** Where the user may create workflows, to choose from when none is chosen. */
  projects: ProjectChoice[];
  onOpen: (index: number) => void;
  onImported: (workflows: Imported[]) => void;
  onClose: () => void;
}) {
  const [target, setTarget] = useState<string>(project ? String(project.id) : "");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [imported, setImported] = useState<Imported[] | null>(null);
  const chosen = project ?? projects.find((item) => String(item.id) === target) ?? null;

  const importAll = async () => {
    if (!chosen) return;
    setBusy(true);
    setErrors([]);
    try {
      const answer = await api<{ workflows: Imported[] }>(`/api/workflows/import/?project=${chosen.id}`, {
        method: "POST",
        text: { body: choice.text, type: YAML_TYPE },
      });
      setImported(answer.workflows);
      onImported(answer.workflows);
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  };

  const count = choice.documents.length;
  return (
    <Modal title={`Import ${choice.file}`} onClose={onClose} wide>
      {imported ? (
        <div data-testid="argo-imported">
          <p>
            Imported {imported.length} workflow{imported.length === 1 ? "" : "s"} into {chosen?.name}:
          </p>
          <ul className="fd-imported">
            {imported.map((item) => (
              <li key={item.id} data-workflow={item.name}>
                <a href={`/workflows/${item.id}/editor/`}>{item.name}</a> v{item.version} {item.created ? "(new)" : "(a new version)"} ·{" "}
                <a href={`/workflows/${item.id}/`}>its page</a>
                {item.schedules.map((schedule) => (
                  <span key={schedule.id}>
                    {" "}
                    · schedule <a href={`/schedules/${schedule.id}/`}>{schedule.name}</a>
                  </span>
                ))}
                {reportedNotes(item.notes).length ? (
                  <ul className="fd-report__list fd-report__list--note">
                    {reportedNotes(item.notes).map((note, index) => (
                      <li key={index} data-report="note" data-path={note.path}>
                        <code>{note.path}</code> {note.message}
                      </li>
                    ))}
                  </ul>
                ) : (
                  <span className="fd-hint"> — everything carried over</span>
                )}
              </li>
            ))}
          </ul>
          <div className="fd-dialog__actions">
            <button type="button" onClick={onClose}>
              Close
            </button>
          </div>
        </div>
      ) : (
        <>
          <p>
            {count === 1 ? "This file holds a CronWorkflow: a workflow and its schedule." : `This file holds ${count} Argo documents.`} Open one
            on the canvas (schedules are not kept then), or import {count === 1 ? "it" : "them all"} into the project as
            workflows{choice.documents.some((document) => document.schedules.length) ? " with their schedules" : ""}.
          </p>
          <table className="fd-versions" data-testid="argo-documents">
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Workflow</th>
                <th scope="col">Notes</th>
                <th scope="col">Schedules</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {choice.documents.map((document, index) => (
                <tr key={index} data-document={document.name}>
                  <td>{document.kind}</td>
                  <td>
                    <strong>{document.name}</strong>
                    {document.errors.length ? (
                      <span className="fd-warning">
                        {" "}
                        {document.errors.length} problem{document.errors.length === 1 ? "" : "s"}
                      </span>
                    ) : null}
                  </td>
                  <td title={reportedNotes(document.notes).map((note) => `${note.path}: ${note.message}`).join("\n")}>
                    {reportedNotes(document.notes).length || "none"}
                  </td>
                  <td>
                    {document.schedules.length
                      ? document.schedules.map((schedule) => (
                          <div key={schedule.name}>
                            <code>{schedule.name}</code>: {describeSchedule(schedule)}
                          </div>
                        ))
                      : "—"}
                  </td>
                  <td>
                    <button type="button" onClick={() => onOpen(index)}>
                      Open on the canvas
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {project ? null : (
            <label className="fd-inline">
              Project{" "}
              <select aria-label="Project to import into" value={target} onChange={(event) => setTarget(event.target.value)}>
                <option value="">Choose a project</option>
                {projects.map((item) => (
                  <option key={item.id} value={String(item.id)}>
                    {item.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          <ErrorList errors={errors} />
          <div className="fd-dialog__actions">
            <button type="button" className="fd-primary" disabled={!chosen || busy} onClick={() => void importAll()}>
              {busy ? "Importing…" : chosen ? `Import all into ${chosen.name}` : "Import all into a project"}
            </button>
            <button type="button" onClick={onClose}>
              Cancel
            </button>
          </div>
        </>
      )}
    </Modal>
  );
}
