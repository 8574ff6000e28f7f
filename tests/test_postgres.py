"""PostgreSQL: the unique (key, host) under concurrent writers, each on its own connection.

These run when the suite runs on PostgreSQL (REQUEST_SETTINGS_TEST_DB=postgres, the tox env
``postgres``). The SQLite envs deselect them (``-m "not postgres"``); selected on another database,
they skip outside CI and fail under CI=true, so a CI job can never pass them silently.
"""

from __future__ import annotations

import os
import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from request_settings.models import SettingOverride
from request_settings.signals import override_changed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 50
KEY = "TENANT_BANNER"
TABLE = SettingOverride._meta.db_table


def require_postgres():
    """The rule of tests.conftest.require_server, for "the suite is not running on PostgreSQL"."""
    if connection.vendor == "postgresql":
        return
    if os.environ.get("CI") == "true":
        pytest.fail("This test needs PostgreSQL: run it with REQUEST_SETTINGS_TEST_DB=postgres.")
    pytest.skip("Needs PostgreSQL: run with REQUEST_SETTINGS_TEST_DB=postgres (CI=true fails here).")


@pytest.fixture(autouse=True)
def _postgres():
    require_postgres()


@pytest.fixture
def changes():
    """(old_value, new_value) of each committed change, in the order the signals arrive."""
    seen = []
    lock = threading.Lock()

    def record(sender, old_value, new_value, **kwargs):
        with lock:
            seen.append((old_value, new_value))

    override_changed.connect(record, dispatch_uid="test_postgres_changes")
    yield seen
    override_changed.disconnect(dispatch_uid="test_postgres_changes")


def race(host):
    """WRITERS threads, each with its own connection, set KEY for host at the same moment."""
    barrier = threading.Barrier(WRITERS)
    errors = []

    def write(number):
        try:
            barrier.wait(timeout=30)
            SettingOverride.objects.set(KEY, f"writer {number}", host=host)
        except Exception as error:  # every error is a failure of the test: collect them all
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return errors


def assert_serialised(changes, final_value):
    """Each writer saw the value the previous one committed, and the last one's value stayed."""
    assert len(changes) == WRITERS
    after = dict(changes)
    assert len(after) == WRITERS, f"two writers saw the same old value (a lost update): {changes}"
    value, chain = None, []
    while value in after:
        value = after[value]
        chain.append(value)
    assert sorted(chain) == sorted(f"writer {n}" for n in range(WRITERS))
    assert chain[-1] == final_value


@pytest.mark.parametrize("host", ["shop.example.com", ""], ids=["one host", "all hosts"])
def test_concurrent_upserts_of_one_key_leave_one_row_with_the_last_committed_value(host, changes):
    errors = race(host)
    assert errors == []
    rows = list(SettingOverride.objects.filter(key=KEY, host=host).values_list("value", flat=True))
    assert len(rows) == 1
    assert_serialised(changes, rows[0])


@pytest.mark.parametrize("host", ["shop.example.com", ""], ids=["one host", "all hosts"])
def test_a_raw_duplicate_insert_is_refused_by_the_database(host):
    SettingOverride.objects.set(KEY, "first", host=host)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (key, host, value, created_at, updated_at) VALUES (%s, %s, %s, now(), now())",
            [KEY, host, '"second"'],
        )
    assert list(SettingOverride.objects.filter(key=KEY).values_list("host", "value")) == [(host, "first")]


def test_a_null_host_cannot_sneak_past_the_unique_constraint():
    # On PostgreSQL NULLs are distinct in a unique constraint; "" stands for all hosts, never NULL.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (key, host, value, created_at, updated_at) VALUES (%s, NULL, %s, now(), now())",
            [KEY, '"null host"'],
        )
