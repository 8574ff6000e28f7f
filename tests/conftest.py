"""Shared fixtures: a clean snapshot per test, and real PostgreSQL/Redis that only skip outside CI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from request_settings.store import store


@pytest.fixture(autouse=True)
def _fresh_snapshot() -> Iterator[None]:
    store.reset()
    yield
    store.reset()


def require_server(name: str, reachable: bool) -> None:
    """Skip when a server is absent, except under CI=true, where a missing server is a failure."""
    if reachable:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not reachable, and CI=true requires it.")
    pytest.skip(f"{name} is not reachable on this machine (set it up, or run under CI=true to fail instead).")
