"""Forms of the Schedules page: create and edit a schedule, backfill a range, confirm a
delete. The checks themselves are absurd_core.actions.schedules' (one path for every
surface); a form only shapes the input and shows the core's errors on their fields."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms

from absurd_core.actions.schedules import MAX_CATCH_UP_CAP, MAX_JITTER_SECONDS, MAX_NAME


def _helper() -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    helper.disable_csrf = True
    return helper


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME)
    task = forms.CharField(label="Task", max_length=4000)
    cron = forms.CharField(
        required=False,
        max_length=200,
        help_text="Five fields or @hourly, @daily, @weekly, @monthly, @yearly; "
        "or leave empty and give an interval.",
    )
    every_seconds = forms.IntegerField(
        required=False, min_value=1, label="Every (seconds)", help_text="Instead of cron."
    )
    timezone = forms.CharField(initial="UTC", max_length=100, label="Time zone (IANA)")
    catch_up = forms.ChoiceField(
        choices=[("skip", "skip: only the latest missed slot"), ("all", "all: every missed slot")],
        initial="skip",
    )
    catch_up_cap = forms.IntegerField(initial=100, min_value=1, max_value=MAX_CATCH_UP_CAP)
    jitter_seconds = forms.IntegerField(initial=0, min_value=0, max_value=MAX_JITTER_SECONDS)
    params = forms.JSONField(required=False, initial=dict, help_text="A JSON object.")

    def __init__(self, *args, prefix_id: str = "schedule", **kwargs):
        kwargs.setdefault("auto_id", f"{prefix_id}-%s")
        super().__init__(*args, **kwargs)
        self.helper = _helper()

    def clean_cron(self):
        return self.cleaned_data["cron"].strip() or None

    def clean_params(self):
        value = self.cleaned_data["params"]
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError("params must be a JSON object.")
        return value


class EditScheduleForm(ScheduleForm):
    """Edit: everything but the name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["name"]


class BackfillForm(forms.Form):
    start = forms.DateTimeField(
        help_text="UTC", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.DateTimeField(
        help_text="UTC, inclusive", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, prefix_id: str = "backfill", **kwargs):
        kwargs.setdefault("auto_id", f"{prefix_id}-%s")
        super().__init__(*args, **kwargs)
        self.helper = _helper()


class DeleteScheduleForm(forms.Form):
    confirm = forms.CharField(label="Type the schedule's name to delete it")

    def __init__(self, name: str, *args, prefix_id: str = "delete", **kwargs):
        kwargs.setdefault("auto_id", f"{prefix_id}-%s")
        super().__init__(*args, **kwargs)
        self.schedule_name = name
        self.helper = _helper()

    def clean_confirm(self):
        if self.cleaned_data["confirm"] != self.schedule_name:
            raise forms.ValidationError("That is not the schedule's name.")
        return self.cleaned_data["confirm"]
