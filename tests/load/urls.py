from __future__ import annotations

from django.urls import path

from tests.load import views
from tests.urls import urlpatterns as test_urlpatterns

urlpatterns = [
    path("load/echo/", views.echo, name="load-echo"),
    path("load/async-echo/", views.async_echo, name="load-async-echo"),
    path("load/own-write/", views.own_write, name="load-own-write"),
    path("load/plain/", views.plain, name="load-plain"),
    path("load/state/", views.state, name="load-state"),
    *test_urlpatterns,
]
