"""One benchmark process: ``python -m tests.benchmarks.measure MODE`` prints its figures as JSON.

run.py starts one process per mode (BENCH_MODE selects the settings): the peers choose their backend
at import time, and our overlay changes the class of ``django.conf.settings`` once installed.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable
from typing import Any

REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))


def summary(per_op: list[float]) -> dict[str, float]:
    return {"min": min(per_op), "median": statistics.median(per_op)}


def ns_per_read(stmt: str, namespace: dict[str, Any]) -> dict[str, float]:
    """timeit of a string statement (no call overhead); number chosen by autorange (>= 0.2 s)."""
    timer = timeit.Timer(stmt, globals=namespace)
    number, _ = timer.autorange()
    return summary([t / number * 1e9 for t in timer.repeat(repeat=REPEAT, number=number)])


def wsgi_caller(handler: Callable[..., Any], host: str) -> Callable[[], None]:
    """One GET /t/ through Django's WSGIHandler, as a server would call it (no test client)."""
    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/t/",
        "QUERY_STRING": "",
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> None:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(b"")
        response = handler(environ, start_response)
        try:
            b"".join(response)
        finally:
            response.close()
        if statuses.pop() != "200 OK":
            raise RuntimeError(f"GET /t/ for {host} did not answer 200")

    call()  # warm up, and fail early on a broken setup
    return call


def us_per_request(callers: dict[str, Callable[[], None]], number: int = 3000) -> dict[str, dict[str, float]]:
    """Interleave the variants repeat by repeat: drift on a noisy machine hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in callers}
    for _ in range(REPEAT):
        for name, call in callers.items():
            start = time.perf_counter()
            for _ in range(number):
                call()
            times[name].append((time.perf_counter() - start) / number * 1e6)
    return {name: summary(values) for name, values in times.items()}


def handler_with(middleware: list[str]) -> Callable[..., Any]:
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    settings.MIDDLEWARE = middleware  # read once, in WSGIHandler.load_middleware()
    return WSGIHandler()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def hosts(start: int, stop: int) -> list[Any]:
    from request_settings.models import SettingOverride

    return [SettingOverride(key="BENCH_LIMIT", value=i, host=f"h{i}.bench.test") for i in range(start, stop)]


def run_plain() -> dict[str, Any]:
    from django.conf import settings

    assert "request_settings" not in settings.INSTALLED_APPS
    return {
        "read": ns_per_read("settings.BENCH_LIMIT", {"settings": settings}),
        "wsgi": us_per_request({"plain": wsgi_caller(handler_with([]), "h5.bench.test")}),
    }


MIDDLEWARE = ["request_settings.middleware.RequestSettingsMiddleware"]

KNOWN, UNKNOWN, REFUSED = "h5.bench.test", "nobody.bench.test", "evil.example.org"
"""A host with rows, an allowed host without rows, a Host header ALLOWED_HOSTS refuses (see settings.py)."""


def wsgi_request(host: str, **extra: str) -> Any:
    from django.core.handlers.wsgi import WSGIRequest

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/t/",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        **extra,
    }
    return WSGIRequest(environ)


def middleware_cost() -> dict[str, Any]:
    """ns per call of the view alone and of the middleware around it, per kind of host, interleaved repeat by repeat;
    plain settings reads of the same process as the unit."""
    from django.conf import settings

    from request_settings.middleware import RequestSettingsMiddleware
    from tests.benchmarks.benchapp.views import trivial

    middleware = RequestSettingsMiddleware(trivial)
    requests = {
        kind: wsgi_request(host) for kind, host in (("known", KNOWN), ("unknown", UNKNOWN), ("refused", REFUSED))
    }
    assert middleware(requests["known"]).content == b"5" and middleware(requests["refused"]).content == b"10"
    number = 20_000
    times: dict[str, list[float]] = {}
    read = timeit.Timer("settings.BENCH_OTHER", globals={"settings": settings})
    for _ in range(REPEAT):
        times.setdefault("plain read", []).append(read.timeit(number * 10) / (number * 10) * 1e9)
        for kind, request in requests.items():
            for name, call in (("view", trivial), ("middleware", middleware)):
                timer = timeit.Timer("call(request)", globals={"call": call, "request": request})
                times.setdefault(f"{name} {kind}", []).append(timer.timeit(number) / number * 1e9)
    return {name: summary(values) for name, values in times.items()}


def host_equivalence() -> list[str]:
    """Where the middleware's fast host resolution differs from ``get_host()`` + normalising (the reference)."""
    from django.test import override_settings

    from request_settings.hosts import host_from_request, snapshot_host
    from request_settings.store import layer_for_host, store

    def values(layer: Any) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for rows in reversed(layer):
            merged.update(rows)
        return merged

    headers = [
        KNOWN,
        "H5.Bench.Test",
        "h5.bench.test:8000",
        "h5.bench.test.",
        "H5.BENCH.TEST.:443",
        UNKNOWN,
        REFUSED,
        "h5.bench.test@evil.example.org",
        "[::1]",
        "[::1]:8000",
        "127.0.0.1",
        "bad host",
        "",
        "h5.bench.test:xx",
    ]
    differences = []
    for forwarded in (False, True):
        with override_settings(USE_X_FORWARDED_HOST=forwarded, ALLOWED_HOSTS=[".bench.test", "127.0.0.1", "[::1]"]):
            snapshot = store.get()
            for header in headers:
                for extra in ({}, {"HTTP_X_FORWARDED_HOST": header}):
                    request = wsgi_request(REFUSED if extra else header, **extra)
                    fast, reference = snapshot_host(request, snapshot), host_from_request(request)
                    if values(layer_for_host(fast, snapshot)) != values(layer_for_host(reference, snapshot)):
                        differences.append(f"values differ for {extra or header!r} (forwarded={forwarded})")
                    elif fast != reference:
                        differences.append(
                            f"current_host() {fast!r} instead of {reference!r} for {extra or header!r} "
                            f"(forwarded={forwarded}); same values"
                        )
    return differences


