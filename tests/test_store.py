"""The snapshot store: first load, read-your-writes, incremental refresh by change version, faults."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from request_settings import changes
from request_settings import store as store_module
from request_settings.models import ChangedRow, ChangeVersion, SettingOverride, Undecodable
from request_settings.store import SnapshotStore, store
from tests.utils import background_refresher, reads

TABLE = SettingOverride._meta.db_table


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    fake = FakeClock()
    saved = store.timer
    store.timer = fake
    store.reset()
    yield fake
    store.timer = saved
    store.reset()


def value_for(host, key="SESSION_EXPIRE_SECONDS"):
    response = Client().get("/echo/", {"keys": key}, HTTP_HOST=host)
    return response.json()["values"][key]


def raw_insert(key, host, text):
    """A row written behind the app's back (a SQL console, another app): no signal, no version bump."""
    placeholder = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (key, host, value, created_at, updated_at) VALUES (%s, %s, {placeholder}, %s, %s)",
            [key, host, text, "2026-01-01 00:00:00+00", "2026-01-01 00:00:00+00"],
        )


def raw_update(key, host, value):
    with connection.cursor() as cursor:
        placeholder = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
        cursor.execute(
            f"UPDATE {TABLE} SET value = {placeholder} WHERE key = %s AND host = %s", [json.dumps(value), key, host]
        )


def another_process_sets(key, value, host=""):
    """A write by another process: the row and its change version, but no invalidation in this one."""
    with mock.patch.object(store, "invalidate"):
        SettingOverride.objects.set(key, value, host=host)


# -- first load, and nothing more per request --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_first_load_is_one_query_and_later_requests_none(clock, django_assert_num_queries):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.reset()
    with CaptureQueriesContext(connection) as queries:
        assert value_for("a.example.com") == 60
    assert len(reads(queries)) == 1
    with django_assert_num_queries(0):
        for host in ["a.example.com", "b.example.com", "unknown.example.com"] * 10:
            value_for(host)
        clock.now += 3600  # time alone never makes a request query: the refresher does that
        assert value_for("a.example.com") == 60


@pytest.mark.django_db(transaction=True)
def test_a_fresh_store_holds_nothing_and_starts_no_thread():
    fresh = SnapshotStore()
    assert fresh.cached() is None
    assert fresh.commits == 0
    assert fresh.refresher is None
    snapshot = fresh.get()
    assert fresh.cached() is snapshot
    assert fresh.refresher is not None and not isinstance(fresh.refresher, threading.Thread)  # test runner: off


# -- read-your-writes -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_every_write_path_in_this_process_is_seen_by_the_next_request(clock):
    assert value_for("a.example.com") == 3600
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert value_for("a.example.com") == 60
    SettingOverride.objects.create(key="SESSION_EXPIRE_SECONDS", host="", value=90)
    assert value_for("b.example.com") == 90
    row = SettingOverride.objects.get(host="")
    row.value = 120
    row.save()
    assert value_for("b.example.com") == 120
    SettingOverride.objects.filter(host="").delete()
    assert value_for("b.example.com") == 3600
    SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS", host="a.example.com")
    assert value_for("a.example.com") == 3600


@pytest.mark.django_db(transaction=True)
def test_a_change_costs_two_queries_for_the_next_request_not_a_reload(clock, django_assert_num_queries):
    SettingOverride.objects.set("TENANT_BANNER", "hello")  # the version row exists (a flush removes it)
    SettingOverride.objects.bulk_create(
        SettingOverride(key="SESSION_EXPIRE_SECONDS", host=f"t{n}.example.com", value=100 + n) for n in range(300)
    )
    assert value_for("t7.example.com") == 107
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 99, host="t7.example.com")
    with django_assert_num_queries(3) as queries:  # version, changed pairs, their rows
        assert value_for("t7.example.com") == 99
    assert "t8.example.com" not in " ".join(q["sql"] for q in queries.captured_queries)
    assert value_for("t8.example.com") == 108


