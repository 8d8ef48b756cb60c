// What runs a task (docs/spec.md): one pod or a Kubernetes Job and its
// settings, and the pod's extra containers (init containers, sidecars).
import { useId } from "react";

import {
  DAEMON_ONLY,
  type ProbeKind,
  envFromText,
  envText,
  mountsFromText,
  mountsText,
  portsFromText,
  portsText,
  probeFrom,
  probeOf,
  resourceOf,
  withResource,
} from "./daemon";
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

const RESOURCES = [
  { side: "requests", name: "cpu", label: "CPU request", hint: "250m" },
  { side: "requests", name: "memory", label: "memory request", hint: "128Mi" },
  { side: "limits", name: "cpu", label: "CPU limit", hint: "1" },
  { side: "limits", name: "memory", label: "memory limit", hint: "256Mi" },
] as const;

const PROBES: { kind: ProbeKind; label: string; hint: string }[] = [
  { kind: "tcp", label: "a TCP connection", hint: "port (the first if empty)" },
  { kind: "http", label: "an HTTP GET", hint: "path, /health" },
  { kind: "exec", label: "a command", hint: "shell line that exits 0 when ready" },
];

/** `daemon: true` and what goes with it (docs/spec.md, "Daemons"). */
export function DaemonFields({ task, errors, set }: WorkloadFieldsProps) {
  const id = useId();
  const under = (field: string) => errorsUnder(errors, field);
  const on = task.daemon === true;
  const ports = portsFromText(portsText(task.ports));
  const probe = probeOf(task.readinessProbe);
  const storage = isObj(task.storage) ? (task.storage as Obj) : {};
  const persistent = task.persistent === true;
  return (
    <fieldset className="fd-list" aria-label="Daemon">
      <legend>Daemon</legend>
      <label className="fd-check">
        <input
          type="checkbox"
          aria-label="Runs as a daemon"
          checked={on}
          onChange={(event) => {
            if (event.target.checked) {
              set(["daemon"], true);
              if (!task.ports) set(["ports"], [{ port: 8080 }]);
            } else {
              for (const key of DAEMON_ONLY) set([key], undefined);
              set(["daemon"], undefined);
            }
          }}
        />
        A service for the rest of the run: Succeeded once ready, stopped when the run ends
      </label>
      <FieldErrors id={`${id}-daemon`} errors={under("daemon")} />
      {on ? (
        <>
          <label className="fd-field">
            <span>Ports</span>
            <input
              aria-label="Daemon ports"
              placeholder="name:port, … (pg:5432)"
              defaultValue={portsText(task.ports)}
              key={portsText(task.ports)}
              onBlur={(event) => set(["ports"], portsFromText(event.target.value))}
            />
            <FieldErrors id={`${id}-ports`} errors={under("ports")} />
          </label>
          <div className="fd-row">
            <select
              aria-label="Readiness probe"
              value={probe.kind}
              onChange={(event) => set(["readinessProbe"], probeFrom(event.target.value as ProbeKind, "", ports, task.readinessProbe))}
            >
              {PROBES.map((kind) => (
                <option key={kind.kind} value={kind.kind}>
                  ready on {kind.label}
                </option>
              ))}
            </select>
            <input
              aria-label="Readiness probe value"
              placeholder={PROBES.find((kind) => kind.kind === probe.kind)?.hint}
              defaultValue={probe.value}
              key={`${probe.kind}:${probe.value}`}
              onBlur={(event) => set(["readinessProbe"], probeFrom(probe.kind, event.target.value, ports, task.readinessProbe))}
            />
          </div>
          <FieldErrors id={`${id}-probe`} errors={under("readinessProbe")} />
          <label className="fd-check">
            <input
              type="checkbox"
              aria-label="Persistent"
              checked={persistent}
              onChange={(event) => {
                set(["persistent"], event.target.checked ? true : undefined);
                if (!event.target.checked) set(["storage"], undefined);
              }}
            />
            Persistent: a StatefulSet with a volume claim (Kubernetes only)
          </label>
          {persistent ? (
            <div className="fd-row">
              {[
                { key: "size", label: "Storage size", hint: "1Gi" },
                { key: "mountPath", label: "Storage mount path", hint: "/var/lib/data" },
                { key: "storageClassName", label: "Storage class", hint: "the cluster's default" },
              ].map((field) => (
                <input
                  key={field.key}
                  aria-label={field.label}
                  placeholder={field.hint}
                  value={storage[field.key] === undefined ? "" : String(storage[field.key])}
                  onChange={(event) => set(["storage", field.key], event.target.value || undefined)}
                />
              ))}
            </div>
          ) : null}
          <FieldErrors id={`${id}-storage`} errors={under("storage")} />
          <small className="fd-hint" role="note">
            Dependants read its address as <code>{`{{tasks.${task.name}.ip}}`}</code> and <code>{`{{tasks.${task.name}.service}}`}</code>. The
            timeout bounds its wait to be ready; Retry applies until then. Locally it is a background process at 127.0.0.1 on the ports you
            declare: no image, no Service (one daemon per port), no persistence.
          </small>
        </>
      ) : null}
    </fieldset>
  );
}

function numberOrText(text: string): number | string | undefined {
  if (text.trim() === "") return undefined;
  const number = Number(text);
  return Number.isInteger(number) ? number : text;
}

/** The object without its undefined fields (an emptied box removes its key). */
function without(item: Obj): Obj {
  return Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined));
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
      <DaemonFields task={task} errors={errors} set={set} />
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
                  <textarea
                    aria-label={`${label} env`}
                    rows={2}
                    placeholder="env: KEY=value, one a line"
                    defaultValue={envText(item.env)}
                    key={`env:${envText(item.env)}`}
                    onBlur={(event) => change(without({ ...item, env: envFromText(event.target.value, item.env) }))}
                  />
                  <textarea
                    aria-label={`${label} volume mounts`}
                    rows={1}
                    placeholder="volume mounts: volume:/path (:ro for read only), one a line"
                    defaultValue={mountsText(item.volumeMounts)}
                    key={`mounts:${mountsText(item.volumeMounts)}`}
                    onBlur={(event) => change(without({ ...item, volumeMounts: mountsFromText(event.target.value) }))}
                  />
                  <div className="fd-row">
                    {RESOURCES.map((resource) => (
                      <input
                        key={`${resource.side}.${resource.name}`}
                        aria-label={`${label} ${resource.label}`}
                        placeholder={`${resource.label} (${resource.hint})`}
                        value={resourceOf(item.resources, resource.side, resource.name)}
                        onChange={(event) =>
                          change(without({ ...item, resources: withResource(item.resources, resource.side, resource.name, event.target.value) }))
                        }
                      />
                    ))}
                  </div>
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
