"""``path("api/settings/", include("request_settings.api.urls"))`` mounts the JSON API."""

from __future__ import annotations

from django.urls import path

from request_settings.api import views

app_name = "request_settings_api"

urlpatterns = [
    path("overrides/", views.OverrideListView.as_view(), name="override-list"),
    path("overrides/<str:key>/", views.OverrideDetailView.as_view(), name="override-detail"),
    path("effective/", views.EffectiveView.as_view(), name="effective"),
    path("drafts/", views.DraftListView.as_view(), name="draft-list"),
    path("drafts/publish/", views.DraftPublishView.as_view(), name="draft-publish"),
    path("drafts/<str:key>/", views.DraftDetailView.as_view(), name="draft-detail"),
    path("schedules/", views.ScheduleListView.as_view(), name="schedule-list"),
    path("schedules/<int:pk>/", views.ScheduleDetailView.as_view(), name="schedule-detail"),
    path("changes/", views.ChangeListView.as_view(), name="change-list"),
]