@pytest.mark.django_db(transaction=True)
def test_requests_after_a_commit_wait_for_the_refresh_in_flight_never_serve_the_old_snapshot(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert value_for("a.example.com") == 60
    started, release = threading.Event(), threading.Event()
    real = store_module.SnapshotStore._read_changes

    def slow_read(self, *args):
        started.set()
        assert release.wait(5)
        return real(self, *args)

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 61, host="a.example.com")
    seen = []
    with mock.patch.object(store_module.SnapshotStore, "_read_changes", slow_read):
        first = threading.Thread(target=lambda: seen.append(store.get().rows_of("a.example.com")))
        first.start()
        assert started.wait(5)
        others = [threading.Thread(target=lambda: seen.append(store.get().rows_of("a.example.com"))) for _ in range(8)]
        for thread in others:
            thread.start()
        release.set()
        for thread in [first, *others]:
            thread.join()
    assert seen == [{"SESSION_EXPIRE_SECONDS": 61}] * 9


@pytest.mark.django_db(transaction=True)
def test_a_refresh_stuck_longer_than_the_bound_serves_the_previous_snapshot_and_logs(clock, caplog, monkeypatch):
    monkeypatch.setattr(store_module, "WAIT", 0.05)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    previous = store.get()
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 61, host="a.example.com")
    with store._lock, caplog.at_level(logging.WARNING, logger="request_settings"):  # a refresh holds the lock
        assert store.get() is previous
    assert "Waited 0.05 s for a refresh of the overrides in flight; serving the previous snapshot." in caplog.messages
    assert store.get().rows_of("a.example.com") == {"SESSION_EXPIRE_SECONDS": 61}


