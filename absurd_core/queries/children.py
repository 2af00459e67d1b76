"""A task's family, read for the task page: its parent, its children's counts by state,
and its tree of descendants (the first ``TREE_LIMIT`` nodes, breadth first).

All reads are tenant-scoped (``tenant_filter``) and go through the relationship
headers' per-queue indexes (``relationship_condition``; absurd_core/sql/children.sql).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from psycopg import sql

from absurd_core.children import DEPTH, PARENT, ROOT
from absurd_core.engine import TASK_STATES, list_queues
from absurd_core.errors import TaskNotFound
from absurd_core.index_keys import KEY_CHARS
from absurd_core.queries.task_list import relationship_condition
from absurd_core.queries.tasks import find_task
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope, tenant_filter, union_over_queues

#: Nodes of a task page's tree (then a link to the runs list filtered by parent).
TREE_LIMIT = 200


@dataclass(frozen=True)
class Relative:
    task_id: UUID
    queue: str | None
    task_name: str | None  # None: not visible in this scope (or gone)


@dataclass
class TreeNode:
    task_id: UUID
    queue: str
    task_name: str
    state: str
    children: list[TreeNode] = field(default_factory=list)


@dataclass(frozen=True)
class Family:
    parent: Relative | None
    root: Relative | None
    depth: int
    counts: dict[str, int]
    tree: list[TreeNode]
    #: More descendants exist than the tree shows.
    truncated: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _uuid(value) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _relative(scope: TenantScope, task_id: UUID | None) -> Relative | None:
    if task_id is None:
        return None
    try:
        found = find_task(scope, task_id)
    except TaskNotFound:
        return Relative(task_id, None, None)
    return Relative(task_id, found.queue, found.task_name)


def child_counts(scope: TenantScope, task_id: UUID, using: str = "default") -> dict[str, int]:
    """The task's children by state, on every queue (states with none are left out)."""
    queues = list_queues(using=using)
    if not queues:
        return {}
    tenant_where, tenant_values = tenant_filter(scope)

    def part(queue: str) -> tuple[sql.Composable, list]:
        condition, values = relationship_condition(PARENT, task_id)
        return sql.SQL("(select state from absurd.{} where {} and {})").format(
            sql.Identifier(f"t_{queue}"), condition, tenant_where
        ), [*values, *tenant_values]

    union, params = union_over_queues(queues, part)
    query = sql.SQL("select state, count(*) from ({}) c group by state").format(union)
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        counts = dict(cursor.fetchall())
    return {state: counts[state] for state in TASK_STATES if counts.get(state)}


def child_tree(
    scope: TenantScope, task_id: UUID, *, limit: int = TREE_LIMIT, using: str = "default"
) -> tuple[list[TreeNode], bool]:
    """The task's descendants, breadth first, at most ``limit`` nodes: (top nodes, truncated)."""
    queues = list_queues(using=using)
    tenant_where, tenant_values = tenant_filter(scope)
    top: list[TreeNode] = []
    by_id: dict[str, TreeNode] = {}
    frontier = [str(task_id)]
    left = limit
    while frontier and left > 0 and queues:

        def part(queue: str, frontier=frontier, left=left) -> tuple[sql.Composable, list]:
            return sql.SQL(
                "(select %s::text, task_id, task_name, state, headers->>{p} from absurd.{t}"
                " where headers ? {p} and left(headers->>{p}, {n}) = any(%s)"
                " and headers->>{p} = any(%s) and {tenant} order by task_id limit %s)"
            ).format(
                p=sql.Literal(PARENT),
                t=sql.Identifier(f"t_{queue}"),
                n=sql.Literal(KEY_CHARS),
                tenant=tenant_where,
            ), [queue, frontier, frontier, *tenant_values, left + 1]

        union, params = union_over_queues(queues, part)
        query = sql.SQL("select * from ({}) level order by task_id limit %s").format(union)
        with connections[using].cursor() as cursor:
            cursor.execute(query.as_string(cursor.connection), [*params, left + 1])
            rows = cursor.fetchall()
        if len(rows) > left:
            rows = rows[:left]
            left = -1
        else:
            left -= len(rows)
        frontier = []
        for queue, child_id, name, state, parent in rows:
            node = TreeNode(child_id, queue, name, state)
            by_id[str(child_id)] = node
            (by_id[parent].children if parent in by_id else top).append(node)
            frontier.append(str(child_id))
    truncated = left < 0
    if not truncated and frontier and left == 0:
        # Exactly ``limit`` nodes so far: one more level would say whether there are more.
        truncated = bool(frontier) and _has_children(scope, frontier, queues, using)
    return top, truncated


def _has_children(scope, frontier, queues, using) -> bool:
    tenant_where, tenant_values = tenant_filter(scope)

    def part(queue: str) -> tuple[sql.Composable, list]:
        return sql.SQL(
            "(select 1 from absurd.{t} where headers ? {p} and left(headers->>{p}, {n}) = any(%s)"
            " and headers->>{p} = any(%s) and {tenant} limit 1)"
        ).format(
            p=sql.Literal(PARENT),
            t=sql.Identifier(f"t_{queue}"),
            n=sql.Literal(KEY_CHARS),
            tenant=tenant_where,
        ), [frontier, frontier, *tenant_values]

    union, params = union_over_queues(queues, part)
    with connections[using].cursor() as cursor:
        cursor.execute(
            sql.SQL("select exists ({})").format(union).as_string(cursor.connection), params
        )
        return bool(cursor.fetchone()[0])


def task_family(scope: TenantScope, task, *, using: str = "default") -> Family:
    """``task`` (a queries.tasks.TaskDetail) with its parent, root, child counts and tree."""
    headers = task.headers if isinstance(task.headers, dict) else {}
    parent_id = _uuid(headers.get(PARENT))
    root_id = _uuid(headers.get(ROOT)) if parent_id else None
    depth = headers.get(DEPTH) if isinstance(headers.get(DEPTH), int) else 0
    parent = _relative(scope, parent_id)
    root = None if root_id is None or root_id == parent_id else _relative(scope, root_id)
    counts = child_counts(scope, task.task_id, using)
    tree, truncated = (
        child_tree(scope, task.task_id, limit=TREE_LIMIT, using=using) if counts else ([], False)
    )
    return Family(parent, root, depth, counts, tree, truncated)
