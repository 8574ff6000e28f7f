"""pytest plugin of request_settings (entry point ``pytest11``): ``request_settings_override``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest


class PinSettings(Protocol):
    def __call__(self, host: str | None = None, **values: Any) -> None: ...


@pytest.fixture
def request_settings_override() -> Iterator[PinSettings]:
    """A callable ``(host=None, **values)`` that pins per-request values until the end of the test.

    Same rules as ``request_settings.testing.override_request_settings``; several calls stack,
    later ones win.
    """
    from request_settings.testing import override_request_settings

    helpers: list[override_request_settings] = []

    def pin(host: str | None = None, **values: Any) -> None:
        helper = override_request_settings(host, **values)
        helper.__enter__()
        helpers.append(helper)

    yield pin
    for helper in reversed(helpers):
        try:
            helper.__exit__(None, None, None)
        except ValueError:
            # Pinned inside an async test, in the test task's own context: it ended with the task.
            continue
