"""What the schedules put in effect at a moment, and when that next changes: the read side of ``SettingSchedule``.

A scheduled value takes the place of the plain row of its (key, host) while ``start <= now < end``. Each snapshot
knows the next start or end (``Snapshot.next_switch``) and is stale from then on, so every process switches within a
poll interval of the scheduled time with no writer running: the refresher, or the first request after it, reads just
the (key, host) pairs that switched. Times are this process's clock (``time.time``), as the schedules' own are.

The store reads the schedules in the statement that reads the rows (see ``changes.with_version``): those not over
yet, a handful at any time, whatever the number of tenants.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import BigIntegerField, Q, QuerySet, Value
from django.utils import timezone

from request_settings.models import SettingSchedule

Pair = tuple[str, str]
Window = tuple[str, str, Any, float, float]
"""(key, host, value, start, end) of a schedule, as ``time.time()`` seconds (end: infinity when open)."""


def moment(wall: float) -> datetime.datetime:
    """``time.time()`` seconds as the database's datetimes are: aware (UTC), or naive local time without USE_TZ.

    Without USE_TZ, Django refuses aware datetimes in queries on SQLite and MySQL (and the store would fail every
    read): Django's own test suite runs so.
    """
    aware = datetime.datetime.fromtimestamp(wall, tz=datetime.timezone.utc)
    return aware if settings.USE_TZ else timezone.make_naive(aware)


def not_over(using: str, wall: float) -> QuerySet[Any]:
    """The schedules that end after ``wall`` (or never), in the six columns of ``changes.with_version``."""
    schedules = SettingSchedule.objects.using(using).filter(Q(end__isnull=True) | Q(end__gt=moment(wall)))
    schedules = schedules.annotate(change_version=Value(None, output_field=BigIntegerField()))
    columns: QuerySet[Any] = schedules.order_by().values_list("key", "host", "value", "change_version", "start", "end")
    return columns


def window(key: str, host: str, value: Any, start: datetime.datetime, end: datetime.datetime | None) -> Window:
    return key, host, value, _seconds(start), math.inf if end is None else _seconds(end)


def _seconds(when: datetime.datetime) -> float:
    """A stored time as ``time.time()`` seconds; a naive one (USE_TZ = False) is in the default time zone."""
    return (timezone.make_aware(when) if timezone.is_naive(when) else when).timestamp()


def in_effect(windows: Iterable[Window], wall: float) -> dict[Pair, Any]:
    """``(key, host) -> value`` of the windows open at ``wall``."""
    return {(key, host): value for key, host, value, start, end in windows if start <= wall < end}


def next_switch(windows: Iterable[Window], wall: float) -> float:
    """The first start or end after ``wall``; infinity when none is scheduled."""
    return min((when for *_row, start, end in windows for when in (start, end) if when > wall), default=math.inf)


def switched(windows: Iterable[Window], since: float, wall: float) -> set[Pair]:
    """The pairs whose window opened or closed after ``since`` and by ``wall``."""
    return {(key, host) for key, host, _value, start, end in windows if since < start <= wall or since < end <= wall}
