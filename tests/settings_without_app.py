"""A project that added RequestSettingsMiddleware to MIDDLEWARE but forgot the app (request_settings.E012)."""

from __future__ import annotations

from tests.docs_settings import *  # noqa: F403
from tests.docs_settings import INSTALLED_APPS

ROOT_URLCONF = "tests.docs_settings"
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "request_settings"]
