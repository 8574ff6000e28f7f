"""request_settings' own configuration, read live from django.conf.settings (temporary shim)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from request_settings.conf import defaults


class _Models:
    def __getattr__(self, name: str) -> Any:
        return apps.get_model(getattr(settings, name))


class _Objects:
    def __getattr__(self, name: str) -> Any:
        return import_string(getattr(settings, name))


class _Settings:
    models = _Models()
    objects = _Objects()

    def __getattr__(self, name: str) -> Any:
        return getattr(django_settings, f"REQUEST_SETTINGS_{name}", getattr(defaults, name))


settings = _Settings()
