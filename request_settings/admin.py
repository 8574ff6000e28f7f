from __future__ import annotations

from django.contrib import admin

from request_settings.models import get_override_model


class SettingOverrideAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["key", "host", "value", "updated_at", "updated_by"]
    list_filter = ["host"]
    search_fields = ["key", "host"]


admin.site.register(get_override_model(), SettingOverrideAdmin)
