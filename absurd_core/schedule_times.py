"""When a schedule fires: cron expressions (croniter) and fixed intervals, in a time zone.

A *slot* is one moment a schedule is due. Cron slots are computed by croniter in the
schedule's IANA time zone, so "0 3 * * *" in Europe/Paris is 03:00 Paris time, whatever
the offset that day. Across DST transitions croniter's rules apply (docs/schedules.md):
a wall-clock time that does not exist that day (02:30 on the spring-forward Sunday) fires
once, at the first moment after the gap (03:00); a time that exists twice (02:30 on the
fall-back Sunday) fires at both occurrences: two slots, one hour apart, each fired once.
Interval slots are ``k * every_seconds`` after the Unix epoch (UTC), untouched by DST:
``every_seconds=60`` fires on each UTC minute, 3600 on each UTC hour.

Everything here is pure Python over aware datetimes; the ticker
(absurd_core/worker/schedules.py) passes the database clock in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterError, croniter

from absurd_core.errors import InvalidArgument

#: The nicknames we take besides the five fields.
NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def _field(number: str) -> str:
    item = rf"(\*|({number})(-({number}))?)(/[1-9][0-9]?)?"
    return rf"{item}(,{item})*"


#: What ``normalise_cron`` takes, as one regular expression (the API publishes it as the
#: field's pattern): five fields of numbers in range, ``*``, ranges, lists and steps, or a
#: nickname. croniter is the last word (an impossible date such as Feb 30 is refused).
CRON_PATTERN = (
    r"^\s*(@(hourly|daily|midnight|weekly|monthly|yearly|annually)|"
    + r"\s+".join(
        _field(n)
        for n in (
            r"0?[0-9]|[1-5][0-9]",
            r"0?[0-9]|1[0-9]|2[0-3]",
            r"0?[1-9]|[12][0-9]|3[01]",
            r"0?[1-9]|1[0-2]",
            r"0?[0-7]",
        )
    )
    + r")\s*$"
)

#: Shortest and longest interval a schedule may have.
MIN_EVERY_SECONDS = 1
MAX_EVERY_SECONDS = 366 * 86400


class InvalidCron(InvalidArgument):
    field = "cron"


class InvalidTimezone(InvalidArgument):
    field = "timezone"


class InvalidInterval(InvalidArgument):
    field = "every_seconds"


def normalise_cron(expression: str) -> str:
    """The five-field form of ``expression``; InvalidCron if croniter cannot read it or it
    is not five fields (no seconds or years field: the granularity is a minute)."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidCron("cron must be a non-empty cron expression.")
    text = " ".join(expression.split())
    text = NICKNAMES.get(text.lower(), text)
    if text.startswith("@"):
        raise InvalidCron(f"Unknown cron nickname {expression!r}; use one of {sorted(NICKNAMES)}.")
    if len(text.split(" ")) != 5:
        raise InvalidCron(f"{expression!r} is not a five-field cron expression.")
    if not croniter.is_valid(text):
        raise InvalidCron(f"{expression!r} is not a valid cron expression.")
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterError, ValueError, OverflowError):
        raise InvalidCron(f"{expression!r} never fires (no such date).") from None
    return text


def zone_names() -> list[str]:
    """Every IANA zone name we take, sorted (the API publishes them as an enum)."""
    return sorted(_zones())


def zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name or name not in _zones():
        raise InvalidTimezone(f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Paris).")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezone(f"{name!r} is not an IANA time zone.") from None


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def check_interval(every_seconds) -> int:
    if isinstance(every_seconds, bool) or not isinstance(every_seconds, int):
        raise InvalidInterval("every_seconds must be an integer.")
    if not MIN_EVERY_SECONDS <= every_seconds <= MAX_EVERY_SECONDS:
        raise InvalidInterval(
            f"every_seconds must be between {MIN_EVERY_SECONDS} and {MAX_EVERY_SECONDS}."
        )
    return every_seconds


@dataclass(frozen=True)
class Recurrence:
    """A cron expression in a zone, or an interval from an anchor."""

    cron: str | None
    every_seconds: int | None
    timezone: str = "UTC"
    anchor: datetime | None = None

    def __post_init__(self):
        if (self.cron is None) == (self.every_seconds is None):
            raise InvalidArgument("A schedule needs exactly one of cron and every_seconds.")
        zone(self.timezone)
        if self.cron is not None:
            object.__setattr__(self, "cron", normalise_cron(self.cron))
        else:
            check_interval(self.every_seconds)

    def _anchor(self) -> datetime:
        return self.anchor or datetime(1970, 1, 1, tzinfo=UTC)

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment``."""
        if self.every_seconds is not None:
            anchor = self._anchor()
            steps = (moment - anchor) // timedelta(seconds=self.every_seconds) + 1
            return anchor + timedelta(seconds=self.every_seconds * max(steps, 0))
        local = moment.astimezone(zone(self.timezone))
        return croniter(self.cron, local).get_next(datetime).astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last slot at or before ``moment``."""
        if self.every_seconds is not None:
            anchor = self._anchor()
            steps = (moment - anchor) // timedelta(seconds=self.every_seconds)
            return anchor + timedelta(seconds=self.every_seconds * steps)
        local = (moment + timedelta(microseconds=1)).astimezone(zone(self.timezone))
        return croniter(self.cron, local).get_prev(datetime).astimezone(UTC)

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        slots, moment = [], after
        for _ in range(count):
            moment = self.next_after(moment)
            slots.append(moment)
        return slots

    def due(self, first: datetime, now: datetime, limit: int) -> tuple[list[datetime], bool]:
        """Slots from ``first`` (the schedule's next slot) up to ``now``, oldest first:
        at most the ``limit`` latest, and whether older ones were left out."""
        slots: list[datetime] = []
        moment = self.latest_at_or_before(now)
        while moment >= first and len(slots) < limit:
            slots.append(moment)
            moment = self.latest_at_or_before(moment - timedelta(microseconds=1))
        return slots[::-1], moment >= first

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Slots in ``[start, end]``, oldest first (backfills)."""
        moment = self.next_after(start - timedelta(microseconds=1))
        while moment <= end:
            yield moment
            moment = self.next_after(moment)


def slot_key(slot: datetime) -> str:
    """A slot as it appears in idempotency keys and headers: UTC, RFC 3339, seconds."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
