// The side panel for one task: every field a user needs to run a container,
// each showing the server's errors for its path.
import { useId, useState } from "react";

import type { Catalogue } from "./catalogue";
import { ControlFlowForm } from "./ControlFlowForm";
import { TaskInputsFields, TaskOutputsFields } from "./DataForm";
import { type TaskReferences } from "./dataflow";
import { type PlacedError, errorsUnder } from "./errors";
import { CommitInput, DurationInput, Field, FieldErrors, KeyValueList, QuantityInput } from "./fields";
import { type Obj, type Task, dependenciesOf, getIn, isObj, orderTaskKeys, setField, setIn, usesDepends } from "./model";
import { ReferenceField } from "./ReferenceField";
import { isSubWorkflow, toContainer, toSubWorkflow } from "./subworkflow";
import { SubWorkflowFields } from "./SubWorkflowForm";
import { CommandFields } from "./CommandFields";
import { CPU_UNITS, MEMORY_UNITS } from "./units";
import { WorkloadFields } from "./WorkloadForm";

export interface TaskFormProps {
  task: Task;
  others: string[];
  errors: PlacedError[] | undefined;
  /** What this server's backend cannot run (no command where images are ignored). */
  warnings?: PlacedError[];
  /** What its fields may refer to: parameters, upstream outputs and artifacts. */
  references: TaskReferences;
  onChange: (change: (task: Task) => Obj, key: string) => void;
  onRename: (name: string) => boolean;
  onDependency: (upstream: string, on: boolean) => void;
  onDelete: () => void;
  onDuplicate: () => void;
  /** In spec.onExit: runs once every other task has ended. */
  exitHandler: boolean;
  onExitHandler: (on: boolean) => void;
  /** The project's workflows, for a task that runs one. */
  catalogue: Catalogue;
  /** The name of the workflow being edited. */
  self: string;
}

