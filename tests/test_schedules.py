"""Scheduled changes, the write side: ``objects.schedule``/``unschedule``, the audit of windows, the admin, the
command, the JSON API, and what the effective view reports."""

from __future__ import annotations

import datetime
import itertools
import json
import threading
import zoneinfo
from unittest import mock

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone

from request_settings import audit, effective
from request_settings.models import SettingOverride, SettingOverrideChange, SettingSchedule

pytestmark = pytest.mark.django_db

UTC = datetime.timezone.utc
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = "SESSION_EXPIRE_SECONDS"


def at(hours: float) -> datetime.datetime:
    """``NOW`` plus some hours."""
    return NOW + datetime.timedelta(hours=hours)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def trail(key=KEY, host=""):
    changes = SettingOverrideChange.objects.filter(key=key, host=host).order_by("changed_at", "id")
    return [(c.action, c.old_value, c.new_value, c.changed_at) for c in changes]


def windows(key=KEY, host=""):
    return list(
        SettingSchedule.objects.filter(key=key, host=host).order_by("start").values_list("value", "start", "end")
    )


def effective_value(host=""):
    (line,) = effective.resolve(host, [KEY])
    return line


# -- the write API -----------------------------------------------------------------------------------------------


def test_schedule_stores_the_window_with_who(clock, django_user_model):
    user = django_user_model.objects.create_user("ops")

    row = SettingOverride.objects.schedule(KEY, 600, host="A.Example.com", start=at(1), end=at(2), user=user)

    assert isinstance(row, SettingSchedule)
    assert (row.key, row.host, row.value, row.start, row.end, row.created_by) == (
        KEY,
        "a.example.com",
        600,
        at(1),
        at(2),
        user,
    )


def test_start_none_is_now_and_end_none_is_until_changed(clock):
    row = SettingOverride.objects.schedule(KEY, 600)

    assert (row.start, row.end) == (NOW, None)


@pytest.mark.parametrize("field", ["start", "end"])
def test_naive_datetimes_are_refused_naming_the_field(clock, field):
    naive = datetime.datetime(2026, 12, 24, 18, 0)
    window = {"start": at(1), "end": at(48)}
    window[field] = naive

    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.schedule(KEY, 600, **window)

    assert field in refused.value.message_dict
    assert "2026-12-24T18:00:00 has no time zone" in refused.value.message_dict[field][0]
    assert not SettingSchedule.objects.exists()


@pytest.mark.parametrize("end", [0, -1])
def test_an_end_not_after_the_start_is_refused(clock, end):
    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(1 + end))

    assert "should be after the start" in refused.value.message_dict["end"][0]
    assert not SettingSchedule.objects.exists()


def test_a_window_that_has_ended_is_refused(clock):
    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.schedule(KEY, 600, start=at(-2), end=at(-1))

    assert "which has passed" in refused.value.message_dict["end"][0]


def test_a_window_that_started_already_takes_effect_now(clock):
    SettingOverride.objects.schedule(KEY, 600, start=at(-2), end=at(1))

    assert [(action, when) for action, _old, _new, when in trail()] == [
        ("scheduled", NOW),
        ("took_effect", NOW),
        ("lost_effect", at(1)),
    ]


@pytest.mark.parametrize(
    ("key", "value", "host", "field"),
    [
        ("SECRET_KEY", "x", "", "key"),  # refused by the policy
        ("SESSION_COOKIE_AGE", "a week", "", "value"),  # wrong type for an honored key
        ("SESSION_COOKIE_AGE", -1, "", "value"),  # the built-in validator
        (KEY, 600, "not a host/", "host"),
    ],
)
def test_it_is_validated_like_set(clock, key, value, host, field):
    with pytest.raises(ValidationError) as by_set:
        SettingOverride.objects.set(key, value, host=host)
    with pytest.raises(ValidationError) as by_schedule:
        SettingOverride.objects.schedule(key, value, host=host, start=at(1))

    assert by_schedule.value.message_dict == by_set.value.message_dict
    assert field in by_schedule.value.message_dict
    assert not SettingSchedule.objects.exists()
    assert not SettingOverrideChange.objects.exists()


def test_the_host_is_cleaned_like_set(clock):
    row = SettingOverride.objects.schedule(KEY, 600, host="Shop.Example.COM.", start=at(1))

    assert row.host == "shop.example.com"


# -- overlap ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (2, 4),  # the same window
        (1, 3),  # overlaps the start
        (3, 5),  # overlaps the end
        (2.5, 3),  # inside
        (1, 5),  # around
        (3, None),  # until changed, from inside
        (0, None),  # until changed, from before
    ],
)
def test_an_overlapping_window_is_refused_naming_the_other(clock, start, end):
    SettingOverride.objects.schedule(KEY, 600, start=at(2), end=at(4))

    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.schedule(KEY, 900, start=at(start), end=None if end is None else at(end))

    (message,) = refused.value.messages
    assert refused.value.code == "overlap"
    assert f"{KEY} (all hosts) already has a scheduled value (600)" in message
    assert "from 2026-12-01 08:00:00-06:00 until 2026-12-01 10:00:00-06:00" in message
    assert windows() == [(600, at(2), at(4))]


def test_a_window_until_changed_refuses_every_later_one(clock):
    SettingOverride.objects.schedule(KEY, 600, start=at(2))

    with pytest.raises(ValidationError, match="from 2026-12-01 08:00:00-06:00, until changed"):
        SettingOverride.objects.schedule(KEY, 900, start=at(100), end=at(101))


def test_adjacent_windows_are_accepted(clock):
    SettingOverride.objects.schedule(KEY, 600, start=at(2), end=at(4))
    SettingOverride.objects.schedule(KEY, 900, start=at(4), end=at(6))
    SettingOverride.objects.schedule(KEY, 300, start=at(1), end=at(2))

    assert windows() == [(300, at(1), at(2)), (600, at(2), at(4)), (900, at(4), at(6))]


