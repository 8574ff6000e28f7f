"""Scheduled changes, the write side: windows, the overlap refusal, who may schedule, and the timeline of a host.

A schedule (``SettingSchedule``) puts a value of ``(key, host)`` in effect from ``start`` until ``end`` (None: until
changed); while in effect it takes the place of the plain row of the same ``(key, host)``. The write API is
``SettingOverride.objects.schedule`` / ``unschedule`` (models.py); it calls here. Windows are half-open, ``start <=
now < end``, so two windows where one ends when the next starts do not overlap.

Two schedule() calls for one ``(key, host)`` must not both pass the overlap check: the check runs inside the write's
transaction with the existing windows locked (``select_for_update``) and, because a lock on existing rows does not
stop a concurrent insert, with a transaction-level lock on ``(key, host)`` as well: PostgreSQL's advisory lock.
SQLite lets one writer in at a time anyway (the second transaction fails with "database is locked" rather than
write); on other databases the row locks are all we take.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils import timezone

from request_settings import rights
from request_settings.models import SettingSchedule, in_brackets, shown

if TYPE_CHECKING:
    from request_settings.effective import Effective

__all__ = [
    "aware",
    "lock",
    "may_edit",
    "may_view",
    "overlap_error",
    "overlapping",
    "timeline",
    "visible",
    "when",
    "window",
    "window_text",
]


def when(moment: datetime.datetime | None) -> str:
    """A moment as shown in messages: ISO 8601 in the current time zone, with its UTC offset; None: "until changed"."""
    if moment is None:
        return "until changed"
    return timezone.localtime(moment).isoformat(sep=" ", timespec="seconds")


def window_text(start: datetime.datetime, end: datetime.datetime | None) -> str:
    """``from 2026-12-01 10:00:00+01:00 until 2026-12-02 10:00:00+01:00`` (or ``... until changed``)."""
    return f"from {when(start)} until {when(end)}" if end is not None else f"from {when(start)}, until changed"


def aware(text: str, *, field: str) -> datetime.datetime:
    """An ISO 8601 time typed by a person (command, import file): with an offset, or read in the current time zone.

    A naive time that does not exist (skipped by a DST change) or exists twice (repeated by one) is refused: the
    caller must write its offset.
    """
    from django.utils.dateparse import parse_datetime

    try:
        parsed = parse_datetime(text.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError(
            {field: f"{text!r} is not a time: expected ISO 8601 such as 2026-12-24T18:00 or 2026-12-24T18:00+01:00."},
            code="invalid_time",
        )
    if timezone.is_aware(parsed):
        return parsed
    zone = timezone.get_current_timezone()
    first, second = parsed.replace(tzinfo=zone), parsed.replace(tzinfo=zone, fold=1)
    back = first.astimezone(datetime.timezone.utc).astimezone(zone).replace(tzinfo=None)
    if back != parsed:
        problem = f"does not exist in {zone} (the clocks skip it)"
    elif first.utcoffset() != second.utcoffset():
        problem = f"happens twice in {zone} (the clocks go back)"
    else:
        return first
    raise ValidationError(
        {field: f"{text} {problem}: write it with its UTC offset, such as {parsed.isoformat()}+01:00."},
        code="ambiguous_time",
    )


def window(
    start: datetime.datetime | None, end: datetime.datetime | None, now: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime | None]:
    """``(start, end)`` checked: aware datetimes, ``start`` None means now, ``end`` after ``start`` and after now."""
    errors: dict[str, str] = {}
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and not isinstance(moment, datetime.datetime):
            errors[name] = f"{name} should be a datetime, not {shown(moment)}."
        elif moment is not None and timezone.is_naive(moment):
            errors[name] = (
                f"{name} {moment.isoformat()} has no time zone: pass an aware datetime "
                "(django.utils.timezone.make_aware, or a tzinfo), so the moment is not a guess."
            )
    if errors:
        raise ValidationError(errors, code="naive_time")
    # In UTC: Python compares two datetimes of one tzinfo by their wall clocks, fold ignored, so the 02:30 before
    # and the 02:30 after the clocks go back would compare equal.
    start = now if start is None else _in_utc("start", start)
    end = None if end is None else _in_utc("end", end)
    if end is not None and end <= start:
        raise ValidationError(
            {"end": f"The end {when(end)} should be after the start {when(start)}."}, code="empty_window"
        )
    if end is not None and end <= now:
        raise ValidationError(
            {"end": f"The window ends at {when(end)}, which has passed: it would never apply."}, code="past_window"
        )
    return start, end


def _in_utc(name: str, moment: datetime.datetime) -> datetime.datetime:
    try:
        return moment.astimezone(datetime.timezone.utc)
    except OverflowError:  # 9999-12-31T23:00-05:00 is after the last datetime Python has in UTC
        raise ValidationError(
            {name: f"{name} {moment.isoformat()} is out of range: expected a time from year 1 to 9999 in UTC."},
            code="out_of_range",
        ) from None


def overlapping(
    key: str,
    host: str,
    start: datetime.datetime,
    end: datetime.datetime | None,
    *,
    using: str | None = None,
    exclude: int | None = None,
    lock: bool = False,
) -> SettingSchedule | None:
    """The first window of ``(key, host)`` that overlaps ``[start, end)`` (None: none); ``lock`` locks them all."""
    rows = SettingSchedule.objects.using(using).filter(key=key, host=host)
    if lock:
        # Every window of (key, host), not only the overlapping ones: a concurrent change of any of them waits.
        list(rows.select_for_update().values_list("pk", flat=True))
    rows = rows.filter(Q(end__isnull=True) | Q(end__gt=start))
    if end is not None:
        rows = rows.filter(start__lt=end)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    found: SettingSchedule | None = rows.order_by("start").first()
    return found


def overlaps(
    start: datetime.datetime,
    end: datetime.datetime | None,
    other_start: datetime.datetime,
    other_end: datetime.datetime | None,
) -> bool:
    """Whether two windows share an instant: each runs from its start up to, not including, its end (None: open).

    ``overlapping`` asks the database the same question."""
    return (other_end is None or other_end > start) and (end is None or other_start < end)


def overlap_error(key: str, host: str, other: SettingSchedule) -> ValidationError:
    """The refusal naming the window in the way (its value masked if the key looks secret, as everywhere it shows)."""
    from request_settings.forms import display_value

    return ValidationError(
        "%(key)s %(host)s already has a scheduled value (%(value)s) %(window)s, which overlaps this window: "
        "choose a window that ends before it starts or starts after it ends, or cancel it first.",
        code="overlap",
        params={
            "key": key,
            "host": in_brackets(host),
            "value": display_value(key, other.value, limit=80),
            "window": window_text(other.start, other.end),
        },
    )


def lock(using: str, key: str, host: str) -> None:
    """A lock on ``(key, host)`` held until the transaction ends, where the database offers one (PostgreSQL)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"request_settings.schedule {key} {host}"]
            )


