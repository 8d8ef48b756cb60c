"""REST viewsets for workflows and runs: declarative, writes through services.

Visibility always starts from `permissions.visible(..., user)`, so a workflow or run
of a project you are not a member of is a 404; one you may see but whose
project role is too low for the action is a 403 (api.permissions.ProjectRole,
deciding through workflows.permissions). Every change is recorded in the audit
log. Domain errors become HTTP answers in workflows.api.errors (SpecError 400,
ActionRefused 409, DoesNotExist 404).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.db.models.fields.json import KT
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts import audit
from accounts.authentication import PersonalTokenAuthentication
from flowcore.spec import validate
from flowcore.states import TERMINAL_ATTEMPT_STATUSES, TaskStatus
from flowcore.validation.backend import backend_warnings
from k8s_runner.logs import open_log, pod_events
from workflows.api.filters import RunFilter, WorkflowFilter, int_param
from workflows.api.pagination import RunCursorPagination
from workflows.api.parsers import (
    JSONParser,
    LegacyYAMLParser,
    TextYAMLParser,
    YAMLParser,
)
from workflows.api.permissions import ProjectRole
from workflows.api.run_outputs import RunOutputsActions
from workflows.api.serializers import (
    AttemptRequestSerializer,
    DebugOverridesSerializer,
    DebugRunSerializer,
    DetailSerializer,
    PodEventListSerializer,
    RerunPreviewSerializer,
    RetrySerializer,
    RunDetailSerializer,
    RunEventPageSerializer,
    RunEventSerializer,
    RunResubmitSerializer,
    RunSerializer,
    RunSubmitSerializer,
    SpecErrorSerializer,
    TaskPageSerializer,
    TaskRunSerializer,
    ValidationResultSerializer,
    VersionListItemSerializer,
    VersionSerializer,
    WorkflowDocumentSerializer,
    WorkflowListSerializer,
    WorkflowSerializer,
    task_context,
)
from workflows.blueprints import spec_limits
from workflows.dag_pictures import (
    FORMATS,
    MAX_EXPORT_TASKS,
    PictureError,
    render_document,
)
from workflows.ids import is_digits, parse_id
from workflows.listing import visible_runs
from workflows.models import (
    TASK_PAGE_ORDER,
    Attempt,
    Project,
    Run,
    TaskRun,
    Workflow,
)
from workflows.permissions import Action, require, visible, visible_projects
from workflows.services.control import (
    cancel_run,
    debug_task,
    rerun_preview,
    resubmit_run,
    retry_from_task,
    retry_run,
)
from workflows.services.dispatch import deferred_dispatches
from workflows.services.submit import (
    default_project,
    delete_workflow,
    submit_run,
    submit_run_once,
)

MAX_VERSION_MESSAGE = 500
MAX_LOG_TAIL = 10 * 1024 * 1024
MAX_EVENTS = 1000
TASK_PAGE = 200
MAX_TASK_PAGE = 1000
MAX_TASK_NAME = 72
LOG_STATUS_HEADER = "X-Flowdeck-Log-Status"
LOG_CHUNK = 64 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")

SPEC_BODY = {
    "application/json": OpenApiTypes.OBJECT,
    "application/yaml": OpenApiTypes.OBJECT,
}
NOT_FOUND = OpenApiResponse(DetailSerializer, description="Not found or not visible.")
FORBIDDEN = OpenApiResponse(
    DetailSerializer,
    description="Visible, but your role in its project does not allow this "
    "(detail names your role and the one needed).",
)
REFUSED = OpenApiResponse(
    DetailSerializer, description="The run's state forbids the action."
)
SPEC_INVALID = OpenApiResponse(
    SpecErrorSerializer, description="Every problem, each with its field path."
)
BAD_QUERY = OpenApiResponse(
    OpenApiTypes.OBJECT, description="A bad value, keyed by the parameter's name."
)
VERSION_MESSAGE_PARAMETERS = [
    OpenApiParameter(
        "message",
        str,
        description="The new version's message (or the X-Flowdeck-Message header).",
    ),
    OpenApiParameter(
        "X-Flowdeck-Message",
        str,
        location=OpenApiParameter.HEADER,
        description="The new version's message.",
    ),
]
TASK_NAME = OpenApiParameter("task", str, location=OpenApiParameter.PATH)
ATTEMPT_NUMBER = OpenApiParameter(
    "attempt", int, description="The attempt number; the latest if omitted."
)
PROJECT_PARAMETER = OpenApiParameter(
    "project",
    str,
    description="The project (id or name) to create the workflow in; required "
    "when you are a member of more than one.",
)


def project_for_create(request: Request) -> Project:
    """The project named by `?project=` (id or name) among those the user may
    see, or their only project; 400 naming `project` when it is unknown or
    ambiguous, 403 when the role there does not allow creating workflows."""
    visible = visible_projects(request.user)
    raw = request.query_params.get("project", "").strip()
    if raw:
        if not is_digits(raw):
            found = visible.filter(name=raw)
        elif (project_id := parse_id(raw)) is not None:
            found = visible.filter(pk=project_id)
        else:
            found = visible.none()
        project = found.first()
        if project is None:
            raise ValidationError(
                {"project": [f"no project {raw!r} that you are a member of"]}
            )
    else:
        # Where the person works, not all they may see: a site administrator
        # sees every project without being a member of any.
        mine = list(
            Project.objects.filter(memberships__user=request.user)
            .order_by("name")
            .values_list("name", flat=True)[:6]
        )
        if len(mine) > 1:
            listed = ", ".join(mine[:5]) + (", ..." if len(mine) > 5 else "")
            raise ValidationError(
                {
                    "project": [
                        f"you are a member of several projects ({listed}): name "
                        "one with ?project=<id or name>"
                    ]
                }
            )
        if mine:
            project = Project.objects.get(name=mine[0])
        elif request.user.is_superuser:
            # The first administrator (createsuperuser) is in no project yet.
            project = default_project()
        else:
            raise PermissionDenied(
                "you are not a member of any project; creating workflows needs "
                "the editor role in one"
            )
    require(request, Action.CREATE_WORKFLOW, project)
    return project


def version_message(request: Request) -> str:
    message = request.query_params.get("message")
    if message is None:
        message = request.headers.get("X-Flowdeck-Message", "")
    if len(message) > MAX_VERSION_MESSAGE:
        raise ValidationError(
            {"message": [f"must be at most {MAX_VERSION_MESSAGE} characters"]}
        )
    if "\x00" in message:  # the header: the query string is refused before
        raise ValidationError({"message": ["may not contain a NUL character"]})
    return message


class PlainTextRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        if isinstance(data, bytes):
            return data
        if isinstance(data, dict) and set(data) == {"detail"}:
            return f"{data['detail']}\n".encode()
        if isinstance(data, str):
            return data.encode()
        return json.dumps(data).encode()  # an error keyed by parameter name


@extend_schema(tags=["workflows"])
class WorkflowViewSet(viewsets.ModelViewSet):
    """Workflows: their spec documents, versions, and starting runs.

    The body of create, update and validate is the spec document itself, as
    JSON or as YAML (Content-Type: application/yaml).
    """

    queryset = Workflow.objects.select_related(
        "owner", "project", "latest_version__author"
    )
    serializer_class = WorkflowSerializer
    filter_backends = [WorkflowFilter]
    parser_classes = [JSONParser, YAMLParser, TextYAMLParser, LegacyYAMLParser]
    permission_classes = [IsAuthenticated, ProjectRole]
    required_actions = {
        "update": Action.UPDATE_WORKFLOW,
        "partial_update": Action.UPDATE_WORKFLOW,
        "destroy": Action.DELETE_WORKFLOW,
        "runs": Action.SUBMIT_RUN,
    }

    def get_queryset(self) -> QuerySet[Workflow]:
        queryset = visible(super().get_queryset(), self.request.user)
        if self.action == "list":
            queryset = queryset.defer("latest_version__document")
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action == "list":
            return WorkflowListSerializer
        if self.action in ("create", "update", "partial_update"):
            return WorkflowDocumentSerializer
        return WorkflowSerializer

    @extend_schema(
        request=SPEC_BODY,
        parameters=[PROJECT_PARAMETER, *VERSION_MESSAGE_PARAMETERS],
        responses={201: WorkflowSerializer, 400: SPEC_INVALID, 403: FORBIDDEN},
        description="Create a workflow from a spec document in a project (needs "
        "the editor role there). Nothing is saved unless the whole document is "
        "valid; a name taken in the project is an error at metadata.name.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    @extend_schema(
        request=SPEC_BODY,
        parameters=VERSION_MESSAGE_PARAMETERS,
        responses={
            200: WorkflowSerializer,
            400: SPEC_INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        description="Save a full spec document as the next version (editor). The "
        "name cannot change. A secret env value sent back as the mask keeps its "
        "stored value.",
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    @extend_schema(
        request=SPEC_BODY,
        parameters=VERSION_MESSAGE_PARAMETERS,
        responses={
            200: WorkflowSerializer,
            400: SPEC_INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        description="Editor: merge a partial document over the latest one (JSON Merge "
        "Patch, RFC 7386: objects merge, lists are replaced, null removes a key) "
        "and save the result as the next version.",
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND, 409: REFUSED},
        description="Delete the workflow with its versions and finished runs "
        "(editor); refused while any of its runs has not finished.",
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer) -> None:
        project = project_for_create(self.request)
        message = version_message(self.request)
        with audit.recording(
            self.request, Action.CREATE_WORKFLOW, project=project
        ) as entry:
            workflow = serializer.save(
                author=self.request.user, message=message, project=project
            )
            entry.target = workflow
            entry.detail["version"] = 1

    def perform_update(self, serializer: BaseSerializer) -> None:
        message = version_message(self.request)
        workflow = serializer.instance
        with audit.recording(self.request, Action.UPDATE_WORKFLOW, workflow) as entry:
            saved = serializer.save(author=self.request.user, message=message)
            entry.detail["version"] = saved.latest_version.number

    def perform_destroy(self, instance: Workflow) -> None:
        with audit.recording(self.request, Action.DELETE_WORKFLOW, instance):
            delete_workflow(instance)

    def get_success_headers(self, data: Any) -> dict[str, str]:
        return {"Location": data["urls"]["self"]}

    @extend_schema(
        request=SPEC_BODY,
        responses={
            200: ValidationResultSerializer,
            400: OpenApiResponse(
                DetailSerializer, description="The body is not JSON or YAML."
            ),
        },
        description="Dry run: check a spec document without saving it. An "
        "invalid document is still a 200, with valid false and every error; "
        "only a body that does not parse is a 400. A taken name is not checked. "
        "warnings name what this server's backend cannot run in a valid document.",
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def validate(self, request: Request) -> Response:
        errors = validate(request.data, spec_limits())
        backend = settings.FLOWDECK_BACKEND
        warnings = backend_warnings(request.data, backend)
        result = {
            "valid": not errors,
            "errors": [e.as_dict() for e in errors],
            "backend": backend,
            "warnings": [w.as_dict() for w in warnings],
        }
        return Response(ValidationResultSerializer(result).data)

    @extend_schema(
        request=SPEC_BODY,
        parameters=[
            OpenApiParameter(
                "as", str, enum=["svg", "png"], description="The picture's format."
            )
        ],
        responses={
            (200, "image/svg+xml"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
            400: DetailSerializer,
        },
        description="Draw a spec document's DAG with graphviz (the editor's "
        "export): task names and dependencies only, so a document that does not "
        "validate is drawn too. At most "
        f"{MAX_EXPORT_TASKS} tasks. Nothing is saved.",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="graph",
        filter_backends=[],
        pagination_class=None,
    )
    def graph(self, request: Request) -> HttpResponse | Response:
        kind = request.query_params.get("as", "svg")
        try:
            picture = render_document(request.data, kind)
        except PictureError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        response = HttpResponse(picture, content_type=FORMATS[kind])
        response["Content-Disposition"] = f'attachment; filename="workflow.{kind}"'
        # An SVG opened from here must not run anything it might carry.
        response["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'"
        )
        return response

    @extend_schema(
        responses={200: VersionListItemSerializer(many=True), 404: NOT_FOUND},
        description="The workflow's versions, newest first; `source_format` says "
        "which were converted from another format (argo).",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        # The format without the original's text, which may be long.
        versions = (
            workflow.versions.select_related("author")
            .defer("document", "source")
            .annotate(source_format=KT("source__format"))
        )
        page = self.paginate_queryset(versions)
        serializer = VersionListItemSerializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        parameters=[OpenApiParameter("number", int, location=OpenApiParameter.PATH)],
        responses={200: VersionSerializer, 404: NOT_FOUND},
        description="One version, with its spec document.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"versions/(?P<number>[0-9]+)",
        url_name="version",
        filter_backends=[],
    )
    def version(
        self, request: Request, pk: str | None = None, number: str = ""
    ) -> Response:
        workflow = self.get_object()
        version = workflow.versions.select_related("author").get(number=int(number))
        return Response(VersionSerializer(version).data)

    @extend_schema(
        request=RunSubmitSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                location=OpenApiParameter.HEADER,
                required=False,
                description="Up to 255 printable ASCII characters. A retry with "
                "the same key (same person, same workflow) and the same body "
                "returns the first run (header Idempotent-Replayed: true); with "
                "another body it is a 409.",
            )
        ],
        responses={
            201: RunDetailSerializer,
            400: SPEC_INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(
                DetailSerializer,
                description="The Idempotency-Key was used with another body.",
            ),
        },
        description="Start a run of the latest version (or of `version`); needs "
        "the operator role. An unknown or missing parameter is a 400 at "
        "parameters.<name>. A 201 means the run is saved: `dispatch` is "
        '"queued" when the broker took it, "deferred" when the broker was '
        "unavailable (the sweep starts it once the broker is back), "
        '"earlier" for a replayed Idempotency-Key.',
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def runs(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        key = idempotency_key(request)
        serializer = RunSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        number = serializer.validated_data.get("version")
        if number is None:
            version = workflow.latest_version
        else:
            version = workflow.versions.filter(number=number).first()
            if version is None:
                raise ValidationError(
                    {"version": [f"{workflow.name} has no version {number}"]}
                )
        parameters = serializer.validated_data.get("parameters")
        with (
            audit.recording(
                request,
                Action.SUBMIT_RUN,
                workflow,
                detail={"workflow": workflow.name, "version": version.number},
            ) as entry,
            deferred_dispatches() as deferred,
        ):
            submit = {"parameters": parameters, "trigger": trigger_of(request)}
            if key is None:
                run, created = submit_run(version, user=request.user, **submit), True
            else:
                body = {"version": number, "parameters": parameters}
                run, created = submit_run_once(
                    version,
                    key=key,
                    request_hash=hashlib.sha256(
                        json.dumps(body, sort_keys=True).encode()
                    ).hexdigest(),
                    user=request.user,
                    **submit,
                )
            entry.target = run
            if not created:
                entry.detail["replayed"] = key
        response = run_response(run, request, status.HTTP_201_CREATED)
        if not created:
            response.data["dispatch"] = "earlier"
            response["Idempotent-Replayed"] = "true"
        else:
            response.data["dispatch"] = "deferred" if run.pk in deferred else "queued"
        return response


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, None without one; a 400 naming the
    header when it is not 1 to 255 printable ASCII characters."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key) or not key.strip():
        raise ValidationError(
            {IDEMPOTENCY_HEADER: ["must be 1 to 255 printable ASCII characters"]}
        )
    return key


def trigger_of(request: Request) -> str:
    """A token means a script or another system; a session means a person."""
    if isinstance(request.successful_authenticator, PersonalTokenAuthentication):
        return Run.Trigger.API
    return Run.Trigger.MANUAL


def detail_queryset(user: Any) -> QuerySet[Run]:
    return (
        visible(Run.objects.all(), user)
        .select_related("workflow__project", "version", "triggered_by")
        .defer("version__document")
    )


def tasks_with_attempts(tasks: QuerySet[TaskRun]) -> QuerySet[TaskRun]:
    attempts = Attempt.objects.defer("request").order_by("number")
    return tasks.order_by(*TASK_PAGE_ORDER).prefetch_related(
        Prefetch("attempts", queryset=attempts)
    )


def run_response(
    run: Run, request: Request, code: int = status.HTTP_200_OK
) -> Response:
    fresh = detail_queryset(request.user).get(pk=run.pk)
    return Response(
        RunDetailSerializer(fresh, context={"request": request}).data, status=code
    )


@extend_schema(tags=["runs"])
class RunViewSet(RunOutputsActions, viewsets.ReadOnlyModelViewSet):
    """Runs: their tasks and attempts, logs, events, and what a person does to
    them (retry, retry from a task, cancel, resubmit)."""

    queryset = Run.objects.select_related(
        "workflow__project", "version", "triggered_by"
    )
    serializer_class = RunSerializer
    filter_backends = [RunFilter]
    pagination_class = RunCursorPagination
    permission_classes = [IsAuthenticated, ProjectRole]
    required_actions = {
        "retry": Action.RETRY_RUN,
        "retry_task": Action.RETRY_TASK,
        "cancel": Action.CANCEL_RUN,
        "resubmit": Action.RESUBMIT_RUN,
        "debug": Action.DEBUG_TASK,
    }

    def get_queryset(self) -> QuerySet[Run]:
        if self.action == "retrieve":
            return detail_queryset(self.request.user)
        if self.action == "list":
            # By workflow ids (listing.visible_runs): fast with a long history.
            return visible_runs(self.request.user, super().get_queryset()).defer(
                "version__document"
            )
        return visible(super().get_queryset(), self.request.user).defer(
            "version__document"
        )

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action == "retrieve":
            return RunDetailSerializer
        return RunSerializer

    @extend_schema(
        responses={200: RunSerializer(many=True), 400: BAD_QUERY},
        description="Runs, newest first, a page at a time: follow `next` (a "
        "cursor; there is no `count` and no `page`).",
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: RunDetailSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    def task_of(self, run: Run, name: str) -> TaskRun:
        task = run.tasks.filter(name=name).first()
        if task is None:
            raise NotFound(f"run {run.pk} has no task {name!r}")
        return task

    @extend_schema(
        request=None,
        responses={200: RetrySerializer, 403: FORBIDDEN, 404: NOT_FOUND, 409: REFUSED},
        description="Run again every task that did not succeed and everything "
        "downstream of it; succeeded tasks keep their results. Only a finished "
        "run can be retried. Needs the operator role.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        with audit.recording(request, Action.RETRY_RUN, run) as entry:
            names = retry_run(run.pk, user=request.user)
            entry.detail["rerun"] = names[:50]
        return retry_response(run, names, request)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "task",
                str,
                description="Preview a retry from this task instead of a retry "
                "of everything that did not succeed.",
            )
        ],
        responses={200: RerunPreviewSerializer, 404: NOT_FOUND},
        description="The tasks a retry would run again, before confirming it.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="retry/preview",
        url_name="retry-preview",
        filter_backends=[],
    )
    def retry_preview(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        name = request.query_params.get("task") or None
        if name is not None:
            self.task_of(run, name)
        return Response({"tasks": rerun_preview(run, name)})

    @extend_schema(
        request=None,
        parameters=[TASK_NAME],
        responses={200: RetrySerializer, 403: FORBIDDEN, 404: NOT_FOUND, 409: REFUSED},
        description="Run this task and everything downstream of it again. Only "
        "a finished run can be retried. Needs the operator role.",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"tasks/(?P<task>[^/]+)/retry",
        url_name="task-retry",
        filter_backends=[],
    )
    def retry_task(
        self, request: Request, pk: str | None = None, task: str = ""
    ) -> Response:
        run = self.get_object()
        self.task_of(run, task)
        with audit.recording(
            request, Action.RETRY_TASK, run, detail={"task": task}
        ) as entry:
            names = retry_from_task(run.pk, task, user=request.user)
            entry.detail["rerun"] = names[:50]
        return retry_response(run, names, request)

    @extend_schema(
        request=None,
        responses={
            200: RunDetailSerializer,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: REFUSED,
        },
        description="Stop the run: live attempts are cancelled and nothing new "
        "starts. Cancelling a cancelled run again changes nothing; a finished run "
        "is a 409. Needs the operator role.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        with audit.recording(request, Action.CANCEL_RUN, run):
            cancel_run(run.pk, user=request.user)
        return run_response(run, request)

    @extend_schema(
        request=RunResubmitSerializer,
        responses={
            201: RunDetailSerializer,
            400: SPEC_INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        description="A new run of the same version, with the same parameters "
        "or the given ones. Needs the operator role.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def resubmit(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        serializer = RunResubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with audit.recording(request, Action.RESUBMIT_RUN, run) as entry:
            new = resubmit_run(
                run.pk,
                user=request.user,
                parameters=serializer.validated_data.get("parameters"),
            )
            entry.detail["new_run"] = new.pk
        return run_response(new, request, status.HTTP_201_CREATED)

    # -- debug: one task again, alone, with overrides ---------------------------------

    @extend_schema(
        request=DebugOverridesSerializer,
        parameters=[TASK_NAME],
        responses={
            201: DebugRunSerializer,
            400: SPEC_INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        description="Run this task again as a new run of the same version that "
        "holds only it (no dependencies, no retries), with the given command, "
        "args, env (replacing variables of the same name) or image: say "
        '`{"command": ["sleep", "3600"]}` to keep its container up and exec '
        "into it. The answer is the new run plus `commands`: the `kubectl exec` "
        "and `kubectl logs` lines for its pod (the local backend has no pod: "
        "its log file and URL instead). Needs the operator role.",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"tasks/(?P<task>[^/]+)/debug",
        url_name="task-debug",
        filter_backends=[],
    )
    def debug(
        self, request: Request, pk: str | None = None, task: str = ""
    ) -> Response:
        run = self.get_object()
        self.task_of(run, task)
        with audit.recording(
            request, Action.DEBUG_TASK, run, detail={"task": task}
        ) as entry:
            new = debug_task(
                run.pk, task, overrides=request.data or {}, user=request.user
            )
            entry.detail["new_run"] = new.pk
            entry.detail["overrides"] = sorted(new.overrides or {})
        fresh = detail_queryset(request.user).get(pk=new.pk)
        body = RunDetailSerializer(fresh, context={"request": request}).data
        body["commands"] = self.debug_commands(fresh, task, request)
        return Response(body, status=status.HTTP_201_CREATED)

    def debug_commands(self, run: Run, task: str, request: Request) -> dict[str, Any]:
        """How to look at the debug run's one attempt, and its log's URL."""
        from rest_framework.reverse import reverse

        from k8s_runner.describe import debug_access

        log_url = reverse("api:run-task-logs", args=[run.pk, task], request=request)
        return {**debug_access(run, task), "log_url": log_url}

    @extend_schema(
        parameters=[
            TASK_NAME,
            ATTEMPT_NUMBER,
            OpenApiParameter(
                "tail",
                int,
                description=f"Only the last this many bytes (at most {MAX_LOG_TAIL}).",
            ),
            OpenApiParameter(
                "index",
                int,
                description="A kind: Job attempt's completion index: that "
                "completion's pods' log instead of the attempt's.",
            ),
        ],
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR,
                description=f"The log. Header {LOG_STATUS_HEADER}: `waiting` (no "
                "log yet: the body is empty; poll again), `live` (the attempt is "
                "still running) or `complete`. Header X-Flowdeck-Attempt: the "
                "attempt number served.",
            ),
            400: BAD_QUERY,
            404: NOT_FOUND,
        },
        description="The log of one attempt of a task, as plain text.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"tasks/(?P<task>[^/]+)/logs",
        url_name="task-logs",
        filter_backends=[],
        renderer_classes=[JSONRenderer, PlainTextRenderer],
    )
    def logs(
        self, request: Request, pk: str | None = None, task: str = ""
    ) -> HttpResponse:
        number = int_param(request, "attempt", minimum=1)
        tail = int_param(request, "tail", minimum=0)
        index = int_param(request, "index", minimum=0)
        run = self.get_object()
        return log_response(self.attempt_of(run, task, number), tail, index)

    def attempt_of(self, run: Run, task: str, number: int | None) -> Attempt | None:
        """Attempt `number` of the run's task `task` (the latest when None; None
        when it has none yet); 404 for a task or an attempt that does not exist."""
        task_run = self.task_of(run, task)
        attempts = task_run.attempts.defer("request").order_by("-number")
        if number is not None:
            attempts = attempts.filter(number=number)
        attempt = attempts.first()
        if attempt is None and number is not None:
            raise NotFound(f"task {task!r} has no attempt {number}")
        return attempt

    @extend_schema(
        parameters=[
            TASK_NAME,
            ATTEMPT_NUMBER,
        ],
        responses={200: PodEventListSerializer, 400: BAD_QUERY, 404: NOT_FOUND},
        description="The Kubernetes Events of one attempt's pod (scheduling, "
        "image pulls, probes, evictions), oldest first; who may read the task's "
        "log may read these. `events` is null for an attempt without a pod (the "
        "local backend, or not launched yet). Kubernetes keeps events about an "
        "hour, so an old attempt has none.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"tasks/(?P<task>[^/]+)/events",
        url_name="task-events",
        filter_backends=[],
    )
    def task_events(
        self, request: Request, pk: str | None = None, task: str = ""
    ) -> Response:
        """`GET /api/runs/{id}/tasks/{name}/events/?attempt=N`: the pod's
        Kubernetes Events. Visibility as for the logs: get_object() only finds
        runs of the requester's projects (404 otherwise)."""
        number = int_param(request, "attempt", minimum=1)
        run = self.get_object()
        attempt = self.attempt_of(run, task, number)
        events = pod_events(attempt) if attempt is not None else None
        return Response(
            {
                "attempt": attempt.number if attempt is not None else None,
                "events": events,
            }
        )

    @extend_schema(
        parameters=[
            TASK_NAME,
            ATTEMPT_NUMBER,
        ],
        responses={200: AttemptRequestSerializer, 400: BAD_QUERY, 404: NOT_FOUND},
        description="What one attempt asked for: the rendered task (secret env "
        "values masked), its resources, the node its pod ran on and the Pod "
        "manifest (Kubernetes backend); who may read the task's log may read it.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"tasks/(?P<task>[^/]+)/request",
        url_name="task-request",
        filter_backends=[],
    )
    def task_request(
        self, request: Request, pk: str | None = None, task: str = ""
    ) -> Response:
        from k8s_runner.describe import describe_attempt

        number = int_param(request, "attempt", minimum=1)
        run = self.get_object()
        attempt = self.attempt_of(run, task, number)
        if attempt is None:
            raise NotFound(f"task {task!r} has no attempt yet")
        attempt = Attempt.objects.select_related(
            "task_run__run__workflow__project", "task_run__run__version"
        ).get(pk=attempt.pk)
        return Response(describe_attempt(attempt))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                str,
                description="Only tasks in these statuses (comma-separated: "
                "`Failed,Error`).",
            ),
            OpenApiParameter(
                "search",
                str,
                description="Only tasks whose name contains this (any case).",
            ),
            OpenApiParameter(
                "group", str, description="Only the instances of this fan-out."
            ),
            OpenApiParameter("offset", int, description="Skip this many (default 0)."),
            OpenApiParameter(
                "limit",
                int,
                description=f"At most this many (1-{MAX_TASK_PAGE}, default "
                f"{TASK_PAGE}).",
            ),
        ],
        responses={200: TaskPageSerializer, 400: BAD_QUERY, 404: NOT_FOUND},
        description="The run's tasks in topological order (a fan-out's "
        "instances by index), each with its attempts, a page at a time.",
    )
    @action(detail=True, methods=["get"], filter_backends=[], url_path="tasks")
    def tasks(self, request: Request, pk: str | None = None) -> Response:
        offset = int_param(request, "offset", minimum=0) or 0
        limit = int_param(request, "limit", minimum=1, maximum=MAX_TASK_PAGE)
        limit = limit or TASK_PAGE
        run = self.get_object()
        rows = TaskRun.objects.filter(run_id=run.pk)
        statuses = request.query_params.get("status", "")
        if statuses:
            wanted = [part.strip() for part in statuses.split(",") if part.strip()]
            known = [str(status) for status in TaskStatus]
            unknown = sorted(set(wanted) - set(known))
            if unknown:
                raise ValidationError(
                    {
                        "status": [
                            f"unknown status {unknown[0]!r}; one of {', '.join(known)}"
                        ]
                    }
                )
            rows = rows.filter(status__in=wanted)
        search = request.query_params.get("search", "")
        if len(search) > MAX_TASK_NAME:
            raise ValidationError(
                {"search": [f"must be at most {MAX_TASK_NAME} characters"]}
            )
        if search:
            rows = rows.filter(name__icontains=search)
        group = request.query_params.get("group", "")
        if group:
            rows = rows.filter(fan_group=group)
        count = rows.count()
        page = list(tasks_with_attempts(rows)[offset : offset + limit])
        following = None
        if offset + limit < count:
            following = request.build_absolute_uri(
                _with_query(request, offset=offset + limit, limit=limit)
            )
        context = task_context(run, self.get_serializer_context())
        return Response(
            {
                "count": count,
                "next": following,
                "tasks": TaskRunSerializer(page, many=True, context=context).data,
            }
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "since", int, description="Only events after this seq (default 0)."
            ),
            OpenApiParameter(
                "limit", int, description=f"At most this many (1-{MAX_EVENTS})."
            ),
        ],
        responses={200: RunEventPageSerializer, 400: BAD_QUERY, 404: NOT_FOUND},
        description="The run's events in order, after `since`.",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request: Request, pk: str | None = None) -> Response:
        since = int_param(request, "since", minimum=0) or 0
        limit = int_param(request, "limit", minimum=1) or MAX_EVENTS
        limit = min(limit, MAX_EVENTS)
        run = self.get_object()
        events = list(run.events.filter(seq__gt=since).order_by("seq")[: limit + 1])
        more = len(events) > limit
        events = events[:limit]
        page = {
            "events": RunEventSerializer(events, many=True).data,
            "last_seq": run.last_seq,
            "next_since": events[-1].seq if more else None,
        }
        return Response(page)


