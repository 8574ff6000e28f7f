"""The process's snapshot of the override table: read once, then kept current by the change version.

- A request reads one attribute and compares two integers. Refreshes run in a background thread per process
  (``refresher.py``, started lazily and again after a fork): it polls the change version every
  ``REQUEST_SETTINGS_POLL_INTERVAL`` seconds, or wakes on a broadcast stamp or a PostgreSQL NOTIFY, and reads only
  the rows that changed. A full read every ``REQUEST_SETTINGS_CACHE_TTL`` seconds (or ten times the last full read's
  duration, if longer) catches rows written behind the app's back.
- Schedules (``timetable.py``): the snapshot is stale from the next scheduled start or end; the refresher wakes then,
  and a request that comes first reads just the (key, host) pairs that switched.
- Read-your-writes: each commit of an override in this process counts in ``commits``; a request that finds the
  snapshot older than the last commit waits (bounded) for a refresh that includes it.
- Inside a transaction that wrote override rows, reads see that transaction's rows and are never cached. Django's own
  ``run_on_commit`` list tells: a rolled-back savepoint drops the marker we register with each write.
- Under Django's test runner there is no background thread (it would hold a connection open across the test
  database's teardown, and its queries would show in ``assertNumQueries``): a test process changes rows through the
  app, which invalidates precisely; after raw SQL, call ``request_settings.testing.clear_snapshot()``.
- Database down or table missing: serve the last snapshot (or settings.py values), log once per outage. Database
  access forbidden (``SimpleTestCase``, pytest-django without the db mark): serve the same, silently, cache nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.transaction import TransactionManagementError

from request_settings import changes, overlay, timetable
from request_settings.broadcast import broadcast
from request_settings.models import AbstractSettingOverride, SettingSchedule, get_override_model
from request_settings.snapshot import DELETED, Judge, Layer, Snapshot, build, empty

logger = logging.getLogger("request_settings")

WAIT = 2.0
"""Seconds a request waits for a refresh in flight before it serves the last snapshot (and logs)."""

SWITCH_RETRY = 1.0
"""Seconds before a failed read at a scheduled switch is tried again (not on every request)."""

_CHUNK = 2000
"""Rows fetched at a time by a full read (PostgreSQL: through a server-side cursor)."""

_MAX_CHANGES = 500
"""Changed (key, host) pairs above which a refresh reads the whole table instead."""

_pending: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()
"""Connections that wrote override rows in a transaction not known to have ended. Empty (falsy) in the steady
state, so requests skip the check; a connection leaves it at commit, or when its own thread finds it rolled back."""
_pending_lock = threading.Lock()


class _Committed:
    """The on_commit callback of one override write; Django drops it if the write's savepoint rolls back."""

    __slots__ = ("store", "using")

    def __init__(self, store: SnapshotStore, using: str) -> None:
        self.store = store
        self.using = using

    def __call__(self) -> None:
        with _pending_lock:
            _pending.discard(connections[self.using])  # runs in the committing thread: its connection
        self.store.invalidate()


_OFF = object()


