"""request_settings.contrib.celery with a real worker on this machine's Redis (broker and result backend).

The worker runs in this process (celery.contrib.testing.worker, a thread pool of 4), so it shares the test database;
each task reads the overrides through the worker thread's own activate(), from the snapshot, not from the message.
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if os.environ.get("REQUEST_SETTINGS_REQUIRE_EXTRAS"):
    import celery  # noqa: F401  (the celery env: a missing extra is a failure)
else:
    pytest.importorskip("celery", reason="the extra 'celery' is not installed (tox -e celery runs these tests)")
if "request_settings.contrib.celery" not in settings.INSTALLED_APPS:
    pytest.skip("runs in its own settings: tox -e celery (--ds=tests.celery_settings)", allow_module_level=True)

import redis
from celery import Celery, chain, chord, group
from celery.contrib.testing.worker import start_worker
from django.db import OperationalError
from django.http import JsonResponse
from django.test import override_settings
from django.urls import path

import request_settings
from request_settings.contrib.celery import HEADER
from request_settings.exceptions import MissingHost
from request_settings.models import SettingOverride
from request_settings.store import SnapshotStore
from tests.conftest import require_server

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
KEYS = ("DEFAULT_FROM_EMAIL", "SESSION_EXPIRE_SECONDS", "BANNER_TEXT")
SETTINGS_PY = {"DEFAULT_FROM_EMAIL": "webmaster@localhost", "SESSION_EXPIRE_SECONDS": 3600, "BANNER_TEXT": None}

app = Celery("request_settings_tests", set_as_current=False)
app.conf.update(
    broker_url=REDIS_URL,
    result_backend=REDIS_URL,
    task_default_queue=f"request-settings-tests-{uuid.uuid4().hex}",  # never another run's messages
    broker_connection_retry_on_startup=False,
    broker_transport_options={"socket_timeout": 5},
    result_expires=300,
)
ran: list[str] = []  # task ids whose body ran (the worker shares this process)


@app.task
def read_settings(*_previous):
    """The three keys as the task body sees them, and the host of its layer."""
    time.sleep(random.random() / 200)  # let the pool's threads interleave
    return {"host": request_settings.current_host(), **{key: getattr(settings, key, None) for key in KEYS}}


@app.task(bind=True)
def record_and_read(self):
    ran.append(self.request.id)
    return read_settings()


@app.task(bind=True, max_retries=3)
def retried_once(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0.1)
    return {"retries": self.request.retries, **read_settings()}


@app.task
def fails():
    raise RuntimeError(f"failed inside {request_settings.current_host()}")


kept: list = []  # generators a task body suspended and kept


def chunks_in_b():
    with request_settings.activate("b.example.com"):
        yield
        yield


@app.task
def leaves_a_block_open():
    """A body that suspends a generator inside its own activate() block and keeps it beyond the task."""
    kept.append(chunks_in_b())
    next(kept[-1])
    return read_settings()


@app.task
def publishes_another():
    """A task that enqueues a task itself: the child carries the parent's host."""
    return read_settings.delay().id


# -- the Django side: a view that enqueues, as a project's would ------------------------------------


def enqueue(request):
    countdown = float(request.GET.get("countdown", 0))
    return JsonResponse({"id": read_settings.apply_async(countdown=countdown).id})


def enqueue_canvas(request):
    chained = chain(read_settings.s(), read_settings.s()).apply_async()
    return JsonResponse(
        {
            "chain": chained.id,
            "chain_first": chained.parent.id,
            "group": [member.id for member in group(read_settings.s() for _ in range(3)).apply_async().results],
            "chord": chord(group(read_settings.s() for _ in range(3)), read_settings.s()).apply_async().id,
            "nested": publishes_another.delay().id,
            "retried": retried_once.delay().id,
        }
    )


urlpatterns = [path("enqueue/", enqueue), path("enqueue-canvas/", enqueue_canvas)]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls(__name__),
    pytest.mark.redis,
    # Celery 5.7's Redis result backend calls a method redis-py 8 deprecates; not ours to fix.
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def worker(django_db_blocker):
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        reachable = True
    except redis.RedisError:
        reachable = False
    require_server(f"Redis at {REDIS_URL}", reachable)
    app.loader.import_module("celery.contrib.testing.tasks")  # the ping task start_worker checks with
    with django_db_blocker.unblock(), start_worker(app, pool="threads", concurrency=4, perform_ping_check=False) as w:
        yield w


