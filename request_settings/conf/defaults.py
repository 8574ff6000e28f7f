"""Defaults of request_settings' own configuration; override each as ``REQUEST_SETTINGS_<NAME>`` in settings.py."""

from __future__ import annotations

from typing import Any

ENABLED = True
"""The kill switch: False makes the middleware and ``activate()`` apply nothing."""

CACHE_TTL: float = 5
"""Seconds a snapshot of the override table lives in each process."""

MODEL = "request_settings.SettingOverride"
"""``app_label.Model`` of the override table; fixed at start-up, like AUTH_USER_MODEL."""

ALLOWED: Any = None
"""None for the default policy, or the collection of keys that may be overridden (minus the built-in refusals)."""

DENIED: Any = ()
"""Keys to refuse on top of the built-in list."""

HOST_RESOLVER = "request_settings.hosts.host_from_request"
"""Dotted path of ``callable(request) -> str`` giving the tenant key of a request."""

BROADCAST_CACHE: str | None = None
"""Alias of a Django cache (Redis) through which a change reaches other processes in about a second."""

FIELDS: dict[str, dict[str, Any]] = {}
"""Form field declarations per key: ``{"KEY": {"field": "django.forms.IntegerField", **kwargs}}``."""
