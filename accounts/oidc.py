"""Single sign-on with OpenID Connect (docs/security.md): the provider's
client (Authlib), the sign-in, callback and sign-out views, and who may
still use a password.

Off while FLOWDECK_OIDC_ISSUER is empty. The authorization code flow with
PKCE (S256) and a nonce; the ID token's signature (the provider's JWKS),
issuer, audience, expiry and issue time are checked by Authlib, within
FLOWDECK_OIDC_LEEWAY_SECONDS of this server's clock. Roles from the
provider's groups are applied at each sign-in (workflows.services.sso) and
every change is audited. Tokens are never put in a page or a log line.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from joserfc.errors import JoseError

from accounts import audit, throttling
from accounts.sso_roles import groups_from_claim, roles_for
from workflows.services.sso import sync_sso_roles

log = logging.getLogger(__name__)

_NEXT = "flowdeck_oidc_next"
_ID_TOKEN = "flowdeck_oidc_id_token"  # kept for the provider's logout hint
_PASSWORD_REFUSED = "flowdeck_password_login_refused"
_clients: dict[tuple[str, ...], DjangoOAuth2App] = {}
_clients_lock = threading.Lock()


def enabled() -> bool:
    return bool(settings.FLOWDECK_OIDC_ISSUER)


def client() -> DjangoOAuth2App:
    """The provider's client, one per configuration: its discovery document
    and keys are fetched on first use and kept for the process's life (a
    key it does not know makes Authlib fetch the keys again)."""
    key = (
        settings.FLOWDECK_OIDC_ISSUER,
        settings.FLOWDECK_OIDC_CLIENT_ID,
        settings.FLOWDECK_OIDC_CLIENT_SECRET,
        settings.FLOWDECK_OIDC_SCOPES,
        str(settings.FLOWDECK_OIDC_TIMEOUT_SECONDS),
    )
    with _clients_lock:
        app = _clients.get(key)
        if app is None:
            app = OAuth().register(
                "flowdeck",
                client_id=settings.FLOWDECK_OIDC_CLIENT_ID,
                client_secret=settings.FLOWDECK_OIDC_CLIENT_SECRET,
                server_metadata_url=(
                    f"{settings.FLOWDECK_OIDC_ISSUER}/.well-known/openid-configuration"
                ),
                client_kwargs={
                    "scope": settings.FLOWDECK_OIDC_SCOPES,
                    "code_challenge_method": "S256",
                    "default_timeout": settings.FLOWDECK_OIDC_TIMEOUT_SECONDS,
                },
            )
            _clients[key] = app
    return app


def metadata() -> dict[str, Any]:
    """The provider's discovery document; its issuer must be the one
    configured (OpenID Connect Discovery 1.0, section 4.3), or every ID token
    would be checked against an issuer nobody chose."""
    found: dict[str, Any] = client().load_server_metadata()
    issuer = str(found.get("issuer", "")).rstrip("/")
    if issuer != settings.FLOWDECK_OIDC_ISSUER:
        raise SignOnError(
            "the provider's discovery document names another issuer",
            f"discovery issuer {issuer!r} is not FLOWDECK_OIDC_ISSUER",
        )
    return found


class SignOnError(Exception):
    """A refused single sign-on: `message` is shown to the person, `reason`
    goes to the log and the audit log; neither holds a token."""

    def __init__(self, message: str, reason: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status


# --- the views ------------------------------------------------------------------


@never_cache
def sign_in(request: HttpRequest) -> HttpResponse:
    """Send the browser to the provider's authorization endpoint."""
    if not enabled():
        return redirect("login")
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    request.session[_NEXT] = target
    try:
        metadata()
        return client().authorize_redirect(  # type: ignore[no-any-return]
            request, request.build_absolute_uri(reverse("oidc-callback"))
        )
    except SignOnError as error:
        return _refuse(request, error)
    except requests.RequestException as error:
        return _refuse(request, _unreachable(error))


