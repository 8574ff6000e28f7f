"""What a request for a host gets, key by key, and where each value comes from.

One resolver for every screen that explains values (the JSON API's ``effective/``, the debug-toolbar panel; the
admin's effective-settings page and the command's ``get`` can share it too). It reads the rows, never the cached
snapshot, so it answers for the table as committed now, and it judges each row like ``store.build_snapshot``: a row
the policy refuses, or whose value is invalid, is skipped, with the reason kept. A scheduled value in effect now
(``SettingSchedule``) takes the place of the plain row of its (key, host); precedence between hosts is unchanged.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone

from request_settings import policy
from request_settings.conf.settings import settings as conf
from request_settings.exceptions import InvalidHost
from request_settings.hosts import clean_host, matching_patterns
from request_settings.models import SettingSchedule, get_override_model
from request_settings.snapshot import DELETED

MISSING: Any = object()
"""The settings.py value of a key that settings.py does not define."""


class Source(str, enum.Enum):
    """Where an effective value comes from, in precedence order (strongest first)."""

    HOST = "host"
    PATTERN = "pattern"
    ALL_HOSTS = "all_hosts"
    SETTINGS = "settings"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Source.HOST: "host row",
    Source.PATTERN: "pattern row",
    Source.ALL_HOSTS: "all-hosts row",
    Source.SETTINGS: "settings.py",
}


@dataclass(frozen=True)
class Effective:
    """One key as a request for ``host`` sees it."""

    key: str
    host: str
    value: Any
    """The effective value; ``MISSING`` when neither a row nor settings.py sets it."""
    source: Source
    source_host: str | None
    """The host of the row that wins (``""`` for the all-hosts row, ``*.example.com`` for a pattern); None for
    settings.py."""
    base: Any
    """The settings.py value, or ``MISSING``."""
    ignored: Sequence[tuple[str, str]] = field(default_factory=tuple)
    """Rows stronger than the winner that do not apply: ``(row host, reason in words)``."""
    scheduled: bool = False
    """True when the value is a scheduled value in effect now (``SettingSchedule``), in place of the plain row."""
    until: datetime.datetime | None = None
    """The end of that scheduled value's window (None: until changed, or not scheduled)."""

    @property
    def is_set(self) -> bool:
        return self.value is not MISSING


def scopes(host: str) -> list[str]:
    """The row hosts that apply to ``host``, strongest first: the host, its patterns (longest first), all hosts.

    ``a.b.example.com`` -> ``["a.b.example.com", "*.b.example.com", "*.example.com", "*.com", ""]``; ``""`` (an
    unknown host, or the all-hosts view) -> ``[""]``.
    """
    if not host:
        return [""]
    return [host, *matching_patterns(host), ""]


def keys_in_view() -> list[str]:
    """The keys worth showing: every key with a row, and every key declared in REQUEST_SETTINGS_FIELDS."""
    # order_by(): the model's default (host, key) ordering would put host into DISTINCT, one entry per row.
    in_use = get_override_model()._default_manager.order_by().values_list("key", flat=True).distinct()
    now = timezone.now()
    scheduled = SettingSchedule.objects.filter(Q(end__isnull=True) | Q(end__gt=now)).order_by()
    return sorted(set(in_use) | set(scheduled.values_list("key", flat=True).distinct()) | set(conf.FIELDS))


def row_problem(key: str, value: Any, host: str) -> str | None:
    """Why the snapshot skips a row, in words (the same judgement as ``snapshot.build``); None if it applies.

    A row written behind the app's back may also have a host no request has (``Shop.Example.com``): it never applies.
    """
    try:
        named: str | None = clean_host(host)
    except InvalidHost:
        named = None
    if named != host:
        return f"{host!r} is not a host a request can have" + (
            "" if named is None else f"; it would be stored as {named!r}"
        )
    reason = policy.refusal(key)
    if reason is not None:
        return f"{key} cannot be overridden: {reason}"
    accepted = policy.value_problem(key, value, host=host)
    if accepted is None:
        return None
    from request_settings.forms import display_value  # masked: the reason is shown to viewers

    return f"{display_value(key, value)} is not valid for {key}, expected {accepted}"


