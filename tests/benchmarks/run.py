"""Benchmarks of request_settings against plain Django and its peers, side by side, in one run.

    python tests/benchmarks/run.py [--save] [--seconds N] [--skip-server]

Run it with an interpreter that has the ``bench`` extra (Django, the peers, gunicorn, redis); the
repository is put on every child's PYTHONPATH. It starts one process per mode (measure.py), then
gunicorn with and without the middleware under ``wrk`` (a small Python client when wrk is missing),
and prints a markdown table; ``--save`` also writes it to tests/benchmarks/RESULTS.md. Redis on
127.0.0.1:6379 serves constance's Redis rows (DB 11, keys prefixed "bench-rs"; BENCH_REDIS_URL).
Never part of the pass/fail suite: the machine is shared and noisy; read the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
HOST = "h5.bench.test"
PEERS = [
    "Django",
    "django-constance",
    "django-dynamic-preferences",
    "django-extra-settings",
    "redis",
    "gunicorn",
]


def child_env(mode: str, db: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BENCH_MODE=mode,
        BENCH_DB=str(db),
        BENCH_REDIS_URL=REDIS_URL,
        DJANGO_SETTINGS_MODULE="tests.benchmarks.settings",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        **extra,
    )
    return env


def measure(mode: str, tmp: Path) -> dict[str, Any] | None:
    print(f"  measuring {mode} ...", file=sys.stderr, flush=True)
    (tmp / f"{mode}.sqlite3").unlink(missing_ok=True)  # a fresh database for every run
    proc = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.measure", mode],
        cwd=ROOT,
        env=child_env(mode, tmp / f"{mode}.sqlite3"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        print(f"  {mode} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(first: Any, second: Any) -> Any:
    """Merge two runs' figures: the lower min and the lower median of each (None: a run failed)."""
    if first is None or second is None:
        return first if second is None else second
    if isinstance(first, dict) and set(first) == {"min", "median"}:
        return {key: min(first[key], second[key]) for key in first}
    if isinstance(first, dict):
        return {key: best_of(value, second.get(key)) for key, value in first.items()}
    return min(first, second)


def redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


def clean_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    keys = list(client.scan_iter("bench-rs*")) + list(client.scan_iter(":1:bench-rs*"))
    if keys:
        client.delete(*keys)


# --- throughput under gunicorn ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/t/", headers={"Host": HOST})
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on port {port}")


def load_wrk(port: int, seconds: float) -> float:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{max(1, round(seconds))}s",
            "-H",
            f"Host: {HOST}",
            f"http://127.0.0.1:{port}/t/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def load_python(port: int, seconds: float) -> float:
    """Fallback client: 8 threads, a connection per request (gunicorn's sync workers close it)."""
    done = [0]
    errors = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        count = bad = 0
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/t/", headers={"Host": HOST})
            response = conn.getresponse()
            response.read()
            conn.close()
            count += 1
            bad += response.status != 200
        with lock:
            done[0] += count
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors[0]:
        raise RuntimeError(f"{errors[0]} responses were not 200")
    return done[0] / seconds


def throughput(tmp: Path, seconds: float, rounds: int) -> dict[str, Any]:
    """req/s of gunicorn (2 sync workers) on the trivial view, variants interleaved by round."""
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if gunicorn is None:
        raise RuntimeError("gunicorn is not installed")
    db = tmp / "serve.sqlite3"
    subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.measure", "serve-setup"],
        cwd=ROOT,
        env=child_env("ours", db),
        check=True,
        capture_output=True,
    )
    client = "wrk -t2 -c16" if shutil.which("wrk") else "Python client, 8 threads"
    load = load_wrk if shutil.which("wrk") else load_python
    variants = {"plain": ("plain", "off"), "off": ("ours", "off"), "on": ("ours", "on")}
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (mode, middleware) in variants.items():
            print(f"  gunicorn {name} ...", file=sys.stderr, flush=True)
            port = free_port()
            server = subprocess.Popen(
                [
                    gunicorn,
                    "-w",
                    "2",
                    "-b",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                    "tests.benchmarks.wsgi:application",
                ],
                cwd=ROOT,
                env=child_env(mode, db, BENCH_MIDDLEWARE=middleware),
            )
            try:
                wait_ready(port, time.monotonic() + 30)
                load(port, 1)  # warm up both workers
                rates[name].append(load(port, seconds))
            finally:
                server.terminate()
                server.wait(timeout=30)
    return {
        "client": client,
        "seconds": seconds,
        "rounds": rounds,
        # The best round, like the min of timings: load from elsewhere only ever slows a round down.
        "rps": {name: max(values) for name, values in rates.items()},
        "median": {name: statistics.median(values) for name, values in rates.items()},
    }


