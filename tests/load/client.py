"""A small threaded load client (http.client, no external tool) and the analysis of what it saw.

Each request goes to ``/load/echo/?keys=...`` with a Host header drawn from the tenants; each
response echoes the host, the effective values and the worker's pid. A new connection per request
by default, so that the kernel spreads requests over every worker (keep-alive sticks to one).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
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
    ) -> None:
        self.port = port
        self.hosts = hosts
        self.url = f"{path}?{urlencode({'keys': ','.join(keys)})}" if keys else path
        self.threads = threads
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.keep_alive = keep_alive
        self.record = record
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
        while not self._stop.is_set() and time.monotonic() < deadline:
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
        return Result(start, end, host, status, data.get("host"), data.get("values", {}), data.get("pid"))

    @property
    def rate(self) -> float:
        return self.count / (self.stopped - self.started)


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
    """Seconds after the change during which a request could still start and get an older round."""
    stale = [r.start for r in results if r.status == 200 and r.start > committed_at and _round(r) < round_]
    return max(stale) - committed_at if stale else 0.0


def pids_serving(results: list[Result], since: float, round_: int) -> set[int]:
    return {r.pid for r in results if r.status == 200 and r.start > since and _round(r) >= round_ and r.pid}


def _round(result: Result) -> int:
    value = result.values.get(ROUND_KEY)
    return value if isinstance(value, int) else -1


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); with few samples p99 is the maximum."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