class SnapshotStore:
    """The snapshot this process serves, and how it stays current."""

    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        self.timer = timer
        self.background: bool | None = None
        """Run the background refresher: None decides (off under Django's test runner); tests force it."""
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._current: tuple[Snapshot, int] | None = None
        """The snapshot served and the count of this process's commits it includes."""
        self.commits = 0
        self.refresher: Any = None
        self.full_seconds = 0.0
        self._down = False
        self.switch_at = math.inf
        """``time.time()`` from which the snapshot is stale: a schedule starts or ends (or a failed read retries)."""

    # -- the request path -----------------------------------------------------------------------------------------

    def get(self) -> Snapshot:
        """The snapshot for a request starting now (blocking I/O only on the first load or after a local commit)."""
        if _pending:
            own = self._own_uncommitted()
            if own is not None:
                return own
        current = self._current
        if current is None or current[1] < self.commits or time.time() >= self.switch_at:
            snapshot = self._catch_up()
        else:
            snapshot = current[0]
        if self.refresher is None:
            self._start_refresher()
        return snapshot

    async def aget(self) -> Snapshot:
        current = self._current
        if _pending or current is None or current[1] < self.commits or time.time() >= self.switch_at:
            return await sync_to_async(self.get)()  # the query runs in a thread, never in the event loop
        if self.refresher is None:
            self._start_refresher()
        return current[0]

    def get_outside_event_loop(self) -> Snapshot:
        """``get()`` for sync code that may run inside an event loop, where Django forbids queries."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.get()
        current = self._current
        if not _pending and current is not None and current[1] >= self.commits and time.time() < self.switch_at:
            return current[0]
        with ThreadPoolExecutor(max_workers=1) as executor:
            return executor.submit(_get_in_thread, self).result()

    def cached(self) -> Snapshot | None:
        """The snapshot served now, without any I/O; None before the first load."""
        current = self._current
        return None if current is None else current[0]

    # -- changes --------------------------------------------------------------------------------------------------

    def invalidate(self, *, publish: bool = True) -> None:
        """A change committed in this process: the next request waits for a snapshot that includes it.

        ``publish`` also writes a new broadcast stamp, so that other processes follow at once.
        """
        with self._commit_lock:
            self.commits += 1
        if publish:
            broadcast.publish()

    def reset(self) -> None:
        """Forget the snapshot and stop the refresher (our settings changed, or a test starts)."""
        self.stop_refresher()
        with self._lock:
            self._current = None
            self.full_seconds = 0.0
            self._down = False
            self.switch_at = math.inf
        broadcast.reset()

    def after_fork(self) -> None:
        """In a forked child: the parent's thread and any lock it held do not exist here."""
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self.refresher = None
        broadcast.after_fork()

    # -- refreshing -----------------------------------------------------------------------------------------------

    def _catch_up(self) -> Snapshot:
        target = self.commits
        first = self._current is None
        # The first load waits for a concurrent one; after a local commit the wait is bounded.
        if not self._lock.acquire(timeout=-1 if first else WAIT):
            current = self._current
            assert current is not None
            logger.warning("Waited %s s for a refresh of the overrides in flight; serving the previous snapshot.", WAIT)
            return current[0]
        try:
            current = self._current
            if current is not None and current[1] >= target and time.time() < self.switch_at:
                return current[0]
            return self.refresh_locked()
        finally:
            self._lock.release()

    def refresh(self, *, full: bool = False) -> Snapshot:
        """Bring the snapshot up to date now (the refresher's round; tests call it directly)."""
        with self._lock:
            return self.refresh_locked(full=full)

    def refresh_locked(self, *, full: bool = False) -> Snapshot:
        commits = self.commits  # read first: a commit after this point makes the next request catch up again
        current = self._current
        model = get_override_model()
        using = router.db_for_read(model)
        try:
            with _savepoint_if_in_transaction(using):
                if full or current is None or current[0].version < 0:
                    snapshot = self._read_all(model, using)
                else:
                    snapshot = self._read_changes(current[0], model, using)
        except Exception as error:
            if _forbidden(error):
                return current[0] if current is not None else empty()  # nothing cached: a later test may query
            if not isinstance(error, (DatabaseError, TransactionManagementError)):
                raise
            self._failed(model, using, error, current is not None)
            snapshot = current[0] if current is not None else empty(now=self.timer())
            self._current = (snapshot, commits)  # one try per local commit or refresher round, not per request
            wall = time.time()
            if self.switch_at <= wall:
                self.switch_at = wall + SWITCH_RETRY
            return snapshot
        if self._down:
            self._down = False
            logger.info("The %s table is readable again: overrides apply again.", model._meta.db_table)
        self._current = (snapshot, commits)
        self.switch_at = snapshot.next_switch
        return snapshot

    def _read_all(self, model: type[AbstractSettingOverride], using: str) -> Snapshot:
        started = time.monotonic()
        snapshot = self._read_table(model, using)
        self.full_seconds = time.monotonic() - started
        overlay.retain(snapshot.keys() | (self.cached() or snapshot).keys())
        return snapshot

    def _read_table(self, model: type[AbstractSettingOverride], using: str) -> Snapshot:
        """Every row, the schedules not over and the change version, in one query: one statement sees one state."""
        version = [0]  # the row is missing only after a test's flush: the next write recreates it
        wall = time.time()
        windows: list[timetable.Window] = []
        query = changes.with_version(model._default_manager.using(using), using, timetable.not_over(using, wall))

        def rows() -> Iterator[tuple[str, str, Any]]:
            # Streamed in chunks, never a list of every row: millions of short-lived tuples alive at once would make
            # each full collection of the garbage collector walk them all, pausing every thread (1.6 s at 1M hosts).
            for key, host, value, change_version, start, end in query.iterator(chunk_size=_CHUNK):
                if key is None:
                    version[0] = change_version
                elif start is not None:
                    windows.append(timetable.window(key, host, value, start, end))
                else:
                    yield key, host, value

        with _for_server_side_cursor(using):
            plain = build(rows(), 0, now=self.timer())
        plain.version = version[0]
        updates, scheduled = _scheduled_values(timetable.in_effect(windows, wall), {})
        return plain.changed(
            updates,
            plain.version,
            loaded_at=plain.loaded_at,
            read_wall=wall,
            next_switch=timetable.next_switch(windows, wall),
            scheduled=frozenset(scheduled),
        )

    def _read_changes(self, current: Snapshot, model: type[AbstractSettingOverride], using: str) -> Snapshot:
        version = changes.current(using)
        wall = time.time()
        due = wall >= current.next_switch
        if version == current.version and not due:
            return current
        pairs: set[tuple[str, str]] = set()
        if version != current.version:
            logged = changes.changed_since(using, current.version, version) if version > current.version else None
            if logged is None or len(logged) > _MAX_CHANGES:
                return self._read_all(model, using)  # the table was reset, or the log no longer reaches back
            pairs |= logged
        found, windows = _rows_and_windows(model, using, pairs, since=current.read_wall)
        if due:
            switched = timetable.switched(windows, current.read_wall, wall) - pairs
            if switched:  # a scheduled moment passed: the plain rows under those schedules too (rare: one more query)
                found.update(_rows_and_windows(model, using, switched, since=wall)[0])
                pairs |= switched
        open_now = timetable.in_effect(windows, wall)
        updates, scheduled = _scheduled_values({pair: open_now[pair] for pair in pairs if pair in open_now}, found)
        for pair in pairs - updates.keys():
            updates[pair] = DELETED
        return current.changed(
            updates,
            version,
            loaded_at=self.timer(),
            read_wall=wall,
            next_switch=timetable.next_switch(windows, wall),
            scheduled=frozenset((current.scheduled - pairs) | scheduled),
        )

    def _own_uncommitted(self) -> Snapshot | None:
        """Inside a transaction that wrote override rows: a snapshot of its own rows, never cached."""
        with _pending_lock:
            aliases = {pending.alias for pending in _pending}
        for using in aliases:
            connection = connections[using]
            if connection not in _pending:
                continue  # another thread's transaction: invisible to this connection anyway
            if not connection.in_atomic_block or not any(
                isinstance(entry[1], _Committed) for entry in connection.run_on_commit
            ):
                with _pending_lock:  # rolled back (Django dropped our callbacks): nothing pending here any more
                    _pending.discard(connection)
                continue
            try:
                with transaction.atomic(using=using):  # a savepoint: our query never breaks the caller's
                    return self._read_table(get_override_model(), using)
            except Exception as error:
                if not (_forbidden(error) or isinstance(error, DatabaseError)):
                    raise
                return None
        return None

    def _failed(self, model: type[AbstractSettingOverride], using: str, error: Exception, stale: bool) -> None:
        if self._down:
            return
        self._down = True
        table = model._meta.db_table
        missing = [name for name in (table, SettingSchedule._meta.db_table) if _table_missing(using, name)]
        if missing:
            table = missing[0]
            logger.warning("The %s table does not exist: run `manage.py migrate`. Serving settings.py values.", table)
            return
        logger.warning(
            "Could not read the %s table; serving the %s until it can be read again (logged once per outage).",
            table,
            "last overrides read" if stale else "settings.py values",
            exc_info=error,
        )

    # -- the background refresher ---------------------------------------------------------------------------------

    def _start_refresher(self) -> None:
        from request_settings.refresher import Refresher

        with self._commit_lock:
            if self.refresher is not None:
                return
            background = self.background if self.background is not None else not _under_test_runner()
            if not background:
                self.refresher = _OFF
                return
            self.refresher = Refresher(self)
        self.refresher.start()

    def stop_refresher(self) -> None:
        refresher, self.refresher = self.refresher, None
        if refresher is not None and refresher is not _OFF:
            refresher.stop()


