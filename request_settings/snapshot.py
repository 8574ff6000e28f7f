"""The override table in memory: each host's own rows, and the all-hosts rows apart.

A request's layer is a chain, most specific first: the host's own rows, the rows of the patterns it matches
(``*.eu.example.com`` before ``*.example.com``), the all-hosts rows. The overlay looks a key up along the chain, so
precedence is per key and memory is O(rows): no host holds a copy of the all-hosts rows.

The hosts' rows are spread over a fixed number of buckets. A refresh copies only the buckets it changes, so it costs
O(changes) whatever the tenant count, and every published snapshot is consistent and never mutated.

Each host's rows are kept packed (``marshal`` bytes) and unpacked on use, into a small per-snapshot memo of the hosts
in use. A dict of strings and bytes is a container the garbage collector does not track, so a million tenants add
nothing to the collector's work: with the rows as dicts, every full collection walked them all (+140 ms at 1M hosts,
in whichever request triggered it).
"""

from __future__ import annotations

import logging
import marshal
import math
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from request_settings import overlay, policy
from request_settings.hosts import is_pattern, matching_patterns
from request_settings.jsonfield import Undecodable

logger = logging.getLogger("request_settings")

Rows = Mapping[str, Any]
Layer = tuple[Rows, ...]
Row = tuple[str, str, Any]
"""(key, host, value) as stored."""
Packed = bytes | Rows
"""A host's rows as kept: marshal bytes, or the dict itself in the rare case marshal refuses a value."""

_BUCKETS = 256
_MASK = _BUCKETS - 1
_NO_ROWS: Rows = {}
_IN_USE = 4096
"""Unpacked hosts a snapshot memoises: beyond, the memo starts again (the collector tracks what it holds)."""


