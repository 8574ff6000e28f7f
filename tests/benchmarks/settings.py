"""Django settings of the benchmark project, chosen per subprocess by environment variables.

BENCH_MODE      plain (request_settings not installed), ours, constance-db, constance-db-nocache,
                constance-redis, constance-caching-redis, dynprefs, extra-settings
BENCH_DB        path of the SQLite file (each mode gets its own; gunicorn's workers share one)
BENCH_PG_NAME   a PostgreSQL database instead (scale.py's scratch database)
BENCH_MIDDLEWARE  "on" puts RequestSettingsMiddleware in MIDDLEWARE (gunicorn runs); off by default
BENCH_REDIS_URL Redis for constance (default: local DB 11, keys prefixed "bench-rs")
"""

from __future__ import annotations

import os

MODE = os.environ.get("BENCH_MODE", "ours")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
REDIS_PREFIX = "bench-rs"

SECRET_KEY = "benchmarks-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = [".bench.test", "localhost", "127.0.0.1"]
ROOT_URLCONF = "tests.benchmarks.benchapp.views"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# The key every benchmark reads: a plain settings.py value, overridden per host by request_settings.
BENCH_LIMIT = 10
BENCH_OTHER = 20  # never overridden: the "untouched key"

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "tests.benchmarks.benchapp"]
MIDDLEWARE: list[str] = []
if MODE != "plain":
    INSTALLED_APPS.append("request_settings")
if os.environ.get("BENCH_MIDDLEWARE") == "on":
    MIDDLEWARE = ["request_settings.middleware.RequestSettingsMiddleware"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DB", ":memory:"),
    }
}
if os.environ.get("BENCH_PG_NAME"):  # scale.py's scratch PostgreSQL database
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "NAME": os.environ["BENCH_PG_NAME"],
    }
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if MODE.startswith("constance"):
    INSTALLED_APPS.append("constance")
    CONSTANCE_CONFIG = {"BENCH_LIMIT": (10, "The benchmark's key.")}
    CONSTANCE_REDIS_CONNECTION = REDIS_URL
    CONSTANCE_REDIS_PREFIX = f"{REDIS_PREFIX}:constance:"
    if MODE == "constance-db":
        CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
        # constance refuses a LocMemCache here (it wants a cache shared by processes): RedisCache.
        CACHES["constance"] = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
        }
        CONSTANCE_DATABASE_CACHE_BACKEND = "constance"
    elif MODE == "constance-db-nocache":
        CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
    elif MODE == "constance-redis":
        CONSTANCE_BACKEND = "constance.backends.redisd.RedisBackend"
    elif MODE == "constance-caching-redis":
        CONSTANCE_BACKEND = "constance.backends.redisd.CachingRedisBackend"
elif MODE == "dynprefs":
    INSTALLED_APPS.append("dynamic_preferences")
elif MODE == "extra-settings":
    INSTALLED_APPS.append("extra_settings")
