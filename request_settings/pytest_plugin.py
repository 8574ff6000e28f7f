"""pytest plugin of request_settings (entry point ``pytest11``): ``request_settings_override``.

Loaded by every pytest run in an environment where the package is installed, Django project or not: it imports
nothing of Django or of the app until a test asks for the fixture.
"""

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
    _require_the_app()
    from request_settings.testing import _LeftElsewhere, override_request_settings

    helpers: list[override_request_settings] = []

    def pin(host: str | None = None, **values: Any) -> None:
        helper = override_request_settings(host, **values)
        helper.__enter__()
        helpers.append(helper)

    yield pin
    for helper in reversed(helpers):
        try:
            helper.__exit__(None, None, None)
        except _LeftElsewhere:
            # Pinned inside an async test, in the test task's own context: it ended with the task.
            continue


def _require_the_app() -> None:
    """Fail the test that asks for the fixture with what is missing, not with an error from deep inside Django."""
    from django.apps import apps
    from django.conf import settings

    if not settings.configured or not apps.ready:
        pytest.fail(
            "request_settings_override needs a Django project set up for the tests: install pytest-django and "
            "name your settings (DJANGO_SETTINGS_MODULE or --ds).",
            pytrace=False,
        )
    if not apps.is_installed("request_settings"):
        pytest.fail("request_settings_override needs 'request_settings' in INSTALLED_APPS.", pytrace=False)
