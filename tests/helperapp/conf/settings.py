"""The settings helper of the test app, written as a reusable app would write it."""

from __future__ import annotations

from request_settings.appsettings import AppSettings, DeprecatedSetting


class HelperAppSettings(AppSettings):
    """``HELPERAPP_*`` settings; the prefix comes from the package path ``tests.helperapp.conf``."""

    deprecations = (
        DeprecatedSetting("SALUTATION", renamed_to="GREETING", removing_in="2.0"),
        DeprecatedSetting("ACCOUNT_MODEL", renamed_to="USER_MODEL"),
        DeprecatedSetting(
            "ITEMS_PER_PAGE",
            replaced_by="PAGE_SIZE",
            removing_in="2.0",
            guidance="PAGE_SIZE counts rows, not items.",
        ),
        DeprecatedSetting("LEGACY_MODE", removing_in="2.0", warning_category=PendingDeprecationWarning),
        DeprecatedSetting("LEGACY_MODEL", removing_in="3.0"),
    )


settings = HelperAppSettings()
