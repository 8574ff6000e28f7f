from __future__ import annotations

from django.apps import AppConfig


class RequestSettingsDebugToolbarConfig(AppConfig):
    """Only carries the panel's template; the panel is listed in DEBUG_TOOLBAR_PANELS."""

    name = "request_settings.contrib.debug_toolbar"
    label = "request_settings_debug_toolbar"
    verbose_name = "Request settings: debug-toolbar panel"