@pytest.mark.django_db(transaction=True)
def test_the_first_load_is_shared_by_concurrent_callers(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.reset()
    barrier = threading.Barrier(6)
    results = []
    with mock.patch.object(
        store_module.SnapshotStore, "_read_table", autospec=True, side_effect=SnapshotStore._read_table
    ) as read:

        def worker():
            barrier.wait()
            results.append(store.get())

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert read.call_count == 1
    assert len({id(result) for result in results}) == 1
    assert results[0].rows_of("a.example.com") == {"SESSION_EXPIRE_SECONDS": 60}


@pytest.mark.django_db(transaction=True)
async def test_concurrent_aget_on_a_fresh_store_all_get_the_snapshot(clock):
    await sync_to_async(SettingOverride.objects.set)("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.reset()
    import asyncio

    results = await asyncio.gather(*(store.aget() for _ in range(10)))  # queries run off the event loop
    assert all(
        result is not None and result.rows_of("a.example.com") == {"SESSION_EXPIRE_SECONDS": 60} for result in results
    )
    assert await store.aget() is results[0]


# -- other processes: the change version --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_another_process_change_is_read_by_a_refresh_incrementally(clock, django_assert_num_queries):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    before = store.get()
    another_process_sets("SESSION_EXPIRE_SECONDS", 61, host="a.example.com")
    another_process_sets("TENANT_BANNER", "hello")
    assert store.get() is before  # no local commit: requests keep the snapshot
    with django_assert_num_queries(3):
        after = store.refresh()
    assert after.version == before.version + 2
    assert after.layer("a.example.com") == ({"SESSION_EXPIRE_SECONDS": 61}, {"TENANT_BANNER": "hello"})
    assert after.full_at == before.full_at  # not a full read
    with django_assert_num_queries(1):  # nothing changed: one indexed one-row query
        assert store.refresh() is after


@pytest.mark.django_db(transaction=True)
def test_a_deletion_by_another_process_is_read_too(clock):
    SettingOverride.objects.set("TENANT_BANNER", "hello", host="a.example.com")
    assert store.get().rows_of("a.example.com") == {"TENANT_BANNER": "hello"}
    with mock.patch.object(store, "invalidate"):
        SettingOverride.objects.unset("TENANT_BANNER", host="a.example.com")
    assert store.refresh().rows_of("a.example.com") is None


@pytest.mark.django_db(transaction=True)
def test_rows_written_behind_the_apps_back_are_read_at_the_next_full_read(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert store.get().rows_of("a.example.com") == {"SESSION_EXPIRE_SECONDS": 60}
    raw_update("SESSION_EXPIRE_SECONDS", "a.example.com", 61)
    assert store.refresh().rows_of("a.example.com") == {"SESSION_EXPIRE_SECONDS": 60}  # no version moved
    assert store.refresh(full=True).rows_of("a.example.com") == {"SESSION_EXPIRE_SECONDS": 61}


@pytest.mark.django_db(transaction=True)
def test_a_log_that_no_longer_reaches_back_or_a_reset_table_means_a_full_read(clock, monkeypatch):
    SettingOverride.objects.set("TENANT_BANNER", "v0")
    first = store.get()
    monkeypatch.setattr(changes, "KEEP", 3)
    for n in range(5):
        another_process_sets("TENANT_BANNER", f"v{n + 1}")
    assert ChangedRow.objects.count() == 3
    after = store.refresh()
    assert after.all_hosts == {"TENANT_BANNER": "v5"}
    assert after.full_at > first.full_at or after is not first
    # A flush (TransactionTestCase) or a restored dump sends the version backwards: read everything again.
    SettingOverride.objects.all().delete()
    ChangedRow.objects.all().delete()
    ChangeVersion.objects.all().delete()
    SettingOverride.objects.set("TENANT_BANNER", "after reset")
    assert store.get().all_hosts == {"TENANT_BANNER": "after reset"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("behind", "incremental"), [(3, True), (4, False)])
def test_a_process_exactly_as_far_behind_as_the_log_keeps_still_reads_only_the_changes(
    clock, monkeypatch, behind, incremental
):
    monkeypatch.setattr(changes, "KEEP", 3)
    SettingOverride.objects.set("TENANT_BANNER", "v0")
    store.get()
    for n in range(behind):
        another_process_sets("TENANT_BANNER", f"v{n + 1}", host=f"t{n}.example.com")
    with CaptureQueriesContext(connection) as queries:
        after = store.refresh()
    assert [after.rows_of(f"t{n}.example.com") for n in range(behind)] == [
        {"TENANT_BANNER": f"v{n + 1}"} for n in range(behind)
    ]
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert (ChangedRow._meta.db_table in tables) is incremental  # the log read, or the whole table at once
    assert len(reads(queries)) == (3 if incremental else 2)


@pytest.mark.django_db(transaction=True)
def test_the_change_version_is_bumped_in_the_writes_transaction(clock):
    SettingOverride.objects.set("TENANT_BANNER", "first")
    start = changes.current("default")
    with transaction.atomic():
        SettingOverride.objects.set("TENANT_BANNER", "a")
        SettingOverride.objects.set("TENANT_BANNER", "b", host="a.example.com")
        transaction.set_rollback(True)
    assert changes.current("default") == start  # rolled back with the rows
    SettingOverride.objects.set("TENANT_BANNER", "a")
    assert changes.current("default") == start + 1
    assert changes.changed_since("default", start, start + 1) == {("TENANT_BANNER", "")}


@pytest.mark.django_db(transaction=True)
def test_a_version_row_lost_to_a_flush_restarts_above_every_version_a_process_may_hold(clock):
    SettingOverride.objects.set("TENANT_BANNER", "first")
    held = store.get().version
    ChangeVersion.objects.all().delete()
    ChangedRow.objects.all().delete()
    SettingOverride.objects.set("TENANT_BANNER", "second")
    assert changes.current("default") > held
    assert store.get().all_hosts == {"TENANT_BANNER": "second"}
    # Twice within the same second: the clock start may be close, the incomplete log still forces a full read.
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
    assert store.get().all_hosts == {"TENANT_BANNER": "second", "SESSION_EXPIRE_SECONDS": 60}
    ChangeVersion.objects.all().delete()
    ChangedRow.objects.all().delete()
    SettingOverride.objects.filter(key="SESSION_EXPIRE_SECONDS").update(value=61)  # behind the app's back
    SettingOverride.objects.set("TENANT_BANNER", "third")
    assert store.get().all_hosts == {"TENANT_BANNER": "third", "SESSION_EXPIRE_SECONDS": 61}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("logged", [True, False])
def test_a_lost_version_row_restarts_after_the_last_logged_version_when_the_clock_is_behind(clock, logged):
    """Versions started from the clock once, and the clock went back (or writes outran it): the log's top still
    counts; with no log at all, versions start at 1."""
    SettingOverride.objects.set("TENANT_BANNER", "first")
    top = changes.current("default")
    ChangeVersion.objects.all().delete()
    if not logged:
        ChangedRow.objects.all().delete()
    with mock.patch.object(changes, "time", mock.Mock(time=lambda: 0.0)):  # this module's clock only
        SettingOverride.objects.set("TENANT_BANNER", "second")
    assert changes.current("default") == (top + 1 if logged else 1)


# -- transactions and tests -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_transaction_sees_its_own_uncommitted_rows_and_nothing_of_them_is_cached(clock):
    committed = store.get()
    with transaction.atomic():
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
        assert value_for("a.example.com") == 60
        assert store.cached() is committed
        transaction.set_rollback(True)
    assert value_for("a.example.com") == 3600


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_stops_the_transaction_reading_its_own_rows(clock, django_assert_num_queries):
    store.get()
    with transaction.atomic():
        try:
            with transaction.atomic():
                SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
                assert value_for("a.example.com") == 60
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        with django_assert_num_queries(0):
            assert value_for("a.example.com") == 3600


@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_wrote_no_override_reads_and_caches_committed_rows(clock, django_assert_num_queries):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.reset()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            assert value_for("a.example.com") == 60
        statements = [q["sql"].split()[0].lstrip("(") for q in queries.captured_queries]
        read = "DECLARE" if connection.vendor == "postgresql" else "SELECT"  # PostgreSQL: a server-side cursor
        assert statements == ["SAVEPOINT", read, "RELEASE"]
        assert store.cached() is not None
    with django_assert_num_queries(0):
        assert value_for("a.example.com") == 60


@pytest.mark.django_db(transaction=True)
def test_a_failing_read_inside_a_transaction_does_not_break_it(clock, caplog):
    with transaction.atomic():
        SettingOverride.objects.create(key="TENANT_BANNER", host="", value="x")
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} RENAME TO rs_moved_away")
        store.reset()
        with caplog.at_level(logging.WARNING, logger="request_settings"):
            assert store.get().all_hosts == {}
        with connection.cursor() as cursor:  # the caller's transaction is still usable
            cursor.execute(f"ALTER TABLE rs_moved_away RENAME TO {TABLE}")
        assert SettingOverride.objects.count() == 1


# -- faults ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_database_down_keeps_the_last_snapshot_and_logs_once_per_outage(clock, caplog):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert value_for("a.example.com") == 60
    failing = mock.patch.object(changes, "current", side_effect=OperationalError("server closed"))
    with failing, caplog.at_level(logging.INFO, logger="request_settings"):
        for _ in range(3):
            store.refresh()
            assert value_for("a.example.com") == 60
    assert [m for m in caplog.messages if m.startswith("Could not read")] == [
        f"Could not read the {TABLE} table; serving the last overrides read until it can be read again "
        "(logged once per outage)."
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="request_settings"):
        store.refresh()
    assert caplog.messages == [f"The {TABLE} table is readable again: overrides apply again."]


@pytest.mark.django_db(transaction=True)
def test_database_down_before_any_snapshot_serves_settings_py_and_retries_after_a_commit(clock, caplog):
    failing = mock.patch.object(store_module.SnapshotStore, "_read_table", side_effect=OperationalError("no server"))
    with failing as read, caplog.at_level(logging.WARNING, logger="request_settings"):
        assert [value_for("a.example.com") for _ in range(3)] == [3600] * 3
    assert read.call_count == 1  # the fallback is served until the next local commit or refresher round
    assert "serving the settings.py values" in caplog.text
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    assert value_for("a.example.com") == 60


@pytest.mark.django_db(transaction=True)
def test_missing_table_says_run_migrate(clock, caplog):
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO rs_moved_away")
    try:
        with caplog.at_level(logging.WARNING, logger="request_settings"):
            assert value_for("a.example.com") == 3600
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE rs_moved_away RENAME TO {TABLE}")
    assert f"The {TABLE} table does not exist: run `manage.py migrate`. Serving settings.py values." in caplog.messages


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("stored", "why"),
    [
        ("1" * 5000, "ValueError: Exceeds the limit"),
        ("[" * 990 + "]" * 990, "ValueError: nested 990 levels deep, more than 256"),
    ],
)
def test_a_row_python_cannot_decode_is_skipped_and_logged_and_the_rest_applies(clock, caplog, stored, why):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    raw_insert("TENANT_BANNER", "a.example.com", stored)
    store.reset()
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        assert value_for("a.example.com", "SESSION_EXPIRE_SECONDS") == 600
        assert value_for("a.example.com", "TENANT_BANNER") == "<missing>"
    (skipped,) = [m for m in caplog.messages if m.startswith("Skipped")]
    assert skipped.startswith(
        f"Skipped the override of TENANT_BANNER for host 'a.example.com': its stored value cannot be decoded ({why}"
    )
    assert isinstance(SettingOverride.objects.get(key="TENANT_BANNER").value, Undecodable)


def test_simple_test_case_without_a_snapshot_gets_settings_py_and_caches_nothing(clock):
    # Outside django_db, pytest-django forbids queries like SimpleTestCase does.
    assert value_for("a.example.com") == 3600
    assert store.cached() is None


@override_settings(TUPLE_SETTING=("a", "b"))
def test_a_tuple_in_settings_py_comes_back_as_a_tuple():
    from request_settings.snapshot import build

    snapshot = build([("TUPLE_SETTING", "", ["c"])], 1)
    assert snapshot.all_hosts["TUPLE_SETTING"] == ("c",)


@pytest.mark.django_db(transaction=True)
def test_rules_that_depend_on_the_rows_host_apply_to_every_path(clock, caplog):
    # A cookie domain must contain the row's host (else staff of that host are locked out): the write API refuses
    # it, and a row written behind the app's back is skipped by the snapshot.
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="SESSION_COOKIE_DOMAIN"):
        SettingOverride.objects.set("SESSION_COOKIE_DOMAIN", "other.example.com", host="a.example.com")
    SettingOverride.objects.set("SESSION_COOKIE_DOMAIN", "a.example.com", host="a.example.com")
    raw_insert("SESSION_COOKIE_DOMAIN", "b.example.com", json.dumps("a.example.com"))
    store.reset()
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        snapshot = store.get()
    assert snapshot.rows_of("a.example.com") == {"SESSION_COOKIE_DOMAIN": "a.example.com"}
    assert snapshot.rows_of("b.example.com") is None
    assert any(
        m.startswith("Skipped the override of SESSION_COOKIE_DOMAIN for host 'b.example.com'") for m in caplog.messages
    )


