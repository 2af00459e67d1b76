"""The events page's filter form: name (prefix or exact), queue, time range, keyset page."""

from __future__ import annotations

from django import forms

from absurd_core.emitting import MAX_NAME_LENGTH
from absurd_core.engine import list_queues
from absurd_core.queries.events import EventFilter


class EventFilterForm(forms.Form):
    name = forms.CharField(required=False, max_length=MAX_NAME_LENGTH, strip=True)
    match = forms.ChoiceField(
        required=False, choices=[("prefix", "starts with"), ("exact", "is exactly")]
    )
    queue = forms.CharField(required=False, max_length=200)
    after = forms.DateTimeField(required=False, label="Emitted from")
    before_time = forms.DateTimeField(required=False, label="Emitted before")
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def clean_queue(self):
        queue = self.cleaned_data["queue"] or None
        if queue is not None and queue not in list_queues():
            raise forms.ValidationError(f"No queue named {queue!r}.")
        return queue

    def clean(self):
        data = super().clean()
        after, before_time = data.get("after"), data.get("before_time")
        if after and before_time and after >= before_time:
            raise forms.ValidationError("The time range ends before it starts.")
        return data

    def event_filter(self) -> EventFilter:
        data = self.cleaned_data
        return EventFilter(
            name=data["name"],
            exact=data["match"] == "exact",
            queue=data["queue"],
            emitted_after=data["after"],
            emitted_before=data["before_time"],
        )
