"""Celery signal receivers: the host goes out in a message header and comes back as a layer on the worker.

Publishing (``before_task_publish``) adds the header when a layer is active. On the worker, ``task_prerun`` enters
``activate(host)`` and ``task_postrun`` leaves it: Celery's tracer (``celery/app/trace.py``) sends both on the
thread that runs the task, around the body *and* around the dispatch of callbacks, chains and chord bodies, so
the tasks those publish are inside the layer too and carry the host on. ``task_postrun`` is sent from a
``finally``: success, failure and retry all reset the layer.

Celery logs and swallows any exception a signal receiver raises, so a receiver cannot fail a task. The one check
that must (``REQUEST_SETTINGS_CELERY_REQUIRE_HOST``, or a header that names no host) therefore runs from
``Task.before_start``, which the tracer calls inside the task's own error handling, just before the body.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from celery import signals
from celery.app.task import Task
from django.core.exceptions import ImproperlyConfigured

from request_settings import overlay
from request_settings.activation import activate
from request_settings.conf.settings import settings as conf
from request_settings.contrib.celery import HEADER
from request_settings.exceptions import InvalidHost, MissingHost

logger = logging.getLogger("request_settings")

_Entry = tuple[str, activate | None, Exception | None]
_running: ContextVar[tuple[_Entry, ...]] = ContextVar("request_settings_celery_running", default=())
"""Per thread/task: (task id, the activate() entered for it or None, the reason it must not run or None)."""


def require_host() -> bool:
    """``REQUEST_SETTINGS_CELERY_REQUIRE_HOST``, read live and checked."""
    value = conf.CELERY_REQUIRE_HOST
    if not isinstance(value, bool):
        raise ImproperlyConfigured(
            f"REQUEST_SETTINGS_CELERY_REQUIRE_HOST should be True or False, not {value!r} ({type(value).__name__})."
        )
    return value


def _missing(task_name: str) -> MissingHost:
    return MissingHost(
        f"Task {task_name} was published outside any request_settings layer (no {HEADER!r} header), and "
        "REQUEST_SETTINGS_CELERY_REQUIRE_HOST is True. Publish it during a request or inside "
        f"request_settings.activate(host), or pass apply_async(headers={{{HEADER!r}: host}})."
    )


def add_host_header(sender: str | None = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: the active layer's host goes into the message; an explicit header is kept."""
    if headers is None:  # pragma: no cover - Celery always sends the headers (task protocol 2)
        return
    host = overlay.current_host()
    if host is not None:
        headers.setdefault(HEADER, host)
    elif HEADER not in headers and require_host():
        # Cannot raise here (Celery swallows it): say so at once in the publisher's log; the worker refuses it.
        logger.error("%s", _missing(str(sender)))


def _message_host(task: Task) -> object:
    """The header of the message being run, or None.

    A worker puts the unknown headers of a message on ``task.request``; an eager run (``apply(headers=...)``, or
    ``apply_async(headers=...)`` under ``task_always_eager``) has no message and keeps them in ``request.headers``.
    """
    request = task.request
    host = getattr(request, HEADER, None)
    if host is None and isinstance(request.headers, dict):
        host = request.headers.get(HEADER)
    return host


def enter_host(task_id: str, task: Task, **kwargs: Any) -> None:
    """``task_prerun``: run the body inside the layer of the host the message names."""
    host = _message_host(task)
    activation: activate | None = None
    problem: Exception | None = None
    if host is None:
        # No header: a message published outside any layer, or a task run eagerly (apply(), task_always_eager),
        # which runs here, inside its caller's layer if there is one.
        try:
            if overlay.current_host() is None and require_host():
                problem = _missing(task.name)
        except ImproperlyConfigured as error:
            problem = error
    else:
        try:
            activation = activate(host)  # type: ignore[arg-type]  # a header is whatever the publisher sent
        except InvalidHost as error:
            problem = MissingHost(f"Task {task.name}: the {HEADER!r} header names no host: {error}")
        else:
            try:
                activation.__enter__()
            except Exception as error:  # Celery would log and swallow it, and run the body outside any layer
                activation, problem = None, error
    _running.set((*_running.get(), (task_id, activation, problem)))


def leave_host(task_id: str, **kwargs: Any) -> None:
    """``task_postrun`` (sent from a ``finally``): restore what was active before the task."""
    stack = _running.get()
    if not stack or stack[-1][0] != task_id:  # pragma: no cover - prerun did not run for this task
        return
    _running.set(stack[:-1])
    activation = stack[-1][1]
    if activation is not None:
        activation.__exit__(None, None, None)


def refuse_without_host(task_id: str) -> None:
    """Raise, inside the task's error handling, what ``enter_host`` found wrong with the task's message."""
    stack = _running.get()
    if stack and stack[-1][0] == task_id and stack[-1][2] is not None:
        raise stack[-1][2]


def _install_gate() -> None:
    """Make ``Task.before_start`` (Celery 5.2+; a no-op by default) call ``refuse_without_host`` for every task.

    Set on Celery's base class, so tasks with any ``base=`` get it; a task class that overrides ``before_start``
    without calling ``super()`` skips the check (its body then runs outside any layer, as without this setting).
    """
    original = Task.before_start
    if getattr(original, "request_settings_gate", False):
        return

    def before_start(self: Task, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        refuse_without_host(task_id)
        original(self, task_id, args, kwargs)

    before_start.request_settings_gate = True  # type: ignore[attr-defined]
    before_start.__doc__ = original.__doc__
    Task.before_start = before_start


def connect() -> None:
    """Connect the receivers once (``AppConfig.ready()``); weak=False: they are module functions anyway."""
    signals.before_task_publish.connect(add_host_header, weak=False, dispatch_uid="request_settings_publish")
    signals.task_prerun.connect(enter_host, weak=False, dispatch_uid="request_settings_prerun")
    signals.task_postrun.connect(leave_host, weak=False, dispatch_uid="request_settings_postrun")
    _install_gate()