@pytest.mark.django_db
def test_a_value_nested_past_the_recursion_limit_is_refused_with_a_message_not_a_crash():
    from django.core.exceptions import ValidationError

    value: list = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(ValidationError) as raised:
        SettingOverride.objects.set("TENANT_BANNER", value)
    assert "TENANT_BANNER" in str(raised.value)
    assert not SettingOverride.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_a_warm_store_answers_async_and_in_event_loop_code_without_any_thread(clock):
    await sync_to_async(SettingOverride.objects.set)("SESSION_EXPIRE_SECONDS", 60)
    snapshot = await store.aget()
    with mock.patch.object(store_module, "sync_to_async", side_effect=AssertionError("no thread needed")):
        assert await store.aget() is snapshot
    with mock.patch.object(store_module, "ThreadPoolExecutor", side_effect=AssertionError("no thread needed")):
        assert store.get_outside_event_loop() is snapshot


@pytest.mark.django_db(transaction=True)
async def test_an_async_request_after_a_commit_in_this_process_reads_it(clock):
    await store.aget()
    await sync_to_async(SettingOverride.objects.set)("SESSION_EXPIRE_SECONDS", 60)  # committed: on_commit has run
    assert not store_module._pending
    assert (await store.aget()).layer("")[-1] == {"SESSION_EXPIRE_SECONDS": 60}


