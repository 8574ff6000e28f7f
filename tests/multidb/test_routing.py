"""The override model on a second database, sent there by a router: reads, writes, the change version, the savepoint
around a read and the on_commit invalidation all use that database; default never sees a query of ours."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connections, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from request_settings import changes
from request_settings import store as store_module
from request_settings.models import ChangedRow, SettingOverride, SettingOverrideChange
from request_settings.store import store

KEY = "SESSION_EXPIRE_SECONDS"
HOST = "a.example.com"

pytestmark = pytest.mark.django_db(databases=["default", "overrides"], transaction=True)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def clock():
    fake = FakeClock()
    saved = store.timer
    store.timer = fake
    store.reset()
    yield fake
    store.timer = saved
    store.reset()


def value_for(host):
    return Client().get("/echo/", {"keys": KEY}, HTTP_HOST=host).json()["values"][KEY]


def statements(queries):
    return [query["sql"].split()[0].lstrip("(") for query in queries.captured_queries]


class Queries:
    """The queries sent to each database meanwhile (read them before the next request: request_started clears
    Django's query log)."""

    def __enter__(self):
        self.routed = CaptureQueriesContext(connections["overrides"]).__enter__()
        self.default = CaptureQueriesContext(connections["default"]).__enter__()
        return self

    def __exit__(self, *exc_info):
        self.default.__exit__(*exc_info)
        self.routed.__exit__(*exc_info)


def test_the_router_sends_our_tables_to_the_second_database_only():
    assert SettingOverride._meta.db_table in connections["overrides"].introspection.table_names()
    assert SettingOverride._meta.db_table not in connections["default"].introspection.table_names()


def test_a_write_lands_on_the_routed_database_with_its_audit_record_and_the_next_request_sees_it():
    with Queries() as queries:
        SettingOverride.objects.set(KEY, 60, host=HOST)
    assert not queries.default.captured_queries
    assert list(SettingOverride.objects.values_list("key", "host", "value")) == [(KEY, HOST, 60)]
    assert list(SettingOverrideChange.objects.values_list("key", "host", "new_value")) == [(KEY, HOST, 60)]
    with Queries() as queries:
        assert store.get().rows_of(HOST) == {KEY: 60}
    assert statements(queries.routed) == ["SELECT"]  # the first load: rows and version in one query
    assert not queries.default.captured_queries
    assert value_for(HOST) == 60


def test_each_write_bumps_the_change_version_on_the_routed_database():
    SettingOverride.objects.set(KEY, 60, host=HOST)
    first = changes.current("overrides")
    SettingOverride.objects.unset(KEY, host=HOST)
    assert changes.current("overrides") == first + 1 > 1
    logged = list(ChangedRow.objects.order_by("version").values_list("version", "key", "host"))
    assert logged == [(first, KEY, HOST), (first + 1, KEY, HOST)]


def test_another_process_change_is_read_incrementally_from_the_routed_database():
    SettingOverride.objects.set(KEY, 60, host=HOST)
    assert value_for(HOST) == 60
    with mock.patch.object(store_module, "_Committed", side_effect=lambda *args: lambda: None):
        SettingOverride.objects.set(KEY, 61, host=HOST)  # another process: no invalidation here
    assert value_for(HOST) == 60
    with Queries() as queries:
        store.refresh()
    assert statements(queries.routed) == ["SELECT"] * 3  # the version, the changed pairs, their rows
    assert not queries.default.captured_queries
    assert value_for(HOST) == 61
    with Queries() as queries:
        store.refresh(full=True)
    assert statements(queries.routed) == ["SELECT"]
    assert not queries.default.captured_queries


def test_a_transaction_on_the_routed_database_reads_its_own_rows_and_caches_none_of_them():
    committed = store.get()
    with transaction.atomic(using="overrides"):
        SettingOverride.objects.set(KEY, 60, host=HOST)
        assert value_for(HOST) == 60
        assert store.cached() is committed
        transaction.set_rollback(True, using="overrides")
    assert value_for(HOST) == 3600


def test_a_commit_on_the_routed_database_reaches_the_next_request():
    assert value_for(HOST) == 3600
    with transaction.atomic(using="overrides"):
        SettingOverride.objects.set(KEY, 60, host=HOST)
    assert value_for(HOST) == 60


def test_a_read_inside_a_transaction_on_the_routed_database_runs_in_a_savepoint_there():
    SettingOverride.objects.set(KEY, 60, host=HOST)
    store.reset()
    with transaction.atomic(using="overrides"), Queries() as queries:
        assert store.get().rows_of(HOST) == {KEY: 60}
    assert statements(queries.routed) == ["SAVEPOINT", "SELECT", "RELEASE"]
    assert not queries.default.captured_queries


def test_a_transaction_on_default_neither_holds_back_nor_wraps_the_routed_database():
    """A view under ATOMIC_REQUESTS on default: our write commits at once on its own database, and reads need no
    savepoint there."""
    store.get()
    with transaction.atomic():
        with Queries() as queries:
            SettingOverride.objects.set(KEY, 60, host=HOST)
        assert not queries.default.captured_queries
        with Queries() as queries:
            assert store.get().rows_of(HOST) == {KEY: 60}
        assert set(statements(queries.routed)) == {"SELECT"}  # no savepoint: no transaction is open there
        assert not queries.default.captured_queries
        assert store.cached().rows_of(HOST) == {KEY: 60}  # committed, so cached
        assert value_for(HOST) == 60


@override_settings(REQUEST_SETTINGS_LISTEN=True)
def test_listen_asks_the_routed_database_which_is_not_postgresql_here():
    from request_settings.refresher import Refresher

    assert Refresher(store)._listen() is False  # SQLite: the refresher polls


def test_a_migrate_of_the_routed_database_reads_the_table_and_one_of_default_does_not():
    SettingOverride.objects.set(KEY, 60, host=HOST)
    store.reset()
    store_module.load_after_migrate(sender=None, using="default")
    assert store.cached() is None
    store_module.load_after_migrate(sender=None, using="overrides")
    assert store.cached().rows_of(HOST) == {KEY: 60}


def test_a_transaction_that_wrote_reads_its_own_rows_in_a_savepoint_on_the_routed_database():
    """The savepoint that keeps a failing read from breaking the caller's transaction must be on the database that
    holds the transaction, not on default (where it would protect nothing and open a transaction of its own)."""
    store.get()
    with transaction.atomic(using="overrides"):
        SettingOverride.objects.set(KEY, 60, host=HOST)
        with Queries() as queries:
            assert store.get().rows_of(HOST) == {KEY: 60}  # its own uncommitted row
        assert statements(queries.routed) == ["SAVEPOINT", "SELECT", "RELEASE"]
        assert not queries.default.captured_queries
        transaction.set_rollback(True, using="overrides")


def test_a_schedule_is_read_and_switched_on_the_routed_database():
    import datetime

    import time_machine

    from request_settings.timetable import moment

    start = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
    with time_machine.travel(start - datetime.timedelta(hours=1), tick=False) as clock:
        SettingOverride.objects.set(KEY, 600, host=HOST)
        with Queries() as queries:
            SettingOverride.objects.schedule(KEY, 60, host=HOST, start=start, end=start + datetime.timedelta(hours=1))
        assert not queries.default.captured_queries
        assert value_for(HOST) == 600
        clock.move_to(start)
        with Queries() as queries:
            assert store.get().rows_of(HOST) == {KEY: 60}  # the switch, read where the schedules are
        assert queries.routed.captured_queries and not queries.default.captured_queries
        store.reset()
        with Queries() as queries:
            assert store.get().rows_of(HOST) == {KEY: 60}  # and a first load, in one statement there
        assert statements(queries.routed) == ["SELECT"] and not queries.default.captured_queries
        assert moment(start.timestamp()) == start


def test_a_streamed_read_on_a_routed_postgresql_database_runs_in_a_transaction_there():
    # A server-side cursor must stay inside a transaction of its own database (PgBouncer in transaction mode).
    postgresql = mock.patch.object(connections["overrides"], "vendor", "postgresql")
    with postgresql, store_module._for_server_side_cursor("overrides"):
        assert connections["overrides"].in_atomic_block and not connections["default"].in_atomic_block
