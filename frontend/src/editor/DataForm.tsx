// The form's parts for data between tasks (docs/spec.md): a task's outputs
// and input artifacts, and the workflow's outputs. Each entry shows the
// server's errors for its path; artifacts are picked from what upstream
// tasks declare, references typed with completions.
import { useState } from "react";

import {
  canonical,
  INPUT_ARTIFACT_SHAPE,
  OUTPUT_ARTIFACT_SHAPE,
  OUTPUT_PARAMETER_SHAPE,
  OUTPUTS_SHAPE,
  RUN_OUTPUT_ARTIFACT_SHAPE,
  RUN_OUTPUT_PARAMETER_SHAPE,
  RUN_OUTPUTS_SHAPE,
} from "./canonical";
import { type ArtifactChoice, type Completion, followName, INPUTS_DIR, OUTPUTS_DIR } from "./dataflow";
import { type PlacedError } from "./errors";
import { Field, FieldErrors, TextInput } from "./fields";
import { type Obj, getIn, isObj, setField, setIn } from "./model";
import { ReferenceField } from "./ReferenceField";

const str = (value: unknown) => (value === undefined || value === null ? "" : String(value));
const listOf = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObj) : []);
type Under = (field: string) => PlacedError[];

/** Errors under `field` that no entry of `lists` shows already. */
function rest(under: Under, field: string, lists: string[]): PlacedError[] {
  const shown = new RegExp(`^${field.replace(/\./g, "\\.")}\\.(${lists.join("|")})\\[\\d+\\]`);
  return under(field).filter((error) => !shown.test(error.field) && !shown.test(error.path));
}