@pytest.mark.django_db(transaction=True)
def test_a_fresh_store_whose_first_read_fails_serves_settings_py():
    fresh = SnapshotStore()  # not the module's store: what a new process starts with
    with mock.patch.object(SnapshotStore, "_read_table", side_effect=OperationalError("down")) as read:
        snapshot = fresh.get()
        assert fresh.get() is snapshot  # one try per local commit or refresher round, not per request
    assert (snapshot.all_hosts, snapshot.rows_of("a.example.com"), read.call_count) == ({}, None, 1)


@pytest.mark.django_db(transaction=True)
def test_a_bug_is_not_hidden_as_a_database_outage(clock):
    with mock.patch.object(SnapshotStore, "_read_table", side_effect=KeyError("a bug")), pytest.raises(KeyError):
        store.get()


@pytest.mark.django_db(transaction=True)
def test_several_writes_in_one_transaction_are_read_uncommitted_until_the_last_commits(clock):
    store.get()
    with transaction.atomic():
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
        SettingOverride.objects.set("TENANT_BANNER", "x", host="a.example.com")
        assert list(store_module._pending) == [connection]
        assert value_for("a.example.com") == 60
    assert not store_module._pending  # committed: requests skip the check again
    assert value_for("a.example.com") == 60


@pytest.mark.django_db(transaction=True)
async def test_after_a_rolled_back_write_requests_go_back_to_the_fast_path(clock):
    def write_then_roll_back():
        with transaction.atomic():
            SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
            transaction.set_rollback(True)
        return store.get()  # this thread's next read finds its transaction gone, and forgets it

    await sync_to_async(write_then_roll_back)()
    assert not store_module._pending
    snapshot = await store.aget()
    with mock.patch.object(store_module, "sync_to_async", side_effect=AssertionError("no thread needed")):
        assert await store.aget() is snapshot


