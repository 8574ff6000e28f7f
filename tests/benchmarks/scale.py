"""Tenant scaling of the snapshot store: one process per database, every figure of a size from the same run.

    python -m tests.benchmarks.scale sqlite 1000 10000 100000     # a temporary SQLite file
    python -m tests.benchmarks.scale postgres 1000000              # a scratch database, created and dropped

For each size N (N hosts x 2 rows, plus 2 all-hosts rows): a full refresh, a refresh with nothing changed, an
incremental refresh after one change; the snapshot's memory per row (tracemalloc: everything the snapshot keeps
alive, its strings and values included); gc.collect() with the snapshot alive (and after gc.freeze()); the slowest
request while a full refresh runs in another thread, as the background refresher does; and requests/s through the
middleware with the background refresher on (REQUEST_SETTINGS_CACHE_TTL = 1 s) against 100 hosts measured first in
the same process. Prints one JSON object (run.py turns it into tables). Never part of the pass/fail suite.
"""

from __future__ import annotations

import datetime
import gc
import json
import os
import random
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

PG_NAME = "request_settings_bench_scale"
"""The scratch PostgreSQL database (created and dropped here)."""


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def insert(hosts: int) -> None:
    """``hosts`` x 2 rows and 2 all-hosts rows, written behind the app's back (as an import would), then one change
    through the write API so that the change version exists."""
    from django.db import connection, transaction
    from django.utils import timezone

    from request_settings.models import SettingOverride

    table = SettingOverride._meta.db_table
    now = timezone.now()
    rows = (
        (key, f"t{n}.tenant.test", value, now, now)
        for n in range(hosts)
        for key, value in (("BENCH_LIMIT", json.dumps(60 + n % 3600)), ("BENCH_PLAN", json.dumps(f"plan-{n % 7}")))
    )
    with transaction.atomic(), connection.cursor() as cursor:  # one transaction: SQLite syncs once, not per row
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} (key, host, value, created_at, updated_at) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            sql = f"INSERT INTO {table} (key, host, value, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)"
            cursor.executemany(sql, list(rows))
    SettingOverride.objects.set("BENCH_PLAN", "free")
    SettingOverride.objects.set("BENCH_LIMIT", 10)


def requests_for(hosts: int, count: int = 1024) -> list[Any]:
    from tests.benchmarks.measure import wsgi_request

    rng = random.Random(hosts)
    return [wsgi_request(f"t{rng.randrange(hosts)}.tenant.test") for _ in range(count)]


def latencies(call: Callable[[Any], object], requests: list[Any], until: Callable[[], bool]) -> list[float]:
    """Seconds per request, requests sent back to back until ``until()`` (at least one: a refresh may end first)."""
    found: list[float] = []
    index = 0
    while not found or not until():
        request = requests[index & 1023]
        index += 1
        start = time.perf_counter()
        call(request)
        found.append(time.perf_counter() - start)
    return found


