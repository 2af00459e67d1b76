"""Dead-letter reads for the dashboard: open dead letters grouped by failure, and the list.

- ``groups``: open dead letters grouped by task name, error class (the error's
  name) and *normalised* message, with counts, first/last failure time and the
  newest message as an example. One GROUP BY over the tenant's open dead
  letters, which the ``dead_letter_tenant_state`` index (tenant, state, id desc)
  finds without reading any other tenant's rows.
- ``dead_letters`` and ``get_dead_letter``: the tenant's dead letters, and one of them
  (another tenant's is DoesNotExist, as a missing one).
- ``dead_letter_page``: the list, newest first, paged by keyset on the id
  (``id < before``); never an OFFSET.
- ``open_ids``: the open dead letters a bulk action applies to (a filter, up to
  an id frozen when the operator confirmed the count).

A group's error name or message may be NULL or empty; both are the same group,
spelled "" in a ``DeadLetterFilter``.

Normalising a message (``normalised_message``, an SQL expression defined once in
absurd_core/error_groups.py and stored per row as the generated column
``error_group``, so grouping reads no regular expression; the dashboard and the API
both group through ``groups`` here) folds what changes from one failure of
the same kind to the next: quoted values become ``'…'`` / ``"…"``, uuids
``<uuid>``, hex ids (``0x…``, or 8+ hex digits with a digit and a letter)
``<hex>``, and numbers ``<n>``. "attempt 2 of 2" and "attempt 5 of 5" are one
group, "attempt <n> of <n>"; a different error class is never folded in. The
folding is idempotent, so a group's key (task, error name, normalised message)
selects the same rows whether it is given normalised or as one member's exact
message, and the bulk actions on a group act on exactly the rows counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Max, Min, Q, QuerySet, TextField, Value
from django.db.models.functions import Coalesce

from absurd_core.error_groups import FOLDS, normalised_message
from absurd_core.models import DeadLetter
from absurd_core.queries.paging import keyset_page
from absurd_core.tenancy import TenantScope

PAGE_SIZE = 50
MAX_GROUPS = 100
STATES = tuple(DeadLetter.State.values)
__all__ = ["FOLDS", "normalised_message"]  # re-exported: the one normalisation


@dataclass(frozen=True)
class DeadLetterGroup:
    task_name: str
    #: "" when the failure had no name (NULL or empty). The error class.
    error_name: str
    #: The normalised message (``normalised_message``); "" when there was none.
    error_message: str
    count: int
    first_failed_at: datetime
    last_failed_at: datetime
    #: One member's message as it was (the greatest): what the folds stand for.
    example_message: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """What ``DeadLetterFilter.group`` takes to select exactly this group."""
        return (self.task_name, self.error_name, self.error_message)


@dataclass(frozen=True)
class DeadLetterFilter:
    #: None: every state.
    state: str | None = DeadLetter.State.OPEN
    queue: str | None = None
    #: A group (task name, error name, error message normalised or not), or None for
    #: every group.
    group: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class DeadLetterPage:
    items: list[DeadLetter]
    #: Pass back as ``before`` for the next (older) page; None on the last page.
    next_before: int | None


def dead_letters(scope: TenantScope, *, state: str | None = None) -> QuerySet[DeadLetter]:
    queryset = scope.restrict(DeadLetter.objects.all())
    if state is not None:
        queryset = queryset.filter(state=state)
    return queryset


def get_dead_letter(scope: TenantScope, dead_letter_id: int) -> DeadLetter:
    """Raises DeadLetter.DoesNotExist, also for another tenant's dead letter."""
    return dead_letters(scope).get(pk=dead_letter_id)


def _empty_or_null(field: str, value: str) -> Q:
    if value:
        return Q(**{field: value})
    return Q(**{f"{field}__isnull": True}) | Q(**{field: ""})


def filtered(scope: TenantScope, flt: DeadLetterFilter) -> QuerySet[DeadLetter]:
    """The dead letters of ``scope`` that ``flt`` selects."""
    queryset = dead_letters(scope, state=flt.state)
    if flt.queue:
        queryset = queryset.filter(queue=flt.queue)
    if flt.group is not None:
        task_name, error_name, error_message = flt.group
        queryset = queryset.filter(
            Q(task_name=task_name)
            & _empty_or_null("error_name", error_name)
            & Q(error_group=normalised_message(Value(error_message, output_field=TextField())))
        )
    return queryset


def groups(
    scope: TenantScope, *, queue: str | None = None, limit: int = MAX_GROUPS
) -> list[DeadLetterGroup]:
    """Open dead letters by (task name, error name, normalised message), largest group
    first."""
    queryset = filtered(scope, DeadLetterFilter(queue=queue))
    rows = (
        queryset.annotate(
            en=Coalesce("error_name", Value(""), output_field=TextField()),
            em=F("error_group"),
        )
        .values("task_name", "en", "em")
        .annotate(
            n=Count("id"),
            first=Min("failed_at"),
            last=Max("failed_at"),
            example=Max(Coalesce("error_message", Value(""), output_field=TextField())),
        )
        .order_by("-n", "-last", "task_name", "en", "em")[:limit]
    )
    return [
        DeadLetterGroup(
            r["task_name"], r["en"], r["em"], r["n"], r["first"], r["last"], r["example"]
        )
        for r in rows
    ]


def dead_letter_page(
    scope: TenantScope,
    flt: DeadLetterFilter,
    *,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> DeadLetterPage:
    rows, next_before = keyset_page(
        filtered(scope, flt).order_by("-id"), before=before, limit=limit
    )
    return DeadLetterPage(rows, next_before)


def open_ids(
    scope: TenantScope, flt: DeadLetterFilter, *, up_to: int | None = None, limit: int
) -> list[int]:
    """Ids of the open dead letters ``flt`` selects (``id <= up_to``), oldest first."""
    queryset = filtered(scope, DeadLetterFilter(state="open", queue=flt.queue, group=flt.group))
    if up_to is not None:
        queryset = queryset.filter(pk__lte=up_to)
    return list(queryset.order_by("id").values_list("id", flat=True)[:limit])


def open_summary(
    scope: TenantScope, flt: DeadLetterFilter, *, up_to: int | None = None
) -> tuple[int, int | None]:
    """(how many open dead letters ``flt`` selects, the highest id among them)."""
    queryset = filtered(scope, DeadLetterFilter(state="open", queue=flt.queue, group=flt.group))
    if up_to is not None:
        queryset = queryset.filter(pk__lte=up_to)
    result = queryset.aggregate(n=Count("id"), top=Max("id"))
    return result["n"], result["top"]


def open_dead_letter_counts(scope: TenantScope) -> list[tuple[str, str, int]]:
    """(queue, tenant, count) of the open dead letters of ``scope`` (tenant ``""`` for a
    task without one). Published to plugins (the metrics plugin). Cost: the partial index
    ``metrics_dead_letter_open`` (absurd_core/migrations/0014_metrics_indexes.py), which
    holds open dead letters only."""
    rows = (
        dead_letters(scope, state=DeadLetter.State.OPEN)
        .annotate(t=Coalesce("tenant", Value(""), output_field=TextField()))
        .values_list("queue", "t")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [(queue, tenant, n) for queue, tenant, n in rows]
