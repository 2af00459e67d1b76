"""Bearer API-key authentication for the JSON API."""

from __future__ import annotations

import math

from django.core.exceptions import PermissionDenied
from ninja.errors import HttpError
from ninja.security import HttpBearer

from tenants.api_keys import AuthThrottled, InvalidApiKey, verify_key
from tenants.api_scopes import allows
from tenants.auth_throttle import record_failure, source_of
from tenants.permissions import Action, Principal
from tenants.resolution import principal_for_api_key


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer ac_<prefix>_<secret>``; the key's tenant becomes the principal."""

    openapi_description = "A tenant API key, created with `manage.py create_api_key`."

    def authenticate(self, request, token):
        source = source_of(request)
        try:
            api_key = verify_key(token, throttle_source=source)
        except AuthThrottled as throttled:
            seconds = max(1, math.ceil(throttled.wait))
            error = HttpError(
                429, f"Too many failed authentications from this address; retry in {seconds} s."
            )
            error.retry_after = seconds
            raise error from None
        except InvalidApiKey as exc:
            record_failure(source)
            raise HttpError(401, str(exc)) from exc
        request.api_key = api_key
        request.tenant = api_key.tenant
        return api_key


def api_principal(request, action: Action, scope: str) -> Principal:
    """The calling key's principal, once its role allows ``action`` and its scopes ``scope``.

    Every API operation calls this first: authentication is not authorisation.
    """
    principal = principal_for_api_key(request.auth)
    try:
        principal.require(action)
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from exc
    if not allows(request.auth.scopes, scope):
        raise HttpError(403, f"This API key's scopes do not include {scope}.")
    return principal
