"""The background thread that keeps a process's snapshot current, off the request path.

Each round it reads what is due: the broadcast stamp (if configured), the database's change version (every
``REQUEST_SETTINGS_POLL_INTERVAL``), the whole table (every ``REQUEST_SETTINGS_CACHE_TTL``, or ten times the last
full read's duration if longer, so a huge table never keeps a core busy). With ``REQUEST_SETTINGS_LISTEN`` on
PostgreSQL it waits for a NOTIFY between rounds instead of sleeping, so a change arrives as soon as it commits.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from django.db import connections, router

from request_settings import changes
from request_settings.broadcast import broadcast
from request_settings.conf.settings import settings as conf
from request_settings.models import get_override_model

if TYPE_CHECKING:
    from request_settings.store import SnapshotStore

logger = logging.getLogger("request_settings")


def drop_broken_connections() -> None:
    """Close this thread's connections that failed and are no longer usable, so the next query reconnects.

    Django does this around each request (``close_old_connections`` on request_started/finished); this thread serves
    none, so after a database outage it would keep its dead connection forever. Only the "unusable" half of Django's
    rule applies: the max-age half would reconnect every round under the default ``CONN_MAX_AGE = 0``.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred and not connection.is_usable():
            connection.close()


class Refresher(threading.Thread):
    def __init__(self, store: SnapshotStore) -> None:
        super().__init__(name="request_settings refresher", daemon=True)
        self.store = store
        self._stop_event = threading.Event()
        self.next_poll = 0.0
        self.notified = False
        self._listening: Any = None
        self._listen_down = False
        self.rounds = 0

    def stop(self) -> None:
        self._stop_event.set()
        if self is not threading.current_thread():
            self.join(timeout=5)

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                try:
                    delay = self.round()
                except Exception:  # the thread must outlive any error: requests rely on it
                    logger.exception("The request_settings refresher failed a round; retrying.")
                    connections.close_all()
                    self._listening = None
                    delay = conf.POLL_INTERVAL
                self.wait(delay)
        finally:
            connections.close_all()

    def round(self) -> float:
        """Read what is due; the seconds until the next round."""
        self.rounds += 1
        drop_broken_connections()
        store = self.store
        now = store.timer()
        due = now >= self.next_poll or self.notified
        if broadcast.enabled() and now >= broadcast.next_read and broadcast.check():
            due = True
        current = store.cached()
        full = (
            current is None
            or current.version < 0
            or now - current.full_at >= max(conf.CACHE_TTL, 10 * store.full_seconds)
        )
        if due or full:
            self.notified = False
            self.next_poll = now + conf.POLL_INTERVAL
            store.refresh(full=full)
        delay = min(self.next_poll - store.timer(), store.switch_at - time.time())  # a schedule switches on time
        if broadcast.enabled():
            delay = min(delay, broadcast.next_read - store.timer())
        return max(delay, 0.0)

    def wait(self, seconds: float) -> None:
        if conf.LISTEN:
            try:
                if self._listen():
                    # In slices, so that stop() is heard within a quarter second.
                    for _notify in self._listening.notifies(timeout=min(max(seconds, 0.001), 0.25), stop_after=1):
                        self.notified = True
                    self._listen_down = False
                    return
            except Exception:
                if not self._listen_down:  # once per outage; the poll goes on meanwhile
                    logger.warning("LISTEN on %r stopped; polling until it is back.", changes.CHANNEL, exc_info=True)
                self._listen_down = True
                connections.close_all()
                self._listening = None
        self._stop_event.wait(seconds)

    def _listen(self) -> bool:
        """LISTEN on the override table's database (PostgreSQL with psycopg 3.2+); False where it cannot."""
        using = router.db_for_read(get_override_model())
        connection = connections[using]
        if self._listening is not None and self._listening is connection.connection:
            return True
        if connection.vendor != "postgresql":
            return False
        connection.ensure_connection()
        raw = connection.connection
        if not hasattr(raw, "notifies"):  # psycopg2
            return False
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {changes.CHANNEL}")
        self._listening = raw
        return True