/** A task's `outputs`: its result's source, output parameters and artifacts. */
export function TaskOutputsFields({ task, under, onSet }: { task: Obj; under: Under; onSet: (outputs: Obj) => void }) {
  const outputs = isObj(task.outputs) ? task.outputs : {};
  const resultPath = getIn(outputs, ["result", "valueFrom", "path"]);
  // Checked with the path still empty: clearing it to type another must not uncheck.
  const [wantFile, setWantFile] = useState(false);
  const fromFile = wantFile || resultPath !== undefined;
  const parameters = listOf(outputs.parameters);
  const artifacts = listOf(outputs.artifacts);
  const put = (key: string, value: unknown) => onSet(canonical(setField(outputs, key, value), OUTPUTS_SHAPE));
  const setParameters = (next: Obj[]) => put("parameters", next.map((item) => canonical(item, OUTPUT_PARAMETER_SHAPE)));
  const setArtifacts = (next: Obj[]) => put("artifacts", next.map((item) => canonical(item, OUTPUT_ARTIFACT_SHAPE)));
  const invalid = (field: string) => under(field).length > 0;

  return (
    <fieldset className="fd-list" data-section="outputs">
      <legend>Outputs</legend>
      <p className="fd-hint">
        What this task leaves for the tasks after it: files it writes under <code>{OUTPUTS_DIR}/</code> (
        <code>$FLOWDECK_OUTPUTS</code>).
      </p>
      <label className="fd-check">
        <input
          type="checkbox"
          checked={fromFile}
          onChange={(event) => {
            setWantFile(event.target.checked);
            put("result", event.target.checked ? { valueFrom: { path: `${OUTPUTS_DIR}/result` } } : undefined);
          }}
        />
        Result from a file
      </label>
      {fromFile ? (
        <Field label="Result file" errors={under("outputs.result")}>
          {(props) => (
            <TextInput
              {...props}
              name="result-path"
              placeholder={`${OUTPUTS_DIR}/result`}
              value={str(resultPath)}
              onChange={(value) => put("result", value ? { valueFrom: { path: value } } : undefined)}
            />
          )}
        </Field>
      ) : (
        <small className="fd-hint">Its result is its log, trimmed (kept when a task or the run reads it).</small>
      )}

      <h3 className="fd-subhead">Output parameters</h3>
      {parameters.map((parameter, index) => {
        const at = `outputs.parameters[${index}]`;
        const change = (path: string[], value: unknown) =>
          setParameters(parameters.map((item, i) => (i === index ? setIn(item, path, value) : item)));
        const n = index + 1;
        return (
          <div className="fd-env" key={index} data-output-parameter={index}>
            <div className="fd-row">
              <input
                aria-label={`Output parameter ${n} name`}
                placeholder="name"
                value={str(parameter.name)}
                aria-invalid={invalid(`${at}.name`)}
                onChange={(event) => {
                  const path = followName(str(getIn(parameter, ["valueFrom", "path"])), str(parameter.name), event.target.value);
                  setParameters(
                    parameters.map((item, i) =>
                      i === index ? setIn(setField(item, "name", event.target.value), ["valueFrom", "path"], path) : item,
                    ),
                  );
                }}
              />
              <label className="fd-check">
                <input type="checkbox" checked={parameter.secret === true} onChange={(event) => change(["secret"], event.target.checked || undefined)} />
                secret
              </label>
              <button type="button" className="fd-icon" aria-label={`Remove output parameter ${n}`} onClick={() => setParameters(parameters.filter((_, i) => i !== index))}>
                ×
              </button>
            </div>
            <input
              aria-label={`Output parameter ${n} file`}
              title="The file the task writes the value to"
              placeholder={`${OUTPUTS_DIR}/name`}
              value={str(getIn(parameter, ["valueFrom", "path"]))}
              aria-invalid={invalid(`${at}.valueFrom.path`)}
              onChange={(event) => change(["valueFrom", "path"], event.target.value)}
            />
            <input
              aria-label={`Output parameter ${n} default`}
              placeholder="default, if the task writes no file"
              value={str(getIn(parameter, ["valueFrom", "default"]))}
              onChange={(event) => change(["valueFrom", "default"], event.target.value)}
            />
            <input
              aria-label={`Output parameter ${n} description`}
              placeholder="description"
              value={str(parameter.description)}
              onChange={(event) => change(["description"], event.target.value)}
            />
            <FieldErrors id={`out-param-${index}`} errors={under(at)} />
          </div>
        );
      })}
      <button type="button" className="fd-add" onClick={() => setParameters([...parameters, { name: "", valueFrom: { path: "" } }])}>
        + Add output parameter
      </button>

      <h3 className="fd-subhead">Artifacts</h3>
      {artifacts.map((artifact, index) => {
        const at = `outputs.artifacts[${index}]`;
        const change = (key: string, value: unknown) => setArtifacts(artifacts.map((item, i) => (i === index ? setField(item, key, value) : item)));
        const n = index + 1;
        return (
          <div className="fd-env" key={index} data-output-artifact={index}>
            <div className="fd-row">
              <input
                aria-label={`Artifact ${n} name`}
                placeholder="name"
                value={str(artifact.name)}
                aria-invalid={invalid(`${at}.name`)}
                onChange={(event) =>
                  setArtifacts(
                    artifacts.map((item, i) =>
                      i === index
                        ? setField(setField(item, "name", event.target.value), "path", followName(str(item.path), str(item.name), event.target.value))
                        : item,
                    ),
                  )
                }
              />
              <button type="button" className="fd-icon" aria-label={`Remove artifact ${n}`} onClick={() => setArtifacts(artifacts.filter((_, i) => i !== index))}>
                ×
              </button>
            </div>
            <input
              aria-label={`Artifact ${n} path`}
              title="The file or directory the task writes"
              placeholder={`${OUTPUTS_DIR}/file.csv`}
              value={str(artifact.path)}
              aria-invalid={invalid(`${at}.path`)}
              onChange={(event) => change("path", event.target.value)}
            />
            <label className="fd-check">
              <input type="checkbox" checked={artifact.optional === true} onChange={(event) => change("optional", event.target.checked || undefined)} />
              optional: a missing file is no error
            </label>
            <FieldErrors id={`out-artifact-${index}`} errors={under(at)} />
          </div>
        );
      })}
      <button type="button" className="fd-add" onClick={() => setArtifacts([...artifacts, { name: "", path: "" }])}>
        + Add artifact
      </button>
      <FieldErrors id="outputs-errors" errors={rest(under, "outputs", ["parameters", "artifacts"]).filter((error) => !error.field.startsWith("outputs.result"))} />
    </fieldset>
  );
}

