"""override_changed: once per committed change, after commit, from every path; never on rollback."""

from __future__ import annotations

from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.signals import setting_changed
from django.db import transaction

from request_settings.models import SettingOverride
from request_settings.signals import override_changed


class Received(list):
    """Every override_changed call, as a dict of its arguments."""

    def __call__(self, signal, **kwargs):
        self.append(kwargs)


@pytest.fixture
def received():
    receiver = Received()
    override_changed.connect(receiver)
    yield receiver
    override_changed.disconnect(receiver)


def sent(key, host="", *, old=None, new=None, user=None, created=False, deleted=False):
    return {
        "sender": SettingOverride,
        "key": key,
        "host": host,
        "old_value": old,
        "new_value": new,
        "user": user,
        "created": created,
        "deleted": deleted,
    }


@pytest.mark.django_db
def test_set_update_and_unset_each_send_once_after_commit(received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
        assert received == []  # not before the commit
    with django_capture_on_commit_callbacks(execute=True):
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
    with django_capture_on_commit_callbacks(execute=True):
        SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS")
    with django_capture_on_commit_callbacks(execute=True):
        assert SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS") is False  # nothing to remove

    assert received == [
        sent("SESSION_EXPIRE_SECONDS", new=600, created=True),
        sent("SESSION_EXPIRE_SECONDS", old=600, new=60),
        sent("SESSION_EXPIRE_SECONDS", old=60, deleted=True),
    ]


@pytest.mark.django_db
def test_the_async_twins_send_once_per_change(received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        async_to_sync(SettingOverride.objects.aset)("BANNER_TEXT", "hi", host="shop.example.com")
    with django_capture_on_commit_callbacks(execute=True):
        async_to_sync(SettingOverride.objects.aunset)("BANNER_TEXT", host="shop.example.com")

    assert received == [
        sent("BANNER_TEXT", "shop.example.com", new="hi", created=True),
        sent("BANNER_TEXT", "shop.example.com", old="hi", deleted=True),
    ]


@pytest.mark.django_db
def test_the_signal_names_the_user(received, django_capture_on_commit_callbacks):
    user = get_user_model().objects.create_user("ops")
    with django_capture_on_commit_callbacks(execute=True):
        SettingOverride.objects.set("BANNER_TEXT", "hi", user=user)
    assert received == [sent("BANNER_TEXT", new="hi", user=user, created=True)]


@pytest.mark.django_db
def test_the_command_sends_once_per_change(tmp_path, received, django_capture_on_commit_callbacks):
    def command(*args):
        call_command("request_settings", *args, stdout=StringIO(), stderr=StringIO())

    with django_capture_on_commit_callbacks(execute=True):
        command("set", "SESSION_EXPIRE_SECONDS", "600")
    with django_capture_on_commit_callbacks(execute=True):
        command("unset", "SESSION_EXPIRE_SECONDS")
    path = tmp_path / "overrides.json"
    path.write_text(
        '[{"key": "BANNER_TEXT", "host": "", "value": "hi"},'
        ' {"key": "SESSION_EXPIRE_SECONDS", "host": "a.example.com", "value": 60}]'
    )
    with django_capture_on_commit_callbacks(execute=True):
        command("import", str(path))
    with django_capture_on_commit_callbacks(execute=True):
        command("import", str(path))  # nothing changes: nothing is sent
    with django_capture_on_commit_callbacks(execute=True):
        command("import", str(path), "--dry-run", "--replace")

    assert received == [
        sent("SESSION_EXPIRE_SECONDS", new=600, created=True),
        sent("SESSION_EXPIRE_SECONDS", old=600, deleted=True),
        sent("BANNER_TEXT", new="hi", created=True),
        sent("SESSION_EXPIRE_SECONDS", "a.example.com", new=60, created=True),
    ]


def test_setting_changed_is_never_sent(db, django_capture_on_commit_callbacks):
    seen = []

    def on_setting_changed(**kwargs):
        seen.append(kwargs["setting"])

    setting_changed.connect(on_setting_changed)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
            SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS")
    finally:
        setting_changed.disconnect(on_setting_changed)
    assert seen == []


@pytest.mark.django_db(transaction=True)
def test_really_committed_changes_send_and_rolled_back_ones_do_not(received):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    assert received == [sent("SESSION_EXPIRE_SECONDS", new=600, created=True)]

    with pytest.raises(RuntimeError), transaction.atomic():
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
        SettingOverride.objects.set("BANNER_TEXT", "never")
        SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS")
        raise RuntimeError("roll it back")

    assert len(received) == 1
    assert list(SettingOverride.objects.values_list("key", "value")) == [("SESSION_EXPIRE_SECONDS", 600)]

    # Two changes in one outer transaction: each sent once, both after the outer commit.
    with transaction.atomic():
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
        SettingOverride.objects.set("BANNER_TEXT", "hi")
        assert len(received) == 1
    assert received[1:] == [
        sent("SESSION_EXPIRE_SECONDS", old=600, new=60),
        sent("BANNER_TEXT", new="hi", created=True),
    ]


@pytest.mark.django_db
def test_a_rolled_back_savepoint_sends_nothing(received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            SettingOverride.objects.set("BANNER_TEXT", "never")
            raise RuntimeError("roll it back")
        SettingOverride.objects.set("BANNER_TEXT", "kept")
    assert received == [sent("BANNER_TEXT", new="kept", created=True)]