def test_windows_of_other_keys_and_hosts_do_not_overlap(clock):
    SettingOverride.objects.schedule(KEY, 600, start=at(2), end=at(4))
    SettingOverride.objects.schedule(KEY, 900, host="a.example.com", start=at(2), end=at(4))
    SettingOverride.objects.schedule("SESSION_COOKIE_AGE", 900, start=at(2), end=at(4))

    assert SettingSchedule.objects.count() == 3


def test_many_overlapping_attempts_are_all_refused(clock):
    SettingOverride.objects.schedule(KEY, 600, start=at(10), end=at(20))
    refused = 0
    for offset in range(-9, 12):
        try:
            SettingOverride.objects.schedule(KEY, 900 + offset, start=at(10 + offset), end=at(11 + offset))
        except ValidationError as error:
            assert error.code == "overlap"
            refused += 1
    # 1 h windows starting from 1 h to 21 h: the ten starting from 10 h to 19 h overlap [10 h, 20 h).
    assert refused == 10
    assert len(windows()) == 1 + 21 - 10
    ordered = windows()
    assert all(first[2] <= second[1] for first, second in itertools.pairwise(ordered))


def test_after_cancelling_a_window_its_time_is_free_again(clock):
    row = SettingOverride.objects.schedule(KEY, 600, start=at(2), end=at(4))

    assert SettingOverride.objects.unschedule(row) is True
    SettingOverride.objects.schedule(KEY, 900, start=at(3), end=at(5))

    assert windows() == [(900, at(3), at(5))]
    assert SettingOverride.objects.unschedule(row) is False


def in_thread(write, *, hold=False):
    """``write()`` in a thread of its own (its own connection); with ``hold``, its transaction stays open until
    ``release`` is set. ``opened`` is set once ``write()`` has run, ``result`` holds its return or error."""
    thread = threading.Thread()
    thread.opened, thread.release, thread.result = threading.Event(), threading.Event(), []

    def run():
        try:
            with transaction.atomic():
                try:
                    thread.result.append(write())
                except ValidationError as error:
                    thread.result.append(error)
                thread.opened.set()
                if hold:
                    assert thread.release.wait(10)
        finally:
            connections.close_all()

    thread.run = run
    thread.start()
    return thread


def waiting_for_an_advisory_lock():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_overlapping_schedules_cannot_both_pass():
    if connection.vendor != "postgresql":
        pytest.skip("the interleaving needs PostgreSQL's locks: run it with REQUEST_SETTINGS_TEST_DB=postgres")
    start = timezone.now() + datetime.timedelta(hours=1)
    first = in_thread(lambda: SettingOverride.objects.schedule(KEY, 600, start=start), hold=True)
    assert first.opened.wait(10)  # scheduled, not committed: no row is visible to a second writer yet
    second = in_thread(lambda: SettingOverride.objects.schedule(KEY, 900, start=start + datetime.timedelta(hours=1)))
    for _attempt in range(1000):  # until the second writer queues on the lock of (key, host)
        if waiting_for_an_advisory_lock():
            break
        threading.Event().wait(0.01)
    assert not second.opened.is_set()
    first.release.set()
    first.join(10)
    second.join(10)

    (refused,) = second.result
    assert isinstance(refused, ValidationError) and refused.code == "overlap"
    assert [value for value, _start, _end in windows()] == [600]


# -- time: boundaries and DST -------------------------------------------------------------------------------------


def test_the_value_is_in_effect_from_the_start_second_until_the_end_second(clock):
    SettingOverride.objects.set(KEY, 300)
    SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(2))
    second = datetime.timedelta(seconds=1)

    clock.move_to(at(1) - second)
    assert (effective_value().value, effective_value().scheduled) == (300, False)
    clock.move_to(at(1))
    line = effective_value()
    assert (line.value, line.scheduled, line.until) == (600, True, at(2))
    clock.move_to(at(2) - second)
    assert effective_value().value == 600
    clock.move_to(at(2))
    assert (effective_value().value, effective_value().scheduled) == (300, False)


def test_a_window_across_the_dst_change_lasts_its_real_hours():
    # Europe/Paris leaves summer time on 2026-10-25: 03:00 CEST is 02:00 CET, so 01:00 to 05:00 local is 5 hours.
    start = datetime.datetime(2026, 10, 25, 1, 0, tzinfo=PARIS)
    end = datetime.datetime(2026, 10, 25, 5, 0, tzinfo=PARIS)
    with time_machine.travel(datetime.datetime(2026, 10, 24, 12, 0, tzinfo=PARIS), tick=False) as traveller:
        SettingOverride.objects.schedule(KEY, 600, start=start, end=end)
        assert end - start == datetime.timedelta(hours=4)  # naive arithmetic on one zone: wrong
        assert end.astimezone(UTC) - start.astimezone(UTC) == datetime.timedelta(hours=5)

        # The second 02:30 (CET, after the clocks went back) is inside; 05:00 CET is not.
        traveller.move_to(datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS))
        assert effective_value().value == 600
        traveller.move_to(datetime.datetime(2026, 10, 25, 4, 59, 59, tzinfo=PARIS))
        assert effective_value().value == 600
        traveller.move_to(end)
        assert effective_value().scheduled is False

    (row,) = SettingSchedule.objects.all()
    assert (row.start, row.end) == (start, end)
    assert row.start.astimezone(UTC).hour == 23  # 01:00 CEST is 23:00 UTC the day before


def test_an_adjacent_window_across_the_dst_change_is_compared_in_real_time():
    # 02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC) are an hour apart: windows ending and starting at each touch
    # no other.
    first = datetime.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)
    second = datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS)
    with time_machine.travel(datetime.datetime(2026, 10, 24, tzinfo=PARIS), tick=False):
        SettingOverride.objects.schedule(KEY, 600, start=first - datetime.timedelta(hours=1), end=first)
        SettingOverride.objects.schedule(KEY, 900, start=second, end=second + datetime.timedelta(hours=1))
        SettingOverride.objects.schedule(KEY, 1200, start=first, end=second)  # the hour between the two 02:30s
        with pytest.raises(ValidationError, match="overlap"):
            SettingOverride.objects.schedule(KEY, 1500, start=first - datetime.timedelta(minutes=1), end=first)

    assert [value for value, _start, _end in windows()] == [600, 1200, 900]


