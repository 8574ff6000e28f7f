"""override_request_settings and the pytest fixture as a project's tests use them: what tests/test_testing.py leaves."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import unittest
from pathlib import Path

import pytest
from django.conf import settings
from django.test import SimpleTestCase, TestCase, override_settings
from django.urls import reverse

from request_settings import activate
from request_settings.models import SettingOverride
from request_settings.pytest_plugin import request_settings_override  # noqa: F401
from request_settings.testing import override_request_settings

REPO = Path(__file__).resolve().parent.parent
BASE = 3600  # SESSION_EXPIRE_SECONDS in tests/settings.py


def echo(client, host, keys="SESSION_EXPIRE_SECONDS"):
    return client.get(reverse("echo"), {"keys": keys}, HTTP_HOST=host).json()["values"]


def run_case(case):
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    assert result.wasSuccessful(), result.errors + result.failures


# -- host "" ("(all hosts)") is every host, as None is -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["", "(all hosts)"])
def test_the_all_hosts_host_pins_for_every_host(client, host):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 110, host="a.example.com")
    with override_request_settings(host=host, SESSION_EXPIRE_SECONDS=60):
        with_a_row = echo(client, "a.example.com")
        without = echo(client, "b.example.com")
        in_the_block = settings.SESSION_EXPIRE_SECONDS
    assert (with_a_row, without, in_the_block) == ({"SESSION_EXPIRE_SECONDS": 60}, {"SESSION_EXPIRE_SECONDS": 60}, 60)


def test_a_pattern_host_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"^'\*\.example\.com' is not a host: expected a host name such as"):
        override_request_settings(host="*.example.com", SESSION_EXPIRE_SECONDS=60)


# -- pinned values are served as a row's would be ------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(SHOP_CURRENCIES=("EUR", "USD"))
def test_a_pinned_list_comes_back_a_tuple_where_settings_py_has_one_as_a_row_does():
    SettingOverride.objects.set("SHOP_CURRENCIES", ["CHF"], host="a.example.com")
    with activate("a.example.com"):
        from_a_row = settings.SHOP_CURRENCIES
    with override_request_settings(SHOP_CURRENCIES=["CHF"]):
        pinned = settings.SHOP_CURRENCIES
    assert from_a_row == pinned == ("CHF",)


def test_a_pinned_tuple_comes_back_a_list_where_settings_py_has_none_as_a_row_does():
    with override_request_settings(BANNER_LINES=("Sale", "Today")):
        assert settings.BANNER_LINES == ["Sale", "Today"]


def test_a_pinned_value_is_a_copy_taken_on_entry():
    value = {"text": "Sale"}
    with override_request_settings(BANNER=value):
        value["text"] = "changed after pinning"
        assert settings.BANNER == {"text": "Sale"}


# -- on TestCase classes: setUpClass and setUpTestData see the values ----------------------------------------------


@pytest.mark.django_db
def test_a_decorated_class_pins_from_set_up_class_to_its_class_cleanups():
    seen = {}

    @override_request_settings(SESSION_EXPIRE_SECONDS=161)
    class Case(TestCase):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            seen["setUpClass"] = settings.SESSION_EXPIRE_SECONDS

        @classmethod
        def setUpTestData(cls):
            seen["setUpTestData"] = settings.SESSION_EXPIRE_SECONDS

        def test_one(self):
            seen["test"] = settings.SESSION_EXPIRE_SECONDS

        @classmethod
        def tearDownClass(cls):
            seen["tearDownClass"] = settings.SESSION_EXPIRE_SECONDS
            super().tearDownClass()

    run_case(Case)
    assert seen == {"setUpClass": 161, "setUpTestData": 161, "test": 161, "tearDownClass": 161}
    assert settings.SESSION_EXPIRE_SECONDS == BASE


def test_a_subclass_decorator_wins_over_its_parents():
    seen = []

    @override_request_settings(SESSION_EXPIRE_SECONDS=162, BANNER_TEXT="parent")
    class Parent(SimpleTestCase):
        def test_it(self):
            seen.append((settings.SESSION_EXPIRE_SECONDS, settings.BANNER_TEXT))

    @override_request_settings(SESSION_EXPIRE_SECONDS=163)
    class Child(Parent):
        pass

    run_case(Child)
    run_case(Parent)
    assert seen == [(163, "parent"), (162, "parent")]
    assert settings.SESSION_EXPIRE_SECONDS == BASE


def test_a_refused_value_on_a_class_fails_its_set_up_and_leaves_nothing():
    @override_request_settings(SESSION_EXPIRE_SECONDS=164, SECRET_KEY="x")
    class Case(SimpleTestCase):
        def test_it(self):
            pass  # pragma: no cover

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Case).run(result)
    assert "SECRET_KEY cannot be overridden: security-critical" in result.errors[0][1]
    assert settings.SESSION_EXPIRE_SECONDS == BASE


@override_request_settings(SESSION_EXPIRE_SECONDS=165)
class DecoratedIsolatedAsyncioTestCase(unittest.IsolatedAsyncioTestCase):
    async def test_the_values_reach_the_test(self):
        assert settings.SESSION_EXPIRE_SECONDS == 165


# -- leaving a block where it was not entered ----------------------------------------------------------------------


@pytest.mark.parametrize("host", [None, "a.example.com"])
def test_leaving_a_block_in_another_thread_says_so(host):
    helper = override_request_settings(host=host, SESSION_EXPIRE_SECONDS=60)
    helper.__enter__()
    raised = []

    def leave():
        try:
            helper.__exit__(None, None, None)
        except Exception as error:
            raised.append(error)

    thread = threading.Thread(target=leave)
    thread.start()
    thread.join()
    helper.__exit__(None, None, None)  # in the right context it still can
    assert [type(error).__mro__[1] for error in raised] == [RuntimeError]
    assert str(raised[0]) == (
        f"override_request_settings(host={host!r}, keys=['SESSION_EXPIRE_SECONDS']) is left in a context that did not "
        "enter it, or before a block opened inside it: enter and leave it in the same thread or task, innermost "
        "block first."
    )


def test_leaving_an_outer_block_first_is_refused_and_changes_nothing():
    outer = override_request_settings(host="a.example.com", SESSION_EXPIRE_SECONDS=60)
    inner = override_request_settings(BANNER_TEXT="inner")
    outer.__enter__()
    inner.__enter__()
    with pytest.raises(RuntimeError, match="before a block opened inside it"):
        outer.__exit__(None, None, None)
    assert settings.BANNER_TEXT == "inner"
    inner.__exit__(None, None, None)
    outer.__exit__(None, None, None)
    assert not hasattr(settings, "BANNER_TEXT")
    with activate("a.example.com"):
        assert settings.SESSION_EXPIRE_SECONDS == BASE


async def test_the_fixture_pins_for_a_host_in_an_async_test(request_settings_override):  # noqa: F811
    # Pinned in the test task's context: the fixture's teardown, in another context, must not fail on it.
    request_settings_override(host="a.example.com", SESSION_EXPIRE_SECONDS=111)
    await asyncio.sleep(0)
    async with activate("a.example.com"):
        assert settings.SESSION_EXPIRE_SECONDS == 111


# -- REQUEST_SETTINGS_ENABLED = False (documented) -----------------------------------------------------------------


@pytest.mark.django_db
@override_settings(REQUEST_SETTINGS_ENABLED=False)
def test_with_the_kill_switch_only_values_pinned_for_every_host_apply(client):
    with override_request_settings(host="a.example.com", SESSION_EXPIRE_SECONDS=60):
        for_a_host = echo(client, "a.example.com")
    with override_request_settings(SESSION_EXPIRE_SECONDS=60):
        for_every_host = echo(client, "a.example.com")
    assert for_a_host == {"SESSION_EXPIRE_SECONDS": BASE}
    assert for_every_host == {"SESSION_EXPIRE_SECONDS": 60}


# -- the fixture outside a project set up for it -------------------------------------------------------------------


USES_THE_FIXTURE = """
def test_plain():
    pass