# -- rights: a schedule changes what (key, host) gets, so it needs the rights over that override ------------------


def may_view(user: Any, key: str, host: str) -> bool:
    """View or change rights on the override of ``(key, host)`` (asked with the row, or an unsaved one)."""
    return rights.allowed_for(user, "view", key, host) or rights.allowed_for(user, "change", key, host)


def may_edit(user: Any, key: str, host: str) -> bool:
    """Scheduling, changing or cancelling a window needs the right to change the override of ``(key, host)``."""
    return rights.allowed_for(user, "change", key, host)


def visible(user: Any, rows: QuerySet[SettingSchedule]) -> QuerySet[SettingSchedule]:
    """The schedules ``user`` may see: all with the model permission, else those of the overrides they may see."""
    if rights.allowed(user, "view") or rights.allowed(user, "change"):
        return rows
    seen: dict[tuple[str, str], bool] = {}
    allowed = []
    for pk, key, host in rows.values_list("pk", "key", "host"):
        if (key, host) not in seen:
            seen[key, host] = may_view(user, key, host)
        if seen[key, host]:
            allowed.append(pk)
    filtered: QuerySet[SettingSchedule] = rows.filter(pk__in=allowed)
    return filtered


def in_effect(rows: Iterable[SettingSchedule], now: datetime.datetime) -> list[SettingSchedule]:
    """The windows of ``rows`` that hold ``now``."""
    return [row for row in rows if row.start <= now and (row.end is None or now < row.end)]


# -- the timeline of a host ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upcoming:
    """One moment ahead at which what ``key`` gets may change: a window of a row host applying to the host starts
    (``value`` is its value) or ends (``value`` is None: the plain row or settings.py again)."""

    key: str
    row_host: str
    at: datetime.datetime
    starts: bool
    schedule: SettingSchedule


@dataclass(frozen=True)
class TimelineLine:
    now: Effective
    upcoming: Sequence[Upcoming]


def timeline(host: str, keys: Iterable[str] | None = None, *, limit: int = 5) -> list[TimelineLine]:
    """Per key: what a request for ``host`` gets now and where from, and the next ``limit`` starts and ends of the
    windows of the rows that apply to it (the host's, its patterns', the all-hosts')."""
    from request_settings import effective

    now = timezone.now()
    lines = effective.resolve(host, keys)
    wanted = [line.key for line in lines]
    moments: dict[str, list[Upcoming]] = {}
    rows = SettingSchedule.objects.filter(key__in=wanted, host__in=effective.scopes(host)).filter(
        Q(end__isnull=True) | Q(end__gt=now)
    )
    for row in rows.order_by("start"):
        if row.start > now:
            moments.setdefault(row.key, []).append(Upcoming(row.key, row.host, row.start, True, row))
        if row.end is not None:
            moments.setdefault(row.key, []).append(Upcoming(row.key, row.host, row.end, False, row))
    return [
        TimelineLine(line, sorted(moments.get(line.key, []), key=lambda item: (item.at, item.starts))[:limit])
        for line in lines
    ]
