"""The test settings with a custom override model (swapped at start-up, like AUTH_USER_MODEL).

Run with ``pytest --ds=tests.swapped_settings tests/test_swapped.py``.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.swappedapp"]
REQUEST_SETTINGS_MODEL = "swappedapp.TenantOverride"
