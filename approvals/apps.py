from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """Approval requests and emailed decision links (built by the approvals issue)."""

    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from absurd_core import hooks
        from approvals import checks  # noqa: F401  (registers the system checks)

        hooks.register_total("approvals_pending", _pending_approvals)


def _pending_approvals(scope) -> int:
    """Pending approval requests ``scope`` may see (the dashboard overview's total)."""
    from approvals.models import ApprovalRequest

    return scope.restrict(ApprovalRequest.objects.filter(state="pending")).count()
