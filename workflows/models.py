"""Projects and their members, workflows, their immutable versions, runs, task
runs, attempts and run events.

Status fields are written only by workflows.services (see the transition table
in flowcore.states); everything else here is read-only bookkeeping. Who may
see or do what is decided in workflows.permissions alone.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.db.models import F, Q

from flowcore.concurrency import MUTEX, SEMAPHORE
from flowcore.spec_base import MAX_ACTIVE_RUNS, quantity_value
from flowcore.states import AttemptStatus, RunStatus, TaskStatus


def _choices(enum: type[Any]) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


# A Kubernetes namespace is an RFC 1123 label; a project name is one too, so it
# can be the namespace. At least one letter keeps `?project=<id or name>` apart.
dns_label = RegexValidator(
    r"\A(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z",
    "must be a DNS label: at most 63 lower-case letters, digits and '-', "
    "starting and ending with a letter or digit, with at least one letter",
)


def validate_quantity(value: str) -> Decimal:
    """A Kubernetes quantity such as 4, 500m, 8Gi."""
    try:
        return quantity_value(value)
    except ValueError as error:
        raise ValidationError(str(error)) from None


# The ranges of the project quotas (docs/api.md): far beyond any cluster, and
# within what the running tasks' sums (bigint columns, Decimal) hold.
MAX_RUNNING_TASKS = 1_000_000
MAX_CPU = Decimal(1_000_000)  # CPUs
MIN_CPU = Decimal("0.001")  # 1m
MAX_MEMORY = Decimal(2**60)  # bytes: 1Ei


def validate_cpu_quota(value: str) -> None:
    """A CPU quota: a quantity from 1m to 1000000 (one million CPUs)."""
    if not MIN_CPU <= validate_quantity(value) <= MAX_CPU:
        raise ValidationError("must be from 1m to 1000000 (CPUs)")


def validate_memory_quota(value: str) -> None:
    """A memory quota: a quantity from 1 byte to 1Ei."""
    if not 1 <= validate_quantity(value) <= MAX_MEMORY:
        raise ValidationError("must be from 1 (byte) to 1Ei")


# A service account's name is an RFC 1123 subdomain (what the spec validator
# checks serviceAccountName against).
dns_subdomain = RegexValidator(
    r"\A(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z",
    "must be a DNS subdomain: at most 253 lower-case letters, digits, '-' and "
    "'.', starting and ending with a letter or digit",
)


def validate_service_account_list(value: Any) -> None:
    """A list of Kubernetes service account names, at most 100."""
    if not isinstance(value, list) or len(value) > 100:
        raise ValidationError("must be a list of at most 100 service accounts")
    for name in value:
        if not isinstance(name, str):
            raise ValidationError("every service account must be a string")
        dns_subdomain(name)


def allowed_service_accounts(default: str, others: Any) -> list[str]:
    """Project.service_account_names() from the two fields' values."""
    names = [default] if default else []
    return list(dict.fromkeys([*names, *(others or ())]))


def validate_namespace_list(value: Any) -> None:
    """A list of Kubernetes namespaces (RFC 1123 labels), at most 100."""
    if not isinstance(value, list) or len(value) > 100:
        raise ValidationError("must be a list of at most 100 namespaces")
    for name in value:
        if not isinstance(name, str):
            raise ValidationError("every namespace must be a string")
        if len(name) > 63:
            raise ValidationError(f"{name[:70]!r} is longer than 63 characters")
        dns_label(name)