def test_pins(request_settings_override):
    request_settings_override(BANNER_TEXT="x")
"""

WITHOUT_THE_APP = """
SECRET_KEY = "x"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("-p", "no:django"),
            "request_settings_override needs a Django project set up for the tests: install pytest-django and name "
            "your settings (DJANGO_SETTINGS_MODULE or --ds).",
        ),
        (("--ds=without_the_app",), "request_settings_override needs 'request_settings' in INSTALLED_APPS."),
    ],
    ids=["no-pytest-django", "app-not-installed"],
)
def test_the_fixture_fails_with_what_is_missing_and_nothing_else(tmp_path, args, message):
    (tmp_path / "test_user.py").write_text(USES_THE_FIXTURE, encoding="utf-8")
    (tmp_path / "without_the_app.py").write_text(WITHOUT_THE_APP, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert f"\n{message}\n" in result.stdout, result.stdout


def test_one_instance_entered_by_interleaved_tasks_keeps_each_tasks_values():
    shared = override_request_settings(SESSION_EXPIRE_SECONDS=166)

    async def task(banner):
        with shared, override_request_settings(BANNER_TEXT=banner):
            await asyncio.sleep(0)
            seen = (settings.SESSION_EXPIRE_SECONDS, settings.BANNER_TEXT)
        await asyncio.sleep(0)
        return seen, settings.SESSION_EXPIRE_SECONDS

    async def main():
        return await asyncio.gather(task("a"), task("b"))

    assert asyncio.run(main()) == [((166, "a"), BASE), ((166, "b"), BASE)]
