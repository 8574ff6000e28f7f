"""Propagation to other processes: the change version polled by the refresher, the Redis stamp, and outages.

"Another process" is simulated the way it looks from here: its write bumps the change version (and, with a
broadcast cache, writes a new stamp) but never invalidates this process's snapshot. Each refresher round is driven
by hand with a fake clock; tests/test_refresher.py runs the real thread, tests/load/ real servers.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from unittest import mock

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings

from request_settings import broadcast as broadcast_module
from request_settings.broadcast import RETRY_INTERVAL, STAMP_KEY, broadcast
from request_settings.models import SettingOverride
from request_settings.refresher import Refresher
from request_settings.store import store
from tests.conftest import require_server

HOST = "a.example.com"
KEY = "SESSION_EXPIRE_SECONDS"


class CountingCache(LocMemCache):
    reads = 0

    def get(self, key, default=None, version=None):
        if key == STAMP_KEY:
            CountingCache.reads += 1
        return super().get(key, default, version)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


LOCAL_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "broadcast": {"BACKEND": "tests.test_broadcast.CountingCache", "LOCATION": "broadcast-tests"},
}


@pytest.fixture
def clock():
    fake = FakeClock()
    saved = store.timer, broadcast.timer  # put back what was there, not what this module assumes
    store.timer = broadcast.timer = fake
    store.reset()
    CountingCache.reads = 0
    yield fake
    store.timer, broadcast.timer = saved
    store.reset()


@pytest.fixture
def shared_cache(clock):
    with override_settings(CACHES=LOCAL_CACHES, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast"):
        caches["broadcast"].clear()
        yield caches["broadcast"]
        caches["broadcast"].clear()


def in_another_process(value, host=HOST, *, publish=True):
    """Another process's committed write: its change version, its stamp; no invalidation here."""
    with mock.patch.object(store, "invalidate"):
        SettingOverride.objects.set(KEY, value, host=host)
    if publish:
        broadcast.publish()


def served(host=HOST):
    return store.get().layer(host)[0].get(KEY)


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_database_version_is_polled_every_interval(clock, django_assert_num_queries):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    assert served() == 600
    refresher = Refresher(store)
    refresher.round()
    in_another_process(60, publish=False)
    clock.now += 0.2
    with django_assert_num_queries(0):
        assert refresher.round() == pytest.approx(0.3)  # not due yet: no query
    assert served() == 600
    clock.now += 0.3
    refresher.round()
    assert served() == 60
    clock.now += 0.5
    with django_assert_num_queries(1):  # unchanged: one indexed one-row query
        refresher.round()