def throughput(call: Callable[[Any], object], requests: list[Any], seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    return len(latencies(call, requests, lambda: time.perf_counter() > deadline)) / seconds


def measure(hosts: int, middleware: Any, baseline: float | None) -> dict[str, Any]:
    from django.db import connection
    from django.test import override_settings

    from request_settings.models import SettingOverride
    from request_settings.store import store

    out: dict[str, Any] = {"hosts": hosts}
    started = time.perf_counter()
    with connection.cursor() as cursor:  # behind the app's back: one statement, no per-row signal
        cursor.execute(f"DELETE FROM {SettingOverride._meta.db_table}")
    store.reset()
    gc.collect()
    out["gc_collect_without_snapshot_s"] = summary([timed(gc.collect) for _ in range(5)])
    tracked = len(gc.get_objects())
    insert(hosts)
    out["insert_s"] = time.perf_counter() - started
    store.reset()
    store.background = False
    rounds = 3 if hosts <= 100_000 else 2
    out["full_s"] = summary([timed(lambda: store.refresh(full=True)) for _ in range(rounds)])
    snapshot = store.cached()
    assert snapshot is not None and snapshot.row_count == 2 * hosts + 2, snapshot and snapshot.row_count
    out["rows"] = snapshot.row_count
    out["nothing_changed_s"] = summary([timed(store.refresh) for _ in range(5)])
    one = []
    for n in range(5):
        SettingOverride.objects.set("BENCH_LIMIT", 1000 + n, host=f"t{n * 7919 % hosts}.tenant.test")
        one.append(timed(store.refresh))
    out["one_change_s"] = summary(one)
    assert store.cached().layer(f"t{4 * 7919 % hosts}.tenant.test")[0]["BENCH_LIMIT"] == 1004

    # Memory: everything the snapshot keeps alive, read from the database as the store does.
    store.reset()
    store.background = False
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store.refresh(full=True)
    gc.collect()
    out["snapshot_bytes"] = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    out["bytes_per_row"] = out["snapshot_bytes"] / store.cached().row_count

    # GC: a full collection walks every container the collector tracks (dicts of strings and numbers are not).
    gc.collect()
    out["gc_tracked_added"] = len(gc.get_objects()) - tracked
    out["gc_collect_s"] = summary([timed(gc.collect) for _ in range(5)])
    gc.freeze()
    out["gc_collect_frozen_s"] = summary([timed(gc.collect) for _ in range(5)])
    gc.unfreeze()

    # The slowest request while a full refresh runs in another thread (as the refresher's), vs none running.
    requests = requests_for(hosts)
    quiet = latencies(middleware, requests, _for_seconds(1.0))
    during: list[float] = []
    refreshing = threading.Thread(target=lambda: store.refresh(full=True))
    refreshing.start()
    during = latencies(middleware, requests, lambda: not refreshing.is_alive())
    refreshing.join()
    out["request_quiet_s"] = {"max": max(quiet), "p50": statistics.median(quiet)}
    out["request_during_refresh_s"] = {"max": max(during), "p50": statistics.median(during), "count": len(during)}

    # Requests/s with the background refresher on, at a 1 s TTL (its full reads every max(TTL, 10 x their time)).
    with override_settings(REQUEST_SETTINGS_CACHE_TTL=1):
        store.background = True
        middleware(requests[0])  # the first request starts the refresher
        out["rps"] = throughput(middleware, requests, 5.0)
        out["full_reads_in_window"] = "see full_s: one every max(1 s, 10 x full read)"
        store.reset()
        store.background = False
    if baseline:
        out["rps_vs_100"] = out["rps"] / baseline
    return out


def _for_seconds(seconds: float) -> Callable[[], bool]:
    deadline = time.perf_counter() + seconds
    return lambda: time.perf_counter() > deadline


def main() -> None:
    vendor, sizes = sys.argv[1], [int(size) for size in sys.argv[2:]]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.benchmarks.settings")
    os.environ["BENCH_MODE"] = "ours"
    if vendor == "postgres":
        import psycopg

        admin = psycopg.connect(os.environ.get("BENCH_PG_ADMIN", "host=127.0.0.1 user=postgres dbname=postgres"))
        admin.autocommit = True
        admin.execute(f"DROP DATABASE IF EXISTS {PG_NAME}")
        admin.execute(f"CREATE DATABASE {PG_NAME}")
        os.environ["BENCH_PG_NAME"] = PG_NAME
    else:
        import tempfile

        os.environ["BENCH_DB"] = os.path.join(tempfile.mkdtemp(prefix="rs-scale-"), "scale.sqlite3")
    try:
        print(json.dumps(run(sizes)))
    finally:
        if vendor == "postgres":
            from django.db import connections

            connections.close_all()
            admin.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
            admin.close()
        else:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(os.environ["BENCH_DB"] + suffix):
                    os.unlink(os.environ["BENCH_DB"] + suffix)


def run(sizes: list[int]) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from request_settings.middleware import RequestSettingsMiddleware
    from tests.benchmarks.benchapp.views import trivial

    call_command("migrate", verbosity=0)
    middleware = RequestSettingsMiddleware(trivial)
    results: dict[str, Any] = {
        "vendor": connection.vendor,
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "load_average": os.getloadavg(),
    }
    small = measure(100, middleware, None)
    results["sizes"] = [small] + [measure(size, middleware, small["rps"]) for size in sizes]
    return results


if __name__ == "__main__":
    main()