# -- the audit trail ------------------------------------------------------------------------------------------------


def test_scheduling_records_who_scheduled_what_and_when_it_takes_and_loses_effect(clock, django_user_model):
    user = django_user_model.objects.create_user("ops")

    row = SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(2), user=user)

    assert trail() == [
        ("scheduled", None, 600, NOW),
        ("took_effect", None, 600, at(1)),
        ("lost_effect", 600, None, at(2)),
    ]
    for change in SettingOverrideChange.objects.all():
        assert (change.user, change.username, change.schedule) == (user, "ops", row)
        assert (change.window_start, change.window_end) == (at(1), at(2))


def test_the_trail_shows_a_moment_once_it_has_happened(clock):
    SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(2))
    shown = lambda: [c.action for c in audit.happened(SettingOverrideChange.objects.order_by("changed_at"))]  # noqa: E731

    assert shown() == ["scheduled"]
    clock.move_to(at(1))
    assert shown() == ["scheduled", "took_effect"]
    clock.move_to(at(2))
    assert shown() == ["scheduled", "took_effect", "lost_effect"]


def test_cancelling_before_the_start_removes_the_moments_that_will_not_happen(clock, django_user_model):
    user = django_user_model.objects.create_user("ops")
    row = SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(2))

    clock.move_to(at(0.5))
    SettingOverride.objects.unschedule(row, user=user)

    assert trail() == [("scheduled", None, 600, NOW), ("unscheduled", 600, None, at(0.5))]
    unscheduled = SettingOverrideChange.objects.get(action="unscheduled")
    assert (unscheduled.username, unscheduled.window_start, unscheduled.window_end) == ("ops", at(1), at(2))
    assert unscheduled.schedule is None  # the window is gone; its times are kept on the record


def test_cancelling_a_window_in_effect_records_that_it_lost_effect_then(clock):
    row = SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(3))

    clock.move_to(at(2))
    SettingOverride.objects.unschedule(row)

    assert [(action, when) for action, _old, _new, when in trail()] == [
        ("scheduled", NOW),
        ("took_effect", at(1)),
        ("unscheduled", at(2)),
        ("lost_effect", at(2)),
    ]


def test_a_refused_schedule_records_nothing(clock):
    SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(2))
    before = trail()

    with pytest.raises(ValidationError):
        SettingOverride.objects.schedule(KEY, 900, start=at(1), end=at(2))

    assert trail() == before


def test_a_scheduled_value_is_not_offered_as_a_revert(clock):
    SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(2))

    assert not any(audit.can_revert_to(change) for change in SettingOverrideChange.objects.all())


# -- async twins ----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_twins_schedule_and_cancel():
    start = timezone.now() + datetime.timedelta(hours=1)

    row = await SettingOverride.objects.aschedule(KEY, 600, host="a.example.com", start=start)
    assert (row.host, row.start, row.end) == ("a.example.com", start, None)
    assert await SettingOverride.objects.aunschedule(row) is True
    assert not await SettingSchedule.objects.filter(pk=row.pk).aexists()
    await sync_to_async(connections.close_all)()  # the executor thread's connection, before the database is dropped


# -- what the effective view reports --------------------------------------------------------------------------------


def test_a_scheduled_value_takes_the_place_of_its_own_rows_only(clock):
    SettingOverride.objects.set(KEY, 300, host="a.example.com")
    SettingOverride.objects.schedule(KEY, 600, start=at(-1), end=at(1))  # all hosts

    host_line, other_line = effective_value("a.example.com"), effective_value("b.example.com")

    assert (host_line.value, host_line.source, host_line.scheduled) == (300, effective.Source.HOST, False)
    assert (other_line.value, other_line.source, other_line.scheduled) == (600, effective.Source.ALL_HOSTS, True)
    assert other_line.until == at(1)


def test_a_key_with_only_a_schedule_is_in_view():
    SettingOverride.objects.schedule("TENANT_BANNER", "soon", start=timezone.now() + datetime.timedelta(days=1))

    assert "TENANT_BANNER" in effective.keys_in_view()


def test_a_scheduled_value_the_policy_refuses_now_is_ignored_with_its_reason(clock, settings):
    SettingOverride.objects.set("TENANT_BANNER", "plain")
    SettingOverride.objects.schedule("TENANT_BANNER", "scheduled", start=at(-1))
    settings.REQUEST_SETTINGS_DENIED = ["TENANT_BANNER"]

    (line,) = effective.resolve("", ["TENANT_BANNER"])

    assert line.source is effective.Source.SETTINGS
    assert [host for host, _reason in line.ignored] == ["", ""]
    assert "scheduled" in line.ignored[0][1]


# -- the admin --------------------------------------------------------------------------------------------------------

SCHEDULE_ADD = "admin:request_settings_settingschedule_add"
SCHEDULE_LIST = "admin:request_settings_settingschedule_changelist"
TIMELINE = "admin:request_settings_settingschedule_timeline"
GRANT_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "request_settings.backends.GrantBackend"]


def staff(django_user_model, *actions, name="editor"):
    from tests.utils import logged_in_client

    return logged_in_client(django_user_model, [f"{a}_settingoverride" for a in actions], name=name, is_staff=True)


@pytest.fixture
def editor(django_user_model):
    return staff(django_user_model, "view", "add", "change", "delete")


