"""Settings of the third-party registry tests (tox -e thirdparty): the suite's settings plus the real apps.

django-cors-headers and django-allauth run in the middleware stack, below RequestSettingsMiddleware, so their
per-request reads see the overrides; the other apps are imported by the tests that show why their settings are
refused.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE

ROOT_URLCONF = "tests.thirdparty_urls"
INSTALLED_APPS = [*INSTALLED_APPS, "corsheaders", "allauth", "allauth.account", "rest_framework"]

_ours = MIDDLEWARE.index("request_settings.middleware.RequestSettingsMiddleware")
MIDDLEWARE = [
    *MIDDLEWARE[: _ours + 1],
    "corsheaders.middleware.CorsMiddleware",
    *MIDDLEWARE[_ours + 1 :],
    "allauth.account.middleware.AccountMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

CORS_ALLOWED_ORIGINS: list[str] = []
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Site] "