@pytest.mark.django_db(transaction=True)
def test_an_outage_is_logged_once_however_many_failed_reads(clock, caplog):
    failing = mock.patch.object(SnapshotStore, "_read_table", side_effect=OperationalError("down"))
    with failing, caplog.at_level(logging.WARNING, logger="request_settings"):
        for _ in range(3):
            store.refresh(full=True)
    assert len([m for m in caplog.messages if "Could not read" in m]) == 1


def test_a_failing_introspection_never_hides_the_original_outage():
    with mock.patch.object(connection.introspection, "table_names", side_effect=OperationalError("down")):
        assert store_module._table_missing("default", TABLE) is False


def test_the_json_column_deconstructs_as_a_plain_jsonfield():
    # Migrations of the app and of custom override models never see the tolerant reader.
    field = SettingOverride._meta.get_field("value")
    _name, path, _args, kwargs = field.deconstruct()
    assert path == "django.db.models.JSONField"
    assert "encoder" not in kwargs


# -- a fresh store, forks, event-loop code ----------------------------------------------------------------------


def test_outside_djangos_test_runner_a_fresh_store_starts_its_refresher():
    from request_settings.refresher import Refresher

    fresh = SnapshotStore()
    with mock.patch.object(store_module, "_under_test_runner", return_value=False):
        fresh._start_refresher()
    try:
        assert isinstance(fresh.refresher, Refresher) and fresh.refresher.is_alive()
    finally:
        fresh.stop_refresher()


@pytest.mark.django_db(transaction=True)
def test_a_fresh_store_logs_its_first_outage_and_no_recovery_it_did_not_see(caplog):
    fresh = SnapshotStore()
    with caplog.at_level(logging.INFO, logger="request_settings"):
        fresh.get()  # readable: nothing to say
        assert caplog.messages == []
        with mock.patch.object(changes, "current", side_effect=OperationalError("server closed")):
            fresh.refresh()
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert caplog.messages[0].startswith(f"Could not read the {TABLE} table; serving the last overrides read")
    assert isinstance(caplog.records[0].exc_info[1], OperationalError)  # the operator sees why


@pytest.mark.django_db(transaction=True)
def test_a_request_never_waits_for_a_refresh_in_flight_without_a_local_commit(clock, caplog):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    served = store.get()
    seen = []
    with store._lock:  # the refresher is reading the table
        reader = threading.Thread(target=lambda: seen.append(store.get()))
        reader.start()
        reader.join(timeout=store_module.WAIT / 2)
        assert not reader.is_alive()
    assert seen == [served]
    assert caplog.messages == []


@pytest.mark.django_db(transaction=True)
def test_after_a_fork_a_lock_the_parent_held_does_not_block_the_child(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.get()
    store._lock.acquire()  # held by the parent's refresher thread at the moment of the fork
    store.after_fork()
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 61, host="a.example.com")  # a commit: the child catches up
    seen = []
    reader = threading.Thread(target=lambda: seen.append(store.get().rows_of("a.example.com")))
    reader.start()
    reader.join(timeout=store_module.WAIT / 2)
    assert seen == [{"SESSION_EXPIRE_SECONDS": 61}]


