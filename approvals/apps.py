from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """Approval requests and emailed decision links (built by the approvals issue)."""

    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals import checks  # noqa: F401  (registers the system checks)
