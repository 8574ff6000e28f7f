"""Real servers under load on loopback: no value crosses hosts; how long until every worker follows
a change; database and Redis outages.

Run: ``REQUEST_SETTINGS_TEST_DB=postgres python -m pytest tests/load -m load`` (figures printed).
Bounded: each test sends at most MAX_REQUESTS requests for at most a few tens of seconds.
"""

from __future__ import annotations

import os
import random
import time
from urllib.parse import urlsplit

import pytest

from request_settings.broadcast import POLL_INTERVAL
from request_settings.models import SettingOverride
from tests.load.client import (
    ROUND_KEY,
    TENANT_KEY,
    Load,
    failures,
    percentile,
    pids_serving,
    staleness,
    wrong_values,
)
from tests.load.conftest import REDIS_URL, UNKNOWN, broadcasting
from tests.load.proxy import Proxy
from tests.load.servers import Server

pytestmark = [pytest.mark.load, pytest.mark.postgres, pytest.mark.redis]

MAX_REQUESTS = 50_000
TTL = 2.0


def redis_through(proxy: Proxy) -> str:
    parts = urlsplit(REDIS_URL)
    return f"{parts.scheme}://127.0.0.1:{proxy.port}{parts.path}"


def redis_port() -> int:
    return urlsplit(REDIS_URL).port or 6379


class Rounds:
    """Bump the all-hosts round and a tenant's value through the ORM, as staff would; note when."""

    def __init__(self, tenants):
        self.tenants = tenants
        self.committed: list[tuple[float, int]] = []
        self.round = 0

    def bump(self) -> tuple[float, int]:
        self.round += 1
        started = time.monotonic()  # before the write: the measured delay includes the commit itself
        SettingOverride.objects.set(ROUND_KEY, self.round)
        host = random.choice(self.tenants)
        SettingOverride.objects.set(TENANT_KEY, f"{host}#{self.round}", host=host)
        self.committed.append((started, self.round))
        return started, self.round

    def run(self, count: int, spacing: float) -> None:
        for _ in range(count):
            time.sleep(random.uniform(spacing, spacing * 1.5))  # not in step with anybody's poll
            self.bump()
        time.sleep(spacing * 1.5)


def check(load: Load, tenants, label: str, rounds: Rounds, capsys) -> list[float]:
    results = load.results
    assert failures(results) == [], failures(results)[:5]
    wrong = wrong_values(results, set(tenants))
    delays = [staleness(results, at, number) for at, number in rounds.committed]
    pids = {r.pid for r in results if r.pid}
    with capsys.disabled():
        print(
            f"\n[{label}] {len(results)} requests in {load.stopped - load.started:.1f} s "
            f"({load.rate:.0f}/s) over {len(tenants) + len(UNKNOWN)} hosts, {len(pids)} workers; "
            f"wrong values: {len(wrong)}; propagation over {len(delays)} changes: "
            f"p50 {percentile(delays, 50):.3f} s, p99 {percentile(delays, 99):.3f} s, "
            f"max {max(delays):.3f} s"
        )
    assert wrong == [], wrong[:5]
    for at, number in rounds.committed:
        # Every worker was measured: each served the new round after the change.
        assert pids_serving(results, at, number) == pids, (
            number,
            pids_serving(results, at, number),
            pids,
        )
    return delays


@pytest.fixture
def hosts(tenants):
    return tenants + UNKNOWN


def test_gunicorn_with_broadcast_every_worker_follows_within_a_second(servers_env, tenants, hosts, capsys):
    env = {
        **servers_env,
        "LOAD_REDIS_URL": REDIS_URL,
        "LOAD_TTL": "30",
    }  # a long TTL: only the broadcast helps
    rounds = Rounds(tenants)
    with (
        broadcasting(REDIS_URL, servers_env["LOAD_REDIS_PREFIX"]),
        Server("gunicorn", env, workers=3, threads=4) as server,
        Load(server.port, hosts, threads=8, max_requests=MAX_REQUESTS, max_seconds=40) as load,
    ):
        rounds.run(10, spacing=0.7)
        load.stop()
    delays = check(load, tenants, "gunicorn 3x4, broadcast, TTL 30 s", rounds, capsys)
    assert max(delays) < 1.0


def test_gunicorn_without_broadcast_staleness_is_bounded_by_the_ttl(servers_env, tenants, hosts, capsys):
    env = {**servers_env, "LOAD_TTL": str(TTL)}
    rounds = Rounds(tenants)
    with (
        Server("gunicorn", env, workers=3, threads=4) as server,
        Load(server.port, hosts, threads=8, max_requests=MAX_REQUESTS, max_seconds=40) as load,
    ):
        rounds.run(5, spacing=TTL)
        load.stop()
    delays = check(load, tenants, f"gunicorn 3x4, no broadcast, TTL {TTL:g} s", rounds, capsys)
    assert max(delays) <= TTL + 0.5
    assert max(delays) > POLL_INTERVAL  # the TTL, not a broadcast, is what bounds it here


