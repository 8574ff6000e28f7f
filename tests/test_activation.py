"""request_settings.activate(): a request's overrides outside a request (commands, tasks, threads)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

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


# -- one activate() object shared by threads and tasks ---------------------------------------------

SHARED_WORKERS = 8


def test_one_instance_shared_by_a_thread_pool_keeps_each_threads_layer(rows):
    shop = request_settings.activate("shop.example.com")  # one object, as a module-level decorator would be
    inside = threading.Barrier(SHARED_WORKERS)

    def job(_):
        with shop:
            inside.wait(timeout=10)  # every thread is inside the same object at once
            value = settings.SESSION_EXPIRE_SECONDS
            inside.wait(timeout=10)
        return value, request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS

    with ThreadPoolExecutor(max_workers=SHARED_WORKERS) as pool:
        results = list(pool.map(job, range(SHARED_WORKERS)))
        # The same pool threads, later, for unrelated work: nothing of the shop is left on them.
        later = list(pool.map(lambda _: (request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS), range(64)))

    assert results == [(60, None, 3600)] * SHARED_WORKERS
    assert set(later) == {(None, 3600)}


def test_one_instance_shared_by_nested_blocks_on_one_thread(rows):
    shop = request_settings.activate("shop.example.com")
    with shop:
        with request_settings.activate(), shop:
            assert settings.SESSION_EXPIRE_SECONDS == 60
        assert settings.SESSION_EXPIRE_SECONDS == 60
    assert request_settings.current_host() is None


async def test_one_instance_shared_by_interleaved_asyncio_tasks(rows):
    shop = request_settings.activate("shop.example.com")
    blog = request_settings.activate()

    async def job(activation, delay):
        async with activation:
            await asyncio.sleep(delay)  # the other tasks enter and leave the same object meanwhile
            value = settings.SESSION_EXPIRE_SECONDS
            await asyncio.sleep(0)
        return value, request_settings.current_host()

    async def plain_with(activation, delay):
        with activation:  # the sync form inside coroutines, interleaved across awaits
            await asyncio.sleep(delay)
            value = settings.SESSION_EXPIRE_SECONDS
        return value, request_settings.current_host()

    jobs = [job(shop, 0.01 * (i % 3)) for i in range(10)]
    jobs += [job(blog, 0.01 * (i % 2)) for i in range(10)]
    jobs += [plain_with(shop, 0.01 * ((i + 1) % 3)) for i in range(10)]
    assert await asyncio.gather(*jobs) == [(60, None)] * 10 + [(600, None)] * 10 + [(60, None)] * 10
    assert request_settings.current_host() is None


# -- wrap() ----------------------------------------------------------------------------------------


def test_wrap_carries_the_host_into_an_executor_and_reads_fresh_values(rows):
    def read():
        return request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS

    with request_settings.activate("shop.example.com"):
        wrapped = request_settings.wrap(read)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 61, host="shop.example.com")  # after wrap, before run

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert pool.submit(wrapped).result() == ("shop.example.com", 61)
        assert pool.submit(read).result() == (None, 3600)  # unwrapped work stays outside, as before
    assert wrapped.__name__ == "read"


def test_wrap_outside_any_layer_runs_outside_any_layer(rows):
    def read():
        return request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS

    wrapped = request_settings.wrap(read)
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(wrapped).result() == (None, 3600)


def test_wrap_keeps_the_all_hosts_layer(rows):
    with request_settings.activate():
        wrapped = request_settings.wrap(lambda: (request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS))
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(wrapped).result() == ("", 600)


async def test_wrap_an_async_function(rows):
    async def read():
        await asyncio.sleep(0)
        return request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS

    with request_settings.activate("shop.example.com"):
        wrapped = request_settings.wrap(read)
    assert await asyncio.create_task(wrapped()) == ("shop.example.com", 60)
    assert request_settings.current_host() is None


def test_wrap_passes_arguments_and_exceptions_through(rows):
    def divide(a, b=1):
        return a / b

    with request_settings.activate("shop.example.com"):
        wrapped = request_settings.wrap(divide)
    assert wrapped(6, b=3) == 2
    with pytest.raises(ZeroDivisionError):
        wrapped(1, b=0)
    assert request_settings.current_host() is None


def test_leaving_a_block_in_another_thread_says_so(rows):
    shop = request_settings.activate("shop.example.com")
    shop.__enter__()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(shop.__exit__, None, None, None)
            with pytest.raises(RuntimeError, match=r"activate\('shop.example.com'\) is left in a context that did not"):
                future.result()
    finally:
        shop.__exit__(None, None, None)
    assert request_settings.current_host() is None
