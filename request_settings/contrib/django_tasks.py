"""Django's task framework (``django.tasks``, Django 6.0+): the host of the layer follows a task to its worker.

What ``django.tasks`` offers, read in Django 6.0's and 6.1's source: a task travels to a worker as its import path,
options, ``args`` and ``kwargs`` (JSON) only; ``TaskResult`` has no headers or metadata, and the signals
``task_enqueued``, ``task_started`` and ``task_finished`` carry nothing but the result. So a signal cannot carry the
host. What can: the backend's ``task_class``, the ``Task`` subclass that ``@task`` builds for that backend.
``HostTask`` adds the host to the keyword arguments when it is enqueued inside a layer (``request_settings_host``)
and, wherever the backend's worker calls it (``Task.call`` / ``Task.acall``), takes it out again and runs the function
inside ``activate(host)``, reading that process's own fresh snapshot. A task enqueued outside any layer runs outside
any layer. Give a backend ``HostTaskBackendMixin`` first in its bases::

    class Backend(HostTaskBackendMixin, SomeTaskBackend):
        pass

A worker finds a task again by its import path (``Task.module_path``), which names the object ``@task`` put there, so
the task keeps its class. Django 6.1 rebuilds an unpickled or deep-copied task the same way
(``Task.__reduce__`` -> ``type(task)._reconstruct``), so it stays a ``HostTask`` there too.
"""

from __future__ import annotations

from typing import Any

try:
    from django.tasks import Task, TaskResult
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.exceptions import InvalidTask
except ImportError as error:  # pragma: no cover - Django 5.2 has no task framework
    raise ImportError("request_settings.contrib.django_tasks needs Django 6.0 or later (django.tasks).") from error

from django.core.exceptions import ImproperlyConfigured

from request_settings import overlay
from request_settings.activation import activate
from request_settings.exceptions import InvalidHost, MissingHost
from request_settings.hosts import clean_host

HOST_KWARG = "request_settings_host"
"""The keyword argument that carries the host (``""``: the all-hosts layer); the function never receives it."""

REQUIRE_HOST = "request_settings_require_host"
"""Key of a backend's ``OPTIONS``: ``True`` refuses a task enqueued outside any layer (``MissingHost`` at once) and
fails one stored without a host when a worker runs it, instead of running it with settings.py values."""


class HostTask(Task):  # type: ignore[type-arg]
    """A ``django.tasks.Task`` that carries the host of the layer it was enqueued in to where it runs."""

    __slots__ = ()

    def enqueue(self, *args: Any, **kwargs: Any) -> TaskResult:  # type: ignore[type-arg]
        return super().enqueue(*args, **self._with_host(kwargs))

    async def aenqueue(self, *args: Any, **kwargs: Any) -> TaskResult:  # type: ignore[type-arg]
        return await super().aenqueue(*args, **self._with_host(kwargs))

    def call(self, *args: Any, **kwargs: Any) -> Any:
        activation = self._activation(kwargs)
        if activation is None:
            return super().call(*args, **kwargs)
        with activation:
            return super().call(*args, **kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        activation = self._activation(kwargs)
        if activation is None:
            return await super().acall(*args, **kwargs)
        async with activation:
            return await super().acall(*args, **kwargs)

    def _with_host(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` plus the active layer's host; an explicit ``request_settings_host`` is kept, normalised."""
        if HOST_KWARG in kwargs:
            return {**kwargs, HOST_KWARG: clean_host(kwargs[HOST_KWARG], patterns=False)}
        host = overlay.current_host()
        if host is not None:
            return {**kwargs, HOST_KWARG: host}
        if _requires_host(self.get_backend()):
            raise self._missing()
        return kwargs

    def _activation(self, kwargs: dict[str, Any]) -> activate | None:
        """Take the host out of ``kwargs``: the ``activate()`` to run in, or None to run where the caller is."""
        if HOST_KWARG not in kwargs:
            # Stored outside any layer, or called directly (then inside the caller's layer, if any).
            if overlay.current_host() is None and _requires_host(self.get_backend()):
                raise self._missing()
            return None
        host = kwargs.pop(HOST_KWARG)
        try:
            return activate(host)
        except InvalidHost as error:  # written by other code than enqueue(), which checks it
            raise MissingHost(f"Task {self.module_path}: its {HOST_KWARG!r} argument names no host: {error}") from error

    def _missing(self) -> MissingHost:
        return MissingHost(
            f"Task {self.module_path} was enqueued outside any request_settings layer, and backend {self.backend!r} "
            f"has OPTIONS[{REQUIRE_HOST!r}] = True. Enqueue it during a request or inside "
            f"request_settings.activate(host), or pass {HOST_KWARG}=host."
        )


def _requires_host(backend: BaseTaskBackend) -> bool:
    return backend.options.get(REQUIRE_HOST, False) is True


class HostTaskBackendMixin(BaseTaskBackend):
    """Put first in a task backend's bases: the tasks ``@task`` builds for it are ``HostTask``.

    ``OPTIONS`` may hold ``"request_settings_require_host": True`` (see ``REQUIRE_HOST``).
    """

    task_class = HostTask

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        value = self.options.get(REQUIRE_HOST, False)
        if not isinstance(value, bool):
            raise ImproperlyConfigured(
                f"OPTIONS[{REQUIRE_HOST!r}] of task backend {alias!r} should be True or False, "
                f"not {value!r} ({type(value).__name__})."
            )

    def validate_task(self, task: Task) -> None:  # type: ignore[type-arg]
        """Refuse a plain ``Task`` (``.using(backend=...)`` of a task built for another backend): its host would be
        lost without a word, as ``using()`` keeps the class that ``@task`` chose."""
        super().validate_task(task)
        if not isinstance(task, HostTask):
            raise InvalidTask(
                f"{task.module_path} is a {type(task).__name__}, built by @task for a backend without "
                f"HostTaskBackendMixin: on backend {self.alias!r} it would run outside any request_settings layer. "
                f"Decorate it with @task(backend={self.alias!r}), or give its backend HostTaskBackendMixin too."
            )
