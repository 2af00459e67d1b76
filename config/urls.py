from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.api import api
from plugins.base import installed_plugins
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
# Plugin URLs at the site root (PluginConfig.root_urls), ahead of the project's own: the
# metrics plugin's /metrics, where Prometheus looks by default.
urlpatterns[:0] = [
    path(prefix, include(module)) for p in installed_plugins() for prefix, module in p.root_urls
]

# Error pages inside the dashboard shell; problem details under /api/ (config/error_pages.py).
handler400 = "config.error_pages.bad_request"
handler403 = "config.error_pages.permission_denied"
handler404 = "config.error_pages.page_not_found"
handler500 = "config.error_pages.server_error"