function ArtifactSelect({
  value,
  choices,
  label,
  invalid,
  onChange,
}: {
  value: string;
  choices: ArtifactChoice[];
  label: string;
  invalid: boolean;
  onChange: (choice: ArtifactChoice | null, value: string) => void;
}) {
  const known = choices.some((choice) => choice.value === value);
  return (
    <select
      aria-label={label}
      aria-invalid={invalid}
      value={value}
      onChange={(event) => onChange(choices.find((choice) => choice.value === event.target.value) ?? null, event.target.value)}
    >
      <option value="">{choices.length ? "Choose an artifact" : "No artifact to choose"}</option>
      {choices.map((choice) => (
        <option key={choice.value} value={choice.value}>
          {choice.task} → {choice.artifact}
        </option>
      ))}
      {value && !known ? <option value={value}>{value} (not offered upstream)</option> : null}
    </select>
  );
}

/** A task's `inputs.artifacts`: upstream artifacts placed at a path before it starts. */
export function TaskInputsFields({
  task,
  choices,
  under,
  onSet,
}: {
  task: Obj;
  choices: ArtifactChoice[];
  under: Under;
  onSet: (inputs: Obj) => void;
}) {
  const inputs = isObj(task.inputs) ? task.inputs : {};
  const items = listOf(inputs.artifacts);
  const setItems = (next: Obj[]) =>
    onSet(setField(inputs, "artifacts", next.map((item) => canonical(item, INPUT_ARTIFACT_SHAPE))));
  return (
    <fieldset className="fd-list" data-section="inputs">
      <legend>Input artifacts</legend>
      {choices.length === 0 ? (
        <p className="fd-hint">No task upstream of this one declares an artifact: add one to a task this one runs after.</p>
      ) : null}
      {items.map((item, index) => {
        const at = `inputs.artifacts[${index}]`;
        const n = index + 1;
        const change = (key: string, value: unknown) => setItems(items.map((entry, i) => (i === index ? setField(entry, key, value) : entry)));
        return (
          <div className="fd-env" key={index} data-input-artifact={index}>
            <div className="fd-row">
              <input
                aria-label={`Input ${n} name`}
                placeholder="name"
                value={str(item.name)}
                aria-invalid={under(`${at}.name`).length > 0}
                onChange={(event) => change("name", event.target.value)}
              />
              <button type="button" className="fd-icon" aria-label={`Remove input ${n}`} onClick={() => setItems(items.filter((_, i) => i !== index))}>
                ×
              </button>
            </div>
            <ArtifactSelect
              label={`Input ${n} from`}
              value={str(item.from)}
              choices={choices}
              invalid={under(`${at}.from`).length > 0}
              onChange={(choice, value) => {
                let next = setField(item, "from", value);
                if (choice && !str(item.name)) next = setField(next, "name", choice.artifact);
                if (choice && !str(item.path)) next = setField(next, "path", `${INPUTS_DIR}/${choice.basename}`);
                setItems(items.map((entry, i) => (i === index ? next : entry)));
              }}
            />
            <div className="fd-row">
              <input
                aria-label={`Input ${n} path`}
                title="Where the file is placed before the task starts"
                placeholder={`${INPUTS_DIR}/file.csv`}
                value={str(item.path)}
                aria-invalid={under(`${at}.path`).length > 0}
                onChange={(event) => change("path", event.target.value)}
              />
              <label className="fd-check">
                <input type="checkbox" checked={item.optional === true} onChange={(event) => change("optional", event.target.checked || undefined)} />
                optional
              </label>
            </div>
            <FieldErrors id={`in-artifact-${index}`} errors={under(at)} />
          </div>
        );
      })}
      <button type="button" className="fd-add" onClick={() => setItems([...items, { name: "", from: "", path: "" }])}>
        + Add input artifact
      </button>
      <FieldErrors id="inputs-errors" errors={rest(under, "inputs", ["artifacts"])} />
    </fieldset>
  );
}

