"""The audit trail: every write through the write API is recorded in the same transaction."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connections, transaction

from request_settings import audit
from request_settings.models import SettingOverride, SettingOverrideChange

pytestmark = pytest.mark.django_db


def history(key="SESSION_EXPIRE_SECONDS", host=""):
    changes = SettingOverrideChange.objects.filter(key=key, host=host).order_by("id")
    return [(c.action, c.old_value, c.new_value) for c in changes]


def test_set_and_unset_are_recorded_with_who_and_when(django_user_model):
    user = django_user_model.objects.create_user("ops")

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host="a.example.com", user=user)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900, host="a.example.com")
    SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS", host="a.example.com", user=user)

    assert history(host="a.example.com") == [
        ("created", None, 600),
        ("updated", 600, 900),
        ("deleted", 900, None),
    ]
    created, updated, deleted = SettingOverrideChange.objects.order_by("id")
    assert (created.user, created.username) == (user, "ops")
    assert (updated.user, updated.username) == (None, "")  # no user: the ORM helper or a script
    assert created.changed_at <= updated.changed_at <= deleted.changed_at
    assert str(created).startswith("SESSION_EXPIRE_SECONDS (a.example.com) created at ")


def test_unset_of_a_missing_row_records_nothing():
    assert SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS") is False
    assert SettingOverrideChange.objects.count() == 0


def test_a_refused_write_records_nothing():
    with pytest.raises(ValidationError):
        SettingOverride.objects.set("SECRET_KEY", "x")
    assert SettingOverrideChange.objects.count() == 0


def test_a_rolled_back_change_leaves_neither_row_nor_record():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)

    with pytest.raises(RuntimeError), transaction.atomic():
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)
        SettingOverride.objects.set("OTHER_KEY", 1)
        raise RuntimeError("after the write")

    assert list(SettingOverride.objects.values_list("key", "value")) == [("SESSION_EXPIRE_SECONDS", 600)]
    assert history() == [("created", None, 600)]
    assert SettingOverrideChange.objects.count() == 1


def test_the_history_outlives_the_user(django_user_model):
    user = django_user_model.objects.create_user("leaver")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, user=user)

    user.delete()

    change = SettingOverrideChange.objects.get()
    assert (change.user, change.username) == (None, "leaver")


def test_revert_sets_the_earlier_value_as_a_new_recorded_change(django_user_model):
    user = django_user_model.objects.create_user("ops")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)
    SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS")
    first = SettingOverrideChange.objects.get(action="created")

    row = audit.revert(first, user=user)

    assert (row.value, row.updated_by) == (600, user)
    latest = SettingOverrideChange.objects.first()
    assert (latest.action, latest.old_value, latest.new_value, latest.reverted_from) == (
        "reverted",
        None,
        600,
        first,
    )
    # Later writes are plain changes again: the revert marker does not leak.
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 1200)
    assert SettingOverrideChange.objects.first().action == "updated"


def test_a_deletion_cannot_be_reverted():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS")
    deleted = SettingOverrideChange.objects.get(action="deleted")

    with pytest.raises(ValidationError, match="SESSION_EXPIRE_SECONDS: a deletion left no value"):
        audit.revert(deleted)
    assert SettingOverride.objects.count() == 0
    assert SettingOverrideChange.objects.count() == 2


def test_a_failed_revert_clears_the_revert_marker():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    first = SettingOverrideChange.objects.get()
    first.key = "SECRET_KEY"  # a value the policy refuses now

    with pytest.raises(ValidationError):
        audit.revert(first)

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 700)
    assert SettingOverrideChange.objects.first().action == "updated"


# The async twins write from a worker thread, outside the test's transaction: flush the table afterwards.
@pytest.mark.django_db(transaction=True)
async def test_the_async_twins_are_audited_too():
    await SettingOverride.objects.aset("SESSION_EXPIRE_SECONDS", 600)
    await SettingOverride.objects.aunset("SESSION_EXPIRE_SECONDS")

    actions = [action async for action in SettingOverrideChange.objects.order_by("id").values_list("action", flat=True)]
    assert actions == ["created", "deleted"]
    await sync_to_async(connections.close_all)()  # the worker thread's, so the test database can go
