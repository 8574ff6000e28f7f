"""Settings of the servers the load tests start (gunicorn, uvicorn): the suite's, on PostgreSQL.

What changes between runs comes from the environment, set by the tests: LOAD_DB_NAME and
LOAD_DB_PORT (PostgreSQL, possibly through a proxy a test cuts; ``sqlite:<path>`` for a file),
LOAD_REDIS_URL (the broadcast cache; empty for none), LOAD_TTL (REQUEST_SETTINGS_CACHE_TTL),
LOAD_LISTEN=1 (REQUEST_SETTINGS_LISTEN), LOAD_MIDDLEWARE=0 (without our middleware, for the throughput comparison).
LOAD_POLL (REQUEST_SETTINGS_POLL_INTERVAL; by default its default: the propagation measured is what a project gets).
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import MIDDLEWARE as _MIDDLEWARE

ROOT_URLCONF = "tests.load.urls"
ALLOWED_HOSTS = [".example.com", "127.0.0.1", "localhost"]
REQUEST_SETTINGS_CACHE_TTL = float(os.environ.get("LOAD_TTL", "5"))
REQUEST_SETTINGS_LISTEN = os.environ.get("LOAD_LISTEN") == "1"
if os.environ.get("LOAD_POLL"):
    REQUEST_SETTINGS_POLL_INTERVAL = float(os.environ["LOAD_POLL"])

if os.environ.get("LOAD_DB_NAME", "").startswith("sqlite:"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["LOAD_DB_NAME"][len("sqlite:") :],
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("LOAD_DB_PORT", os.environ.get("PGPORT", "5432")),
            "NAME": os.environ.get("LOAD_DB_NAME", "test_request_settings"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "OPTIONS": {"connect_timeout": 2},
        }
    }

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if os.environ.get("LOAD_REDIS_URL"):
    CACHES["broadcast"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["LOAD_REDIS_URL"],
        "KEY_PREFIX": os.environ.get("LOAD_REDIS_PREFIX", "rs-load"),
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }
    REQUEST_SETTINGS_BROADCAST_CACHE = "broadcast"

if os.environ.get("LOAD_MIDDLEWARE") == "0":
    MIDDLEWARE = [m for m in _MIDDLEWARE if m != "request_settings.middleware.RequestSettingsMiddleware"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(process)d %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"request_settings": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}
