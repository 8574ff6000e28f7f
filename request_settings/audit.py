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
    from request_settings.models import SettingOverrideChange, UserLike

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
    """A change that left a value behind (not a deletion) can be restored."""
    return change.action != "deleted"


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
