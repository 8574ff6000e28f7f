"""Celery integration (extra ``celery``): the host of the layer follows a task to the worker.

Add ``"request_settings.contrib.celery"`` to INSTALLED_APPS. A task published while a layer is active carries the
host in the message header ``request_settings_host``; the worker runs the task body inside ``activate(host)``,
reading its own fresh snapshot, and resets the layer afterwards whether the task succeeds, fails or retries. Tasks
that a task publishes (retries, chains, groups, chords, callbacks) publish from inside that layer, so they carry the
same host. A task published outside any layer runs outside any layer, unless
``REQUEST_SETTINGS_CELERY_REQUIRE_HOST`` is True: then it fails before its body runs, with ``MissingHost``.
"""

from __future__ import annotations

try:
    import celery  # noqa: F401
except ImportError as error:  # pragma: no cover - the core never imports this package
    raise ImportError(
        "request_settings.contrib.celery needs Celery: pip install 'django-request-settings[celery]'"
    ) from error

HEADER = "request_settings_host"
"""The message header naming the host whose layer the task runs in (``""``: the all-hosts layer)."""

__all__ = ["HEADER"]