export function toNumber(text: string): number | string | undefined {
  if (text.trim() === "") return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

const ENV_KINDS = [
  { value: "value", label: "value" },
  { value: "secret", label: "secret value" },
  { value: "secretKeyRef", label: "from a Secret" },
  { value: "configMapKeyRef", label: "from a ConfigMap" },
];

function envKind(entry: Obj): string {
  if (isObj(entry.valueFrom)) return isObj(entry.valueFrom.configMapKeyRef) ? "configMapKeyRef" : "secretKeyRef";
  return entry.secret ? "secret" : "value";
}

export function TaskForm(props: TaskFormProps) {
  const { task, others, errors, references, onChange, onRename, onDependency, onDelete, onDuplicate } = props;
  const { exitHandler, onExitHandler, catalogue, self } = props;
  const set = (path: string[], value: unknown) =>
    onChange((current) => orderTaskKeys(setIn(current, path, value)), path.join("."));
  const under = (field: string) => errorsUnder(errors, field);
  const str = (value: unknown) => (value === undefined || value === null ? "" : String(value));
  const env = Array.isArray(task.env) ? (task.env as unknown[]).filter(isObj) : [];
  const tolerations = Array.isArray(task.tolerations) ? (task.tolerations as unknown[]).filter(isObj) : [];
  const deps = dependenciesOf(task);
  // A depends expression names the tasks this one runs after (docs/spec.md);
  // dependencies listed beside one (from the text view) stay editable, to be removed.
  const locked = usesDepends(task) && !Array.isArray(task.dependencies);
  const whole = errors?.filter((error) => error.field === "") ?? [];
  const envId = useId();
  const tolId = useId();
  const retryOn = getIn(task, ["retry", "on"]);

  const sub = isSubWorkflow(task);
  // What switching to a sub-workflow took away (undo brings it back).
  const [removed, setRemoved] = useState<string[]>([]);
  const chooseKind = (next: "container" | "workflow") => {
    if ((next === "workflow") === sub) return;
    if (next === "workflow") {
      setRemoved(toSubWorkflow(task).removed);
      onChange((current) => toSubWorkflow(current).task, "kind");
    } else {
      setRemoved([]);
      onChange((current) => toContainer(current), "kind");
    }
  };

  const setEnv = (next: Obj[]) => set(["env"], next);
  const setTolerations = (next: Obj[]) => set(["tolerations"], next);

  return (
    <form className="fd-form" aria-label={`Task ${task.name}`} onSubmit={(event) => event.preventDefault()}>
      <div className="fd-form__head">
        <h2>Task</h2>
        <div className="fd-form__actions">
          <button type="button" onClick={onDuplicate} title="Duplicate (Ctrl+D)">
            Duplicate
          </button>
          <button type="button" className="fd-danger" onClick={onDelete} title="Delete (Delete key)">
            Delete
          </button>
        </div>
      </div>
      <FieldErrors id="task-errors" errors={whole} />
      <Field label="Name" errors={under("name")} hint="Lowercase letters, digits and '-'. Press Enter to rename.">
        {(props) => <CommitInput {...props} name="name" value={task.name} onCommit={onRename} autoComplete="off" />}
      </Field>
      <div className="fd-field" role="radiogroup" aria-labelledby={`${envId}-kind`}>
        <span className="fd-field__label" id={`${envId}-kind`}>
          Runs
        </span>
        <div className="fd-row">
          <label className="fd-check">
            <input type="radio" name="task-kind" value="container" checked={!sub} onChange={() => chooseKind("container")} />a container
          </label>
          <label className="fd-check">
            <input type="radio" name="task-kind" value="workflow" checked={sub} onChange={() => chooseKind("workflow")} />
            another workflow
          </label>
        </div>
        {sub && removed.length ? (
          <small className="fd-hint" role="status">
            A task that runs a workflow has no container: removed its {removed.join(", ")} (Ctrl+Z brings them back).
          </small>
        ) : null}
      </div>
      <div className="fd-field">
        <label className="fd-check">
          <input type="checkbox" name="exit-handler" checked={exitHandler} onChange={(event) => onExitHandler(event.target.checked)} />
          Exit handler: runs once every other task has ended, whatever the outcome
        </label>
        {exitHandler ? (
          <small className="fd-hint">
            Drawn in the <em>On exit</em> group. It may run after other exit handlers only, reads any task's outputs, and{" "}
            <code>{"{{run.status}}"}</code>, <code>{"{{run.failures}}"}</code>, <code>{"{{run.id}}"}</code>. Its failure does not
            change the run's status.
          </small>
        ) : null}
      </div>
      {sub ? (
        <SubWorkflowFields task={task} errors={errors} completions={references.text} catalogue={catalogue} self={self} onChange={onChange} />
      ) : (
      <>
      <Field label="Image" errors={under("image")} hint="A container image, such as busybox:1.36">
        {(props) => (
          <ReferenceField {...props} name="image" value={str(task.image)} completions={references.text} onChange={(value) => set(["image"], value)} />
        )}
      </Field>

      <CommandFields
        command={task.command}
        args={task.args}
        errors={errors}
        warnings={props.warnings}
        completions={references.text}
        onCommand={(next) => set(["command"], next)}
        onArgs={(next) => set(["args"], next)}
      />

      <WorkloadFields task={task} errors={errors} set={set} />

      <fieldset className="fd-list">
        <legend>Environment</legend>
        {env.length === 0 ? <p className="fd-hint">No variables.</p> : null}
        {env.map((entry, index) => {
          const kind = envKind(entry);
          const ref = isObj(entry.valueFrom) ? (entry.valueFrom[kind] as Obj | undefined) ?? {} : {};
          const change = (next: Obj) => setEnv(env.map((item, i) => (i === index ? next : item)));
          const rowErrors = under(`env[${index}]`);
          return (
            <div className="fd-env" key={index}>
              <div className="fd-row">
                <input
                  aria-label={`Variable ${index + 1} name`}
                  placeholder="NAME"
                  value={str(entry.name)}
                  onChange={(event) => change({ ...entry, name: event.target.value })}
                />
                <select
                  aria-label={`Variable ${index + 1} source`}
                  value={kind}
                  onChange={(event) => {
                    const next = event.target.value;
                    const base: Obj = { name: entry.name };
                    if (next === "value") change({ ...base, value: "" });
                    else if (next === "secret") change({ ...base, value: "", secret: true });
                    else change({ ...base, valueFrom: { [next]: { name: "", key: "" } } });
                  }}
                >
                  {ENV_KINDS.map((option) => (
                    <option key={option.value} value={option.value}>
                      {option.label}
                    </option>
                  ))}
                </select>
                <button type="button" className="fd-icon" aria-label={`Remove variable ${index + 1}`} onClick={() => setEnv(env.filter((_, i) => i !== index))}>
                  ×
                </button>
              </div>
              {kind === "value" || kind === "secret" ? (
                <ReferenceField
                  aria-label={`Variable ${index + 1} value`}
                  aria-invalid={under(`env[${index}].value`).length > 0}
                  aria-describedby={rowErrors.length ? `${envId}-${index}` : undefined}
                  type={kind === "secret" ? "password" : "text"}
                  placeholder={kind === "secret" ? "hidden once saved" : "value, or {{ for a reference"}
                  value={str(entry.value)}
                  completions={references.value}
                  onChange={(value) => change({ ...entry, value })}
                />
              ) : (
                <div className="fd-row">
                  <input
                    aria-label={`Variable ${index + 1} ${kind === "secretKeyRef" ? "Secret" : "ConfigMap"} name`}
                    placeholder={kind === "secretKeyRef" ? "secret name" : "configmap name"}
                    value={str(ref.name)}
                    onChange={(event) => change({ ...entry, valueFrom: { [kind]: { ...ref, name: event.target.value } } })}
                  />
                  <input
                    aria-label={`Variable ${index + 1} key`}
                    placeholder="key"
                    value={str(ref.key)}
                    onChange={(event) => change({ ...entry, valueFrom: { [kind]: { ...ref, key: event.target.value } } })}
                  />
                </div>
              )}
              <FieldErrors id={`${envId}-${index}`} errors={rowErrors} />
            </div>
          );
        })}
        <button type="button" className="fd-add" onClick={() => setEnv([...env, { name: "", value: "" }])}>
          + Add variable
        </button>
        <FieldErrors id={`${envId}-all`} errors={under("env").filter((error) => !/^env\[\d+\]/.test(error.field))} />
      </fieldset>

      <fieldset className="fd-list">
        <legend>Resources</legend>
        <table className="fd-resources">
          <thead>
            <tr>
              <th />
              <th scope="col">Request</th>
              <th scope="col">Limit</th>
            </tr>
          </thead>
          <tbody>
            {[
              { key: "cpu", label: "CPU", units: CPU_UNITS },
              { key: "memory", label: "Memory", units: MEMORY_UNITS },
              { key: "nvidia.com/gpu", label: "GPUs", units: [{ value: "", label: "whole" }] },
            ].map((resource) => (
              <tr key={resource.key}>
                <th scope="row">{resource.label}</th>
                {(["requests", "limits"] as const).map((kind) => (
                  <td key={kind}>
                    <QuantityInput
                      label={`${resource.label} ${kind === "requests" ? "request" : "limit"}`}
                      units={resource.units}
                      invalid={under(`resources.${kind}${resource.key.includes("/") ? `["${resource.key}"]` : `.${resource.key}`}`).length > 0}
                      value={getIn(task, ["resources", kind, resource.key])}
                      onChange={(value) => set(["resources", kind, resource.key], value)}
                    />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        <FieldErrors id={`${envId}-res`} errors={under("resources")} />
      </fieldset>
      </>
      )}

      <fieldset className="fd-list">
        <legend>Retries</legend>
        <div className="fd-grid">
          <Field label="Retries" errors={under("retry.limit")} hint="0–50 after the first attempt">
            {(props) => (
              <input
                {...props}
                type="number"
                min={0}
                max={50}
                name="retry-limit"
                value={str(getIn(task, ["retry", "limit"]))}
                onChange={(event) => set(["retry", "limit"], toNumber(event.target.value))}
              />
            )}
          </Field>
          <Field label="First wait" errors={under("retry.backoff.delay")}>
            {(props) => (
              <DurationInput
                id={props.id}
                label="First wait"
                placeholder="10"
                inputProps={{ "aria-invalid": props["aria-invalid"], "aria-describedby": props["aria-describedby"] }}
                value={getIn(task, ["retry", "backoff", "delay"])}
                onChange={(value) => set(["retry", "backoff", "delay"], value)}
              />
            )}
          </Field>
          <Field label="Backoff factor" errors={under("retry.backoff.factor")}>
            {(props) => (
              <input
                {...props}
                type="number"
                min={1}
                step="any"
                placeholder="2"
                value={str(getIn(task, ["retry", "backoff", "factor"]))}
                onChange={(event) => set(["retry", "backoff", "factor"], toNumber(event.target.value))}
              />
            )}
          </Field>
          <Field label="Longest wait" errors={under("retry.backoff.maxDelay")}>
            {(props) => (
              <DurationInput
                id={props.id}
                label="Longest wait"
                placeholder="300"
                value={getIn(task, ["retry", "backoff", "maxDelay"])}
                onChange={(value) => set(["retry", "backoff", "maxDelay"], value)}
              />
            )}
          </Field>
        </div>
        <div className="fd-row" role="group" aria-label="Retry on">
          <span>Retry on:</span>
          {["Failed", "Error"].map((reason) => {
            const list = Array.isArray(retryOn) ? (retryOn as string[]) : ["Failed", "Error"];
            return (
              <label key={reason} className="fd-check">
                <input
                  type="checkbox"
                  checked={list.includes(reason)}
                  onChange={(event) => {
                    const next = event.target.checked ? [...list, reason] : list.filter((item) => item !== reason);
                    const ordered = ["Failed", "Error"].filter((item) => next.includes(item));
                    // The default is both: write `on` only when it differs.
                    onChange((current) => {
                      const retry = isObj(current.retry) ? current.retry : {};
                      const value = ordered.length === 2 ? undefined : ordered;
                      const nextRetry = { ...retry };
                      if (value === undefined) delete nextRetry.on;
                      else nextRetry.on = value;
                      return orderTaskKeys(setField(current, "retry", nextRetry));
                    }, "retry.on");
                  }}
                />
                {reason === "Failed" ? "program failed" : "infrastructure error"}
              </label>
            );
          })}
        </div>
        <FieldErrors id={`${envId}-retry`} errors={under("retry").filter((error) => !/^retry\.(limit|backoff)/.test(error.field))} />
      </fieldset>

      <div className="fd-grid">
        <Field label="Timeout" errors={under("timeout")} hint="Per attempt">
          {(props) => (
            <DurationInput
              id={props.id}
              label="Timeout"
              inputProps={{ name: "timeout", "aria-invalid": props["aria-invalid"], "aria-describedby": props["aria-describedby"] }}
              value={task.timeout}
              onChange={(value) => set(["timeout"], value)}
            />
          )}
        </Field>
        <Field label="Priority" errors={under("priority")} hint="−1000 … 1000; higher starts first">
          {(props) => (
            <input
              {...props}
              type="number"
              name="priority"
              min={-1000}
              max={1000}
              value={str(task.priority)}
              onChange={(event) => set(["priority"], toNumber(event.target.value))}
            />
          )}
        </Field>
      </div>

      <fieldset className="fd-list" disabled={locked} aria-describedby={locked ? `${envId}-locked` : undefined}>
        <legend>Runs after</legend>
        {exitHandler ? <p className="fd-hint">Other exit handlers only: every task of the run has ended before it starts.</p> : null}
        {locked ? (
          <p className="fd-hint" id={`${envId}-locked`}>
            Set by its <em>depends</em> expression (Control flow, below): edit the expression, or switch it back to a trigger rule to
            pick tasks here.
          </p>
        ) : null}
        {others.length === 0 ? <p className="fd-hint">{exitHandler ? "No other exit handlers." : "No other tasks yet."}</p> : null}
        <div className={locked ? "fd-deps fd-deps--locked" : "fd-deps"}>
          {(others.length <= MAX_CHECKLIST ? others : deps).map((other) => (
            <label key={other} className="fd-check">
              <input type="checkbox" checked={deps.includes(other)} onChange={(event) => onDependency(other, event.target.checked)} />
              {other}
            </label>
          ))}
        </div>
        {others.length > MAX_CHECKLIST && !locked ? <AddDependency others={others} deps={deps} onAdd={(name) => onDependency(name, true)} /> : null}
        <FieldErrors id={`${envId}-deps`} errors={under("dependencies")} />
      </fieldset>

      <ControlFlowForm task={task} errors={errors} references={references} onChange={onChange} />

      {sub ? null : (
      <>
      <TaskInputsFields
        task={task}
        choices={references.artifacts}
        under={under}
        onSet={(inputs) => onChange((current) => orderTaskKeys(setField(current, "inputs", inputs)), "inputs")}
      />
      <TaskOutputsFields
        task={task}
        under={under}
        onSet={(outputs) => onChange((current) => orderTaskKeys(setField(current, "outputs", outputs)), "outputs")}
      />

      <details open={Boolean(task.nodeSelector || task.tolerations)}>
        <summary>Scheduling</summary>
        <KeyValueList
          label="Node selector"
          itemName="node label"
          value={task.nodeSelector}
          errors={under("nodeSelector")}
          onChange={(value) => set(["nodeSelector"], value)}
        />
        <fieldset className="fd-list">
          <legend>Tolerations</legend>
          {tolerations.map((toleration, index) => {
            const change = (key: string, value: unknown) =>
              setTolerations(tolerations.map((item, i) => (i === index ? setField(item, key, value) : item)));
            return (
              <div className="fd-env" key={index}>
                <div className="fd-row">
                  <input aria-label={`Toleration ${index + 1} key`} placeholder="key" value={str(toleration.key)} onChange={(event) => change("key", event.target.value)} />
                  <select aria-label={`Toleration ${index + 1} operator`} value={str(toleration.operator) || "Equal"} onChange={(event) => change("operator", event.target.value === "Equal" ? undefined : event.target.value)}>
                    <option value="Equal">=</option>
                    <option value="Exists">exists</option>
                  </select>
                  <input aria-label={`Toleration ${index + 1} value`} placeholder="value" value={str(toleration.value)} onChange={(event) => change("value", event.target.value)} />
                </div>
                <div className="fd-row">
                  <select aria-label={`Toleration ${index + 1} effect`} value={str(toleration.effect)} onChange={(event) => change("effect", event.target.value)}>
                    <option value="">any effect</option>
                    <option value="NoSchedule">NoSchedule</option>
                    <option value="PreferNoSchedule">PreferNoSchedule</option>
                    <option value="NoExecute">NoExecute</option>
                  </select>
                  <input
                    aria-label={`Toleration ${index + 1} seconds`}
                    type="number"
                    placeholder="seconds (NoExecute)"
                    value={str(toleration.tolerationSeconds)}
                    onChange={(event) => change("tolerationSeconds", toNumber(event.target.value))}
                  />
                  <button type="button" className="fd-icon" aria-label={`Remove toleration ${index + 1}`} onClick={() => setTolerations(tolerations.filter((_, i) => i !== index))}>
                    ×
                  </button>
                </div>
                <FieldErrors id={`${tolId}-${index}`} errors={under(`tolerations[${index}]`)} />
              </div>
            );
          })}
          <button type="button" className="fd-add" onClick={() => setTolerations([...tolerations, { key: "", operator: "Exists" }])}>
            + Add toleration
          </button>
        </fieldset>
      </details>
      </>
      )}
      <OtherErrors errors={errors} sub={sub} />
    </form>
  );
}

// Past this many tasks a checkbox each is a wall: the form lists the current
// dependencies and offers the rest through a search box.
const MAX_CHECKLIST = 40;

function AddDependency({ others, deps, onAdd }: { others: string[]; deps: string[]; onAdd: (name: string) => void }) {
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  const id = useId();
  const matches = open ? others.filter((name) => !deps.includes(name) && name.includes(text)).slice(0, 50) : [];
  const add = () => {
    if (others.includes(text) && !deps.includes(text)) {
      onAdd(text);
      setText("");
    }
  };
  return (
    <div className="fd-row">
      <input
        aria-label="Add a task this one runs after"
        placeholder="task name"
        list={id}
        value={text}
        onFocus={() => setOpen(true)}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === "Enter") {
            event.preventDefault();
            add();
          }
        }}
      />
      <datalist id={id}>
        {matches.map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
      <button type="button" onClick={add}>
        Add
      </button>
    </div>
  );
}

const SHOWN =
  /^(name|image|command|args|env|resources|retry|timeout|priority|dependencies|nodeSelector|tolerations|outputs|inputs|when|triggerRule|depends|continueOn|withItems|withParam|withSequence|parallelism|workflow|kind|job|daemon|ports|readinessProbe|persistent|storage|initContainers|sidecars)(\b|\[|\.|$)/;

/** What the form shows of a task that runs a workflow (no container fields). */
const SHOWN_SUB =
  /^(name|retry|timeout|priority|dependencies|when|triggerRule|depends|continueOn|withItems|withParam|withSequence|parallelism|workflow)(\b|\[|\.|$)/;

/** Errors at fields the form has no control for (volumes, affinity, ...;
 * a container field of a task that runs a workflow), so nothing the server
 * says is hidden. */
function OtherErrors({ errors, sub }: { errors: PlacedError[] | undefined; sub: boolean }) {
  const shown = sub ? SHOWN_SUB : SHOWN;
  const rest = (errors ?? []).filter((error) => error.field !== "" && !shown.test(error.field));
  if (rest.length === 0) return null;
  return (
    <div className="fd-other-errors">
      <p>Other problems in this task (edit them in the text view):</p>
      <ul role="alert">
        {rest.map((error, index) => (
          <li key={index} data-error-path={error.path}>
            <code>{error.field}</code>: {error.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
