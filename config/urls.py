from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.api import api
from plugins.base import installed_plugins, plugin_named
from tenants.views import ThrottledLoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", api.urls),
    path("approvals/", include("approvals.urls")),
    path("settings/", include("tenants.urls")),
    path("", include("dashboard.urls")),
]
# Plugin pages, under /plugins/<name>/ with the plugin's name as URL namespace.
urlpatterns += [
    path(f"plugins/{p.plugin_name}/", include((p.urls, p.plugin_name), namespace=p.plugin_name))
    for p in installed_plugins()
    if p.urls
]
# Prometheus scrapes /metrics by default, so the metrics plugin's one view lives at the site
# root instead of under /plugins/metrics/; mounted only when the plugin is installed.
if plugin_named("metrics"):
    urlpatterns.insert(0, path("metrics", include("plugins.metrics.urls")))
