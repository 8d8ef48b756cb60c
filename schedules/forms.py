"""The schedule and backfill forms of the pages. They only read what was typed;
the rules live in schedules.services (the API applies the same ones)."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms

from flowcore.fire_times import ScheduleError, parse_zone
from schedules.models import (
    MAX_ACTIVE,
    MAX_BACKFILL_CONCURRENCY,
    MAX_CATCH_UP,
    Schedule,
)

PARAMETER_FIELD = "param."  # parameter inputs are named "param.<name>"


def _in_zone(value: datetime | None, zone: ZoneInfo | None) -> datetime | None:
    """A datetime-local input has no offset: it means the schedule's zone."""
    if value is None or zone is None:
        return value
    return value.replace(tzinfo=None).replace(tzinfo=zone)


class LocalDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
    )

    def to_python(self, value: Any) -> datetime | None:
        # Read as typed, without Django's conversion from the site's zone: the
        # form turns it into the schedule's zone once it knows which.
        if isinstance(value, str) and value.strip():
            try:
                return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
            except ValueError:
                raise forms.ValidationError(
                    "enter a date and time like 2026-03-29T02:30"
                ) from None
        return super().to_python(value)


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=63)
    kind = forms.ChoiceField(choices=Schedule.Kind.choices, initial=Schedule.Kind.CRON)
    expression = forms.CharField(
        max_length=200,
        help_text='Cron: "0 6 * * mon-fri", "@daily"; interval: "every 10m".',
    )
    timezone = forms.CharField(max_length=64, initial="UTC")
    start_at = LocalDateTimeField(required=False, label="Start (in its zone)")
    end_at = LocalDateTimeField(required=False, label="End (in its zone)")
    enabled = forms.BooleanField(required=False, initial=True)
    overlap = forms.ChoiceField(
        choices=Schedule.Overlap.choices, initial=Schedule.Overlap.ALLOW
    )
    max_active = forms.IntegerField(required=False, min_value=1, max_value=MAX_ACTIVE)
    catch_up = forms.ChoiceField(
        choices=Schedule.CatchUp.choices, initial=Schedule.CatchUp.LATEST
    )
    catch_up_limit = forms.IntegerField(min_value=1, max_value=MAX_CATCH_UP, initial=10)

    def __init__(self, *args: Any, parameters: list[str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.parameter_names = parameters or []
        self.parameter_values: dict[str, str] = {}

    @classmethod
    def for_schedule(cls, schedule: Schedule, parameters: list[str]) -> ScheduleForm:
        zone = ZoneInfo(schedule.timezone)
        initial = {
            name: getattr(schedule, name)
            for name in (
                "name",
                "kind",
                "expression",
                "timezone",
                "enabled",
                "overlap",
                "max_active",
                "catch_up",
                "catch_up_limit",
            )
        }
        for name in ("start_at", "end_at"):
            value = getattr(schedule, name)
            initial[name] = (
                value.astimezone(zone).replace(tzinfo=None) if value else None
            )
        form = cls(initial=initial, parameters=parameters)
        form.parameter_values = {k: str(v) for k, v in schedule.parameters.items()}
        return form

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        zone: ZoneInfo | None = None
        with suppress(ScheduleError):  # the services name the field
            zone = parse_zone(data.get("timezone", ""))
        for name in ("start_at", "end_at"):
            data[name] = _in_zone(data.get(name), zone)
        posted = {
            key.removeprefix(PARAMETER_FIELD): value
            for key, value in self.data.items()
            if key.startswith(PARAMETER_FIELD)
        }
        self.parameter_values = posted
        # An empty field means "not given": the parameter's default applies.
        data["parameters"] = {k: v for k, v in posted.items() if v != ""}
        return data

    def add_schedule_error(self, error: ScheduleError) -> None:
        if error.field in self.fields:
            self.add_error(error.field, error.message)
        else:
            self.add_error(None, f"{error.field}: {error.message}")

    def parameter_rows(self) -> list[dict[str, str]]:
        return [
            {
                "name": name,
                "field": PARAMETER_FIELD + name,
                "value": self.parameter_values.get(name, ""),
            }
            for name in self.parameter_names
        ]


class BackfillForm(forms.Form):
    start = LocalDateTimeField(label="From (in the schedule's zone)")
    end = LocalDateTimeField(label="Until (in the schedule's zone)")
    max_concurrent = forms.IntegerField(
        min_value=1, max_value=MAX_BACKFILL_CONCURRENCY, initial=1, label="Runs at once"
    )

    def __init__(self, *args: Any, zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("start", "end"):
            data[name] = _in_zone(data.get(name), self.zone)
        return data
