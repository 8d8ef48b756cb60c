"""Forms of the account and user-management pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from accounts import audit, throttling, tokens
from workflows.models import Project, Role


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login form, refusing without checking the password once a username
    has failed too often from the client's address (accounts.throttling)."""

    throttled = False

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username:
            wait = throttling.retry_after(username, audit.client_address(self.request))
            if wait:
                self.throttled = True
                audit.record(
                    self.request,
                    "login.failure",
                    None,
                    audit.Outcome.DENIED,
                    {"reason": "throttled", "via": "page"},
                    username=username,
                )
                raise forms.ValidationError(throttling.message(wait), code="throttled")
        return super().clean()


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
