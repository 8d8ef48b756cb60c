"""URL routes of the server-rendered pages: projects, workflows, runs and task
logs (login and account pages are in accounts.urls)."""

from __future__ import annotations

from django.urls import path, re_path

from workflows import editor_views, project_views, views

urlpatterns = [
    path("", views.workflow_list, name="workflow-list"),
    path("projects/", project_views.project_list, name="project-list"),
    path("projects/<int:pk>/", project_views.project_detail, name="project-detail"),
    path("projects/<int:pk>/members/", project_views.member_add, name="member-add"),
    path(
        "projects/<int:pk>/members/<int:user_id>/",
        project_views.member_change,
        name="member-change",
    ),
    path(
        "projects/<int:pk>/members/<int:user_id>/remove/",
        project_views.member_remove,
        name="member-remove",
    ),
    path(
        "projects/<int:pk>/semaphores/",
        project_views.semaphore_add,
        name="semaphore-add",
    ),
    path(
        "projects/<int:pk>/semaphores/<str:name>/",
        project_views.semaphore_change,
        name="semaphore-change",
    ),
    path(
        "projects/<int:pk>/semaphores/<str:name>/delete/",
        project_views.semaphore_delete,
        name="semaphore-delete",
    ),
    path("workflows/new/", views.workflow_create, name="workflow-create"),
    path("workflows/new/editor/", editor_views.editor_new, name="workflow-editor-new"),
    path(
        "workflows/<int:pk>/editor/", editor_views.editor_edit, name="workflow-editor"
    ),
    path("workflows/<int:pk>/", views.workflow_detail, name="workflow-detail"),
    path("workflows/<int:pk>/run/", views.workflow_run, name="workflow-run"),
    path("workflows/<int:pk>/edit/", views.workflow_edit, name="workflow-edit"),
    path(
        "workflows/<int:pk>/versions/<int:number>/",
        views.workflow_version,
        name="workflow-version",
    ),
    path("runs/", views.run_list, name="run-list"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    re_path(
        r"^runs/(?P<pk>[0-9]+)/(?P<action>cancel|retry|resubmit)/$",
        views.run_action,
        name="run-action",
    ),
    path("runs/<int:pk>/tasks/<str:name>/retry/", views.task_retry, name="task-retry"),
    path("runs/<int:pk>/tasks/<str:name>/logs/", views.task_logs, name="task-logs"),
    path(
        "runs/<int:pk>/tasks/<str:name>/logs/raw/",
        views.task_log_raw,
        name="task-log-raw",
    ),
]
