"""The echo of tests/views.py for the load servers, sync and async, each with the worker's pid."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse, JsonResponse

from tests.views import _values


def echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"host": request.get_host(), "values": _values(request), "pid": os.getpid()})


async def async_echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"host": request.get_host(), "values": _values(request), "pid": os.getpid()})


def plain(request: HttpRequest) -> HttpResponse:
    """A trivial view, for the throughput with and without the middleware."""
    return HttpResponse("ok")
