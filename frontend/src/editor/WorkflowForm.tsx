// Workflow-level settings: name, labels, parameters, what a run returns and
// the run's limits.
import { useMemo } from "react";

import { SPEC_KEYS, canonical } from "./canonical";
import { WorkflowOutputsFields } from "./DataForm";
import { artifactChoices, referenceCompletions } from "./dataflow";
import { type PlacedError, errorsUnder } from "./errors";
import { DurationInput, Field, FieldErrors, KeyValueList, TextInput } from "./fields";
import { type Doc, type Obj, getIn, isObj, metadataOf, setField, setIn, specOf, withMetadata, withSpec } from "./model";
import { ReferenceField } from "./ReferenceField";
import { toNumber } from "./TaskForm";

export interface Project {
  id: number;
  name: string;
}

export interface WorkflowFormProps {
  doc: Doc;
  errors: PlacedError[];
  existing: boolean;
  projects: Project[];
  project: string;
  onProject: (project: string) => void;
  onChange: (change: (doc: Doc) => Doc, key: string) => void;
}

export function WorkflowForm({ doc, errors, existing, projects, project, onProject, onChange }: WorkflowFormProps) {
  const metadata = metadataOf(doc);
  const spec = specOf(doc);
  const under = (field: string) => errorsUnder(errors, field);
  const str = (value: unknown) => (value === undefined || value === null ? "" : String(value));
  const setMeta = (key: string, value: unknown) => onChange((current) => withMetadata(current, (m) => setField(m, key, value)), `metadata.${key}`);
  const setSpec = (path: string[], value: unknown) =>
    onChange((current) => withSpec(current, (s) => setIn(s, path, value)), `spec.${path.join(".")}`);
  const parameters = Array.isArray(spec.parameters) ? (spec.parameters as unknown[]).filter(isObj) : [];
  const setParameters = (next: Obj[]) => setSpec(["parameters"], next);
  const shown = /^(metadata\.(name|description|labels)|spec\.(parameters|parallelism|failFast|timeout|defaults\.image|namespace|outputs)|project)/;
  const references = useMemo(
    () => ({
      defaults: referenceCompletions(doc, null, "defaults"),
      outputs: referenceCompletions(doc, null, "value"),
      artifacts: artifactChoices(doc, null),
    }),
    [doc],
  );
  const rest = errors.filter((error) => !shown.test(error.field));
  return (
    <form className="fd-form" aria-label="Workflow settings" onSubmit={(event) => event.preventDefault()}>
      <h2>Workflow</h2>
      <FieldErrors id="workflow-errors" errors={rest} />
      {existing ? null : (
        <Field label="Project" errors={under("project")} hint="Where the workflow lives; you need the editor role there.">
          {(props) => (
            <select {...props} name="project" value={project} onChange={(event) => onProject(event.target.value)}>
              {projects.length !== 1 ? <option value="">Choose a project</option> : null}
              {projects.map((item) => (
                <option key={item.id} value={String(item.id)}>
                  {item.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      <Field
        label="Name"
        errors={under("metadata.name")}
        hint={existing ? "A saved workflow keeps its name." : "Lowercase letters, digits and '-'."}
      >
        {(props) => (
          <TextInput {...props} name="workflow-name" readOnly={existing} value={str(metadata.name)} onChange={(value) => setMeta("name", value)} />
        )}
      </Field>
      <Field label="Description" errors={under("metadata.description")}>
        {(props) => (
          <textarea {...props} name="description" rows={2} value={str(metadata.description)} onChange={(event) => setMeta("description", event.target.value)} />
        )}
      </Field>
      <KeyValueList label="Labels" itemName="label" value={metadata.labels} errors={under("metadata.labels")} onChange={(value) => setMeta("labels", value)} />
      <Field label="Default image" errors={under("spec.defaults.image")} hint="For tasks that name no image.">
        {(props) => (
          <ReferenceField
            {...props}
            name="default-image"
            value={str(getIn(spec, ["defaults", "image"]))}
            completions={references.defaults}
            onChange={(value) => setSpec(["defaults", "image"], value)}
          />
        )}
      </Field>

      <fieldset className="fd-list">
        <legend>Parameters</legend>
        {parameters.length === 0 ? <p className="fd-hint">None. Tasks use a parameter as {"{{params.name}}"}.</p> : null}
        {parameters.map((parameter, index) => {
          const change = (key: string, value: unknown) =>
            setParameters(parameters.map((item, i) => (i === index ? setField(item, key, value) : item)));
          return (
            <div className="fd-env" key={index}>
              <div className="fd-row">
                <input aria-label={`Parameter ${index + 1} name`} placeholder="name" value={str(parameter.name)} onChange={(event) => change("name", event.target.value)} />
                <input aria-label={`Parameter ${index + 1} default`} placeholder="default (empty: required)" value={str(parameter.default)} onChange={(event) => change("default", event.target.value)} />
                <button type="button" className="fd-icon" aria-label={`Remove parameter ${index + 1}`} onClick={() => setParameters(parameters.filter((_, i) => i !== index))}>
                  ×
                </button>
              </div>
              <input aria-label={`Parameter ${index + 1} description`} placeholder="description" value={str(parameter.description)} onChange={(event) => change("description", event.target.value)} />
              <FieldErrors id={`param-${index}`} errors={under(`spec.parameters[${index}]`)} />
            </div>
          );
        })}
        <button type="button" className="fd-add" onClick={() => setParameters([...parameters, { name: "" }])}>
          + Add parameter
        </button>
      </fieldset>

      <WorkflowOutputsFields
        outputs={spec.outputs}
        completions={references.outputs}
        choices={references.artifacts}
        under={under}
        onSet={(outputs) => onChange((current) => withSpec(current, (s) => canonical(setField(s, "outputs", outputs), SPEC_KEYS)), "spec.outputs")}
      />

      <div className="fd-grid">
        <Field label="Parallelism" errors={under("spec.parallelism")} hint="Most tasks at once; empty: no limit">
          {(props) => (
            <input {...props} type="number" min={1} name="parallelism" value={str(spec.parallelism)} onChange={(event) => setSpec(["parallelism"], toNumber(event.target.value))} />
          )}
        </Field>
        <Field label="Run timeout" errors={under("spec.timeout")} hint="The whole run">
          {(props) => (
            <DurationInput
              id={props.id}
              label="Run timeout"
              inputProps={{ name: "run-timeout", "aria-invalid": props["aria-invalid"] }}
              value={spec.timeout}
              onChange={(value) => setSpec(["timeout"], value)}
            />
          )}
        </Field>
      </div>
      <label className="fd-check">
        <input
          type="checkbox"
          name="failFast"
          checked={spec.failFast === true}
          onChange={(event) => setSpec(["failFast"], event.target.checked ? true : undefined)}
        />
        Fail fast: stop starting tasks after the first failure
      </label>
      <FieldErrors id="failfast-errors" errors={under("spec.failFast")} />
    </form>
  );
}