@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_SETTINGS_POLL_INTERVAL=2)
def test_the_poll_interval_is_a_setting(clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    refresher = Refresher(store)
    refresher.round()
    in_another_process(60, publish=False)
    clock.now += 1.9
    refresher.round()
    assert served() == 600
    clock.now += 0.1
    refresher.round()
    assert served() == 60


@pytest.mark.django_db(transaction=True)
def test_a_full_read_every_ttl_catches_rows_written_behind_the_apps_back(clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    refresher = Refresher(store)
    refresher.round()
    SettingOverride.objects.filter(key=KEY).update(value=61)  # no signal, no version
    clock.now += 4.9
    refresher.round()
    assert served() == 600
    clock.now += 0.1
    refresher.round()
    assert served() == 61


@pytest.mark.django_db(transaction=True)
def test_a_slow_full_read_spaces_the_next_ones_out(clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    refresher = Refresher(store)
    refresher.round()
    store.full_seconds = 2.0  # a huge table: full reads at most every 20 s, never a busy core
    SettingOverride.objects.filter(key=KEY).update(value=61)
    clock.now += 19
    refresher.round()
    assert served() == 600
    clock.now += 1
    refresher.round()
    assert served() == 61


@pytest.mark.django_db(transaction=True)
def test_with_redis_a_new_stamp_refreshes_at_the_next_stamp_read(shared_cache, clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    refresher = Refresher(store)
    refresher.round()
    refresher.round()
    in_another_process(60)
    clock.now += broadcast_module.POLL_INTERVAL
    refresher.round()
    assert served() == 60
    assert CountingCache.reads >= 2


@pytest.mark.django_db(transaction=True)
def test_a_commit_writes_a_new_stamp_and_a_rollback_none(shared_cache):
    from django.db import transaction

    SettingOverride.objects.set(KEY, 600, host=HOST)
    first = shared_cache.get(STAMP_KEY)
    assert first is not None
    with transaction.atomic():
        SettingOverride.objects.set(KEY, 601, host=HOST)
        transaction.set_rollback(True)
    assert shared_cache.get(STAMP_KEY) == first
    SettingOverride.objects.set(KEY, 602, host=HOST)
    assert shared_cache.get(STAMP_KEY) not in (None, first)


class FlakyCache(LocMemCache):
    down = False

    def get(self, *args, **kwargs):
        if FlakyCache.down:
            raise ConnectionError("redis is down")
        return super().get(*args, **kwargs)

    def set(self, *args, **kwargs):
        if FlakyCache.down:
            raise ConnectionError("redis is down")
        return super().set(*args, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_redis_down_the_database_poll_still_propagates_and_recovery_restores_the_stamp_at_once(clock, caplog):
    caches_ = {**LOCAL_CACHES, "broadcast": {"BACKEND": "tests.test_broadcast.FlakyCache", "LOCATION": "flaky"}}
    with (
        override_settings(CACHES=caches_, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast"),
        caplog.at_level(logging.INFO, logger="request_settings"),
    ):
        SettingOverride.objects.set(KEY, 600, host=HOST)
        refresher = Refresher(store)
        refresher.round()
        FlakyCache.down = True
        try:
            in_another_process(60)  # its publish fails too
            clock.now += 0.5
            refresher.round()
            assert served() == 60  # the database poll does not need Redis
            assert broadcast.next_read == clock.now + RETRY_INTERVAL  # retried, still down: the next try soon
            clock.now += 0.5
            refresher.round()
        finally:
            FlakyCache.down = False
        clock.now += RETRY_INTERVAL
        refresher.round()
        assert broadcast.next_read == clock.now + broadcast_module.POLL_INTERVAL  # the normal bound, at once
        in_another_process(61)
        clock.now += broadcast_module.POLL_INTERVAL
        refresher.round()
        assert served() == 61
    outage = [m for m in caplog.messages if "Could not" in m]
    assert outage == [
        "Could not publish a change to the 'broadcast' cache; other processes see changes at their next database "
        "poll (REQUEST_SETTINGS_POLL_INTERVAL) until it is back. Logged once per outage."
    ]
    assert "The 'broadcast' cache is reachable again: changes propagate through it again." in caplog.messages


@pytest.fixture
def real_redis():
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        reachable = True
    except OSError:
        reachable = False
    require_server("Redis at 127.0.0.1:6379", reachable)
    redis_caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "broadcast": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
            "KEY_PREFIX": f"tests-{uuid.uuid4().hex}",  # other runs on this Redis (people, CI, workers) never meet
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    with override_settings(CACHES=redis_caches, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast"):
        caches["broadcast"].delete(STAMP_KEY)
        yield
        caches["broadcast"].delete(STAMP_KEY)


@pytest.mark.redis
def test_through_real_redis_every_process_sees_each_change_once(real_redis):
    processes = [broadcast_module.Broadcast() for _ in range(3)]
    assert [p.check() for p in processes] == [True] * 3  # first sight of the stamp
    assert [p.check() for p in processes] == [False] * 3
    writer = threading.Thread(target=processes[0].publish)
    writer.start()
    writer.join()
    assert [p.check() for p in processes] == [True] * 3
    assert [p.check() for p in processes] == [False] * 3


def test_a_fresh_broadcast_has_seen_nothing_and_reads_at_once():
    fresh = broadcast_module.Broadcast()
    assert fresh.next_read == 0.0
    assert fresh.down is False


FLAKY_CACHES = {**LOCAL_CACHES, "broadcast": {"BACKEND": "tests.test_broadcast.FlakyCache", "LOCATION": "flaky"}}
OUTAGE = (
    "Could not read the change stamp from the 'broadcast' cache; other processes see changes at their next database "
    "poll (REQUEST_SETTINGS_POLL_INTERVAL) until it is back. Logged once per outage."
)
RECOVERY = "The 'broadcast' cache is reachable again: changes propagate through it again."


@pytest.fixture
def flaky_cache(clock):
    with override_settings(CACHES=FLAKY_CACHES, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast"):
        caches["broadcast"].clear()  # shared with earlier tests' FlakyCache: start with no stamp
        yield
    FlakyCache.down = False


def test_each_outage_is_warned_once_with_its_traceback_and_each_recovery_logged_once(flaky_cache, caplog):
    fresh = broadcast_module.Broadcast(timer=FakeClock())
    with caplog.at_level(logging.INFO, logger="request_settings"):
        for _outage in range(2):
            FlakyCache.down = True
            assert [fresh.check(), fresh.check()] == [False, False]
            assert fresh.down
            FlakyCache.down = False
            fresh.check()
            fresh.check()
            assert fresh.down is False
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", OUTAGE),
        ("INFO", RECOVERY),
        ("WARNING", OUTAGE),
        ("INFO", RECOVERY),
    ]
    warning = caplog.records[0]
    assert warning.name == "request_settings"
    assert warning.exc_info is not None and isinstance(warning.exc_info[1], ConnectionError)


def test_while_the_cache_is_down_the_stamp_is_read_once_per_retry_interval(flaky_cache):
    fresh = broadcast_module.Broadcast(timer=FakeClock())
    FlakyCache.down = True
    fresh.check()
    assert fresh.next_read == 1000.0 + RETRY_INTERVAL
    FlakyCache.down = False
    assert fresh.check() is True  # the first stamp seen after the outage
    assert fresh.next_read == 1000.0 + broadcast_module.POLL_INTERVAL


@pytest.mark.django_db(transaction=True)
def test_a_failed_stamp_read_keeps_the_snapshot_and_its_overrides(flaky_cache, clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    refresher = Refresher(store)
    refresher.round()
    snapshot = store.cached()
    FlakyCache.down = True
    clock.now += broadcast_module.POLL_INTERVAL  # the stamp is due, the database poll is not
    refresher.round()
    assert store.cached() is snapshot
    assert served() == 600


def test_the_stamp_is_stored_without_expiry(shared_cache):
    broadcast.publish()
    stamp = shared_cache.get(STAMP_KEY)
    assert stamp is not None
    years_later = time.time() + 10 * 365 * 24 * 3600
    with mock.patch("django.core.cache.backends.locmem.time.time", return_value=years_later):
        assert shared_cache.get(STAMP_KEY) == stamp


def test_without_a_broadcast_cache_nothing_is_read_or_written(clock):
    fresh = broadcast_module.Broadcast(timer=FakeClock())
    with override_settings(CACHES=LOCAL_CACHES, REQUEST_SETTINGS_BROADCAST_CACHE=None):
        caches["broadcast"].clear()
        fresh.publish()
        assert fresh.check() is False
        assert not fresh.enabled()
        assert caches["broadcast"].get(STAMP_KEY) is None
    assert CountingCache.reads == 1  # the assertion's own read


def test_reset_forgets_everything_a_fresh_broadcast_does_not_know(flaky_cache):
    used = broadcast_module.Broadcast(timer=FakeClock())
    FlakyCache.down = True
    used.check()  # an outage: down, and a later next read
    FlakyCache.down = False
    used.reset()
    fresh = broadcast_module.Broadcast(timer=FakeClock())
    assert (used.down, used.next_read) == (fresh.down, fresh.next_read) == (False, 0.0)
    assert used.check() is fresh.check() is True  # no stamp written yet: still news to a process that saw nothing
    used.publish()
    assert used.check() is fresh.check() is True
    assert used.check() is fresh.check() is False


def test_after_a_fork_a_lock_the_parent_held_does_not_block_the_child(flaky_cache):
    child = broadcast_module.Broadcast(timer=FakeClock())
    child._lock.acquire()  # held by a parent's thread at the moment of the fork: that thread is not in the child
    child.after_fork()
    seen = []
    reader = threading.Thread(target=lambda: seen.append(child.check()), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert seen == [True]


@pytest.mark.django_db(transaction=True)
def test_an_untouched_table_is_polled_not_read_again(clock, django_assert_num_queries):
    """A table no write has touched yet has version 0: a round checks the version, it does not read every row."""
    store.get()
    assert store.cached().version == 0
    refresher = Refresher(store)
    clock.now += 0.5
    with django_assert_num_queries(1) as queries:
        refresher.round()
    assert SettingOverride._meta.db_table not in queries.captured_queries[0]["sql"]


@pytest.mark.django_db(transaction=True)
def test_with_redis_the_next_round_comes_at_the_next_stamp_read(shared_cache, clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    refresher = Refresher(store)
    refresher.round()
    assert refresher.round() == pytest.approx(broadcast_module.POLL_INTERVAL)  # not the database poll's 0.5 s
