"""``activate(host)`` and ``wrap(fn)``: the overrides a request for ``host`` would get, outside a request.

For management commands, threads, executors and task queues: the layer is context-local, and a new thread or a
task queue worker does not inherit it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction

from request_settings import overlay
from request_settings.hosts import clean_host

_F = TypeVar("_F", bound=Callable[..., Any])

_entered: ContextVar[tuple[overlay.LayerToken | None, ...]] = ContextVar("request_settings_activate_tokens", default=())
"""The tokens of the ``activate()`` blocks open in this context, innermost last.

Held in a ContextVar, not on the instance: one ``activate()`` object is often shared (a module-level decorator or
context manager) by threads and asyncio tasks at once, and a token may only be reset in the context that set it.
``with`` blocks nest within one context, so the innermost token is always the one of the block being left.
"""


class activate:
    """Context manager (``with`` / ``async with``) and decorator (plain and ``async def`` functions).

    ``host=None`` means the all-hosts rows, what an unknown host gets; a host no request can have (a URL, a pattern,
    a non-string) raises ``InvalidHost``, a ``ValueError``. Inside, the layer replaces any outer one and
    the outer one is restored on exit. As a decorator it re-reads the snapshot at each call. One instance may be
    used by many threads and tasks at once: each keeps its own layer.
    """

    def __init__(self, host: str | None = None) -> None:
        self.host = clean_host(host, patterns=False)

    def __repr__(self) -> str:
        return f"activate({self.host!r})"

    def __enter__(self) -> Mapping[str, Any]:
        from request_settings.store import store

        return self._push(lambda: store.get_outside_event_loop())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack = _entered.get()
        if not stack:
            raise RuntimeError(
                f"{self!r} is left in a context that did not enter it: enter and leave an activate() block in the "
                "same thread or task."
            )
        _entered.set(stack[:-1])
        token = stack[-1]
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
            _entered.set((*_entered.get(), None))
            return overlay.current()
        layer = layer_for_host(self.host, snapshot())
        _entered.set((*_entered.get(), overlay.push(layer, self.host)))
        return overlay.current()

    def __call__(self, func: _F) -> _F:
        return _activating(self.host, func)


def _activating(host: str, func: _F) -> _F:
    """``func`` run inside a fresh ``activate(host)`` at each call (sync or async)."""
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


def wrap(func: _F) -> _F:
    """``func``, made to run in the host of the layer active now, wherever it runs later.

    For ``ThreadPoolExecutor.submit(wrap(fn))``, ``threading.Thread(target=wrap(fn))`` and callbacks: a new thread
    does not inherit the layer. The host is captured, not the values: ``func`` reads the snapshot of the moment it
    runs, like a request would. Outside any layer, ``func`` is returned as it is and runs outside any layer.
    """
    host = overlay.current_host()
    if host is None:
        return func
    return _activating(host, func)
