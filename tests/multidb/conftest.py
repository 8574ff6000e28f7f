"""tests/multidb runs only in its own settings (tox -e multidb): the router is fixed at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    from django.conf import settings

    return "overrides" not in settings.DATABASES
