"""The runs page's filter form: what the URL's query string means, validated.

Parameters (all optional, all in the URL so a filtered list is bookmarkable):
``queue``, ``state`` (repeatable), ``task`` (task name), ``range`` (15m, 1h, 24h,
7d or custom, with ``from`` and ``to``), ``tenant`` (platform staff viewing all
tenants only), ``q`` (search, absurd_core.queries.task_list's grammar), ``cursor`` (the
keyset page) and ``paused`` (live updates off).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from crispy_forms.bootstrap import InlineCheckboxes
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Field, Layout, Row
from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone

from absurd_core.engine import TASK_STATES
from absurd_core.queries.task_list import CURSOR_PATTERN, TaskFilter
from absurd_core.tenancy import TenantScope
from tenants.models import Tenant
from tenants.permissions import Principal

RANGES = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
RANGE_CHOICES = [
    ("", "Any time"),
    ("15m", "Last 15 minutes"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("custom", "Custom range"),
]
#: The parameters that select tasks (not the page, not the live toggle), in URL order.
FILTER_PARAMS = ("queue", "state", "task", "range", "from", "to", "tenant", "q")
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"

SEARCH_HELP = (
    "A task or run id, an idempotency key, or params.FIELD:VALUE / headers.FIELD:VALUE; "
    "all terms must match. Press / to focus."
)


def _datetime_field(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )


class RunFilterForm(forms.Form):
    queue = forms.CharField(label="Queue", required=False, max_length=200, widget=forms.Select)
    state = forms.MultipleChoiceField(
        label="State",
        required=False,
        choices=[(s, s) for s in TASK_STATES],
        widget=forms.CheckboxSelectMultiple,
    )
    # Any name the engine takes must be findable; 4000 is what fits gunicorn's request line.
    task = forms.CharField(label="Task name", required=False, max_length=4000)
    range = forms.ChoiceField(label="Spawned", required=False, choices=RANGE_CHOICES)
    tenant = forms.CharField(label="Tenant", required=False, max_length=63, widget=forms.Select)
    q = forms.CharField(label="Search", required=False, max_length=500, help_text=SEARCH_HELP)
    cursor = forms.CharField(
        required=False,
        widget=forms.HiddenInput,
        validators=[
            RegexValidator(CURSOR_PATTERN, "That page link is not valid; start from the newest.")
        ],
    )
    paused = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, data, *, principal: Principal, queues: list[str], now=None, focus=False):
        super().__init__(data)
        self.principal = principal
        self.queues = queues
        self.now = now or timezone.now()
        # "from" is a Python keyword, so these two are added by name.
        self.fields["from"] = _datetime_field("From")
        self.fields["to"] = _datetime_field("To")
        self.fields["queue"].widget.choices = [("", "All queues")] + [(q, q) for q in queues]
        self.fields["q"].widget.attrs.update(
            {
                "data-search": "",
                "placeholder": "id, key or params.x:v",
                "autocomplete": "off",
                "type": "search",
            }
        )
        if focus:
            self.fields["q"].widget.attrs["autofocus"] = ""
        if self.tenant_filter:
            tenants = Tenant.objects.order_by("slug").values_list("slug", "name")
            self.fields["tenant"].widget.choices = [("", "All tenants"), *tenants]
        else:
            del self.fields["tenant"]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        narrow = "col-6 col-md-3 col-xl-2"
        self.helper.layout = Layout(
            Row(
                Column("queue", css_class=narrow),
                Column("task", css_class=narrow),
                Column(Field("range"), css_class="col-12 col-md-3 col-xl-2"),
                Column("from", css_class="col-6 col-md-3 col-xl-2 runs-custom-range"),
                Column("to", css_class="col-6 col-md-3 col-xl-2 runs-custom-range"),
                *([Column("tenant", css_class=narrow)] if self.tenant_filter else []),
                # One compact row from 1200 px (issue 19: the filters took half the screen).
                Column(InlineCheckboxes("state"), css_class="col-12 col-lg-5 col-xl-3"),
                Column("q", css_class="col-12 col-lg-7 col-xl-3"),
            ),
        )  # fmt: skip

    @property
    def tenant_filter(self) -> bool:
        """Only platform staff viewing all tenants may narrow the list to one tenant."""
        return self.principal.scope.is_all

    def clean_queue(self) -> str:
        queue = self.cleaned_data["queue"]
        if queue and queue not in self.queues:
            raise forms.ValidationError(f"No queue named {queue!r}.")
        return queue

    def clean_tenant(self) -> str:
        slug = self.cleaned_data["tenant"]
        if slug and not Tenant.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"No tenant named {slug!r}.")
        return slug

    def clean(self):
        data = super().clean()
        since, until = data.get("from"), data.get("to")
        if not data.get("range") and (since or until):
            data["range"] = "custom"  # dates without a range (no JavaScript): a custom range
        if data.get("range") == "custom":
            if not since and not until:
                self.add_error("from", "Give a start, an end or both for a custom range.")
            elif since and until and since >= until:
                self.add_error("to", "The end must be after the start.")
        return data

    # -- what the valid form means -------------------------------------------------------

    def scope(self) -> TenantScope:
        tenant = self.cleaned_data.get("tenant") if self.tenant_filter else None
        return TenantScope(tenant) if tenant else self.principal.scope

    def spawned_between(self) -> tuple[datetime | None, datetime | None]:
        chosen = self.cleaned_data.get("range")
        if chosen in RANGES:
            return self.now - RANGES[chosen], None
        if chosen == "custom":
            return self.cleaned_data.get("from"), self.cleaned_data.get("to")
        return None, None

    def task_filter(self) -> TaskFilter:
        data = self.cleaned_data
        after, before = self.spawned_between()
        return TaskFilter(
            queues=(data["queue"],) if data.get("queue") else (),
            states=tuple(data.get("state") or ()),
            task_name=data.get("task") or None,
            spawned_after=after,
            spawned_before=before,
            search=(data.get("q") or "").strip(),
        )

    # -- the query string, for links that keep the filters ------------------------------

    def filter_params(self) -> list[tuple[str, str]]:
        """The filter's parameters as given (valid or not), for hidden inputs and links."""
        pairs = []
        for name in FILTER_PARAMS:
            if name == "tenant" and not self.tenant_filter:
                continue
            if name in ("from", "to") and self.data.get("range") in RANGES:
                continue
            for value in self.data.getlist(name):
                if value:
                    pairs.append((name, value))
        return pairs

    def query(self, **extra) -> str:
        """The filter's query string, plus ``extra`` (None values are left out)."""
        pairs = self.filter_params() + [(k, v) for k, v in extra.items() if v not in (None, "")]
        return urlencode(pairs)

    def describe(self) -> str:
        """The filter in words, e.g. ``queue=demo state=sleeping``."""
        data = self.cleaned_data
        parts = []
        if data.get("queue"):
            parts.append(f"queue={data['queue']}")
        if data.get("state"):
            parts.append(f"state={','.join(data['state'])}")
        if data.get("task"):
            parts.append(f"task={data['task']}")
        after, before = self.spawned_between()
        if data.get("range") in RANGES:
            parts.append(f"spawned=last {data['range']}")
        else:
            if after:
                parts.append(f"from={after:%Y-%m-%d %H:%M}")
            if before:
                parts.append(f"to={before:%Y-%m-%d %H:%M}")
        if self.tenant_filter and data.get("tenant"):
            parts.append(f"tenant={data['tenant']}")
        if data.get("q"):
            parts.append(f"search={data['q']}")
        return " ".join(parts) or "(no filter: every task)"
