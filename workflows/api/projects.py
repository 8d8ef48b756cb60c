"""REST endpoints for projects, their members and their semaphores.

Seeing a project takes membership (else 404); changing its settings, its
members or its semaphores takes the admin role in it (else 403); creating one
takes a site administrator. Writes go through workflows.services.projects and
workflows.services.semaphores and are recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts import audit
from workflows.api.permissions import ProjectRole
from workflows.ids import parse_id
from workflows.models import (
    MAX_RUNNING_TASKS,
    MAX_SEMAPHORE_LIMIT,
    Membership,
    Project,
    Role,
    Semaphore,
    dns_subdomain,
    semaphore_name,
    validate_cpu_quota,
    validate_memory_quota,
    validate_namespace_list,
    validate_service_account_list,
)
from workflows.permissions import Action, is_site_admin, require, role_of, visible
from workflows.services import projects as project_services
from workflows.services import semaphores as semaphore_services
from workflows.services.projects import PLACEMENT_FIELDS

FORBIDDEN = OpenApiResponse(description="Your role does not allow this.")
NOT_FOUND = OpenApiResponse(description="Not found, or not a project of yours.")
USER_ID = OpenApiParameter("user_id", int, location=OpenApiParameter.PATH)
SEMAPHORE_NAME = OpenApiParameter(
    "name",
    str,
    location=OpenApiParameter.PATH,
    pattern=r"^[a-z0-9-]+$",
    description="The semaphore's name.",
)


class ProjectSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=63,
        help_text="The Kubernetes namespace of its pods; empty (the default): "
        "the installation's, FLOWDECK_K8S_NAMESPACE.",
    )
    extra_namespaces = serializers.ListField(
        child=serializers.CharField(max_length=63),
        required=False,
        max_length=100,
        help_text="More namespaces its workflows may name in `spec.namespace`, "
        "after the default (site administrators only).",
    )
    namespaces = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The namespaces its workflows may use, the default first "
        "(`namespace`, or the installation's when that is empty), then "
        "`extra_namespaces`: a workflow's spec.namespace must be one of them.",
    )
    default_service_account = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=253,
        validators=[dns_subdomain],
        help_text="The serviceAccountName of its pods when a task names none; "
        "empty (the default): the namespace's default (site administrators "
        "only).",
    )
    service_accounts = serializers.ListField(
        child=serializers.CharField(max_length=253),
        required=False,
        max_length=100,
        help_text="More service accounts its workflows may name "
        "(serviceAccountName). With this or a default set, a workflow may name "
        "only those; with neither, any (site administrators only).",
    )
    max_running_tasks = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_RUNNING_TASKS,
        help_text="Quota: at most this many of the project's tasks run at once "
        f"(1 to {MAX_RUNNING_TASKS}); null: no limit.",
    )
    max_cpu = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=32,
        validators=[validate_cpu_quota],
        help_text="Quota: CPU requested by the project's running tasks, a "
        "Kubernetes quantity such as 4 or 500m, from 1m to 1000000; null: no "
        "limit.",
    )
    max_memory = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=32,
        validators=[validate_memory_quota],
        help_text="Quota: memory requested by the project's running tasks, a "
        "Kubernetes quantity such as 8Gi, from 1 to 1Ei; null: no limit.",
    )
    role = serializers.SerializerMethodField(
        help_text="Your role in the project; null if you are not a member "
        "(a site administrator)."
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "namespace",
            "extra_namespaces",
            "namespaces",
            "default_service_account",
            "service_accounts",
            "max_running_tasks",
            "max_cpu",
            "max_memory",
            "created_at",
            "role",
        ]
        read_only_fields = ["id", "created_at", "role", "namespaces"]

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, project: Project) -> str | None:
        if hasattr(project, "my_role"):  # annotated by the viewset
            return project.my_role or None
        request = self.context.get("request")
        role = role_of(request.user, project) if request is not None else None
        return str(role) if role else None

    def to_representation(self, instance: Project) -> dict[str, Any]:
        data = super().to_representation(instance)
        for name in ("max_cpu", "max_memory"):
            data[name] = data[name] or None  # empty: no limit, shown as null
        return data

    def validate_namespace(self, value: str) -> str:
        if value:
            for validator in Project._meta.get_field("namespace").validators:
                validator(value)
        return value

    def validate_extra_namespaces(self, value: list[str]) -> list[str]:
        validate_namespace_list(value)
        return list(dict.fromkeys(value))

    def validate_service_accounts(self, value: list[str]) -> list[str]:
        validate_service_account_list(value)
        return list(dict.fromkeys(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A project's namespaces decide which cluster rights its runs get:
        only site administrators change them (project admins may not)."""
        request = self.context.get("request")
        user = request.user if request is not None else None
        changed = [
            name
            for name in PLACEMENT_FIELDS
            if name in attrs
            and (self.instance is None or attrs[name] != getattr(self.instance, name))
        ]
        if changed and not is_site_admin(user):
            raise PermissionDenied(
                "changing a project's namespaces or service accounts needs a "
                "site administrator"
            )
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Project:
        return project_services.create_project(**validated_data)