def form_data(key=KEY, host="", value="600", start=None, end=None):
    """The admin's split date/time inputs, in the current time zone (America/Chicago in the tests)."""
    data = {"key": key, "host": host, "value": value}
    for name, moment in (("start", start), ("end", end)):
        local = timezone.localtime(moment) if moment is not None else None
        data[f"{name}_0"] = local.strftime("%Y-%m-%d") if local else ""
        data[f"{name}_1"] = local.strftime("%H:%M:%S") if local else ""
    return data


def test_admin_add_schedules_through_the_write_api(clock, editor):
    from django.urls import reverse

    response = editor.post(reverse(SCHEDULE_ADD), form_data(host="A.Example.com", start=at(1), end=at(2)))

    assert response.status_code == 302, response.context["adminform"].form.errors
    row = SettingSchedule.objects.get()
    assert (row.key, row.host, row.value, row.start, row.end, row.created_by) == (
        KEY,
        "a.example.com",
        600,
        at(1),
        at(2),
        editor.user,
    )
    assert [c.action for c in SettingOverrideChange.objects.order_by("changed_at")] == [
        "scheduled",
        "took_effect",
        "lost_effect",
    ]


def test_admin_add_shows_the_overlap_error_in_the_form(clock, editor):
    from django.urls import reverse

    SettingOverride.objects.schedule(KEY, 900, start=at(1), end=at(3))

    response = editor.post(reverse(SCHEDULE_ADD), form_data(start=at(2), end=at(4)))

    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert "already has a scheduled value (900)" in errors[0]
    assert "already has a scheduled value (900)" in response.content.decode()
    assert windows() == [(900, at(1), at(3))]


def test_admin_add_reports_a_window_saved_meanwhile_by_someone_else_not_a_server_error(clock, editor):
    from django.urls import reverse

    from request_settings import schedules

    SettingOverride.objects.schedule(KEY, 900, start=at(1), end=at(3))
    checks = [None]  # the form's check runs before the other window was saved; the write's, under its lock, after

    def not_yet_then_found(*args, **kwargs):
        return checks.pop() if checks else found(*args, **kwargs)

    found = schedules.overlapping
    with mock.patch.object(schedules, "overlapping", not_yet_then_found):
        response = editor.post(reverse(SCHEDULE_ADD), form_data(start=at(2), end=at(4)), follow=True)

    assert response.redirect_chain == [(reverse(SCHEDULE_ADD), 302)]
    assert "already has a scheduled value (900)" in response.content.decode()
    assert windows() == [(900, at(1), at(3))]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (form_data(key="SECRET_KEY", start=at(1)), "key", "SECRET_KEY cannot be overridden"),
        (form_data(value="ten", start=at(1)), "value", "ten"),
        (form_data(start=at(2), end=at(1)), "end", "should be after the start"),
    ],
)
def test_admin_add_refuses_what_set_refuses(clock, editor, data, field, message):
    from django.urls import reverse

    response = editor.post(reverse(SCHEDULE_ADD), data)

    assert response.status_code == 200
    form = response.context["adminform"].form
    errors = form.errors[field] if field else form.non_field_errors()
    assert message in " ".join(errors)
    assert not SettingSchedule.objects.exists()


def test_admin_change_reschedules_and_may_touch_its_own_window(clock, editor):
    from django.urls import reverse

    row = SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(3))
    SettingOverride.objects.schedule(KEY, 900, start=at(3), end=at(5))
    url = reverse("admin:request_settings_settingschedule_change", args=[row.pk])

    overlapping = editor.post(url, form_data(value="700", start=at(2), end=at(4)))
    assert "already has a scheduled value (900)" in " ".join(overlapping.context["adminform"].form.non_field_errors())

    response = editor.post(url, form_data(value="700", start=at(2), end=at(3)))  # overlaps only its old self

    assert response.status_code == 302
    assert windows() == [(700, at(2), at(3)), (900, at(3), at(5))]
    new = SettingSchedule.objects.get(value=700)
    assert [(c.action, c.changed_at) for c in SettingOverrideChange.objects.filter(schedule=new)] == [
        ("lost_effect", at(3)),
        ("took_effect", at(2)),
        ("scheduled", NOW),
    ]
    cancelled = SettingOverrideChange.objects.get(action="unscheduled")
    assert (cancelled.old_value, cancelled.window_start, cancelled.user) == (600, at(1), editor.user)
    assert not SettingOverrideChange.objects.filter(changed_at=at(1)).exists()  # 600 never takes effect


