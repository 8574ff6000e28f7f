"""Cross-process propagation through a version stamp in a shared cache, polled on a schedule.

"Another process" is simulated the way it looks from here: its row change arrives without a
signal (a queryset update) and its commit writes a new stamp into the shared cache
(``broadcast.publish()``, what its ``invalidate`` does). The cross-process behaviour with real
gunicorn/uvicorn workers lives in tests/load/.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.test import Client, override_settings

from request_settings import broadcast as broadcast_module
from request_settings import store as store_module
from request_settings.broadcast import POLL_INTERVAL, STAMP_KEY, broadcast
from request_settings.models import SettingOverride
from request_settings.store import store
from tests.conftest import require_server
from tests.utils import HostAsyncClient

HOST = "a.example.com"
KEY = "SESSION_EXPIRE_SECONDS"


class CountingCache(LocMemCache):
    """A LocMemCache that records, for each read of the stamp, whether an event loop ran there."""

    reads: list[bool] = []

    def get(self, key, default=None, version=None):
        if key == STAMP_KEY:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                CountingCache.reads.append(False)
            else:
                CountingCache.reads.append(True)
        return super().get(key, default, version)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


LOCAL_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "broadcast": {"BACKEND": "tests.test_broadcast.CountingCache", "LOCATION": "broadcast-tests"},
}
# Nothing listens on port 1: a real RedisCache that is down, with short timeouts.
DEAD_REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "broadcast": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.1, "socket_timeout": 0.1},
    },
}


@pytest.fixture
def clock():
    fake = FakeClock()
    store.timer = broadcast.timer = fake
    store.reset()
    CountingCache.reads = []
    yield fake
    store.timer = broadcast.timer = store_module.time.monotonic
    store.reset()


@pytest.fixture
def shared_cache(clock):
    with override_settings(CACHES=LOCAL_CACHES, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast"):
        caches["broadcast"].clear()
        yield caches["broadcast"]
        caches["broadcast"].clear()


def value_for(host=HOST, client=None):
    response = (client or Client()).get("/echo/", {"keys": KEY}, HTTP_HOST=host)
    assert response.status_code == 200
    return response.json()["values"][KEY]


def change_in_another_process(value, host=HOST):
    SettingOverride.objects.filter(key=KEY, host=host).update(value=value)
    broadcast.publish()


@pytest.mark.django_db(transaction=True)
def test_a_commit_writes_a_new_stamp(shared_cache):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    first = shared_cache.get(STAMP_KEY)
    SettingOverride.objects.set(KEY, 700, host=HOST)
    second = shared_cache.get(STAMP_KEY)
    assert first is not None
    assert second is not None
    assert first != second


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_writes_no_stamp(shared_cache):
    with pytest.raises(RuntimeError), transaction.atomic():
        SettingOverride.objects.set(KEY, 600, host=HOST)
        raise RuntimeError("rolled back")
    assert shared_cache.get(STAMP_KEY) is None


@pytest.mark.django_db(transaction=True)
def test_another_process_change_shows_at_the_next_poll_long_before_the_ttl(shared_cache, clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    assert value_for() == 600
    change_in_another_process(60)

    clock.advance(POLL_INTERVAL / 2)
    assert value_for() == 600  # not due yet: the cached snapshot serves, the stamp is not read

    clock.advance(POLL_INTERVAL / 2)
    assert value_for() == 60  # due: one read of the stamp, and the same request already sees the change
    assert clock.now - 1000.0 < store._cache.ttl


@pytest.mark.django_db(transaction=True)
def test_requests_between_polls_never_read_the_stamp(shared_cache, clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    CountingCache.reads = []
    for _ in range(20):
        assert value_for() == 600
        clock.advance(POLL_INTERVAL / 10)
    # 20 requests over 2 intervals: one read per interval, none per request.
    assert len(CountingCache.reads) == 2


@pytest.mark.django_db(transaction=True)
def test_an_unchanged_stamp_keeps_the_snapshot(shared_cache, clock, django_assert_num_queries):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    assert value_for() == 600
    clock.advance(POLL_INTERVAL)
    with django_assert_num_queries(0):
        assert value_for() == 600
    assert CountingCache.reads


@pytest.mark.django_db(transaction=True)
def test_a_stamp_lost_by_the_cache_makes_every_process_refresh(shared_cache, clock):
    SettingOverride.objects.set(KEY, 600, host=HOST)
    assert value_for() == 600
    SettingOverride.objects.filter(key=KEY, host=HOST).update(value=60)
    shared_cache.clear()  # Redis restarted empty: whatever a process saw before is gone
    clock.advance(POLL_INTERVAL)
    assert value_for() == 60


@pytest.mark.django_db(transaction=True)
def test_without_a_broadcast_cache_nothing_is_read_and_the_ttl_bounds_staleness(clock):
    with override_settings(CACHES=LOCAL_CACHES):
        SettingOverride.objects.set(KEY, 600, host=HOST)
        assert value_for() == 600
        caches["broadcast"].set(STAMP_KEY, "another process's stamp")
        SettingOverride.objects.filter(key=KEY, host=HOST).update(value=60)
        clock.advance(POLL_INTERVAL)
        assert value_for() == 600
        clock.advance(store._cache.ttl)
        assert value_for() == 60
    assert CountingCache.reads == []


@pytest.mark.django_db(transaction=True)
async def test_the_async_path_reads_the_stamp_off_the_event_loop(shared_cache, clock):
    await SettingOverride.objects.aset(KEY, 600, host=HOST)
    client = HostAsyncClient()

    async def value():
        response = await client.get("/async-echo/", {"keys": KEY}, headers={"host": HOST})
        assert response.status_code == 200
        return response.json()["values"][KEY]

    assert await value() == 600
    await SettingOverride.objects.filter(key=KEY, host=HOST).aupdate(value=60)
    broadcast.publish()
    clock.advance(POLL_INTERVAL)
    assert await value() == 60
    assert CountingCache.reads
    assert not any(CountingCache.reads), "the stamp was read inside the event loop"


@pytest.mark.django_db(transaction=True)
def test_redis_down_requests_succeed_and_fall_back_to_the_ttl_logged_once(clock, caplog):
    with override_settings(CACHES=DEAD_REDIS, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast"):
        caplog.set_level(logging.INFO, logger="request_settings")
        SettingOverride.objects.set(KEY, 600, host=HOST)  # the publish fails: the write still succeeds
        assert SettingOverride.objects.get(key=KEY, host=HOST).value == 600
        assert value_for() == 600

        SettingOverride.objects.filter(key=KEY, host=HOST).update(value=60)
        for _ in range(4):
            clock.advance(POLL_INTERVAL)
            assert value_for() == 600  # no broadcast to hear: the snapshot lives out its TTL
        clock.advance(store._cache.ttl)
        assert value_for() == 60  # within the TTL, as without a broadcast
        clock.advance(store._cache.ttl)
        assert value_for() == 60

    outage = [r for r in caplog.records if "cache" in r.getMessage() and r.levelno == logging.WARNING]
    assert len(outage) == 1, [r.getMessage() for r in outage]
    assert "'broadcast'" in outage[0].getMessage()
    assert "REQUEST_SETTINGS_CACHE_TTL" in outage[0].getMessage()


class FlakyCache(LocMemCache):
    down = False

    def get(self, key, default=None, version=None):
        if FlakyCache.down:
            raise ConnectionError("Redis is down")
        return super().get(key, default, version)


@pytest.mark.django_db(transaction=True)
def test_polls_back_off_to_the_ttl_while_the_cache_is_down_and_recovery_is_logged(clock, caplog, monkeypatch):
    flaky = {
        **LOCAL_CACHES,
        "broadcast": {"BACKEND": f"{__name__}.FlakyCache", "LOCATION": "flaky"},
    }
    with override_settings(CACHES=flaky, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast"):
        caplog.set_level(logging.INFO, logger="request_settings")
        SettingOverride.objects.set(KEY, 600, host=HOST)
        monkeypatch.setattr(FlakyCache, "down", True)
        clock.advance(POLL_INTERVAL)
        assert value_for() == 600  # the poll fails, the request does not
        clock.advance(POLL_INTERVAL)
        assert not broadcast.claim()  # backed off: no new poll before the TTL
        monkeypatch.setattr(FlakyCache, "down", False)
        change_in_another_process(60)
        clock.advance(store._cache.ttl - POLL_INTERVAL)
        assert broadcast.claim()
        assert broadcast.check()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Could not read the change stamp" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1


@pytest.fixture
def real_redis():
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5).ping()
        reachable = True
    except redis.RedisError:
        reachable = False
    require_server("Redis at 127.0.0.1:6379", reachable)
    config = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "broadcast": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("REQUEST_SETTINGS_TEST_REDIS", "redis://127.0.0.1:6379/11"),
            "KEY_PREFIX": f"rs-test-{os.getpid()}",
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        },
    }
    with override_settings(CACHES=config, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast"):
        yield caches["broadcast"]
        caches["broadcast"].delete(STAMP_KEY)


@pytest.mark.redis
def test_through_real_redis_every_process_sees_each_change_once(real_redis):
    # Each Broadcast is one process's view of the same Redis.
    processes = [broadcast_module.Broadcast() for _ in range(3)]
    assert [p.check() for p in processes] == [True] * 3  # first sight of the stamp
    assert [p.check() for p in processes] == [False] * 3

    writer = threading.Thread(target=processes[0].publish)
    writer.start()
    writer.join()
    assert [p.check() for p in processes] == [True] * 3
    assert [p.check() for p in processes] == [False] * 3


@pytest.mark.django_db(transaction=True)
def test_activate_in_a_worker_follows_the_stamp_too(shared_cache, clock):
    from django.conf import settings

    import request_settings

    SettingOverride.objects.set(KEY, 600, host=HOST)
    with request_settings.activate(HOST):
        assert getattr(settings, KEY) == 600
    change_in_another_process(60)
    clock.advance(POLL_INTERVAL)
    with request_settings.activate(HOST):
        assert getattr(settings, KEY) == 60
