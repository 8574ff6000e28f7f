"""The background refresher thread: started lazily, off under Django's test runner, again after a fork."""

from __future__ import annotations

import math
import threading
import time
from unittest import mock

import pytest
from django.test import override_settings

from request_settings import store as store_module
from request_settings.models import SettingOverride
from request_settings.refresher import Refresher
from request_settings.store import store
from tests.utils import background_refresher

KEY = "SESSION_EXPIRE_SECONDS"


def wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def background():
    """The refresher on, and a write by another process (of ``KEY``) that never collides with its reads."""
    with background_refresher() as another_process_sets:
        yield lambda value, host="": another_process_sets(KEY, value, host)


def test_off_under_djangos_test_runner():
    store.reset()
    store._start_refresher()
    assert store.refresher is store_module._OFF
    assert not any(isinstance(t, Refresher) for t in threading.enumerate()), threading.enumerate()


@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_SETTINGS_POLL_INTERVAL=0.05)
def test_the_thread_brings_another_process_change_without_any_request_waiting(background):
    SettingOverride.objects.set(KEY, 600)
    assert store.get().all_hosts == {KEY: 600}
    assert isinstance(store.refresher, Refresher) and store.refresher.is_alive()
    background(60)
    assert wait_for(lambda: store.cached().all_hosts == {KEY: 60}), "the change never arrived"
    assert store.get().all_hosts == {KEY: 60}


@pytest.mark.django_db(transaction=True)
def test_reset_stops_the_thread_and_closes_its_connection(background):
    store.get()
    thread = store.refresher
    store.reset()
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_SETTINGS_POLL_INTERVAL=0.05)
def test_a_failing_round_is_logged_and_the_thread_goes_on(background, caplog):
    SettingOverride.objects.set(KEY, 600)
    store.get()
    rounds = store.refresher.rounds
    with mock.patch.object(store, "refresh", side_effect=[RuntimeError("boom"), mock.DEFAULT]) as refresh:
        refresh.return_value = None
        assert wait_for(lambda: store.refresher.rounds >= rounds + 3)
    assert "The request_settings refresher failed a round; retrying." in caplog.messages
    assert store.refresher.is_alive()


def test_after_a_fork_the_child_has_no_thread_and_no_held_lock():
    store.reset()
    store._lock.acquire()  # held by a parent thread at the moment of the fork
    store.refresher = object()
    store.after_fork()
    assert store.refresher is None
    assert store._lock.acquire(blocking=False)
    store._lock.release()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_SETTINGS_LISTEN=True, REQUEST_SETTINGS_POLL_INTERVAL=30)
def test_listen_notify_delivers_a_change_long_before_the_next_poll(background):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY needs PostgreSQL: run it with tox -e postgres")
    SettingOverride.objects.set(KEY, 600)
    store.get()
    assert wait_for(lambda: store.refresher._listening is not None)
    listening_since = store.refresher.rounds
    assert wait_for(lambda: store.refresher.rounds >= listening_since + 2)  # still listening, slice after slice
    background(60)
    assert wait_for(lambda: store.cached().all_hosts == {KEY: 60}, seconds=10)  # the poll would take 30 s


class FakeListening:
    """A psycopg connection's ``notifies()``: yields the queued notifications, or raises when the server is gone."""

    def __init__(self, notifications=(), error=None):
        self.notifications = list(notifications)
        self.error = error
        self.timeouts = []

    def notifies(self, timeout, stop_after):
        self.timeouts.append(timeout)
        if self.error:
            raise self.error
        yield from self.notifications[:stop_after]


@override_settings(REQUEST_SETTINGS_LISTEN=True)
def test_a_notification_makes_the_next_round_refresh_at_once():
    refresher = Refresher(store)
    refresher._listen = lambda: True  # LISTEN itself is set up on PostgreSQL (the test above)
    refresher._listening = FakeListening(notifications=["42"])
    refresher.wait(30)
    assert refresher.notified
    assert refresher._listening.timeouts == [0.25]  # waits in slices, so stop() is heard quickly


