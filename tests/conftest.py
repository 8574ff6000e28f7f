"""Shared fixtures: a clean snapshot per test, and real PostgreSQL/Redis that only skip outside CI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from request_settings.store import store


@pytest.fixture(autouse=True)
def _fresh_snapshot(request: pytest.FixtureRequest) -> Iterator[None]:
    """A clean store per test, except in tests marked ``keep_snapshot``: they run as a project's tests would."""
    if request.node.get_closest_marker("keep_snapshot"):
        yield
        return
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


def pytest_configure(config: pytest.Config) -> None:
    """A PostgreSQL run needs the server: outside CI say so and stop cleanly; under CI=true, fail."""
    if os.environ.get("REQUEST_SETTINGS_TEST_DB") != "postgres":
        return
    import socket

    host, port = os.environ.get("PGHOST", "127.0.0.1"), int(os.environ.get("PGPORT", "5432"))
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        message = f"PostgreSQL is not reachable at {host}:{port}"
        if os.environ.get("CI") == "true":
            pytest.exit(f"{message}, and CI=true requires it.", returncode=1)
        pytest.exit(f"{message}: the PostgreSQL run is skipped on this machine.", returncode=0)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/test_swapped.py runs only in its own settings (tox -e swapped): the swapped model is fixed at start-up."""
    if collection_path.name == "test_swapped.py":
        from django.conf import settings

        return getattr(settings, "REQUEST_SETTINGS_MODEL", None) != "swappedapp.TenantOverride"
    return None