@pytest.mark.django_db(transaction=True)
async def test_a_forked_child_serving_only_async_requests_starts_its_refresher():
    from request_settings.refresher import Refresher

    await sync_to_async(SettingOverride.objects.set)("SESSION_EXPIRE_SECONDS", 60)
    with background_refresher() as in_another_process:
        await store.aget()
        store.stop_refresher()
        store.after_fork()  # the child: the snapshot is inherited, the thread is not
        await store.aget()
        assert isinstance(store.refresher, Refresher) and store.refresher.is_alive()
        await sync_to_async(in_another_process)("SESSION_EXPIRE_SECONDS", 61)
        for _ in range(100):  # the refresher keeps this store current (every 0.5 s)
            if store.cached().all_hosts == {"SESSION_EXPIRE_SECONDS": 61}:
                break
            await asyncio.sleep(0.05)
        assert store.cached().all_hosts == {"SESSION_EXPIRE_SECONDS": 61}


@pytest.mark.django_db(transaction=True)
async def test_event_loop_code_gets_a_cold_or_stale_snapshot_through_a_thread(clock):
    await sync_to_async(SettingOverride.objects.set)("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.reset()
    assert store.get_outside_event_loop().rows_of("a.example.com") == {"SESSION_EXPIRE_SECONDS": 60}  # cold
    await sync_to_async(SettingOverride.objects.set)("SESSION_EXPIRE_SECONDS", 61, host="a.example.com")
    assert store.get_outside_event_loop().rows_of("a.example.com") == {"SESSION_EXPIRE_SECONDS": 61}  # stale


@pytest.mark.django_db(transaction=True)
def test_a_first_load_slower_than_the_wait_bound_is_still_waited_for(clock, monkeypatch):
    """Before any snapshot there is nothing to serve instead: a request waits for the first load, however long (here
    longer than a second), and is served by it without a read of its own."""
    monkeypatch.setattr(store_module, "WAIT", 0.05)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.reset()
    started = threading.Event()
    read_table = SnapshotStore._read_table

    def slow_read(self, *args):
        started.set()
        threading.Event().wait(1.2)
        return read_table(self, *args)

    seen = []
    changes_read = mock.patch.object(SnapshotStore, "_read_changes", side_effect=AssertionError("a second read"))
    with mock.patch.object(SnapshotStore, "_read_table", slow_read), changes_read:
        first = threading.Thread(target=lambda: seen.append(store.get().rows_of("a.example.com")))
        first.start()
        assert started.wait(5)
        seen.append(store.get().rows_of("a.example.com"))
        first.join()
    assert seen == [{"SESSION_EXPIRE_SECONDS": 60}] * 2


# -- the edges of a refresh ---------------------------------------------------------------------------------------


def test_a_refresh_where_queries_are_forbidden_keeps_serving_the_snapshot_it_has(clock):
    # Outside django_db, pytest-django forbids queries like SimpleTestCase does.
    from request_settings.snapshot import build

    held = build([("SESSION_EXPIRE_SECONDS", "a.example.com", 60)], 1)
    store._current = (held, store.commits)
    assert store.refresh() is held
    assert store.cached() is held


@pytest.mark.django_db(transaction=True)
def test_a_recovery_is_logged_once_not_at_every_refresh(clock, caplog):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.get()
    with mock.patch.object(changes, "current", side_effect=OperationalError("server closed")):
        store.refresh()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="request_settings"):
        for _ in range(3):
            store.refresh()
    assert caplog.messages == [f"The {TABLE} table is readable again: overrides apply again."]


@pytest.mark.django_db(transaction=True)
def test_a_table_restored_from_an_older_dump_is_read_in_full(clock):
    SettingOverride.objects.set("TENANT_BANNER", "old")
    dumped = changes.current("default")
    SettingOverride.objects.set("TENANT_BANNER", "new")
    assert store.get().all_hosts == {"TENANT_BANNER": "new"}
    # The restore: the rows and the version as they were (lower than what this process holds).
    SettingOverride.objects.filter(key="TENANT_BANNER").update(value="old")
    ChangeVersion.objects.update(version=dumped)
    assert store.refresh().all_hosts == {"TENANT_BANNER": "old"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("changed", "incremental"), [(2, True), (3, False)])
