"""Test utilities shared by several test modules."""

from __future__ import annotations

from django.test import AsyncClient


class HostAsyncClient(AsyncClient):
    """An AsyncClient that sends only the Host header a test gives (Django adds 'testserver' beside it)."""

    def request(self, **request):
        headers = request["headers"]
        if sum(name == b"host" for name, _ in headers) > 1:
            request["headers"] = [header for header in headers if header != (b"host", b"testserver")]
        return super().request(**request)
