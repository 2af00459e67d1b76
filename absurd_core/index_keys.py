"""Index keys for text the engine accepts at any length: task names and tenants.

A btree index entry cannot exceed about 2,700 bytes, but absurd.spawn_task takes
a task name or a ``headers.tenant`` of any length. So our indexes on them (the
per-queue ``ac_name_pfx_`` and ``ac_tenant_pfx_`` of
absurd_core/sql/indexes.sql, and the event log's and dead
letters' tenant indexes) hold only the first ``KEY_CHARS`` characters. A reader
filters on that same prefix expression, which the index answers, and on the
full value, which drops the rare rows that only share the prefix: both
conditions, always, or the index is not used or the answer is wrong.
"""

from __future__ import annotations

from django.db.models import Func, Q, TextField
from django.db.models.lookups import Exact
from psycopg import sql

#: Characters of a task name or tenant in an index entry (at most 1,024 bytes in UTF-8).
#: The same number is in the index definitions; change both or neither.
KEY_CHARS = 256


def text_equals(expression: str, value: str) -> tuple[sql.Composable, list]:
    """``<expression> = value`` as an indexed condition for raw SQL: (SQL, params).

    ``expression`` is trusted SQL text such as ``"task_name"`` or ``"headers->>'tenant'"``.
    """
    condition = sql.SQL("left({e}, {n}) = %s and {e} = %s").format(
        e=sql.SQL(expression), n=sql.Literal(KEY_CHARS)
    )
    return condition, [value[:KEY_CHARS], value]


def text_prefix_equals(expression: str, value: str) -> tuple[sql.Composable, list]:
    """``left(<expression>, KEY_CHARS) = left(value, KEY_CHARS)`` alone: a superset of the
    rows ``text_equals`` keeps, for bounds that a rare extra row cannot make wrong (a search
    window's size), never for what a reader may see.

    PostgreSQL estimates it from the index's statistics, while ``text_equals``' full-value
    condition, on an unindexed expression, gets the default 0.5% selectivity: a tenant
    with half of a million tasks was estimated at 850 rows, and the window's bound sorted
    a sequential scan (210 ms) where a backward primary-key walk takes 10-35 ms.
    """
    condition = sql.SQL("left({e}, {n}) = %s").format(
        e=sql.SQL(expression), n=sql.Literal(KEY_CHARS)
    )
    return condition, [value[:KEY_CHARS]]


class IndexKey(Func):
    """``left(<text>, KEY_CHARS)`` with the length written out, as in the index definitions.

    Django's ``Left`` passes the length as a parameter; under server-side binding a
    prepared statement's generic plan then has ``left(x, $1)``, which no index matches.
    """

    function = "LEFT"
    template = f"%(function)s(%(expressions)s, {KEY_CHARS})"
    output_field = TextField()


def tenant_q(slug: str, field: str = "tenant") -> Q:
    """``<field> = slug`` for the ORM, answered by an index on ``left(field, KEY_CHARS)``."""
    return Q(Exact(IndexKey(field), slug[:KEY_CHARS])) & Q(**{field: slug})
