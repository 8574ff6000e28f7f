"""request_settings.contrib.django_tasks: the host follows a task of Django's task framework (Django 6.0 and 6.1).

Three workers run the tasks here. ``QueueBackend.work()`` does what a worker process does, in a fresh thread (no
caller context): it finds the task again by its import path (``Task.module_path``), round-trips the arguments through
JSON and runs it with ``call`` or ``acall``. django-tasks-db's own worker (``DatabaseBackend``, when installed) runs
tasks stored in a real table. ``ImmediateBackend`` runs them at once, in the caller. Each task reads the overrides
through its own ``activate()``, from the snapshot of the moment it runs, not from the message.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import threading
from unittest import mock

import django
import pytest

pytest.importorskip("django.tasks", reason="Django's task framework exists from Django 6.0 (tox -e py312-dj60)")

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection
from django.http import JsonResponse
from django.tasks import TaskContext, TaskResultStatus, task, task_backends
from django.tasks.backends.dummy import DummyBackend
from django.tasks.backends.immediate import ImmediateBackend
from django.tasks.exceptions import InvalidTask
from django.test import override_settings
from django.urls import path
from django.utils.module_loading import import_string

import request_settings
from request_settings.contrib.django_tasks import HOST_KWARG, REQUIRE_HOST, HostTask, HostTaskBackendMixin
from request_settings.exceptions import InvalidHost, MissingHost
from request_settings.models import SettingOverride
from request_settings.store import SnapshotStore, store

try:
    from django_tasks_db.backend import DatabaseBackend
except ImportError:  # the database worker tests say so and skip
    DatabaseBackend = None

KEYS = ("DEFAULT_FROM_EMAIL", "SESSION_EXPIRE_SECONDS", "BANNER_TEXT")
SETTINGS_PY = {"DEFAULT_FROM_EMAIL": "webmaster@localhost", "SESSION_EXPIRE_SECONDS": 3600, "BANNER_TEXT": None}


class QueueBackend(HostTaskBackendMixin, DummyBackend):
    """Keeps what is enqueued, like a database or broker backend, until ``work()`` runs it."""

    def work(self, method="call"):
        """Run every waiting task once, each in a fresh thread, as a worker process would; an error is returned."""
        done = []
        for result in self.results:
            # What a worker has: the task's path and options, and the arguments as JSON.
            task = import_string(result.task.module_path).using(
                priority=result.task.priority, queue_name=result.task.queue_name, backend=result.backend
            )
            args, kwargs = json.loads(json.dumps([result.args, result.kwargs]))
            if task.takes_context:
                args = [TaskContext(task_result=result), *args]
            outcome = {}

            def run(task=task, args=args, kwargs=kwargs, outcome=outcome):
                try:
                    if method == "acall":
                        outcome["value"] = asyncio.run(task.acall(*args, **kwargs))
                    else:
                        outcome["value"] = task.call(*args, **kwargs)
                except Exception as error:
                    outcome["value"] = error

            thread = threading.Thread(target=run)
            thread.start()
            thread.join(timeout=30)
            done.append(outcome["value"])
        self.results.clear()
        return done


class ImmediateHostBackend(HostTaskBackendMixin, ImmediateBackend):
    pass


TASKS = {
    "default": {"BACKEND": f"{__name__}.QueueBackend"},
    "strict": {"BACKEND": f"{__name__}.QueueBackend", "OPTIONS": {REQUIRE_HOST: True}},
    "immediate": {"BACKEND": f"{__name__}.ImmediateHostBackend"},
    "plain": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"},
}

if DatabaseBackend is not None:

    class DatabaseHostBackend(HostTaskBackendMixin, DatabaseBackend):
        pass

    TASKS["db"] = {"BACKEND": f"{__name__}.DatabaseHostBackend"}
    TASKS["db_strict"] = {"BACKEND": f"{__name__}.DatabaseHostBackend", "OPTIONS": {REQUIRE_HOST: True}}


def values(**kwargs):
    return {
        "host": request_settings.current_host(),
        "kwargs": kwargs,
        **{key: getattr(settings, key, None) for key in KEYS},
    }


# As in a project: module-level functions decorated with @task, which builds the task_class of the backend when the
# module is imported. A worker finds each task again by its import path (on Django 6.1 so does unpickling a task).
with override_settings(TASKS=TASKS):

    @task
    def read_settings(*_args, **kwargs):
        return values(**kwargs)

    @task
    async def a_read_settings():
        await asyncio.sleep(0)
        return values()

    @task(takes_context=True)
    def read_with_context(context, label):
        return {"label": label, "attempt": context.attempt, **values()}

    @task
    def fail(message):
        raise RuntimeError(message)

    @task(backend="plain")
    def plain_read_settings():
        return values()

    @task
    def leaves_a_block_open():
        """Suspends a generator inside its own activate() block and keeps it beyond the task."""
        kept.append(chunks_in_b())
        next(kept[-1])
        return values()


kept: list = []


def chunks_in_b():
    with request_settings.activate("b.example.com"):
        yield
        yield


@pytest.fixture(autouse=True)
def task_framework():
    with override_settings(TASKS=TASKS):
        yield task_backends["default"]


def enqueue(request, backend):
    return JsonResponse({"id": read_settings.using(backend=backend).enqueue().id})


def enqueue_immediately(request):
    return JsonResponse(read_settings.using(backend="immediate").enqueue().return_value)


urlpatterns = [path("enqueue/<str:backend>/", enqueue), path("enqueue-immediately/", enqueue_immediately)]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


@pytest.fixture
def hosts():
    SettingOverride.objects.set("BANNER_TEXT", "everyone")
    for host, n in (("a.example.com", 1), ("b.example.com", 2)):
        SettingOverride.objects.set("DEFAULT_FROM_EMAIL", f"shop-{n}@example.com", host=host)
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600 + n, host=host)
        SettingOverride.objects.set("BANNER_TEXT", f"Banner {n}", host=host)


def expected(host, n, **kwargs):
    return {
        "host": host,
        "kwargs": kwargs,
        "DEFAULT_FROM_EMAIL": f"shop-{n}@example.com",
        "SESSION_EXPIRE_SECONDS": 600 + n,
        "BANNER_TEXT": f"Banner {n}",
    }


ALL_HOSTS = {"host": "", "kwargs": {}, **SETTINGS_PY, "BANNER_TEXT": "everyone"}
OUTSIDE = {"host": None, "kwargs": {}, **SETTINGS_PY}  # outside any layer: settings.py, not the all-hosts rows


def test_the_tasks_of_a_host_backend_are_host_tasks():
    assert type(read_settings) is HostTask
    assert type(read_settings.using(backend="immediate")) is HostTask
    assert type(plain_read_settings) is not HostTask


def test_a_request_for_a_host_enqueues_a_task_that_runs_with_the_hosts_values(task_framework, hosts, client):
    client.get("/enqueue/default/", HTTP_HOST="a.example.com")
    client.get("/enqueue/default/", HTTP_HOST="b.example.com")
    read_settings.enqueue()  # outside any request

    assert [result.kwargs for result in task_framework.results] == [
        {HOST_KWARG: "a.example.com"},
        {HOST_KWARG: "b.example.com"},
        {},
    ]
    assert task_framework.work() == [expected("a.example.com", 1), expected("b.example.com", 2), OUTSIDE]
    assert request_settings.current_host() is None


def test_a_change_committed_between_enqueue_and_run_is_seen(task_framework, hosts, client):
    client.get("/enqueue/default/", HTTP_HOST="a.example.com")
    SettingOverride.objects.set("BANNER_TEXT", "Changed after enqueueing", host="a.example.com")
    assert task_framework.work()[0]["BANNER_TEXT"] == "Changed after enqueueing"


@pytest.mark.parametrize("method", ["call", "acall"])
async def test_async_enqueue_and_an_async_task(task_framework, hosts, method):
    async with request_settings.activate("b.example.com"):
        await a_read_settings.aenqueue()
        await read_settings.aenqueue(7, flag=True)
    async with request_settings.activate():
        await read_settings.aenqueue()
    await a_read_settings.aenqueue()
    worked = await asyncio.to_thread(task_framework.work, method)
    assert worked == [
        expected("b.example.com", 2),
        expected("b.example.com", 2, flag=True),  # the function never receives the host
        ALL_HOSTS,
        OUTSIDE,
    ]


def test_a_task_that_takes_its_context(task_framework, hosts):
    with request_settings.activate("a.example.com"):
        read_with_context.enqueue("x")
    assert task_framework.work() == [{"label": "x", "attempt": 0, **expected("a.example.com", 1)}]


def test_a_failing_task_leaves_no_layer_behind(task_framework, hosts):
    with request_settings.activate("a.example.com"):
        fail.using(backend="immediate").enqueue("boom")  # runs here, inside the layer, and fails
        assert request_settings.current_host() == "a.example.com"
    assert request_settings.current_host() is None
    with request_settings.activate("a.example.com"):
        fail.enqueue("boom")
    (error,) = task_framework.work()
    assert str(error) == "boom"


def test_an_explicit_host_wins_and_is_checked_when_enqueued(task_framework, hosts):
    with request_settings.activate("a.example.com"):
        read_settings.enqueue(**{HOST_KWARG: "b.example.com"})
    read_settings.enqueue(**{HOST_KWARG: "A.Example.COM."})
    with pytest.raises(InvalidHost, match=r"'https://a\.example\.com/' is not a host"):
        read_settings.enqueue(**{HOST_KWARG: "https://a.example.com/"})
    assert [result.kwargs for result in task_framework.results] == [
        {HOST_KWARG: "b.example.com"},
        {HOST_KWARG: "a.example.com"},
    ]
    assert task_framework.work() == [expected("b.example.com", 2), expected("a.example.com", 1)]


def test_a_stored_host_that_is_not_a_host_fails_the_task(task_framework, hosts):
    read_settings.enqueue()
    task_framework.results[0].kwargs[HOST_KWARG] = "https://a.example.com/"  # written by other code
    (error,) = task_framework.work()
    assert isinstance(error, MissingHost)
    assert "'request_settings_host' argument names no host: 'https://a.example.com/' is not a host" in str(error)


@pytest.mark.parametrize("stored", [5, ["a.example.com"], "a.example.com\r\nX: y", "*.example.com", "a" * 254])
@pytest.mark.parametrize("method", ["call", "acall"])
def test_a_stored_host_of_the_wrong_kind_fails_the_task_and_leaves_no_layer(task_framework, hosts, stored, method):
    with request_settings.activate("b.example.com"):
        read_settings.enqueue()
    task_framework.results[0].kwargs[HOST_KWARG] = stored  # written by other code
    (error,) = task_framework.work(method)
    assert isinstance(error, MissingHost)
    assert str(error).startswith(
        f"Task tests.test_tasks.read_settings: its 'request_settings_host' argument names no host: {stored!r} is not "
        "a host"
    )
    assert request_settings.current_host() is None


@pytest.mark.parametrize("method", ["call", "acall"])
def test_a_task_run_while_the_table_cannot_be_read_gets_settings_py_and_says_so(task_framework, hosts, method, caplog):
    with request_settings.activate("a.example.com"):
        read_settings.enqueue()
    store.reset()  # a worker process that never read the table
    with (
        mock.patch.object(SnapshotStore, "_read_table", side_effect=OperationalError("no server")),
        caplog.at_level("WARNING", logger="request_settings"),
    ):
        assert task_framework.work(method) == [{**OUTSIDE, "host": "a.example.com"}]
    assert [r.getMessage() for r in caplog.records if r.name == "request_settings"] == [
        "Could not read the request_settings_settingoverride table; serving the settings.py values until it can be "
        "read again (logged once per outage)."
    ]
    assert request_settings.current_host() is None


def test_a_task_body_that_leaves_a_block_open_leaves_no_layer_in_the_caller(hosts):
    with request_settings.activate("a.example.com"):
        result = leaves_a_block_open.using(backend="immediate").enqueue()
        assert request_settings.current_host() == "a.example.com"
    assert result.return_value == {**expected("b.example.com", 2)}
    assert request_settings.current_host() is None
    kept.pop().close()
    assert request_settings.current_host() is None


def test_the_immediate_backend_runs_in_the_requests_layer(hosts, client):
    assert client.get("/enqueue-immediately/", HTTP_HOST="a.example.com").json() == expected("a.example.com", 1)
    assert client.get("/enqueue-immediately/", HTTP_HOST="unknown.example.com").json() == {
        **ALL_HOSTS,
        "host": "unknown.example.com",
    }
    assert read_settings.using(backend="immediate").enqueue().return_value == OUTSIDE


def test_a_plain_task_backend_does_not_carry_the_host(hosts):
    # Django's own backends build plain tasks: the task runs wherever the worker is, outside any layer.
    with request_settings.activate("a.example.com"):
        result = plain_read_settings.enqueue()
    assert result.kwargs == {}


def test_a_host_backend_refuses_a_task_built_for_another_backend():
    # Its host would be lost without a word: the class of a task is fixed when @task builds it.
    with pytest.raises(InvalidTask) as raised:
        plain_read_settings.using(backend="default")
    assert str(raised.value) == (
        "tests.test_tasks.plain_read_settings is a Task, built by @task for a backend without HostTaskBackendMixin: "
        "on backend 'default' it would run outside any request_settings layer. Decorate it with "
        "@task(backend='default'), or give its backend HostTaskBackendMixin too."
    )


@pytest.mark.skipif(django.VERSION < (6, 1), reason="Django 6.1 makes tasks picklable (Task.__reduce__)")
def test_a_pickled_task_comes_back_as_a_host_task(task_framework, hosts):
    # Django 6.1 rebuilds an unpickled (or deep-copied) task from its import path, as a broker backend would.
    with request_settings.activate("a.example.com"):
        result = read_settings.enqueue(3)
    restored = pickle.loads(pickle.dumps(result))
    assert type(restored.task) is HostTask
    assert restored.task == read_settings
    assert restored.task.call(*restored.args, **restored.kwargs) == expected("a.example.com", 1)


class TestRequireHost:
    def test_a_task_enqueued_outside_any_layer_is_refused_at_once(self, hosts):
        strict = read_settings.using(backend="strict")
        with pytest.raises(MissingHost) as raised:
            strict.enqueue()
        assert str(raised.value) == (
            "Task tests.test_tasks.read_settings was enqueued outside any request_settings layer, and backend "
            "'strict' has OPTIONS['request_settings_require_host'] = True. Enqueue it during a request or inside "
            "request_settings.activate(host), or pass request_settings_host=host."
        )
        assert task_backends["strict"].results == []

    async def test_async_enqueue_is_refused_too(self, hosts):
        with pytest.raises(MissingHost):
            await read_settings.using(backend="strict").aenqueue()
        assert task_backends["strict"].results == []

    def test_a_task_with_a_host_runs(self, hosts, client):
        strict = read_settings.using(backend="strict")
        client.get("/enqueue/strict/", HTTP_HOST="a.example.com")
        with request_settings.activate():
            strict.enqueue()
        strict.enqueue(**{HOST_KWARG: "b.example.com"})
        assert task_backends["strict"].work() == [expected("a.example.com", 1), ALL_HOSTS, expected("b.example.com", 2)]

    @pytest.mark.parametrize("method", ["call", "acall"])
    def test_a_stored_task_without_a_host_fails_when_run(self, task_framework, hosts, method):
        read_settings.enqueue()  # stored while the backend did not require a host
        required = {**TASKS, "default": {**TASKS["default"], "OPTIONS": {REQUIRE_HOST: True}}}
        with override_settings(TASKS=required):
            (error,) = task_framework.work(method)
        assert isinstance(error, MissingHost)
        assert "Task tests.test_tasks.read_settings was enqueued outside any request_settings layer" in str(error)

    def test_a_call_inside_a_layer_runs_in_it(self, hosts):
        with request_settings.activate("a.example.com"):
            assert read_settings.using(backend="strict").call() == expected("a.example.com", 1)

    def test_the_option_must_be_true_or_false(self):
        wrong = {"default": {**TASKS["default"], "OPTIONS": {REQUIRE_HOST: "yes"}}}
        with override_settings(TASKS=wrong), pytest.raises(ImproperlyConfigured) as raised:
            task_backends["default"]
        assert str(raised.value) == (
            "OPTIONS['request_settings_require_host'] of task backend 'default' should be True or False, "
            "not 'yes' (str)."
        )


# django-tasks-db: a real table and its own worker (db_worker's Worker, in a thread as a worker process would be).


@pytest.fixture
def database_backend():
    if DatabaseBackend is None:
        if os.environ.get("CI"):  # tox's dj60/dj61 envs install it: a missing worker there is a failure, not a skip
            pytest.fail("django-tasks-db is not installed: tox installs it in the Django 6 envs")
        pytest.skip("django-tasks-db is not installed (pip install django-tasks-db): its worker tests are skipped")
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "django_tasks_db"]):
        from django_tasks_db.models import DBTaskResult

        with connection.schema_editor() as editor:
            editor.create_model(DBTaskResult)
        try:
            yield task_backends["db"]
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(DBTaskResult)
            # Installing the app ran the admin's autodiscover, which registered the model on the global site.
            if admin.site.is_registered(DBTaskResult):
                admin.site.unregister(DBTaskResult)


def run_db_worker(backend="db"):
    """django-tasks-db's worker, in another thread: runs every ready task of ``backend``, then stops."""
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name=backend,
        startup_delay=False,
        max_tasks=None,
        worker_id="request-settings-test",
        excluded_queue_names=[],
    )
    errors = []

    def run():
        try:
            worker.run()
        except Exception as error:  # pragma: no cover - shown by the assertion below
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and errors == []


