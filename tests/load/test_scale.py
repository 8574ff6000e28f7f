"""Snapshot memory per row, the issue's target (<= 150 bytes), measured without servers; in the load env.

Everything a snapshot built from the table keeps alive is counted (tracemalloc): its dicts, the host strings and the
decoded values, made fresh per row as a database read makes them. ``python -m tests.benchmarks.scale`` measures the
same through the store and the database, with the other scaling figures.
"""

from __future__ import annotations

import gc
import json
import tracemalloc

import pytest

from request_settings.snapshot import build

pytestmark = pytest.mark.load

HOSTS = 10_000
TARGET = 150


def rows():
    """(key, host, value) as a read of the table yields them: new strings and decoded values per row."""
    for n in range(HOSTS):
        host = f"t{n}.tenant.test"
        yield "SESSION_EXPIRE_SECONDS", host, json.loads(str(60 + n % 3600))
        yield "SITE_PLAN", host, json.loads(f'"plan-{n % 7}"')
    yield "SESSION_EXPIRE_SECONDS", "", 600


def retained_bytes_per_row() -> float:
    build(rows(), 1)  # the descriptors and the policy's caches exist before the measure
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        snapshot = build(rows(), 1)
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / snapshot.row_count
    finally:
        tracemalloc.stop()


def test_snapshot_memory_per_row_is_at_most_150_bytes(capsys):
    per_row = retained_bytes_per_row()
    with capsys.disabled():
        print(f"\n[snapshot memory] {HOSTS:,} hosts x 2 rows: {per_row:.0f} bytes per row (tracemalloc)")
    assert per_row <= TARGET
