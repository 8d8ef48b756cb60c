"""REST endpoints of accounts: trade a password for a token, manage your
tokens, read the audit log."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from accounts import audit, throttling, tokens
from accounts.audit_filters import FilterError, apply_filters, readable_entries
from accounts.models import AuditEntry, PersonalToken
from workflows.permissions import PHRASES, Action

# --- serializers ---------------------------------------------------------------


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(
        trim_whitespace=False, style={"input_type": "password"}
    )


class IssuedSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The secret: shown this once.")
    name = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class TokenSerializer(serializers.ModelSerializer):
    expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = PersonalToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "expired",
        ]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=tokens.MAX_EXPIRY_DAYS,
        help_text="Days until the token stops working; omitted: never.",
    )


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The secret: shown this once.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class AuditProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AuditTargetSerializer(serializers.Serializer):
    type = serializers.CharField(source="target_type")
    id = serializers.CharField(source="target_id")
    repr = serializers.CharField(source="target_repr")


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.IntegerField(source="actor_id", allow_null=True)
    target = AuditTargetSerializer(source="*")
    project = AuditProjectSerializer(allow_null=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "username",
            "action",
            "outcome",
            "target",
            "project",
            "remote_addr",
            "detail",
        ]
        read_only_fields = fields


# --- the password-for-token endpoint ---------------------------------------------


class TokenThrottle(AnonRateThrottle):
    """At most 20 requests a minute per client address, successful or not
    (each success makes a token). Failures are limited by the lockout every
    login shares (accounts.throttling)."""

    scope = "auth-token"
    rate = "20/minute"

    def get_ident(self, request: Request) -> str:
        # DRF's own reads X-Forwarded-For whoever sent it, so a client could
        # name a new address each request; ours trusts only our proxies.
        return audit.client_address(request) or "-"


class ObtainToken(APIView):
    """POST a username and password, get a new personal token named
    "api-login <time>"; send it as `Authorization: Token <key>`."""

    # No authentication: a browser's session cookie would make DRF demand a
    # CSRF token here, and the credentials in the body are what count.
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]
    serializer_class = LoginSerializer

    @extend_schema(
        tags=["auth"],
        request=LoginSerializer,
        responses={
            200: IssuedSerializer,
            400: OpenApiResponse(
                description="Missing fields, or the credentials are wrong "
                "(non_field_errors says which)."
            ),
            429: OpenApiResponse(
                description="Too many failed logins for this username from this "
                "address, or too many requests from it."
            ),
        },
        auth=[],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["username"]
        password = serializer.validated_data["password"]
        http_request = request._request
        http_request.flowdeck_login_via = "api"  # type: ignore[attr-defined]
        user = authenticate(http_request, username=username, password=password)
        if user is None:
            lockout = throttling.refused(http_request)
            if lockout is not None:
                raise Throttled(wait=lockout.seconds, detail=lockout.message)
            raise ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]}
            )
        user_logged_in.send(sender=user.__class__, request=http_request, user=user)
        days = settings.FLOWDECK_LOGIN_TOKEN_DAYS or None
        name = f"api-login {timezone.now():%Y-%m-%d %H:%M:%S}"
        token, key = tokens.issue(user, name, expires_in_days=days)
        audit.record(
            request,
            "token.create",
            token,
            detail={"name": name, "via": "api-login"},
            actor=user,  # the request itself is not authenticated
        )
        return Response({"token": key, "name": name, "expires_at": token.expires_at})


# --- personal tokens ---------------------------------------------------------------


@extend_schema(tags=["tokens"])
class TokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your personal API tokens. The secret is shown once, in the answer to
    the POST that makes it; lists show its prefix."""

    serializer_class = TokenSerializer
    queryset = PersonalToken.objects.all()  # narrowed to the user's own below

    def get_queryset(self) -> QuerySet[PersonalToken]:
        return (
            super()
            .get_queryset()
            .filter(user=self.request.user, revoked_at__isnull=True)
        )

    @extend_schema(
        request=TokenCreateSerializer,
        responses={201: NewTokenSerializer},
        description="Make a token; the answer holds its secret, shown this once.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        days = serializer.validated_data.get("expires_in_days")
        token, key = tokens.issue(request.user, name, expires_in_days=days)
        audit.record(request, "token.create", token, detail={"name": name})
        data = {**TokenSerializer(token).data, "token": key}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={204: None},
        description="Revoke the token: it stops authenticating at once.",
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance: PersonalToken) -> None:
        tokens.revoke(instance)
        audit.record(self.request, "token.revoke", instance)


# --- the audit log -------------------------------------------------------------------


class AuditFilter(BaseFilterBackend):
    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        try:
            return apply_filters(queryset, request.query_params)
        except FilterError as error:
            raise ValidationError(
                {name: [message] for name, message in error.errors.items()}
            ) from None

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        described = {
            "project": "Project id or name.",
            "user": "User id or username.",
            "action": 'Exact action ("run.cancel"), or a prefix ending in "." '
            '("run.").',
            "outcome": "success, denied or error.",
            "since": "From this ISO date or date-time (UTC unless given).",
            "until": "Up to this ISO date (its end) or date-time.",
        }
        return [
            {
                "name": name,
                "required": False,
                "in": "query",
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in described.items()
        ]


@extend_schema(tags=["audit"])
class AuditViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit log, newest first: site administrators read every entry,
    project admins their projects' entries; anyone else gets a 403."""

    serializer_class = AuditEntrySerializer
    filter_backends = [AuditFilter]

    def get_queryset(self) -> QuerySet[AuditEntry]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return AuditEntry.objects.none()
        entries = readable_entries(self.request.user)
        if entries is None:
            raise PermissionDenied(
                f"{PHRASES[Action.VIEW_AUDIT]} needs the admin role in a project "
                "or a site administrator"
            )
        return entries.select_related("project")

    @extend_schema(
        responses={
            200: AuditEntrySerializer(many=True),
            400: OpenApiResponse(description="A bad filter, keyed by its name."),
            403: OpenApiResponse(description="Not a project admin or site admin."),
        }
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Pass as ?ticket= when connecting.")
    expires_in = serializers.IntegerField(help_text="Seconds it stays valid.")


class WebsocketTicket(APIView):
    """A short-lived ticket for opening a websocket (docs/live.md) as yourself,
    so that no long-lived token has to go into a URL."""

    serializer_class = TicketSerializer

    @extend_schema(tags=["auth"], request=None, responses={200: TicketSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from accounts.websocket import issue_ticket

        # request.auth: the PersonalToken the request came with; None for a session.
        token = request.auth if isinstance(request.auth, PersonalToken) else None
        return Response(
            {
                "ticket": issue_ticket(request.user, token),
                "expires_in": settings.FLOWDECK_WS_TICKET_SECONDS,
            }
        )
