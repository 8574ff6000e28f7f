"""request_settings.testing and the pytest plugin: values pinned to one context, never leaked."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import unittest
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import SimpleTestCase, TestCase, override_settings
from django.urls import reverse

from request_settings import activate
from request_settings.models import SettingOverride
from request_settings.pytest_plugin import request_settings_override  # noqa: F401
from request_settings.testing import clear_snapshot, override_request_settings

REPO = Path(__file__).resolve().parent.parent
BASE = 3600  # SESSION_EXPIRE_SECONDS in tests/settings.py


def echo(client, host, keys="SESSION_EXPIRE_SECONDS"):
    return client.get(reverse("echo"), {"keys": keys}, HTTP_HOST=host).json()["values"]


# -- code directly inside the block ----------------------------------------------------------------


def test_code_inside_the_block_sees_the_values_and_code_after_it_does_not():
    with override_request_settings(SESSION_EXPIRE_SECONDS=60, BANNER_TEXT="Closed on Monday"):
        assert settings.SESSION_EXPIRE_SECONDS == 60
        assert settings.BANNER_TEXT == "Closed on Monday"
    assert settings.SESSION_EXPIRE_SECONDS == BASE
    assert not hasattr(settings, "BANNER_TEXT")


def test_nested_use_restores_the_outer_values():
    with override_request_settings(SESSION_EXPIRE_SECONDS=60, BANNER_TEXT="outer"):
        with override_request_settings(SESSION_EXPIRE_SECONDS=130):
            assert settings.SESSION_EXPIRE_SECONDS == 130
            assert settings.BANNER_TEXT == "outer"
        assert settings.SESSION_EXPIRE_SECONDS == 60
        assert settings.BANNER_TEXT == "outer"
    assert settings.SESSION_EXPIRE_SECONDS == BASE


def test_values_are_restored_when_the_block_raises():
    with pytest.raises(RuntimeError), override_request_settings(SESSION_EXPIRE_SECONDS=60):
        raise RuntimeError("test failed inside")
    assert settings.SESSION_EXPIRE_SECONDS == BASE


def test_values_win_over_override_settings():
    with (
        override_settings(SESSION_EXPIRE_SECONDS=10),
        override_request_settings(SESSION_EXPIRE_SECONDS=120),
    ):
        assert settings.SESSION_EXPIRE_SECONDS == 120


def test_a_host_pin_is_for_requests_only():
    with override_request_settings(host="a.example.com", SESSION_EXPIRE_SECONDS=60):
        assert settings.SESSION_EXPIRE_SECONDS == BASE


# -- as a decorator --------------------------------------------------------------------------------


@override_request_settings(SESSION_EXPIRE_SECONDS=145)
def read_in_decorated_function():
    return settings.SESSION_EXPIRE_SECONDS


@override_request_settings(SESSION_EXPIRE_SECONDS=146)
async def read_in_decorated_coroutine():
    await asyncio.sleep(0)
    return settings.SESSION_EXPIRE_SECONDS


def test_decorates_functions_and_coroutines():
    assert read_in_decorated_function() == 145
    assert asyncio.run(read_in_decorated_coroutine()) == 146
    assert settings.SESSION_EXPIRE_SECONDS == BASE


def test_a_decorated_coroutine_run_concurrently_keeps_each_call_apart():
    @override_request_settings(SESSION_EXPIRE_SECONDS=147)
    async def read_twice(outer):
        with override_request_settings(BANNER_TEXT=outer):
            await asyncio.sleep(0)
            return settings.SESSION_EXPIRE_SECONDS, settings.BANNER_TEXT

    async def main():
        return await asyncio.gather(read_twice("a"), read_twice("b"))

    assert asyncio.run(main()) == [(147, "a"), (147, "b")]


@override_request_settings(SESSION_EXPIRE_SECONDS=155)
class DecoratedTestCase(TestCase):
    def setUp(self):
        self.seen_in_set_up = settings.SESSION_EXPIRE_SECONDS

    def test_set_up_test_and_requests_see_the_values(self):
        assert self.seen_in_set_up == 155
        assert settings.SESSION_EXPIRE_SECONDS == 155
        assert echo(self.client, "any.example.com") == {"SESSION_EXPIRE_SECONDS": 155}


def test_a_decorated_test_case_leaves_nothing_behind():
    seen = []

    @override_request_settings(SESSION_EXPIRE_SECONDS=156)
    class Inner(SimpleTestCase):
        def test_one(self):
            seen.append(settings.SESSION_EXPIRE_SECONDS)

        def test_two(self):
            seen.append(settings.SESSION_EXPIRE_SECONDS)

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Inner).run(result)
    assert result.wasSuccessful(), result.errors + result.failures
    assert seen == [156, 156]
    assert settings.SESSION_EXPIRE_SECONDS == BASE


def test_decorating_something_else_is_refused():
    with pytest.raises(TypeError, match=r"Can only decorate subclasses of unittest\.TestCase"):
        override_request_settings(SESSION_EXPIRE_SECONDS=1)(type("Plain", (), {}))


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SECRET_KEY": "x"}, r"SECRET_KEY cannot be overridden: security-critical"),
        ({"TIME_ZONE": "UTC"}, r"TIME_ZONE cannot be overridden: cached by Django on first use"),
        ({"SESSION_COOKIE_AGE": 0}, r"0 is not a valid value for SESSION_COOKIE_AGE"),
        (
            {"SESSION_EXPIRE_SECONDS": "soon"},
            r"'soon' is not a valid value for SESSION_EXPIRE_SECONDS",
        ),
    ],
)
def test_refused_keys_and_bad_values_raise_with_the_reason(values, message):
    with pytest.raises(ValidationError, match=message), override_request_settings(**values):
        pass  # pragma: no cover
    assert settings.SESSION_EXPIRE_SECONDS == BASE


def test_a_bad_host_is_refused():
    with pytest.raises(ValueError, match=r"'http://a/' is not a host: expected a host name"):
        override_request_settings(host="http://a/", SESSION_EXPIRE_SECONDS=1)


# -- threads and tasks -----------------------------------------------------------------------------


def test_a_thread_started_inside_the_block_does_not_see_the_values():
    seen = {}

    def read():
        seen["age"] = settings.SESSION_EXPIRE_SECONDS
        seen["banner"] = hasattr(settings, "BANNER_TEXT")

    with override_request_settings(SESSION_EXPIRE_SECONDS=60, BANNER_TEXT="x"):
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert seen == {"age": BASE, "banner": False}


def test_concurrent_threads_do_not_see_each_others_values():
    barrier = threading.Barrier(2, timeout=10)
    seen = {}

    def worker(value):
        with override_request_settings(SESSION_EXPIRE_SECONDS=value):
            barrier.wait()  # both are inside their blocks
            seen[value] = settings.SESSION_EXPIRE_SECONDS
            barrier.wait()  # both have read before either leaves
        seen[f"after {value}"] = settings.SESSION_EXPIRE_SECONDS

    threads = [threading.Thread(target=worker, args=(value,)) for value in (110, 120)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {110: 110, 120: 120, "after 110": BASE, "after 120": BASE}


def test_interleaved_asyncio_tasks_each_see_their_own_values():
    order = []

    async def task(value):
        with override_request_settings(SESSION_EXPIRE_SECONDS=value):
            seen = []
            for _ in range(3):
                order.append(value)
                await asyncio.sleep(0)
                seen.append(settings.SESSION_EXPIRE_SECONDS)
        return seen, settings.SESSION_EXPIRE_SECONDS

    async def main():
        return await asyncio.gather(task(110), task(120))

    assert asyncio.run(main()) == [([110, 110, 110], BASE), ([120, 120, 120], BASE)]
    assert order == [110, 120, 110, 120, 110, 120]  # they really interleaved


# -- requests through the test client --------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_inside_the_block_sees_the_values_for_that_host_only(client):
    with override_request_settings(host="A.Example.com:8000", SESSION_EXPIRE_SECONDS=60):
        inside_a = echo(client, "a.example.com")
        inside_b = echo(client, "b.example.com")
    after_a = echo(client, "a.example.com")
    assert inside_a == {"SESSION_EXPIRE_SECONDS": 60}
    assert inside_b == {"SESSION_EXPIRE_SECONDS": BASE}
    assert after_a == {"SESSION_EXPIRE_SECONDS": BASE}


@pytest.mark.django_db
def test_pinned_values_win_over_rows_and_never_touch_the_table(client):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 110, host="a.example.com")
    SettingOverride.objects.set("BANNER_TEXT", "from the table")
    before = list(SettingOverride.objects.values_list("key", "host", "value", "updated_at"))

    with override_request_settings(SESSION_EXPIRE_SECONDS=60):
        inside = echo(client, "a.example.com", "SESSION_EXPIRE_SECONDS,BANNER_TEXT")
    after = echo(client, "a.example.com", "SESSION_EXPIRE_SECONDS,BANNER_TEXT")

    assert inside == {"SESSION_EXPIRE_SECONDS": 60, "BANNER_TEXT": "from the table"}
    assert after == {"SESSION_EXPIRE_SECONDS": 110, "BANNER_TEXT": "from the table"}
    assert list(SettingOverride.objects.values_list("key", "host", "value", "updated_at")) == before


@pytest.mark.django_db
def test_django_reads_a_pinned_setting_in_the_request(client):
    with override_request_settings(host="a.example.com", SESSION_COOKIE_AGE=120):
        response = client.get(reverse("session"), HTTP_HOST="a.example.com")
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 120


@pytest.mark.django_db
def test_activate_inside_the_block_merges_the_pins():
    with override_request_settings(host="a.example.com", SESSION_EXPIRE_SECONDS=60):
        with activate("a.example.com"):
            for_a = settings.SESSION_EXPIRE_SECONDS
        with activate("b.example.com"):
            for_b = settings.SESSION_EXPIRE_SECONDS
    assert (for_a, for_b) == (60, BASE)


@pytest.mark.django_db
def test_an_async_request_inside_the_block_sees_the_values(async_client):
    # The async test client sends "Host: testserver".
    async def request():
        with override_request_settings(host="testserver", SESSION_EXPIRE_SECONDS=60):
            assert settings.SESSION_EXPIRE_SECONDS == BASE
            response = await async_client.get(reverse("async-echo"))
        return response.json()

    body = async_to_sync(request)()
    assert body["values"] == {"SESSION_EXPIRE_SECONDS": 60}
    assert body["in_thread"] == {"SESSION_EXPIRE_SECONDS": 60}


# -- clear_snapshot --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_SETTINGS_CACHE_TTL=3600)
def test_clear_snapshot_makes_the_next_request_read_the_table(client):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
    assert echo(client, "a.example.com") == {"SESSION_EXPIRE_SECONDS": 60}
    # A change this process is not told about (another process, a raw UPDATE) waits for the TTL...
    SettingOverride.objects.filter(key="SESSION_EXPIRE_SECONDS").update(value=130)
    assert echo(client, "a.example.com") == {"SESSION_EXPIRE_SECONDS": 60}
    # ...unless a test clears the snapshot.
    clear_snapshot()
    assert echo(client, "a.example.com") == {"SESSION_EXPIRE_SECONDS": 130}


# -- the pytest fixture ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_fixture_pins_for_the_rest_of_the_test(request_settings_override, client):  # noqa: F811
    request_settings_override(SESSION_EXPIRE_SECONDS=105)
    request_settings_override(host="a.example.com", BANNER_TEXT="only a")
    assert settings.SESSION_EXPIRE_SECONDS == 105
    assert echo(client, "a.example.com", "SESSION_EXPIRE_SECONDS,BANNER_TEXT") == {
        "SESSION_EXPIRE_SECONDS": 105,
        "BANNER_TEXT": "only a",
    }
    assert echo(client, "b.example.com", "BANNER_TEXT") == {"BANNER_TEXT": "<missing>"}


async def test_the_fixture_in_an_async_test(request_settings_override):  # noqa: F811
    # Pinned in the test task's own context; the teardown must not fail on it.
    request_settings_override(SESSION_EXPIRE_SECONDS=109)
    await asyncio.sleep(0)
    assert settings.SESSION_EXPIRE_SECONDS == 109


PLUGIN_TESTS = """
import asyncio

