"""The test app that exercises request_settings.appsettings the way a reusable app would."""

from __future__ import annotations

from django.apps import AppConfig


class HelperAppConfig(AppConfig):
    """Labelled ``helperapp`` so its settings are ``HELPERAPP_*``, as in a real reusable app."""

    name = "tests.helperapp"
    label = "helperapp"
    default_auto_field = "django.db.models.AutoField"
