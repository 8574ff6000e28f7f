"""Test helpers: per-request values pinned to the current context; forgetting the cached snapshot.

``override_request_settings`` never writes the override table and changes nothing process-wide
(adding a class descriptor for a new key is inert outside a layer), so it cannot leak between
tests, threads or tasks: the values live in a ``ContextVar``, which a new thread does not inherit
and each asyncio task copies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from django.test.utils import TestContextDecorator

from request_settings import overlay
from request_settings.hosts import clean_host
from request_settings.models import validate_override

_F = TypeVar("_F", bound=Callable[..., Any])

_Tokens = tuple[Token[overlay.Pins], overlay.LayerToken | None]


class override_request_settings(TestContextDecorator):
    """Pin ``values`` for requests to ``host`` (every host when None) in the current context only.

    Requests made through the test client inside the block see the values (the middleware and
    ``activate()`` merge them over the table's rows). With ``host=None``, code running directly
    inside the block sees them too. A context manager, and a decorator of functions, ``async def``
    functions and ``unittest.TestCase`` classes. Each value is checked against the policy first:
    a refused key or a bad value raises ``ValidationError`` with the reason, as the admin would.
    """

    def __init__(self, host: str | None = None, **values: Any) -> None:
        super().__init__()
        self.host = None if host is None else _checked_host(host)
        self.values = values
        self._tokens: list[_Tokens] = []

    def enable(self) -> Mapping[str, Any]:
        for key, value in self.values.items():
            validate_override(key, value, self.host or "")
        pin_token = overlay.pin(self.host, self.values)
        layer_token = None
        if self.host is None:
            # Code outside a request reads the current layer: put the values over it for the block.
            layer_token = overlay.push(overlay.freeze({**overlay.current(), **self.values}), overlay.current_host())
        self._tokens.append((pin_token, layer_token))
        return overlay.current()

    def disable(self) -> None:
        pin_token, layer_token = self._tokens.pop()
        if layer_token is not None:
            overlay.pop(layer_token)
        overlay.unpin(pin_token)

    def decorate_callable(self, func: _F) -> _F:
        # A fresh helper per call: concurrent calls (threads, tasks) must not share a token stack.
        host, values = self.host, self.values
        if iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                with override_request_settings(host, **values):
                    return await func(*args, **kwargs)

            return async_inner  # type: ignore[return-value]

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with override_request_settings(host, **values):
                return func(*args, **kwargs)

        return inner  # type: ignore[return-value]


def _checked_host(host: str) -> str:
    return clean_host(host, patterns=False)


def clear_snapshot() -> None:
    """Forget the in-process snapshot and its last good copy: the next request reads the table."""
    from request_settings.store import store

    store.reset()
