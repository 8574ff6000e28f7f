"""tests.urls plus django-allauth's views, for tests/test_thirdparty.py."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("tests.urls")),
    path("allauth/", include("allauth.urls")),
]
