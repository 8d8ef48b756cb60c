"""The Argo interop API (docs/argo.md): thin views over interop.services.

    POST /api/workflows/import/?project=&replace=&dry_run=   an Argo file
    GET  /api/workflows/{id}/versions/{n}/export/?format=argo&kind=

Who may: importing needs the editor role in the project (as creating a
workflow does); a dry run only needs to be signed in (it saves nothing and
reads nothing of anyone's); exporting needs to see the workflow (404 when you
cannot).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts import audit
from flowcore.spec import SpecError, validate
from flowcore.spec_document import dump_yaml
from interop import services
from workflows.api.parsers import read_body
from workflows.api.views import (
    FORBIDDEN,
    NOT_FOUND,
    PROJECT_PARAMETER,
    SPEC_INVALID,
    project_for_create,
    version_message,
)
from workflows.blueprints import spec_limits
from workflows.ids import parse_id
from workflows.models import Workflow, WorkflowVersion
from workflows.permissions import Action, require, visible

ARGO_MEDIA_TYPES = (
    "application/yaml",
    "text/yaml",
    "application/x-yaml",
    "text/plain",
    "application/json",
)


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ValidationError({name: ["must be true or false"]})
    return raw in ("true", "1", "yes")


class ArgoFileParser(BaseParser):
    """The body as text: an Argo file, YAML or JSON, one or more documents."""

    media_type = "*/*"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> str:
        base = (media_type or "").split(";")[0].strip().lower()
        if base not in ARGO_MEDIA_TYPES:
            raise ParseError(
                "send the Argo file as one of: " + ", ".join(ARGO_MEDIA_TYPES)
            )
        body = read_body(stream) if stream is not None else b""
        try:
            return body.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ParseError(
                f"the body is not valid UTF-8 (byte {error.start})"
            ) from None


class NoteSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Where in the Argo file.")
    message = serializers.CharField()
    essential = serializers.BooleanField(
        help_text="Whether the workflow cannot run as Argo would run it without "
        "it (then the import is refused)."
    )


class ConvertedSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="The Argo document's kind.")
    name = serializers.CharField(help_text="The Flowdeck workflow's name.")
    document = serializers.JSONField(help_text="The Flowdeck spec document.")
    schedules = serializers.ListField(
        child=serializers.DictField(), help_text="A CronWorkflow's, as schedules."
    )
    notes = NoteSerializer(many=True)
    errors = serializers.ListField(
        child=serializers.DictField(),
        help_text="What the spec's validation finds wrong (path and message).",
    )


class DryRunSerializer(serializers.Serializer):
    documents = ConvertedSerializer(many=True)


class ImportedScheduleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ImportedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    created = serializers.BooleanField(
        help_text="False when an existing workflow got a new version (replace)."
    )
    url = serializers.URLField()
    notes = NoteSerializer(many=True)
    schedules = ImportedScheduleSerializer(many=True)


class ImportResultSerializer(serializers.Serializer):
    workflows = ImportedSerializer(many=True)


@extend_schema(tags=["workflows"])
class ArgoImportView(APIView):
    parser_classes = [ArgoFileParser]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request={media: OpenApiTypes.STR for media in ARGO_MEDIA_TYPES},
        parameters=[
            PROJECT_PARAMETER,
            OpenApiParameter(
                "replace",
                bool,
                description="A workflow of the same name gets a new version "
                "instead of being an error.",
            ),
            OpenApiParameter(
                "dry_run",
                bool,
                description="Convert and check, save nothing: the converted "
                "documents with their reports (no project needed).",
            ),
            OpenApiParameter(
                "message",
                str,
                description="The versions' message (default: imported from Argo).",
            ),
        ],
        responses={
            200: DryRunSerializer,
            201: ImportResultSerializer,
            400: SPEC_INVALID,
            403: FORBIDDEN,
        },
        description="Import an Argo Workflows file (Workflow, WorkflowTemplate, "
        "ClusterWorkflowTemplate, CronWorkflow; one or more documents) as "
        "workflows of a project, a CronWorkflow's schedule as a schedule. Each "
        "workflow's first version keeps the original document. Whatever could "
        "not be carried over is in its notes; a part the workflow cannot run "
        "without makes it a 400 naming that part, and nothing is saved.",
    )
    def post(self, request: Request) -> Response:
        text = request.data
        if not isinstance(text, str):  # a form or multipart body
            raise ParseError("send the Argo file itself as the body")
        if _flag(request, "dry_run"):
            return Response(DryRunSerializer(_dry_run(text)).data)
        project = project_for_create(request)
        message = version_message(request)
        replace = _flag(request, "replace")
        converted = services.convert(text)
        if any(result.schedules for result in converted):
            require(request, Action.CREATE_SCHEDULE, project)
        imported = services.import_argo(
            text,
            project=project,
            author=request.user,
            now=timezone.now(),
            message=message,
            replace=replace,
        )
        for item in imported:
            audit.record(
                request,
                Action.CREATE_WORKFLOW if item.created else Action.UPDATE_WORKFLOW,
                item.workflow,
                detail={"version": item.version.number, "imported": "argo"},
                project=project,
            )
            for schedule in item.schedules:
                audit.record(
                    request,
                    Action.CREATE_SCHEDULE,
                    schedule,
                    detail={"imported": "argo"},
                    project=project,
                )
        result = {
            "workflows": [
                {
                    "id": item.workflow.pk,
                    "name": item.workflow.name,
                    "version": item.version.number,
                    "created": item.created,
                    "url": reverse(
                        "workflow-detail", args=[item.workflow.pk], request=request
                    ),
                    "notes": [note.as_dict() for note in item.notes],
                    "schedules": [{"id": s.pk, "name": s.name} for s in item.schedules],
                }
                for item in imported
            ]
        }
        return Response(
            ImportResultSerializer(result).data, status=status.HTTP_201_CREATED
        )


def _dry_run(text: str) -> dict[str, Any]:
    """The conversion of every document with its report and validation; a
    400 only for a file that is not Argo at all or cannot be imported."""
    converted = services.convert(text)
    refused = services.refusals(converted)
    if refused:
        raise SpecError(refused)
    return {
        "documents": [
            {
                "kind": result.kind,
                "name": result.name,
                "document": result.document,
                "schedules": result.schedules,
                "notes": [note.as_dict() for note in result.notes],
                "errors": [
                    error.as_dict()
                    for error in validate(result.document, spec_limits())
                ],
            }
            for result in converted
        ]
    }


class ArgoYAMLRenderer(BaseRenderer):
    """An exported document as YAML; chosen by ?format=argo."""

    media_type = "application/yaml"
    format = "argo"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        # Through JSON: an error's detail is DRF's ErrorDetail, a str subclass
        # the YAML dumper refuses.
        return dump_yaml(json.loads(json.dumps(data))).encode()


@extend_schema(tags=["workflows"])
class ArgoExportView(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [ArgoYAMLRenderer, JSONRenderer]

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        try:
            return super().perform_content_negotiation(request, force=False)
        except Http404:
            # DRF's answer to an unknown ?format= is a bare 404.
            if force:  # answering that very error: as JSON
                return JSONRenderer(), JSONRenderer.media_type
            raise ValidationError({"format": ["must be argo"]}) from None

    @extend_schema(
        parameters=[
            OpenApiParameter("id", int, location=OpenApiParameter.PATH),
            OpenApiParameter("number", int, location=OpenApiParameter.PATH),
            OpenApiParameter(
                "format", str, enum=["argo"], description="What to export as."
            ),
            OpenApiParameter(
                "kind",
                str,
                enum=list(services.EXPORT_KINDS),
                description="The Argo kind (default Workflow).",
            ),
        ],
        responses={
            (200, "application/yaml"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            400: OpenApiResponse(description="A bad kind or format."),
            404: NOT_FOUND,
        },
        description="The version as an Argo Workflow (or WorkflowTemplate) "
        "document, as YAML (or JSON with Accept: application/json). Secret "
        "values are masked. What Argo has no field for travels in flowdeck.io "
        "annotations, so importing the export gives the same workflow.",
    )
    def get(self, request: Request, id: str, number: str) -> Response:
        workflow_id, version_number = parse_id(id), parse_id(number)
        workflow = (
            visible(Workflow.objects.all(), request.user)
            .filter(pk=workflow_id)
            .select_related("project")
            .first()
            if workflow_id is not None
            else None
        )
        if workflow is None:
            raise NotFound("no such workflow")
        require(request, Action.VIEW, workflow.project, target=workflow)
        version = (
            WorkflowVersion.objects.filter(
                workflow=workflow, number=version_number
            ).first()
            if version_number is not None
            else None
        )
        if version is None:
            raise NotFound(f"workflow {workflow.name} has no version {number}")
        kind = request.query_params.get("kind", "Workflow")
        if kind not in services.EXPORT_KINDS:
            raise ValidationError(
                {"kind": [f"must be one of {', '.join(services.EXPORT_KINDS)}"]}
            )
        exported = services.export_version(version, kind)
        response = Response(exported)
        response["Content-Disposition"] = (
            f'attachment; filename="{workflow.name}-v{version.number}.argo.yaml"'
        )
        return response
