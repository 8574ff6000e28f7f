"""The audit trail: who changed which override, when, from what to what; and reverting.

``record`` is called by the write API (``SettingOverride.objects.set`` / ``unset``) inside the
write's transaction, so every path (admin, site form, command, ORM helper) is audited, and a
rolled-back change leaves no record.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    import datetime

    from django.db.models import QuerySet

    from request_settings.models import SettingOverrideChange, SettingSchedule, UserLike

# Set while a revert runs, so that the record the write API makes says "reverted" and points at
# its source.
_reverting: ContextVar[SettingOverrideChange | None] = ContextVar("request_settings_reverting", default=None)


def record(
    key: str,
    host: str,
    old_value: Any,
    new_value: Any,
    user: Any,
    using: str,
    *,
    created: bool = False,
    deleted: bool = False,
) -> SettingOverrideChange:
    """Write the audit record of one change; call it inside the change's transaction."""
    from request_settings.models import SettingOverrideChange

    source = _reverting.get()
    if source is not None:
        action = SettingOverrideChange.Action.REVERTED
    elif created:
        action = SettingOverrideChange.Action.CREATED
    elif deleted:
        action = SettingOverrideChange.Action.DELETED
    else:
        action = SettingOverrideChange.Action.UPDATED
    change: SettingOverrideChange = SettingOverrideChange.objects.using(using).create(
        key=key,
        host=host,
        action=action,
        old_value=None if created else old_value,
        new_value=None if deleted else new_value,
        user=user,
        username=user.get_username() if user is not None else "",
        reverted_from=source,
    )
    return change


@contextmanager
def _reverting_to(source: SettingOverrideChange) -> Iterator[None]:
    token = _reverting.set(source)
    try:
        yield
    finally:
        _reverting.reset(token)


def can_revert_to(change: SettingOverrideChange) -> bool:
    """A change that left a value in the row (a creation, an update, a revert) can be restored; a deletion and the
    records of scheduled changes cannot (a window's value is not the row's)."""
    return change.action in ("created", "updated", "reverted")


# -- scheduled changes ---------------------------------------------------------------------------------------------
#
# A window switches with no process running at its start or end, so nothing could write a record then. Instead the
# records of both moments are written with the schedule, dated at those moments, in the same transaction; cancelling
# the window removes those that have not come yet. ``happened()`` keeps records dated in the future out of the
# trail as shown: it lists what has happened, and a start or end appears once its moment has passed.

SCHEDULED, UNSCHEDULED, TOOK_EFFECT, LOST_EFFECT = "scheduled", "unscheduled", "took_effect", "lost_effect"
"""The actions of scheduled changes (``SettingOverrideChange.Action``)."""


def record_schedule(schedule: SettingSchedule, user: Any, using: str, now: datetime.datetime) -> None:
    """The records of a new window: "scheduled" now, "took effect" at its start (now if passed), "lost effect" at
    its end; call it inside the write's transaction."""
    from request_settings.models import SettingOverrideChange

    moments = [(SCHEDULED, now), (TOOK_EFFECT, max(schedule.start, now))]
    if schedule.end is not None:
        moments.append((LOST_EFFECT, schedule.end))
    SettingOverrideChange.objects.using(using).bulk_create(
        [_schedule_change(schedule, action, at, user) for action, at in moments]
    )


def record_unschedule(schedule: SettingSchedule, user: Any, using: str, now: datetime.datetime) -> None:
    """Before a window is deleted: "unscheduled" now, "lost effect" now if it was in effect, and its records dated
    after now removed (they will not happen)."""
    from request_settings.models import SettingOverrideChange

    changes = SettingOverrideChange.objects.using(using)
    changes.filter(schedule=schedule, changed_at__gt=now).delete()
    records = [_schedule_change(schedule, UNSCHEDULED, now, user)]
    if schedule.start <= now and (schedule.end is None or now < schedule.end):
        records.append(_schedule_change(schedule, LOST_EFFECT, now, user))
    changes.bulk_create(records)


def _schedule_change(schedule: SettingSchedule, action: str, at: datetime.datetime, user: Any) -> SettingOverrideChange:
    from request_settings.models import SettingOverrideChange

    ending = action in (UNSCHEDULED, LOST_EFFECT)
    return SettingOverrideChange(
        key=schedule.key,
        host=schedule.host,
        action=action,
        old_value=schedule.value if ending else None,
        new_value=None if ending else schedule.value,
        user=user,
        username=user.get_username() if user is not None else "",
        changed_at=at,
        schedule=schedule,
        window_start=schedule.start,
        window_end=schedule.end,
    )


def happened(changes: QuerySet[SettingOverrideChange]) -> QuerySet[SettingOverrideChange]:
    """The records whose moment has come: the start and end of a window show once they have happened."""
    from django.utils import timezone

    happened_now: QuerySet[SettingOverrideChange] = changes.filter(changed_at__lte=timezone.now())
    return happened_now


def revert(change: SettingOverrideChange, user: UserLike = None) -> Any:
    """Set the key of ``change`` back to the value it left; a new change with its own record.

    Raises ValidationError (nothing written) when the change was a deletion, or when the policy
    refuses that value now.
    """
    from request_settings.models import get_override_model

    if not can_revert_to(change):
        raise ValidationError(
            _("%(key)s: a deletion left no value to revert to; delete the override instead."),
            code="not_revertible",
            params={"key": change.key},
        )
    with _reverting_to(change):
        return get_override_model().objects.set(change.key, change.new_value, host=change.host, user=user)
