from __future__ import annotations

from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "interop"
    verbose_name = "Interop (Argo Workflows)"