def result(task_id, timeout=20):
    return app.AsyncResult(task_id).get(timeout=timeout)


@pytest.fixture
def hosts():
    """Three overridden keys for a.example.com and b.example.com, and all-hosts rows."""
    SettingOverride.objects.set("BANNER_TEXT", "everyone")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)
    for host, n in (("a.example.com", 1), ("b.example.com", 2)):
        SettingOverride.objects.set("DEFAULT_FROM_EMAIL", f"shop-{n}@example.com", host=host)
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600 + n, host=host)
        SettingOverride.objects.set("BANNER_TEXT", f"Banner {n}", host=host)


def expected(n):
    return {
        "DEFAULT_FROM_EMAIL": f"shop-{n}@example.com",
        "SESSION_EXPIRE_SECONDS": 600 + n,
        "BANNER_TEXT": f"Banner {n}",
    }


def test_a_request_for_a_host_enqueues_a_task_that_gets_the_hosts_values(worker, hosts, client):
    a = client.get("/enqueue/", HTTP_HOST="a.example.com").json()["id"]
    b = client.get("/enqueue/", HTTP_HOST="b.example.com").json()["id"]
    other = client.get("/enqueue/", HTTP_HOST="unknown.example.com").json()["id"]
    outside = read_settings.delay().id

    assert result(a) == {"host": "a.example.com", **expected(1)}
    assert result(b) == {"host": "b.example.com", **expected(2)}
    # An unknown host's request gets the all-hosts rows, in its task too.
    assert result(other) == {
        **SETTINGS_PY,
        "host": "unknown.example.com",
        "BANNER_TEXT": "everyone",
        "SESSION_EXPIRE_SECONDS": 900,
    }
    # Published outside any layer: runs outside any layer (settings.py, not even the all-hosts rows).
    assert result(outside) == {"host": None, **SETTINGS_PY}


def test_200_tasks_from_10_hosts_interleaved_get_no_wrong_value(worker, client):
    hosts = [f"tenant{n}.example.com" for n in range(10)]
    for n, host in enumerate(hosts):
        SettingOverride.objects.set("DEFAULT_FROM_EMAIL", f"t{n}@example.com", host=host)
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 700 + n, host=host)
        SettingOverride.objects.set("BANNER_TEXT", f"T{n}", host=host)
    published = []
    for i in range(200):
        n = (i * 7) % 10  # interleaved hosts
        published.append((n, client.get("/enqueue/", HTTP_HOST=hosts[n]).json()["id"]))

    wrong = []
    for n, task_id in published:
        got = result(task_id, timeout=60)
        want = {
            "host": hosts[n],
            "DEFAULT_FROM_EMAIL": f"t{n}@example.com",
            "SESSION_EXPIRE_SECONDS": 700 + n,
            "BANNER_TEXT": f"T{n}",
        }
        if got != want:
            wrong.append((want, got))
    assert len(published) == 200
    assert wrong == []


def test_a_retried_task_keeps_its_host(worker, hosts, client):
    ids = client.get("/enqueue-canvas/", HTTP_HOST="a.example.com").json()
    assert result(ids["retried"]) == {"retries": 1, "host": "a.example.com", **expected(1)}


def test_chains_groups_chords_and_tasks_published_by_tasks_keep_the_host(worker, hosts, client):
    ids = client.get("/enqueue-canvas/", HTTP_HOST="b.example.com").json()
    want = {"host": "b.example.com", **expected(2)}

    assert result(ids["chain_first"]) == want
    assert result(ids["chain"]) == want  # published by the worker when the first one finished
    assert [result(member) for member in ids["group"]] == [want] * 3
    assert result(ids["chord"]) == want  # the chord body, published by the worker when the header finished
    assert result(result(ids["nested"])) == want


def test_a_change_committed_between_publish_and_run_is_seen(worker, hosts, client):
    task_id = client.get("/enqueue/?countdown=1.5", HTTP_HOST="a.example.com").json()["id"]
    SettingOverride.objects.set("BANNER_TEXT", "Changed after publishing", host="a.example.com")
    assert result(task_id)["BANNER_TEXT"] == "Changed after publishing"


def test_a_failing_task_leaves_no_layer_on_the_worker_threads(worker, hosts):
    with request_settings.activate("a.example.com"):
        failing = [fails.delay() for _ in range(8)]
    for failed in failing:
        with pytest.raises(RuntimeError, match=r"failed inside a\.example\.com"):
            failed.get(timeout=20)
    later = [read_settings.delay() for _ in range(40)]
    assert [r.get(timeout=20) for r in later] == [{"host": None, **SETTINGS_PY}] * 40


