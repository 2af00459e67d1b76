"""The versioned JSON API, mounted at /api/v1/: one adapter, one module per resource.

``problems`` (the error format), ``openapi`` (the document and the API class), ``input``
(what bodies and queries may hold), ``nul_guard`` and ``url_limit`` (middleware under
/api/), and the routers: ``health``, ``tasks``, ``events``, ``dead_letters``, ``queues``,
``approvals``, ``schedules``. Plugin routers mount under /api/v1/plugins/<name>/.
"""

from config.api import problems
from config.api.approvals import router as approvals_router
from config.api.dead_letters import router as dead_letters_router
from config.api.events import router as events_router
from config.api.health import router as core_router
from config.api.openapi import ControlNinjaAPI
from config.api.queues import router as queues_router
from config.api.schedules import router as schedules_router
from config.api.tasks import router as tasks_router
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
    api.add_router("/", schedules_router)
    api.add_router("/approvals", approvals_router)
    for plugin in installed_plugins():
        router = plugin.load_api_router()
        if router is not None:
            api.add_router(f"/plugins/{plugin.plugin_name}/", router)
    problems.install(api)
    return api


_built: dict[str, ControlNinjaAPI] = {}


def __getattr__(name: str) -> ControlNinjaAPI:
    """``api``, the API config/urls.py mounts, built on first use.

    Built lazily so that importing a module of this package (the middleware in settings,
    a plugin's ``from config.problems import Problem``) does not load every plugin's router,
    one of which may be the module being imported.
    """
    if name != "api":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if "api" not in _built:
        _built["api"] = build_api()
    return _built["api"]
