"""Bearer API-key authentication for the JSON API."""

from __future__ import annotations

from ninja.errors import HttpError
from ninja.security import HttpBearer

from tenants.api_keys import InvalidApiKey, verify_key


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer ac_<prefix>_<secret>``; the key's tenant becomes the principal."""

    openapi_description = "A tenant API key, created with `manage.py create_api_key`."

    def authenticate(self, request, token):
        try:
            api_key = verify_key(token)
        except InvalidApiKey as exc:
            raise HttpError(401, str(exc)) from exc
        request.api_key = api_key
        request.tenant = api_key.tenant
        return api_key
