from django.core.management.base import BaseCommand

from plugins.base import installed_plugins


class Command(BaseCommand):
    help = "List installed plugins and what each contributes."

    def handle(self, *args, **options):
        plugins = installed_plugins()
        if not plugins:
            self.stdout.write("No plugins installed.")
        for plugin in plugins:
            self.stdout.write(f"{plugin.plugin_name} {plugin.plugin_version} ({plugin.name})")
            self.stdout.write(f"  tasks: {', '.join(sorted(plugin.tasks)) or '-'}")
            nav = ", ".join(f"{e.label} -> {e.url_name}" for e in plugin.nav_entries)
            self.stdout.write(f"  navigation: {nav or '-'}")
            api = f"/api/v1/plugins/{plugin.plugin_name}/" if plugin.api_router else "-"
            self.stdout.write(f"  api: {api}")
