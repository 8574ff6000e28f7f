"""``path("settings/", include("request_settings.urls"))`` mounts the site-facing form."""

from __future__ import annotations

from django.urls import path

from request_settings.views import SettingOverrideFormView

app_name = "request_settings"

urlpatterns = [
    path("", SettingOverrideFormView.as_view(), name="edit"),
]
