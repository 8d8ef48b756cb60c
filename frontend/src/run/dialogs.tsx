// The one-click actions that ask first: retry (showing what will run again),
// cancel, resubmit with editable parameters, and debug one task.
import { type FormEvent, useEffect, useState } from "react";

import { ApiError, api } from "../common/api";
import { urls } from "./config";
import { CommandFields } from "../editor/CommandFields";
import type { Completion } from "../editor/dataflow";
import { debugCommands, type DebugFields, debugFields, debugOverrides, type DebugResponse, parseParameter } from "./forms";
import type { Run } from "./types";
import { Modal, showValue } from "./ui";

const NO_COMPLETIONS: Completion[] = [];

export interface RetryResponse {
  run: Run;
  rerun: string[];
}

function message(error: unknown): string {
  if (error instanceof ApiError) {
    const body = error.body as { errors?: { path: string; message: string }[] } | null;
    const details = body?.errors?.map((e) => `${e.path}: ${e.message}`).join("; ");
    return details ? `${error.message} (${details})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function ErrorText({ error }: { error: string }) {
  return error ? (
    <p className="fd-error" role="alert">
      {error}
    </p>
  ) : null;
}

export function RetryDialog(props: {
  runId: number;
  task?: string;
  onClose: () => void;
  onDone: (response: RetryResponse) => void;
}) {
  const { runId, task, onClose, onDone } = props;
  const [preview, setPreview] = useState<string[] | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api<{ tasks: string[] }>(urls.retryPreview(runId, task))
      .then((answer) => setPreview(answer.tasks))
      .catch((failure) => setError(message(failure)));
  }, [runId, task]);
  const confirm = async () => {
    setBusy(true);
    setError("");
    try {
      const answer = await api<RetryResponse>(task ? urls.retryTask(runId, task) : urls.retry(runId), { method: "POST" });
      onDone(answer);
    } catch (failure) {
      setError(message(failure));
      setBusy(false);
    }
  };
  return (
    <Modal title={task ? `Retry from ${task}` : "Retry the run"} onClose={onClose}>
      {preview === null && !error ? <p className="muted">Finding what would run again…</p> : null}
      {preview !== null ? (
        preview.length ? (
          <>
            <p>
              These {preview.length} task{preview.length === 1 ? "" : "s"} will run again
              {task ? "" : "; succeeded tasks keep their results"}:
            </p>
            <ul className="fd-rerun" data-testid="retry-preview">
              {preview.slice(0, 200).map((name) => (
                <li key={name}>
                  <code>{name}</code>
                </li>
              ))}
              {preview.length > 200 ? <li className="muted">… and {preview.length - 200} more</li> : null}
            </ul>
          </>
        ) : (
          <p>Nothing would run again.</p>
        )
      ) : null}
      <ErrorText error={error} />
      <div className="fd-modal__actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
        <button type="button" className="primary" disabled={busy || !preview?.length} onClick={confirm}>
          Confirm retry
        </button>
      </div>
    </Modal>
  );
}

export function CancelDialog(props: { runId: number; onClose: () => void; onDone: (run: Run) => void }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const confirm = async () => {
    setBusy(true);
    try {
      props.onDone(await api<Run>(urls.cancel(props.runId), { method: "POST" }));
    } catch (failure) {
      setError(message(failure));
      setBusy(false);
    }
  };
  return (
    <Modal title="Cancel the run" onClose={props.onClose}>
      <p>Running attempts are stopped and nothing new starts.</p>
      <ErrorText error={error} />
      <div className="fd-modal__actions">
        <button type="button" onClick={props.onClose}>
          Keep running
        </button>
        <button type="button" className="danger" disabled={busy} onClick={confirm}>
          Cancel run
        </button>
      </div>
    </Modal>
  );
}

export function ResubmitDialog(props: {
  runId: number;
  parameters: Record<string, unknown>;
  onClose: () => void;
  onDone: (run: Run) => void;
}) {
  const names = Object.keys(props.parameters);
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(names.map((name) => [name, showValue(props.parameters[name])])),
  );
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    const parameters = Object.fromEntries(names.map((name) => [name, parseParameter(values[name], props.parameters[name])]));
    try {
      props.onDone(await api<Run>(urls.resubmit(props.runId), { method: "POST", body: { parameters } }));
    } catch (failure) {
      setError(message(failure));
      setBusy(false);
    }
  };
  return (
    <Modal title="Resubmit" onClose={props.onClose}>
      <form onSubmit={submit} className="fd-form">
        <p className="muted">A new run of the same version.</p>
        {names.length === 0 ? <p className="muted">This run has no parameters.</p> : null}
        {names.map((name) => (
          <label key={name}>
            <span>
              <code>{name}</code>
            </span>
            <input
              name={`param.${name}`}
              value={values[name]}
              onChange={(event) => setValues({ ...values, [name]: event.target.value })}
            />
          </label>
        ))}
        <ErrorText error={error} />
        <div className="fd-modal__actions">
          <button type="button" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" className="primary" disabled={busy}>
            Start new run
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function DebugDialog(props: { runId: number; task: string; workflowId: number; version: number; onClose: () => void }) {
  const { runId, task, workflowId, version } = props;
  // The task's own fields, read from the run's version, are where the form starts.
  const [original, setOriginal] = useState<DebugFields | null>(null);
  const [fields, setFields] = useState<DebugFields | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState<DebugResponse | null>(null);
  useEffect(() => {
    let cancelled = false;
    api<{ document: unknown }>(urls.version(workflowId, version))
      .then((body) => {
        if (cancelled) return;
        const own = debugFields(body.document, task);
        setOriginal(own);
        setFields(own);
      })
      .catch((failure) => {
        if (cancelled) return;
        const empty = { command: [], args: [], env: "", image: "" };
        setOriginal(empty);
        setFields(empty);
        setError(`Could not read the task's own command (${message(failure)}): empty fields keep it.`);
      });
    return () => {
      cancelled = true;
    };
  }, [workflowId, version, task]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!original || !fields) return;
    setBusy(true);
    setError("");
    try {
      setAnswer(await api<DebugResponse>(urls.debug(runId, task), { method: "POST", body: debugOverrides(original, fields) }));
    } catch (failure) {
      setError(message(failure));
    } finally {
      setBusy(false);
    }
  };
  if (answer) {
    const commands = debugCommands(answer);
    return (
      <Modal title={`Debugging ${props.task}`} onClose={props.onClose}>
        <p>
          Started <a href={urls.page(answer.id)}>run #{answer.id}</a> with only this task.
        </p>
        {commands.map(({ label, text }) => (
          <div className="fd-copy" key={label}>
            <span className="muted">{label}</span>
            <pre>{text}</pre>
            <button type="button" className="small" onClick={() => navigator.clipboard?.writeText(text)}>
              Copy
            </button>
          </div>
        ))}
        {answer.commands?.note ? <p className="muted">{answer.commands.note}</p> : null}
      </Modal>
    );
  }
  return (
    <Modal title={`Debug ${props.task}`} onClose={props.onClose}>
      <form onSubmit={submit} className="fd-form">
        <p className="muted">
          Run this task alone in a new run of the same version with an overridden command, arguments, environment or
          image — for example the command <code>sleep 3600</code> to keep its container up and exec into it. The fields
          start as the task's own; only what you change is overridden.
        </p>
        {fields ? (
          <>
            <CommandFields
              command={fields.command}
              args={fields.args}
              completions={NO_COMPLETIONS}
              referenceHints={false}
              onCommand={(command) => setFields({ ...fields, command })}
              onArgs={(args) => setFields({ ...fields, args })}
            />
            <label className="fd-field">
              <span>Environment (KEY=value a line; secret variables are kept)</span>
              <textarea name="env" rows={3} value={fields.env} onChange={(event) => setFields({ ...fields, env: event.target.value })} />
            </label>
            <label className="fd-field">
              <span>Image</span>
              <input name="image" value={fields.image} onChange={(event) => setFields({ ...fields, image: event.target.value })} />
            </label>
          </>
        ) : (
          <p className="muted" role="status">
            Reading the task…
          </p>
        )}
        <ErrorText error={error} />
        <div className="fd-modal__actions">
          <button type="button" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" className="primary" disabled={busy || !fields}>
            Start debug run
          </button>
        </div>
      </form>
    </Modal>
  );
}
