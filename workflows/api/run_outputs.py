"""What a task's attempt left and read: `GET /api/runs/{id}/tasks/{name}/outputs/`
and the download of its artifacts, under the same checks as its log.

Secret values read as the mask; artifacts stream from the artifact store,
ranges included, never whole in memory (under Daphne too: workflows.streaming).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

import artifacts
from artifacts.store import CHUNK, Readable, StoreError
from flowcore.secrets import MASK
from workflows.api.filters import int_param
from workflows.blueprints import blueprint_of
from workflows.models import Attempt, AttemptOutput, Run
from workflows.streaming import ChunkedStreamingResponse

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class OutputValueSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(help_text=f"{MASK} when secret.")
    secret = serializers.BooleanField()
    size = serializers.IntegerField(help_text="Bytes.")


class ArtifactSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes, as stored.")
    sha256 = serializers.CharField()
    filename = serializers.CharField()
    directory = serializers.BooleanField(help_text="A directory, as a .tar.gz.")
    url = serializers.CharField(help_text="Where to download it.")


class InputValueSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="Such as {{tasks.a.outputs.result}}.")
    task = serializers.CharField()
    attempt = serializers.IntegerField()
    value = serializers.CharField(help_text=f"{MASK} when secret.")
    secret = serializers.BooleanField()


class InputArtifactSerializer(ArtifactSerializer):
    path = serializers.CharField(help_text="Where it was placed.")
    task = serializers.CharField(help_text="The upstream task that left it.")


class TaskOutputsSerializer(serializers.Serializer):
    attempt = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    result = serializers.CharField(
        allow_null=True, help_text="The task's result, when someone reads it."
    )
    parameters = OutputValueSerializer(many=True)
    artifacts = ArtifactSerializer(many=True)
    inputs = InputValueSerializer(many=True)
    input_artifacts = InputArtifactSerializer(many=True)


TASK = OpenApiParameter("task", str, location=OpenApiParameter.PATH)
ATTEMPT = OpenApiParameter(
    "attempt", int, description="The attempt's number (default: the latest)."
)


class RunOutputsActions:
    """The outputs and artifacts actions of RunViewSet (which provides
    get_object and attempt_of)."""

    get_object: Any
    attempt_of: Any

    @extend_schema(
        parameters=[TASK, ATTEMPT],
        responses={200: TaskOutputsSerializer},
        description="What one attempt of a task left (its result, output "
        "parameters and artifacts) and what it read of its upstream tasks; "
        "who may read the task's log may read these. Secret values are masked.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"tasks/(?P<task>[^/]+)/outputs",
        url_name="task-outputs",
        filter_backends=[],
    )
    def task_outputs(
        self, request: Request, pk: str | None = None, task: str = ""
    ) -> Response:
        number = int_param(request, "attempt", minimum=1)
        run = self.get_object()
        attempt = self.attempt_of(run, task, number)
        if attempt is None:
            return Response(
                {
                    "attempt": None,
                    "status": None,
                    "result": None,
                    "parameters": [],
                    "artifacts": [],
                    "inputs": [],
                    "input_artifacts": [],
                }
            )
        return Response(outputs_of(run, attempt, request))

    @extend_schema(
        parameters=[
            TASK,
            OpenApiParameter("artifact", str, location=OpenApiParameter.PATH),
            ATTEMPT,
            OpenApiParameter(
                "Range",
                str,
                location=OpenApiParameter.HEADER,
                required=False,
                description="One byte range, such as bytes=0-1023.",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            (206, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            404: OpenApiResponse(description="No such task, attempt or artifact."),
            416: OpenApiResponse(description="The range is outside the artifact."),
        },
        description="Download one output artifact of a task's attempt, streamed "
        "(a directory as .tar.gz); its sha256 is in the ETag and the "
        "X-Flowdeck-SHA256 header.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"tasks/(?P<task>[^/]+)/artifacts/(?P<artifact>[^/]+)",
        url_name="task-artifact",
        filter_backends=[],
    )
    def task_artifact(
        self,
        request: Request,
        pk: str | None = None,
        task: str = "",
        artifact: str = "",
    ) -> HttpResponse:
        number = int_param(request, "attempt", minimum=1)
        run = self.get_object()
        attempt = self.attempt_of(run, task, number)
        row = (
            attempt.outputs.filter(
                kind=AttemptOutput.Kind.ARTIFACT, name=artifact
            ).first()
            if attempt is not None
            else None
        )
        if row is None:
            raise NotFound(f"task {task!r} has no artifact {artifact!r}")
        return artifact_response(row, request.headers.get("Range", ""))


def outputs_of(run: Run, attempt: Attempt, request: Request) -> dict[str, Any]:
    rows = list(attempt.outputs.all())
    task = attempt.task_run.name
    result = next((r for r in rows if r.kind == AttemptOutput.Kind.RESULT), None)
    inputs, input_artifacts = _inputs_of(run, attempt, request)
    return {
        "attempt": attempt.number,
        "status": attempt.status,
        "result": None if result is None else result.value,
        "parameters": [
            {
                "name": r.name,
                "value": MASK if r.secret else r.value,
                "secret": r.secret,
                "size": r.size,
            }
            for r in rows
            if r.kind == AttemptOutput.Kind.PARAMETER
        ],
        "artifacts": [
            _artifact(run.pk, task, attempt.number, r, request)
            for r in rows
            if r.kind == AttemptOutput.Kind.ARTIFACT
        ],
        "inputs": inputs,
        "input_artifacts": input_artifacts,
    }


def _artifact(
    run_id: int, task: str, number: int, row: AttemptOutput, request: Request
) -> dict[str, Any]:
    url = reverse(
        "api:run-task-artifact", args=[run_id, task, row.name], request=request
    )
    return {
        "name": row.name,
        "size": row.size,
        "sha256": row.sha256,
        "filename": row.filename,
        "directory": row.directory,
        "url": f"{url}?attempt={number}",
    }


def _inputs_of(
    run: Run, attempt: Attempt, request: Request
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The upstream values and artifacts the attempt read: those of the
    upstream attempts it recorded at launch (for a debug run, in the run it
    debugs), limited to the references its task makes."""
    read = (attempt.request or {}).get("inputs") or {}
    attempts: dict[str, int] = read.get("attempts") or {}
    if not attempts:
        return [], []
    name = attempt.task_run.name
    task = blueprint_of(run).tasks.get(name)
    references = blueprint_of(run).data.reads.get(name, frozenset())
    wanted = {reference.key for reference in references}
    source = run.debug_of_id if run.debug_task and run.debug_of_id else run.pk
    rows = AttemptOutput.objects.filter(
        attempt__task_run__run_id=source,
        attempt__task_run__name__in=list(attempts),
    ).select_related("attempt__task_run")
    values, placed = [], []
    for row in rows:
        upstream, number = row.attempt.task_run.name, row.attempt.number
        if attempts.get(upstream) != number:
            continue  # an attempt it did not read
        if row.kind == AttemptOutput.Kind.ARTIFACT:
            for item in task.input_artifacts if task is not None else ():
                if (item.task, item.artifact) == (upstream, row.name):
                    placed.append(
                        {
                            **_artifact(source, upstream, number, row, request),
                            "name": item.name,
                            "path": item.path,
                            "task": upstream,
                        }
                    )
            continue
        key = (
            f"tasks.{upstream}.outputs.result"
            if row.kind == AttemptOutput.Kind.RESULT
            else f"tasks.{upstream}.outputs.parameters.{row.name}"
        )
        if key in wanted:
            values.append(
                {
                    "reference": "{{" + key + "}}",
                    "task": upstream,
                    "attempt": number,
                    "value": MASK if row.secret else row.value,
                    "secret": row.secret,
                }
            )
    values.sort(key=lambda value: value["reference"])
    return values, placed