@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the browser back here with a code: exchange it,
    check the ID token, find or make the user, apply the group roles, sign in."""
    if not enabled():
        return redirect("login")
    try:
        user = _complete(request)
    except SignOnError as error:
        return _refuse(request, error)
    request.flowdeck_login_via = "sso"  # type: ignore[attr-defined]
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    target = request.session.pop(_NEXT, "") or reverse(settings.LOGIN_REDIRECT_URL)
    return HttpResponseRedirect(target)


def _complete(request: HttpRequest) -> Any:
    app = client()
    try:
        issuer = metadata()["issuer"]
        token = app.authorize_access_token(
            request,
            leeway=settings.FLOWDECK_OIDC_LEEWAY_SECONDS,
            # Authlib checks the audience only through `azp` unless told: an
            # ID token for another client with azp set to ours would pass.
            claims_options={
                "iss": {"essential": True, "values": [issuer]},
                "aud": {"essential": True, "values": [app.client_id]},
            },
        )
    except OAuthError as error:
        # The provider's own refusal (access_denied, ...) or a state that does
        # not match this browser's session (a replayed or forged callback).
        raise SignOnError(
            f"The provider refused the sign-in: {error.description or error.error}.",
            f"oauth error {error.error}: {error.description or ''}"[:300],
        ) from None
    except JoseError as error:
        raise SignOnError(
            "The provider's answer did not pass Flowdeck's checks (the ID token "
            f"was not valid: {_jose_reason(error)}). Please try again; if this "
            "goes on, ask your administrator.",
            f"invalid id token: {_jose_reason(error)}",
        ) from None
    except requests.RequestException as error:
        raise _unreachable(error) from None
    claims = token.get("userinfo")
    if not claims:
        raise SignOnError(
            "The provider sent no ID token: is the 'openid' scope configured?",
            "no id token in the token response",
        )
    username = claims.get(settings.FLOWDECK_OIDC_USERNAME_CLAIM)
    if not isinstance(username, str) or not username.strip():
        raise SignOnError(
            "The provider did not say who you are (no "
            f"'{settings.FLOWDECK_OIDC_USERNAME_CLAIM}' claim).",
            f"no {settings.FLOWDECK_OIDC_USERNAME_CLAIM} claim",
        )
    username = username.strip()[:150]
    groups_claim = settings.FLOWDECK_OIDC_GROUPS_CLAIM
    raw_groups = claims.get(groups_claim)
    if raw_groups is None and metadata().get("userinfo_endpoint"):
        # Some providers put groups only in the userinfo answer.
        try:
            raw_groups = app.userinfo(token=token).get(groups_claim)
        except requests.RequestException as error:
            raise _unreachable(error) from None
    user = _user(request, username, claims)
    groups = groups_from_claim(raw_groups)
    wanted = roles_for(groups, settings.FLOWDECK_OIDC_GROUP_ROLES)
    result = sync_sso_roles(user, wanted)
    for change in result.changes:
        audit.record(
            request,
            "membership.sso",
            (("project", change.project.pk, change.project.name)),
            detail={
                "user": user.username,
                "from": change.before,
                "to": change.after,
                "groups": sorted(groups)[:50],
            },
            project=change.project,
            actor=user,
        )
    if result.unknown_projects:
        log.warning(
            "FLOWDECK_OIDC_GROUP_ROLES names projects that do not exist: %s",
            ", ".join(result.unknown_projects),
        )
    request.session[_ID_TOKEN] = token.get("id_token", "")
    return user


def _user(request: HttpRequest, username: str, claims: dict[str, Any]) -> Any:
    model = get_user_model()
    user = model.objects.filter(username=username).first()
    if user is None:
        if not settings.FLOWDECK_OIDC_CREATE_USERS:
            raise SignOnError(
                f"There is no Flowdeck account for {username}. Ask an administrator "
                "to create one.",
                "unknown user and FLOWDECK_OIDC_CREATE_USERS is off",
                status=403,
            )
        email = claims.get("email")
        user = model.objects.create_user(
            username, email=email if isinstance(email, str) else ""
        )  # with an unusable password: it signs in through the provider
        audit.record(
            request,
            "user.create",
            user,
            detail={"username": username, "via": "sso"},
            actor=user,
        )
    if not user.is_active:
        raise SignOnError(
            f"The Flowdeck account {username} is deactivated.",
            "inactive user",
            status=403,
        )
    return user


def _jose_reason(error: Exception) -> str:
    description = getattr(error, "description", None) or getattr(error, "error", "")
    return str(description or type(error).__name__)[:200]


def _unreachable(error: requests.RequestException) -> SignOnError:
    status = getattr(getattr(error, "response", None), "status_code", None)
    return SignOnError(
        "Flowdeck could not reach the identity provider. Please try again later.",
        f"provider unreachable: {type(error).__name__}"
        + (f" (HTTP {status})" if status else ""),
        status=502,
    )


def _refuse(request: HttpRequest, error: SignOnError) -> HttpResponse:
    log.warning("Single sign-on refused: %s", error.reason)
    audit.record(
        request,
        "login.failure",
        None,
        audit.Outcome.DENIED,
        {"via": "sso", "reason": error.reason},
        username="",
    )
    context = login_page_context()
    context["sso_error"] = error.message
    return render(request, "registration/login.html", context, status=error.status)


def login_page_context() -> dict[str, Any]:
    from accounts.forms import ThrottledAuthenticationForm

    return {
        "form": ThrottledAuthenticationForm(),
        **sso_context(),
    }


def sso_context() -> dict[str, Any]:
    return {
        "sso_enabled": enabled(),
        "sso_provider_name": settings.FLOWDECK_OIDC_PROVIDER_NAME,
        "password_login": settings.FLOWDECK_PASSWORD_LOGIN,
    }


class LogoutView(auth_views.LogoutView):
    """Ends the session here and, when the provider's discovery lists an
    end_session_endpoint, sends the browser there to end the provider's too
    (RP-Initiated Logout 1.0), coming back to the sign-in page."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        id_token = request.session.get(_ID_TOKEN, "")
        response: HttpResponse = super().post(request, *args, **kwargs)
        if not (enabled() and id_token):
            return response
        try:
            endpoint = metadata().get("end_session_endpoint")
        except (SignOnError, requests.RequestException):
            return response  # signed out here; the provider's session stays
        if not endpoint:
            return response
        query = urlencode(
            {
                "id_token_hint": id_token,
                "client_id": settings.FLOWDECK_OIDC_CLIENT_ID,
                "post_logout_redirect_uri": request.build_absolute_uri(
                    reverse("login")
                ),
            }
        )
        separator = "&" if "?" in endpoint else "?"
        return HttpResponseRedirect(f"{endpoint}{separator}{query}")


# --- who may use a password -----------------------------------------------------


class PasswordLoginPolicyBackend:
    """Authenticates nobody: refuses a password `authenticate()` that
    FLOWDECK_PASSWORD_LOGIN does not allow (off: everyone; admin: all but
    superusers), before any backend checks the password. Like the throttle,
    no `get_user`."""

    def authenticate(
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        policy = settings.FLOWDECK_PASSWORD_LOGIN
        if password is None or policy == "on":
            return
        if username is None:
            username = kwargs.get(str(get_user_model().USERNAME_FIELD))
        if policy == "admin" and username is not None:
            user = get_user_model().objects.filter(username=username).first()
            if user is not None and user.is_superuser:
                return
        if request is not None:
            setattr(request, _PASSWORD_REFUSED, True)
        audit.record(
            request,
            "login.failure",
            None,
            audit.Outcome.DENIED,
            {"reason": "password login off", "via": throttling.login_via(request)},
            username=str(username or "")[:150],
        )
        raise PermissionDenied(PASSWORD_OFF_MESSAGE)


PASSWORD_OFF_MESSAGE = "Signing in with a password is turned off here."


def password_refused(request: Any) -> bool:
    return bool(getattr(request, _PASSWORD_REFUSED, False))
