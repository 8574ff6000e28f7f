"""Invisible by default: a project's existing Django tests pass unchanged once the app and middleware are in.

Written the way a project writes them (``SimpleTestCase``, ``TestCase``, ``assertNumQueries``), run through the real
middleware stack. Django's own test modules are the larger proof (tests/django_suite, ``tox -e django-suite``).
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test import SimpleTestCase, TestCase, TransactionTestCase
from django.test.utils import CaptureQueriesContext

from request_settings.models import SettingOverride
from request_settings.store import store

pytestmark = pytest.mark.keep_snapshot  # no reset between tests: a project's suite does not reset our store


class ProjectSimpleTests(SimpleTestCase):
    """No database at all: the middleware must not query, and must not cache what it served instead."""

    def test_a_client_request_works_and_sees_settings_py(self):
        store.reset()
        response = self.client.get("/echo/", HTTP_HOST="a.example.com")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["values"], {"SESSION_EXPIRE_SECONDS": 3600})
        self.assertIsNone(store.cached())  # the settings.py fallback is not cached: a later test may query

    def test_an_async_client_request_works_too(self):
        from asgiref.sync import async_to_sync

        response = async_to_sync(self.async_client.get)("/async-echo/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["values"], {"SESSION_EXPIRE_SECONDS": 3600})

    def test_with_a_snapshot_already_loaded_it_is_served(self):
        # Loaded by an earlier test of the run (here: by hand, as a TestCase would have).
        from request_settings.snapshot import build

        store._current = (build([("SESSION_EXPIRE_SECONDS", "a.example.com", 60)], 1), store.commits)
        response = self.client.get("/echo/", HTTP_HOST="a.example.com")
        self.assertEqual(response.json()["values"], {"SESSION_EXPIRE_SECONDS": 60})


class ProjectTestCaseQueries(TestCase):
    """Query counts of a project's views stay what they were: 0 added once the process has a snapshot."""

    def test_first_request_adds_at_most_one_select(self):
        store.reset()
        with CaptureQueriesContext(connection) as queries:
            self.client.get("/echo/")
        selects = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        self.assertEqual(len(selects), 1, selects)

    def test_a_request_adds_no_query_once_the_process_has_a_snapshot(self):
        self.client.get("/echo/")
        with self.assertNumQueries(0):
            for host in ["testserver", "a.example.com", "b.example.com"]:
                self.assertEqual(self.client.get("/echo/", HTTP_HOST=host).status_code, 200)

    def test_a_test_that_writes_overrides_sees_them_and_the_next_test_does_not(self):
        self.client.get("/echo/")
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
        response = self.client.get("/echo/", HTTP_HOST="a.example.com")
        self.assertEqual(response.json()["values"], {"SESSION_EXPIRE_SECONDS": 60})

    def test_zz_after_a_test_that_wrote_overrides_nothing_remains_and_no_query_is_added(self):
        # Runs after the test above (alphabetical order): its rows were rolled back with its savepoint.
        self.client.get("/echo/")
        with self.assertNumQueries(0):
            response = self.client.get("/echo/", HTTP_HOST="a.example.com")
        self.assertEqual(response.json()["values"], {"SESSION_EXPIRE_SECONDS": 3600})


class ProjectTransactionTests(TransactionTestCase):
    """A flush between tests resets the table and its change version: nothing stale survives it."""

    def test_a_row_then_a_flush(self):
        self.client.get("/echo/")
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
        self.assertEqual(self.client.get("/echo/").json()["values"], {"SESSION_EXPIRE_SECONDS": 60})

    def test_b_after_the_flush_settings_py_again(self):
        SettingOverride.objects.set("TENANT_BANNER", "new")  # recreates the version row the flush removed
        self.assertEqual(self.client.get("/echo/").json()["values"], {"SESSION_EXPIRE_SECONDS": 3600})
        self.assertEqual(settings.SESSION_EXPIRE_SECONDS, 3600)


@pytest.mark.django_db(transaction=True)
def test_migrate_reads_the_table_so_no_test_pays_the_first_read():
    # Django's test runner migrates the test database before its workers fork: they inherit the snapshot.
    from django.core.management import call_command

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
    store.reset()
    call_command("migrate", verbosity=0)
    assert store.cached() is not None and store.cached().all_hosts == {"SESSION_EXPIRE_SECONDS": 60}
