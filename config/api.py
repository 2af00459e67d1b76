"""The versioned JSON API, mounted at /api/v1/. Each app contributes a router."""

from ninja import NinjaAPI

from absurd_core.api import router as core_router
from approvals.api import router as approvals_router
from plugins.base import installed_plugins
from tenants.api_auth import ApiKeyAuth


def build_api() -> NinjaAPI:
    api = NinjaAPI(
        title="Absurd Control API",
        version="1",
        description="Spawn and inspect durable workflows, emit events and decide approvals.",
        urls_namespace="api-v1",
        docs_url="/docs",
        openapi_url="/openapi.json",
        # Every operation needs a tenant API key unless it says auth=None (health).
        auth=ApiKeyAuth(),
    )
    api.add_router("/", core_router)
    api.add_router("/approvals", approvals_router)
    for plugin in installed_plugins():
        router = plugin.load_api_router()
        if router is not None:
            api.add_router(f"/plugins/{plugin.plugin_name}/", router)
    return api


api = build_api()
