"""A project's own override table: the abstract base plus a field of its own."""

from __future__ import annotations

from django.db import models

from request_settings.models import AbstractSettingOverride


class TenantOverride(AbstractSettingOverride):
    """REQUEST_SETTINGS_MODEL = "swappedapp.TenantOverride" in tests/swapped_settings.py."""

    note = models.CharField(max_length=200, blank=True)

    class Meta(AbstractSettingOverride.Meta):
        pass