def run_ours() -> dict[str, Any]:
    from django.conf import settings

    import request_settings
    from request_settings.models import SettingOverride
    from request_settings.snapshot import build
    from request_settings.store import store

    migrate()
    SettingOverride.objects.bulk_create(hosts(0, 10))
    store.invalidate()
    store.get()  # installs the descriptor of BENCH_LIMIT
    ns = {"settings": settings}
    out: dict[str, Any] = {
        "untouched": ns_per_read("settings.BENCH_OTHER", ns),
        "overridden_outside": ns_per_read("settings.BENCH_LIMIT", ns),
    }
    with request_settings.activate("h5.bench.test"):
        assert settings.BENCH_LIMIT == 5
        out["overridden_inside"] = ns_per_read("settings.BENCH_LIMIT", ns)
        out["untouched_inside"] = ns_per_read("settings.BENCH_OTHER", ns)

    out["middleware"] = middleware_cost()
    out["host_differences"] = host_equivalence()
    off, on = handler_with([]), handler_with(MIDDLEWARE)
    out["wsgi_10"] = us_per_request({"off": wsgi_caller(off, KNOWN), "on": wsgi_caller(on, KNOWN)})

    SettingOverride.objects.bulk_create(hosts(10, 10_000), batch_size=1000)
    refresh = []
    for _ in range(5):
        start = time.perf_counter()
        store.refresh(full=True)
        refresh.append((time.perf_counter() - start) * 1e3)
    assert store.get().row_count == 10_000
    rows = list(SettingOverride.objects.values_list("key", "host", "value"))
    tracemalloc.start()
    snapshot = build(rows, 0)
    snapshot_bytes, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del snapshot, rows
    out["snapshot_10k"] = {"refresh_ms": summary(refresh), "bytes": snapshot_bytes}
    out["wsgi_10k"] = us_per_request(
        {
            "off": wsgi_caller(off, "h5000.bench.test"),
            "on": wsgi_caller(on, "h5000.bench.test"),
            "on_unknown": wsgi_caller(on, UNKNOWN),
            "on_refused": wsgi_caller(on, REFUSED),
        }
    )
    return out


def run_constance() -> dict[str, Any]:
    from constance import config

    migrate()
    config.BENCH_LIMIT = 42
    assert config.BENCH_LIMIT == 42
    return {"read": ns_per_read("config.BENCH_LIMIT", {"config": config})}


def run_dynprefs() -> dict[str, Any]:
    from dynamic_preferences.registries import global_preferences_registry

    migrate()
    global_preferences = global_preferences_registry.manager()
    global_preferences["bench__limit"] = 42
    assert global_preferences["bench__limit"] == 42
    return {"read": ns_per_read('global_preferences["bench__limit"]', {"global_preferences": global_preferences})}


def run_extra_settings() -> dict[str, Any]:
    from extra_settings.models import Setting

    migrate()
    Setting.objects.create(name="BENCH_LIMIT", value_type=Setting.TYPE_INT, value_int=42)
    assert Setting.get("BENCH_LIMIT") == 42
    return {"read": ns_per_read('Setting.get("BENCH_LIMIT")', {"Setting": Setting})}


def serve_setup() -> dict[str, Any]:
    """The database gunicorn's workers share: our table with ten hosts."""
    from request_settings.models import SettingOverride

    migrate()
    SettingOverride.objects.bulk_create(hosts(0, 10))
    return {}


RUNNERS: dict[str, Callable[[], dict[str, Any]]] = {
    "plain": run_plain,
    "ours": run_ours,
    "constance-db": run_constance,
    "constance-db-nocache": run_constance,
    "constance-redis": run_constance,
    "constance-caching-redis": run_constance,
    "dynprefs": run_dynprefs,
    "extra-settings": run_extra_settings,
    "serve-setup": serve_setup,
}


def main() -> None:
    import django

    mode = sys.argv[1]
    os.environ["BENCH_MODE"] = "ours" if mode == "serve-setup" else mode
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.benchmarks.settings")
    django.setup()
    print(json.dumps(RUNNERS[mode]()))


if __name__ == "__main__":
    main()