def resolve(
    host: str, keys: Iterable[str] | None = None, *, drafts: Mapping[tuple[str, str], Any] | None = None
) -> list[Effective]:
    """Each key (default: ``keys_in_view()``) as a request for ``host`` gets it, sorted by key; two queries
    (the rows, and the scheduled values in effect now).

    ``host`` is a normalised host name, or ``""`` for what an unknown host gets. With REQUEST_SETTINGS_ENABLED off,
    every key comes from settings.py. ``drafts`` (``(key, host) -> value``, or ``snapshot.DELETED`` for a removal)
    are applied over the rows: what the drafts' author previews (``preview.draft_changes``).
    """
    wanted = sorted(set(keys_in_view() if keys is None else keys))
    order = scopes(host)
    rows: dict[str, dict[str, Any]] = {}
    if wanted:
        found = (
            get_override_model()
            ._default_manager.filter(key__in=wanted, host__in=order)
            .values_list("key", "host", "value")
        )
        for key, row_host, value in found:
            rows.setdefault(key, {})[row_host] = value
    for (key, row_host), value in (drafts or {}).items():
        if key in wanted and row_host in order:
            if value is DELETED:
                rows.get(key, {}).pop(row_host, None)
            else:
                rows.setdefault(key, {})[row_host] = value
    windows = _windows_in_effect(wanted, order)  # a window in effect wins over a drafted row, as once published
    return [_resolve_key(key, host, order, rows.get(key, {}), windows.get(key, {})) for key in wanted]


def _windows_in_effect(keys: list[str], order: list[str]) -> dict[str, dict[str, SettingSchedule]]:
    """The scheduled values in effect now of ``keys`` for the row hosts ``order``, by key then row host."""
    windows: dict[str, dict[str, SettingSchedule]] = {}
    if not keys:
        return windows
    now = timezone.now()
    in_effect = SettingSchedule.objects.filter(key__in=keys, host__in=order, start__lte=now).filter(
        Q(end__isnull=True) | Q(end__gt=now)
    )
    for window in in_effect:
        windows.setdefault(window.key, {})[window.host] = window
    return windows


_NO_WINDOWS: dict[str, SettingSchedule] = {}


def _resolve_key(
    key: str, host: str, order: list[str], rows: dict[str, Any], windows: dict[str, SettingSchedule] = _NO_WINDOWS
) -> Effective:
    base = policy.base_value(key, MISSING)
    ignored: list[tuple[str, str]] = []
    enabled = conf.ENABLED
    for row_host in order:
        # A scheduled value in effect first, in place of the plain row; if it cannot apply, the plain row may.
        candidates: list[tuple[Any, SettingSchedule | None]] = []
        if row_host in windows:
            candidates.append((windows[row_host].value, windows[row_host]))
        if row_host in rows:
            candidates.append((rows[row_host], None))
        for value, window in candidates:
            problem = row_problem(key, value, row_host)
            if problem is not None:
                ignored.append((row_host, problem if window is None else f"scheduled value: {problem}"))
                continue
            if not enabled:
                ignored.append((row_host, "REQUEST_SETTINGS_ENABLED is False"))
                continue
            if row_host == host and host:
                source = Source.HOST
            elif row_host:
                source = Source.PATTERN
            else:
                source = Source.ALL_HOSTS
            # Weaker rows are shadowed by this one, not judged: ``ignored`` lists the stronger rows that were skipped.
            return Effective(
                key,
                host,
                policy.coerce(key, value),
                source,
                row_host,
                base,
                tuple(ignored),
                scheduled=window is not None,
                until=None if window is None else window.end,
            )
    return Effective(key, host, base, Source.SETTINGS, None, base, tuple(ignored))
