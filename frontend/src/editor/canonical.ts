// PostgreSQL's jsonb keeps no key order, so a stored document comes back with
// "args" before "name". The editor shows it in the order docs/spec.md defines
// (the server's dump_document does the same: workflows/spec_document.py's
// shapes); keys of free-form mappings and unknown keys follow in their order.
import { isObj } from "./model";

type Shape = { [key: string]: Shape | null };

const KEY_REF: Shape = { name: null, key: null, optional: null };
const RETRY: Shape = { limit: null, backoff: { delay: null, factor: null, maxDelay: null }, on: null };
const SECURITY: Shape = {
  runAsUser: null,
  runAsGroup: null,
  runAsNonRoot: null,
  readOnlyRootFilesystem: null,
  allowPrivilegeEscalation: null,
  privileged: null,
  capabilities: { add: null, drop: null },
};
const AFFINITY: Shape = { nodeAffinity: null, podAffinity: null, podAntiAffinity: null };
const ITEMS: Shape = { key: null, path: null, mode: null };
const SYNCHRONIZATION: Shape = { semaphore: null, mutex: null };
// Data between tasks (docs/spec.md): the fields in the order the spec lists them.
export const OUTPUT_PARAMETER_SHAPE: Shape = { name: null, valueFrom: { path: null, default: null }, secret: null, description: null };
export const OUTPUT_ARTIFACT_SHAPE: Shape = { name: null, path: null, optional: null, description: null };
export const INPUT_ARTIFACT_SHAPE: Shape = { name: null, from: null, path: null, optional: null };
export const RUN_OUTPUT_PARAMETER_SHAPE: Shape = { name: null, value: null, description: null };
export const RUN_OUTPUT_ARTIFACT_SHAPE: Shape = { name: null, from: null, description: null };
export const OUTPUTS_SHAPE: Shape = { result: { valueFrom: { path: null } }, parameters: OUTPUT_PARAMETER_SHAPE, artifacts: OUTPUT_ARTIFACT_SHAPE };
export const RUN_OUTPUTS_SHAPE: Shape = { parameters: RUN_OUTPUT_PARAMETER_SHAPE, artifacts: RUN_OUTPUT_ARTIFACT_SHAPE };

export const TASK_SHAPE: Shape = {
  name: null,
  image: null,
  imagePullPolicy: null,
  command: null,
  args: null,
  workingDir: null,
  env: { name: null, value: null, valueFrom: { secretKeyRef: KEY_REF, configMapKeyRef: KEY_REF }, secret: null },
  resources: { requests: null, limits: null },
  volumes: {
    name: null,
    emptyDir: { medium: null, sizeLimit: null },
    configMap: { name: null, items: ITEMS },
    secret: { secretName: null, items: ITEMS },
    persistentVolumeClaim: { claimName: null, readOnly: null },
  },
  volumeMounts: { name: null, mountPath: null, subPath: null, readOnly: null },
  securityContext: SECURITY,
  nodeSelector: null,
  tolerations: { key: null, operator: null, value: null, effect: null, tolerationSeconds: null },
  affinity: AFFINITY,
  priorityClassName: null,
  serviceAccountName: null,
  imagePullSecrets: null,
  priority: null,
  retry: RETRY,
  timeout: null,
  dependencies: null,
  outputs: OUTPUTS_SHAPE,
  inputs: { artifacts: INPUT_ARTIFACT_SHAPE },
  // Control flow (docs/spec.md): in the order the task table lists it.
  when: null,
  triggerRule: null,
  depends: null,
  continueOn: { failed: null, error: null },
  withItems: null,
  withParam: null,
  withSequence: { count: null, start: null, end: null, format: null },
  parallelism: null,
  workflow: { name: null, version: null, parameters: null },
  // Concurrency (docs/spec.md): the semaphore or mutex the task holds.
  synchronization: SYNCHRONIZATION,
};

export const DOCUMENT_SHAPE: Shape = {
  apiVersion: null,
  kind: null,
  metadata: { name: null, description: null, labels: null },
  spec: {
    parameters: { name: null, default: null, description: null },
    defaults: {
      image: null,
      imagePullPolicy: null,
      securityContext: SECURITY,
      affinity: AFFINITY,
      priorityClassName: null,
      serviceAccountName: null,
      imagePullSecrets: null,
      retry: RETRY,
      timeout: null,
    },
    parallelism: null,
    failFast: null,
    maxActiveRuns: null,
    synchronization: SYNCHRONIZATION,
    timeout: null,
    sla: null,
    namespace: null,
    tasks: TASK_SHAPE,
    outputs: RUN_OUTPUTS_SHAPE,
    onExit: TASK_SHAPE,
    ui: null,
  },
};

/** The spec's own keys in order, without descending into them (tasks). */
export const SPEC_KEYS: Shape = Object.fromEntries(Object.keys(DOCUMENT_SHAPE.spec ?? {}).map((key) => [key, null]));

/** A copy of `value` with each mapping's keys in the shape's order (a list's
 * items share their list's shape). */
export function canonical<T>(value: T, shape: Shape | null = DOCUMENT_SHAPE): T {
  if (shape === null) return value;
  if (Array.isArray(value)) return value.map((item) => canonical(item, shape)) as T;
  if (!isObj(value)) return value;
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(shape)) {
    if (key in value) ordered[key] = canonical(value[key], shape[key]);
  }
  for (const key of Object.keys(value)) if (!(key in ordered)) ordered[key] = value[key];
  return ordered as T;
}
