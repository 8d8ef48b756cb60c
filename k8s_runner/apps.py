"""App config for the dispatcher."""

from __future__ import annotations

from django.apps import AppConfig


class K8sRunnerConfig(AppConfig):
    name = "k8s_runner"
    default_auto_field = "django.db.models.BigAutoField"
