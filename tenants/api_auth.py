"""Bearer API-key authentication for the JSON API."""

from __future__ import annotations

from ninja.errors import HttpError
from ninja.security import HttpBearer

from tenants.api_keys import InvalidApiKey, verify_key
from tenants.auth_throttle import record_failure, retry_after, source_of


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer ac_<prefix>_<secret>``; the key's tenant becomes the principal."""

    openapi_description = "A tenant API key, created with `manage.py create_api_key`."

    def authenticate(self, request, token):
        source = source_of(request)
        wait = retry_after(source)
        if wait > 0:
            raise HttpError(
                429, f"Too many failed authentications from this address; retry in {wait:.0f} s."
            )
        try:
            api_key = verify_key(token)
        except InvalidApiKey as exc:
            record_failure(source)
            raise HttpError(401, str(exc)) from exc
        request.api_key = api_key
        request.tenant = api_key.tenant
        return api_key
