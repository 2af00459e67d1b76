from django.apps import apps
from django.core.management.base import BaseCommand


def installed_plugins() -> list:
    """Plugin app configs (plugins.base.PluginConfig), found by their ``plugin_name``
    attribute: the core imports nothing of plugins."""
    return [cfg for cfg in apps.get_app_configs() if getattr(cfg, "plugin_name", None)]


class Command(BaseCommand):
    help = "List installed plugins and what each contributes."

    def handle(self, *args, **options):
        plugins = installed_plugins()
        if not plugins:
            self.stdout.write("No plugins installed.")
        for plugin in plugins:
            self.stdout.write(f"{plugin.plugin_name} {plugin.plugin_version} ({plugin.name})")
            rows = {
                "tasks": ", ".join(sorted(plugin.tasks)),
                "navigation": ", ".join(f"{e.label} -> {e.url_name}" for e in plugin.nav_entries),
                "panels": ", ".join(p.title for p in plugin.panels),
                "pages": f"/plugins/{plugin.plugin_name}/" if plugin.urls else "",
                "api": f"/api/v1/plugins/{plugin.plugin_name}/" if plugin.api_router else "",
                "notifiers": ", ".join(plugin.approval_notifiers),
                "listeners": ", ".join(plugin.lifecycle_listeners),
            }
            for label, value in rows.items():
                self.stdout.write(f"  {label}: {value or '-'}")
