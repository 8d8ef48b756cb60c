"""Notifications: rules per project and workflow, an outbox written with the
state change, delivered by Celery to webhooks, email and Slack (docs/operations.md)."""
