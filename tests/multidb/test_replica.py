"""Reads on a replica, writes on the primary (a router): a write transaction reads its own rows and bumps the change
version on the primary, whatever the router says about reads; other requests read through the replica."""

from __future__ import annotations

import time

import pytest
from django.db import connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from request_settings import changes
from request_settings.models import ChangedRow, ChangeVersion, SettingOverride
from request_settings.store import store

KEY = "SESSION_EXPIRE_SECONDS"
HOST = "a.example.com"

pytestmark = pytest.mark.django_db(databases=["default", "replica"], transaction=True)


@pytest.fixture(autouse=True)
def _fresh_store():
    store.reset()
    yield
    store.reset()


def value_for(host):
    return Client().get("/echo/", {"keys": KEY}, HTTP_HOST=host).json()["values"][KEY]


def test_a_write_transaction_reads_its_own_rows_and_versions_on_the_primary():
    with transaction.atomic():
        SettingOverride.objects.set(KEY, 60, host=HOST)
        first = changes.current("default")
        SettingOverride.objects.set(KEY, 61, host=HOST)
        assert changes.current("default") == first + 1  # the second write read the first's bump
        assert store.get().rows_of(HOST) == {KEY: 61}  # its own uncommitted row
    assert value_for(HOST) == 61


def test_other_requests_read_through_the_replica():
    SettingOverride.objects.set(KEY, 60, host=HOST)
    with CaptureQueriesContext(connections["replica"]) as replica:
        assert store.get().rows_of(HOST) == {KEY: 60}
    assert replica.captured_queries


def test_a_write_after_restoring_a_dump_in_the_same_transaction_continues_above_the_restored_log():
    """A dump restored in one transaction (its log of changes, no version row) and a write in it: the version must
    start above the restored log, whose rows only the primary shows before the commit (a version taken again would
    read as "unchanged" to a process that holds it)."""
    ahead = int(time.time() * 1000) + 10**9  # the dump's versions run ahead of this server's clock
    with transaction.atomic():
        ChangeVersion.objects.all().delete()
        ChangedRow.objects.create(version=ahead, key=KEY, host=HOST)
        SettingOverride.objects.set(KEY, 60, host=HOST)
        assert changes.current("default") == ahead + 1
    assert list(ChangedRow.objects.order_by("version").values_list("version", flat=True)) == [ahead, ahead + 1]


def test_a_write_transaction_reads_its_own_schedules_on_the_primary():
    with transaction.atomic():
        SettingOverride.objects.set(KEY, 600, host=HOST)
        SettingOverride.objects.schedule(KEY, 60, host=HOST)  # from now: in effect for this transaction's reads
        assert store.get().rows_of(HOST) == {KEY: 60}
        assert store.get().scheduled == frozenset({(KEY, HOST)})
        transaction.set_rollback(True)
    assert store.get().rows_of(HOST) is None
