"""Schedules on the read side: a process switches to a scheduled value, and back, on time, with no writer running."""

from __future__ import annotations

import datetime
import logging
import math
import threading
from unittest import mock

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from request_settings import timetable
from request_settings.models import SettingOverride, SettingSchedule
from request_settings.refresher import Refresher
from request_settings.store import SWITCH_RETRY, store
from tests.utils import HostAsyncClient, reads

pytestmark = pytest.mark.django_db(transaction=True)  # committed, as another process sees them

UTC = datetime.timezone.utc
NOON = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ONE = datetime.timedelta(hours=1)
SHOP = "shop.example.com"
BASE = 3600
"""SESSION_EXPIRE_SECONDS in tests/settings.py."""


def served(host=SHOP, key="SESSION_EXPIRE_SECONDS"):
    return Client().get("/echo/", {"keys": key}, HTTP_HOST=host).json()["values"][key]


def schedule(value, start, end=None, host=SHOP, key="SESSION_EXPIRE_SECONDS"):
    return SettingSchedule.objects.create(key=key, host=host, value=value, start=start, end=end)


@pytest.fixture
def clock():
    with time_machine.travel(NOON - ONE, tick=False) as traveller:
        yield traveller


def test_a_window_takes_the_place_of_the_plain_row_then_gives_it_back(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host=SHOP)
    schedule(60, NOON, NOON + ONE)
    assert served() == 600
    clock.move_to(NOON - datetime.timedelta(microseconds=1))
    assert served() == 600  # the boundary: not a microsecond early
    clock.move_to(NOON)
    assert served() == 60
    clock.move_to(NOON + ONE - datetime.timedelta(microseconds=1))
    assert served() == 60
    clock.move_to(NOON + ONE)
    assert served() == 600  # the end is not part of the window
    assert served("other.example.com") == BASE


def test_outside_every_window_settings_py_applies_when_there_is_no_plain_row(clock):
    schedule(60, NOON, NOON + ONE)
    schedule(300, NOON + 2 * ONE, None)  # open-ended
    expected = {NOON - ONE: BASE, NOON: 60, NOON + ONE: BASE, NOON + 2 * ONE: 300}
    seen = {}
    for moment in expected:
        clock.move_to(moment)
        seen[moment] = served()
    clock.move_to(NOON + 1000 * ONE)
    assert seen == expected and served() == 300


def test_precedence_between_hosts_is_kept_a_scheduled_all_hosts_value_does_not_beat_a_host_row(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host=SHOP)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)
    schedule(450, NOON, host="")
    clock.move_to(NOON)
    assert (served(), served("other.example.com")) == (600, 450)


def test_the_switch_needs_no_write_and_reads_only_what_switched(clock):
    schedule(60, NOON, NOON + ONE)
    assert served() == BASE
    assert store.switch_at == NOON.timestamp()
    clock.move_to(NOON)
    with CaptureQueriesContext(connection) as queries:
        assert served() == 60
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) <= 3, statements  # the version, the schedules not over, the plain rows that switched
    assert store.cached().scheduled == frozenset({("SESSION_EXPIRE_SECONDS", SHOP)})
    assert store.switch_at == (NOON + ONE).timestamp()
    with CaptureQueriesContext(connection) as queries:
        assert served() == 60
    assert queries.captured_queries == []  # between switches, requests read nothing


def test_a_first_read_inside_a_window_switches_back_at_its_end(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host=SHOP)
    schedule(60, NOON - 2 * ONE, NOON)
    store.reset()  # a process starting inside the window
    assert served() == 60
    clock.move_to(NOON)
    assert served() == 600


def test_each_switch_reads_only_the_pairs_that_switched_since_the_last_read(clock):
    schedule("ended", NOON - 3 * ONE, NOON - 2 * ONE, key="SITE_TITLE")  # over before the first read
    schedule("first", NOON, key="TENANT_BANNER")
    schedule(60, NOON + ONE)
    assert served() == BASE
    sql = []
    for moment in (NOON, NOON + ONE):
        clock.move_to(moment)
        with CaptureQueriesContext(connection) as queries:
            served()
        sql.append(" ".join(query["sql"] for query in queries.captured_queries))
    assert "TENANT_BANNER" in sql[0] and "SITE_TITLE" not in sql[0]
    assert "SESSION_EXPIRE_SECONDS" in sql[1] and "TENANT_BANNER" not in sql[1] and "SITE_TITLE" not in sql[1]
    assert served() == 60 and served(key="TENANT_BANNER") == "first"


def test_changes_from_another_process_and_a_switch_in_one_read_all_apply(clock):
    SettingOverride.objects.set("TENANT_BANNER", "old", host=SHOP)
    schedule(60, NOON)
    assert (served(), served(key="TENANT_BANNER")) == (BASE, "old")
    with mock.patch.object(store, "invalidate"):  # another process: its versions, but no invalidation here
        SettingOverride.objects.unset("TENANT_BANNER", host=SHOP)
        SettingOverride.objects.set("SITE_TITLE", "new", host=SHOP)
    clock.move_to(NOON)  # the switch makes this process read, and the version says what else changed
    banner_from_settings_py = served("other.example.com", key="TENANT_BANNER")
    assert (served(), served(key="TENANT_BANNER"), served(key="SITE_TITLE")) == (60, banner_from_settings_py, "new")


def test_the_first_read_takes_one_statement_with_schedules(clock):
    schedule(60, NOON - ONE, NOON)
    with CaptureQueriesContext(connection) as queries:
        assert served() == 60
    assert len(reads(queries)) == 1


def test_a_schedule_written_later_is_read_by_the_change_version(clock):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host=SHOP)
    assert served() == 600
    schedule(60, NOON - ONE, None)  # in effect from now: the write announces it like any row
    assert served() == 60
    SettingSchedule.objects.get().delete()
    assert served() == 600


