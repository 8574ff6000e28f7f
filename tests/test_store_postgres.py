"""The change version on PostgreSQL: versions become visible in commit order, so a poll never skips a change.

The trap with a sequence: transaction T1 takes id 5, T2 takes id 6 and commits first; a poller that sees 6 would
never look at 5 again. Our version is an UPDATE of one row: T2 cannot get a version until T1 has committed.
"""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.db import connection, connections, transaction

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


def test_a_later_writer_waits_for_the_earlier_one_so_no_change_is_skipped(other_processes):
    SettingOverride.objects.set("TENANT_BANNER", "start")
    snapshot = store.get()
    first_open, second_done = threading.Event(), threading.Event()
    release_first = threading.Event()

    def first():
        with transaction.atomic():
            SettingOverride.objects.set("TENANT_BANNER", "from T1", host="a.example.com")
            first_open.set()
            assert release_first.wait(10)
        connections.close_all()

    def second():
        assert first_open.wait(10)
        SettingOverride.objects.set("TENANT_BANNER", "from T2", host="b.example.com")
        second_done.set()
        connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert first_open.wait(10)
    time.sleep(0.3)
    assert not second_done.is_set()  # T2 queues on the version row's lock behind T1
    assert changes.current("default") == snapshot.version  # nothing committed yet: a poll sees nothing new
    assert store.refresh() is snapshot
    release_first.set()
    for thread in threads:
        thread.join(10)
    assert second_done.is_set()
    refreshed = store.refresh()
    assert refreshed.version == snapshot.version + 2
    assert refreshed.rows_of("a.example.com") == {"TENANT_BANNER": "from T1"}
    assert refreshed.rows_of("b.example.com") == {"TENANT_BANNER": "from T2"}
    assert refreshed.full_at == snapshot.full_at  # read incrementally, both changes found


def test_a_poll_between_the_two_commits_still_gets_both(other_processes):
    SettingOverride.objects.set("TENANT_BANNER", "start")
    snapshot = store.get()
    first_open, release_first = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            SettingOverride.objects.set("TENANT_BANNER", "from T1", host="a.example.com")
            first_open.set()
            assert release_first.wait(10)
        connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_open.wait(10)
    release_first.set()
    thread.join(10)
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
    first_open, release_first = threading.Event(), threading.Event()
    versions = []

    def first():
        with transaction.atomic():
            versions.append(changes.record("default", "TENANT_BANNER", "a.example.com"))
            first_open.set()
            assert release_first.wait(10)
        connections.close_all()

    def second():
        assert first_open.wait(10)
        versions.append(changes.record("default", "TENANT_BANNER", "b.example.com"))  # waits on the unique index
        connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert first_open.wait(10)
    time.sleep(0.3)
    release_first.set()
    for thread in threads:
        thread.join(10)
    assert len(versions) == 2 and versions[1] == versions[0] + 1
    assert changes.current("default") == versions[1]
