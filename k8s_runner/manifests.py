"""Build the Pod that runs one attempt: PodRequest -> V1Pod (names, labels, spec).

Pure: the standard library and `kubernetes.client.models` only, no API calls,
no Django, no settings read here; the backend passes what it needs in
ManifestSettings. The Kubernetes-shaped parts of a task (env sources,
tolerations, affinity, volumes, mounts, the security context) arrive in
Kubernetes' wire shape and become the client's models as they are; the spec
validated them when the workflow was saved.

A task that leaves outputs or takes input artifacts gets more (docs/
kubernetes.md, "Data between tasks"): an emptyDir at /flowdeck shared with
Flowdeck's init container (`flowdeck-init`: the directories, the inputs) and
helper container (`flowdeck-outputs`: collects the outputs once the task's
command has ended, which a small /bin/sh wrapper around it records). Every
other pod stays as it was.

A task's own init containers run after Flowdeck's, in order; its sidecars
are native sidecars (init containers with `restartPolicy: Always`, after the
task's init containers) when ManifestSettings.native_sidecars says the server
has them (1.29+), else ordinary containers beside the task's, and the watcher
deletes the pod once the task's container has ended.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubernetes.client.models import (
    V1Affinity,
    V1Capabilities,
    V1Container,
    V1EmptyDirVolumeSource,
    V1EnvVar,
    V1EnvVarSource,
    V1Job,
    V1JobSpec,
    V1LocalObjectReference,
    V1ObjectMeta,
    V1Pod,
    V1PodFailurePolicy,
    V1PodSecurityContext,
    V1PodSpec,
    V1PodTemplateSpec,
    V1ResourceRequirements,
    V1SeccompProfile,
    V1SecretKeySelector,
    V1SecurityContext,
    V1Toleration,
    V1Volume,
    V1VolumeMount,
)

from flowcore.fanout import split_instance
from k8s_runner.pod_request import FLOWDECK_DIR, inputs_to_json

if TYPE_CHECKING:
    from kubernetes.client.models import V1Deployment, V1StatefulSet

    from k8s_runner.pod_request import ContainerRequest, PodRequest

CONTAINER = "main"
# Flowdeck's own containers and volume in a pod with outputs or inputs.
INIT_CONTAINER = "flowdeck-init"
OUTPUTS_CONTAINER = "flowdeck-outputs"
FLOWDECK_VOLUME = "flowdeck"
HELPER_COMMAND = ("python", "-m", "k8s_runner.helper")
# The helper's request, and the Secret keys of the artifact store's credentials
# (the helper module's names: it runs in the pod and cannot import this one).
HELPER_REQUEST_ENV = "FLOWDECK_HELPER_REQUEST"
ACCESS_KEY_KEY = "accessKey"
SECRET_KEY_KEY = "secretKey"
# kubectl logs/exec pick this container when none is named (kubectl 1.21+).
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
# Runs the task's command as it would run ("$@"), then records its exit status
# for the outputs helper. The shell is the container's PID 1, which the kernel
# shields from signals it has no handler for: it forwards SIGTERM (a delete,
# the deadline) to the command, whose own exit status it then keeps. It
# makes the outputs readable by the helper, whatever user wrote them.
WRAPPER = (
    "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM; "
    '"$@" & pid=$!; '
    'while :; do wait "$pid"; code=$?; kill -0 "$pid" 2>/dev/null || break; done; '
    f"chmod -R a+rX {FLOWDECK_DIR}/outputs 2>/dev/null; "
    f'echo "$code" > {FLOWDECK_DIR}/.exit; exit "$code"'
)
# $0 of the wrapper: what `ps` shows.
WRAPPER_NAME = "flowdeck-main"
_HELPER_SECURITY = V1SecurityContext(
    run_as_non_root=True,
    allow_privilege_escalation=False,
    capabilities=V1Capabilities(drop=["ALL"]),
)
# Small: waiting costs nothing; collecting hashes and uploads. A task whose
# own container is Guaranteed keeps its pod Guaranteed (requests = limits).
_HELPER_REQUESTS = {"cpu": "50m", "memory": "64Mi"}
_HELPER_LIMITS = {"memory": "256Mi"}
_HELPER_GUARANTEED = {"cpu": "100m", "memory": "256Mi"}
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "flowdeck"
# Selects every pod Flowdeck manages: the watch, recovery and clean-up use it.
SELECTOR = f"{MANAGED_BY}={MANAGER}"
WORKFLOW_LABEL = "flowdeck.io/workflow"
RUN_LABEL = "flowdeck.io/run"
# The task as the spec names it; an instance of a fan-out (`square[2]`, not a
# valid label value) also carries its index. The exact name is the annotation.
TASK_LABEL = "flowdeck.io/task"
INSTANCE_LABEL = "flowdeck.io/instance"
ATTEMPT_LABEL = "flowdeck.io/attempt"
ATTEMPT_ID_LABEL = "flowdeck.io/attempt-id"
WORKFLOW_ANNOTATION = "flowdeck.io/workflow"
VERSION_ANNOTATION = "flowdeck.io/version"
TASK_ANNOTATION = "flowdeck.io/task"
# The task's own extra containers, by name, so that the pod alone tells its
# init containers and sidecars from Flowdeck's (the watcher has no request).
INIT_CONTAINERS_ANNOTATION = "flowdeck.io/init-containers"
SIDECARS_ANNOTATION = "flowdeck.io/sidecars"
# When the attempt was recorded (flowcore.reports.attempt_stamp): tells its pod
# from one another attempt with the same id left (a database reset or restored).
ATTEMPT_CREATED_ANNOTATION = "flowdeck.io/attempt-created"
# The first Kubernetes minor version with native sidecars on by default.
NATIVE_SIDECARS_SINCE = (1, 29)
# A Job's pods carry this label instead of ATTEMPT_ID_LABEL: the pod watcher
# follows the Job, not each of its pods.
JOB_ATTEMPT_ID_LABEL = "flowdeck.io/job-attempt-id"
# What the Job controller writes on an Indexed Job's pods.
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
# The versions that have each Job field (on by default); an older server
# would drop the field without a word.
INDEXED_JOBS_SINCE = (1, 21)
TTL_AFTER_FINISHED_SINCE = (1, 21)
POD_FAILURE_POLICY_SINCE = (1, 26)

# What an error about a privileged setting says (the spec says the same).
ALLOW_PRIVILEGED_HINT = (
    "is not allowed unless an administrator allows privileged containers"
    " (FLOWDECK_K8S_ALLOW_PRIVILEGED)"
)

_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_INVALID = re.compile(r"[^-A-Za-z0-9_.]+")
_MAX_LABEL = 63
_SYS_ADMIN = frozenset({"SYS_ADMIN", "CAP_SYS_ADMIN"})


class ManifestError(ValueError):
    """A request no pod can carry out as asked (a permanent launch failure)."""


@dataclass(frozen=True, slots=True)
class ArtifactBucket:
    """The S3 artifact store, as the helper containers reach it. Credentials
    never travel in the manifest: they come from a Secret (or the pod's own
    identity, such as IRSA or workload identity)."""

    bucket: str
    prefix: str = ""
    endpoint: str = ""
    region: str = ""


@dataclass(frozen=True, slots=True)
class ManifestSettings:
    """What the deployment decides for every pod."""

    # The pod's seccomp profile; None leaves the container runtime's default.
    seccomp_profile: str | None = "RuntimeDefault"
    # The container's allowPrivilegeEscalation unless the task sets it (and left
    # out where Kubernetes would refuse it: privileged, or adding SYS_ADMIN).
    allow_privilege_escalation: bool | None = False
    # Flowdeck's image, for the helper containers of pods with outputs/inputs.
    helper_image: str = "flowdeck:latest"
    # The S3 store the helpers upload to and fetch from; None: no artifacts.
    artifact_bucket: ArtifactBucket | None = None
    # A Secret in the pod's namespace with the store's `accessKey` and
    # `secretKey`; "" leaves credentials to the pod's identity.
    artifact_secret: str = ""
    # Sidecars as init containers with restartPolicy Always (Kubernetes 1.29+:
    # the kubelet stops them when the task's container ends); False: ordinary
    # containers, the pod deleted by Flowdeck once the task's has ended.
    native_sidecars: bool = False


def label_value(text: str) -> str:
    """`text` as a valid label value (at most 63 characters of letters, digits,
    '-', '_' and '.', starting and ending with a letter or digit); a hash of the
    original is appended when it had to be changed, so values stay distinct."""
    if len(text) <= _MAX_LABEL and _LABEL_VALUE.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    cleaned = _LABEL_INVALID.sub("-", text)[: _MAX_LABEL - 9]
    cleaned = cleaned.strip("-_.")
    return f"{cleaned}-{digest}" if cleaned else digest


def labels_for(request: PodRequest) -> dict[str, str]:
    """The pod's labels. An instance `square[2]` is labelled task=square and
    instance=2, so `-l flowdeck.io/task=square` selects every instance of a
    fan-out (its pod name and its annotation keep the instance's own name)."""
    task, index = split_instance(request.task)
    labels = {
        MANAGED_BY: MANAGER,
        WORKFLOW_LABEL: label_value(request.workflow),
        RUN_LABEL: str(request.run_id),
        TASK_LABEL: label_value(task),
        ATTEMPT_LABEL: str(request.attempt),
        ATTEMPT_ID_LABEL: str(request.attempt_id),
    }
    if index is not None:
        labels[INSTANCE_LABEL] = str(index)
    return labels


def task_of(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The task or instance a pod of ours runs: its annotation, else (a pod
    whose annotations someone removed) its labels."""
    if annotations.get(TASK_ANNOTATION):
        return annotations[TASK_ANNOTATION]
    task = labels.get(TASK_LABEL, "")
    index = labels.get(INSTANCE_LABEL)
    return f"{task}[{index}]" if index is not None else task


def stamp_of(thing: V1Pod | V1Job | V1Deployment | V1StatefulSet) -> str:
    """The attempt stamp a pod, Job or daemon workload carries
    (ATTEMPT_CREATED_ANNOTATION); "" on one made before they carried it."""
    metadata: V1ObjectMeta | None = thing.metadata
    annotations: dict[str, str] = (metadata.annotations if metadata else None) or {}
    return annotations.get(ATTEMPT_CREATED_ANNOTATION, "")


def attempt_id_of(labels: Mapping[str, str] | None) -> int | None:
    """The attempt a pod runs, from its labels; None for a pod not ours."""
    if not labels or labels.get(MANAGED_BY) != MANAGER:
        return None
    try:
        return int(labels.get(ATTEMPT_ID_LABEL, ""))
    except ValueError:
        return None


def refused_privileges(security_context: Mapping[str, Any]) -> list[str]:
    """The fields of a task's security context that need an administrator's
    permission (privileged containers), as `field: value` texts."""
    refused = []
    if security_context.get("privileged") is True:
        refused.append("privileged: true")
    if security_context.get("allowPrivilegeEscalation") is True:
        refused.append("allowPrivilegeEscalation: true")
    if _capabilities_added(security_context):
        refused.append("capabilities.add")
    return refused


# Kubernetes refuses a pod whose activeDeadlineSeconds is past 2**31 - 1 (68 years).
_MAX_DEADLINE_SECONDS = 2**31 - 1


def _deadline_seconds(timeout: float | None) -> int | None:
    """The pod's activeDeadlineSeconds: the task's timeout rounded up to a whole
    second, capped at what Kubernetes accepts. The spec allows at most 365
    days, but a version saved before it had a maximum may ask for 10**30 s;
    the engine never times such an attempt out either."""
    if not timeout:
        return None
    if not timeout < _MAX_DEADLINE_SECONDS:  # inf and NaN included
        return _MAX_DEADLINE_SECONDS
    return math.ceil(timeout)


def pod_manifest(
    request: PodRequest, *, namespace: str, settings: ManifestSettings
) -> V1Pod:
    """The Pod for one attempt. Its name derives from the attempt's identity, so
    creating it twice fails with AlreadyExists instead of running it twice.
    ManifestError when the request cannot be carried out as asked."""
    shared = uses_flowdeck_volume(request)
    if shared:
        _check_data(request, settings)
    main = _container(request, settings)
    containers = [main]
    init_containers: list[V1Container] = []
    volumes = [V1Volume.model_validate(dict(v)) for v in request.volumes]
    if shared:
        _share_data(request, main)
        volumes.append(
            V1Volume(name=FLOWDECK_VOLUME, empty_dir=V1EmptyDirVolumeSource())
        )
        init_containers = [_init_container(request, settings, main)]
        if request.outputs.wanted:
            containers.append(_outputs_container(request, settings, main))
    init_containers += [
        _extra_container(request, own, settings) for own in request.init_containers
    ]
    sidecars = [_extra_container(request, own, settings) for own in request.sidecars]
    if settings.native_sidecars:
        for sidecar in sidecars:
            sidecar.restart_policy = "Always"
        init_containers += sidecars
    else:
        containers += sidecars
    spec = V1PodSpec(
        restart_policy="Never",
        init_containers=init_containers or None,
        containers=containers,
        node_selector=dict(request.node_selector) or None,
        tolerations=[V1Toleration.model_validate(dict(t)) for t in request.tolerations]
        or None,
        affinity=V1Affinity.model_validate(dict(request.affinity))
        if request.affinity
        else None,
        priority_class_name=request.priority_class_name,
        service_account_name=request.service_account_name
        or request.project_service_account,
        image_pull_secrets=[
            V1LocalObjectReference(name=name) for name in request.image_pull_secrets
        ]
        or None,
        volumes=volumes or None,
        active_deadline_seconds=_deadline_seconds(request.timeout),
        security_context=V1PodSecurityContext(
            seccomp_profile=V1SeccompProfile(type=settings.seccomp_profile)
        )
        if settings.seccomp_profile
        else None,
    )
    annotations = {
        WORKFLOW_ANNOTATION: request.workflow,
        VERSION_ANNOTATION: str(request.version),
        TASK_ANNOTATION: request.task,
    }
    if shared or request.sidecars:
        annotations[DEFAULT_CONTAINER_ANNOTATION] = CONTAINER
    if request.init_containers:
        annotations[INIT_CONTAINERS_ANNOTATION] = ",".join(
            own.name for own in request.init_containers
        )
    if request.sidecars:
        annotations[SIDECARS_ANNOTATION] = ",".join(
            own.name for own in request.sidecars
        )
    if request.stamp:
        annotations[ATTEMPT_CREATED_ANNOTATION] = request.stamp
    metadata = V1ObjectMeta(
        name=request.name,
        namespace=namespace,
        labels=labels_for(request),
        annotations=annotations,
    )
    return V1Pod(api_version="v1", kind="Pod", metadata=metadata, spec=spec)


def job_manifest(
    request: PodRequest,
    *,
    namespace: str,
    settings: ManifestSettings,
    server: tuple[int, int] = (1, 99),
) -> V1Job:
    """The batch/v1 Job of a `kind: Job` attempt: the attempt's pod as its
    template, the task's job settings. Its name is the attempt's (a repeated
    launch meets AlreadyExists). ManifestError for what the `server` (its
    major, minor) lacks and would silently drop: completionMode Indexed
    (1.21), podFailurePolicy (1.26); ttlSecondsAfterFinished is left out
    before 1.21 (Flowdeck deletes a finished Job once its end is recorded)."""
    job = request.job or {}
    indexed = job.get("completion_mode") == "Indexed"
    policy = job.get("pod_failure_policy")
    if indexed and server < INDEXED_JOBS_SINCE:
        raise ManifestError(
            "completionMode: Indexed needs Kubernetes 1.21 or newer (the server "
            f"is {server[0]}.{server[1]})"
        )
    if policy and server < POD_FAILURE_POLICY_SINCE:
        raise ManifestError(
            "podFailurePolicy needs Kubernetes 1.26 or newer (the server is "
            f"{server[0]}.{server[1]})"
        )
    pod = pod_manifest(request, namespace=namespace, settings=settings)
    annotations = dict((pod.metadata.annotations if pod.metadata else None) or {})
    labels = labels_for(request)
    labels[JOB_ATTEMPT_ID_LABEL] = labels.pop(ATTEMPT_ID_LABEL)
    template = V1PodTemplateSpec(
        metadata=V1ObjectMeta(labels=labels, annotations=annotations),
        spec=pod.spec,
    )
    ttl = job.get("ttl_seconds_after_finished")
    spec = V1JobSpec(
        template=template,
        completions=job.get("completions", 1),
        parallelism=job.get("parallelism", 1),
        completion_mode="Indexed" if indexed else None,
        backoff_limit=job.get("backoff_limit", 0),
        active_deadline_seconds=job.get("active_deadline_seconds"),
        ttl_seconds_after_finished=ttl if server >= TTL_AFTER_FINISHED_SINCE else None,
        pod_failure_policy=V1PodFailurePolicy.model_validate(dict(policy))
        if policy
        else None,
    )
    metadata = V1ObjectMeta(
        name=request.name,
        namespace=namespace,
        labels=labels_for(request),
        annotations=annotations,
    )
    return V1Job(api_version="batch/v1", kind="Job", metadata=metadata, spec=spec)


def job_attempt_id_of(labels: Mapping[str, str] | None) -> int | None:
    """The attempt whose Job a pod belongs to, from its labels; None for a pod
    that is not a Flowdeck Job's."""
    if not labels or labels.get(MANAGED_BY) != MANAGER:
        return None
    try:
        return int(labels.get(JOB_ATTEMPT_ID_LABEL, ""))
    except ValueError:
        return None


def uses_flowdeck_volume(request: PodRequest) -> bool:
    """Whether the pod needs Flowdeck's /flowdeck volume and containers."""
    return request.outputs.wanted or bool(request.input_artifacts)


def _check_data(request: PodRequest, settings: ManifestSettings) -> None:
    if request.outputs.wanted and not request.command:
        raise ManifestError(
            "a task with outputs needs a `command` on Kubernetes: Flowdeck runs "
            "it under /bin/sh to learn when it ends, and cannot wrap the "
            "image's own entrypoint"
        )
    if request.input_artifacts and settings.artifact_bucket is None:
        raise ManifestError(
            "input artifacts on Kubernetes need the S3 artifact store "
            "(FLOWDECK_ARTIFACT_STORE=s3): the pod fetches them itself"
        )
    for volume in request.volumes:
        if volume.get("name") == FLOWDECK_VOLUME:
            raise ManifestError(
                f"the volume name {FLOWDECK_VOLUME!r} is Flowdeck's own in a "
                "task with outputs or input artifacts: rename it"
            )
    for mount in request.volume_mounts:
        where = str(mount.get("mountPath", ""))
        if where == FLOWDECK_DIR or where.startswith(f"{FLOWDECK_DIR}/"):
            raise ManifestError(
                f"volumeMounts at {where}: {FLOWDECK_DIR} is Flowdeck's own in a "
                "task with outputs or input artifacts"
            )
    for item in request.input_artifacts:
        if item.path == FLOWDECK_DIR:
            raise ManifestError(
                f"input artifact {item.name} cannot be placed at {FLOWDECK_DIR}"
            )


def _share_data(request: PodRequest, main: V1Container) -> None:
    """The task's side of /flowdeck: the volume, its inputs mounted where it
    reads them, and the command under the wrapper."""
    mounts = list(main.volume_mounts or [])
    mounts.append(V1VolumeMount(name=FLOWDECK_VOLUME, mount_path=FLOWDECK_DIR))
    # Every input its own read-only mount, under /flowdeck too: read-only for
    # whatever user the task runs as, root included.
    for item in request.input_artifacts:
        mounts.append(
            V1VolumeMount(
                name=FLOWDECK_VOLUME,
                mount_path=item.path,
                sub_path=item.placed_at,
                read_only=True,
            )
        )
    main.volume_mounts = mounts
    if request.outputs.wanted:
        main.command = ["sh", "-c", WRAPPER, WRAPPER_NAME, *request.command]
        main.args = list(request.args) or None


def _init_container(
    request: PodRequest, settings: ManifestSettings, main: V1Container
) -> V1Container:
    env = [
        V1EnvVar(name=HELPER_REQUEST_ENV, value=inputs_to_json(request.input_artifacts))
    ]
    if request.input_artifacts:
        env += _store_env(settings)
    return _helper("prepare", INIT_CONTAINER, env, settings, main, read_only=False)


def _outputs_container(
    request: PodRequest, settings: ManifestSettings, main: V1Container
) -> V1Container:
    env = [V1EnvVar(name=HELPER_REQUEST_ENV, value=request.outputs.to_json())]
    if request.outputs.artifacts:
        env += _store_env(settings)
    return _helper("outputs", OUTPUTS_CONTAINER, env, settings, main, read_only=True)


def _helper(
    command: str,
    name: str,
    env: list[V1EnvVar],
    settings: ManifestSettings,
    main: V1Container,
    *,
    read_only: bool,
) -> V1Container:
    if _guaranteed(main.resources):
        resources = V1ResourceRequirements(
            requests=dict(_HELPER_GUARANTEED), limits=dict(_HELPER_GUARANTEED)
        )
    else:
        resources = V1ResourceRequirements(
            requests=dict(_HELPER_REQUESTS), limits=dict(_HELPER_LIMITS)
        )
    return V1Container(
        name=name,
        image=settings.helper_image,
        command=[*HELPER_COMMAND, command],
        env=env,
        resources=resources,
        volume_mounts=[
            V1VolumeMount(
                name=FLOWDECK_VOLUME,
                mount_path=FLOWDECK_DIR,
                read_only=read_only or None,
            )
        ],
        security_context=_HELPER_SECURITY,
    )


def _guaranteed(resources: V1ResourceRequirements | None) -> bool:
    """Whether a container's resources make it Guaranteed: CPU and memory
    limits, and requests equal to them (Kubernetes fills in missing ones)."""
    limits = (resources.limits if resources else None) or {}
    requests = (resources.requests if resources else None) or {}
    return all(
        kind in limits and str(requests.get(kind, limits[kind])) == str(limits[kind])
        for kind in ("cpu", "memory")
    )


def _store_env(settings: ManifestSettings) -> list[V1EnvVar]:
    """Where the helpers find the artifact store: the bucket inline, the
    credentials by reference to a Secret (never their values)."""
    bucket = settings.artifact_bucket
    if bucket is None:
        return []
    env = [
        V1EnvVar(name=name, value=value)
        for name, value in (
            ("FLOWDECK_ARTIFACT_S3_BUCKET", bucket.bucket),
            ("FLOWDECK_ARTIFACT_S3_PREFIX", bucket.prefix),
            ("FLOWDECK_ARTIFACT_S3_ENDPOINT", bucket.endpoint),
            ("FLOWDECK_ARTIFACT_S3_REGION", bucket.region),
        )
        if value
    ]
    if settings.artifact_secret:
        env += [
            V1EnvVar(
                name=name,
                value_from=V1EnvVarSource(
                    secret_key_ref=V1SecretKeySelector(
                        name=settings.artifact_secret, key=key
                    )
                ),
            )
            for name, key in (
                ("FLOWDECK_ARTIFACT_S3_ACCESS_KEY", ACCESS_KEY_KEY),
                ("FLOWDECK_ARTIFACT_S3_SECRET_KEY", SECRET_KEY_KEY),
            )
        ]
    return env


def _container(request: PodRequest, settings: ManifestSettings) -> V1Container:
    resources = request.resources
    requests = dict(resources.get("requests") or {})
    limits = dict(resources.get("limits") or {})
    return V1Container(
        name=CONTAINER,
        image=request.image,
        image_pull_policy=request.image_pull_policy,
        command=list(request.command) or None,
        args=list(request.args) or None,
        working_dir=request.working_dir,
        env=_env(request),
        resources=V1ResourceRequirements(
            requests=requests or None, limits=limits or None
        )
        if requests or limits
        else None,
        volume_mounts=[
            V1VolumeMount.model_validate(dict(m)) for m in request.volume_mounts
        ]
        or None,
        security_context=_security_context(request.security_context, settings),
    )


def _extra_container(
    request: PodRequest, own: ContainerRequest, settings: ManifestSettings
) -> V1Container:
    """One of the task's init containers or sidecars: its own fields, the
    task's security context, Flowdeck's variables."""
    requests = dict(own.resources.get("requests") or {})
    limits = dict(own.resources.get("limits") or {})
    return V1Container(
        name=own.name,
        image=own.image,
        image_pull_policy=own.image_pull_policy,
        command=list(own.command) or None,
        args=list(own.args) or None,
        working_dir=own.working_dir,
        env=_env(request, own.env),
        resources=V1ResourceRequirements(
            requests=requests or None, limits=limits or None
        )
        if requests or limits
        else None,
        volume_mounts=[V1VolumeMount.model_validate(dict(m)) for m in own.volume_mounts]
        or None,
        security_context=_security_context(request.security_context, settings),
    )


def _env(
    request: PodRequest, variables: tuple[Mapping[str, Any], ...] | None = None
) -> list[V1EnvVar]:
    """The task's variables (or an extra container's `variables`), after the
    ones Flowdeck sets (which the task may override, as on the local
    backend)."""
    variables = request.env if variables is None else variables
    own = {variable["name"] for variable in variables}
    flowdeck = {
        "FLOWDECK_WORKFLOW": request.workflow,
        "FLOWDECK_RUN_ID": str(request.run_id),
        "FLOWDECK_TASK": request.task,
        "FLOWDECK_ATTEMPT": str(request.attempt),
    }
    if uses_flowdeck_volume(request) and variables is request.env:
        # Only the task's container mounts /flowdeck.
        flowdeck["FLOWDECK_OUTPUTS"] = f"{FLOWDECK_DIR}/outputs"
        flowdeck["FLOWDECK_INPUTS"] = f"{FLOWDECK_DIR}/inputs"
    env = [
        V1EnvVar(name=name, value=value)
        for name, value in flowdeck.items()
        if name not in own
    ]
    for variable in variables:
        source = variable.get("value_from")
        if source:
            env.append(
                V1EnvVar(
                    name=variable["name"],
                    value_from=V1EnvVarSource.model_validate(dict(source)),
                )
            )
        else:
            env.append(
                V1EnvVar(name=variable["name"], value=variable.get("value") or "")
            )
    return env


def _security_context(
    own: Mapping[str, Any], settings: ManifestSettings
) -> V1SecurityContext | None:
    context = dict(own)
    default = settings.allow_privilege_escalation
    if (
        default is not None
        and "allowPrivilegeEscalation" not in context
        # Kubernetes refuses allowPrivilegeEscalation: false beside these.
        and context.get("privileged") is not True
        and not (_SYS_ADMIN & set(_capabilities_added(context)))
    ):
        context["allowPrivilegeEscalation"] = default
    return V1SecurityContext.model_validate(context) if context else None


def _capabilities_added(context: Mapping[str, Any]) -> list[str]:
    capabilities = context.get("capabilities") or {}
    return list(capabilities.get("add") or ())
