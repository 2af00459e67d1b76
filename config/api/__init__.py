"""The versioned JSON API, mounted at /api/v1/. Each app contributes a router."""

from absurd_core.api import router as core_router
from absurd_core.dead_letters_api import router as dead_letters_router
from absurd_core.events_api import router as events_router
from absurd_core.queues_api import router as queues_router
from absurd_core.tasks_api import router as tasks_router
from approvals.api import router as approvals_router
from config import problems
from config.openapi import ControlNinjaAPI
from plugins.base import installed_plugins
from tenants.api_auth import ApiKeyAuth


def build_api() -> ControlNinjaAPI:
    api = ControlNinjaAPI(
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
    api.add_router("/", tasks_router)
    api.add_router("/", dead_letters_router)
    api.add_router("/", events_router)
    api.add_router("/", queues_router)
    api.add_router("/approvals", approvals_router)
    for plugin in installed_plugins():
        router = plugin.load_api_router()
        if router is not None:
            api.add_router(f"/plugins/{plugin.plugin_name}/", router)
    problems.install(api)
    return api


api = build_api()
