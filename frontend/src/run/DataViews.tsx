// The data between tasks on the run page: the task drawer's Inputs / Outputs
// tab and the run's outputs in the header. Values come pretty-printed and
// folded (outputs.ts); artifacts with their size, checksum and a download link
// to the API, which streams them.
import { useEffect, useId, useState } from "react";

import { api } from "../common/api";
import { urls } from "./config";
import {
  type Artifact,
  emptyReason,
  fold,
  formatBytes,
  hasRunOutputs,
  hasTaskData,
  type RunOutputs,
  shortSha,
  showValue,
  type TaskOutputs,
} from "./outputs";

const MASK = "••••••";

/** One value: masked when secret, JSON pretty-printed, folded past a dozen lines. */
export function ValueView({ value, secret = false, label }: { value: string; secret?: boolean; label: string }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  if (secret) {
    return (
      <p className="fd-value fd-value--secret" data-field="value">
        <span aria-label={`${label}: secret, not shown`}>{MASK}</span> <span className="fd-tag">secret</span>
      </p>
    );
  }
  if (value === "") {
    return (
      <p className="fd-value fd-value--empty muted" data-field="value">
        (empty)
      </p>
    );
  }
  const shown = showValue(value);
  const folded = fold(shown.text);
  return (
    <div className="fd-value-box">
      <pre className="fd-value" id={id} data-field="value" data-json={shown.json || undefined} aria-label={label}>
        {open || !folded.folded ? shown.text : folded.head}
      </pre>
      {folded.folded ? (
        <button type="button" className="link small" aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)}>
          {open ? "Show less" : `Show all ${folded.lines} line${folded.lines === 1 ? "" : "s"}`}
        </button>
      ) : null}
    </div>
  );
}

/** Put `text` on the clipboard: the Clipboard API where the page is a secure
 * context, else the older copy command (a Flowdeck served over plain HTTP on
 * an intranet has no navigator.clipboard). */
async function copyText(text: string): Promise<void> {
  if (navigator.clipboard) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("the browser refused to copy");
}

/** The first digits of a sha256, the whole on hover and a button to copy it. */
export function Checksum({ sha256, name }: { sha256: string; name: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const timer = setTimeout(() => setCopied(false), 1500);
    return () => clearTimeout(timer);
  }, [copied]);
  return (
    <span className="fd-sha">
      sha256 <code title={sha256} data-sha256={sha256}>{shortSha(sha256)}</code>
      <button
        type="button"
        className="link small"
        aria-label={`Copy the sha256 of ${name}`}
        onClick={() => {
          copyText(sha256).then(
            () => setCopied(true),
            () => undefined,
          );
        }}
      >
        {copied ? "copied" : "copy"}
      </button>
      <span className="visually-hidden" role="status">
        {copied ? "Copied" : ""}
      </span>
    </span>
  );
}

function ArtifactCard({
  artifact,
  detail,
  label,
  named = true,
}: {
  artifact: Artifact;
  detail?: React.ReactNode;
  label: string;
  /** Show the name (false where the row names it already). */
  named?: boolean;
}) {
  return (
    <div className="fd-artifact" data-artifact={label}>
      <div className="fd-artifact__head">
        {named ? <strong>{label}</strong> : null}
        <span className={named ? "muted" : undefined}>{artifact.filename}{artifact.directory ? " (a directory, as .tar.gz)" : ""}</span>
        <a className="button small" href={artifact.url} download={artifact.filename || undefined} aria-label={`Download ${label} (${artifact.filename}, ${formatBytes(artifact.size)})`}>
          Download
        </a>
      </div>
      <div className="fd-artifact__facts">
        <span data-field="size" title={`${artifact.size} bytes`}>{formatBytes(artifact.size)}</span>
        <Checksum sha256={artifact.sha256} name={label} />
        {detail}
      </div>
    </div>
  );
}

/** The drawer's Inputs / Outputs tab for one attempt; read again whenever the
 * attempt's status changes (inputs are recorded as it starts, outputs as it
 * succeeds), so it fills in live. */