class Project(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[dns_label])
    description = models.TextField(blank=True)
    # Empty: the installation's namespace (FLOWDECK_K8S_NAMESPACE). Read it
    # through namespaces() / default_namespace. Site administrators alone set
    # it and `extra_namespaces`: together, the only namespaces the project's
    # workflows may name (spec.namespace), checked at save, submit and launch.
    namespace = models.CharField(
        max_length=63,
        blank=True,
        validators=[dns_label],
        help_text="The Kubernetes namespace of the project's pods; empty: the "
        "installation's (FLOWDECK_K8S_NAMESPACE).",
    )
    extra_namespaces = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_namespace_list],
        help_text="More namespaces the project's workflows may name "
        "(spec.namespace), after its default one.",
    )
    # Optional: the service account of the project's pods when a task names
    # none, and the others its workflows may name. Set either, and a workflow
    # may name only these (checked at save, submit and launch, like
    # namespaces); neither: any, as the cluster's RBAC allows.
    default_service_account = models.CharField(
        max_length=253,
        blank=True,
        validators=[dns_subdomain],
        help_text="The serviceAccountName of the project's pods when a task "
        "names none; empty: the namespace's default.",
    )
    service_accounts = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_service_account_list],
        help_text="More service accounts the project's workflows may name "
        "(serviceAccountName).",
    )
    # Quotas over the running tasks of all the project's runs; null or empty:
    # no limit.
    max_running_tasks = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RUNNING_TASKS)],
        help_text="At most this many tasks run at once; empty: no limit.",
    )
    max_cpu = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_cpu_quota],
        help_text="CPU requested by running tasks, e.g. 4 or 500m; empty: no limit.",
    )
    max_memory = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_memory_quota],
        help_text="Memory requested by running tasks, e.g. 8Gi; empty: no limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def namespaces(self) -> list[str]:
        """The Kubernetes namespaces the project's pods may go to, its default
        (its own or the installation's) first, then `extra_namespaces`."""
        default = self.namespace or settings.FLOWDECK_K8S_NAMESPACE
        extra = [n for n in self.extra_namespaces or () if n != default]
        return [default, *dict.fromkeys(extra)]

    @property
    def default_namespace(self) -> str:
        return self.namespaces()[0]

    def service_account_names(self) -> list[str]:
        """The service accounts the project's workflows may name, its default
        first; empty: no rule (any)."""
        return allowed_service_accounts(
            self.default_service_account, self.service_accounts
        )

    @property
    def has_quota(self) -> bool:
        return bool(self.max_running_tasks or self.max_cpu or self.max_memory)


# A semaphore's name, as a spec names it: a DNS label (docs/spec.md).
semaphore_name = RegexValidator(
    r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z",
    "must be at most 63 lower-case letters, digits and '-', starting and "
    "ending with a letter or digit",
)
# The most holders a semaphore may admit (docs/api.md): maxActiveRuns' range.
MAX_SEMAPHORE_LIMIT = MAX_ACTIVE_RUNS


class Semaphore(models.Model):
    """A named limit on how many tasks or runs of the project hold it at once
    (`synchronization: {semaphore: NAME}` in a spec); project admins define
    them. Who holds one is in SemaphoreClaim."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="semaphores"
    )
    name = models.CharField(max_length=63, validators=[semaphore_name])
    limit = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SEMAPHORE_LIMIT)],
        help_text="How many tasks or runs may hold it at once.",
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="unique_semaphore_in_project"
            )
        ]

    def __str__(self) -> str:
        return f"semaphore {self.name} ({self.limit})"


class Role(models.TextChoices):
    """A member's role in a project, weakest first; each role may do what the
    ones before it may (the table is in workflows.permissions)."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OPERATOR = "operator"
    ADMIN = "admin"


class Membership(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    # Granted by the identity provider's groups (FLOWDECK_OIDC_GROUP_ROLES):
    # recomputed at each single sign-on, unlike roles granted in Flowdeck.
    from_sso = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"], name="unique_project_member"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class Workflow(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="workflows"
    )
    name = models.CharField(max_length=63)
    description = models.TextField(blank=True)
    labels = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="workflows"
    )
    latest_version = models.ForeignKey(
        "WorkflowVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="unique_workflow_name_in_project"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ImmutableError(Exception):
    pass


class WorkflowVersion(models.Model):
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    document = models.JSONField()  # the spec document exactly as validated
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.CharField(max_length=500, blank=True)
    # What the document was converted from, kept for reference: {"format":
    # "argo", "text": the original document as it was given}. None for a
    # document written as Flowdeck's own.
    source = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "number"], name="unique_version_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Runs pin a version: changing one would rewrite what past runs ran.
        if self.pk is not None:
            raise ImmutableError("workflow versions cannot be changed")
        super().save(*args, **kwargs)