def artifact_response(row: AttemptOutput, range_header: str) -> HttpResponse:
    store = artifacts.from_settings()
    size = row.size
    start, end = 0, size
    status = 200
    if range_header:
        match = _RANGE.fullmatch(range_header.strip())
        if match is None or not (match.group(1) or match.group(2)):
            return _unsatisfiable(size)
        if match.group(1):
            start = int(match.group(1))
            end = min(size, int(match.group(2)) + 1) if match.group(2) else size
        else:  # the last N bytes
            start = max(0, size - int(match.group(2)))
        if start >= size or end <= start:
            return _unsatisfiable(size)
        status = 206
    try:
        blob = store.open(row.sha256, start, end)
    except StoreError as error:
        raise NotFound(
            f"artifact {row.name!r} is not in the artifact store: {error}"
        ) from error
    response = ChunkedStreamingResponse(
        _chunks(blob), content_type="application/octet-stream", status=status
    )
    response["Content-Length"] = str(end - start)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = f'"{row.sha256}"'
    response["X-Flowdeck-SHA256"] = row.sha256
    filename = row.filename.replace('"', "") or row.name
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return response


def _unsatisfiable(size: int) -> HttpResponse:
    response = HttpResponse(status=416)
    response["Content-Range"] = f"bytes */{size}"
    return response


def _chunks(blob: Readable) -> Iterator[bytes]:
    with closing(blob):
        while chunk := blob.read(CHUNK):
            yield chunk