import pytest
from django.conf import settings
from django.urls import reverse


@pytest.mark.django_db
def test_pins(request_settings_override, client):
    request_settings_override(SESSION_EXPIRE_SECONDS=105)
    request_settings_override(host="a.example.com", SESSION_EXPIRE_SECONDS=107)
    assert settings.SESSION_EXPIRE_SECONDS == 105
    response = client.get(reverse("echo"), HTTP_HOST="a.example.com")
    assert response.json()["values"] == {"SESSION_EXPIRE_SECONDS": 107}


def test_refused(request_settings_override):
    request_settings_override(SECRET_KEY="x")


def test_unpinned_at_teardown():
    assert settings.SESSION_EXPIRE_SECONDS == 3600


@pytest.mark.asyncio
async def test_pins_in_an_async_test(request_settings_override):
    request_settings_override(SESSION_EXPIRE_SECONDS=109)
    await asyncio.sleep(0)
    assert settings.SESSION_EXPIRE_SECONDS == 109


@pytest.mark.asyncio
async def test_unpinned_after_an_async_test():
    assert settings.SESSION_EXPIRE_SECONDS == 3600


def test_unpinned_after_an_async_test_in_sync_code():
    assert settings.SESSION_EXPIRE_SECONDS == 3600
"""


PLUGIN_ARGS = ("-p", "no:cacheprovider", "-p", "no:randomly", "--ds=tests.settings")


def test_the_plugin_loads_as_a_pytest_plugin_and_unpins_at_teardown(tmp_path):
    (tmp_path / "test_plugin_user.py").write_text(PLUGIN_TESTS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(name, None)
    # On PostgreSQL, a test database of its own: the inner run would otherwise drop ours.
    outer_db = os.environ.get("REQUEST_SETTINGS_TEST_DB_NAME", "test_request_settings")
    env["REQUEST_SETTINGS_TEST_DB_NAME"] = f"{outer_db}_plugin"
    # Installed, the pytest11 entry point loads it (-p as well would register it twice);
    # from a source checkout, -p does.
    installed = any(entry.value == "request_settings.pytest_plugin" for entry in entry_points(group="pytest11"))
    plugin = () if installed else ("-p", "request_settings.pytest_plugin")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugin, *PLUGIN_ARGS],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no pyproject or conftest here: only the plugin provides the fixture
        env=env,
        timeout=120,
        check=False,
    )
    assert "1 failed, 5 passed" in result.stdout, result.stdout + result.stderr
    assert "SECRET_KEY cannot be overridden: security-critical" in result.stdout
