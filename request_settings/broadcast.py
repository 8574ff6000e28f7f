"""Faster propagation through a shared Django cache (Redis): a version stamp written on every commit.

Without it, every process learns of a change from the database's change version within
``REQUEST_SETTINGS_POLL_INTERVAL``. With ``REQUEST_SETTINGS_BROADCAST_CACHE = "<alias>"`` a commit also writes a new
random stamp into that cache, and each process's background refresher reads it every ``POLL_INTERVAL`` seconds (a
Redis GET is cheaper than a query): a change reaches every process in about that plus one refresh.

A random stamp rather than a counter: one SET, no read-modify-write, and any write leaves a value no process has seen
before (``incr`` needs an add-if-missing dance when Redis restarts empty).

Redis down: publishing and reading catch the error; the outage is logged once and its end once. While it lasts the
stamp is read at most once per ``RETRY_INTERVAL`` (a read may wait for a socket timeout), and the database poll
still bounds propagation; the first successful read restores the normal interval at once. Django's ``RedisCache`` has
no socket timeout by default: configure ``socket_connect_timeout`` and ``socket_timeout`` in its OPTIONS.
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

POLL_INTERVAL = 0.05
"""Seconds between two reads of the stamp in one process (a Redis GET in the background thread, never a request)."""

RETRY_INTERVAL = 0.25
"""Seconds between two reads of the stamp while the cache is down: the first one that succeeds ends the outage."""

STAMP_KEY = "request_settings.stamp"
"""Cache key of the stamp (the cache's KEY_PREFIX and VERSION apply)."""

_UNSEEN = object()


class Broadcast:
    """This process's view of the shared stamp: the value read last, and whether the cache is down."""

    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        self.timer = timer
        self._lock = threading.Lock()
        self._seen: Any = _UNSEEN
        self.down = False
        self.next_read = 0.0
        """``timer()`` time of the next read of the stamp."""

    def reset(self) -> None:
        """Forget the stamp (our settings changed, or a test starts)."""
        with self._lock:
            self._seen = _UNSEEN
            self.down = False
            self.next_read = 0.0

    def after_fork(self) -> None:
        self._lock = threading.Lock()

    @staticmethod
    def enabled() -> bool:
        return conf.BROADCAST_CACHE is not None

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
            self.next_read = self.timer() + POLL_INTERVAL
            if self.down:
                self.down = False
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
        except Exception:  # the change is committed; other processes see it at their next database poll
            self._failed("publish a change to", alias)

    def _failed(self, action: str, alias: str) -> None:
        with self._lock:
            self.next_read = self.timer() + RETRY_INTERVAL
            first = not self.down
            self.down = True
        if first:
            logger.warning(
                "Could not %s the %r cache; other processes see changes at their next database poll "
                "(REQUEST_SETTINGS_POLL_INTERVAL) until it is back. Logged once per outage.",
                action,
                alias,
                exc_info=True,
            )


broadcast = Broadcast()
