"""Fixtures of the load and fault tests: the suite's PostgreSQL test database, Redis, the rows."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django.test import override_settings

from request_settings.models import SettingOverride
from tests.conftest import require_server
from tests.load.client import ROUND_KEY, TENANT_KEY

TENANTS = [f"t{n}.example.com" for n in range(20)]
UNKNOWN = ["nobody.example.com", "stranger.example.com"]
REDIS_URL = os.environ.get("REQUEST_SETTINGS_TEST_REDIS", "redis://127.0.0.1:6379/11")


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def servers_env(transactional_db):
    """The environment of every server of a test: the suite's test database, a Redis key prefix."""
    if connection.vendor != "postgresql":
        require_server("PostgreSQL (run the load tests with REQUEST_SETTINGS_TEST_DB=postgres)", False)
    require_server(f"Redis at {REDIS_URL}", _redis_reachable())
    prefix = f"rs-load-{os.getpid()}"
    return {"LOAD_DB_NAME": connection.settings_dict["NAME"], "LOAD_REDIS_PREFIX": prefix}


@pytest.fixture
def tenants(servers_env):
    for host in TENANTS:
        SettingOverride.objects.set(TENANT_KEY, f"{host}#0", host=host)
    SettingOverride.objects.set(ROUND_KEY, 0)
    return TENANTS


def broadcasting(redis_url: str, prefix: str) -> override_settings:
    """This (test) process publishes its commits where the servers poll, as another worker would."""
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "broadcast": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        },
    }
    return override_settings(CACHES=caches, REQUEST_SETTINGS_BROADCAST_CACHE="broadcast")


def listening() -> override_settings:
    """This (test) process sends NOTIFY with its writes, as a worker with REQUEST_SETTINGS_LISTEN = True does."""
    return override_settings(REQUEST_SETTINGS_LISTEN=True)
