"""Adversarial cases of activate() and wrap(): blocks left open by generators, out-of-order exits, pool threads,
generator and awaitable callables, and the ways work moves between threads and tasks."""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

import request_settings
from request_settings.models import SettingOverride

pytestmark = pytest.mark.django_db(transaction=True)

OUTSIDE = (None, 3600)
A = ("a.example.com", 60)
B = ("b.example.com", 70)


@pytest.fixture
def rows():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="a.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 70, host="b.example.com")


def now():
    return request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS


def chunks_in_b():
    """A generator whose ``with`` block spans a yield: suspended, it leaves its block open in its consumer."""
    with request_settings.activate("b.example.com"):
        yield now()
        yield now()


# -- a block left open inside another one ------------------------------------------------------------


def test_leaving_a_block_restores_what_was_before_it_though_a_generator_left_its_block_open(rows):
    with request_settings.activate("a.example.com"):
        suspended = chunks_in_b()
        assert next(suspended) == B
    assert now() == OUTSIDE  # not a.example.com: the block is over

    with request_settings.activate("a.example.com"):
        suspended.close()  # the generator's block ends here, long after its consumer's: it changes nothing now
        assert now() == A
    assert now() == OUTSIDE


def test_blocks_left_out_of_order_restore_what_was_before_the_outer_one(rows):
    a = request_settings.activate("a.example.com")
    b = request_settings.activate("b.example.com")
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert now() == OUTSIDE  # leaving a ends what was opened inside it
    b.__exit__(None, None, None)  # b's block was ended with a's: nothing to restore, nothing raised
    assert now() == OUTSIDE


def test_a_block_left_open_on_a_pool_thread_does_not_reach_the_next_work_item(rows):
    kept = []

    def first():
        with request_settings.activate("a.example.com"):
            kept.append(chunks_in_b())
            next(kept[0])
        return now()

    with ThreadPoolExecutor(max_workers=1) as pool:  # one thread: the next item runs where the first ran
        assert pool.submit(first).result() == OUTSIDE
        assert pool.submit(now).result() == OUTSIDE


async def test_an_async_generator_left_open_in_a_block(rows):
    async def chunks():
        async with request_settings.activate("b.example.com"):
            yield now()
            yield now()

    async with request_settings.activate("a.example.com"):
        suspended = chunks()
        assert await anext(suspended) == B
    assert now() == OUTSIDE
    await suspended.aclose()
    assert now() == OUTSIDE


# -- generator functions, decorated or wrapped ------------------------------------------------------


def test_a_decorated_generator_function_runs_each_step_in_the_layer_and_leaves_it_between_steps(rows):
    seen = []

    @request_settings.activate("a.example.com")
    def chunks():
        try:
            received = yield now()
            seen.append(received)
            yield now()
            yield now()
        finally:
            seen.append(("finally", *now()))

    steps = chunks()
    assert next(steps) == A
    assert now() == OUTSIDE  # the consumer between two steps
    assert steps.send("sent") == A
    assert seen == ["sent"]
    steps.close()
    assert seen == ["sent", ("finally", *A)]  # closing runs the generator's cleanup in the layer
    assert now() == OUTSIDE


def test_a_wrapped_generator_function_carries_the_host_to_another_thread(rows):
    def chunks(n):
        for _ in range(n):
            yield now()

    with request_settings.activate("a.example.com"):
        wrapped = request_settings.wrap(chunks)
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(lambda: list(wrapped(3))).result() == [A] * 3
        assert pool.submit(now).result() == OUTSIDE


def test_a_decorated_generator_gets_exceptions_thrown_into_it_in_the_layer(rows):
    @request_settings.activate("a.example.com")
    def chunks():
        try:
            yield 1
        except KeyError:
            yield ("caught", *now())

    steps = chunks()
    next(steps)
    assert steps.throw(KeyError("x")) == ("caught", *A)
    assert now() == OUTSIDE


def test_a_decorated_generator_returns_its_value(rows):
    @request_settings.activate("a.example.com")
    def chunks():
        yield 1
        return now()

    def consumer():
        result = yield from chunks()
        return result

    steps = consumer()
    next(steps)
    with pytest.raises(StopIteration) as stopped:
        next(steps)
    assert stopped.value.value == A


def test_a_generator_reads_one_snapshot_for_the_whole_run(rows):
    @request_settings.activate("a.example.com")
    def chunks():
        yield now()
        yield now()

    steps = chunks()
    assert next(steps) == A
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 61, host="a.example.com")
    assert next(steps) == A  # like a request: one snapshot from start to end
    assert list(chunks()) == [("a.example.com", 61)] * 2  # the next call reads the new one


async def test_a_decorated_async_generator_function_runs_each_step_in_the_layer(rows):
    seen = []

    @request_settings.activate("a.example.com")
    async def chunks():
        try:
            await asyncio.sleep(0)
            received = yield now()
            seen.append(received)
            yield now()
            yield now()
        finally:
            seen.append(("finally", *now()))

    steps = chunks()
    assert await anext(steps) == A
    assert now() == OUTSIDE
    assert await steps.asend("sent") == A
    await steps.aclose()
    assert seen == ["sent", ("finally", *A)]
    assert now() == OUTSIDE


