"""The override table and its write API: validate, upsert, nothing written on rejection."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from request_settings.models import SettingOverride

pytestmark = pytest.mark.django_db


def rows():
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


def test_set_creates_then_updates_the_same_row():
    created = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    updated = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 90, host="shop.example.com")
    assert created.pk == updated.pk
    assert rows() == [("SESSION_EXPIRE_SECONDS", "shop.example.com", 90)]


def test_all_hosts_and_host_rows_are_distinct():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 90, host="shop.example.com")
    assert rows() == [("SESSION_EXPIRE_SECONDS", "", 60), ("SESSION_EXPIRE_SECONDS", "shop.example.com", 90)]


def test_the_host_is_stored_normalised():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="Shop.Example.com:8000")
    assert rows() == [("SESSION_EXPIRE_SECONDS", "shop.example.com", 60)]


def test_unset_removes_and_says_whether_there_was_a_row():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
    assert SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS") is True
    assert SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS") is False
    assert rows() == []


def test_the_user_who_changed_it_is_recorded():
    user = get_user_model().objects.create_user("staff")
    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, user=user)
    assert row.updated_by == user
    assert SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 61).updated_by is None


@pytest.mark.parametrize(
    ("key", "value", "host", "message"),
    [
        ("session_expire", 60, "", "cannot be overridden: not an upper-case identifier"),
        ("SECRET_KEY", "x", "", "SECRET_KEY cannot be overridden: security-critical"),
        ("TIME_ZONE", "UTC", "", "cached by Django on first use"),
        ("SESSION_EXPIRE_SECONDS", "sixty", "", "'sixty' is not a valid value for SESSION_EXPIRE_SECONDS: expected an"),
        ("SESSION_COOKIE_AGE", 0, "", "0 is not a valid value for SESSION_COOKIE_AGE: expected an integer from 60 to"),
        ("TENANT_BANNER", "a\x00b", "", "expected a string without NUL characters"),
        ("TENANT_BANNER", float("nan"), "", "expected a finite number"),
        ("TENANT_BANNER", {1: "x"}, "", "keys are strings"),
        ("TENANT_BANNER", object(), "", "a JSON value"),
        ("TENANT_BANNER", "hi", "not a host!", "is not a host: expected a host name"),
    ],
)  # fmt: skip
def test_bad_input_is_rejected_with_a_clear_error_and_nothing_is_written(key, value, host, message):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
    with pytest.raises(ValidationError) as error:
        SettingOverride.objects.set(key, value, host=host)
    assert message in " ".join(error.value.messages)
    assert rows() == [("SESSION_EXPIRE_SECONDS", "", 60)]


def test_model_validation_refuses_the_same_things_for_forms():
    row = SettingOverride(key="DEBUG", value=True, host="")
    with pytest.raises(ValidationError) as error:
        row.full_clean()
    assert "DEBUG cannot be overridden: security-critical" in str(error.value.message_dict["key"])
    row = SettingOverride(key="bad key", value=1, host="Not A Host")
    with pytest.raises(ValidationError) as error:
        row.full_clean()
    assert set(error.value.message_dict) >= {"key", "host"}


def test_json_null_true_lists_and_objects_round_trip():
    values = [None, True, 1.5, ["a", 1], {"nested": {"list": [1, None]}}, "üñí©ødé"]
    for index, value in enumerate(values):
        SettingOverride.objects.set(f"CUSTOM_{index}", value)
    assert [row.value for row in SettingOverride.objects.order_by("key")] == values


def test_the_database_keeps_key_and_host_unique_including_all_hosts():
    SettingOverride.objects.create(key="SESSION_EXPIRE_SECONDS", host="", value=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        SettingOverride.objects.create(key="SESSION_EXPIRE_SECONDS", host="", value=2)


def test_str_shows_all_hosts_in_words():
    assert str(SettingOverride(key="A_KEY", host="")) == "A_KEY (all hosts)"  # one pair of brackets
    assert str(SettingOverride(key="A_KEY", host="shop.example.com")) == "A_KEY (shop.example.com)"


@pytest.mark.django_db(transaction=True)
async def test_async_twins():
    await SettingOverride.objects.aset("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    assert await SettingOverride.objects.filter(host="shop.example.com").aexists()
    assert await SettingOverride.objects.aunset("SESSION_EXPIRE_SECONDS", host="shop.example.com") is True
    assert not await SettingOverride.objects.aexists()
