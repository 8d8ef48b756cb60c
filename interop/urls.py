"""Routes of the interop API, mounted under /api/ before the workflows'
router (whose detail route would otherwise take `workflows/import/`)."""

from __future__ import annotations

from django.urls import path

from interop.api import ArgoExportView, ArgoImportView

urlpatterns = [
    path("workflows/import/", ArgoImportView.as_view(), name="workflow-import"),
    path(
        "workflows/<str:id>/versions/<str:number>/export/",
        ArgoExportView.as_view(),
        name="workflow-version-export",
    ),
]
