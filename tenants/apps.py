from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Tenant policy plugs into the core's spawn and claim statements (absurd_core/hooks.py).
        from absurd_core import hooks
        from tenants.limits import CLAIM_ADMISSION, SPAWN_GATE

        hooks.register_spawn_gate(SPAWN_GATE)
        hooks.register_claim_admission(CLAIM_ADMISSION)
