"""The demo page: the effective SESSION_EXPIRE_SECONDS for this host, and how long this session has left."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_session_timeout.middleware import SESSION_TIMEOUT_KEY

import request_settings
from request_settings.forms import display_value


def home(request: HttpRequest) -> HttpResponse:
    expire_seconds = settings.SESSION_EXPIRE_SECONDS
    started = request.session.get(SESSION_TIMEOUT_KEY)
    remaining = None if started is None else max(0, round(started + expire_seconds - time.time()))
    port = request.get_port()
    overrides = request_settings.current()
    return render(
        request,
        "demo_project/home.html",
        {
            "host": request.get_host(),
            "expire_seconds": expire_seconds,
            "remaining": remaining,
            # Masked as the admin masks them: this page is public, and some overrides may be secrets.
            "overrides": [(key, display_value(key, value)) for key, value in sorted(overrides.items())],
            "tenants": [f"{name}.localhost:{port}" for name in ("a", "b")],
        },
    )
