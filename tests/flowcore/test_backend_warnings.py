"""What this server's backend cannot run in a valid document."""

from __future__ import annotations

from flowcore.validation.backend import backend_warnings


def _document(*tasks: dict[str, object], **spec: object) -> dict[str, object]:
    return {"spec": {"tasks": list(tasks), **spec}}


def test_a_task_without_a_command_is_named_on_the_local_backend_only() -> None:
    document = _document(
        {"name": "a", "image": "alpine:3.20"},
        {"name": "b", "image": "alpine:3.20", "args": ["--help"]},
        {"name": "c", "command": ["sh", "-c", "true"]},
        {"name": "d", "workflow": {"name": "etl"}},
        onExit=[{"name": "e", "image": "alpine:3.20", "command": []}],
    )
    warnings = backend_warnings(document, "local")
    assert [w.path for w in warnings] == [
        "spec.tasks[0].command",
        "spec.onExit[0].command",
    ]
    assert "ignores image" in warnings[0].message
    assert backend_warnings(document, "kubernetes") == []


def test_it_never_raises_on_a_document_of_another_shape() -> None:
    for document in (None, [], {"spec": 3}, {"spec": {"tasks": [1, "x", None]}}):
        assert backend_warnings(document, "local") == []
