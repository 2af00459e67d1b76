"""How a failure's message is folded into its dead-letter group: one SQL expression.

``normalised_message(column_or_expression)`` folds what changes from one failure of
the same kind to the next: quoted values become ``'…'`` / ``"…"``, uuids ``<uuid>``,
hex ids (``0x…``, or 8+ hex digits with a digit and a letter) ``<hex>``, and numbers
``<n>``; NULL becomes "". It is idempotent (folded text folds to itself).

The expression is the definition of ``DeadLetter.error_group``, a stored generated
column (PostgreSQL computes it once per row, whoever inserts the row: the lifecycle
trigger, a bulk load), and absurd_core.queries.dead_letters applies the same
expression to a group key it is given. Defined here, below both, so that the model
and the query share one definition.
"""

from __future__ import annotations

from django.db.models import CharField, Expression, F, Func, TextField, Value
from django.db.models.functions import Coalesce

#: (pattern, replacement) in order; PostgreSQL regular expressions (ARE), flag "g".
#: Quoted values first (whatever is inside), then uuids, hex ids, numbers.
FOLDS: tuple[tuple[str, str], ...] = (
    (r"'[^']*'", "'…'"),
    (r'"[^"]*"', '"…"'),
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>"),
    (r"\m0[xX][0-9a-fA-F]+\M", "<hex>"),
    (r"\m(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\M", "<hex>"),
    (r"[0-9]+([.,][0-9]+)*", "<n>"),
)


def normalised_message(message: Expression | str) -> Expression:
    """The SQL expression folding ``message`` (a column name or an expression) into
    its group's message: NULL and "" give ""."""
    expression = Coalesce(
        F(message) if isinstance(message, str) else message,
        Value(""),
        output_field=TextField(),
    )
    for pattern, replacement in FOLDS:
        expression = Func(
            expression,
            Value(pattern, output_field=CharField()),
            Value(replacement, output_field=CharField()),
            Value("g", output_field=CharField()),
            function="regexp_replace",
            output_field=TextField(),
        )
    return expression
