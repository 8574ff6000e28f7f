"""The echo of tests/views.py for the load servers, sync and async, each with the worker's pid; a write."""

from __future__ import annotations

import os
import threading
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from request_settings.models import SettingOverride
from tests.views import _values

OWN_KEY = "LOAD_OWN"
"""Written by ``own_write`` for the request's host: the next request to the same worker must see it."""


def echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_echo(request))


async def async_echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_echo(request))


def _echo(request: HttpRequest) -> dict[str, object]:
    """``at``: when the values were read, on the clock the test reads too (CLOCK_MONOTONIC is system-wide)."""
    values = _values(request)
    return {"host": request.get_host(), "values": values, "pid": os.getpid(), "at": time.monotonic()}


@csrf_exempt
@require_POST
def own_write(request: HttpRequest) -> JsonResponse:
    """Set ``LOAD_OWN`` for this host through the write API, as the admin would; answers after the commit."""
    value = int(request.GET["value"])
    SettingOverride.objects.set(OWN_KEY, value, host=request.get_host())
    return JsonResponse({"pid": os.getpid(), "value": value})


def plain(request: HttpRequest) -> HttpResponse:
    """A trivial view, for the throughput with and without the middleware."""
    return HttpResponse("ok")


def state(request: HttpRequest) -> JsonResponse:
    """This worker's store: the snapshot's change version and whether its background refresher runs."""
    from request_settings.store import store

    snapshot, refresher = store.cached(), store.refresher
    alive = refresher.is_alive() if isinstance(refresher, threading.Thread) else None
    return JsonResponse({"pid": os.getpid(), "version": snapshot and snapshot.version, "refresher_alive": alive})
