from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class RequestSettingsConfig(AppConfig):
    name = "request_settings"
    verbose_name = _("Request settings")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from request_settings import checks, overlay
        from request_settings.models import SettingSchedule, get_override_model
        from request_settings.store import load_after_migrate, on_override_written

        checks.register()

        overlay.install()
        model = get_override_model()
        post_save.connect(on_override_written, sender=model, dispatch_uid="request_settings_saved")
        post_delete.connect(on_override_written, sender=model, dispatch_uid="request_settings_deleted")
        # A schedule changes what its (key, host) serves: announced and read again like a row of the table.
        post_save.connect(on_override_written, sender=SettingSchedule, dispatch_uid="request_settings_scheduled")
        post_delete.connect(on_override_written, sender=SettingSchedule, dispatch_uid="request_settings_unscheduled")
        setting_changed.connect(_our_setting_changed, dispatch_uid="request_settings_setting_changed")
        post_migrate.connect(load_after_migrate, sender=self, dispatch_uid="request_settings_migrated")


_HOST_CHECKS = frozenset({"ALLOWED_HOSTS", "DEBUG", "USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT"})


def _our_setting_changed(*, setting: str, **kwargs: Any) -> None:
    """Our settings changed (override_settings in tests): drop what was derived from them."""
    if setting in _HOST_CHECKS:
        from request_settings.store import store

        snapshot = store.cached()
        if snapshot is not None:
            snapshot.raw_hosts.clear()  # hosts resolved under the old ALLOWED_HOSTS
    if setting.startswith("REQUEST_SETTINGS_"):
        from request_settings.middleware import request_config
        from request_settings.store import store

        request_config.cache_clear()
        store.reset()