def test_admin_delete_cancels_through_the_write_api(clock, editor):
    from django.urls import reverse

    row = SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(3))

    response = editor.post(reverse("admin:request_settings_settingschedule_delete", args=[row.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not SettingSchedule.objects.exists()
    assert [c.action for c in SettingOverrideChange.objects.order_by("changed_at", "id")] == [
        "scheduled",
        "unscheduled",
    ]


def test_admin_without_rights_sees_no_schedules(clock, django_user_model):
    from django.urls import reverse

    SettingOverride.objects.schedule(KEY, 600, start=at(1))
    nobody = staff(django_user_model, name="nobody")

    assert nobody.get(reverse(SCHEDULE_LIST)).status_code == 403
    assert nobody.post(reverse(SCHEDULE_ADD), form_data(start=at(5))).status_code == 403


def test_admin_view_permission_shows_but_does_not_change(clock, django_user_model):
    from django.urls import reverse

    row = SettingOverride.objects.schedule(KEY, 600, start=at(1))
    viewer = staff(django_user_model, "view", name="viewer")

    assert KEY in viewer.get(reverse(SCHEDULE_LIST)).content.decode()
    assert viewer.post(reverse(SCHEDULE_ADD), form_data(start=at(5))).status_code == 403
    change = reverse("admin:request_settings_settingschedule_change", args=[row.pk])
    viewer.post(change, form_data(value="700", start=at(1)))
    assert windows() == [(600, at(1), None)]


def test_a_grant_holder_schedules_on_their_hosts_only(clock, django_user_model, settings):
    from django.test import Client
    from django.urls import reverse

    from request_settings.models import SettingGrant

    settings.AUTHENTICATION_BACKENDS = GRANT_BACKENDS
    user = django_user_model.objects.create_user("tenant", is_staff=True)
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*", can_edit=True)
    SettingOverride.objects.schedule(KEY, 600, host="b.example.com", start=at(1))
    client = Client()
    client.force_login(user)

    listed = client.get(reverse(SCHEDULE_LIST)).content.decode()
    assert "b.example.com" not in listed
    refused = client.post(reverse(SCHEDULE_ADD), form_data(host="b.example.com", start=at(5)))
    assert "You may not schedule" in " ".join(refused.context["adminform"].form.non_field_errors())
    accepted = client.post(reverse(SCHEDULE_ADD), form_data(host="a.example.com", start=at(5)))
    assert accepted.status_code == 302
    assert SettingSchedule.objects.filter(host="a.example.com").exists()


def test_the_schedule_changelist_filters_by_host_and_searches_on_key(clock, editor):
    from django.urls import reverse

    SettingOverride.objects.schedule(KEY, 600, host="a.example.com", start=at(1))
    SettingOverride.objects.schedule(KEY, 900, start=at(1))
    SettingOverride.objects.schedule("TENANT_BANNER", "hi", host="a.example.com", start=at(1))

    def listed(**params):
        response = editor.get(reverse(SCHEDULE_LIST), params)
        assert response.status_code == 200, params
        return sorted((row.key, row.host) for row in response.context["cl"].result_list)

    page = editor.get(reverse(SCHEDULE_LIST))
    (host_filter,) = [spec for spec in page.context["cl"].filter_specs if spec.parameter_name == "host"]
    assert [label for _host, label in host_filter.lookup_choices] == ["(all hosts)", "a.example.com"]
    assert 'data-host-autocomplete="' + reverse("admin:request_settings_settingschedule_hosts") in page.content.decode()
    assert listed(host="A.Example.com:8000") == [(KEY, "a.example.com"), ("TENANT_BANNER", "a.example.com")]
    assert listed(host="") == [(KEY, "")]  # "" is the all-hosts rows, not "no filter"
    assert listed(q="banner") == [("TENANT_BANNER", "a.example.com")]
    assert len(listed(start__year="2026", start__month="12")) == 3  # the date hierarchy still filters
    suggestions = editor.get(reverse("admin:request_settings_settingschedule_hosts"), {"term": "a.ex"}).json()
    assert suggestions == {"results": ["a.example.com"]}


def test_the_schedule_host_filter_offers_only_the_hosts_a_grant_holder_may_see(clock, django_user_model, settings):
    from django.test import Client
    from django.urls import reverse

    from request_settings.models import SettingGrant

    settings.AUTHENTICATION_BACKENDS = GRANT_BACKENDS
    user = django_user_model.objects.create_user("tenant", is_staff=True)
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*", can_edit=False)
    SettingOverride.objects.schedule(KEY, 600, host="a.example.com", start=at(1))
    SettingOverride.objects.schedule(KEY, 900, host="b.example.com", start=at(1))
    client = Client()
    client.force_login(user)

    page = client.get(reverse(SCHEDULE_LIST))
    (host_filter,) = [spec for spec in page.context["cl"].filter_specs if spec.parameter_name == "host"]
    assert [host for host, _label in host_filter.lookup_choices] == ["a.example.com"]
    assert list(client.get(reverse(SCHEDULE_LIST), {"host": "b.example.com"}).context["cl"].result_list) == []
    hosts = client.get(reverse("admin:request_settings_settingschedule_hosts"), {"term": "example"}).json()
    assert hosts == {"results": ["a.example.com"]}
    nobody = staff(django_user_model, name="nobody")
    assert nobody.get(reverse("admin:request_settings_settingschedule_hosts")).status_code == 403


@pytest.mark.parametrize(
    "params", [{"value__icontains": "s"}, {"value": '"maps-secret"'}, {"created_by__username": "x"}]
)
def test_the_schedule_changelist_cannot_filter_on_values_or_relations(clock, django_user_model, params):
    from django.urls import reverse

    SettingOverride.objects.schedule("MAPS_API_KEY", "maps-secret", start=at(1))
    viewer = staff(django_user_model, "view", name="viewer")

    assert viewer.get(reverse(SCHEDULE_LIST), params).status_code == 400  # a masked value never leaks by URL


def test_the_timeline_shows_what_is_in_effect_and_what_comes_next(clock, editor):
    from django.urls import reverse

    SettingOverride.objects.set(KEY, 300)
    SettingOverride.objects.schedule(KEY, 600, host="a.example.com", start=at(-1), end=at(1))
    SettingOverride.objects.schedule(KEY, 900, start=at(2), end=at(3))
    SettingOverride.objects.schedule(KEY, 1200, host="b.example.com", start=at(2))

    response = editor.get(reverse(TIMELINE), {"host": "a.example.com"})

    assert response.status_code == 200
    (line,) = [line for line in response.context["lines"] if line["key"] == KEY]
    assert line["effective"] == "600"
    assert line["source"] == "this host, scheduled until 2026-12-01 07:00:00-06:00"
    assert [(m["at"], m["what"], m["row"]) for m in line["upcoming"]] == [
        ("2026-12-01 07:00:00-06:00", "600 ends", "a.example.com"),
        ("2026-12-01 08:00:00-06:00", "900 takes effect", "(all hosts)"),
        ("2026-12-01 09:00:00-06:00", "900 ends", "(all hosts)"),
    ]  # b.example.com's window is not a.example.com's
    assert "Timeline of a.example.com" in response.content.decode()


def test_the_override_changelist_links_to_the_timeline(editor):
    from django.urls import reverse

    page = editor.get(reverse("admin:request_settings_settingoverride_changelist")).content.decode()

    assert reverse(TIMELINE) in page


def test_the_history_shows_a_window_moment_once_it_has_happened(clock, editor):
    from django.urls import reverse

    # 7200: with a session timeout (this key) shorter than the quarter hour, the editor would be logged out.
    SettingOverride.objects.schedule(KEY, 7200, start=at(0.25), end=at(2), user=editor.user)
    url = reverse("admin:request_settings_settingoverride_audit") + f"?key={KEY}&host="

    assert [item["change"].action for item in editor.get(url).context["changes"]] == ["scheduled"]
    clock.move_to(at(0.25))
    changes = editor.get(url).context["changes"]
    assert [item["change"].action for item in changes] == ["took_effect", "scheduled"]
    assert changes[0]["window"] == "from 2026-12-01 06:15:00-06:00 until 2026-12-01 08:00:00-06:00"
    assert not any(item["revertible"] for item in changes)


# -- the command ------------------------------------------------------------------------------------------------------


def command(*args):
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command("request_settings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_set_from_until_schedules_instead_of_setting(clock):
    out, _err = command(
        "set", KEY, "600", "--host", "a.example.com", "--from", "2026-12-24T18:00+01:00", "--until", "2026-12-25T06:00Z"
    )

    assert not SettingOverride.objects.exists()
    assert windows(host="a.example.com") == [
        (600, datetime.datetime(2026, 12, 24, 17, 0, tzinfo=UTC), datetime.datetime(2026, 12, 25, 6, 0, tzinfo=UTC))
    ]
    assert out.startswith(f"{KEY}: 600 scheduled from 2026-12-24 11:00:00-06:00 until 2026-12-25 00:00:00-06:00")


def test_a_naive_time_is_read_in_the_current_time_zone(clock, settings):
    settings.TIME_ZONE = "Europe/Paris"

    command("set", KEY, "600", "--from", "2026-12-24T18:00")

    assert windows() == [(600, datetime.datetime(2026, 12, 24, 18, 0, tzinfo=PARIS), None)]


def test_until_alone_starts_now(clock):
    command("set", KEY, "600", "--until", "2026-12-02T00:00:00+00:00")

    assert windows() == [(600, NOW, datetime.datetime(2026, 12, 2, tzinfo=UTC))]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "tomorrow"], "'tomorrow' is not a time: expected ISO 8601"),
        (["--from", "2027-03-28T02:30"], "does not exist in Europe/Paris (the clocks skip it)"),
        (["--from", "2026-10-25T02:30"], "happens twice in Europe/Paris (the clocks go back)"),
        (["--from", "2026-12-03T00:00Z", "--until", "2026-12-02T00:00Z"], "should be after the start"),
        (["--from", "2026-12-02T00:00Z", "--draft", "--user", "ops"], "--draft cannot be combined"),
    ],
)
def test_set_from_refuses_bad_times_writing_nothing(clock, settings, django_user_model, args, message):
    from django.core.management import CommandError

    settings.TIME_ZONE = "Europe/Paris"
    django_user_model.objects.create_user("ops")

    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        command("set", KEY, "600", *args)

    assert not SettingSchedule.objects.exists()


