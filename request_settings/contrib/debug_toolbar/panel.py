"""``RequestSettingsPanel``: the request's host, each overridden key with its value, source and settings.py value,
and what is known of the snapshot the layer came from.

The panel reads the layer while it is active: with ``RequestSettingsMiddleware`` above the toolbar's middleware
(the recommended order, first in MIDDLEWARE), that is during the panel's own ``process_request``; with the toolbar
above ours, the layer is rebuilt the way the middleware builds it, from the same cached snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from debug_toolbar.panels import Panel
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from request_settings import effective, overlay
from request_settings.conf.settings import settings as conf
from request_settings.forms import display_value, host_label
from request_settings.store import layer_for_host, store


class RequestSettingsPanel(Panel):
    """What ``django.conf.settings`` answered differently in this request, and where each value came from."""

    title = _("Request settings")
    template = "request_settings/debug_toolbar/panel.html"
    # generate_stats() reads the table (the source of each value) after the response: a query, so sync requests only.
    is_async = False

    _host: str | None = None
    _layer: Mapping[str, Any] | None = None
    _ours_first = False
    _snapshot_before: Any = None

    @property
    def nav_subtitle(self) -> str:
        stats: dict[str, Any] = self.get_stats()  # type: ignore[no-untyped-call]
        if not stats:
            return ""
        count = len(stats["rows"])
        return ngettext("%(count)d override for %(host)s", "%(count)d overrides for %(host)s", count) % {
            "count": count,
            "host": stats["host_label"],
        }

    def process_request(self, request: HttpRequest) -> HttpResponse:
        # Our middleware notes request_settings_from_cache on every request it handles: set now, it is above the
        # toolbar, its layer is active and it has already taken the snapshot.
        self._ours_first = hasattr(request, "request_settings_from_cache")
        self._host = overlay.current_host()
        # With our middleware first this is its layer; otherwise whatever the context holds around the request (a
        # test pin, an activate() block), which is all a request our middleware never handles gets.
        self._layer = overlay.current()
        self._snapshot_before = store.cached()
        response: HttpResponse = super().process_request(request)  # type: ignore[no-untyped-call]
        return response

    def generate_stats(self, request: HttpRequest, response: HttpResponse) -> None:
        enabled: bool = conf.ENABLED
        # Not handled by our middleware (not in MIDDLEWARE, the kill switch, a middleware above it answered first):
        # the table applied nothing, whatever the snapshot holds; only the context's layer (a test pin) did.
        handled = hasattr(request, "request_settings_from_cache")
        from_cache: bool | None = getattr(request, "request_settings_from_cache", None)
        if handled and not self._ours_first:
            # The toolbar ran first: rebuild the layer the way the middleware did, from the snapshot it kept.
            host = str(conf.objects.HOST_RESOLVER(request))
            snapshot = store.cached()
            layer = _as_mapping(layer_for_host(host, snapshot)) if snapshot is not None else {}
        else:
            host = self._host if self._host is not None else str(conf.objects.HOST_RESOLVER(request))
            layer = self._layer if self._layer is not None else {}
            snapshot = self._snapshot_before
        self.record_stats(  # type: ignore[no-untyped-call]
            {
                "host": host,
                "host_label": host_label(host),
                "enabled": enabled,
                "handled": handled,
                "rows": _rows(host, layer),
                "snapshot": _snapshot_facts(snapshot, from_cache),
            }
        )


def _as_mapping(layer: Any) -> Mapping[str, Any]:
    """A layer as one mapping: a chain of row mappings (most specific first) is merged, a mapping is kept."""
    if isinstance(layer, Mapping):
        return layer
    values: dict[str, Any] = {}
    for rows in reversed(layer):
        values.update(rows)
    return values


def _rows(host: str, layer: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per key the layer overrides: its value, where it comes from, and the settings.py value."""
    resolved = {line.key: line for line in effective.resolve(host, list(layer))}
    pinned = {key for pinned_host, values in overlay.pins() if pinned_host in (None, host) for key in values}
    rows = []
    for key in sorted(layer):
        value = layer[key]
        line = resolved[key]
        if key in pinned:
            source = "override_request_settings (a test pin)"
        elif line.is_set and line.value == value:
            source = line.source.label + (f" {host_label(line.source_host)}" if line.source_host is not None else "")
        else:
            source = "the snapshot (the table has changed since it was read)"
        rows.append(
            {
                "key": key,
                "value": display_value(key, value),
                "source": source,
                "settings_value": "(not in settings.py)"
                if line.base is effective.MISSING
                else display_value(key, line.base),
            }
        )
    return rows


def _snapshot_facts(snapshot: Any, from_cache: bool | None) -> dict[str, Any]:
    """What the store tells about the snapshot this request used: None for what it does not tell.

    The store's snapshot carries ``version`` (the change version it has caught up with) and ``loaded_at`` (its
    ``time.monotonic()``); a snapshot without them (before the first load) leaves age and version unknown.
    """
    loaded_at = getattr(snapshot, "loaded_at", None)
    version = getattr(snapshot, "version", None)
    return {
        "from_cache": from_cache,
        "age_seconds": None if loaded_at is None else max(0.0, time.monotonic() - loaded_at),
        "version": version,
        "ttl_seconds": conf.CACHE_TTL,
    }