@override_settings(REQUEST_SETTINGS_LISTEN=True)
def test_a_lost_listen_connection_falls_back_to_polling_and_is_logged_once(caplog):
    refresher = Refresher(store)
    refresher._listen = lambda: True
    for _ in range(3):
        refresher._listening = FakeListening(error=OSError("server closed the connection"))
        refresher.wait(0.01)
    assert refresher._listening is None
    assert caplog.messages.count("LISTEN on 'request_settings' stopped; polling until it is back.") == 1
    assert isinstance(caplog.records[0].exc_info[1], OSError)  # the operator sees why


@override_settings(REQUEST_SETTINGS_LISTEN=True)
def test_a_listen_outage_after_a_recovery_is_logged_again(caplog):
    refresher = Refresher(store)
    refresher._listen = lambda: True
    for error in (OSError("gone"), None, OSError("gone again")):
        refresher._listening = FakeListening(error=error)
        refresher.wait(0.01)
    assert caplog.messages.count("LISTEN on 'request_settings' stopped; polling until it is back.") == 2


@override_settings(REQUEST_SETTINGS_LISTEN=True)
def test_a_short_wait_for_a_notification_is_not_stretched():
    refresher = Refresher(store)
    refresher._listen = lambda: True
    refresher._listening = FakeListening()
    refresher.wait(0.05)
    refresher.wait(0)
    assert refresher._listening.timeouts == [0.05, 0.001]
    assert not refresher.notified


@pytest.mark.django_db
@override_settings(REQUEST_SETTINGS_LISTEN=True)
def test_listen_is_postgresql_only_and_other_databases_poll():
    from django.db import connection

    if connection.vendor == "postgresql":
        pytest.skip("on PostgreSQL LISTEN works: see test_listen_notify_delivers_a_change_long_before_the_next_poll")
    refresher = Refresher(store)
    assert refresher._listen() is False
    started = time.monotonic()
    refresher.wait(0.05)
    assert time.monotonic() - started >= 0.04


@pytest.mark.django_db(transaction=True)
def test_after_a_database_outage_the_refresher_reconnects_and_reads_again(background):
    # The connection breaks under the thread (a restarted server); Django only drops such connections around
    # requests, which this thread never serves.
    from django.db import connections

    from request_settings.refresher import drop_broken_connections

    connection = connections["default"]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database is never closed (it would vanish); run it with tox -e postgres")
    SettingOverride.objects.set(KEY, 600)
    connection.ensure_connection()
    broken = connection.connection
    with mock.patch.object(type(connection), "is_usable", return_value=False):
        connection.errors_occurred = True
        drop_broken_connections()
    assert connection.connection is None
    connection.ensure_connection()
    assert connection.connection is not broken
    assert SettingOverride.objects.get(key=KEY).value == 600


def test_the_thread_is_a_daemon_named_for_thread_dumps():
    refresher = Refresher(store)
    assert refresher.daemon is True  # a process exits without anyone stopping it
    assert refresher.name == "request_settings refresher"


class FakeConnection:
    def __init__(self, *, opened, errors, usable):
        self.connection = object() if opened else None
        self.errors_occurred = errors
        self.usable = usable
        self.closed = False

    def is_usable(self):
        return self.usable

    def close(self):
        self.closed = True


def test_each_round_closes_this_threads_broken_connections_and_only_those(monkeypatch):
    """After an outage the thread's connection is dead; no request cycle closes it here (Django's does for views)."""
    from request_settings import refresher as refresher_module

    broken = FakeConnection(opened=True, errors=True, usable=False)
    recovered = FakeConnection(opened=True, errors=True, usable=True)  # an error, but the server answers
    unused = FakeConnection(opened=True, errors=False, usable=False)  # is_usable() alone says nothing
    never_opened = FakeConnection(opened=False, errors=True, usable=False)

    class Connections:
        def all(self, initialized_only=False):
            assert initialized_only is True  # never open a connection only to look at it
            return [broken, recovered, unused, never_opened]

    monkeypatch.setattr(refresher_module, "connections", Connections())
    refresher_module.drop_broken_connections()
    assert [c.closed for c in (broken, recovered, unused, never_opened)] == [True, False, False, False]


