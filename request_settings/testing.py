"""Test helpers: per-request values pinned to the current context; forgetting the cached snapshot.

``override_request_settings`` never writes the override table and changes nothing process-wide
(adding a class descriptor for a new key is inert outside a layer), so it cannot leak between
tests, threads or tasks: the values live in a ``ContextVar``, which a new thread does not inherit
and each asyncio task copies.
"""

from __future__ import annotations

import functools
import json
import unittest
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from django.test.utils import TestContextDecorator

from request_settings import overlay, policy
from request_settings.hosts import clean_host
from request_settings.models import validate_override

_F = TypeVar("_F", bound=Callable[..., Any])

_Tokens = tuple[Token[overlay.Pins], tuple[str | None, Mapping[str, Any]], overlay.LayerToken | None]
_open: ContextVar[tuple[tuple[override_request_settings, _Tokens], ...]] = ContextVar(
    "request_settings_open_pins", default=()
)
"""The blocks open in this context, innermost last. In a ContextVar, not on the instance: one instance (a
module-level decorator or context manager) may be entered by several threads and tasks at once."""
_C = TypeVar("_C", bound=type)

_CLASS_PINS = "_request_settings_pins"
"""On a decorated test case class: the (host, values) its decorators pin, applied in this order (later ones win)."""
_CLASS_ACTIVE = "_request_settings_pins_active"


class _LeftElsewhere(RuntimeError):
    """A block left in a context that did not enter it (another thread or task): its values cannot be reset there."""


class override_request_settings(TestContextDecorator):
    """Pin ``values`` for requests to ``host`` (every host when None) in the current context only.

    Requests made through the test client inside the block see the values (the middleware and
    ``activate()`` merge them over the table's rows). With ``host=None``, code running directly
    inside the block sees them too. A context manager, and a decorator of functions, ``async def``
    functions and ``unittest.TestCase`` classes. Each value is checked against the policy first:
    a refused key or a bad value raises ``ValidationError`` with the reason, as the admin would, and is
    served as a row's would be (JSON: a tuple comes back a list, unless settings.py has a tuple there).

    ``host=""`` (or "(all hosts)") means every host, like ``None``; a pattern (``*.example.com``) is
    refused: pin each host. On a class, the values apply from ``setUpClass`` (so ``setUpTestData``
    sees them) to the class cleanups; a subclass's decorator wins over its parent's, as with
    ``override_settings``. With ``REQUEST_SETTINGS_ENABLED = False`` the middleware and ``activate()``
    merge no pin, but values pinned with ``host=None`` still apply to the code in the block (and so to
    requests made from it by the test client).
    """

    def __init__(self, host: str | None = None, **values: Any) -> None:
        super().__init__()
        # "" is the all-hosts rows' host: a pin for it means every host (a request's host is never "").
        self.host = (None if host is None else _checked_host(host)) or None
        self.values = values

    def __repr__(self) -> str:
        return f"override_request_settings(host={self.host!r}, keys={sorted(self.values)!r})"

    def enable(self) -> Mapping[str, Any]:
        for key, value in self.values.items():
            validate_override(key, value, self.host or "")
        values = {key: _as_served(key, value) for key, value in self.values.items()}
        pin_token = overlay.pin(self.host, values)
        entry = overlay.pins()[-1]
        layer_token = None
        if self.host is None:
            # Code outside a request reads the current layer: put the values over it for the block.
            layer_token = overlay.push(overlay.freeze({**overlay.current(), **values}), overlay.current_host())
        _open.set((*_open.get(), (self, (pin_token, entry, layer_token))))
        return overlay.current()

    def disable(self) -> None:
        stack = _open.get()
        pins = overlay.pins()
        if not stack or stack[-1][0] is not self or not pins or pins[-1] is not stack[-1][1][1]:
            # Another context (the pin was made in an async test's task, or a thread), or blocks left out of order:
            # resetting here would restore or drop values that are not this block's.
            raise _LeftElsewhere(
                f"{self!r} is left in a context that did not enter it, or before a block opened inside it: enter "
                "and leave it in the same thread or task, innermost block first."
            )
        pin_token, _entry, layer_token = stack[-1][1]
        _open.set(stack[:-1])
        if layer_token is not None:
            overlay.pop(layer_token)
        overlay.unpin(pin_token)

    def decorate_class(self, cls: _C) -> _C:
        # Django's default wraps setUp, so setUpClass and setUpTestData would not see the values; like
        # override_settings on a SimpleTestCase, apply them for the whole class instead.
        if not (isinstance(cls, type) and issubclass(cls, unittest.TestCase)):
            raise TypeError("Can only decorate subclasses of unittest.TestCase")
        pins = (*getattr(cls, _CLASS_PINS, ()), (self.host, self.values))
        if _CLASS_PINS not in cls.__dict__:
            _wrap_set_ups(cls)
        setattr(cls, _CLASS_PINS, pins)
        return cls

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


def _as_served(key: str, value: Any) -> Any:
    """``value`` as a row stored with it would serve it: through JSON, with settings.py's container types."""
    return policy.coerce(key, json.loads(json.dumps(value)))


def _wrap_set_ups(cls: type[unittest.TestCase]) -> None:
    """Pin the class's values (all its decorators', its parents' first) around its own ``setUpClass`` and ``setUp``.

    Around ``setUp`` too: ``IsolatedAsyncioTestCase`` runs each test in a copy of the context taken when the test
    case was created, before ``setUpClass``.
    """
    original_class = cls.__dict__.get("setUpClass")
    original = cls.setUp

    def setUpClass(klass: type[unittest.TestCase]) -> None:
        _pin_once(klass, klass, klass.addClassCleanup)
        if original_class is not None:
            original_class.__func__(klass)
        else:
            super(cls, klass).setUpClass()  # type: ignore[misc]  # mypy loses cls in a nested function

    def setUp(self: unittest.TestCase) -> None:
        _pin_once(self, type(self), self.addCleanup)
        original(self)

    cls.setUpClass = classmethod(setUpClass)  # type: ignore[assignment,method-assign]
    cls.setUp = setUp  # type: ignore[method-assign]


def _pin_once(owner: Any, cls: type[unittest.TestCase], add_cleanup: Callable[..., None]) -> None:
    """Pin every value of ``cls``'s decorators once for ``owner`` (the class, or one test), until its cleanups.

    The most derived decorated class pins them all; its parents' wrappers, reached through super(), skip.
    """
    if vars(owner).get(_CLASS_ACTIVE):
        return
    setattr(owner, _CLASS_ACTIVE, True)
    add_cleanup(delattr, owner, _CLASS_ACTIVE)
    for host, values in getattr(cls, _CLASS_PINS):
        helper = override_request_settings(host, **values)
        helper.enable()
        add_cleanup(helper.disable)


def clear_snapshot() -> None:
    """Forget the in-process snapshot and its last good copy: the next request reads the table."""
    from request_settings.store import store

    store.reset()
