"""Template filters for worker liveness: ``hold_for`` looks up a row's dead-hold note."""

from django import template

register = template.Library()


@register.filter
def hold_for(notes: dict | None, task_id) -> str | None:
    """``notes`` (task id → note, from dashboard.pages.runs) for ``task_id``, or None."""
    if not notes:
        return None
    return notes.get(task_id)