class Snapshot:
    """One consistent version of the table; never mutated once built (``changed()`` makes a new one)."""

    __slots__ = (
        "_all_chain",
        "_buckets",
        "_in_use",
        "all_hosts",
        "full_at",
        "key_set",
        "loaded_at",
        "next_switch",
        "patterns",
        "raw_hosts",
        "raw_hosts_limit",
        "read_wall",
        "row_count",
        "scheduled",
        "version",
    )

    def __init__(
        self,
        version: int,
        buckets: tuple[dict[str, Packed], ...],
        all_hosts: Rows,
        patterns: frozenset[str],
        row_count: int,
        *,
        loaded_at: float,
        full_at: float,
        key_set: frozenset[str] = frozenset(),
        read_wall: float = 0.0,
        next_switch: float = math.inf,
        scheduled: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.version = version
        """The change version this snapshot has caught up with (-1: not read from the table)."""
        self._buckets = buckets
        self._in_use: dict[str, Rows] = {}
        self.all_hosts = all_hosts
        self._all_chain: Layer = (all_hosts,)
        self.patterns = patterns
        """The pattern hosts that have rows: a request host walks its labels only when there are some."""
        self.row_count = row_count
        self.loaded_at = loaded_at
        """``time.monotonic()`` of the read it came from."""
        self.full_at = full_at
        """``time.monotonic()`` of the last full read of the table it descends from."""
        self.raw_hosts: dict[str, str] = {}
        """Raw Host headers resolved to a host with rows (see ``hosts.snapshot_host``)."""
        self.raw_hosts_limit = 4 * (row_count + 1)
        self.key_set = key_set
        """Every key some row overrides (after ``changed()``: or did, since the last full read)."""
        self.read_wall = read_wall
        """``time.time()`` of the read: schedules that switched after it are not in this snapshot yet."""
        self.next_switch = next_switch
        """``time.time()`` of the next scheduled start or end (``timetable.py``): stale from then on."""
        self.scheduled = scheduled
        """The (key, host) pairs whose value comes from a schedule in effect, not from the plain row."""

    def rows_of(self, host: str) -> Rows | None:
        """The rows of exactly ``host`` (a host or a pattern); None when it has none."""
        rows = self._in_use.get(host)
        if rows is not None:
            return rows
        packed = self._buckets[hash(host) & _MASK].get(host)
        if packed is None:
            return None
        rows = _unpack(packed)
        if len(self._in_use) >= _IN_USE:
            self._in_use.clear()
        self._in_use[host] = rows
        return rows

    def has_rows(self, host: str) -> bool:
        """Whether a request for ``host`` gets rows of its own (exact or through a pattern)."""
        if host in self._buckets[hash(host) & _MASK]:
            return True
        return bool(self.patterns) and any(pattern in self.patterns for pattern in matching_patterns(host))

    def layer(self, host: str) -> Layer:
        """The chain a request for ``host`` reads: its rows, its patterns' rows, the all-hosts rows."""
        own = self.rows_of(host) if host else None
        if not self.patterns:
            return self._all_chain if own is None else (own, self.all_hosts)
        chain = [] if own is None else [own]
        if host and not is_pattern(host):
            chain.extend(self.rows_of(p) or _NO_ROWS for p in matching_patterns(host) if p in self.patterns)
        chain.append(self.all_hosts)
        return tuple(chain)

    def hosts(self) -> Iterator[str]:
        """Every host (and pattern) that has rows of its own."""
        for bucket in self._buckets:
            yield from bucket

    def keys(self) -> set[str]:
        """Every key some row overrides (after ``changed()``: or did, since the last full read)."""
        return set(self.key_set)

    def changed(
        self,
        changes: Mapping[tuple[str, str], Any],
        version: int,
        *,
        loaded_at: float,
        read_wall: float | None = None,
        next_switch: float | None = None,
        scheduled: frozenset[tuple[str, str]] | None = None,
    ) -> Snapshot:
        """A new snapshot with ``changes`` applied: ``(key, host) -> value``, or ``DELETED``; the rest is kept."""
        buckets = list(self._buckets)
        copied: set[int] = set()
        all_hosts = dict(self.all_hosts) if any(host == "" for _key, host in changes) else None
        row_count = self.row_count
        added = {key for (key, _host), value in changes.items() if value is not DELETED} - self.key_set
        for (key, host), value in changes.items():
            if host == "":
                assert all_hosts is not None
                row_count += _apply(all_hosts, key, value)
                continue
            index = hash(host) & _MASK
            if index not in copied:
                buckets[index] = dict(buckets[index])
                copied.add(index)
            packed = buckets[index].get(host)
            rows = {} if packed is None else dict(_unpack(packed))
            row_count += _apply(rows, key, value)
            if rows:
                buckets[index][host] = _pack(rows)
            else:
                buckets[index].pop(host, None)
        patterns = frozenset(h for i in copied for h in buckets[i] if is_pattern(h)) | frozenset(
            p for p in self.patterns if (hash(p) & _MASK) not in copied
        )
        return Snapshot(
            version,
            tuple(buckets),
            self.all_hosts if all_hosts is None else all_hosts,
            patterns,
            row_count,
            loaded_at=loaded_at,
            full_at=self.full_at,
            key_set=self.key_set | added if added else self.key_set,
            read_wall=self.read_wall if read_wall is None else read_wall,
            next_switch=self.next_switch if next_switch is None else next_switch,
            scheduled=self.scheduled if scheduled is None else scheduled,
        )


DELETED = object()
"""The value of a ``(key, host)`` that a change removed."""


def _apply(rows: dict[str, Any], key: str, value: Any) -> int:
    """Set or remove one key; the change in the row count."""
    had = key in rows
    if value is DELETED:
        rows.pop(key, None)
        return -1 if had else 0
    rows[key] = value
    return 0 if had else 1


def _pack(rows: dict[str, Any]) -> Packed:
    try:
        return marshal.dumps(rows)
    except ValueError:  # nested past marshal's limit: kept as is, tracked by the collector like any dict
        return rows


def _unpack(packed: Packed) -> Rows:
    if isinstance(packed, bytes):
        rows: Rows = marshal.loads(packed)
        return rows
    return packed


def empty(version: int = -1, *, now: float | None = None) -> Snapshot:
    """No overrides: settings.py values everywhere."""
    now = time.monotonic() if now is None else now
    return Snapshot(version, tuple({} for _ in range(_BUCKETS)), {}, frozenset(), 0, loaded_at=now, full_at=now)


def build(rows: Iterable[Row], version: int, *, now: float | None = None) -> Snapshot:
    """A snapshot of ``rows``; a row the policy refuses, or whose value is bad or undecodable, is skipped and logged."""
    now = time.monotonic() if now is None else now
    all_hosts: dict[str, Any] = {}
    hosts: dict[str, dict[str, Any]] = {}
    judge = Judge()
    count = 0
    for key, host, value in rows:
        accepted = judge(key, host, value)
        if accepted is DELETED:
            continue
        key = judge.keys.get(key, key)  # one string object per key, shared by every row
        if host == "":
            all_hosts[key] = accepted
        else:
            hosts.setdefault(host, {})[key] = accepted
        count += 1
    judge.log_skipped()
    buckets: tuple[dict[str, Packed], ...] = tuple({} for _ in range(_BUCKETS))
    while hosts:  # emptied as packed: the dicts are freed as we go, never all alive twice
        host, host_rows = hosts.popitem()
        buckets[hash(host) & _MASK][host] = _pack(host_rows)
    patterns = frozenset(host for bucket in buckets for host in bucket if is_pattern(host))
    return Snapshot(
        version, buckets, all_hosts, patterns, count, loaded_at=now, full_at=now, key_set=frozenset(judge.keys)
    )


def _invalid(key: str, value: Any, problem: str) -> str:
    """Why a row is skipped, its value masked when the key looks secret (logs travel further than the admin)."""
    from request_settings.forms import display_value

    return f"{display_value(key, value)} is not valid, expected {problem}"


class Judge:
    """Validates rows the way every snapshot does; keys are few and rows many, so each key is judged once."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self._rules: dict[str, tuple[str | None, policy.Validator | None]] = {}
        self._skipped: dict[tuple[str, str], list[str]] = {}
        """(key, reason) -> hosts: logged once per reason, however many hosts (a refused key on 100k hosts)."""

    def __call__(self, key: str, host: str, value: Any) -> Any:
        """The value to serve (coerced to the settings.py type), or ``DELETED`` when the row must be skipped."""
        if key not in self._rules:
            refused = policy.refusal(key)
            self._rules[key] = (refused, None if refused else policy.value_checker(key))
            if not refused:
                overlay.make_overridable(key)
                self.keys[key] = sys.intern(key)
        refused, check = self._rules[key]
        reason: str | None
        if isinstance(value, Undecodable):
            reason = f"its stored value cannot be decoded ({value.error})"
        else:
            problem = check(value, host=host) if check else None  # type: ignore[call-arg]
            reason = refused or (_invalid(key, value, problem) if problem else None)
        if reason:
            self._skipped.setdefault((key, reason), []).append(host)
            return DELETED
        return policy.coerce(key, value)

    def log_skipped(self) -> None:
        for (key, reason), hosts in self._skipped.items():
            if len(hosts) == 1:
                logger.warning("Skipped the override of %s for host %r: %s.", key, hosts[0], reason)
            else:
                shown = ", ".join(repr(host) for host in hosts[:3]) + (
                    f" and {len(hosts) - 3} more" if len(hosts) > 3 else ""
                )
                logger.warning("Skipped the override of %s for %d hosts (%s): %s.", key, len(hosts), shown, reason)
        self._skipped.clear()
