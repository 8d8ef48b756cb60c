"""Argo Workflows interop (docs/argo.md): import Argo `Workflow`,
`WorkflowTemplate`, `ClusterWorkflowTemplate` and `CronWorkflow` documents as
Flowdeck workflows (with a report of what could not be carried over), and
export a Flowdeck workflow as an Argo `Workflow` or `WorkflowTemplate`.

Pure: plain mappings in and out, PyYAML to read the documents.
"""

from __future__ import annotations

from flowcore.argo.exporter import export_workflow
from flowcore.argo.importer import (
    ArgoError,
    Converted,
    Note,
    convert_document,
    convert_text,
)

__all__ = [
    "ArgoError",
    "Converted",
    "Note",
    "convert_document",
    "convert_text",
    "export_workflow",
]
