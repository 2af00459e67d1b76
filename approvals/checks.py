"""System checks: approvers can hear about requests."""

from __future__ import annotations

from django.core.checks import Warning, register


@register("approvals")
def check_notifiers(app_configs=None, **kwargs):
    from approvals.notifiers import notifiers

    if notifiers():
        return []
    return [
        Warning(
            "No approval notifier is installed: approvers will not be told about requests.",
            hint="Add plugins.email_notify (or another notifier plugin) to PLUGINS.",
            id="approvals.W001",
        )
    ]