/** The workflow's `spec.outputs`: what a run returns, from any task's outputs. */
export function WorkflowOutputsFields({
  outputs,
  completions,
  choices,
  under,
  onSet,
}: {
  outputs: unknown;
  completions: Completion[];
  choices: ArtifactChoice[];
  under: Under;
  onSet: (outputs: Obj) => void;
}) {
  const current = isObj(outputs) ? outputs : {};
  const parameters = listOf(current.parameters);
  const artifacts = listOf(current.artifacts);
  const put = (key: string, value: unknown) => onSet(canonical(setField(current, key, value), RUN_OUTPUTS_SHAPE));
  const setParameters = (next: Obj[]) => put("parameters", next.map((item) => canonical(item, RUN_OUTPUT_PARAMETER_SHAPE)));
  const setArtifacts = (next: Obj[]) => put("artifacts", next.map((item) => canonical(item, RUN_OUTPUT_ARTIFACT_SHAPE)));
  return (
    <fieldset className="fd-list" data-section="run-outputs">
      <legend>Outputs</legend>
      <p className="fd-hint">What a run returns once it succeeds, shown on its page. Type {"{{"} to pick a task's output.</p>
      {parameters.map((parameter, index) => {
        const at = `spec.outputs.parameters[${index}]`;
        const n = index + 1;
        const change = (key: string, value: unknown) => setParameters(parameters.map((item, i) => (i === index ? setField(item, key, value) : item)));
        return (
          <div className="fd-env" key={index} data-run-output-parameter={index}>
            <div className="fd-row">
              <input aria-label={`Output ${n} name`} placeholder="name" value={str(parameter.name)} aria-invalid={under(`${at}.name`).length > 0} onChange={(event) => change("name", event.target.value)} />
              <button type="button" className="fd-icon" aria-label={`Remove output ${n}`} onClick={() => setParameters(parameters.filter((_, i) => i !== index))}>
                ×
              </button>
            </div>
            <ReferenceField
              aria-label={`Output ${n} value`}
              placeholder="{{tasks.name.outputs.result}}"
              value={str(parameter.value)}
              aria-invalid={under(`${at}.value`).length > 0}
              completions={completions}
              onChange={(value) => change("value", value)}
            />
            <input aria-label={`Output ${n} description`} placeholder="description" value={str(parameter.description)} onChange={(event) => change("description", event.target.value)} />
            <FieldErrors id={`run-out-${index}`} errors={under(at)} />
          </div>
        );
      })}
      <button type="button" className="fd-add" onClick={() => setParameters([...parameters, { name: "", value: "" }])}>
        + Add output
      </button>
      {artifacts.map((artifact, index) => {
        const at = `spec.outputs.artifacts[${index}]`;
        const n = index + 1;
        const change = (key: string, value: unknown) => setArtifacts(artifacts.map((item, i) => (i === index ? setField(item, key, value) : item)));
        return (
          <div className="fd-env" key={index} data-run-output-artifact={index}>
            <div className="fd-row">
              <input aria-label={`Output artifact ${n} name`} placeholder="name" value={str(artifact.name)} aria-invalid={under(`${at}.name`).length > 0} onChange={(event) => change("name", event.target.value)} />
              <ArtifactSelect
                label={`Output artifact ${n} from`}
                value={str(artifact.from)}
                choices={choices}
                invalid={under(`${at}.from`).length > 0}
                onChange={(choice, value) => {
                  let next = setField(artifact, "from", value);
                  if (choice && !str(artifact.name)) next = setField(next, "name", choice.artifact);
                  setArtifacts(artifacts.map((item, i) => (i === index ? next : item)));
                }}
              />
              <button type="button" className="fd-icon" aria-label={`Remove output artifact ${n}`} onClick={() => setArtifacts(artifacts.filter((_, i) => i !== index))}>
                ×
              </button>
            </div>
            <FieldErrors id={`run-out-artifact-${index}`} errors={under(at)} />
          </div>
        );
      })}
      <button type="button" className="fd-add" onClick={() => setArtifacts([...artifacts, { name: "", from: "" }])} disabled={choices.length === 0} title={choices.length ? undefined : "No task declares an artifact yet"}>
        + Add output artifact
      </button>
      <FieldErrors id="run-outputs-errors" errors={rest(under, "spec.outputs", ["parameters", "artifacts"])} />
    </fieldset>
  );
}
