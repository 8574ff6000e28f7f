"""Django's task framework (``django.tasks``, Django 6.0+): the host of the layer follows a task to its worker.

What ``django.tasks`` offers, read in Django 6.0's source: a task travels to a worker as its path, options,
``args`` and ``kwargs`` (JSON) only; ``TaskResult`` has no headers or metadata, and the signals ``task_enqueued``,
``task_started`` and ``task_finished`` carry nothing but the result. So a signal cannot carry the host. What can:
the backend's ``task_class``, the ``Task`` subclass that ``@task`` builds for that backend. ``HostTask`` adds the
host to the keyword arguments when it is enqueued inside a layer (``request_settings_host``) and, wherever the
backend's worker calls it (``Task.call`` / ``Task.acall``), takes it out again and runs the function inside
``activate(host)``, reading that process's own fresh snapshot. A task enqueued outside any layer runs outside any
layer. Give a backend ``HostTaskBackendMixin`` first in its bases::

    class Backend(HostTaskBackendMixin, SomeTaskBackend):
        pass
"""

from __future__ import annotations

from typing import Any

try:
    from django.tasks import Task, TaskResult
except ImportError as error:  # pragma: no cover - Django 5.2 has no task framework
    raise ImportError("request_settings.contrib.django_tasks needs Django 6.0 or later (django.tasks).") from error

from request_settings import overlay
from request_settings.activation import activate

HOST_KWARG = "request_settings_host"
"""The keyword argument that carries the host (``""``: the all-hosts layer); the function never receives it."""


class HostTask(Task):  # type: ignore[type-arg]
    """A ``django.tasks.Task`` that carries the host of the layer it was enqueued in to where it runs."""

    __slots__ = ()

    def enqueue(self, *args: Any, **kwargs: Any) -> TaskResult:  # type: ignore[type-arg]
        return super().enqueue(*args, **_with_host(kwargs))

    async def aenqueue(self, *args: Any, **kwargs: Any) -> TaskResult:  # type: ignore[type-arg]
        return await super().aenqueue(*args, **_with_host(kwargs))

    def call(self, *args: Any, **kwargs: Any) -> Any:
        if HOST_KWARG not in kwargs:
            return super().call(*args, **kwargs)
        host = kwargs.pop(HOST_KWARG)
        with activate(host):
            return super().call(*args, **kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        if HOST_KWARG not in kwargs:
            return await super().acall(*args, **kwargs)
        host = kwargs.pop(HOST_KWARG)
        async with activate(host):
            return await super().acall(*args, **kwargs)


def _with_host(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` plus the active layer's host; an explicit ``request_settings_host`` is kept."""
    host = overlay.current_host()
    if host is None or HOST_KWARG in kwargs:
        return kwargs
    return {**kwargs, HOST_KWARG: host}


class HostTaskBackendMixin:
    """Put first in a task backend's bases: the tasks ``@task`` builds for it are ``HostTask``."""

    task_class = HostTask
