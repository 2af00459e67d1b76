"""Mounted at /metrics (MetricsConfig.root_urls) when the plugin is installed."""

from django.urls import path

from plugins.metrics import views

urlpatterns = [path("", views.metrics, name="metrics")]