def test_set_from_refuses_an_overlap_naming_the_other_window(clock):
    from django.core.management import CommandError

    command("set", KEY, "600", "--from", "2026-12-02T00:00Z", "--until", "2026-12-03T00:00Z")

    with pytest.raises(CommandError, match="already has a scheduled value \\(600\\)"):
        command("set", KEY, "900", "--from", "2026-12-02T12:00Z")


def test_list_shows_the_schedules_with_their_windows(clock):
    SettingOverride.objects.set(KEY, 300)
    SettingOverride.objects.schedule(KEY, 600, host="a.example.com", start=at(-1), end=at(1))
    SettingOverride.objects.schedule(KEY, 900, start=at(2))

    out, _err = command("list")

    assert out.splitlines()[1:] == [
        "Scheduled:",
        f"(all hosts)    {KEY} = 900  from 2026-12-01 08:00:00-06:00, until changed (upcoming)",
        f"a.example.com  {KEY} = 600  from 2026-12-01 05:00:00-06:00 until 2026-12-01 07:00:00-06:00 (in effect)",
    ]


def test_unset_scheduled_cancels_the_windows_not_the_override(clock):
    SettingOverride.objects.set(KEY, 300)
    SettingOverride.objects.schedule(KEY, 600, start=at(-1), end=at(1))
    SettingOverride.objects.schedule(KEY, 900, start=at(2))
    SettingOverride.objects.schedule(KEY, 1200, host="a.example.com", start=at(2))

    out, _err = command("unset", KEY, "--scheduled")

    assert len(out.splitlines()) == 2
    assert windows() == []
    assert windows(host="a.example.com") != []
    assert SettingOverride.objects.get().value == 300
    assert command("unset", KEY, "--scheduled")[0] == f"{KEY} has no scheduled value for all hosts: nothing changed.\n"


def test_export_import_round_trip_keeps_the_schedules(clock, tmp_path):
    SettingOverride.objects.set(KEY, 300)
    SettingOverride.objects.schedule(KEY, 600, start=at(-1), end=at(1))
    SettingOverride.objects.schedule(KEY, 900, host="a.example.com", start=at(2))
    exported, err = command("export")
    assert "Exported 1 override(s) and 2 scheduled value(s)." in err
    entries = json.loads(exported)
    assert entries == [
        {"key": KEY, "host": "", "value": 300},
        {
            "key": KEY,
            "host": "",
            "value": 600,
            "start": "2026-12-01T11:00:00+00:00",
            "end": "2026-12-01T13:00:00+00:00",
        },
        {"key": KEY, "host": "a.example.com", "value": 900, "start": "2026-12-01T14:00:00+00:00", "end": None},
    ]
    before = windows() + windows(host="a.example.com")
    path = tmp_path / "export.json"
    path.write_text(exported)

    out, _err = command("import", str(path))
    assert out.endswith(
        "0 created, 0 updated, 0 deleted, 1 unchanged; scheduled values: 0 added, 0 cancelled, 2 unchanged.\n"
    )

    SettingOverride.objects.unset(KEY)
    for row in SettingSchedule.objects.all():
        SettingOverride.objects.unschedule(row)
    command("import", str(path))

    assert SettingOverride.objects.get().value == 300
    assert windows() + windows(host="a.example.com") == before