def _rows_and_windows(
    model: type[AbstractSettingOverride], using: str, pairs: set[tuple[str, str]], *, since: float
) -> tuple[dict[tuple[str, str], Any], list[timetable.Window]]:
    """The rows of ``pairs`` and the schedules not over at ``since``, in one statement."""
    rows = model._default_manager.using(using)
    rows = rows.filter(key__in={k for k, _h in pairs}, host__in={h for _k, h in pairs}) if pairs else rows.none()
    found: dict[tuple[str, str], Any] = {}
    windows: list[timetable.Window] = []
    for key, host, value, _version, start, end in changes.padded(rows).union(
        timetable.not_over(using, since), all=True
    ):
        if start is not None:
            windows.append(timetable.window(key, host, value, start, end))
        elif (key, host) in pairs:
            found[key, host] = value
    return found, windows


def _scheduled_values(
    open_now: dict[tuple[str, str], Any], plain: dict[tuple[str, str], Any]
) -> tuple[dict[tuple[str, str], Any], set[tuple[str, str]]]:
    """What each pair serves, judged: its open schedule's value, else (refused, or none) its plain row's value.

    Pairs in neither are left out. Also the pairs served from a schedule.
    """
    judge = Judge()
    served: dict[tuple[str, str], Any] = {}
    scheduled: set[tuple[str, str]] = set()
    for (key, host), value in open_now.items():
        accepted = judge(key, host, value)
        if accepted is not DELETED:
            served[key, host] = accepted
            scheduled.add((key, host))
    for (key, host), value in plain.items():
        if (key, host) not in served:
            served[key, host] = judge(key, host, value)
    judge.log_skipped()
    return served, scheduled


