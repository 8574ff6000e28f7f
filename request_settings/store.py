"""The override table as an immutable, TTL-cached snapshot held in process.

One query builds the whole snapshot, ``host -> layer`` with the all-hosts rows merged under each host's rows, so a
request only does dict lookups; unknown hosts share the all-hosts layer and never grow anything. cachetools'
``TTLCache`` times the snapshot out; we keep our own last good copy beside it because ``TTLCache`` discards expired
entries, and stale-if-error needs one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any

from asgiref.sync import sync_to_async
from cachetools import TTLCache
from django.db import DatabaseError, connections, router, transaction
from django.db.transaction import TransactionManagementError

from request_settings import overlay, policy
from request_settings.broadcast import broadcast
from request_settings.conf.settings import settings as conf
from request_settings.models import get_override_model

logger = logging.getLogger("request_settings")

Snapshot = Mapping[str, Mapping[str, Any]]
"""host -> layer; ``""`` holds the all-hosts layer."""

EMPTY_SNAPSHOT: Snapshot = {"": overlay.EMPTY}
_KEY = "snapshot"


class SnapshotStore:
    """The process's cached snapshot: at most one query per TTL, stale-if-error, no stampede."""

    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        self.timer = timer
        self._lock = threading.Lock()
        self._cache = self._new_cache()
        self.last_good: Snapshot | None = None

    def _new_cache(self) -> TTLCache[str, Snapshot]:
        return TTLCache(maxsize=1, ttl=conf.CACHE_TTL, timer=self.timer)

    def reset(self) -> None:
        """Forget everything, including the last good snapshot, and re-read the TTL from settings."""
        with self._lock:
            self._cache = self._new_cache()
            self.last_good = None
        broadcast.reset()

    def invalidate(self, *, publish: bool = True) -> None:
        """Make the next read query the table; the last good snapshot stays as the fallback.

        ``publish`` also writes a new broadcast stamp, so that other processes follow.
        """
        with self._lock:  # cachetools caches are not thread-safe: every write holds the lock
            self._cache.clear()
        if publish:
            broadcast.publish()

    def follow(self) -> None:
        """Read the broadcast stamp (blocking I/O); drop the snapshot if another process wrote."""
        if broadcast.check():
            self.invalidate(publish=False)

    def cached(self) -> Snapshot | None:
        """The snapshot if it is still fresh; lock-free, so a concurrent write may make it miss, never fail."""
        try:
            return self._cache[_KEY]
        except KeyError:
            return None

    def get(self) -> Snapshot:
        # Broadcast: a float comparison per request; one request per interval reads the stamp.
        if broadcast.timer() >= broadcast.next_poll and broadcast.claim():
            self.follow()
        snapshot = self.cached()
        return snapshot if snapshot is not None else self._refresh()

    async def aget(self) -> Snapshot:
        if broadcast.timer() >= broadcast.next_poll and broadcast.claim():
            # The GET runs in a thread: it never blocks the event loop.
            await sync_to_async(self.follow, thread_sensitive=False)()
        snapshot = self.cached()
        if snapshot is not None:
            return snapshot
        if self.last_good is not None and self._lock.locked():
            return self.last_good  # another task is refreshing: never wait on it in the event loop
        return await sync_to_async(self._refresh)()

    def get_outside_event_loop(self) -> Snapshot:
        """``get()`` for sync code that may run inside an event loop, where Django forbids queries."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.get()
        snapshot = self.cached()
        if snapshot is not None:
            return snapshot
        if self.last_good is not None:
            return self.last_good
        with ThreadPoolExecutor(max_workers=1) as executor:
            return executor.submit(_refresh_in_thread, self).result()

    def _refresh(self) -> Snapshot:
        # The first load waits for a concurrent one; later ones serve the last good snapshot instead (no stampede).
        if not self._lock.acquire(blocking=self.last_good is None):
            assert self.last_good is not None
            return self.last_good
        try:
            snapshot = self.cached()
            if snapshot is not None:
                return snapshot
            model = get_override_model()
            using = router.db_for_read(model)
            in_transaction = connections[using].in_atomic_block
            try:
                snapshot = _load(model, using, in_transaction)
            except (DatabaseError, TransactionManagementError):
                fallback = self.last_good or EMPTY_SNAPSHOT
                logger.warning(
                    "Could not read the %s table; serving the %s until the next try in %s s.",
                    model._meta.db_table,
                    "last good overrides" if self.last_good else "settings.py values",
                    self._cache.ttl,
                    exc_info=True,
                )
                if not in_transaction:
                    self._cache[_KEY] = fallback  # retry once per TTL, and log once per TTL
                return fallback
            if not in_transaction:
                # Rows read inside a transaction may be uncommitted: use them for this caller, cache them never.
                self._cache[_KEY] = snapshot
                self.last_good = snapshot
            return snapshot
        finally:
            self._lock.release()


def _refresh_in_thread(store: SnapshotStore) -> Snapshot:
    try:
        return store._refresh()
    finally:
        connections.close_all()


def _load(model: type[Any], using: str, in_transaction: bool) -> Snapshot:
    if in_transaction:
        # A savepoint, so that a failing query cannot break the caller's transaction.
        with transaction.atomic(using=using):
            rows = list(model._default_manager.using(using).values_list("key", "host", "value"))
    else:
        rows = list(model._default_manager.using(using).values_list("key", "host", "value"))
    return build_snapshot(rows)


def build_snapshot(rows: list[tuple[str, str, Any]]) -> Snapshot:
    """Validate each row (a bad one is skipped and logged) and merge the all-hosts rows under each host's."""
    by_host: dict[str, dict[str, Any]] = {"": {}}
    rules: dict[str, tuple[str | None, policy.Validator | None]] = {}  # keys are few, rows many: judge each key once
    for key, host, value in rows:
        if key not in rules:
            refused = policy.refusal(key)
            rules[key] = (refused, None if refused else policy.value_checker(key))
        refused, check = rules[key]
        problem = check(value) if check else None
        if refused or problem:
            reason = refused or f"{value!r} is not valid, expected {problem}"
            logger.warning("Skipped the override of %s for host %r: %s.", key, host, reason)
            continue
        by_host.setdefault(host, {})[key] = policy.coerce(key, value)
    all_hosts = by_host.pop("")
    snapshot = {host: overlay.freeze({**all_hosts, **values}) for host, values in by_host.items()}
    snapshot[""] = overlay.freeze(all_hosts)
    return snapshot


store = SnapshotStore()


def layer_for_host(host: str, snapshot: Snapshot) -> Mapping[str, Any]:
    """The layer a request for ``host`` gets: host rows over all-hosts rows, under values pinned by tests."""
    layer = snapshot.get(host)
    if layer is None:
        layer = snapshot[""]
    pins = overlay.pins()
    if pins:
        merged = dict(layer)
        for pinned_host, values in pins:
            if pinned_host is None or pinned_host == host:
                merged.update(values)
        layer = MappingProxyType(merged)
    return layer


def invalidate_on_commit(sender: type[Any], *, using: str, **kwargs: Any) -> None:
    """post_save/post_delete receiver: this process's next request sees the change once it is committed."""
    transaction.on_commit(store.invalidate, using=using)
