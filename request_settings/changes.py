"""The change version: every write bumps it in its own transaction, so other processes learn of it by polling one row.

The bump is an UPDATE of one row: concurrent writers queue on that row's lock, so versions are committed in order,
and a reader that has seen version N has every change up to N. Each version logs the (key, host) it changed, so a
refresh reads only those rows. The log keeps the last ``KEEP`` versions; a process further behind reads the whole
table again.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import BigIntegerField, CharField, DateTimeField, F, JSONField, Max, QuerySet, Value
from django.db.models.functions import Cast

from request_settings.conf.settings import settings as conf
from request_settings.models import ChangedRow, ChangeVersion

KEEP = 1000
"""Versions kept in the log of changed rows."""

CHANNEL = "request_settings"
"""PostgreSQL NOTIFY channel (``REQUEST_SETTINGS_LISTEN``); the payload is the new version."""

_ROW = 1
_NO_TIME = Cast(Value(None), output_field=DateTimeField())
"""A typed NULL: PostgreSQL would take two untyped NULLs in a UNION for text, then refuse the schedules' times."""


def record(using: str, key: str, host: str) -> int:
    """Bump the version and log ``(key, host)`` under it, inside the caller's transaction; the new version."""
    with transaction.atomic(using=using):
        version = _bump(using)
        changed = ChangedRow.objects.using(using)
        changed.create(version=version, key=key, host=host)
        changed.filter(version__lte=version - KEEP).delete()
        if conf.LISTEN and connections[using].vendor == "postgresql":  # pragma: no cover (tox -e postgres)
            with connections[using].cursor() as cursor:
                # Delivered by PostgreSQL on commit only, and never for a rolled-back change.
                cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(version)])
    return version


def _bump(using: str) -> int:
    versions = ChangeVersion.objects.using(using)
    if not versions.filter(id=_ROW).update(version=F("version") + 1):
        # The row is gone (a test's flush, a restored dump). Starting again at 1 could land on a version a process
        # already holds, which it would take for "unchanged": start above any count instead, from the clock.
        logged = ChangedRow.objects.using(using).aggregate(top=Max("version"))["top"] or 0
        start = max(logged + 1, int(time.time() * 1000))
        try:
            with transaction.atomic(using=using):
                versions.create(id=_ROW, version=start)
        except IntegrityError:  # pragma: no cover (a race only PostgreSQL allows: tests/test_store_postgres.py)
            versions.filter(id=_ROW).update(version=F("version") + 1)
    version: int = versions.values_list("version", flat=True).get(id=_ROW)
    return version


def current(using: str) -> int:
    """The committed version (0 when the row is missing): one indexed one-row query."""
    found = ChangeVersion.objects.using(using).filter(id=_ROW).values_list("version", flat=True).first()
    return found or 0


def with_version(rows: QuerySet[Any], using: str, *also: QuerySet[Any]) -> QuerySet[Any]:
    """``(key, host, value, None, None, None)`` of every row, one ``(None, None, None, version, None, None)``, and
    the rows of ``also`` (querysets of the same six columns): one statement, one state."""
    version = (
        ChangeVersion.objects.using(using)
        .filter(id=_ROW)
        .annotate(
            key=Value(None, output_field=CharField()),
            host=Value(None, output_field=CharField()),
            value=Value(None, output_field=JSONField()),
            start=_NO_TIME,
            end=_NO_TIME,
        )
    )
    version_row = version.order_by().values_list("key", "host", "value", "version", "start", "end")
    combined: QuerySet[Any] = padded(rows).union(version_row, *also, all=True)
    return combined


def padded(rows: QuerySet[Any]) -> QuerySet[Any]:
    """Rows of the override table in the six columns of ``with_version``."""
    rows = rows.annotate(
        change_version=Value(None, output_field=BigIntegerField()),
        start=_NO_TIME,
        end=_NO_TIME,
    )
    columns: QuerySet[Any] = rows.order_by().values_list("key", "host", "value", "change_version", "start", "end")
    return columns


def changed_since(using: str, version: int, upto: int) -> set[tuple[str, str]] | None:
    """The ``(key, host)`` pairs changed by versions ``version + 1`` to ``upto``; None if the log misses one.

    Committed versions have no gaps (a rolled-back write rolls its bump back too), so a missing one means the log
    was pruned or the table reset: the caller must read the whole table.
    """
    if upto - version > KEEP:
        return None
    rows = ChangedRow.objects.using(using).filter(version__gt=version, version__lte=upto)
    logged = list(rows.values_list("version", "key", "host"))
    if {entry[0] for entry in logged} != set(range(version + 1, upto + 1)):
        return None
    return {(key, host) for _version, key, host in logged}
