"""The runs filter's chips: one per value, each linking to the list without it."""

from urllib.parse import parse_qsl

from dashboard.run_filter_chips import run_filter_chips


def _chips(pairs, **kw):
    return [(c.label, parse_qsl(c.remove_query)) for c in run_filter_chips(pairs, **kw)]


def test_each_value_is_a_chip_that_removes_only_itself():
    pairs = [("queue", "demo"), ("state", "failed"), ("state", "sleeping"), ("q", "customer:42")]
    assert _chips(pairs) == [
        ("Queue: demo", [("state", "failed"), ("state", "sleeping"), ("q", "customer:42")]),
        ("State: failed", [("queue", "demo"), ("state", "sleeping"), ("q", "customer:42")]),
        ("State: sleeping", [("queue", "demo"), ("state", "failed"), ("q", "customer:42")]),
        ("Search: customer:42", [("queue", "demo"), ("state", "failed"), ("state", "sleeping")]),
    ]


def test_a_custom_range_is_one_chip_with_its_dates_and_paused_is_kept():
    pairs = [
        ("task", "invoice.send"),
        ("range", "custom"),
        ("from", "2026-01-02T10:00"),
        ("to", "2026-01-03T10:00"),
    ]
    chips = _chips(pairs, paused=True)
    assert chips == [
        ("Task: invoice.send", [("range", "custom"), ("from", "2026-01-02T10:00"),
                                ("to", "2026-01-03T10:00"), ("paused", "1")]),
        ("Spawned: from 2026-01-02 10:00 to 2026-01-03 10:00",
         [("task", "invoice.send"), ("paused", "1")]),
    ]  # fmt: skip


def test_dates_without_a_range_are_a_custom_range_chip():
    assert _chips([("from", "2026-01-02T10:00")]) == [("Spawned: from 2026-01-02 10:00", [])]
    assert _chips([("range", "1h")]) == [("Spawned: last hour", [])]
    assert _chips([]) == []
