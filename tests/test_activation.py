"""request_settings.activate(): a request's overrides outside a request (commands, tasks, threads)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import override_settings

import request_settings
from request_settings.exceptions import InvalidHost
from request_settings.models import SettingOverride

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rows():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")


def test_applies_what_a_request_for_the_host_would_get(rows):
    with request_settings.activate("shop.example.com") as layer:
        assert settings.SESSION_EXPIRE_SECONDS == 60
        assert layer == {"SESSION_EXPIRE_SECONDS": 60}
        assert request_settings.current() == {"SESSION_EXPIRE_SECONDS": 60}
    assert settings.SESSION_EXPIRE_SECONDS == 3600
    assert request_settings.current() == {}


@pytest.mark.parametrize("host", [None, "", "unknown.example.com"])
def test_no_host_or_an_unknown_host_gets_the_all_hosts_rows(rows, host):
    with request_settings.activate(host):
        assert settings.SESSION_EXPIRE_SECONDS == 600


def test_the_host_is_normalised_like_a_requests(rows):
    with request_settings.activate("Shop.Example.COM.:8000"):
        assert settings.SESSION_EXPIRE_SECONDS == 60


def test_current_host_names_the_active_layer(rows):
    assert request_settings.current_host() is None
    with request_settings.activate():
        assert request_settings.current_host() == ""
        with request_settings.activate("Shop.Example.com"):
            assert request_settings.current_host() == "shop.example.com"
        assert request_settings.current_host() == ""
    assert request_settings.current_host() is None


def test_replaces_the_outer_layer_and_restores_it(rows):
    with request_settings.activate("shop.example.com"):
        with request_settings.activate():
            assert settings.SESSION_EXPIRE_SECONDS == 600
        assert settings.SESSION_EXPIRE_SECONDS == 60
    assert settings.SESSION_EXPIRE_SECONDS == 3600


def test_restores_the_outer_layer_when_the_block_raises(rows):
    with pytest.raises(KeyError), request_settings.activate("shop.example.com"):
        raise KeyError("x")
    assert settings.SESSION_EXPIRE_SECONDS == 3600


def test_decorator_re_reads_the_snapshot_at_each_call(rows):
    @request_settings.activate("shop.example.com")
    def job():
        return settings.SESSION_EXPIRE_SECONDS

    assert job() == 60
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 61, host="shop.example.com")
    assert job() == 61
    assert job.__name__ == "job"


async def test_async_decorator_and_async_with(rows):
    @request_settings.activate("shop.example.com")
    async def job():
        await asyncio.sleep(0)
        return settings.SESSION_EXPIRE_SECONDS

    assert await job() == 60
    async with request_settings.activate() as layer:
        assert layer == {"SESSION_EXPIRE_SECONDS": 600}
        assert settings.SESSION_EXPIRE_SECONDS == 600
    assert settings.SESSION_EXPIRE_SECONDS == 3600


async def test_plain_with_inside_async_code_never_queries_in_the_event_loop(rows):
    # Nothing cached yet: a query in the loop would raise SynchronousOnlyOperation.
    with request_settings.activate("shop.example.com"):
        assert settings.SESSION_EXPIRE_SECONDS == 60
    await sync_to_async(SettingOverride.objects.set)("SESSION_EXPIRE_SECONDS", 62, host="shop.example.com")
    with request_settings.activate("shop.example.com"):  # cache invalidated: serves the last good snapshot
        assert settings.SESSION_EXPIRE_SECONDS in (60, 62)


def test_threads_need_their_own_activate(rows):
    seen = {}

    def plain():
        seen["plain"] = settings.SESSION_EXPIRE_SECONDS

    @request_settings.activate("shop.example.com")
    def activated():
        seen["activated"] = settings.SESSION_EXPIRE_SECONDS

    with request_settings.activate("shop.example.com"):
        threads = [threading.Thread(target=plain), threading.Thread(target=activated)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert seen == {"plain": 3600, "activated": 60}


@override_settings(REQUEST_SETTINGS_ENABLED=False)
def test_kill_switch_applies_nothing(rows):
    with request_settings.activate("shop.example.com") as layer:
        assert layer == {}
        assert settings.SESSION_EXPIRE_SECONDS == 3600


@pytest.mark.parametrize("host", ["http://shop.example.com/", ".example.com", "*.example.com", 5])
def test_a_host_no_request_can_have_is_refused_not_silently_all_hosts(host):
    with pytest.raises(InvalidHost, match=r"is not a host: expected a host name such as 'shop.example.com'"):
        request_settings.activate(host)