class Run(models.Model):
    class Trigger(models.TextChoices):
        MANUAL = "manual"
        API = "api"
        RESUBMIT = "resubmit"
        SCHEDULE = "schedule"
        DEBUG = "debug"
        SUBWORKFLOW = "subworkflow"

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="runs"
    )
    version = models.ForeignKey(
        WorkflowVersion, on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(
        max_length=16, choices=_choices(RunStatus), default=RunStatus.PENDING
    )
    parameters = models.JSONField(default=dict, blank=True)
    trigger = models.CharField(
        max_length=16, choices=Trigger.choices, default=Trigger.API
    )
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    resubmitted_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveBigIntegerField(default=0)  # of its newest RunEvent
    # The run's project while it has a quota (kept by the services): planning
    # a run without one needs no query about quotas.
    quota_project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A debug run: `debug_task` of `debug_of` run again alone (no dependencies)
    # with `overrides` (command, args, env, image) applied to it.
    debug_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="debug_runs",
    )
    debug_task = models.CharField(max_length=63, blank=True)
    overrides = models.JSONField(null=True, blank=True)
    # A sub-workflow's run: the run, task and attempt that started it, and
    # how deep in such calls it is (FLOWDECK_MAX_SUBWORKFLOW_DEPTH).
    parent_run = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
    )
    parent_task = models.CharField(max_length=72, blank=True)
    # The W3C traceparent of its submission's span: the run's trace
    # (observability.tracing; empty while tracing is off).
    traceparent = models.CharField(max_length=64, blank=True)
    parent_attempt = models.ForeignKey(
        "Attempt", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    depth = models.PositiveSmallIntegerField(default=0)
    # What the run returns (spec.outputs), set when it succeeds:
    # {"parameters": {name: {"value", "secret"}}, "artifacts": {name: {...}}}.
    outputs = models.JSONField(default=dict, blank=True)
    # The `Idempotency-Key` a submission came with (scoped to the workflow and
    # the person) and a hash of its body: a retry with the same key returns
    # this run, one with another body is refused (services/submit.py).
    idempotency_key = models.CharField(max_length=255, blank=True)
    idempotency_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-id"]
        # The runs list pages newest first by id (keyset), under each of its
        # filters: every filter has an index ending in the id, so a page reads
        # its 50 rows and stops (docs/performance.md, "A long history").
        indexes = [
            models.Index(fields=["status", "-id"], name="run_status_id"),
            models.Index(fields=["workflow", "-id"], name="run_workflow"),
            models.Index(
                fields=["workflow", "status", "-id"], name="run_workflow_status"
            ),
            models.Index(fields=["triggered_by", "-id"], name="run_who"),
            models.Index(fields=["created_at", "id"], name="run_created"),
            # maxActiveRuns counts a workflow's active runs and the Pending ones
            # before a run, and wakes the oldest waiting one.
            models.Index(
                fields=["workflow", "id"],
                name="run_unfinished",
                condition=Q(status__in=["Pending", "Running", "Cancelling"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "triggered_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="run_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name} run {self.pk}"


# A run's tasks as pages show them: in the workflow's order, each fan-out
# followed by its instances in item order (its own row has no fan_index, which
# PostgreSQL would otherwise sort last and SQLite first).
TASK_PAGE_ORDER = ("position", F("fan_index").asc(nulls_first=True))


class TaskRun(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tasks")
    # A task's name, or an instance's: `process[3]` (a task of at most 63
    # characters and an index of up to 6 digits).
    name = models.CharField(max_length=72)
    status = models.CharField(
        max_length=16, choices=_choices(TaskStatus), default=TaskStatus.PENDING
    )
    position = models.PositiveIntegerField()  # topological, for ordering and tie-breaks
    priority = models.IntegerField(default=0)
    attempts_count = models.PositiveIntegerField(default=0)
    # The first attempt number since the last manual retry: automatic retries
    # count from here, so a person's retry gets the full retry budget again.
    round_start = models.PositiveIntegerField(default=1)
    retry_at = models.DateTimeField(null=True, blank=True)
    # When it last became Queued: its scheduling latency counts from here.
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # of the live attempt
    finished_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    # What the task's spec requests, summed over a project's running tasks
    # for its quota (see services.quotas).
    cpu_request_milli = models.BigIntegerField(default=0)
    memory_request_bytes = models.BigIntegerField(default=0)
    # An instance of a fan-out (docs/spec.md, "Fan-out"): its task, the
    # index and value of its item.
    fan_group = models.CharField(max_length=63, blank=True)
    fan_index = models.PositiveIntegerField(null=True, blank=True)
    fan_item = models.JSONField(null=True, blank=True)
    # A fan-out once expanded: its instances, how many are done and how many
    # of those did not succeed (kept by RunTransaction.set_task_status).
    fan_out = models.PositiveIntegerField(null=True, blank=True)
    fan_done = models.PositiveIntegerField(default=0)
    fan_failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "position", "fan_index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="unique_task_in_run")
        ]
        indexes = [
            models.Index(
                fields=["run", "status", "-priority", "position", "fan_index"],
                name="task_queue_fan",
            ),
            # A fan-out's instances, for their outputs and their counts.
            models.Index(
                fields=["run", "fan_group", "fan_index"],
                name="fan_instances",
                condition=~Q(fan_group=""),
            ),
            # A project's quota sums its running tasks and finds runs waiting.
            models.Index(
                fields=["run"],
                name="quota_tasks",
                condition=Q(status__in=["Running", "Cancelling", "Queued"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.name}"


class SemaphoreClaim(models.Model):
    """A task, or a whole run (`task` empty), holding a project's semaphore or
    mutex (`held`), or queued behind it. Written only by
    workflows.services.concurrency, in the transaction that starts, queues or
    ends what claims it, so the rows are exactly who holds what."""

    class Kind(models.TextChoices):
        SEMAPHORE = SEMAPHORE
        MUTEX = MUTEX

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=63)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="claims")
    task = models.CharField(max_length=72, blank=True)  # "": the whole run
    held = models.BooleanField(default=False)
    since = models.DateTimeField()  # when it started holding or waiting

    class Meta:
        ordering = ["project", "kind", "name", "run", "task"]
        constraints = [
            models.UniqueConstraint(fields=["run", "task"], name="unique_claim")
        ]
        indexes = [
            # A semaphore's holders, and its waiters oldest run first.
            models.Index(
                fields=["project", "name", "kind", "held", "run"], name="claims"
            )
        ]

    def __str__(self) -> str:
        who = f"run {self.run_id}" + (f" {self.task}" if self.task else "")
        verb = "holds" if self.held else "waits for"
        return f"{who} {verb} {self.kind} {self.name}"


class Attempt(models.Model):
    task_run = models.ForeignKey(
        TaskRun, on_delete=models.CASCADE, related_name="attempts"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=_choices(AttemptStatus), default=AttemptStatus.LAUNCHING
    )
    backend = models.CharField(max_length=32)
    handle = models.CharField(max_length=253, blank=True)  # pid, pod name, ...
    request = models.JSONField(default=dict)  # the rendered task it runs
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    log_path = models.CharField(max_length=1024, blank=True)

    class Meta:
        ordering = ["task_run", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["task_run", "number"], name="unique_attempt_number"
            )
        ]
        indexes = [
            models.Index(
                fields=["status"],
                name="live_attempts",
                condition=Q(
                    status__in=["Launching", "Pending", "Running", "Cancelling"]
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_run} #{self.number}"


class AttemptOutput(models.Model):
    """What an attempt left for its dependants: its result, a named output
    parameter, or an artifact (kept in the artifact store by its sha256).
    Recorded with the attempt's end, before its dependants are planned."""

    class Kind(models.TextChoices):
        RESULT = "result"
        PARAMETER = "parameter"
        ARTIFACT = "artifact"

    attempt = models.ForeignKey(
        Attempt, on_delete=models.CASCADE, related_name="outputs"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=63, blank=True)  # "" for the result
    value = models.TextField(blank=True)  # a parameter's or the result's text
    secret = models.BooleanField(default=False)  # never shown back
    size = models.BigIntegerField(default=0)  # bytes
    sha256 = models.CharField(max_length=64, blank=True)  # an artifact's blob
    filename = models.CharField(max_length=255, blank=True)  # its download name
    directory = models.BooleanField(default=False)  # stored as a .tar.gz

    class Meta:
        ordering = ["attempt", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt", "kind", "name"], name="unique_attempt_output"
            )
        ]
        indexes = [
            # Garbage collection asks which blobs are still referenced.
            models.Index(
                fields=["sha256"], name="artifact_blobs", condition=~Q(sha256="")
            )
        ]

    def __str__(self) -> str:
        return f"{self.attempt} {self.kind} {self.name}".rstrip()


class RunEvent(models.Model):
    class Kind(models.TextChoices):
        RUN = "run"
        TASK = "task"
        ATTEMPT = "attempt"
        MESSAGE = "message"

    # What the API and the websockets show of an event, in this order.
    PUBLIC_FIELDS = (
        "seq",
        "kind",
        "task",
        "attempt",
        "status",
        "previous",
        "message",
        "data",
        "created_at",
    )

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    task = models.CharField(max_length=72, blank=True)  # a task's or an instance's
    attempt = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, blank=True)
    previous = models.CharField(max_length=16, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="unique_event_seq")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.kind} {self.task} {self.status}"


class LeaderLease(models.Model):
    """Who leads a replicated role (the pod watcher, the beat), and the fencing
    generation its writes are checked against (workflows/services/leadership.py).

    With the database lock the row is the lease itself; with a Kubernetes
    Lease it holds only the generation, raised by each new leader before it
    acts.
    """

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=255, blank=True)
    generation = models.PositiveBigIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.holder or '-'} (generation {self.generation})"