async def test_a_decorated_async_generator_gets_exceptions_thrown_into_it_in_the_layer(rows):
    @request_settings.activate("a.example.com")
    async def chunks():
        try:
            yield 1
        except KeyError:
            yield ("caught", *now())
        yield 2

    steps = chunks()
    await anext(steps)
    assert await steps.athrow(KeyError("x")) == ("caught", *A)
    assert now() == OUTSIDE
    assert [chunk async for chunk in steps] == [2]
    assert now() == OUTSIDE


async def test_a_wrapped_async_generator_function(rows):
    async def chunks(n):
        for _ in range(n):
            await asyncio.sleep(0)
            yield now()

    with request_settings.activate("a.example.com"):
        wrapped = request_settings.wrap(chunks)
    assert [chunk async for chunk in wrapped(2)] == [A, A]
    assert now() == OUTSIDE


# -- callables that return a coroutine ---------------------------------------------------------------


class AsyncJob:
    async def __call__(self, value=None):
        await asyncio.sleep(0)
        return (*now(), value)


async def test_wrap_an_object_whose_call_is_async(rows):
    with request_settings.activate("a.example.com"):
        wrapped = request_settings.wrap(AsyncJob())
    assert asyncio.iscoroutinefunction(wrapped)  # async code (Django's included) sees an async callable
    assert await wrapped(1) == (*A, 1)
    assert now() == OUTSIDE


async def test_wrap_a_partial_of_an_async_callable_object_and_a_lambda_returning_a_coroutine(rows):
    with request_settings.activate("a.example.com"):
        partial = request_settings.wrap(functools.partial(AsyncJob(), 2))
        returning = request_settings.wrap(lambda: AsyncJob()(3))
    assert await partial() == (*A, 2)
    assert await asyncio.create_task(returning()) == (*A, 3)
    assert now() == OUTSIDE


# -- how work moves: these hold already, and must go on holding --------------------------------------


def test_wrap_bound_and_class_methods_and_a_partial(rows):
    class Report:
        def read(self, suffix):
            return (*now(), suffix)

        @classmethod
        def read_class(cls):
            return now()

    with request_settings.activate("a.example.com"):
        bound = request_settings.wrap(Report().read)
        of_class = request_settings.wrap(Report.read_class)
        partial = request_settings.wrap(functools.partial(Report().read, "p"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(bound, "b").result() == (*A, "b")
        assert pool.submit(of_class).result() == A
        assert pool.submit(partial).result() == (*A, "p")


async def test_wrap_through_sync_to_async_and_async_to_sync(rows):
    async def read_async():
        return now()

    with request_settings.activate("a.example.com"):
        sync_job = request_settings.wrap(now)
        async_job = request_settings.wrap(read_async)
    assert await sync_to_async(sync_job)() == A
    assert await sync_to_async(sync_job, thread_sensitive=False)() == A
    assert await sync_to_async(async_to_sync(async_job))() == A
    assert now() == OUTSIDE


def test_wrapped_in_a_request_and_called_after_it_ended(rows, client, settings):
    settings.ROOT_URLCONF = "tests.urls"
    jobs = []

    def view(request):
        jobs.append(request_settings.wrap(now))

    from django.test import RequestFactory

    from request_settings.middleware import RequestSettingsMiddleware

    middleware = RequestSettingsMiddleware(lambda request: view(request))
    middleware(RequestFactory().get("/", HTTP_HOST="a.example.com"))
    assert now() == OUTSIDE  # the request is over
    assert jobs[0]() == A
    assert now() == OUTSIDE


async def test_a_task_created_in_a_block_keeps_its_layer_after_the_block_and_leaves_nothing_behind(rows):
    started, finish = asyncio.Event(), asyncio.Event()

    async def outlives():
        started.set()
        await finish.wait()
        async with request_settings.activate("b.example.com"):
            inner = now()
        return now(), inner

    async with request_settings.activate("a.example.com"):
        task = asyncio.create_task(outlives())
        await started.wait()
    assert now() == OUTSIDE
    finish.set()
    assert await task == (A, B)  # work started for a.example.com stays a.example.com's
    assert now() == OUTSIDE


@pytest.mark.skipif(not hasattr(asyncio, "TaskGroup"), reason="asyncio.TaskGroup exists from Python 3.11")
async def test_a_task_group_inherits_the_layer_and_each_task_keeps_its_own(rows):
    async def job(host):
        if host is None:
            return now()
        async with request_settings.activate(host):
            await asyncio.sleep(0)
            return now()

    async with request_settings.activate("a.example.com"):
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(job(host)) for host in (None, "b.example.com", None)]
        assert now() == A
    assert [task.result() for task in tasks] == [A, B, A]
    assert now() == OUTSIDE


def test_a_failing_step_leaves_no_layer(rows):
    @request_settings.activate("a.example.com")
    def chunks():
        yield now()
        raise ValueError("boom")

    steps = chunks()
    assert next(steps) == A
    with pytest.raises(ValueError, match="boom"):
        next(steps)
    assert now() == OUTSIDE


def test_threads_started_in_a_block_do_not_inherit_it_and_barrier_proves_it(rows):
    inside = threading.Barrier(2)
    seen = []

    def plain():
        inside.wait(timeout=10)
        seen.append(now())

    with request_settings.activate("a.example.com"):
        thread = threading.Thread(target=plain)
        thread.start()
        inside.wait(timeout=10)  # the thread reads while this block is open
        thread.join()
    assert seen == [OUTSIDE]