def test_import_replace_makes_the_schedules_exactly_the_file(clock, tmp_path):
    SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(2))
    SettingOverride.objects.schedule(KEY, 900, start=at(5))
    path = tmp_path / "file.json"
    path.write_text(
        json.dumps([{"key": KEY, "host": "", "value": 700, "start": at(1).isoformat(), "end": at(3).isoformat()}])
    )

    out, _err = command("import", "--replace", str(path))

    assert windows() == [(700, at(1), at(3))]
    assert "scheduled values: 1 added, 2 cancelled, 0 unchanged" in out


def test_import_is_all_or_nothing_with_schedules(clock, tmp_path):
    from django.core.management import CommandError

    SettingOverride.objects.schedule(KEY, 600, start=at(1), end=at(2))
    path = tmp_path / "file.json"
    path.write_text(
        json.dumps(
            [
                {"key": "TENANT_BANNER", "host": "", "value": "hello"},
                {"key": KEY, "host": "", "value": 900, "start": at(1.5).isoformat(), "end": None},
            ]
        )
    )

    with pytest.raises(CommandError, match=r"nothing was written: .*already has a scheduled value \(600\)"):
        command("import", str(path))

    assert not SettingOverride.objects.exists()
    assert windows() == [(600, at(1), at(2))]


def test_import_reports_bad_windows_and_skips_ended_ones(clock, tmp_path):
    from django.core.management import CommandError

    bad = tmp_path / "bad.json"
    bad.write_text(
        "[\n"
        + ",\n".join(
            json.dumps(entry)
            for entry in [
                {"key": KEY, "value": 600, "start": "soon"},
                {"key": KEY, "value": 600, "end": "2026-12-24T00:00Z"},
                {"key": KEY, "value": 600, "start": "2026-12-24T00:00Z", "end": "2026-12-23T00:00Z"},
            ]
        )
        + "\n]"
    )
    with pytest.raises(CommandError, match="has 3 bad entries"):
        command("import", str(bad))

    ended = tmp_path / "ended.json"
    ended.write_text(json.dumps([{"key": KEY, "value": 600, "start": at(-3).isoformat(), "end": at(-2).isoformat()}]))
    _out, err = command("import", str(ended))
    assert "skipped, its window" in err and "has ended" in err
    assert not SettingSchedule.objects.exists()


def test_a_file_written_before_schedules_still_imports(tmp_path):
    path = tmp_path / "old.json"
    path.write_text('[\n{"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 600}\n]')

    out, _err = command("import", str(path))

    assert out.endswith("1 created, 0 updated, 0 deleted, 0 unchanged.\n")
    assert SettingOverride.objects.get().value == 600


def test_get_reports_the_scheduled_value_in_effect_as_the_effective_page_does(clock, editor):
    from django.urls import reverse

    SettingOverride.objects.set(KEY, 300, host="a.example.com")
    SettingOverride.objects.schedule(KEY, 600, host="a.example.com", start=at(-1), end=at(1))
    SettingOverride.objects.schedule(KEY, 900, host="*.example.com", start=at(-1))

    page = editor.get(reverse("admin:request_settings_settingoverride_effective"), {"host": "a.example.com"})
    (line,) = [line for line in page.context["lines"] if line["key"] == KEY]
    assert (line["effective"], line["source"]) == ("600", "this host, scheduled until 2026-12-01 07:00:00-06:00")

    out, _err = command("get", KEY, "--host", "a.example.com")
    assert out == f"{KEY} = 600 (host override for a.example.com, scheduled until 2026-12-01 07:00:00-06:00)\n"
    # A host without rows of its own gets the pattern's scheduled value, as a request does.
    out, _err = command("get", KEY, "--host", "b.example.com")
    assert out == f"{KEY} = 900 (pattern override for *.example.com, scheduled until changed)\n"
    clock.move_to(at(1))  # the window is over: the plain row again
    assert command("get", KEY, "--host", "a.example.com")[0] == f"{KEY} = 300 (host override for a.example.com)\n"


def test_get_says_why_a_scheduled_value_does_not_apply(clock):
    SettingOverride.objects.set(KEY, 300)
    SettingSchedule.objects.create(key=KEY, host="", value="soon", start=at(-1))  # behind the write API's back

    out, err = command("get", KEY)

    assert out == f"{KEY} = 300 (all-hosts override)\n"
    assert f'The all-hosts override is ignored: scheduled value: "soon" is not valid for {KEY}' in err


def test_get_with_the_kill_switch_off_reports_settings_py_as_requests_get_it(clock, settings):
    SettingOverride.objects.schedule(KEY, 600, start=at(-1))
    settings.REQUEST_SETTINGS_ENABLED = False

    out, err = command("get", KEY)

    assert out == f"{KEY} = 3600 (settings.py)\n"
    assert "REQUEST_SETTINGS_ENABLED is False" in err


PRINT_HOST_AND_VALUE = (
    "import request_settings; from django.conf import settings; "
    "print(request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS)"
)


def test_run_all_hosts_includes_hosts_whose_schedules_are_not_over(clock, capsys):
    SettingOverride.objects.set(KEY, 300, host="a.example.com")
    SettingOverride.objects.schedule(KEY, 600, host="b.example.com", start=at(-1), end=at(1))  # in effect
    SettingOverride.objects.schedule(KEY, 900, host="c.example.com", start=at(2))  # upcoming
    SettingOverride.objects.schedule(KEY, 1200, host="d.example.com", start=at(-1), end=at(0.5))
    SettingOverride.objects.schedule(KEY, 60, host="*.example.org", start=at(-1))  # a pattern: not a host
    SettingOverride.objects.schedule(KEY, 120, start=at(-1))  # all hosts: not a host of its own
    clock.move_to(at(0.75))  # d.example.com's window is over

    command("run", "--all-hosts", "--", "shell", "-v", "0", "-c", PRINT_HOST_AND_VALUE)

    assert capsys.readouterr().out.splitlines() == [
        "a.example.com 300",
        "b.example.com 600",
        "c.example.com 120",
    ]