def _with_query(request: Request, **changes: Any) -> str:
    query = request.query_params.copy()
    for key, value in changes.items():
        query[key] = str(value)
    return f"{request.path}?{query.urlencode()}"


def retry_response(run: Run, names: list[str], request: Request) -> Response:
    fresh = detail_queryset(request.user).get(pk=run.pk)
    data = RunDetailSerializer(fresh, context={"request": request}).data
    return Response({"run": data, "rerun": names})


def log_response(
    attempt: Attempt | None, tail: int | None, index: int | None = None
) -> HttpResponse:
    """The attempt's log file (or one completion's of a Job attempt), or an
    empty 200 marked `waiting` when there is none yet. The size is read once,
    so a log that is still being written is served up to that size and
    Content-Length stays true."""
    # Archived, or read live from a running pod (k8s_runner.logs).
    log = open_log(attempt, index) if attempt is not None else None
    if log is None:
        response = HttpResponse(b"", content_type="text/plain; charset=utf-8")
        response[LOG_STATUS_HEADER] = "waiting"
    else:
        size = log.seek(0, os.SEEK_END)
        start = max(0, size - min(tail, MAX_LOG_TAIL)) if tail is not None else 0
        response = StreamingHttpResponse(
            _FileRange(log, start, size - start),
            content_type="text/plain; charset=utf-8",
        )
        response["Content-Length"] = str(size - start)
        finished = attempt is not None and attempt.status in TERMINAL_ATTEMPT_STATUSES
        response[LOG_STATUS_HEADER] = "complete" if finished else "live"
    if attempt is not None:
        response["X-Flowdeck-Attempt"] = str(attempt.number)
    return response


class _FileRange:
    """`length` bytes of `log` from `start`, in chunks; the response closes it
    even when it is never iterated."""

    def __init__(self, log: IO[bytes], start: int, length: int) -> None:
        self.log, self.start, self.length = log, start, length

    def __iter__(self) -> Iterator[bytes]:
        self.log.seek(self.start)
        left = self.length
        while left > 0:
            chunk = self.log.read(min(LOG_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self.log.close()