# --- tenant scaling --------------------------------------------------------------------------


def run_scale(sqlite_sizes: str, postgres_sizes: str) -> list[dict[str, Any]]:
    runs = []
    for vendor, sizes in (("sqlite", sqlite_sizes), ("postgres", postgres_sizes)):
        if not sizes:
            continue
        print(f"  scale.py {vendor} {sizes} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks.scale", vendor, *sizes.split(",")],
            cwd=ROOT,
            env=child_env("ours", Path(os.devnull)),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            print(f"  scale.py {vendor} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return runs


# --- the table -------------------------------------------------------------------------------


def versions() -> str:
    found = []
    for name in PEERS:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (missing)")
    return ", ".join(found)


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x"


def report(
    results: dict[str, Any], server: dict[str, Any] | None, scale: list[dict[str, Any]], args: argparse.Namespace
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; command: "
        f"`python tests/benchmarks/run.py{' --save' if args.save else ''}` "
        f"(plain and ours: best of {args.process_rounds} alternated processes)",
        f"- Python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end), {versions()}",
        "- Shared, noisy machine: compare the ratios. Reads: timeit, min of 7 repeats (median in brackets).",
        "",
        "## Reading one value (ns per read)",
        "",
        "| what | ns/read | x plain Django |",
        "|---|---:|---:|",
    ]
    plain = results.get("plain")
    base = plain["read"]["min"] if plain else None

    def read_row(label: str, figures: dict[str, float] | None) -> None:
        if figures is None:
            lines.append(f"| {label} | n/a | n/a |")
            return
        scale = ratio(figures["min"], base) if base else "n/a"
        lines.append(f"| {label} | {figures['min']:,.0f} ({figures['median']:,.0f}) | {scale} |")

    ours = results.get("ours") or {}
    read_row("plain Django `settings.X` (request_settings not installed)", plain and plain["read"])
    read_row("request_settings: untouched key", ours.get("untouched"))
    read_row(
        "request_settings: overridden key, inside a layer (`activate(host)`)",
        ours.get("overridden_inside"),
    )
    read_row("request_settings: overridden key, outside any layer", ours.get("overridden_outside"))
    peers = [
        ("constance-db", "django-constance `config.X`, database backend + Django RedisCache"),
        ("constance-db-nocache", "django-constance `config.X`, database backend, no cache"),
        ("constance-redis", "django-constance `config.X`, RedisBackend"),
        (
            "constance-caching-redis",
            "django-constance `config.X`, CachingRedisBackend (in-process, 60 s)",
        ),
        (
            "dynprefs",
            'django-dynamic-preferences `global_preferences["bench__limit"]` (LocMemCache)',
        ),
        ("extra-settings", 'django-extra-settings `Setting.get("BENCH_LIMIT")` (LocMemCache)'),
    ]
    for mode, label in peers:
        found = results.get(mode)
        read_row(label, found and found["read"])

    plain_us = plain["wsgi"]["plain"]["min"] if plain else None

    def wsgi_row(label: str, figures: dict[str, float], off: dict[str, float] | None) -> None:
        over = f"+{figures['min'] - off['min']:.1f} µs" if off else "—"
        vs_off = ratio(figures["min"], off["min"]) if off else "—"
        vs_plain = ratio(figures["min"], plain_us) if plain_us else "n/a"
        lines.append(f"| {label} | {figures['min']:.1f} ({figures['median']:.1f}) | {over} | {vs_off} | {vs_plain} |")

    if "middleware" in ours:
        lines += middleware_table(ours["middleware"], ours.get("host_differences", []))
    lines += [
        "",
        "## One request through `WSGIHandler` (a trivial view that reads one setting)",
        "",
        "| what | µs/request | overhead vs no middleware | x no middleware | x plain Django |",
        "|---|---:|---:|---:|---:|",
    ]
    if plain:
        wsgi_row("plain Django, no middleware, app not installed", plain["wsgi"]["plain"], None)
    if "wsgi_10" in ours:
        w10, w10k = ours["wsgi_10"], ours["wsgi_10k"]
        wsgi_row("app installed, no middleware (10 hosts of rows)", w10["off"], None)
        wsgi_row("with RequestSettingsMiddleware, 10 hosts of rows", w10["on"], w10["off"])
        wsgi_row("app installed, no middleware (10,000 hosts of rows)", w10k["off"], None)
        wsgi_row("with RequestSettingsMiddleware, 10,000 hosts, known host", w10k["on"], w10k["off"])
        wsgi_row(
            "with RequestSettingsMiddleware, 10,000 hosts, unknown host",
            w10k["on_unknown"],
            w10k["off"],
        )
        wsgi_row("with RequestSettingsMiddleware, 10,000 hosts, refused Host header", w10k["on_refused"], w10k["off"])
        snap = ours["snapshot_10k"]
        lines += [
            "",
            "10,000 vs 10 hosts, per request with the middleware: "
            f"{ratio(w10k['on']['min'], w10['on']['min'])}. Snapshot of 10,000 hosts: refresh "
            f"(full read: one query + build) {snap['refresh_ms']['min']:.0f} ms "
            f"(median {snap['refresh_ms']['median']:.0f} ms), in the background refresher; "
            f"memory {snap['bytes'] / 2**20:.1f} MiB (tracemalloc, `snapshot.build` of rows already read).",
        ]

    if server:
        rps, med = server["rps"], server["median"]
        lines += [
            "",
            f"## Throughput: gunicorn, 2 sync workers, 127.0.0.1, {server['client']}, "
            f"{server['seconds']:g} s "
            f"x {server['rounds']} interleaved rounds: the best round (median in brackets)",
            "",
            "| what | requests/s | x plain Django | x no middleware |",
            "|---|---:|---:|---:|",
            f"| plain Django (app not installed) | {rps['plain']:,.0f} ({med['plain']:,.0f}) | 1.00x | — |",
            f"| app installed, no middleware | {rps['off']:,.0f} ({med['off']:,.0f}) "
            f"| {ratio(rps['off'], rps['plain'])} | 1.00x |",
            f"| with RequestSettingsMiddleware (10 hosts) | {rps['on']:,.0f} ({med['on']:,.0f}) "
            f"| {ratio(rps['on'], rps['plain'])} "
            f"| {ratio(rps['on'], rps['off'])} |",
        ]
    if scale:
        lines += scale_tables(scale)
    lines += ["", *NOTES]
    return "\n".join(lines) + "\n"


def middleware_table(figures: dict[str, dict[str, float]], differences: list[str]) -> list[str]:
    """The middleware's own cost per kind of host: (middleware + view) - view alone, in ns and in plain reads."""
    read = figures["plain read"]["min"]
    lines = [
        "",
        "## The middleware's own cost per request (10 hosts of rows; target <= 3 µs)",
        "",
        f"`RequestSettingsMiddleware` around a trivial view, called with a `WSGIRequest`, minus the view alone; "
        f"interleaved repeat by repeat, min of {REPEATS} repeats. The unit: a plain `settings.X` "
        f"read of the same process, {read:.0f} ns.",
        "",
        "| Host header | view alone, ns | with the middleware, ns | added, µs | added, in plain reads |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, label in (
        ("known", "a host with rows"),
        ("unknown", "an allowed host without rows"),
        ("refused", "a host ALLOWED_HOSTS refuses"),
    ):
        view, with_middleware = figures[f"view {kind}"]["min"], figures[f"middleware {kind}"]["min"]
        added = with_middleware - view
        lines.append(f"| {label} | {view:,.0f} | {with_middleware:,.0f} | {added / 1000:.2f} | {added / read:.1f} |")
    values = [d for d in differences if d.startswith("values")]
    hosts = [d for d in differences if not d.startswith("values")]
    lines += [
        "",
        f"Same values as `get_host()` + normalising for every Host / X-Forwarded-Host tried (case, ports, trailing "
        f"dot, IPv6, malformed, refused; with and without USE_X_FORWARDED_HOST): "
        f"{'yes' if not values else 'NO: ' + '; '.join(values)}."
        + (f" `current_host()` differs in {len(hosts)} cases: {hosts[0]}." if hosts else ""),
    ]
    return lines


REPEATS = 7


def scale_tables(runs: list[dict[str, Any]]) -> list[str]:
    """scale.py's figures, one table per database; ratios against 100 hosts of the same run."""
    lines = [
        "",
        "## Tenant scaling (scale.py: N hosts x 2 rows + 2 all-hosts rows; one process per database)",
        "",
        "| database | hosts | rows | full refresh | nothing changed | one change | bytes/row | gc.collect() "
        "(without snapshot / frozen; objects the snapshot adds to the collector) "
        "| slowest request: quiet / during a full refresh | req/s (x 100 hosts) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for size in run["sizes"]:
            ratio_text = f"{size['rps_vs_100']:.2f}x" if "rps_vs_100" in size else "1.00x"
            lines.append(
                f"| {run['vendor']} | {size['hosts']:,} | {size['rows']:,} | {size['full_s']['min'] * 1e3:,.0f} ms "
                f"| {size['nothing_changed_s']['min'] * 1e3:.2f} ms | {size['one_change_s']['min'] * 1e3:.1f} ms "
                f"| {size['bytes_per_row']:.0f} | {size['gc_collect_s']['min'] * 1e3:.0f} ms "
                f"({size['gc_collect_without_snapshot_s']['min'] * 1e3:.0f} / "
                f"{size['gc_collect_frozen_s']['min'] * 1e3:.2f} ms; {size.get('gc_tracked_added', 'n/a')} "
                "objects tracked) "
                f"| {size['request_quiet_s']['max'] * 1e3:.1f} / "
                f"{size['request_during_refresh_s']['max'] * 1e3:.1f} ms "
                f"| {size['rps']:,.0f} ({ratio_text}) |"
            )
    dates = ", ".join(f"{run['vendor']} {run['date']} (load average {run['load_average'][0]:.1f})" for run in runs)
    lines += [
        "",
        f"Runs: {dates}. Times are the min of 3 (2 at 1M hosts) full refreshes and 5 of the others; the slowest "
        "request is the max over requests sent back to back through the middleware, for 1 s with no refresh and while "
        "one full refresh ran in another thread; req/s: one thread for 5 s with the background refresher on at "
        "REQUEST_SETTINGS_CACHE_TTL = 1 s. Bytes/row: tracemalloc of everything the snapshot keeps alive after a "
        "full read (dicts, host strings, decoded values).",
    ]
    return lines


NOTES = [
    "Notes: constance refuses a LocMemCache for its database backend, hence Django's RedisCache "
    "there; dynamic-preferences and extra-settings run on a LocMemCache, their fastest set-up. "
    "Throughput differences under about 10 % are within this machine's noise; the WSGIHandler "
    "table is the precise measure of the middleware's cost.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help="also write tests/benchmarks/RESULTS.md")
    parser.add_argument("--seconds", type=float, default=3, help="seconds of load per gunicorn run (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved gunicorn rounds (default 5)")
    parser.add_argument("--process-rounds", type=int, default=2, help="runs of plain and ours, alternated")
    parser.add_argument("--skip-server", action="store_true", help="no gunicorn throughput runs")
    parser.add_argument("--skip-scale", action="store_true", help="no tenant scaling (scale.py)")
    parser.add_argument("--sqlite-sizes", default="1000,10000,100000", help="hosts for scale.py on SQLite")
    parser.add_argument("--postgres-sizes", default="1000000", help="hosts for scale.py on PostgreSQL ('' for none)")
    args = parser.parse_args()

    modes = ["plain", "ours", "dynprefs", "extra-settings", "constance-db-nocache"]
    if redis_up():
        modes += ["constance-db", "constance-redis", "constance-caching-redis"]
    else:
        print(
            f"  Redis at {REDIS_URL} is not reachable: constance's Redis rows are skipped",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="bench-rs-") as name:
        tmp = Path(name)
        try:
            results = {mode: measure(mode, tmp) for mode in modes}
            # plain and ours run in separate processes: alternate them again and keep the best of
            # each figure, so that a burst of load on the machine does not land on one side only.
            for _ in range(args.process_rounds - 1):
                for mode in ("plain", "ours"):
                    results[mode] = best_of(results[mode], measure(mode, tmp))
            server = None if args.skip_server else throughput(tmp, args.seconds, args.rounds)
            scale = [] if args.skip_scale else run_scale(args.sqlite_sizes, args.postgres_sizes)
        finally:
            if "constance-redis" in modes:
                clean_redis()
    text = report(results, server, scale, args)
    print(text)
    if args.save:
        (HERE / "RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
