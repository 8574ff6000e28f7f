"""``activate(host)``: the overrides a request for ``host`` would get, outside a request.

For management commands, threads, executors and task queues: the layer is context-local, and a new thread or a
task queue worker does not inherit it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction

from request_settings import overlay
from request_settings.hosts import clean_host

_F = TypeVar("_F", bound=Callable[..., Any])


class activate:
    """Context manager (``with`` / ``async with``) and decorator (plain and ``async def`` functions).

    ``host=None`` means the all-hosts rows, what an unknown host gets; a host no request can have (a URL, a pattern,
    a non-string) raises ``InvalidHost``, a ``ValueError``. Inside, the layer replaces any outer one and
    the outer one is restored on exit. As a decorator it re-reads the snapshot at each call.
    """

    def __init__(self, host: str | None = None) -> None:
        self.host = clean_host(host, patterns=False)
        self._tokens: list[overlay.LayerToken | None] = []

    def __enter__(self) -> Mapping[str, Any]:
        from request_settings.store import store

        return self._push(lambda: store.get_outside_event_loop())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        token = self._tokens.pop()
        if token is not None:
            overlay.pop(token)

    async def __aenter__(self) -> Mapping[str, Any]:
        from request_settings.store import store

        snapshot = await store.aget()
        return self._push(lambda: snapshot)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _push(self, snapshot: Callable[[], Any]) -> Mapping[str, Any]:
        from request_settings.conf.settings import settings as conf
        from request_settings.store import layer_for_host

        if not conf.ENABLED:
            self._tokens.append(None)
            return overlay.current()
        layer = layer_for_host(self.host, snapshot())
        self._tokens.append(overlay.push(layer, self.host))
        return layer

    def __call__(self, func: _F) -> _F:
        host = self.host
        if iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                async with activate(host):
                    return await func(*args, **kwargs)

            return async_inner  # type: ignore[return-value]

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with activate(host):
                return func(*args, **kwargs)

        return inner  # type: ignore[return-value]