def test_uvicorn_with_broadcast_every_worker_follows_within_a_second(servers_env, tenants, hosts, capsys):
    env = {**servers_env, "LOAD_REDIS_URL": REDIS_URL, "LOAD_TTL": "30"}
    rounds = Rounds(tenants)
    with (
        broadcasting(REDIS_URL, servers_env["LOAD_REDIS_PREFIX"]),
        Server("uvicorn", env, workers=2) as server,
        Load(
            server.port,
            hosts,
            path="/load/async-echo/",
            threads=8,
            max_requests=MAX_REQUESTS,
            max_seconds=40,
        ) as load,
    ):
        rounds.run(8, spacing=0.7)
        load.stop()
    delays = check(load, tenants, "uvicorn 2 workers (async view), broadcast, TTL 30 s", rounds, capsys)
    assert max(delays) < 1.0


def test_database_outage_requests_succeed_on_the_last_snapshot_and_changes_apply_after(
    servers_env, tenants, hosts, capsys
):
    rounds = Rounds(tenants)
    with Proxy(int(os.environ.get("PGPORT", "5432")), os.environ.get("PGHOST", "127.0.0.1")) as database:
        env = {
            **servers_env,
            "LOAD_DB_PORT": str(database.port),
            "LOAD_REDIS_URL": REDIS_URL,
            "LOAD_TTL": str(TTL),
        }
        with (
            broadcasting(REDIS_URL, servers_env["LOAD_REDIS_PREFIX"]),
            Server("gunicorn", env, workers=3, threads=4) as server,
            Load(server.port, hosts, threads=8, max_requests=MAX_REQUESTS, max_seconds=40) as load,
        ):
            rounds.run(2, spacing=0.7)
            before = rounds.round
            cut_at = time.monotonic()
            database.cut()
            time.sleep(0.5)
            rounds.bump()  # written straight to PostgreSQL: the servers cannot read it
            time.sleep(3 * TTL)
            restored_at = time.monotonic()
            database.restore()
            rounds.run(2, spacing=0.7)
            load.stop()
            log = server.output()
    during = [r for r in load.results if cut_at + 0.1 < r.start < restored_at]
    assert during, "no request during the outage"
    assert {r.values.get(ROUND_KEY) for r in during if r.status == 200} == {before}  # the last snapshot
    rounds.committed = [(at, n) for at, n in rounds.committed if at < cut_at or at > restored_at]
    delays = check(load, tenants, f"gunicorn 3x4, database cut for {3 * TTL + 0.5:g} s", rounds, capsys)
    assert max(delays) <= TTL + 1.0
    assert "Could not read the" in log


def test_redis_outage_requests_succeed_and_propagation_falls_back_to_the_ttl(servers_env, tenants, hosts, capsys):
    rounds = Rounds(tenants)
    with Proxy(redis_port()) as redis:
        url = redis_through(redis)
        env = {**servers_env, "LOAD_REDIS_URL": url, "LOAD_TTL": str(TTL)}
        with (
            broadcasting(url, servers_env["LOAD_REDIS_PREFIX"]),
            Server("gunicorn", env, workers=3, threads=4) as server,
            Load(server.port, hosts, threads=8, max_requests=MAX_REQUESTS, max_seconds=40) as load,
        ):
            rounds.run(2, spacing=0.7)
            redis.cut()
            cut = len(rounds.committed)
            rounds.run(3, spacing=TTL)  # each commit's publish fails: the TTL bounds staleness
            redis.restore()
            time.sleep(TTL + POLL_INTERVAL)  # polls backed off to once per TTL during the outage
            restored = len(rounds.committed)
            rounds.run(3, spacing=0.7)
            load.stop()
            log = server.output()
    delays = check(load, tenants, f"gunicorn 3x4, Redis cut, TTL {TTL:g} s", rounds, capsys)
    assert max(delays[:cut]) < 1.0
    assert max(delays[cut:restored]) <= TTL + 0.75
    assert max(delays[restored:]) < 1.0
    # Logged once per outage in each process, not once per request or per poll.
    workers = {r.pid for r in load.results if r.pid}
    outage_lines = [line for line in log.splitlines() if "Could not read the change stamp" in line]
    assert 1 <= len(outage_lines) <= len(workers), outage_lines
    assert "reachable again" in log
