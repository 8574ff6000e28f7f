"""Write a few all-hosts override rows of custom keys into every test database, through the public write API.

post_migrate runs when each test database is created (so clones made for --parallel inherit the rows) and again
after a TransactionTestCase flush that re-runs it; rows of custom keys are something no Django test can notice,
unless our middleware or overlay changes behaviour merely because rows exist.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db import router
from django.db.models.signals import post_migrate

ROWS: dict[str, Any] = {
    "COMPAT_SUITE_GREETING": "hello from the override table",
    "COMPAT_SUITE_LIMIT": 3,
    "COMPAT_SUITE_FEATURES": ["search", "export"],
}


def write_rows(*, app_config: AppConfig, using: str, **kwargs: Any) -> None:
    from request_settings import activate
    from request_settings.models import get_override_model

    # Check the label before loading the model: a TransactionTestCase's available_apps may leave our app out, and
    # the model cannot be loaded then (an error here would leave the app registry restricted for later tests).
    if app_config.label != "request_settings":
        return
    model = get_override_model()
    if using != router.db_for_write(model):
        return  # the "other" database
    for key, value in ROWS.items():
        model._default_manager.set(key, value)
    # The variant is worthless if the rows never reach the layer a request gets: check that they do.
    with activate():
        seen = {key: getattr(settings, key, None) for key in ROWS}
    if seen != ROWS:
        raise AssertionError(f"The override rows did not reach the all-hosts layer: {seen!r} != {ROWS!r}")


class SuiteRowsConfig(AppConfig):
    name = "suite_rows"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Not sender=self: post_migrate skips apps without models, and the rows need the override table's app.
        post_migrate.connect(write_rows, dispatch_uid="suite_rows_write_rows")
