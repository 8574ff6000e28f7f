from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse_lazy

from demo_project import views
from request_settings.views import SettingOverrideFormView

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    # The site-facing form (request_settings.views): staff with the model's add and change
    # permissions set the session timeout for one host, or for all, without the admin.
    path(
        "session-timeout/",
        SettingOverrideFormView.as_view(
            keys=["SESSION_EXPIRE_SECONDS"],
            host=None,
            title="Session timeout",
            login_url=reverse_lazy("admin:login"),
        ),
        name="session-timeout",
    ),
]
