"""Text the reads hand to every surface, made one way: indented JSON."""

from __future__ import annotations

import json


def pretty_json(text: str) -> str:
    """``text`` indented when it is JSON; unchanged otherwise (a cut or invalid value)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
