// Modal dialogs: save with a message, run with parameters, version history
// with a side-by-side diff.
import { Fragment, type ReactNode, useEffect, useMemo, useRef, useState } from "react";

import { ApiError, api } from "../common/api";
import { ArgoOriginal } from "./ArgoOriginal";
import { canonical } from "./canonical";
import { type DiffRow, diffLines } from "./diff";
import { type FieldError } from "./errors";
import { type Doc, isObj, parametersOf } from "./model";
import { toText } from "./yamlText";

export function Modal({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      className={wide ? "fd-dialog fd-dialog--wide" : "fd-dialog"}
      aria-label={title}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <div className="fd-dialog__head">
        <h2>{title}</h2>
        <button type="button" className="fd-icon" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      {children}
    </dialog>
  );
}

export function SaveDialog({
  existing,
  initialMessage,
  onSave,
  onClose,
}: {
  existing: boolean;
  initialMessage: string;
  onSave: (message: string) => Promise<void>;
  onClose: () => void;
}) {
  const [message, setMessage] = useState(initialMessage);
  const [busy, setBusy] = useState(false);
  return (
    <Modal title={existing ? "Save a new version" : "Create the workflow"} onClose={onClose}>
      <form
        className="fd-form"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          try {
            await onSave(message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="fd-save-message">Message</label>
        <input
          id="fd-save-message"
          name="message"
          autoFocus
          maxLength={500}
          placeholder={existing ? "What changed" : "created"}
          value={message}
          onChange={(event) => setMessage(event.target.value)}
        />
        <div className="fd-dialog__actions">
          <button type="submit" className="fd-primary" disabled={busy}>
            {busy ? "Saving…" : existing ? "Save version" : "Create"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function RunDialog({ workflowId, doc, version, onClose }: { workflowId: number; doc: Doc; version: number | null; onClose: () => void }) {
  const parameters = useMemo(() => parametersOf(doc), [doc]);
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(parameters.map((parameter) => [parameter.name, parameter.default ?? ""])),
  );
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setErrors([]);
    try {
      const supplied = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== ""));
      const run = await api<{ id: number }>(`/api/workflows/${workflowId}/runs/`, {
        method: "POST",
        body: { parameters: supplied },
      });
      window.location.assign(`/runs/${run.id}/`);
    } catch (error) {
      setBusy(false);
      setErrors(errorsOf(error));
    }
  };
  return (
    <Modal title={`Run${version ? ` v${version}` : ""}`} onClose={onClose}>
      <form
        className="fd-form"
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        {parameters.length === 0 ? <p className="fd-hint">This workflow takes no parameters.</p> : null}
        {parameters.map((parameter) => (
          <div className="fd-field" key={parameter.name}>
            <label htmlFor={`fd-param-${parameter.name}`}>
              {parameter.name}
              {parameter.default === undefined ? <span className="fd-hint"> (required)</span> : null}
            </label>
            <input
              id={`fd-param-${parameter.name}`}
              name={`param.${parameter.name}`}
              value={values[parameter.name] ?? ""}
              required={parameter.default === undefined}
              onChange={(event) => setValues({ ...values, [parameter.name]: event.target.value })}
            />
            {parameter.description ? <small className="fd-hint">{parameter.description}</small> : null}
          </div>
        ))}
        <ErrorList errors={errors} />
        <div className="fd-dialog__actions">
          <button type="submit" className="fd-primary" disabled={busy}>
            {busy ? "Starting…" : "Start run"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function ErrorList({ errors }: { errors: FieldError[] }) {
  if (errors.length === 0) return null;
  return (
    <ul className="fd-field-errors" role="alert">
      {errors.map((error, index) => (
        <li key={index} data-error-path={error.path}>
          {error.path ? <code>{error.path}</code> : null} {error.message}
        </li>
      ))}
    </ul>
  );
}

/** The problems an API error carries, as path + message. */
export function errorsOf(error: unknown): FieldError[] {
  if (error instanceof ApiError) {
    const body = error.body;
    if (isObj(body) && Array.isArray(body.errors)) return body.errors as FieldError[];
    if (isObj(body) && !("detail" in body)) {
      return Object.entries(body).map(([path, messages]) => ({
        path,
        message: Array.isArray(messages) ? messages.join(" ") : String(messages),
      }));
    }
    return [{ path: "", message: error.message }];
  }
  return [{ path: "", message: error instanceof Error ? error.message : String(error) }];
}

interface VersionSummary {
  number: number;
  message: string;
  author: string | null;
  created_at: string;
  /** "argo" for a version converted from an Argo file (its original kept). */
  source_format?: string | null;
}

export function HistoryDialog({
  workflowId,
  onRestore,
  onClose,
}: {
  workflowId: number;
  /** Absent for a viewer: versions are compared, not restored. */
  onRestore?: (doc: Doc, number: number) => void;
  onClose: () => void;
}) {
  const [versions, setVersions] = useState<VersionSummary[] | null>(null);
  const [left, setLeft] = useState<number | null>(null);
  const [right, setRight] = useState<number | null>(null);
  const [documents, setDocuments] = useState<Record<number, Doc>>({});
  const [error, setError] = useState("");
  // The version whose Argo original is shown under its row.
  const [original, setOriginal] = useState<number | null>(null);

  useEffect(() => {
    api<{ results: VersionSummary[] }>(`/api/workflows/${workflowId}/versions/`)
      .then((page) => {
        setVersions(page.results);
        setRight(page.results[0]?.number ?? null);
        setLeft(page.results[1]?.number ?? page.results[0]?.number ?? null);
      })
      .catch((failure) => setError(String(failure)));
  }, [workflowId]);

  useEffect(() => {
    for (const number of [left, right]) {
      if (number === null || documents[number]) continue;
      api<{ document: Doc }>(`/api/workflows/${workflowId}/versions/${number}/`)
        .then((version) => setDocuments((current) => ({ ...current, [number]: canonical(version.document) })))
        .catch((failure) => setError(String(failure)));
    }
  }, [left, right, documents, workflowId]);

  const rows: DiffRow[] | null = useMemo(() => {
    if (left === null || right === null || !documents[left] || !documents[right]) return null;
    return diffLines(toText(documents[left], "yaml"), toText(documents[right], "yaml"));
  }, [left, right, documents]);
  const changes = rows?.filter((row) => row.kind !== "same").length ?? 0;

  const picker = (label: string, value: number | null, set: (n: number) => void) => (
    <label className="fd-inline">
      {label}{" "}
      <select aria-label={`${label} version`} value={value ?? ""} onChange={(event) => set(Number(event.target.value))}>
        {(versions ?? []).map((version) => (
          <option key={version.number} value={version.number}>
            v{version.number} {version.message ? `— ${version.message.slice(0, 40)}` : ""}
          </option>
        ))}
      </select>
    </label>
  );

  return (
    <Modal title="Version history" onClose={onClose} wide>
      {error ? <p role="alert" className="fd-field-errors">{error}</p> : null}
      {versions === null ? <p>Loading…</p> : null}
      {versions && versions.length > 0 ? (
        <>
          <table className="fd-versions">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Message</th>
                <th scope="col">Author</th>
                <th scope="col">Saved</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {versions.map((version) => (
                <Fragment key={version.number}>
                <tr data-version={version.number}>
                  <td>v{version.number}</td>
                  <td>
                    {version.message}
                    {version.source_format === "argo" ? (
                      <>
                        {" "}
                        <span className="fd-tag" data-testid="converted-from-argo">
                          Converted from Argo
                        </span>{" "}
                        <button
                          type="button"
                          className="fd-link"
                          aria-expanded={original === version.number}
                          onClick={() => setOriginal(original === version.number ? null : version.number)}
                        >
                          {original === version.number ? "Hide the original" : "View the original"}
                        </button>
                      </>
                    ) : null}
                  </td>
                  <td>{version.author ?? "—"}</td>
                  <td>{new Date(version.created_at).toLocaleString()}</td>
                  <td>
                    {onRestore ? (
                      <button
                        type="button"
                        onClick={async () => {
                          const doc =
                            documents[version.number] ??
                            (await api<{ document: Doc }>(`/api/workflows/${workflowId}/versions/${version.number}/`)).document;
                          onRestore(doc, version.number);
                        }}
                      >
                        Restore this version
                      </button>
                    ) : null}
                  </td>
                </tr>
                {original === version.number ? (
                  <tr>
                    <td colSpan={5}>
                      <ArgoOriginal workflowId={workflowId} number={version.number} />
                    </td>
                  </tr>
                ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
          <div className="fd-row">
            {picker("Compare", left, setLeft)}
            {picker("with", right, setRight)}
            <span className="fd-hint">{rows ? `${changes} changed line${changes === 1 ? "" : "s"}` : "Loading…"}</span>
          </div>
          {rows ? <DiffTable rows={rows} left={left!} right={right!} /> : null}
        </>
      ) : null}
    </Modal>
  );
}

function DiffTable({ rows, left, right }: { rows: DiffRow[]; left: number; right: number }) {
  return (
    <div className="fd-diff" role="region" aria-label={`Differences between v${left} and v${right}`} tabIndex={0}>
      <table>
        <thead>
          <tr>
            <th colSpan={2}>v{left}</th>
            <th colSpan={2}>v{right}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row, index) => (
            <tr key={index} className={`fd-diff--${row.kind}`}>
              <td className="fd-diff__n">{row.left?.number ?? ""}</td>
              <td className="fd-diff__l">{row.left?.text ?? ""}</td>
              <td className="fd-diff__n">{row.right?.number ?? ""}</td>
              <td className="fd-diff__r">{row.right?.text ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
