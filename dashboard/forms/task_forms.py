"""The task page's forms: emit the event a task waits for, retry a failed task."""

from __future__ import annotations

import json

from django import forms

#: Largest payload accepted from the emit form, in characters.
MAX_PAYLOAD_CHARS = 64 * 1024


class EmitEventForm(forms.Form):
    event = forms.CharField(widget=forms.HiddenInput)
    payload = forms.CharField(
        label="Payload (JSON)",
        required=False,
        max_length=MAX_PAYLOAD_CHARS,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false",
                                     "class": "font-monospace-sm"}),
        help_text="Any JSON value; empty means null. The waiting step returns it.",
    )  # fmt: skip

    def clean_payload(self):
        text = self.cleaned_data["payload"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc}.") from None


class RetryForm(forms.Form):
    spawn_new = forms.BooleanField(
        label="As a new task", required=False,
        help_text="Spawn a new task with the same params; this one stays failed.",
    )  # fmt: skip
