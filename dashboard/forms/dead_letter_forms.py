"""The dead letters page's filter form: state, queue, one group, and the keyset page.

Used for the page's query string (cursor ``before``) and for the bulk action's POST
(cursor ``up_to``: the newest id the confirmation counted). Values are taken as sent
(no stripping): a group's error message must match the stored one exactly.
``first_error(fields)`` gives the message of the first bad field, in the order the
fields are declared (state, queue, group, cursor), so a request with several bad
values is told about the same one every time.
"""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from absurd_core.engine import list_queues
from absurd_core.queries.dead_letters import STATES, DeadLetterFilter

FILTER_FIELDS = ("state", "queue", "task", "error_name", "error")


def _text() -> forms.CharField:
    return forms.CharField(required=False, strip=False)


class DeadLetterFilterForm(forms.Form):
    state = _text()
    queue = _text()
    task = _text()
    error_name = _text()
    error = _text()

    def __init__(self, data, *, cursor: str = "before"):
        super().__init__(data)
        self.cursor_field = cursor
        self.fields[cursor] = forms.CharField(
            required=False,
            strip=False,
            validators=[
                RegexValidator(r"\A[0-9]{1,18}\Z", "The page cursor is not one this page gave out.")
            ],
        )

    def clean_state(self) -> str:
        state = self.cleaned_data["state"] or "open"
        if state not in (*STATES, "all"):
            raise forms.ValidationError(f"Unknown state {state!r}: use open, retried or discarded.")
        return state

    def clean_queue(self) -> str | None:
        queue = self.cleaned_data["queue"] or None
        if queue is not None and queue not in list_queues():
            raise forms.ValidationError(f"No queue named {queue!r}.")
        return queue

    def clean_task(self) -> str:
        task = self.cleaned_data["task"]
        if "task" in self.data and not task:
            raise forms.ValidationError("A group needs a task name.")
        return task

    def first_error(self, fields: tuple[str, ...] | None = None) -> str | None:
        """The first error among ``fields`` (default: all), in declaration order."""
        for name in self.fields:
            if (fields is None or name in fields) and name in self.errors:
                return self.errors[name][0]
        return None

    # -- what the valid form means (call after is_valid) -----------------------------

    def dead_letter_filter(self) -> DeadLetterFilter:
        data = self.cleaned_data
        state = data["state"]
        group = None
        if "task" in self.data:
            group = (data["task"], data["error_name"], data["error"])
        return DeadLetterFilter(state=None if state == "all" else state, queue=data["queue"],
                                group=group)  # fmt: skip

    def cursor(self) -> int | None:
        value = self.cleaned_data.get(self.cursor_field)
        return int(value) if value else None


def filter_params(flt: DeadLetterFilter) -> dict[str, str]:
    """The query parameters that select ``flt`` again."""
    params = {"state": flt.state or "all"}
    if flt.queue:
        params["queue"] = flt.queue
    if flt.group is not None:
        params.update(task=flt.group[0], error_name=flt.group[1], error=flt.group[2])
    return params
