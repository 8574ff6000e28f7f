"""The change version on PostgreSQL: versions become visible in commit order, so a poll never skips a change.

The trap with a sequence: transaction T1 takes id 5, T2 takes id 6 and commits first; a poller that sees 6 would
never look at 5 again. Our version is an UPDATE of one row: T2 cannot get a version until T1 has committed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from unittest import mock

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from request_settings import changes
from request_settings.models import SettingOverride
from request_settings.store import store

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the interleaving needs PostgreSQL's row locks: run it with tox -e postgres")


@pytest.fixture
def other_processes():
    """Every write of the test acts as another process's: no invalidation here (patched once, not per thread)."""
    with mock.patch.object(store, "invalidate"):
        yield


@contextlib.contextmanager
def held_open(write):
    """Run ``write()`` in a transaction of another thread, and keep that transaction open until the block ends."""
    opened, release = threading.Event(), threading.Event()

    def run():
        try:
            with transaction.atomic():
                write()
                opened.set()
                assert release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    assert opened.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def started(write):
    """``write()`` in a thread of its own (its own connection), started now; ``done`` tells when it returned."""
    done = threading.Event()

    def run():
        try:
            write()
            done.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.done = done
    return thread


def test_a_later_writer_waits_for_the_earlier_one_so_no_change_is_skipped(other_processes):
    SettingOverride.objects.set("TENANT_BANNER", "start")
    snapshot = store.get()
    with held_open(lambda: SettingOverride.objects.set("TENANT_BANNER", "from T1", host="a.example.com")):
        second = started(lambda: SettingOverride.objects.set("TENANT_BANNER", "from T2", host="b.example.com"))
        time.sleep(0.3)
        assert not second.done.is_set()  # T2 queues on the version row's lock behind T1
        assert changes.current("default") == snapshot.version  # nothing committed yet: a poll sees nothing new
        assert store.refresh() is snapshot
    second.join(10)
    assert second.done.is_set()
    refreshed = store.refresh()
    assert refreshed.version == snapshot.version + 2
    assert refreshed.rows_of("a.example.com") == {"TENANT_BANNER": "from T1"}
    assert refreshed.rows_of("b.example.com") == {"TENANT_BANNER": "from T2"}
    assert refreshed.full_at == snapshot.full_at  # read incrementally, both changes found


def test_a_poll_between_the_two_commits_still_gets_both(other_processes):
    SettingOverride.objects.set("TENANT_BANNER", "start")
    snapshot = store.get()
    with held_open(lambda: SettingOverride.objects.set("TENANT_BANNER", "from T1", host="a.example.com")):
        pass
    middle = store.refresh()  # T1 committed, T2 not started yet
    assert middle.version == snapshot.version + 1
    SettingOverride.objects.set("TENANT_BANNER", "from T2", host="b.example.com")
    last = store.refresh()
    assert last.rows_of("a.example.com") == {"TENANT_BANNER": "from T1"}
    assert last.rows_of("b.example.com") == {"TENANT_BANNER": "from T2"}


def test_two_writers_recreating_a_lost_version_row_both_get_a_version():
    from request_settings.models import ChangeVersion

    SettingOverride.objects.set("TENANT_BANNER", "start")
    ChangeVersion.objects.all().delete()
    versions = []
    with held_open(lambda: versions.append(changes.record("default", "TENANT_BANNER", "a.example.com"))):
        # The second writer's INSERT of the version row waits on the unique index, then updates the first's row.
        second = started(lambda: versions.append(changes.record("default", "TENANT_BANNER", "b.example.com")))
        time.sleep(0.3)
    second.join(10)
    assert len(versions) == 2 and versions[1] == versions[0] + 1
    assert changes.current("default") == versions[1]


def test_a_full_read_streams_through_a_server_side_cursor_inside_a_transaction():
    """Rows in chunks, so millions of them are never alive at once; the cursor inside a transaction of its own, as
    Django asks when a pooler in transaction mode (PgBouncer) may send a later FETCH to another server connection."""
    SettingOverride.objects.set("TENANT_BANNER", "x", host="a.example.com")
    store.reset()
    with CaptureQueriesContext(connection) as queries:
        store.refresh(full=True)
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["BEGIN", "DECLARE", "COMMIT"]
    assert store.cached().layer("a.example.com")[0] == {"TENANT_BANNER": "x"}


def test_with_server_side_cursors_disabled_a_full_read_is_one_plain_select():
    SettingOverride.objects.set("TENANT_BANNER", "x", host="a.example.com")
    store.reset()
    with (
        mock.patch.dict(connection.settings_dict, {"DISABLE_SERVER_SIDE_CURSORS": True}),
        CaptureQueriesContext(connection) as queries,
    ):
        store.refresh(full=True)
    statements = [query["sql"].split()[0].lstrip("(") for query in queries.captured_queries]
    assert "DECLARE" not in statements and statements.count("SELECT") == 1, statements
    assert store.cached().layer("a.example.com")[0] == {"TENANT_BANNER": "x"}
