from plugins.base import PluginConfig


class MetricsConfig(PluginConfig):
    name = "plugins.metrics"
    label = "metrics"
    verbose_name = "Prometheus metrics"
    plugin_name = "metrics"
    plugin_version = "0.1.0"
    # Not under /plugins/metrics/: Prometheus looks for /metrics, so config/urls.py mounts
    # plugins.metrics.urls at the site root when this plugin is installed.
