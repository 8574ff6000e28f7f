"""Scheduled changes and drafts at their edges: bad input, secrets, and every write path agreeing."""

from __future__ import annotations

import datetime
import json

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from request_settings.models import SettingOverride, SettingSchedule
from tests.urls import urlpatterns as site_urlpatterns
from tests.utils import NEEDS_API, api_operator, with_api

urlpatterns, HAS_API = with_api(site_urlpatterns)
needs_api = pytest.mark.skipif(not HAS_API, reason=NEEDS_API)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECRET = "PAYMENT_API_KEY"
SECRET_VALUE = "sk-live-0123456789"


def at(hours: float) -> datetime.datetime:
    return NOW + datetime.timedelta(hours=hours)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# -- a secret's value never shows in an overlap refusal ---------------------------------------------------------------


def test_the_overlap_refusal_masks_a_secret_scheduled_value(clock):
    SettingOverride.objects.schedule(SECRET, SECRET_VALUE, start=at(1), end=at(3))

    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.schedule(SECRET, "sk-other", start=at(2), end=at(4))

    message = " ".join(refused.value.messages)
    assert "already has a scheduled value" in message
    assert SECRET_VALUE not in message


def test_the_command_overlap_refusal_masks_a_secret_scheduled_value(clock):
    SettingOverride.objects.schedule(SECRET, SECRET_VALUE, start=at(1), end=at(3))

    with pytest.raises(CommandError) as refused:
        call_command("request_settings", "set", SECRET, "sk-other", "--from", at(2).isoformat())

    assert SECRET_VALUE not in str(refused.value)


# -- extreme times are a refusal, not a crash -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime.datetime(9999, 12, 31, 23, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))), None),
        (None, datetime.datetime(9999, 12, 31, 23, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))),
        (datetime.datetime(1, 1, 1, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1))), at(1)),
    ],
)
def test_a_time_out_of_range_in_utc_is_refused(clock, start, end):
    with pytest.raises(ValidationError):
        SettingOverride.objects.schedule("SESSION_EXPIRE_SECONDS", 600, start=start, end=end)
    assert not SettingSchedule.objects.exists()


def test_the_command_refuses_a_time_out_of_range_in_utc(clock):
    with pytest.raises(CommandError):
        call_command("request_settings", "set", "SESSION_EXPIRE_SECONDS", "600", "--until", "9999-12-31T23:00-05:00")
    assert not SettingSchedule.objects.exists()


