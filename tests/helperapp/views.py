"""A view of the test app reading its own settings through the helper, as a reusable app would."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from tests.helperapp.conf.settings import settings as helper


def greeting(request: HttpRequest) -> JsonResponse:
    """HELPERAPP_GREETING and the HELPERAPP_USER_MODEL model, as this request sees them."""
    return JsonResponse({"greeting": helper.GREETING, "user_model": helper.models.USER_MODEL._meta.label})
