// The task form's "Runs the workflow" section (docs/spec.md, "Sub-workflows"):
// which workflow of the project the task runs, which version, and the values
// it passes to that workflow's parameters (read from its latest version).
// The rules are subworkflow.ts's; the server's errors land on each field.
import { useId } from "react";

import type { Catalogue } from "./catalogue";
import type { Completion } from "./dataflow";
import { type PlacedError, errorsUnder } from "./errors";
import { Field, FieldErrors } from "./fields";
import { type Obj, type Task, orderTaskKeys, parametersOf } from "./model";
import { ReferenceField } from "./ReferenceField";
import { callOf, parameterField, parameterRows, setCallName, setCallParameter, setCallVersion } from "./subworkflow";

export interface SubWorkflowProps {
  task: Task;
  errors: PlacedError[] | undefined;
  completions: Completion[];
  catalogue: Catalogue;
  /** The workflow being edited: it cannot run itself. */
  self: string;
  onChange: (change: (task: Task) => Obj, key: string) => void;
}

export function SubWorkflowFields({ task, errors, completions, catalogue, self, onChange }: SubWorkflowProps) {
  const ids = useId();
  const call = callOf(task) ?? { name: "", version: null, parameters: {} };
  const under = (field: string) => errorsUnder(errors, field);
  const change = (key: string, edit: (current: Task) => Obj) => onChange((current) => orderTaskKeys(edit(current)), key);
  const choices = catalogue.workflows.filter((workflow) => workflow.name !== self);
  const chosen = catalogue.workflows.find((workflow) => workflow.name === call.name);
  const document = call.name ? catalogue.documents.get(call.name) : undefined;
  const declared = document ? parametersOf(document) : null;
  const rows = parameterRows(declared, call.parameters);
  const latest = chosen?.latest_version?.number ?? 0;
  const versions = Array.from({ length: latest }, (_, i) => latest - i);
  if (call.version !== null && !versions.includes(call.version)) versions.unshift(call.version);
  const shown = new Set(["workflow.name", "workflow.version", ...rows.map((row) => parameterField(row.name))]);
  const rest = under("workflow").filter((error) => ![...shown].some((field) => errorsUnder([error], field).length));

  const pick = (name: string) => {
    const next = catalogue.documents.get(name);
    change("workflow.name", (current) => setCallName(current, name, next ? parametersOf(next) : null));
  };

  return (
    <fieldset className="fd-list fd-subworkflow" data-section="sub-workflow">
      <legend>Runs the workflow</legend>
      <Field
        label="Workflow"
        errors={under("workflow.name")}
        hint={
          catalogue.state === "none"
            ? "Choose the workflow's project first (in the workflow form), or type a name."
            : catalogue.state === "error"
              ? `Could not list the project's workflows (${catalogue.error}): type a name.`
              : "A workflow of this project; the task starts a run of it and ends as that run does."
        }
      >
        {(props) =>
          catalogue.state === "ready" || catalogue.state === "loading" ? (
            <select {...props} name="workflow-name" value={call.name} disabled={catalogue.state === "loading"} onChange={(event) => pick(event.target.value)}>
              <option value="">{catalogue.state === "loading" ? "Loading the project's workflows…" : "— choose a workflow —"}</option>
              {choices.map((workflow) => (
                <option key={workflow.id} value={workflow.name} title={workflow.description}>
                  {workflow.name}
                </option>
              ))}
              {call.name && !chosen && catalogue.state === "ready" ? <option value={call.name}>{call.name} (not in this project)</option> : null}
            </select>
          ) : (
            <input {...props} type="text" name="workflow-name" autoComplete="off" value={call.name} onChange={(event) => pick(event.target.value)} />
          )
        }
      </Field>
      {chosen ? (
        <p className="fd-hint">
          <a href={`/workflows/${chosen.id}/editor/`} target="_blank" rel="noopener">
            Open {chosen.name} in a new tab
          </a>
          {chosen.description ? ` — ${chosen.description}` : null}
        </p>
      ) : null}
      <Field
        label="Version"
        errors={under("workflow.version")}
        hint={
          call.version === null
            ? "The latest: whichever version is newest when the task starts."
            : `Pinned: runs v${call.version} even once ${call.name || "the workflow"} has newer versions.`
        }
      >
        {(props) => (
          <select
            {...props}
            name="workflow-version"
            value={call.version === null ? "" : String(call.version)}
            onChange={(event) => change("workflow.version", (current) => setCallVersion(current, event.target.value === "" ? null : Number(event.target.value)))}
          >
            <option value="">latest</option>
            {versions.map((number) => (
              <option key={number} value={number}>
                v{number}
                {number === latest ? " (latest now)" : ""}
              </option>
            ))}
          </select>
        )}
      </Field>

      <div className="fd-field" role="group" aria-labelledby={`${ids}-params`} data-testid="sub-workflow-parameters">
        <span className="fd-field__label" id={`${ids}-params`}>
          Parameters
        </span>
        {call.name && chosen && !document ? <p className="fd-hint">Reading {call.name}'s parameters…</p> : null}
        {document && rows.length === 0 ? <p className="fd-hint">{call.name} takes no parameters.</p> : null}
        {!call.name ? <p className="fd-hint">Its parameters show once a workflow is chosen.</p> : null}
        {rows.map((row) => (
          <div key={row.name} className={row.declared ? "fd-param" : "fd-param fd-param--unknown"} data-parameter={row.name}>
            <Field
              label={`${row.name}${row.required ? " (required)" : ""}`}
              errors={errorsUnder(errors, parameterField(row.name))}
              hint={
                !row.declared ? (
                  <span className="fd-warning">
                    Not a parameter of {call.name}: a run would end this task as Error (InvalidParameters).{" "}
                    <button type="button" className="fd-link" onClick={() => change(`workflow.parameters.${row.name}`, (current) => setCallParameter(current, row.name, ""))}>
                      Remove it
                    </button>
                  </span>
                ) : (
                  <>
                    {row.description ? `${row.description}. ` : null}
                    {row.default !== undefined
                      ? `Empty passes nothing: ${call.name} uses its default, ${row.default || '""'}.`
                      : row.value === ""
                        ? `Required: ${call.name} has no default.`
                        : null}{" "}
                    Type {"{{"} for a reference.
                  </>
                )
              }
            >
              {(props) => (
                <ReferenceField
                  {...props}
                  name={`workflow-param-${row.name}`}
                  placeholder={row.default ?? ""}
                  value={row.value}
                  completions={completions}
                  onChange={(value) => change(`workflow.parameters.${row.name}`, (current) => setCallParameter(current, row.name, value))}
                />
              )}
            </Field>
          </div>
        ))}
      </div>
      <FieldErrors id={`${ids}-rest`} errors={rest} />
    </fieldset>
  );
}
