from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """Approval requests and emailed decision links (built by the approvals issue)."""

    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"