def test_activate_publishes_like_a_request_and_an_explicit_header_wins(worker, hosts):
    with request_settings.activate("b.example.com"):
        from_activate = read_settings.delay()
        explicit = read_settings.apply_async(headers={HEADER: "a.example.com"})
    with request_settings.activate():
        all_hosts = read_settings.delay()
    assert from_activate.get(timeout=20) == {"host": "b.example.com", **expected(2)}
    assert explicit.get(timeout=20) == {"host": "a.example.com", **expected(1)}
    assert all_hosts.get(timeout=20) == {
        **SETTINGS_PY,
        "host": "",
        "BANNER_TEXT": "everyone",
        "SESSION_EXPIRE_SECONDS": 900,
    }


def test_a_run_inside_the_callers_layer_when_eager(hosts):
    # apply() runs here, not on a worker: no message, the caller's layer applies.
    with request_settings.activate("a.example.com"):
        assert read_settings.apply().get() == {"host": "a.example.com", **expected(1)}
    assert read_settings.apply().get() == {"host": None, **SETTINGS_PY}


@override_settings(REQUEST_SETTINGS_CELERY_REQUIRE_HOST=True)
def test_require_host_fails_a_task_published_without_a_host_before_its_body_runs(worker, hosts, caplog):
    with caplog.at_level("ERROR", logger="request_settings"):
        refused = record_and_read.delay()
    with request_settings.activate("a.example.com"):
        accepted = record_and_read.delay()

    with pytest.raises(MissingHost) as raised:
        refused.get(timeout=20)
    assert str(raised.value) == (
        "Task tests.test_celery.record_and_read was published outside any request_settings layer (no "
        "'request_settings_host' header), and REQUEST_SETTINGS_CELERY_REQUIRE_HOST is True. Publish it during a "
        "request or inside request_settings.activate(host), or pass apply_async(headers={'request_settings_host': "
        "host})."
    )
    assert refused.id not in ran
    # The publisher's log says so at once.
    assert [r.getMessage() for r in caplog.records if r.name == "request_settings"] == [str(raised.value)]
    assert accepted.get(timeout=20) == {"host": "a.example.com", **expected(1)}
    assert accepted.id in ran


@override_settings(REQUEST_SETTINGS_CELERY_REQUIRE_HOST=True)
def test_require_host_eager_inside_a_layer_runs_and_outside_fails(hosts):
    with request_settings.activate("b.example.com"):
        assert record_and_read.apply().get()["host"] == "b.example.com"
    with pytest.raises(MissingHost, match="was published outside any request_settings layer"):
        record_and_read.apply().get()


def test_a_header_that_names_no_host_fails_the_task(worker, hosts):
    bad = record_and_read.apply_async(headers={HEADER: "http://a.example.com/"})
    with pytest.raises(MissingHost, match=r"header names no host: 'http://a.example.com/' is not a host"):
        bad.get(timeout=20)
    assert bad.id not in ran


@override_settings(REQUEST_SETTINGS_CELERY_REQUIRE_HOST="yes")
def test_require_host_must_be_a_boolean(worker, hosts, caplog):
    message = r"REQUEST_SETTINGS_CELERY_REQUIRE_HOST should be True or False, not 'yes' \(str\)\."
    with caplog.at_level("ERROR"):
        refused = record_and_read.delay()
    with pytest.raises(ImproperlyConfigured, match=message):
        refused.get(timeout=20)
    assert refused.id not in ran
    assert any(re.search(message, record.getMessage()) for record in caplog.records)  # logged by the publisher


# -- eager runs: apply(headers=...) and task_always_eager ------------------------------------------


@pytest.fixture
def always_eager():
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


def test_an_eager_run_with_a_header_runs_in_that_host_not_the_callers(hosts):
    with request_settings.activate("a.example.com"):
        assert read_settings.apply(headers={HEADER: "b.example.com"}).get() == {"host": "b.example.com", **expected(2)}
        assert request_settings.current_host() == "a.example.com"
    assert read_settings.apply(headers={HEADER: "b.example.com"}).get() == {"host": "b.example.com", **expected(2)}
    assert request_settings.current_host() is None


