from importlib import import_module

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import module_has_submodule


def discover_tasks() -> None:
    """Import every installed app's (and plugin's) ``tasks`` module; decorating registers.

    A module that fails to import stops start-up with the app named, rather than
    leaving a worker that silently defers that app's tasks forever.
    """
    from absurd_core.registry import registry

    for app_config in apps.get_app_configs():
        if not module_has_submodule(app_config.module, "tasks"):
            continue
        try:
            import_module(f"{app_config.name}.tasks")
        except Exception as exc:
            raise ImproperlyConfigured(
                f"App {app_config.name!r}: importing its tasks module failed: {exc!r}"
            ) from exc
    # Plugins (app configs with a plugin_name, plugins.base.PluginConfig) declare their
    # tasks by name: read by attribute, so the core imports nothing of plugins.
    for app_config in apps.get_app_configs():
        plugin_name = getattr(app_config, "plugin_name", None)
        if not plugin_name:
            continue
        missing = [name for name in getattr(app_config, "tasks", ()) if name not in registry]
        if missing:
            raise ImproperlyConfigured(
                f"Plugin {plugin_name!r} declares tasks it does not register: {', '.join(missing)}."
            )


class AbsurdCoreConfig(AppConfig):
    name = "absurd_core"
    verbose_name = "Absurd engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from absurd_core import checks  # noqa: F401  (registers system checks)
        from absurd_core.schedule_sync import sync_after_migrate

        discover_tasks()
        # Schedules declared in code (docs/schedules.md): synced after migrate.
        post_migrate.connect(sync_after_migrate, dispatch_uid="absurd_core.schedules")
