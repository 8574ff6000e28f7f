"""Settings of the Celery tests (tox -e celery): the suite's settings plus the Celery integration app."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "request_settings.contrib.celery"]
