// What runs a task (docs/spec.md): one pod or a Kubernetes Job and its
// settings, and the pod's extra containers (init containers, sidecars).
import { useId } from "react";

import { type PlacedError, errorsUnder } from "./errors";
import { FieldErrors } from "./fields";
import { type Obj, type Task, isObj } from "./model";

export interface WorkloadFieldsProps {
  task: Task;
  errors: PlacedError[] | undefined;
  set: (path: string[], value: unknown) => void;
}

const JOB_NUMBERS = [
  { key: "completions", label: "Completions", hint: "pods that must succeed (1 by default)" },
  { key: "parallelism", label: "Parallelism", hint: "the most pods at once (1)" },
  { key: "backoffLimit", label: "Backoff limit", hint: "failed pods the Job survives (0)" },
  { key: "activeDeadlineSeconds", label: "Deadline (seconds)", hint: "the whole Job's" },
  { key: "ttlSecondsAfterFinished", label: "Kept after finishing (seconds)", hint: "by Kubernetes" },
];

const CONTAINER_LISTS = [
  { key: "initContainers", label: "Init containers", one: "init container", hint: "Run one after the other before the command; one that fails fails the task." },
  { key: "sidecars", label: "Sidecars", one: "sidecar", hint: "Run beside the command and are stopped when it ends." },
];

function numberOrText(text: string): number | string | undefined {
  if (text.trim() === "") return undefined;
  const number = Number(text);
  return Number.isInteger(number) ? number : text;
}

export function WorkloadFields({ task, errors, set }: WorkloadFieldsProps) {
  const id = useId();
  const under = (field: string) => errorsUnder(errors, field);
  const job = isObj(task.job) ? (task.job as Obj) : {};
  const isJob = task.kind === "Job";
  const retries = Number((isObj(task.retry) && (task.retry as Obj).limit) || 0);
  const backoff = Number(job.backoffLimit ?? 0);
  return (
    <>
      <fieldset className="fd-list" aria-label="Runs as">
        <legend>Runs as</legend>
        <select
          aria-label="Workload kind"
          value={isJob ? "Job" : "Pod"}
          onChange={(event) => {
            if (event.target.value === "Job") set(["kind"], "Job");
            else {
              set(["job"], undefined);
              set(["kind"], undefined);
            }
          }}
        >
          <option value="Pod">one pod</option>
          <option value="Job">a Kubernetes Job</option>
        </select>
        <FieldErrors id={`${id}-kind`} errors={under("kind")} />
        {isJob ? (
          <>
            {JOB_NUMBERS.map((field) => (
              <label className="fd-field" key={field.key}>
                <span>{field.label}</span>
                <input
                  aria-label={`Job ${field.label}`}
                  inputMode="numeric"
                  placeholder={field.hint}
                  value={job[field.key] === undefined ? "" : String(job[field.key])}
                  onChange={(event) => set(["job", field.key], numberOrText(event.target.value))}
                />
                <FieldErrors id={`${id}-${field.key}`} errors={under(`job.${field.key}`)} />
              </label>
            ))}
            <label className="fd-check">
              <input
                type="checkbox"
                aria-label="Indexed completions"
                checked={job.completionMode === "Indexed"}
                onChange={(event) => set(["job", "completionMode"], event.target.checked ? "Indexed" : undefined)}
              />
              Indexed: each completion has its index, 0 … completions−1, in <code>JOB_COMPLETION_INDEX</code>
            </label>
            <small className="fd-hint" role="note">
              Retries multiply: this Job survives {backoff} failed pod{backoff === 1 ? "" : "s"}, and Flowdeck starts up to {retries} more Job
              {retries === 1 ? "" : "s"} after one fails (Retry). Locally the completions run as processes, up to the worker's slots; images
              are ignored.
            </small>
            <FieldErrors id={`${id}-job`} errors={under("job").filter((error) => !/^job\./.test(error.field))} />
          </>
        ) : null}
      </fieldset>
      {CONTAINER_LISTS.map((list) => {
        const items = Array.isArray(task[list.key]) ? (task[list.key] as unknown[]).filter(isObj) : [];
        const setItems = (next: Obj[]) => set([list.key], next);
        return (
          <fieldset className="fd-list" key={list.key}>
            <legend>{list.label}</legend>
            <small className="fd-hint">{list.hint} They share the task's volumes; locally they run as processes (images ignored).</small>
            {items.map((item, index) => {
              const change = (next: Obj) => setItems(items.map((other, i) => (i === index ? next : other)));
              const command = Array.isArray(item.command) ? item.command.map(String) : [];
              const script = command.length === 3 && command[1] === "-c" ? command[2] : command.join(" ");
              const label = `${list.one} ${index + 1}`;
              return (
                <div className="fd-env" key={index}>
                  <div className="fd-row">
                    <input
                      aria-label={`${label} name`}
                      placeholder="name"
                      value={String(item.name ?? "")}
                      onChange={(event) => change({ ...item, name: event.target.value })}
                    />
                    <input
                      aria-label={`${label} image`}
                      placeholder="image (the task's if empty)"
                      value={String(item.image ?? "")}
                      onChange={(event) => {
                        const { image: _old, ...rest } = item;
                        change(event.target.value ? { ...rest, image: event.target.value } : rest);
                      }}
                    />
                    <button type="button" className="fd-icon" aria-label={`Remove ${label}`} onClick={() => setItems(items.filter((_, i) => i !== index))}>
                      ×
                    </button>
                  </div>
                  <textarea
                    aria-label={`${label} script`}
                    rows={2}
                    placeholder="shell script (sh -c)"
                    value={script}
                    onChange={(event) => change({ ...item, command: ["sh", "-c", event.target.value] })}
                  />
                  <FieldErrors id={`${id}-${list.key}-${index}`} errors={under(`${list.key}[${index}]`)} />
                </div>
              );
            })}
            <button
              type="button"
              className="fd-add"
              onClick={() => setItems([...items, { name: `${list.key === "sidecars" ? "sidecar" : "init"}-${items.length + 1}`, command: ["sh", "-c", ""] }])}
            >
              + Add {list.one}
            </button>
          </fieldset>
        );
      })}
    </>
  );
}