class ProjectUpdateSerializer(ProjectSerializer):
    """The name stays: workflows, scripts (`?project=<name>`) and namespaces
    refer to it."""

    class Meta(ProjectSerializer.Meta):
        read_only_fields = ["id", "name", "created_at", "role", "namespaces"]

    def update(self, instance: Project, validated_data: dict[str, Any]) -> Project:
        return project_services.update_project(instance, **validated_data)


class MembershipSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "created_at"]
        read_only_fields = fields


class MemberAddSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)

    def validate_username(self, value: str) -> Any:
        user = get_user_model().objects.filter(username=value, is_active=True).first()
        if user is None:
            raise serializers.ValidationError(f"no active user {value!r}")
        return user


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ClaimSerializer(serializers.Serializer):
    run = serializers.IntegerField(help_text="The run holding or waiting.")
    task = serializers.CharField(
        help_text="Its task holding or waiting; empty: the whole run "
        "(spec.synchronization)."
    )


class SemaphoreSerializer(serializers.ModelSerializer):
    name = serializers.CharField(
        max_length=63,
        validators=[semaphore_name],
        help_text="As specs name it: synchronization: {semaphore: NAME}. A DNS "
        "label; it cannot change.",
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_SEMAPHORE_LIMIT,
        help_text=f"How many tasks or runs hold it at once (1 to "
        f"{MAX_SEMAPHORE_LIMIT}).",
    )
    held = serializers.SerializerMethodField(help_text="Slots held now.")
    holders = serializers.SerializerMethodField(
        help_text="Who holds it, oldest run first (at most 50)."
    )
    waiting = serializers.SerializerMethodField(
        help_text="Who waits for it, in the order they get it (at most 50)."
    )

    class Meta:
        model = Semaphore
        fields = [
            "name",
            "limit",
            "description",
            "held",
            "holders",
            "waiting",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def _usage(self, semaphore: Semaphore) -> semaphore_services.Usage | None:
        found = self.context.get("usage")
        if found is None:
            found = semaphore_services.usage(semaphore.project)
            self.context["usage"] = found
        return found.get(("semaphore", semaphore.name))

    def get_held(self, semaphore: Semaphore) -> int:
        used = self._usage(semaphore)
        return used.held if used else 0

    @extend_schema_field(ClaimSerializer(many=True))
    def get_holders(self, semaphore: Semaphore) -> list[dict[str, Any]]:
        used = self._usage(semaphore)
        return [{"run": h.run, "task": h.task} for h in used.holders] if used else []

    @extend_schema_field(ClaimSerializer(many=True))
    def get_waiting(self, semaphore: Semaphore) -> list[dict[str, Any]]:
        used = self._usage(semaphore)
        return [{"run": h.run, "task": h.task} for h in used.waiting] if used else []

    def validate_name(self, value: str) -> str:
        project = self.context["project"]
        if Semaphore.objects.filter(project=project, name=value).exists():
            raise serializers.ValidationError(
                f"project {project.name} already has a semaphore {value}"
            )
        return value


class SemaphoreUpdateSerializer(SemaphoreSerializer):
    """The name stays: specs name it."""

    class Meta(SemaphoreSerializer.Meta):
        read_only_fields = ["name", "created_at", "updated_at"]

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["name"].read_only = True
        fields["limit"].required = False
        return fields


@extend_schema(tags=["projects"])
class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Projects you are a member of (every project for site administrators),
    and their members."""

    serializer_class = ProjectSerializer
    permission_classes = [IsAuthenticated, ProjectRole]
    required_actions = {
        "update": Action.UPDATE_PROJECT,
        "partial_update": Action.UPDATE_PROJECT,
    }

    def get_queryset(self) -> QuerySet[Project]:
        user = self.request.user
        if not user.is_authenticated:
            return Project.objects.none()
        mine = Membership.objects.filter(project=OuterRef("pk"), user=user)
        return visible(Project.objects.all(), user).annotate(
            my_role=Subquery(mine.values("role")[:1])
        )

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action in ("update", "partial_update"):
            return ProjectUpdateSerializer
        return ProjectSerializer

    @extend_schema(
        responses={201: ProjectSerializer, 400: None, 403: FORBIDDEN},
        description="Create a project (site administrators only).",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        require(request, Action.CREATE_PROJECT)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer) -> None:
        with audit.recording(self.request, Action.CREATE_PROJECT) as entry:
            project = serializer.save()
            entry.target = entry.project = project

    @extend_schema(
        responses={200: ProjectSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Change the description or the quotas (project admin); the "
        "namespaces (site administrators only).",
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        responses={200: ProjectSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Change the description and the quotas (project admin); the "
        "namespaces (site administrators only).",
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer: BaseSerializer) -> None:
        changed = sorted(serializer.validated_data)
        with audit.recording(
            self.request, Action.UPDATE_PROJECT, serializer.instance
        ) as entry:
            serializer.save()
            entry.detail["changed"] = changed

    def _semaphore(self, project: Project, name: str) -> Semaphore:
        semaphore = Semaphore.objects.filter(project=project, name=name).first()
        if semaphore is None:
            raise NotFound(f"project {project.name} has no semaphore {name}")
        return semaphore

    @extend_schema(
        methods=["GET"],
        responses={200: SemaphoreSerializer(many=True), 404: NOT_FOUND},
        description="The project's semaphores, with who holds and who waits "
        "for each (docs/spec.md, Concurrency).",
    )
    @extend_schema(
        methods=["POST"],
        request=SemaphoreSerializer,
        responses={
            201: SemaphoreSerializer,
            400: None,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The name is taken."),
        },
        description="Define a semaphore (project admin).",
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def semaphores(self, request: Request, pk: str | None = None) -> Response:
        project = self.get_object()
        context = {"request": request, "project": project}
        if request.method == "GET":
            page = self.paginate_queryset(project.semaphores.order_by("name"))
            data = SemaphoreSerializer(page, many=True, context=context).data
            return self.get_paginated_response(data)
        require(request, Action.CREATE_SEMAPHORE, project)
        serializer = SemaphoreSerializer(data=request.data, context=context)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        with audit.recording(
            request,
            Action.CREATE_SEMAPHORE,
            project=project,
            detail={"name": values["name"], "limit": values["limit"]},
        ) as entry:
            semaphore = semaphore_services.create_semaphore(
                project,
                name=values["name"],
                limit=values["limit"],
                description=values.get("description", ""),
            )
            entry.target = semaphore
        return Response(
            SemaphoreSerializer(semaphore, context=context).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        methods=["GET"],
        parameters=[SEMAPHORE_NAME],
        responses={200: SemaphoreSerializer, 404: NOT_FOUND},
        description="One semaphore, with who holds and who waits for it.",
    )
    @extend_schema(
        methods=["PATCH"],
        parameters=[SEMAPHORE_NAME],
        request=SemaphoreUpdateSerializer,
        responses={200: SemaphoreSerializer, 400: None, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Change the limit or the description (project admin). A "
        "raised limit starts waiting tasks and runs; a lowered one stops no "
        "holder.",
    )
    @extend_schema(
        methods=["DELETE"],
        parameters=[SEMAPHORE_NAME],
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Delete a semaphore (project admin). Holders keep their "
        "slot until they end; tasks and runs that would take it end as errors "
        "naming it, and saving a workflow that names it is refused.",
    )
    @action(
        detail=True,
        methods=["get", "patch", "delete"],
        url_path=r"semaphores/(?P<name>[a-z0-9-]+)",
        url_name="semaphore",
        filter_backends=[],
    )
    def semaphore(
        self, request: Request, pk: str | None = None, name: str = ""
    ) -> Response:
        project = self.get_object()
        semaphore = self._semaphore(project, name)
        context = {"request": request, "project": project}
        if request.method == "GET":
            return Response(SemaphoreSerializer(semaphore, context=context).data)
        if request.method == "DELETE":
            require(request, Action.DELETE_SEMAPHORE, project, target=semaphore)
            with audit.recording(
                request,
                Action.DELETE_SEMAPHORE,
                semaphore,
                detail={"name": semaphore.name, "limit": semaphore.limit},
            ):
                semaphore_services.delete_semaphore(semaphore)
            return Response(status=status.HTTP_204_NO_CONTENT)
        require(request, Action.UPDATE_SEMAPHORE, project, target=semaphore)
        serializer = SemaphoreUpdateSerializer(
            semaphore, data=request.data, partial=True, context=context
        )
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        detail: dict[str, Any] = {"name": semaphore.name, "changed": sorted(values)}
        if "limit" in values:
            detail["limit"] = {"from": semaphore.limit, "to": values["limit"]}
        with audit.recording(
            request, Action.UPDATE_SEMAPHORE, semaphore, detail=detail
        ):
            semaphore = semaphore_services.update_semaphore(
                semaphore,
                limit=values.get("limit"),
                description=values.get("description"),
            )
        return Response(SemaphoreSerializer(semaphore, context=context).data)

    def _membership(self, project: Project, user_id: str) -> Membership:
        wanted = parse_id(user_id)
        membership = (
            Membership.objects.select_related("user", "project")
            .filter(project=project, user_id=wanted)
            .first()
            if wanted is not None
            else None
        )
        if membership is None:
            raise NotFound(f"user {user_id} is not a member of {project.name}")
        return membership

    @extend_schema(
        methods=["GET"],
        responses={200: MembershipSerializer(many=True), 404: NOT_FOUND},
        description="The project's members and their roles.",
    )
    @extend_schema(
        methods=["POST"],
        request=MemberAddSerializer,
        responses={
            201: MembershipSerializer,
            400: None,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(description="Already a member."),
        },
        description="Add a member with a role (project admin).",
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def members(self, request: Request, pk: str | None = None) -> Response:
        project = self.get_object()
        if request.method == "GET":
            memberships = project.memberships.select_related("user").order_by(
                "user__username"
            )
            page = self.paginate_queryset(memberships)
            data = MembershipSerializer(page, many=True).data
            return self.get_paginated_response(data)
        require(request, Action.ADD_MEMBER, project)
        serializer = MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, role = (
            serializer.validated_data["username"],
            serializer.validated_data["role"],
        )
        with audit.recording(
            request,
            Action.ADD_MEMBER,
            project=project,
            detail={"user": user.username, "role": role},
        ) as entry:
            membership = project_services.add_member(project, user, role)
            entry.target = membership
        return Response(
            MembershipSerializer(membership).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        methods=["PATCH"],
        parameters=[USER_ID],
        request=MemberRoleSerializer,
        responses={
            200: MembershipSerializer,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(description="It would leave the project no admin."),
        },
        description="Change a member's role (project admin).",
    )
    @extend_schema(
        methods=["DELETE"],
        parameters=[USER_ID],
        responses={
            204: None,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(description="It would leave the project no admin."),
        },
        description="Remove a member (project admin).",
    )
    @action(
        detail=True,
        methods=["patch", "delete"],
        url_path=r"members/(?P<user_id>[0-9]+)",
        url_name="member",
        filter_backends=[],
    )
    def member(
        self, request: Request, pk: str | None = None, user_id: str = ""
    ) -> Response:
        project = self.get_object()
        membership = self._membership(project, user_id)
        if request.method == "DELETE":
            require(request, Action.REMOVE_MEMBER, project, target=membership)
            with audit.recording(
                request,
                Action.REMOVE_MEMBER,
                membership,
                detail={"user": membership.user.username, "role": membership.role},
            ):
                project_services.remove_member(membership)
            return Response(status=status.HTTP_204_NO_CONTENT)
        require(request, Action.CHANGE_MEMBER, project, target=membership)
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = serializer.validated_data["role"]
        with audit.recording(
            request,
            Action.CHANGE_MEMBER,
            membership,
            detail={
                "user": membership.user.username,
                "from": membership.role,
                "to": role,
            },
        ):
            membership = project_services.change_role(membership, role)
        return Response(MembershipSerializer(membership).data)