def _get_in_thread(store: SnapshotStore) -> Snapshot:
    try:
        return store.get()
    finally:
        connections.close_all()


def _for_server_side_cursor(using: str) -> Any:
    """PostgreSQL streams ``iterator()`` through a server-side cursor: keep it inside a transaction, as Django asks
    for a pooler in transaction mode (PgBouncer), where a cursor outside one may be fetched on another connection."""
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return nullcontext()
    return transaction.atomic(using=using)


def _savepoint_if_in_transaction(using: str) -> Any:
    # A savepoint, so that a failing query cannot break the caller's transaction.
    return transaction.atomic(using=using) if connections[using].in_atomic_block else nullcontext()


def _forbidden(error: BaseException) -> bool:
    """Database access is forbidden here (a test that declared it needs none), not broken."""
    testcases = sys.modules.get("django.test.testcases")
    forbidden = getattr(testcases, "DatabaseOperationForbidden", None)
    if forbidden is not None and isinstance(error, forbidden):
        return True
    return type(error) is RuntimeError and str(error).startswith("Database access not allowed")  # pytest-django


def _table_missing(using: str, table: str) -> bool:
    try:
        return table not in connections[using].introspection.table_names()
    except Exception:
        return False


def _under_test_runner() -> bool:
    """Django's test environment is set up (``setup_test_environment()`` ran and was not torn down)."""
    state = getattr(sys.modules.get("django.test.utils"), "_TestState", None)
    return state is not None and hasattr(state, "saved_data")


store = SnapshotStore()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=store.after_fork)


def layer_for_host(host: str, snapshot: Snapshot) -> Layer:
    """The chain a request for ``host`` reads, under values pinned by ``override_request_settings``."""
    layer = snapshot.layer(host)
    pins = overlay.pins()
    if pins:
        pinned = [values for pinned_host, values in reversed(pins) if pinned_host is None or pinned_host == host]
        if pinned:
            layer = (*pinned, *layer)
    return layer


def on_override_written(sender: type[Any], *, instance: Any, using: str, **kwargs: Any) -> None:
    """post_save/post_delete receiver: bump the change version in the write's transaction; invalidate on commit."""
    changes.record(using, instance.key, instance.host)
    connection = connections[using]
    if connection.in_atomic_block:
        with _pending_lock:
            _pending.add(connection)
    transaction.on_commit(_Committed(store, using), using=using)


def load_after_migrate(sender: Any, *, using: str, **kwargs: Any) -> None:
    """post_migrate receiver (our app only): read the table as soon as the database is ready.

    A test database is migrated before Django's test runner forks its workers, so no test pays the first read inside
    its own ``assertNumQueries``; a flush (TransactionTestCase) migrates again, and the table is read again.
    """
    model = get_override_model()
    if using == router.db_for_read(model) and router.allow_migrate_model(using, model):
        store.refresh(full=True)  # database errors are logged and served around, never raised


invalidate_on_commit = on_override_written
"""The receiver's earlier name."""
