"""Cross-process propagation: a version stamp in a shared Django cache (Redis), read on a schedule.

Each process keeps its own TTL-cached snapshot; a commit in one process only invalidates that
process's copy. With ``REQUEST_SETTINGS_BROADCAST_CACHE = "<alias>"`` the commit also writes a new
random stamp into that cache, and every process reads the stamp at most once per ``POLL_INTERVAL``:
one request per process per interval pays one GET, every other request pays a float comparison
(``SnapshotStore.get``). A stamp that differs from the last one seen drops the process's snapshot,
so the next read queries the table: a change reaches every busy worker within about
``POLL_INTERVAL`` plus one query.

A random stamp rather than a counter: one SET, no read-modify-write, and any write leaves a value
no process has seen before (``incr`` needs an add-if-missing dance when Redis restarts empty).

Redis down: publishing and polling catch the error, the outage is logged once (and its end once),
and polls back off to once per ``REQUEST_SETTINGS_CACHE_TTL``; staleness is then bounded by that
TTL, as without a broadcast. Django's ``RedisCache`` has no socket timeout by default: configure
``socket_connect_timeout`` and ``socket_timeout`` in its OPTIONS.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import caches

from request_settings.conf.settings import settings as conf

logger = logging.getLogger("request_settings")

POLL_INTERVAL = 0.5
"""Seconds between two reads of the stamp in one process: the propagation bound, less one query."""

STAMP_KEY = "request_settings.stamp"
"""Cache key of the stamp (the cache's KEY_PREFIX and VERSION apply)."""

_UNSEEN = object()


class Broadcast:
    """This process's view of the shared stamp: when to read it next, and the value read last."""

    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        self.timer = timer
        self._lock = threading.Lock()
        self.next_poll = 0.0
        """``timer()`` deadline of the next poll; read lock-free on every request."""
        self._seen: Any = _UNSEEN
        self._down = False

    def reset(self) -> None:
        """Forget the stamp and poll at the next read (our settings changed, or a test starts)."""
        with self._lock:
            self.next_poll = 0.0
            self._seen = _UNSEEN
            self._down = False

    def claim(self) -> bool:
        """Once the deadline has passed: True for the one caller that should poll now (no I/O).

        Moves the deadline first, so the other threads and tasks of this process keep serving
        meanwhile; the event loop calls this before handing ``check()`` to a thread.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            now = self.timer()
            if now < self.next_poll:
                return False
            self.next_poll = now + POLL_INTERVAL
            return conf.BROADCAST_CACHE is not None
        finally:
            self._lock.release()

    def check(self) -> bool:
        """Read the stamp (blocking I/O): True when it moved since the last read."""
        alias = conf.BROADCAST_CACHE
        if alias is None:
            return False
        try:
            stamp = caches[alias].get(STAMP_KEY)
        except Exception:  # any backend error: requests never fail because of the broadcast
            self._failed("read the change stamp from", alias)
            return False
        with self._lock:
            if self._down:
                self._down = False
                logger.info("The %r cache is reachable again: changes propagate through it again.", alias)
            moved = bool(stamp != self._seen)
            self._seen = stamp
        return moved

    def publish(self) -> None:
        """Tell every process that the table changed (call after commit)."""
        alias = conf.BROADCAST_CACHE
        if alias is None:
            return
        try:
            caches[alias].set(STAMP_KEY, uuid.uuid4().hex, timeout=None)
        except Exception:  # the change is committed; other processes will see it within the TTL
            self._failed("publish a change to", alias)

    def _failed(self, action: str, alias: str) -> None:
        ttl = conf.CACHE_TTL
        with self._lock:
            # Back off: while the cache is down, one request per TTL, not per interval, pays the
            # timeout.
            self.next_poll = max(self.next_poll, self.timer() + max(POLL_INTERVAL, ttl))
            first = not self._down
            self._down = True
        if first:
            logger.warning(
                "Could not %s the %r cache; other processes see changes within "
                "REQUEST_SETTINGS_CACHE_TTL (%s s) until it is back. Logged once per outage.",
                action,
                alias,
                ttl,
                exc_info=True,
            )


broadcast = Broadcast()
