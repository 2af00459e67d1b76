from plugins.base import PluginConfig


class MetricsConfig(PluginConfig):
    name = "plugins.metrics"
    label = "metrics"
    verbose_name = "Prometheus metrics"
    plugin_name = "metrics"
    plugin_version = "0.1.0"
    # Not under /plugins/metrics/: Prometheus looks for /metrics, so the plugin mounts its
    # URLconf at the site root (PluginConfig.root_urls).
    root_urls = (("metrics", "plugins.metrics.urls"),)
