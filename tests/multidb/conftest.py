"""tests/multidb runs only in its own settings (tox -e multidb): the router is fixed at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

NEEDS = {"test_routing.py": "overrides", "test_replica.py": "replica"}
"""Each file and the database alias its settings module adds."""


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    from django.conf import settings

    alias = NEEDS.get(collection_path.name)
    return None if alias is None else alias not in settings.DATABASES