def test_the_admin_refuses_a_time_out_of_range_in_utc_in_the_form(clock, admin_client):
    data = {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": "600", "start_0": "2026-12-01", "start_1": "08:00:00"}
    data.update({"end_0": "9999-12-31", "end_1": "23:00:00"})  # America/Chicago: after the last UTC datetime

    response = admin_client.post(reverse("admin:request_settings_settingschedule_add"), data)

    assert response.status_code == 200
    assert "out of range" in " ".join(response.context["adminform"].form.errors["end"])
    assert not SettingSchedule.objects.exists()


# -- the JSON API ----------------------------------------------------------------------------------------------------

SCHEDULES = "request_settings_api:schedule-list"


@pytest.fixture
def operator(django_user_model):
    return api_operator(django_user_model)


@needs_api
def test_the_api_overlap_refusal_masks_a_secret_scheduled_value(clock, operator):
    SettingOverride.objects.schedule(SECRET, SECRET_VALUE, start=at(1), end=at(3))
    body = {"key": SECRET, "value": "sk-other", "start": at(2).isoformat()}

    response = operator.post(reverse(SCHEDULES), body, format="json")

    assert response.status_code == 400
    assert "already has a scheduled value" in response.json()["non_field_errors"][0]
    assert SECRET_VALUE not in response.content.decode()


# -- a secret's value never shows in the reason a row or window is ignored ------------------------------------------

SECRET_FIELD = {SECRET: {"field": "django.forms.IntegerField"}}
"""After the value was stored, the project declares the key an integer: the stored string no longer applies."""


@pytest.fixture
def ignored_secret_window(clock, settings):
    SettingOverride.objects.schedule(SECRET, SECRET_VALUE, start=at(-1), end=at(3))
    SettingOverride.objects.set(SECRET, SECRET_VALUE, host="shop.example.com")
    settings.REQUEST_SETTINGS_FIELDS = SECRET_FIELD


@needs_api
def test_the_api_never_shows_a_secret_in_why_a_window_is_ignored(ignored_secret_window, operator):
    effective = operator.get(reverse("request_settings_api:effective"))
    overrides = operator.get(reverse("request_settings_api:override-list"))

    (line,) = [line for line in effective.json() if line["key"] == SECRET]
    assert line["ignored"] and "scheduled value" in line["ignored"][0]["reason"]
    (row,) = overrides.json()["results"]
    assert row["problem"]
    assert SECRET_VALUE not in effective.content.decode()
    assert SECRET_VALUE not in overrides.content.decode()


def test_the_command_never_shows_a_secret_in_why_a_row_or_window_is_ignored(ignored_secret_window, capsys):
    call_command("request_settings", "list")
    call_command("request_settings", "get", SECRET)

    out, err = capsys.readouterr()
    assert "ignored" in out + err
    assert SECRET_VALUE not in out + err


def test_the_log_never_shows_a_secret_of_a_skipped_window(ignored_secret_window, client, caplog):
    with caplog.at_level("WARNING", logger="request_settings"):
        client.get("/echo/")

    assert f"Skipped the override of {SECRET}" in caplog.text
    assert SECRET_VALUE not in caplog.text


# -- the command: --draft is never silently dropped ----------------------------------------------------------------


def test_unset_scheduled_with_draft_is_refused_and_cancels_nothing(clock, django_user_model):
    django_user_model.objects.create_user("ops", is_staff=True)
    SettingOverride.objects.schedule("SESSION_EXPIRE_SECONDS", 600, start=at(-1), end=at(3))

    with pytest.raises(CommandError, match="--draft"):
        call_command("request_settings", "unset", "SESSION_EXPIRE_SECONDS", "--scheduled", "--draft", "--user", "ops")

    assert SettingSchedule.objects.count() == 1


# -- import --dry-run tells what the import would do -----------------------------------------------------------------


def test_a_dry_run_refuses_overlapping_windows_as_the_import_does(clock, tmp_path):
    entries = [
        {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 600, "start": at(1).isoformat(), "end": None},
        {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 900, "start": at(2).isoformat(), "end": None},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(entries))

    with pytest.raises(CommandError, match="already has a scheduled value"):
        call_command("request_settings", "import", str(path))
    with pytest.raises(CommandError, match="already has a scheduled value"):
        call_command("request_settings", "import", "--dry-run", str(path))

    assert not SettingSchedule.objects.exists()


def test_a_dry_run_leaves_nothing_behind(clock, tmp_path, django_capture_on_commit_callbacks):
    from request_settings.models import ChangeVersion, SettingOverrideChange

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    version = ChangeVersion.objects.values_list("version", flat=True).first()
    entries = [
        {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 300},
        {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 900, "start": at(1).isoformat(), "end": None},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(entries))
    changes = SettingOverrideChange.objects.count()

    with django_capture_on_commit_callbacks() as announced:
        call_command("request_settings", "import", "--dry-run", str(path))

    assert announced == []  # no override_changed, no invalidation
    assert SettingOverride.objects.get().value == 600
    assert not SettingSchedule.objects.exists()
    assert SettingOverrideChange.objects.count() == changes
    assert ChangeVersion.objects.values_list("version", flat=True).first() == version


# -- the admin: a kept secret that is no longer valid is a form error, not a 500 -------------------------------------


def test_admin_schedule_change_keeping_a_secret_no_longer_valid_shows_the_error(ignored_secret_window, admin_client):
    row = SettingSchedule.objects.get()
    data = {"key": SECRET, "host": "", "value": "", "start_0": "2026-12-01", "start_1": "05:00:00"}
    data.update({"end_0": "2026-12-01", "end_1": "10:00:00"})  # America/Chicago: one hour longer

    response = admin_client.post(reverse("admin:request_settings_settingschedule_change", args=[row.pk]), data)

    assert response.status_code == 200
    assert "PAYMENT_API_KEY" in " ".join(response.context["adminform"].form.errors["value"])
    assert SECRET_VALUE not in response.content.decode()
    assert list(SettingSchedule.objects.values_list("pk", "end")) == [(row.pk, at(3))]


@pytest.mark.parametrize("button", ["_save", "_draft"])
def test_admin_override_change_keeping_a_secret_no_longer_valid_shows_the_error(
    ignored_secret_window, admin_client, button
):
    row = SettingOverride.objects.get(key=SECRET)

    response = admin_client.post(
        reverse("admin:request_settings_settingoverride_change", args=[row.pk]), {"value": "", button: "1"}
    )

    assert response.status_code == 200
    assert "PAYMENT_API_KEY" in " ".join(response.context["adminform"].form.errors["value"])
    assert SECRET_VALUE not in response.content.decode()


# -- export/import of schedules -----------------------------------------------------------------------------------


def test_export_import_round_trip_of_windows_in_effect_patterns_and_secrets(clock, tmp_path, capsys):
    SettingOverride.objects.schedule(SECRET, SECRET_VALUE, host="*.example.com", start=at(-1.5), end=at(3))
    SettingOverride.objects.schedule(
        "SESSION_EXPIRE_SECONDS", 600, host="a.example.com", start=at(1) + datetime.timedelta(microseconds=7)
    )
    before = list(SettingSchedule.objects.order_by("key").values_list("key", "host", "value", "start", "end"))
    call_command("request_settings", "export")
    path = tmp_path / "export.json"
    path.write_text(capsys.readouterr().out)

    call_command("request_settings", "import", str(path))
    assert "0 added, 0 cancelled, 2 unchanged" in capsys.readouterr().out
    for row in SettingSchedule.objects.all():
        SettingOverride.objects.unschedule(row)
    call_command("request_settings", "import", str(path))

    assert list(SettingSchedule.objects.order_by("key").values_list("key", "host", "value", "start", "end")) == before


def test_export_says_which_window_it_skipped(clock, capsys):
    from django.db import connection

    row = SettingOverride.objects.schedule("BANNER_TEXT", "hi", start=at(1))
    with connection.cursor() as cursor:  # written behind the app's back: a number Python's JSON cannot decode
        cursor.execute(f"UPDATE {SettingSchedule._meta.db_table} SET value = %s WHERE id = %s", ["9" * 5000, row.pk])

    call_command("request_settings", "export")

    assert "Skipped BANNER_TEXT" in capsys.readouterr().err
