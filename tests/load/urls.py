from __future__ import annotations

from django.urls import path

from tests.load import views
from tests.urls import urlpatterns as test_urlpatterns

urlpatterns = [
    path("load/echo/", views.echo, name="load-echo"),
    path("load/async-echo/", views.async_echo, name="load-async-echo"),
    path("load/plain/", views.plain, name="load-plain"),
    *test_urlpatterns,
]
