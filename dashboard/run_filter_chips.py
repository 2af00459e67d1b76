"""The runs page's active filters as removable chips (issue 19 item 3).

Each chip is one filter value from the URL (a queue, each state, the task name, the
spawned range, the tenant, the search) with the link that removes it: the same query
without that value, back on the newest page. A custom range's ``from`` and ``to`` are one
chip with the range. Wording: dashboard.presenters.run_filter_chip_label.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from dashboard.presenters import run_filter_chip_label

#: Removing the range removes its dates too.
RANGE_PARTS = {"range", "from", "to"}


@dataclass(frozen=True)
class Chip:
    label: str
    #: The query string without this filter (no cursor: the newest page).
    remove_query: str


def run_filter_chips(pairs: list[tuple[str, str]], *, paused: bool = False) -> list[Chip]:
    """Chips for ``RunFilterForm.filter_params()`` (the filter as given, in URL order)."""
    keep = [("paused", "1")] if paused else []
    chips: list[Chip] = []
    dates = {name: value for name, value in pairs if name in ("from", "to")}
    has_range = False
    for index, (name, value) in enumerate(pairs):
        if name in ("from", "to"):
            continue
        if name == "range":
            has_range = True
            rest = [p for p in pairs if p[0] not in RANGE_PARTS]
            label = run_filter_chip_label("range", value, dates=dates)
        else:
            rest = pairs[:index] + pairs[index + 1 :]
            label = run_filter_chip_label(name, value)
        chips.append(Chip(label, urlencode(rest + keep)))
    if dates and not has_range:  # dates without a range: a custom range
        rest = [p for p in pairs if p[0] not in RANGE_PARTS]
        chips.append(
            Chip(run_filter_chip_label("range", "custom", dates=dates), urlencode(rest + keep))
        )
    return chips
