"""The override table on a second database: a router sends request_settings' tables to ``overrides``.

Run alone (the router is fixed at start-up): ``pytest --ds=tests.multidb.settings tests/multidb``.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES as _DATABASES

DATABASES = {**_DATABASES, "overrides": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DATABASE_ROUTERS = ["tests.multidb.settings.OverridesRouter"]

ROUTED_APPS = {"request_settings", "auth", "contenttypes", "admin"}
"""request_settings with the apps its foreign keys reach (users, and the admin's log of them): Django supports no
relation across databases."""


class OverridesRouter:
    """These apps on ``overrides`` (routed by app, as Django's documentation shows), the rest on default, where
    request_settings has no table at all: a query of ours sent to the wrong database fails."""

    def _alias(self, model: type) -> str:
        return "overrides" if model._meta.app_label in ROUTED_APPS else "default"

    def db_for_read(self, model: type, **hints: object) -> str:
        return self._alias(model)

    def db_for_write(self, model: type, **hints: object) -> str:
        return self._alias(model)

    def allow_relation(self, obj1: object, obj2: object, **hints: object) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: object) -> bool:
        return db == ("overrides" if app_label in ROUTED_APPS else "default")
