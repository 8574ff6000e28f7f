"""WSGI entry point for gunicorn in the throughput benchmark (settings chosen by BENCH_*)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.benchmarks.settings")
application = get_wsgi_application()
