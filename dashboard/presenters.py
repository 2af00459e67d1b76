"""How the task page shows JSON values, failures and attempt counts.

Params, headers, results and failures come whole from ``find_task``; they are
pretty-printed here and cut to ``LIMIT`` characters, so a huge value never makes
a huge page. (Checkpoint values are cut in SQL: absurd_core.task_details.)
A runaway attempt count gets a warning in words (``attempts_warning``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LIMIT = 10 * 1024
#: A task with no attempt limit is flagged from this many attempts on.
UNLIMITED_ATTEMPTS_WARNING = 10


@dataclass(frozen=True)
class JsonBlock:
    text: str
    #: Size of the whole pretty-printed value in bytes.
    size: int
    truncated: bool


def json_block(value: Any, limit: int = LIMIT) -> JsonBlock:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    size = len(text.encode())
    if len(text) > limit:
        return JsonBlock(text[:limit], size, True)
    return JsonBlock(text, size, False)


@dataclass(frozen=True)
class FailureView:
    name: str | None
    message: str | None
    traceback: str | None
    #: Any other keys (workerId, claimExpiredAt, ...), as JSON.
    extra: JsonBlock | None
    #: A failure that is not a JSON object, shown as JSON.
    raw: JsonBlock | None


def failure_view(failure: Any, limit: int = LIMIT) -> FailureView | None:
    """Split the failure_reason our worker and absurd-sdk store ({name, message, traceback})."""
    if failure is None:
        return None
    if not isinstance(failure, dict):
        return FailureView(None, None, None, None, json_block(failure, limit))

    def text(key: str) -> str | None:
        value = failure.get(key)
        if value is None:
            return None
        value = value if isinstance(value, str) else json.dumps(value, default=str)
        return value if len(value) <= limit else value[:limit] + "\n… (cut)"

    rest = {k: v for k, v in failure.items() if k not in ("name", "message", "traceback")}
    return FailureView(
        name=text("name"),
        message=text("message"),
        traceback=text("traceback"),
        extra=json_block(rest, limit) if rest else None,
        raw=None,
    )


def attempts_warning(attempts: int, max_attempts: int | None) -> str | None:
    """Words for an attempt count that has run away, or None.

    Absurd stops retrying at max_attempts, so more attempts than that mean the limit
    was set afterwards (runworker does so for tasks spawned without one); no limit
    at all means the engine retries for ever.
    """
    if max_attempts is None and attempts >= UNLIMITED_ATTEMPTS_WARNING:
        return (
            f"{attempts} attempts and no attempt limit: this task was spawned without "
            "max_attempts (absurdctl spawn-task without --max-attempts, another client), "
            "and the engine retries it for ever. runworker ends it at the registered "
            "task's limit; a worker that does not know the task never does. Cancel it if "
            "it keeps failing."
        )
    if max_attempts is not None and attempts > max_attempts:
        return (
            f"{attempts} attempts, more than its limit of {max_attempts}: it ran without a "
            "limit before one was set (runworker sets the registered task's limit on tasks "
            "spawned without one)."
        )
    return None