def test_task_always_eager_keeps_an_explicit_header(hosts, always_eager):
    # A project's tests often run tasks eagerly: they must run where production runs them.
    with request_settings.activate("a.example.com"):
        assert read_settings.apply_async(headers={HEADER: "b.example.com"}).get() == {
            "host": "b.example.com",
            **expected(2),
        }
    with override_settings(REQUEST_SETTINGS_CELERY_REQUIRE_HOST=True):
        assert record_and_read.apply_async(headers={HEADER: "b.example.com"}).get()["host"] == "b.example.com"
    assert request_settings.current_host() is None


def test_a_body_that_leaves_a_block_open_leaves_no_layer_after_the_task(hosts):
    result = leaves_a_block_open.apply(headers={HEADER: "a.example.com"}).get()
    assert result == {"host": "b.example.com", **expected(2)}
    # Not a.example.com's layer either: the next task on this thread, published without a host, runs outside.
    assert read_settings.apply().get() == {"host": None, **SETTINGS_PY}
    kept.pop().close()
    assert request_settings.current_host() is None


def test_a_host_that_lost_its_rows_gets_the_all_hosts_rows(hosts):
    for key in KEYS:
        SettingOverride.objects.unset(key, host="a.example.com")
    assert read_settings.apply(headers={HEADER: "a.example.com"}).get() == {
        **SETTINGS_PY,
        "host": "a.example.com",
        "BANNER_TEXT": "everyone",
        "SESSION_EXPIRE_SECONDS": 900,
    }


def test_a_task_run_while_the_table_cannot_be_read_gets_settings_py_and_says_so(hosts, caplog):
    from request_settings.store import store

    store.reset()  # a worker that never read the table
    with (
        mock.patch.object(SnapshotStore, "_read_table", side_effect=OperationalError("no server")),
        caplog.at_level("WARNING", logger="request_settings"),
    ):
        assert read_settings.apply(headers={HEADER: "a.example.com"}).get() == {"host": "a.example.com", **SETTINGS_PY}
    assert [r.getMessage() for r in caplog.records if r.name == "request_settings"] == [
        "Could not read the request_settings_settingoverride table; serving the settings.py values until it can be "
        "read again (logged once per outage)."
    ]
    assert request_settings.current_host() is None


# -- tampered headers: refused before the body runs, never another tenant's layer -------------------

TAMPERED = [
    5,
    ["a.example.com"],
    {"host": "a.example.com"},
    "a.example.com\r\nX-Other: b.example.com",
    "a.example.com\x00",
    "*.example.com",
]


@pytest.mark.parametrize("header", TAMPERED, ids=["int", "list", "dict", "crlf", "nul", "pattern"])
def test_a_tampered_header_fails_the_task_and_runs_nothing(worker, hosts, header):
    with request_settings.activate("b.example.com"):  # the publisher's layer never stands in for the header
        bad = record_and_read.apply_async(headers={HEADER: header})
    with pytest.raises(MissingHost) as raised:
        bad.get(timeout=20)
    assert str(raised.value).startswith(
        f"Task tests.test_celery.record_and_read: the 'request_settings_host' header names no host: {header!r} is "
        "not a host: expected a host name such as 'shop.example.com'"
    )
    assert bad.id not in ran


@pytest.mark.parametrize("header", TAMPERED, ids=["int", "list", "dict", "crlf", "nul", "pattern"])
def test_a_tampered_header_fails_an_eager_run_and_leaves_no_layer(hosts, header):
    with pytest.raises(MissingHost, match="header names no host"):
        record_and_read.apply(headers={HEADER: header}).get()
    assert request_settings.current_host() is None


def test_a_huge_header_is_refused_with_a_short_message(hosts):
    with pytest.raises(MissingHost) as raised:
        record_and_read.apply(headers={HEADER: "a" * 100_000}).get()
    message = str(raised.value)  # the worker logs it, the result backend keeps it
    assert message.startswith(
        "Task tests.test_celery.record_and_read: the 'request_settings_host' header names no host: 'aaaa"
    )
    assert "... (100002 characters) is not a host: expected a host name" in message
    assert len(message) < 600


def test_a_layer_that_cannot_be_entered_fails_the_task_before_its_body_runs(hosts):
    # Celery logs and swallows what a signal receiver raises: the body would run outside any layer, as if the
    # message named no host.
    with (
        mock.patch("request_settings.store.layer_for_host", side_effect=RuntimeError("cannot build the layer")),
        pytest.raises(RuntimeError, match="cannot build the layer"),
    ):
        record_and_read.apply(headers={HEADER: "a.example.com"}, task_id="cannot-enter").get()
    assert "cannot-enter" not in ran
    assert request_settings.current_host() is None
