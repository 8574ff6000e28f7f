"""The TTL-cached snapshot: one query per TTL, invalidation on commit, stale-if-error, no stampede."""

from __future__ import annotations

import logging
import threading
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection, transaction
from django.test import Client, override_settings

from request_settings import store as store_module
from request_settings.models import SettingOverride
from request_settings.store import build_snapshot, store

TABLE = SettingOverride._meta.db_table


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    fake = FakeClock()
    store.timer = fake
    store.reset()
    yield fake
    store.timer = store_module.time.monotonic
    store.reset()


def value_for(host, key="SESSION_EXPIRE_SECONDS"):
    response = Client().get("/echo/", {"keys": key}, HTTP_HOST=host)
    return response.json()["values"][key]


def raw_update(key, host, value):
    """A change made by another process: no signal, no invalidation here."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET value = %s WHERE key = %s AND host = %s", [value, key, host])


@pytest.mark.django_db(transaction=True)
def test_at_most_one_query_per_ttl_whatever_the_hosts(clock, django_assert_num_queries):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    with django_assert_num_queries(1):
        assert value_for("a.example.com") == 60
        for host in ["a.example.com", "b.example.com", "unknown.example.com"] * 10:
            value_for(host)
    clock.now += 5.01
    with django_assert_num_queries(1):
        assert value_for("b.example.com") == 3600
        assert value_for("a.example.com") == 60


@pytest.mark.django_db(transaction=True)
def test_after_a_change_one_query_refreshes_and_the_next_requests_query_nothing(clock, django_assert_num_queries):
    assert value_for("a.example.com") == 3600
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    with django_assert_num_queries(1):
        assert value_for("a.example.com") == 60
        assert value_for("b.example.com") == 3600
    with django_assert_num_queries(0):
        assert [value_for("a.example.com") for _ in range(5)] == [60] * 5


@pytest.mark.django_db(transaction=True)
def test_a_save_in_this_process_is_visible_to_the_next_request(clock):
    assert value_for("a.example.com") == 3600
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert value_for("a.example.com") == 60
    SettingOverride.objects.create(key="SESSION_EXPIRE_SECONDS", host="", value=90)
    assert value_for("b.example.com") == 90
    SettingOverride.objects.filter(host="").delete()
    assert value_for("b.example.com") == 3600


@pytest.mark.django_db(transaction=True)
def test_another_process_change_shows_within_the_ttl(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert value_for("a.example.com") == 60
    raw_update("SESSION_EXPIRE_SECONDS", "a.example.com", "61")
    clock.now += 4.9
    assert value_for("a.example.com") == 60
    clock.now += 0.2
    assert value_for("a.example.com") == 61


@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_SETTINGS_CACHE_TTL=30)
def test_the_ttl_is_a_setting(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert value_for("a.example.com") == 60
    raw_update("SESSION_EXPIRE_SECONDS", "a.example.com", "61")
    clock.now += 29
    assert value_for("a.example.com") == 60
    clock.now += 2
    assert value_for("a.example.com") == 61


@pytest.mark.django_db(transaction=True)
def test_database_down_keeps_the_last_snapshot_and_logs_once_per_ttl(clock, caplog):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert value_for("a.example.com") == 60
    clock.now += 6
    failing = mock.patch.object(store_module, "_load", side_effect=OperationalError("server closed"))
    with failing as load, caplog.at_level(logging.WARNING, logger="request_settings"):
        assert [value_for("a.example.com") for _ in range(5)] == [60] * 5
        clock.now += 6
        assert value_for("a.example.com") == 60
    assert load.call_count == 2
    failures = [record for record in caplog.records if "Could not read" in record.getMessage()]
    assert len(failures) == 2
    assert "last good overrides" in failures[0].getMessage()
    clock.now += 6
    assert value_for("a.example.com") == 60  # recovered: a real query again


@pytest.mark.django_db(transaction=True)
def test_database_down_before_any_snapshot_serves_settings_py(clock, caplog):
    failing = mock.patch.object(store_module, "_load", side_effect=OperationalError("no server"))
    with failing, caplog.at_level(logging.WARNING, logger="request_settings"):
        assert value_for("a.example.com") == 3600
    assert "settings.py values" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_missing_table_serves_settings_py(clock):
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO rs_moved_away")
    try:
        assert value_for("a.example.com") == 3600
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE rs_moved_away RENAME TO {TABLE}")


@pytest.mark.django_db(transaction=True)
def test_a_failing_read_inside_a_transaction_does_not_break_it(clock):
    with transaction.atomic():
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} RENAME TO rs_moved_away")
        assert store.get()[""] == {}
        with connection.cursor() as cursor:  # the caller's transaction is still usable
            cursor.execute(f"ALTER TABLE rs_moved_away RENAME TO {TABLE}")
        assert SettingOverride.objects.count() == 1
    assert SettingOverride.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_read_inside_a_transaction_is_never_cached(clock):
    with transaction.atomic():
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
        assert store.get()["a.example.com"] == {"SESSION_EXPIRE_SECONDS": 60}
        transaction.set_rollback(True)
    assert store.cached() is None
    assert store.get() == {"": {}}


@pytest.mark.django_db(transaction=True)
def test_concurrent_expiry_causes_one_query_and_nobody_waits(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    old = store.get()
    clock.now += 6
    started, release = threading.Event(), threading.Event()
    real_load = store_module._load

    def slow_load(*args):
        started.set()
        release.wait(5)
        return real_load(*args)

    results = []
    with mock.patch.object(store_module, "_load", side_effect=slow_load) as load:
        refresher = threading.Thread(target=lambda: results.append(store.get()))
        refresher.start()
        started.wait(5)
        others = [store.get() for _ in range(20)]  # served the last good snapshot at once
        release.set()
        refresher.join()
    assert load.call_count == 1
    assert all(snapshot is old for snapshot in others)
    assert results[0] == old


@pytest.mark.django_db(transaction=True)
def test_the_first_load_is_shared_by_concurrent_callers(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.reset()
    barrier = threading.Barrier(6)
    results = []
    real_load = store_module._load
    with mock.patch.object(store_module, "_load", side_effect=real_load) as load:

        def worker():
            barrier.wait()
            results.append(store.get())

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert load.call_count == 1
    assert all(result["a.example.com"] == {"SESSION_EXPIRE_SECONDS": 60} for result in results)


@pytest.mark.django_db(transaction=True)
async def test_async_refresh_never_touches_the_database_in_the_event_loop(clock):
    await sync_to_async(SettingOverride.objects.set)("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    snapshot = await store.aget()  # would raise SynchronousOnlyOperation if it queried here
    assert snapshot["a.example.com"] == {"SESSION_EXPIRE_SECONDS": 60}
    assert await store.aget() is snapshot


def test_bad_rows_are_skipped_and_logged_and_the_rest_applies(caplog):
    rows = [
        ("lower_case", "", 1),
        ("SECRET_KEY", "", "stolen"),
        ("SESSION_EXPIRE_SECONDS", "a.example.com", "not a number"),
        ("SESSION_COOKIE_AGE", "", -1),
        ("SESSION_EXPIRE_SECONDS", "", 600),
        ("TENANT_BANNER", "a.example.com", "hello"),
    ]
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        snapshot = build_snapshot(rows)
    assert snapshot[""] == {"SESSION_EXPIRE_SECONDS": 600}
    assert snapshot["a.example.com"] == {"SESSION_EXPIRE_SECONDS": 600, "TENANT_BANNER": "hello"}
    skipped = [record.getMessage() for record in caplog.records]
    assert len(skipped) == 4
    assert "lower_case" in skipped[0] and "upper-case" in skipped[0]
    assert "SECRET_KEY" in skipped[1] and "security-critical" in skipped[1]
    assert "'not a number'" in skipped[2] and "an integer" in skipped[2]


@override_settings(TUPLE_SETTING=("a", "b"))
def test_a_tuple_in_settings_py_comes_back_as_a_tuple():
    snapshot = build_snapshot([("TUPLE_SETTING", "", ["c"])])
    assert snapshot[""]["TUPLE_SETTING"] == ("c",)


def test_unknown_hosts_share_the_all_hosts_layer():
    snapshot = build_snapshot([("SESSION_EXPIRE_SECONDS", "", 600)])
    layers = [store_module.layer_for_host(f"h{index}.example.com", snapshot) for index in range(3)]
    assert all(layer is snapshot[""] for layer in layers)
    assert list(snapshot) == [""]
