"""A small threaded load client (http.client, no external tool) and the analysis of what it saw.

Each request goes to ``/load/echo/?keys=...`` with a Host header drawn from the tenants; each
response echoes the host, the effective values and the worker's pid. A new connection per request
by default, so that the kernel spreads requests over every worker (keep-alive sticks to one).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

TENANT_KEY = "LOAD_TENANT"
"""One row per tenant host, value ``"<host>#<n>"``: a response for X must show X's value."""
ROUND_KEY = "LOAD_ROUND"
"""One all-hosts row, an int bumped during the run: when does every worker serve the new one."""


@dataclass(frozen=True)
class Result:
    start: float
    end: float
    host: str
    status: int
    echoed_host: str | None = None
    values: dict[str, object] = field(default_factory=dict)
    pid: int | None = None
    error: str | None = None
    served: float | None = None
    """When the server read the values (``time.monotonic()``, the same clock here); None for a failure."""

    @property
    def at(self) -> float:
        return self.start if self.served is None else self.served


class Load:
    """Threads sending requests round-robin over ``hosts`` until stop(), a time or count limit."""

    def __init__(
        self,
        port: int,
        hosts: list[str],
        *,
        path: str = "/load/echo/",
        keys: tuple[str, ...] = (TENANT_KEY, ROUND_KEY),
        threads: int = 8,
        max_seconds: float = 60.0,
        max_requests: int = 200_000,
        keep_alive: bool = False,
        record: bool = True,
        rate: float | None = None,
    ) -> None:
        self.port = port
        self.hosts = hosts
        self.url = f"{path}?{urlencode({'keys': ','.join(keys)})}" if keys else path
        self.threads = threads
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.keep_alive = keep_alive
        self.record = record
        self.interval = threads / rate if rate else 0.0
        """Seconds between two requests of one thread (``rate`` requests/s in all); 0: as fast as answered."""
        self.results: list[Result] = []
        self.count = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Until the time or count limit ends the run."""
        for worker in self._workers:
            worker.join(timeout=self.max_seconds + 30)
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        self.stopped = time.monotonic()

    def _run(self, number: int) -> None:
        deadline = time.monotonic() + self.max_seconds
        connection: http.client.HTTPConnection | None = None
        index = number
        slot = time.monotonic() + self.interval * number / self.threads  # the threads' slots interleave
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.interval:
                slot = max(slot + self.interval, time.monotonic())
                self._stop.wait(slot - time.monotonic())
            with self._lock:
                if self.count >= self.max_requests:
                    return
                self.count += 1
            host = self.hosts[index % len(self.hosts)]
            index += self.threads
            start = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                headers = {"Host": host} if self.keep_alive else {"Host": host, "Connection": "close"}
                connection.request("GET", self.url, headers=headers)
                response = connection.getresponse()
                body = response.read()
                if not self.keep_alive:
                    connection.close()
                    connection = None
                result = self._result(start, host, response.status, body)
            except (OSError, http.client.HTTPException) as error:
                if connection is not None:
                    connection.close()
                    connection = None
                result = Result(start, time.monotonic(), host, 0, error=repr(error))
            if self.record:
                self.results.append(result)  # list.append is atomic under the GIL

    @staticmethod
    def _result(start: float, host: str, status: int, body: bytes) -> Result:
        end = time.monotonic()
        if status != 200:
            return Result(start, end, host, status, error=body[:200].decode(errors="replace"))
        try:
            data = json.loads(body)
        except ValueError:
            return Result(start, end, host, status)  # a plain view: nothing to check
        return Result(
            start, end, host, status, data.get("host"), data.get("values", {}), data.get("pid"), served=data.get("at")
        )

    @property
    def rate(self) -> float:
        return self.count / (self.stopped - self.started)


class Loads:
    """One ``Load`` per (port, path) target, run in a child process until ``stop()``; the results as one list.

    A process of its own, so that the client's threads never compete with the test process (the writer whose
    commits are timed) for one interpreter lock. ``time.monotonic()`` is the same clock in both processes (Linux).
    """

    def __init__(self, targets: list[tuple[int, str]], hosts: list[str], *, threads: int = 4, **options: Any) -> None:
        self.config = {"targets": targets, "hosts": hosts, "threads": threads, "options": options}
        self.results: list[Result] = []
        self.count = 0

    def __enter__(self) -> Loads:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.load.client", json.dumps(self.config)],
            cwd=Path(__file__).resolve().parents[2],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.started = float(self.process.stdout.readline())  # every thread is sending
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.returncode is not None:
            return
        output, _ = self.process.communicate("stop\n", timeout=120)  # closes stdin: the child stops and reports
        if self.process.returncode != 0:
            raise RuntimeError(f"the load client failed with {self.process.returncode}")
        report = json.loads(output)
        self.stopped = report["stopped"]
        self.count = report["count"]
        self.results = [
            Result(*fields[:5], values=fields[5], pid=fields[6], error=fields[7], served=fields[8])
            for fields in report["results"]
        ]

    @property
    def rate(self) -> float:
        return self.count / (self.stopped - self.started)


def _child(config: dict[str, Any]) -> None:
    """``python -m tests.load.client CONFIG``: load until stdin closes or a limit ends it, then print the results."""
    loads = [
        Load(port, config["hosts"], path=path, threads=config["threads"], **config["options"])
        for port, path in config["targets"]
    ]
    for load in loads:
        load.__enter__()
    print(time.monotonic(), flush=True)
    sys.stdin.read()
    for load in loads:
        load.stop()
    results = [
        [r.start, r.end, r.host, r.status, r.echoed_host, r.values, r.pid, r.error, r.served]
        for load in loads
        for r in load.results
    ]
    json.dump({"stopped": time.monotonic(), "count": sum(load.count for load in loads), "results": results}, sys.stdout)


def failures(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status != 200]


def wrong_values(results: list[Result], tenants: set[str]) -> list[Result]:
    """Responses showing a value that belongs to another host (or the wrong host altogether)."""
    wrong = []
    for r in results:
        if r.status != 200:
            continue
        value = r.values.get(TENANT_KEY)
        if r.echoed_host != r.host:
            wrong.append(r)
        elif r.host in tenants:
            if not (isinstance(value, str) and value.startswith(f"{r.host}#")):
                wrong.append(r)
        elif value != "<missing>":  # an unknown host gets the all-hosts rows only
            wrong.append(r)
    return wrong


def staleness(results: list[Result], committed_at: float, round_: int) -> float:
    """Seconds after the change during which a worker still served an older round (its last such read)."""
    stale = [r.at for r in results if r.status == 200 and r.at > committed_at and _round(r) < round_]
    return max(stale) - committed_at if stale else 0.0


def staleness_by_pid(results: list[Result], committed_at: float, round_: int) -> dict[int, float]:
    """``staleness`` per worker: when each one stopped serving the older round."""
    last: dict[int, float] = {}
    for r in results:
        if r.status == 200 and r.pid and r.at > committed_at:
            last.setdefault(r.pid, committed_at)
            if _round(r) < round_:
                last[r.pid] = max(last[r.pid], r.at)
    return {pid: at - committed_at for pid, at in last.items()}


def pids_serving(results: list[Result], since: float, round_: int) -> set[int]:
    return {r.pid for r in results if r.status == 200 and r.at > since and _round(r) >= round_ and r.pid}


def _round(result: Result) -> int:
    value = result.values.get(ROUND_KEY)
    return value if isinstance(value, int) else -1


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); with few samples p99 is the maximum."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
