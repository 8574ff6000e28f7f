"""Requests per second under gunicorn with and without RequestSettingsMiddleware, on demand.

Run: ``python -m tests.load.throughput [seconds]``. A temporary SQLite file holds the table (10 hosts
with overrides); gunicorn (3 workers x 4 threads) serves a trivial view; the threaded client of
tests/load/client.py keeps connections alive. The two set-ups alternate, twice each, on loopback.
"""

from __future__ import annotations

import os
import sys
import tempfile

from tests.load.client import Load
from tests.load.servers import Server

HOSTS = [f"tenant{n}.example.com" for n in range(10)] + ["stranger.example.com"]


def main(seconds: float = 8.0) -> None:
    with tempfile.TemporaryDirectory() as directory:
        database = os.path.join(directory, "load.sqlite3")
        _create(database)
        rates: dict[str, list[float]] = {"without middleware": [], "with middleware": []}
        for _ in range(2):
            for label, flag in (("without middleware", "0"), ("with middleware", "1")):
                env = {"LOAD_DB_NAME": f"sqlite:{database}", "LOAD_MIDDLEWARE": flag, "LOAD_TTL": "5"}
                with (
                    Server("gunicorn", env, workers=3, threads=4) as server,
                    Load(
                        server.port,
                        HOSTS,
                        path="/load/plain/",
                        keys=(),
                        threads=8,
                        max_seconds=seconds,
                        keep_alive=True,
                        record=False,
                    ) as load,
                ):
                    load.wait()
                rates[label].append(load.rate)
                print(f"{label:20} {load.rate:8.0f} requests/s", flush=True)
    best = {label: max(values) for label, values in rates.items()}
    ratio = best["with middleware"] / best["without middleware"]
    print(
        f"best of 2: {best['without middleware']:.0f}/s without, {best['with middleware']:.0f}/s with "
        f"the middleware: ratio {ratio:.3f}"
    )


def _create(path: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.load.settings"
    os.environ["LOAD_DB_NAME"] = f"sqlite:{path}"
    import django

    django.setup()
    from django.core.management import call_command

    from request_settings.models import SettingOverride

    call_command("migrate", verbosity=0)
    for n, host in enumerate(HOSTS[:-1]):
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60 + n, host=host)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 8.0)
