"""RequestSettingsMiddleware: the overrides of the request's host, active for the whole of the request.

Place it above SessionMiddleware (first, or just after SecurityMiddleware): SessionMiddleware reads the session
cookie settings in its response phase, so the layer must still be active then.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import FileResponse, HttpRequest, HttpResponseBase, StreamingHttpResponse

from request_settings import checks, overlay, preview  # noqa: F401 (checks first: E012, not a crash, without the app)
from request_settings.conf.settings import settings as conf
from request_settings.hosts import host_from_request, snapshot_host
from request_settings.store import layer_for_host, store


@functools.cache
def request_config() -> tuple[bool, Callable[[HttpRequest], str] | None]:
    """The kill switch and the host resolver (None: the default, resolved against the snapshot), per process.

    Cleared on ``setting_changed`` (see apps.py), so ``override_settings`` still reaches them; neither can be
    overridden per request.
    """
    resolver = conf.objects.HOST_RESOLVER
    return conf.ENABLED, None if resolver is host_from_request else resolver


class RequestSettingsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        enabled, resolve_host = request_config()
        if not enabled:
            return self.get_response(request)
        before = store.cached()
        snapshot = store.get()
        request.request_settings_from_cache = snapshot is before  # type: ignore[attr-defined]  # for the toolbar panel
        host = snapshot_host(request, snapshot) if resolve_host is None else resolve_host(request)
        layer = layer_for_host(host, snapshot)
        if preview.COOKIE in request.COOKIES:
            layer = preview.layer(request, snapshot, host, layer)
        # One function sets and resets the layer: under ASGI, process_request/process_response would each run in
        # a context of their own, and the reset would fail.
        token = overlay.push(layer, host)
        try:
            response: HttpResponseBase = self.get_response(request)
        finally:
            overlay.pop(token)
        if preview.COOKIE in request.COOKIES:
            response = preview.with_banner(request, response)
        return _stream_in_layer(response, layer, host)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        enabled, resolve_host = request_config()
        if not enabled:
            return await get_response(request)
        before = store.cached()
        snapshot = await store.aget()
        request.request_settings_from_cache = snapshot is before  # type: ignore[attr-defined]
        host = snapshot_host(request, snapshot) if resolve_host is None else resolve_host(request)
        layer = layer_for_host(host, snapshot)
        if preview.COOKIE in request.COOKIES:
            layer = await sync_to_async(preview.layer)(request, snapshot, host, layer)  # reads session and drafts
        token = overlay.push(layer, host)
        try:
            response = await get_response(request)
        finally:
            overlay.pop(token)
        if preview.COOKIE in request.COOKIES:
            response = preview.with_banner(request, response)
        return _stream_in_layer(response, layer, host)


def _stream_in_layer(response: HttpResponseBase, layer: overlay.Layer, host: str) -> HttpResponseBase:
    """Streaming bodies are produced after the chain returned: produce each chunk inside the layer again.

    FileResponse is left alone: wrapping its content would disable ``wsgi.file_wrapper``, and a file needs no
    settings to be read.
    """
    if isinstance(response, StreamingHttpResponse) and not isinstance(response, FileResponse) and any(layer):
        content = response.streaming_content
        if response.is_async:
            response.streaming_content = _achunks_in_layer(content, layer, host)  # type: ignore[arg-type]
        else:
            response.streaming_content = _chunks_in_layer(content, layer, host)  # type: ignore[arg-type]
    return response


def _chunks_in_layer(content: Iterator[bytes], layer: overlay.Layer, host: str) -> Iterator[bytes]:
    # A generator shares its caller's context: set and reset around each step, never across a yield.
    iterator = iter(content)
    while True:
        token = overlay.push(layer, host)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            overlay.pop(token)
        yield chunk


async def _achunks_in_layer(content: AsyncIterator[bytes], layer: overlay.Layer, host: str) -> AsyncIterator[bytes]:
    iterator = aiter(content)
    while True:
        token = overlay.push(layer, host)
        try:
            chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        finally:
            overlay.pop(token)
        yield chunk
