"""Account pages (sign in, API tokens, password), the site administrators'
user management, and the audit log.

Every change is recorded in the audit log; who may do what is decided in
workflows.permissions.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import audit, oidc, tokens
from accounts.audit_filters import (
    FILTERS,
    FilterError,
    apply_filters,
    readable_entries,
)
from accounts.forms import (
    ThrottledAuthenticationForm,
    TokenForm,
    UserCreateForm,
    UserMembershipForm,
    UserUpdateForm,
)
from accounts.models import PersonalToken
from workflows.models import Membership, Project
from workflows.permissions import (
    PHRASES,
    Action,
    is_site_admin,
    projects_where,
    require,
)
from workflows.services import projects as project_services
from workflows.services.errors import ActionRefused

PAGE_SIZE = 50


# --- signing in and the account ----------------------------------------------------


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **oidc.sso_context()}

    def form_invalid(self, form: Form) -> HttpResponse:
        response = super().form_invalid(form)
        if getattr(form, "throttled", False):
            response.status_code = 429
        elif getattr(form, "password_off", False):
            response.status_code = 403
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit.record(self.request, "user.password_change", self.request.user)
        return response


@never_cache  # the page may show a token's secret
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    issued: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            name = form.cleaned_data["name"]
            token, key = tokens.issue(
                request.user,
                name,
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
            audit.record(request, "token.create", token, detail={"name": name})
            issued = {"token": token, "key": key}
            form = TokenForm()
        else:
            status = 400
    context = {
        "form": form,
        "issued": issued,
        "tokens": PersonalToken.objects.filter(
            user=request.user, revoked_at__isnull=True
        ),
    }
    return render(request, "accounts/token_list.html", context, status=status)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(
        PersonalToken, pk=pk, user=request.user, revoked_at__isnull=True
    )
    tokens.revoke(token)
    audit.record(request, "token.revoke", token)
    messages.success(request, f"Revoked the token {token.name}.")
    return redirect("token-list")


# --- user management (site administrators) -------------------------------------------


def _user(request: HttpRequest, pk: int, *, changing: bool = False) -> Any:
    """The user `pk`; only a superuser may change a superuser's account (a
    staff member could otherwise take one over by resetting its password)."""
    target = get_object_or_404(get_user_model(), pk=pk)
    if changing and target.is_superuser and not request.user.is_superuser:
        audit.record(
            request,
            "user.update",
            target,
            audit.Outcome.DENIED,
            {"reason": "only a superuser may change a superuser"},
        )
        raise PermissionDenied("only a superuser may change a superuser's account")
    return target


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    require(request, Action.MANAGE_USERS)
    users = get_user_model().objects.annotate(
        project_count=Count("memberships", distinct=True)
    )
    query = request.GET.get("q", "").strip()
    if query:
        users = users.filter(
            Q(username__icontains=query)
            | Q(email__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
        )
    page = Paginator(users.order_by("username"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "accounts/user_list.html", {"page": page, "q": query})


@login_required
def user_create(request: HttpRequest) -> HttpResponse:
    require(request, Action.MANAGE_USERS)
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        audit.record(
            request,
            "user.create",
            user,
            detail={"username": user.username, "staff": user.is_staff},
        )
        messages.success(request, f"Created user {user.username}.")
        return redirect("user-detail", pk=user.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/user_form.html", {"form": form}, status=status)


def _user_page(
    request: HttpRequest,
    user: Any,
    *,
    update_form: UserUpdateForm | None = None,
    password_form: SetPasswordForm | None = None,
    membership_form: UserMembershipForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "subject": user,
        "update_form": update_form or UserUpdateForm(instance=user),
        "password_form": password_form or SetPasswordForm(user),
        "membership_form": membership_form or UserMembershipForm(),
        "memberships": Membership.objects.filter(user=user)
        .select_related("project")
        .order_by("project__name"),
        "tokens": PersonalToken.objects.filter(user=user),
    }
    return render(request, "accounts/user_detail.html", context, status=status)


@login_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, Action.MANAGE_USERS)
    if request.method != "POST":
        return _user_page(request, _user(request, pk))
    user = _user(request, pk, changing=True)
    form = UserUpdateForm(request.POST, instance=user)
    if not form.is_valid():
        return _user_page(request, user, update_form=form, status=400)
    losing_admin = not form.cleaned_data["is_staff"] and not user.is_superuser
    if user == request.user and losing_admin:
        messages.error(request, "You cannot take away your own staff flag.")
        return redirect("user-detail", pk=user.pk)
    changed = sorted(form.changed_data)
    form.save()
    audit.record(request, "user.update", user, detail={"changed": changed})
    messages.success(request, f"Saved {user.username}.")
    return redirect("user-detail", pk=user.pk)


@login_required
@require_POST
def user_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, Action.MANAGE_USERS)
    user = _user(request, pk, changing=True)
    active = request.POST.get("active") == "true"
    if user == request.user and not active:
        messages.error(request, "You cannot deactivate yourself.")
        return redirect("user-detail", pk=user.pk)
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
        action = "user.reactivate" if active else "user.deactivate"
        audit.record(request, action, user)
    state = "active" if active else "deactivated: it cannot sign in or use its tokens"
    messages.success(request, f"{user.username} is {state}.")
    return redirect("user-detail", pk=user.pk)


@login_required
@require_POST
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, Action.MANAGE_USERS)
    user = _user(request, pk, changing=True)
    form = SetPasswordForm(user, request.POST)
    if not form.is_valid():
        return _user_page(request, user, password_form=form, status=400)
    form.save()
    audit.record(request, "user.password_reset", user)
    messages.success(request, f"Set a new password for {user.username}.")
    return redirect("user-detail", pk=user.pk)


@login_required
@require_POST
def user_membership(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, Action.MANAGE_USERS)
    user = _user(request, pk)
    form = UserMembershipForm(request.POST)
    if not form.is_valid():
        return _user_page(request, user, membership_form=form, status=400)
    project: Project = form.cleaned_data["project"]
    role: str = form.cleaned_data["role"]
    existing = Membership.objects.filter(project=project, user=user).first()
    detail = {"user": user.username, "role": role}
    try:
        if existing is None and role:
            with audit.recording(
                request, Action.ADD_MEMBER, project=project, detail=detail
            ) as entry:
                entry.target = project_services.add_member(project, user, role)
        elif existing is not None and role:
            with audit.recording(
                request,
                Action.CHANGE_MEMBER,
                existing,
                detail={**detail, "from": existing.role, "to": role},
            ):
                project_services.change_role(existing, role)
        elif existing is not None:
            with audit.recording(
                request, Action.REMOVE_MEMBER, existing, detail=detail
            ):
                project_services.remove_member(existing)
    except ActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Saved {user.username}'s role in {project.name}.")
    return redirect("user-detail", pk=user.pk)


# --- the audit log --------------------------------------------------------------


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    entries = readable_entries(request.user)
    if entries is None:
        raise PermissionDenied(
            f"{PHRASES[Action.VIEW_AUDIT]} needs the admin role in a project or a "
            "site administrator"
        )
    errors: dict[str, str] = {}
    try:
        entries = apply_filters(entries, request.GET)
    except FilterError as error:
        errors = error.errors
        entries = entries.none()
    page = Paginator(entries.select_related("project"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    projects = (
        Project.objects.all()
        if is_site_admin(request.user)
        else projects_where(request.user, Action.VIEW_AUDIT)
    )
    context = {
        "page": page,
        "errors": errors,
        "projects": projects.order_by("name"),
        "filters": {name: request.GET.get(name, "") for name in FILTERS},
    }
    return render(
        request, "accounts/audit_log.html", context, status=400 if errors else 200
    )
