"""Defaults of request_settings' own configuration; override each as ``REQUEST_SETTINGS_<NAME>`` in settings.py."""

from __future__ import annotations

from typing import Any

ENABLED = True
"""The kill switch: False makes the middleware and ``activate()`` apply nothing."""

CACHE_TTL: float = 5
"""Seconds between two full reads of the table per process: the bound for rows written behind the app's back."""

POLL_INTERVAL: float = 0.5
"""Seconds between two reads of the database's change version per process (in a background thread)."""

LISTEN = False
"""True (PostgreSQL, psycopg 3.2+): changes are also pushed through LISTEN/NOTIFY. Off by default because PgBouncer
in transaction mode drops LISTEN; the poll stays as the fallback."""

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

MAX_VALUE_DEPTH = 32
"""How deeply a stored value may nest lists and objects; deeper ones are refused on every write path."""

MAX_VALUE_SIZE = 65536
"""The largest stored value, in bytes of compact JSON (UTF-8); larger ones are refused on every write path."""

URL_HOSTS: Any = ()
"""Hosts that honored URL settings (LOGIN_URL, LOGIN_REDIRECT_URL, ...) may name in an absolute URL; by default
they accept only a path on the site itself or a URL name."""

CELERY_REQUIRE_HOST = False
"""With ``request_settings.contrib.celery``: True makes a task whose message names no host (published outside any
layer) fail before its body runs, instead of running with settings.py values."""

PREVIEW_BANNER = True
"""While a browser previews its author's drafts, insert a banner listing them (with links to publish or discard)
before ``</body>`` of every HTML page; False leaves responses untouched."""
