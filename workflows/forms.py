"""Forms of the project pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from workflows.models import (
    MAX_SEMAPHORE_LIMIT,
    Project,
    Role,
    Semaphore,
    validate_namespace_list,
    validate_service_account_list,
)


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description", "namespace"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "namespace": "Empty: the installation's namespace (FLOWDECK_K8S_NAMESPACE)."
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["namespace"].required = False


class ProjectSettingsForm(forms.ModelForm):
    """The name stays: scripts and namespaces refer to it. The namespaces are
    a site administrator's to set (they decide the runs' cluster rights); a
    project admin's form has none."""

    extra_namespaces = forms.CharField(
        required=False,
        label="More namespaces",
        help_text="Namespaces its workflows may also name (spec.namespace), "
        "separated by commas or spaces.",
    )
    service_accounts = forms.CharField(
        required=False,
        label="More service accounts",
        help_text="Service accounts its workflows may also name "
        "(serviceAccountName), separated by commas or spaces. With these or a "
        "default set, a workflow may name no other.",
    )

    class Meta:
        model = Project
        fields = [
            "description",
            "namespace",
            "default_service_account",
            "max_running_tasks",
            "max_cpu",
            "max_memory",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "max_running_tasks": "Quota: running tasks",
            "max_cpu": "Quota: CPU",
            "max_memory": "Quota: memory",
            "default_service_account": "Default service account",
        }

    def __init__(self, *args: Any, site_admin: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not site_admin:
            for name in (
                "namespace",
                "extra_namespaces",
                "default_service_account",
                "service_accounts",
            ):
                del self.fields[name]
            return
        self.fields["namespace"].required = False
        self.fields["default_service_account"].required = False
        self.initial["extra_namespaces"] = ", ".join(
            self.instance.extra_namespaces or ()
        )
        self.initial["service_accounts"] = ", ".join(
            self.instance.service_accounts or ()
        )

    def clean_extra_namespaces(self) -> list[str]:
        names = self.cleaned_data["extra_namespaces"].replace(",", " ").split()
        validate_namespace_list(names)
        return list(dict.fromkeys(names))

    def clean_service_accounts(self) -> list[str]:
        names = self.cleaned_data["service_accounts"].replace(",", " ").split()
        validate_service_account_list(names)
        return list(dict.fromkeys(names))


class SemaphoreForm(forms.ModelForm):
    class Meta:
        model = Semaphore
        fields = ["name", "limit", "description"]
        widgets = {
            "description": forms.TextInput(),
            "limit": forms.NumberInput(attrs={"min": 1, "max": MAX_SEMAPHORE_LIMIT}),
        }
        help_texts = {
            "name": "Specs name it: synchronization: {semaphore: NAME}.",
        }

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        # Its own ids: the settings form on the same page has a description.
        super().__init__(*args, auto_id="id_semaphore_%s", **kwargs)
        self.project = project

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if Semaphore.objects.filter(project=self.project, name=name).exists():
            raise forms.ValidationError(
                f"Project {self.project.name} already has a semaphore {name}."
            )
        return name


class SemaphoreLimitForm(forms.Form):
    """A semaphore's new limit; the name stays (specs name it)."""

    limit = forms.IntegerField(min_value=1, max_value=MAX_SEMAPHORE_LIMIT)


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)

    def clean_username(self) -> Any:
        username = self.cleaned_data["username"]
        user = (
            get_user_model().objects.filter(username=username, is_active=True).first()
        )
        if user is None:
            raise forms.ValidationError(f"There is no active user {username!r}.")
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
