"""request_settings' own configuration (``REQUEST_SETTINGS_*``), through the public app-settings helper.

Read live: ``override_settings`` reaches every value; only the imported model and resolver are cached, and that
cache is cleared on ``setting_changed``.
"""

from __future__ import annotations

from request_settings.appsettings import AppSettings


class RequestSettingsSettings(AppSettings):
    """Defaults in ``request_settings/conf/defaults.py``; the prefix ``REQUEST_SETTINGS`` comes from the package."""


settings = RequestSettingsSettings()
