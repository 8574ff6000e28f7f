"""The optional JSON API (extra ``api``): ``path("api/settings/", include("request_settings.api.urls"))``.

Django REST framework is imported here and nowhere else in the package, so the core works without it.
"""

from __future__ import annotations

try:
    import rest_framework  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by tests/test_api_optional.py
    raise ImportError(
        "request_settings.api needs Django REST framework and drf-spectacular: "
        "pip install 'django-request-settings[api]'"
    ) from error
