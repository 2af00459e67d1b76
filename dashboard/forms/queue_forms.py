"""Forms of the Queues page: create a queue, change its cleanup policy, drop it.

Rendered with crispy forms (Bootstrap 5). Each per-queue form gets ids of its own
(``auto_id``) so labels stay tied to their inputs when every queue has one, while
field names stay plain.
"""

from __future__ import annotations

from datetime import timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms

from absurd_core.errors import InvalidQueueName
from absurd_core.queues import MAX_QUEUE_NAME_BYTES, validate_queue_name

UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
MAX_TTL = timedelta(days=3650)
MAX_LIMIT = 1_000_000


def _helper(*layout) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False  # the template writes <form> with its action and CSRF token
    helper.disable_csrf = True
    if layout:
        helper.layout = Layout(*layout)
    return helper


class CreateQueueForm(forms.Form):
    name = forms.CharField(
        label="Queue name",
        strip=False,  # " a" is not the name "a": say so instead of creating "a"
        help_text=f"ASCII letters, digits, '_', '-' and '.', starting with a letter, digit or "
        f"'_'; at most {MAX_QUEUE_NAME_BYTES} bytes.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    storage_mode = forms.ChoiceField(
        label="Storage",
        choices=[
            ("unpartitioned", "One table per kind (default)"),
            ("partitioned", "Weekly partitions: for very large queues; old weeks drop whole"),
        ],
        initial="unpartitioned",
        required=False,
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "create-%s")
        super().__init__(*args, **kwargs)
        self.helper = _helper()

    def clean_storage_mode(self) -> str:
        return self.cleaned_data.get("storage_mode") or "unpartitioned"

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        try:
            return validate_queue_name(name)
        except InvalidQueueName as exc:
            raise forms.ValidationError(exc.message, code="invalid_queue_name") from None


def split_ttl(ttl: timedelta | None) -> tuple[int | None, str]:
    """The largest unit that expresses ``ttl`` exactly: (30, "days"), (90, "minutes")."""
    if ttl is None:
        return None, "days"
    seconds = int(ttl.total_seconds())
    for unit in ("days", "hours", "minutes"):
        if seconds and seconds % UNITS[unit] == 0:
            return seconds // UNITS[unit], unit
    return seconds, "seconds"


def _literal(queue: str) -> str:
    """The queue's name as literal text in an ``auto_id`` format (Django fills it with ``%``):
    a name with ``%`` in it (``demo%00``) would otherwise break the format, a 500."""
    return queue.replace("%", "%%")


class CleanupPolicyForm(forms.Form):
    ttl_value = forms.IntegerField(label="Keep finished tasks for", min_value=1)
    ttl_unit = forms.ChoiceField(
        label="Unit", choices=[(unit, unit) for unit in UNITS], initial="days"
    )
    cleanup_limit = forms.IntegerField(
        label="Most tasks deleted per cleanup pass", min_value=1, max_value=MAX_LIMIT
    )

    def __init__(self, queue: str, *args, **kwargs):
        kwargs.setdefault("auto_id", f"policy-{_literal(queue)}-%s")
        super().__init__(*args, **kwargs)
        self.queue = queue
        self.helper = _helper(
            Row(
                Column("ttl_value", css_class="col-7"),
                Column("ttl_unit", css_class="col-5"),
            ),
            "cleanup_limit",
        )

    @classmethod
    def for_policy(cls, queue: str, ttl: timedelta | None, limit: int | None):
        value, unit = split_ttl(ttl)
        return cls(queue, initial={"ttl_value": value, "ttl_unit": unit, "cleanup_limit": limit})

    def clean(self):
        data = super().clean()
        value, unit = data.get("ttl_value"), data.get("ttl_unit")
        if value is not None and unit in UNITS:
            ttl = timedelta(seconds=value * UNITS[unit])
            if ttl > MAX_TTL:
                self.add_error("ttl_value", "Keep finished tasks for at most 3650 days.")
            else:
                data["cleanup_ttl"] = ttl
        return data


class DropQueueForm(forms.Form):
    confirm = forms.CharField(
        label="Type the queue's name to confirm",
        strip=False,
        required=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, queue: str, *args, **kwargs):
        kwargs.setdefault("auto_id", f"drop-{_literal(queue)}-%s")
        super().__init__(*args, **kwargs)
        self.queue = queue
        self.helper = _helper()

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"]
        if typed != self.queue:
            raise forms.ValidationError(
                "That is not this queue's name: nothing was dropped.", code="mismatch"
            )
        return typed


class DetachPolicyForm(forms.Form):
    """A partitioned queue's retention: may old empty weeks be dropped, from what age."""

    detach_mode = forms.ChoiceField(
        label="Drop old partitions",
        choices=[("none", "Never"), ("empty", "When empty and older than the age below")],
    )
    min_age_days = forms.IntegerField(label="Age, in days", min_value=1, max_value=3650)

    def __init__(self, queue: str, *args, **kwargs):
        kwargs.setdefault("auto_id", f"detach-{_literal(queue)}-%s")
        super().__init__(*args, **kwargs)
        self.queue = queue
        self.helper = _helper(
            Row(Column("detach_mode", css_class="col-7"), Column("min_age_days", css_class="col-5"))
        )

    @classmethod
    def for_policy(cls, queue: str, mode: str, min_age: timedelta):
        days = max(1, int(min_age.total_seconds() // 86400))
        return cls(queue, initial={"detach_mode": mode, "min_age_days": days})

    def clean(self):
        data = super().clean()
        if data.get("min_age_days") is not None:
            data["detach_min_age"] = timedelta(days=data["min_age_days"])
        return data
