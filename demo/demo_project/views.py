"""The demo page: the effective SESSION_EXPIRE_SECONDS for this host, and how long this session has left."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_session_timeout.middleware import SESSION_TIMEOUT_KEY

import request_settings


def home(request: HttpRequest) -> HttpResponse:
    expire_seconds = settings.SESSION_EXPIRE_SECONDS
    started = request.session.get(SESSION_TIMEOUT_KEY)
    remaining = None if started is None else max(0, round(started + expire_seconds - time.time()))
    port = request.get_port()
    return render(
        request,
        "demo_project/home.html",
        {
            "host": request.get_host(),
            "expire_seconds": expire_seconds,
            "remaining": remaining,
            "overrides": sorted(request_settings.current().items()),
            "tenants": [f"{name}.localhost:{port}" for name in ("a", "b")],
        },
    )
