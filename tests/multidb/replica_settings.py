"""A primary and a read replica (a test mirror of it): a router sends request_settings' reads to the replica and its
writes to default. Run alone: ``pytest --ds=tests.multidb.replica_settings tests/multidb``.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES as _DATABASES

DATABASES = {**_DATABASES, "replica": {**_DATABASES["default"], "TEST": {"MIRROR": "default"}}}
DATABASE_ROUTERS = ["tests.multidb.replica_settings.ReplicaRouter"]


class ReplicaRouter:
    """request_settings reads from the replica, writes to the primary; a write transaction's own reads must not."""

    def db_for_read(self, model: type, **hints: object) -> str | None:
        return "replica" if model._meta.app_label == "request_settings" else None

    def db_for_write(self, model: type, **hints: object) -> str:
        return "default"

    def allow_relation(self, obj1: object, obj2: object, **hints: object) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: object) -> bool:
        return db == "default"
