"""Forms of the account and user-management pages."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError

from accounts import throttling, tokens
from workflows.models import Project, Role


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login page's form: when `authenticate()` was refused by the
    lockout (accounts.throttling), it says so instead of "wrong password", and
    sets `throttled` so the view can answer 429."""

    throttled = False
    password_off = False

    def get_invalid_login_error(self) -> ValidationError:
        from accounts import oidc

        if oidc.password_refused(self.request):
            self.password_off = True
            return ValidationError(oidc.PASSWORD_OFF_MESSAGE, code="password_off")
        lockout = throttling.refused(self.request)
        if lockout is None:
            return super().get_invalid_login_error()
        self.throttled = True
        return ValidationError(lockout.message, code="throttled")


class ThrottledAdminAuthenticationForm(
    ThrottledAuthenticationForm, AdminAuthenticationForm
):
    """The Django admin's login form (accounts.admin_site), throttled alike."""


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. 'ci'.")
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=tokens.MAX_EXPIRY_DAYS,
        label="Expires in (days)",
        help_text="Leave empty for a token that does not expire.",
    )


class UserCreateForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email", "is_staff")
        labels = {"is_staff": "Site administrator (staff)"}


class UserUpdateForm(forms.ModelForm):
    class Meta:
        model = get_user_model()
        fields = ("email", "is_staff")
        labels = {"is_staff": "Site administrator (staff)"}


class UserMembershipForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"))
    role = forms.ChoiceField(
        choices=[("", "no role (remove)"), *Role.choices], required=False
    )