def test_a_scheduled_value_the_policy_refuses_leaves_the_plain_row(clock, caplog):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host=SHOP)
    schedule("not a number", NOON)
    clock.move_to(NOON)
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        assert served() == 600
    assert "Skipped the override of SESSION_EXPIRE_SECONDS for host 'shop.example.com'" in caplog.text
    store.refresh(full=True)
    assert served() == 600 and store.cached().scheduled == frozenset()


def test_a_failed_read_at_the_switch_is_retried_a_second_later_not_on_every_request(clock, caplog):
    schedule(60, NOON)
    assert served() == BASE
    clock.move_to(NOON)
    with mock.patch("request_settings.changes.current", side_effect=OperationalError("down")) as current:
        assert served() == BASE
        assert served() == BASE
    assert current.call_count == 1
    assert store.switch_at == NOON.timestamp() + SWITCH_RETRY
    clock.move_to(NOON + datetime.timedelta(seconds=SWITCH_RETRY))
    assert served() == 60


def test_the_refresher_wakes_at_the_switch_not_at_its_next_poll(clock, settings):
    settings.REQUEST_SETTINGS_POLL_INTERVAL = 30
    schedule(60, NOON)
    clock.move_to(NOON - datetime.timedelta(seconds=2))
    refresher = Refresher(store)
    assert refresher.round() == pytest.approx(2, abs=0.01)
    clock.move_to(NOON)
    refresher.next_poll = 0  # its poll is due: the round reads what switched
    refresher.round()
    assert store.cached().layer(SHOP)[0] == {"SESSION_EXPIRE_SECONDS": 60}


async def test_an_async_request_switches_too(clock):
    await SettingSchedule.objects.acreate(key="SESSION_EXPIRE_SECONDS", host=SHOP, value=60, start=NOON)
    values = []
    for moment in (NOON - ONE, NOON):
        clock.move_to(moment)
        response = await HostAsyncClient().get(
            "/async-echo/", {"keys": "SESSION_EXPIRE_SECONDS"}, headers={"host": SHOP}
        )
        values.append(response.json()["values"]["SESSION_EXPIRE_SECONDS"])
    assert values == [BASE, 60]


async def test_event_loop_code_switches_at_the_moment_too(clock):
    await SettingSchedule.objects.acreate(key="SESSION_EXPIRE_SECONDS", host=SHOP, value=60, start=NOON)
    assert store.get_outside_event_loop().layer(SHOP)[0] == {}
    clock.move_to(NOON)  # exactly: the start is part of the window
    assert store.get_outside_event_loop().layer(SHOP)[0] == {"SESSION_EXPIRE_SECONDS": 60}


def test_threads_at_the_switch_all_get_the_new_value(clock):
    schedule(60, NOON)
    assert served() == BASE
    clock.move_to(NOON)
    results = []

    def request():
        try:
            results.append(store.get().layer(SHOP)[0].get("SESSION_EXPIRE_SECONDS"))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [60] * 4


def test_windows_in_pure_python():
    start, end = NOON.timestamp(), (NOON + ONE).timestamp()
    windows = [("K", "", 1, start, end), ("K", "a.test", 2, end, math.inf)]
    assert timetable.in_effect(windows, start - 1) == {}
    assert timetable.in_effect(windows, start) == {("K", ""): 1}
    assert timetable.in_effect(windows, end) == {("K", "a.test"): 2}
    assert timetable.next_switch(windows, start - 1) == start
    assert timetable.next_switch(windows, start) == end
    assert timetable.next_switch(windows, end) == math.inf
    assert timetable.switched(windows, start - 1, start) == {("K", "")}
    assert timetable.switched(windows, start, end) == {("K", ""), ("K", "a.test")}
    assert timetable.switched(windows, end, end + 10) == set()


def test_the_schedules_are_read_on_the_database_the_rows_are_read_on():
    """The store passes the alias of the rows it reads (a write transaction's own database, not the router's read
    replica): the schedules must come from there too."""
    assert timetable.not_over("elsewhere", 0.0).db == "elsewhere"


def test_after_the_last_window_ends_requests_read_nothing_more(clock):
    schedule(60, NOON, NOON + ONE)
    assert served() == BASE
    clock.move_to(NOON + ONE)
    assert served() == BASE
    assert store.switch_at == math.inf  # no switch ahead: not stale again until something changes
    with CaptureQueriesContext(connection) as queries:
        assert served() == BASE
    assert queries.captured_queries == []


@pytest.mark.parametrize("use_tz", [True, False])
def test_the_store_reads_with_or_without_use_tz(use_tz, clock, settings):
    """Without USE_TZ (Django's own test suite runs so), SQLite refuses aware datetimes in a query: every read of
    the store failed. Windows stored then are naive local times."""
    settings.USE_TZ = use_tz
    settings.TIME_ZONE = "Europe/Paris"
    start = NOON if use_tz else timezone.make_naive(NOON)
    SettingSchedule.objects.create(key="SESSION_EXPIRE_SECONDS", host=SHOP, value=60, start=start, end=None)
    SettingOverride.objects.set("TENANT_BANNER", "x", host=SHOP)
    store.reset()
    assert served() == BASE and served(key="TENANT_BANNER") == "x"
    assert store.switch_at == NOON.timestamp()  # the same moment, however it is stored
    clock.move_to(NOON)
    assert served() == 60


def test_scheduling_without_use_tz_is_refused_with_a_clear_error(settings):
    settings.USE_TZ = False
    with pytest.raises(ValidationError, match="USE_TZ = True"):
        SettingOverride.objects.schedule("SESSION_EXPIRE_SECONDS", 60, host=SHOP)
    assert not SettingSchedule.objects.exists()