# -- every reader agrees with the request path -----------------------------------------------------------------------

SHOP = "shop.example.com"
BLOG = "blog.example.com"
"""Hosts with no row of their own: BLOG matches the pattern ``*.example.com``, ``localhost`` only the all-hosts rows."""


def with_host_row(*windows):
    """``SHOP``'s plain row (600), the all-hosts row (900), then the scheduled values ``(value, host, end)``."""

    def setup():
        SettingOverride.objects.set(KEY, 600, host=SHOP)
        SettingOverride.objects.set(KEY, 900)
        for value, host, end in windows:
            SettingOverride.objects.schedule(KEY, value, host=host, start=at(-1), end=end)

    return setup


AGREEMENT_CASES = {
    # host row wins over an all-hosts scheduled value
    "host-row-beats-all-hosts-window": (with_host_row((450, "", None)), SHOP, (600, "host", False, None)),
    # ... and over a pattern's scheduled value
    "host-row-beats-pattern-window": (with_host_row((60, "*.example.com", None)), SHOP, (600, "host", False, None)),
    # a scheduled value for the same (key, host) wins over that host's plain row
    "host-window-beats-host-row": (
        with_host_row((120, SHOP, at(1)), (60, "*.example.com", None), (450, "", None)),
        SHOP,
        (120, "host", True, at(1)),
    ),
    # a host without a row of its own: the pattern's scheduled value beats the all-hosts row and window
    "pattern-window-beats-all-hosts": (
        with_host_row((60, "*.example.com", None), (450, "", at(2))),
        BLOG,
        (60, "pattern", True, None),
    ),
    # a host no pattern matches: the all-hosts scheduled value beats the all-hosts row
    "all-hosts-window-beats-all-hosts-row": (
        with_host_row((60, "*.example.com", None), (450, "", at(2))),
        "localhost",
        (450, "all_hosts", True, at(2)),
    ),
}


@pytest.mark.django_db(transaction=True)  # committed, as the middleware's snapshot reads them
@pytest.mark.parametrize("case", AGREEMENT_CASES)
def test_resolve_and_get_agree_with_the_request_path(clock, case):
    """(The API's ``effective/`` is checked on the same cases in test_api.py, which the ``api`` env runs.)"""
    from django.test import Client

    setup, host, (value, source, scheduled, until) = AGREEMENT_CASES[case]
    setup()

    served = Client().get("/echo/", {"keys": KEY}, HTTP_HOST=host).json()["values"][KEY]
    line = effective_value(host)
    got, _err = command("get", KEY, "--host", host)

    assert served == value
    assert (line.value, line.source.value, line.scheduled, line.until) == (value, source, scheduled, until)
    assert got.startswith(f"{KEY} = {value} (")
    assert (", scheduled until" in got) is scheduled


@pytest.mark.django_db(transaction=True)
def test_list_and_export_show_what_the_request_path_depends_on(clock, tmp_path):
    from django.test import Client

    with_host_row((120, SHOP, at(1)), (60, "*.example.com", None), (450, "", at(2)))()
    hosts = [SHOP, BLOG, "localhost"]

    def served():
        return [Client().get("/echo/", {"keys": KEY}, HTTP_HOST=host).json()["values"][KEY] for host in hosts]

    before = served()
    listed, _err = command("list")
    exported, _err = command("export")
    path = tmp_path / "export.json"
    path.write_text(exported)
    SettingSchedule.objects.all().delete()
    SettingOverride.objects.all().delete()
    command("import", str(path))

    assert before == [120, 60, 450]
    assert [line.split()[:4] for line in listed.splitlines()] == [
        ["(all", "hosts)", KEY, "="],
        ["shop.example.com", KEY, "=", "600"],
        ["Scheduled:"],
        ["(all", "hosts)", KEY, "="],
        ["*.example.com", KEY, "=", "60"],
        ["shop.example.com", KEY, "=", "120"],
    ]
    assert all(line.endswith("(in effect)") for line in listed.splitlines()[3:])
    assert sorted(
        (entry["host"], entry["value"], entry.get("start") is not None) for entry in json.loads(exported)
    ) == [
        ("", 450, True),
        ("", 900, False),
        ("*.example.com", 60, True),
        (SHOP, 120, True),
        (SHOP, 600, False),
    ]
    assert served() == before  # the file holds all of it: imported into an empty table, every host gets the same


def _at(hour):
    return None if hour is None else datetime.datetime(2031, 1, 1, hour, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    ("window", "other", "shared"),
    [
        ((10, 12), (12, 14), False),  # touching: one ends as the other starts
        ((12, 14), (10, 12), False),
        ((10, 12), (11, 13), True),
        ((10, 14), (11, 12), True),  # inside
        ((10, None), (20, 21), True),  # open-ended
        ((10, 12), (12, None), False),
        ((13, None), (10, 13), False),
        ((10, 12), (10, 12), True),
    ],
)
def test_overlaps_in_python_agrees_with_the_databases_overlapping(window, other, shared):
    """The import's dry run judges in Python what the write path asks the database: they must agree."""
    from request_settings import schedules

    start, end = map(_at, window)
    other_start, other_end = map(_at, other)
    SettingSchedule.objects.create(key="SESSION_EXPIRE_SECONDS", value=1, start=other_start, end=other_end)
    assert schedules.overlaps(start, end, other_start, other_end) is shared
    assert (schedules.overlapping("SESSION_EXPIRE_SECONDS", "", start, end) is not None) is shared
