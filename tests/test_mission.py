"""The guiding case end to end: staff shorten SESSION_EXPIRE_SECONDS for one host, live.

django-session-timeout knows nothing of request_settings; no restart, no code change there.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from request_settings.models import SettingOverride

A, B = "a.example.com", "b.example.com"
PASSWORD = "mission-pw"


class Clock:
    """Stands in for the ``time`` module django-session-timeout reads."""

    def __init__(self):
        self.now = 1_000_000.0

    def time(self):
        return self.now


@pytest.mark.django_db(transaction=True)  # committed rows and a cached snapshot, as in production
def test_one_hosts_sessions_expire_at_the_new_value_and_the_others_keep_settings_py():
    get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)
    clock = Clock()
    with mock.patch("django_session_timeout.middleware.time", clock):
        browsers = {host: Client(HTTP_HOST=host) for host in (A, B)}
        for browser in browsers.values():
            login = browser.post("/admin/login/?next=/admin/", {"username": "staff", "password": PASSWORD})
            assert login.status_code == 302
            assert browser.get("/admin/").status_code == 200

        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host=A)  # what the admin form does

        clock.now += 59
        assert browsers[A].get("/admin/").status_code == 200
        clock.now += 2  # 61 s after login: past A's 60 s, far from settings.py's 3600 s
        expired = browsers[A].get("/admin/")
        assert (expired.status_code, expired["Location"]) == (302, "/accounts/login/?next=/admin/")
        assert browsers[B].get("/admin/").status_code == 200

        clock.now += 3600  # B follows settings.py
        assert browsers[B].get("/admin/").status_code == 302