@pytest.mark.django_db(transaction=True)
def test_stop_returns_once_the_thread_has_closed_its_connections(background, monkeypatch):
    from django.db import connections

    store.get()
    thread = store.refresher
    closed_by = []
    close_all = connections.close_all

    def slow_close_all():
        time.sleep(0.2)
        closed_by.append(threading.current_thread())
        close_all()

    monkeypatch.setattr(connections, "close_all", slow_close_all)
    store.reset()
    assert not thread.is_alive()
    assert thread in closed_by


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("listen", [True, False])
def test_a_commit_notifies_its_version_only_with_listen_on(listen):
    from django.db import connection

    from request_settings import changes

    if connection.vendor != "postgresql":
        pytest.skip("NOTIFY needs PostgreSQL: run it with tox -e postgres")
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], host=db["HOST"], port=db["PORT"], user=db["USER"], autocommit=True
    ) as listener:
        listener.execute(f"LISTEN {changes.CHANNEL}")
        with override_settings(REQUEST_SETTINGS_LISTEN=listen):
            SettingOverride.objects.set(KEY, 600)
        received = [notification.payload for notification in listener.notifies(timeout=1, stop_after=1)]
    assert received == ([str(changes.current("default"))] if listen else [])


def test_stop_waits_for_a_stuck_thread_five_seconds_at_most():
    """reset() stops the thread whenever our settings change: a round stuck on a dead database must delay it a little,
    never hang it (the thread is a daemon, so an abandoned one dies with the process)."""
    refresher = Refresher(store)
    waited = []
    refresher.join = lambda timeout=None: waited.append(timeout)  # the stuck thread: join() would take the timeout
    refresher.stop()
    assert refresher._stop_event.is_set()
    assert waited == [5]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_SETTINGS_LISTEN=True)
def test_listen_is_sent_once_per_connection_and_again_after_a_reconnect(caplog):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from request_settings import changes

    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY needs PostgreSQL: run it with tox -e postgres")
    import psycopg

    refresher = Refresher(store)
    with CaptureQueriesContext(connection) as queries:
        assert refresher._listen() and refresher._listen()
    assert [query["sql"] for query in queries.captured_queries] == [f"LISTEN {changes.CHANNEL}"]  # it keeps listening

    connection.close()  # the thread's connection replaced (a broken one dropped, an outage recovered)
    connection.ensure_connection()
    assert refresher._listen()
    assert refresher._listening is connection.connection
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], host=db["HOST"], port=db["PORT"], user=db["USER"], autocommit=True
    ) as other_process:
        other_process.execute(f"NOTIFY {changes.CHANNEL}, '7'")
    refresher.wait(1)
    assert refresher.notified  # heard on the new connection
    assert not caplog.records  # no outage was taken for one


class IdleStore:
    """A store whose snapshot is fresh: a round only polls and says how long to wait (its timer stands still)."""

    full_seconds = 0.0

    def __init__(self, switch_at):
        self.switch_at = switch_at
        self.refreshed = []

    def timer(self):
        return 100.0

    def cached(self):
        return mock.Mock(version=1, full_at=100.0)

    def refresh(self, full=False):
        self.refreshed.append(full)


@override_settings(REQUEST_SETTINGS_POLL_INTERVAL=30)
def test_a_round_waits_no_longer_than_until_the_next_scheduled_switch():
    """A scheduled change takes effect when its window opens, not up to a poll interval later."""
    assert Refresher(IdleStore(switch_at=math.inf)).round() == 30
    soon = IdleStore(switch_at=time.time() + 5)
    delay = Refresher(soon).round()
    assert 4 < delay <= 5
    assert soon.refreshed == [False]
    assert Refresher(IdleStore(switch_at=time.time() - 1)).round() == 0  # overdue: at once
