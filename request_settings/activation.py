"""``activate(host)`` and ``wrap(fn)``: the overrides a request for ``host`` would get, outside a request.

For management commands, threads, executors and task queues: the layer is context-local, and a new thread or a
task queue worker does not inherit it.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction

from request_settings import overlay
from request_settings.hosts import clean_host

_F = TypeVar("_F", bound=Callable[..., Any])

_Entry = tuple["activate", "overlay.LayerToken | None"]
_entered: ContextVar[tuple[_Entry, ...]] = ContextVar("request_settings_activate_tokens", default=())
"""The ``activate()`` blocks open in this context, innermost last: (the instance, its token or None).

Held in a ContextVar, not on the instance: one ``activate()`` object is often shared (a module-level decorator or
context manager) by threads and asyncio tasks at once, and a token may only be reset in the context that set it.
``with`` blocks nest within one context, except when a generator suspends inside one: a generator shares its
consumer's context, so its open block stays on this stack above the consumer's (see ``activate.__exit__``).
"""

_abandoned_lock = threading.Lock()


class activate:
    """Context manager (``with`` / ``async with``) and decorator (plain and ``async def`` functions, generator
    functions, async generator functions).

    ``host=None`` means the all-hosts rows, what an unknown host gets; a host no request can have (a URL, a pattern,
    a non-string) raises ``InvalidHost``, a ``ValueError``. Inside, the layer replaces any outer one and
    the outer one is restored on exit. As a decorator it re-reads the snapshot at each call; a decorated generator
    runs each of its steps in the layer of one snapshot, and its consumer between two steps is outside it. One
    instance may be used by many threads and tasks at once: each keeps its own layer.

    A generator shares its consumer's context, so a ``with activate()`` block inside a generator that spans a
    ``yield`` leaks into the consumer while the generator is suspended: decorate the generator function instead.
    Leaving any block restores what was active before it, even if a block opened inside it is still open then.
    """

    def __init__(self, host: str | None = None) -> None:
        self.host = clean_host(host, patterns=False)
        self._abandoned = 0
        """Blocks of this instance ended by the end of an outer block: their own exit, later, has nothing to do."""

    def __repr__(self) -> str:
        return f"activate({self.host!r})"

    def __enter__(self) -> Mapping[str, Any]:
        from request_settings.store import store

        return self._push(lambda: store.get_outside_event_loop())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack = _entered.get()
        index = len(stack) - 1
        while index >= 0 and stack[index][0] is not self:
            index -= 1
        if index < 0:
            with _abandoned_lock:
                if self._abandoned:
                    self._abandoned -= 1
                    return
            raise RuntimeError(
                f"{self!r} is left in a context that did not enter it: enter and leave an activate() block in the "
                "same thread or task."
            )
        # Blocks above this one were opened inside it and are still open (a generator suspended in its block, an
        # __enter__ without __exit__): they end with it, or their later exit would restore this block's layer after
        # it is over, to whatever runs next in this context (the next work item on a pool thread, the next task).
        _entered.set(stack[:index])
        for owner, _token in stack[index + 1 :]:
            with _abandoned_lock:
                owner._abandoned += 1
        # The first token set in or after this block holds what was active before it.
        token = next((token for _owner, token in stack[index:] if token is not None), None)
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
            _entered.set((*_entered.get(), (self, None)))
            return overlay.current()
        layer = layer_for_host(self.host, snapshot())
        _entered.set((*_entered.get(), (self, overlay.push(layer, self.host))))
        return overlay.current()

    def __call__(self, func: _F) -> _F:
        return _activating(self.host, func)


class _Steps:
    """One call of a decorated function: ``activate(host)`` entered and left around each step, on one snapshot.

    A generator (or a coroutine) runs in its consumer's context, one step at a time: the layer is set around each
    step and reset before control goes back, never held across a ``yield`` (as the middleware does for streaming
    bodies), and every step reads the snapshot of the call's first one, as a request does.
    """

    def __init__(self, host: str) -> None:
        self.activation = activate(host)
        self.snapshot: Any = None

    def __enter__(self) -> None:
        if self.snapshot is None:
            from request_settings.store import store

            self.snapshot = store.get_outside_event_loop()
        snapshot = self.snapshot
        self.activation._push(lambda: snapshot)

    def __exit__(self, *exc_info: Any) -> None:
        self.activation.__exit__(*exc_info)


def _generator_steps(steps: _Steps, generator: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    sent: Any = None
    thrown: BaseException | None = None
    try:
        while True:
            with steps:
                try:
                    value = generator.send(sent) if thrown is None else generator.throw(thrown)
                except StopIteration as stop:
                    return stop.value
            sent, thrown = None, None
            try:
                sent = yield value
            except GeneratorExit:
                raise
            except BaseException as error:  # thrown into this generator: into the wrapped one, in the layer
                thrown = error
    finally:
        with steps:
            generator.close()  # its cleanup (finally blocks) runs in the layer too


async def _async_generator_steps(steps: _Steps, generator: AsyncGenerator[Any, Any]) -> AsyncGenerator[Any, Any]:
    sent: Any = None
    thrown: BaseException | None = None
    try:
        while True:
            with steps:  # the call read the snapshot: no I/O here, in the event loop
                try:
                    value = await (generator.asend(sent) if thrown is None else generator.athrow(thrown))
                except StopAsyncIteration:
                    return
            sent, thrown = None, None
            try:
                sent = yield value
            except GeneratorExit:
                raise
            except BaseException as error:
                thrown = error
    finally:
        with steps:
            await generator.aclose()


async def _awaited(steps: _Steps, awaitable: Coroutine[Any, Any, Any]) -> Any:
    with steps:
        return await awaitable


def _is_async_callable(func: Callable[..., Any]) -> bool:
    """An ``async def`` function, or an object whose ``__call__`` is one (which ``iscoroutinefunction`` misses)."""
    if iscoroutinefunction(func):
        return True
    call = getattr(type(func), "__call__", None)  # noqa: B004 - the class's, as calling the object uses it
    return not inspect.isroutine(func) and call is not None and iscoroutinefunction(call)


def _activating(host: str, func: _F) -> _F:
    """``func`` run inside a fresh ``activate(host)`` at each call (sync or async)."""
    if _is_async_callable(func):

        @functools.wraps(func)
        async def async_inner(*args: Any, **kwargs: Any) -> Any:
            async with activate(host):
                return await func(*args, **kwargs)

        return async_inner  # type: ignore[return-value]

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        steps = _Steps(host)
        with steps:
            result = func(*args, **kwargs)
        # What runs after the call returns: a generator's body, a coroutine's (a lambda or a partial returning
        # one) run in the layer too, step by step.
        if inspect.isgenerator(result):
            return _generator_steps(steps, result)
        if inspect.isasyncgen(result):
            return _async_generator_steps(steps, result)
        if inspect.iscoroutine(result):
            return _awaited(steps, result)
        return result

    return inner  # type: ignore[return-value]


def wrap(func: _F) -> _F:
    """``func``, made to run in the host of the layer active now, wherever it runs later.

    For ``ThreadPoolExecutor.submit(wrap(fn))``, ``threading.Thread(target=wrap(fn))`` and callbacks: a new thread
    does not inherit the layer. The host is captured, not the values: ``func`` reads the snapshot of the moment it
    runs, like a request would. Generator functions, async functions and callables returning a coroutine are
    wrapped as ``activate()`` decorates them. Outside any layer, ``func`` is returned as it is: it then runs in
    whatever layer is active where it is called (none, in a new thread).
    """
    host = overlay.current_host()
    if host is None:
        return func
    return _activating(host, func)
