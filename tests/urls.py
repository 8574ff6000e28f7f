from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from request_settings.views import SettingOverrideFormView
from tests import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("echo/", views.echo, name="echo"),
    path("async-echo/", views.async_echo, name="async-echo"),
    path("session/", views.login_session, name="session"),
    path("stream/", views.stream, name="stream"),
    path("async-stream/", views.async_stream, name="async-stream"),
    path("boom/", views.boom, name="boom"),
    path("template/", views.template, name="template"),
    path("signal/", views.send_signal, name="signal"),
    path("settings/", include("request_settings.urls")),
    path(
        "session-timeout/",
        SettingOverrideFormView.as_view(keys=["SESSION_EXPIRE_SECONDS"], host=None),
        name="session-timeout",
    ),
    path(
        "session-timeout-all/",
        SettingOverrideFormView.as_view(keys=["SESSION_EXPIRE_SECONDS"], host=""),
        name="session-timeout-all",
    ),
]
