"""How the task page shows JSON values and failures: indented, escaped by the template, cut short.

Params, headers, results and failures come whole from ``find_task``; they are
pretty-printed here and cut to ``LIMIT`` characters, so a huge value never makes
a huge page. (Checkpoint values are cut in SQL: absurd_core.task_details.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LIMIT = 10 * 1024


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