export function TaskData({ runId, task, attempt, status }: { runId: number; task: string; attempt: number; status: string }) {
  const [loaded, setLoaded] = useState<{ attempt: number; data: TaskOutputs } | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!attempt) return;
    let current = true;
    setError("");
    api<TaskOutputs>(urls.outputs(runId, task, attempt))
      .then((data) => current && setLoaded({ attempt, data }))
      .catch((failure) => current && setError(String(failure instanceof Error ? failure.message : failure)));
    return () => {
      current = false;
    };
  }, [runId, task, attempt, status]);

  if (!attempt) return <p className="muted">No attempt yet: inputs are read when the task starts, outputs kept when it succeeds.</p>;
  if (error) return <p className="fd-error" role="alert">Could not read the outputs: {error}</p>;
  if (!loaded || loaded.attempt !== attempt) return <p className="muted" role="status">Loading the inputs and outputs…</p>;
  const data = loaded.data;
  const empty = !hasTaskData(data);
  const outputs = data.result !== null || data.parameters.length > 0 || data.artifacts.length > 0;
  return (
    <div className="fd-data" data-testid="task-data" data-attempt={attempt}>
      {empty ? <p className="muted" data-testid="no-data">{emptyReason(data.status)}</p> : null}
      {data.inputs.length ? (
        <section aria-label="Inputs">
          <h3>Inputs</h3>
          <ul className="fd-io">
            {data.inputs.map((input) => (
              <li key={input.reference} data-input={input.reference}>
                <div className="fd-io__head">
                  <code>{input.reference}</code>
                  <span className="muted">
                    from {input.task}, attempt {input.attempt}
                  </span>
                </div>
                <ValueView value={input.value} secret={input.secret} label={`The value of ${input.reference}`} />
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {data.input_artifacts.length ? (
        <section aria-label="Input artifacts">
          <h3>Input artifacts</h3>
          <ul className="fd-io">
            {data.input_artifacts.map((artifact) => (
              <li key={artifact.name}>
                <ArtifactCard
                  artifact={artifact}
                  label={artifact.name}
                  detail={
                    <span>
                      placed at <code data-field="path">{artifact.path}</code>, from {artifact.task}
                    </span>
                  }
                />
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {!empty ? (
        <section aria-label="Outputs">
          <h3>Outputs</h3>
          {!outputs ? <p className="muted">{emptyReason(data.status)}</p> : null}
          <ul className="fd-io">
            {data.result !== null ? (
              <li data-output="result">
                <div className="fd-io__head">
                  <strong>result</strong>
                  <code className="muted">{`{{tasks.${task}.outputs.result}}`}</code>
                </div>
                <ValueView value={data.result} label={`The result of ${task}`} />
              </li>
            ) : null}
            {data.parameters.map((parameter) => (
              <li key={parameter.name} data-output-parameter={parameter.name}>
                <div className="fd-io__head">
                  <strong>{parameter.name}</strong>
                  <code className="muted">{`{{tasks.${task}.outputs.parameters.${parameter.name}}}`}</code>
                  <span className="muted">{formatBytes(parameter.size)}</span>
                </div>
                <ValueView value={parameter.value} secret={parameter.secret} label={`The output parameter ${parameter.name}`} />
              </li>
            ))}
            {data.artifacts.map((artifact) => (
              <li key={artifact.name}>
                <ArtifactCard artifact={artifact} label={artifact.name} />
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </div>
  );
}

/** What the run returned (spec.outputs), in the header once it succeeded; an
 * output left out says why. */
export function RunOutputsView({ outputs }: { outputs: RunOutputs | undefined }) {
  if (!outputs || !hasRunOutputs(outputs)) return null;
  const parameters = Object.entries(outputs.parameters ?? {});
  const artifacts = Object.entries(outputs.artifacts ?? {});
  const missing = Object.entries(outputs.missing ?? {});
  return (
    <section className="fd-run-outputs" aria-labelledby="run-outputs-title" data-testid="run-outputs">
      <h2 id="run-outputs-title">Outputs</h2>
      <dl className="fd-returned">
        {parameters.map(([name, item]) => (
          <div key={name} className="fd-returned__row" data-run-output={name}>
            <dt>{name}</dt>
            <dd>
              <ValueView value={item.value} secret={item.secret} label={`The run's output ${name}`} />
            </dd>
          </div>
        ))}
        {artifacts.map(([name, item]) => (
          <div key={name} className="fd-returned__row">
            <dt>{name}</dt>
            <dd>
              <ArtifactCard
                label={name}
                named={false}
                artifact={{ name, size: item.size, sha256: item.sha256, filename: item.filename, url: item.url }}
                detail={<span>from {item.task}</span>}
              />
            </dd>
          </div>
        ))}
      </dl>
      {missing.length ? (
        <div className="fd-missing" data-testid="run-outputs-missing">
          <p>
            Not returned: the run succeeded, but {missing.length === 1 ? "this output was" : "these outputs were"} not
            there to take (an optional artifact that was not written, say):
          </p>
          <ul>
            {missing.map(([name, why]) => (
              <li key={name} data-missing={name}>
                <strong>{name}</strong>: {why}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}
