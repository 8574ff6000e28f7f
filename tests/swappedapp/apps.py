"""The app holding the custom override model of the swapped-model test run."""

from __future__ import annotations

from django.apps import AppConfig


class SwappedAppConfig(AppConfig):
    name = "tests.swappedapp"
    label = "swappedapp"
    default_auto_field = "django.db.models.BigAutoField"