def test_more_changed_rows_than_the_limit_are_read_as_a_whole_table(clock, monkeypatch, changed, incremental):
    monkeypatch.setattr(store_module, "_MAX_CHANGES", 2)
    SettingOverride.objects.set("TENANT_BANNER", "v0")
    store.get()
    for n in range(changed):
        another_process_sets("TENANT_BANNER", "changed", host=f"t{n}.example.com")
    with CaptureQueriesContext(connection) as queries:
        after = store.refresh()
    assert sorted(after.hosts()) == [f"t{n}.example.com" for n in range(changed)]
    assert after.loaded_at == clock.now
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert (SettingOverride._meta.db_table + '" WHERE' in tables) is incremental  # only the changed rows, or all


def test_a_runtime_error_is_a_bug_not_a_forbidden_query(clock):
    with (
        mock.patch.object(SnapshotStore, "_read_table", side_effect=RuntimeError("a bug")),
        pytest.raises(RuntimeError),
    ):
        store.get()


def test_a_server_that_never_imported_djangos_test_utilities_runs_the_refresher():
    import sys

    with mock.patch.dict(sys.modules):
        sys.modules.pop("django.test.utils", None)
        assert store_module._under_test_runner() is False
    assert store_module._under_test_runner() is True  # this test run


@pytest.mark.django_db(transaction=True)
def test_an_incremental_read_judges_a_changed_row_with_its_own_host(clock, caplog):
    """A cookie domain that does not contain the row's host, written behind the app's back and then announced by a
    version bump (another app, a migration): skipped like a full read would."""
    SettingOverride.objects.set("SESSION_COOKIE_DOMAIN", "a.example.com", host="a.example.com")
    store.get()
    raw_insert("SESSION_COOKIE_DOMAIN", "b.example.com", json.dumps("a.example.com"))
    changes.record("default", "SESSION_COOKIE_DOMAIN", "b.example.com")
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        after = store.refresh()
    assert after.rows_of("a.example.com") == {"SESSION_COOKIE_DOMAIN": "a.example.com"}
    assert after.rows_of("b.example.com") is None
    assert any(
        m.startswith("Skipped the override of SESSION_COOKIE_DOMAIN for host 'b.example.com'") for m in caplog.messages
    )


def test_pinned_values_win_over_rows_for_their_host_or_every_host_innermost_first():
    from request_settings import overlay
    from request_settings.snapshot import build

    snapshot = build([("SESSION_EXPIRE_SECONDS", "a.example.com", 60), ("TENANT_BANNER", "", "all")], 1)
    assert store_module.layer_for_host("a.example.com", snapshot) == snapshot.layer("a.example.com")  # no pins
    tokens = [
        overlay.pin(None, {"TENANT_BANNER": "outer"}),
        overlay.pin("b.example.com", {"SESSION_EXPIRE_SECONDS": 5}),
        overlay.pin(None, {"TENANT_BANNER": "inner"}),
    ]
    try:
        layers = {host: store_module.layer_for_host(host, snapshot) for host in ("a.example.com", "b.example.com")}
    finally:
        for token in reversed(tokens):
            overlay.unpin(token)

    def value(layer, key):
        return next(rows[key] for rows in layer if key in rows)

    assert (
        value(layers["a.example.com"], "SESSION_EXPIRE_SECONDS"),
        value(layers["a.example.com"], "TENANT_BANNER"),
    ) == (60, "inner")
    assert (
        value(layers["b.example.com"], "SESSION_EXPIRE_SECONDS"),
        value(layers["b.example.com"], "TENANT_BANNER"),
    ) == (5, "inner")


def test_once_the_test_environment_is_torn_down_the_store_runs_its_refresher_again():
    from django.test import utils

    saved = utils._TestState.saved_data
    del utils._TestState.saved_data  # what teardown_test_environment() does
    try:
        assert store_module._under_test_runner() is False
    finally:
        utils._TestState.saved_data = saved


@pytest.mark.django_db(transaction=True)
def test_a_migrate_reads_the_whole_table_rows_a_data_migration_wrote_included(clock):
    """A data migration writes rows through historical models: no signal, no version bump."""
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    store.get()
    raw_insert("TENANT_BANNER", "", json.dumps("from a data migration"))
    store_module.load_after_migrate(sender=None, using="default")
    assert store.cached().all_hosts == {"TENANT_BANNER": "from a data migration"}
