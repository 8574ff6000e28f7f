"""Migrations under routers: data migrations ask the router about the model they write, as per-model routers need."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython
from django.test import override_settings

from request_settings.models import ChangeVersion


class ChangeVersionElsewhere:
    """Places ChangeVersion's table on another database: a router that decides per model, with no app-wide answer."""

    asked: list[dict[str, object]] = []

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        self.asked.append({"db": db, "model_name": model_name})
        if model_name is None:
            return None  # no opinion on a data migration that does not say what it writes: Django then allows it
        return not (db == "default" and model_name == "changeversion")


@pytest.mark.django_db
def test_the_version_row_migration_names_its_model_to_the_router():
    loader = MigrationLoader(connection)
    migration = loader.get_migration("request_settings", "0003_changeversion")
    data_migrations = [op for op in migration.operations if isinstance(op, RunPython)]
    assert data_migrations and all(op.hints.get("model_name") == "changeversion" for op in data_migrations)
    state = loader.project_state(("request_settings", "0003_changeversion"), at_end=False)
    ChangeVersion.objects.all().delete()
    ChangeVersionElsewhere.asked.clear()
    editor = SimpleNamespace(connection=connection)  # all a data migration uses of it
    with override_settings(DATABASE_ROUTERS=[ChangeVersionElsewhere()]):
        for op in data_migrations:
            op.database_forwards("request_settings", editor, state, state)
    assert {"db": "default", "model_name": "changeversion"} in ChangeVersionElsewhere.asked
    assert not ChangeVersion.objects.exists()  # the router placed the table elsewhere: nothing written here
