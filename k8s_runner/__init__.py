"""Dispatch: runner backends, the reconcile step and the Celery tasks."""
