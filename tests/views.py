"""Views the tests request through the real middleware stack: each reports the settings it saw."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.template import engines
from django.template.response import SimpleTemplateResponse

_MISSING = "<missing>"


def _values(request: HttpRequest) -> dict[str, object]:
    keys = [key for key in request.GET.get("keys", "SESSION_EXPIRE_SECONDS").split(",") if key]
    return {key: getattr(settings, key, _MISSING) for key in keys}


def echo(request: HttpRequest) -> JsonResponse:
    """The host and the effective values of ``?keys=A,B`` (default SESSION_EXPIRE_SECONDS), and the pid."""
    return JsonResponse({"host": request.get_host(), "values": _values(request), "pid": os.getpid()})


async def async_echo(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(0)
    in_thread = await sync_to_async(_values)(request)
    return JsonResponse({"host": request.get_host(), "values": _values(request), "in_thread": in_thread})


def login_session(request: HttpRequest) -> JsonResponse:
    """Put something in the session, as a login does, so the session cookie and the timeout apply."""
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JsonResponse({"visits": request.session["visits"]})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[str]:
        for _ in range(3):
            yield f"{getattr(settings, 'SESSION_EXPIRE_SECONDS', _MISSING)}\n"

    return StreamingHttpResponse(chunks())


def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[str]:
        for _ in range(3):
            await asyncio.sleep(0)
            yield f"{getattr(settings, 'SESSION_EXPIRE_SECONDS', _MISSING)}\n"

    return StreamingHttpResponse(chunks())


def template(request: HttpRequest) -> SimpleTemplateResponse:
    """Rendered by the handler after the view has returned, still inside the middleware chain."""
    page = engines["django"].from_string("{{ settings.SESSION_EXPIRE_SECONDS }}")
    return SimpleTemplateResponse(page, {"settings": settings})


something_happened = Signal()


def send_signal(request: HttpRequest) -> JsonResponse:
    """Receivers of a signal sent during the request report what they saw."""
    replies = something_happened.send(sender=None)
    return JsonResponse({"seen": [reply for _receiver, reply in replies]})


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"boom at {settings.SESSION_EXPIRE_SECONDS}")


seen_in_signal: list[object] = []


def record_in_request_finished(**kwargs: object) -> None:
    seen_in_signal.append(getattr(settings, "SESSION_EXPIRE_SECONDS", _MISSING))


request_finished.connect(record_in_request_finished, dispatch_uid="tests_record_request_finished")
