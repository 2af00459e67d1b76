"""Keyset pagination, the one way every list pages: newest first, never by OFFSET.

A page is read with ``limit + 1`` rows; the extra row only says that an older page
exists, and the page's last key is the cursor for it (the next page is ``key < cursor``),
so a deep page costs what the first does.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import QuerySet

T = TypeVar("T")


def split_page(rows: list[T], limit: int) -> tuple[list[T], bool]:
    """``rows`` (read with ``limit + 1``): the page, and whether an older page exists."""
    return rows[:limit], len(rows) > limit


def keyset_page(
    queryset: QuerySet, *, before: Any = None, limit: int, key: str = "pk"
) -> tuple[list, Any]:
    """A page of ``queryset`` (ordered by ``key`` descending) older than ``before``, and
    the cursor of the next (older) page: its last row's ``key``, or None on the last page."""
    if before is not None:
        queryset = queryset.filter(**{f"{key}__lt": before})
    items, more = split_page(list(queryset[: limit + 1]), limit)
    return items, getattr(items[-1], key) if more and items else None
