"""The versioned JSON API, mounted at /api/v1/. Each app contributes a router."""

from ninja import NinjaAPI
from ninja.errors import HttpError

from absurd_core.api import router as core_router
from absurd_core.dead_letters_api import router as dead_letters_router
from absurd_core.tasks_api import router as tasks_router
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
    api.add_router("/", tasks_router)
    api.add_router("/", dead_letters_router)
    api.add_router("/approvals", approvals_router)
    for plugin in installed_plugins():
        router = plugin.load_api_router()
        if router is not None:
            api.add_router(f"/plugins/{plugin.plugin_name}/", router)
    api.add_exception_handler(HttpError, _http_error)
    return api


def _http_error(request, exc: HttpError):
    """ninja's answer ({"detail": ...}), plus Retry-After when the error carries one."""
    response = api.create_response(request, {"detail": str(exc)}, status=exc.status_code)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


api = build_api()
