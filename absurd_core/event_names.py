"""Who may name which event: the rules, as pure functions (no database, no Django).

Absurd's event names belong to a queue, which tenants share, and the first emit of
a name wins for good: whoever names an event first decides what every waiter of
that name receives, now or later. So names are owned:

- ``tenant:<slug>:<name>`` is tenant ``<slug>``'s namespace. A task with a tenant
  awaits and emits only there (the task context adds the prefix, whatever SDK call
  the author uses); the API emits there for the tenant's keys. Slugs cannot contain
  ``:``, so one tenant's prefix never reaches into another's.
- System names (``approval:...``, ``children:...``) are emitted only by the platform's
  own code (a recorded approval decision; the children trigger, when the children a
  parent waits for have ended) and awaited only through the context's system path.
  New ones carry a random part and the waiting task's id, so nobody can guess them.
- Every other name is raw: only tasks without a tenant and platform principals
  (the API's explicit raw emit) use them.
"""

from __future__ import annotations

#: Names only the platform's own code emits; no tenant, task or operator may name them.
SYSTEM_EVENT_PREFIXES = ("approval:", "children:")


def tenant_prefix(tenant: str) -> str:
    return f"tenant:{tenant}:"


def tenant_event_name(tenant: str, name: str) -> str:
    """The engine's name for ``tenant``'s event ``name``.

    A name already in the tenant's namespace is kept as it is, so code that
    prefixed it itself (``ctx.tenant_event_name``) is not prefixed twice.
    """
    prefix = tenant_prefix(tenant)
    return name if name.startswith(prefix) else prefix + name


def in_tenant_namespace(tenant: str, event_name: str) -> bool:
    return event_name.startswith(tenant_prefix(tenant))


def is_system_event(event_name: str) -> bool:
    return event_name.startswith(SYSTEM_EVENT_PREFIXES)


def task_event_name(tenant: str | None, name: str) -> str:
    """What a task of ``tenant`` means by ``name``: its tenant's event, or (no tenant) ``name``.

    Raises ValueError for a system name awaited or emitted by a task without a
    tenant: those are reached only through the context's system path.
    """
    if tenant:
        return tenant_event_name(tenant, name)
    if is_system_event(name):
        raise ValueError(
            f"{name!r} is a system event name: only the platform's own code awaits or emits it."
        )
    return name


def system_event_bound_to(event_name: str, task_id: object) -> bool:
    """True when system event ``event_name`` may be awaited by task ``task_id``.

    New system names end with the waiting task's id (``approval:<random>:<task id>``,
    ``children:<random>:<task id>``).
    The old ``approval:<request id>`` form is accepted so that requests already
    waiting when the platform was upgraded still resume; it is only ever awaited
    under the name recorded on the task's own request (approvals.workflow).
    """
    if not is_system_event(event_name):
        return False
    prefix = next(p for p in SYSTEM_EVENT_PREFIXES if event_name.startswith(p))
    rest = event_name.removeprefix(prefix)
    return (prefix == "approval:" and rest.isdigit()) or rest.endswith(f":{task_id}")
