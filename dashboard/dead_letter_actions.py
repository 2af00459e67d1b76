"""Deprecated (one release): the audited dead-letter actions moved to
``absurd_core.actions.dead_letters`` (``apply``, ``apply_bulk``, ``Kind``, ``ActionError``,
``parse_kind``, ``clean_note``, ``BulkResult``, ``BULK_LIMIT``, ``MAX_NOTE_LENGTH``), their
wording to ``dashboard.presenters`` (``dead_letter_verb``, ``dead_letter_toast`` for
``describe``, ``dead_letter_bulk_toast`` for ``BulkResult.describe``). Import them from there.
"""

from absurd_core.actions.dead_letters import (  # noqa: F401
    BULK_LIMIT,
    MAX_NOTE_LENGTH,
    ActionError,
    BulkResult,
    Kind,
    apply,
    apply_bulk,
    clean_note,
    parse_kind,
)
from dashboard.presenters import dead_letter_toast as describe  # noqa: F401