def test_the_database_worker_runs_each_task_with_its_hosts_values(database_backend, hosts, client):
    ids = [
        client.get("/enqueue/db/", HTTP_HOST="a.example.com").json()["id"],
        client.get("/enqueue/db/", HTTP_HOST="b.example.com").json()["id"],
        read_settings.using(backend="db").enqueue().id,
    ]
    with request_settings.activate("b.example.com"):
        ids.append(a_read_settings.using(backend="db").enqueue().id)
    with request_settings.activate("a.example.com"):
        ids.append(read_with_context.using(backend="db").enqueue("y").id)
    SettingOverride.objects.set("BANNER_TEXT", "Changed after enqueueing", host="a.example.com")

    run_db_worker()

    results = [database_backend.get_result(result_id) for result_id in ids]
    assert [result.status for result in results] == [TaskResultStatus.SUCCESSFUL] * 5
    assert [type(result.task) for result in results] == [HostTask] * 5
    changed = {"BANNER_TEXT": "Changed after enqueueing"}
    assert [result.return_value for result in results] == [
        {**expected("a.example.com", 1), **changed},
        expected("b.example.com", 2),
        OUTSIDE,
        expected("b.example.com", 2),
        {"label": "y", "attempt": 1, **expected("a.example.com", 1), **changed},
    ]
    assert request_settings.current_host() is None


async def test_the_database_backend_enqueues_from_async_code(database_backend, hosts):
    async with request_settings.activate("a.example.com"):
        result = await read_settings.using(backend="db").aenqueue(flag=True)
    assert result.kwargs == {"flag": True, HOST_KWARG: "a.example.com"}
    await asyncio.to_thread(run_db_worker)
    await result.arefresh()
    assert result.return_value == expected("a.example.com", 1, flag=True)


def test_the_database_worker_fails_a_stored_task_without_a_host(database_backend, hosts):
    strict = read_settings.using(backend="db_strict")
    with pytest.raises(MissingHost):
        strict.enqueue()
    with request_settings.activate("a.example.com"):
        kept = strict.enqueue()
    without = {**TASKS, "db_strict": {"BACKEND": TASKS["db_strict"]["BACKEND"]}}
    with override_settings(TASKS=without):
        hostless = strict.enqueue()  # while the backend did not require a host

    run_db_worker("db_strict")

    kept.refresh()
    hostless.refresh()
    assert kept.return_value == expected("a.example.com", 1)
    assert hostless.status == TaskResultStatus.FAILED
    assert hostless.errors[0].exception_class is MissingHost
