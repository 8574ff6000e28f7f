"""One row Python cannot decode (written behind the app's back) never takes down any reader of the table.

Python's JSON decoder refuses a number of over 4,300 digits and a list nested 990 deep, both valid JSON to the
database. Requests skip the row (tests/test_store.py); here every other path that reads rows.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from request_settings.models import SettingOverride, SettingOverrideChange, Undecodable

pytestmark = pytest.mark.django_db(transaction=True)  # the scanner tests below need none, and pay little

HUGE = "1" * 5000
DEEP = "[" * 990 + "]" * 990


@pytest.fixture(params=[HUGE, DEEP], ids=["digits", "depth"])
def bad_row(request):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    table = SettingOverride._meta.db_table
    placeholder = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, host, value, created_at, updated_at) VALUES (%s, %s, {placeholder}, %s, %s)",
            ["TENANT_BANNER", "a.example.com", request.param, "2026-01-01 00:00:00+00", "2026-01-01 00:00:00+00"],
        )
    return request.param


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("request_settings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_orm_reads_it_as_a_marker(bad_row):
    value = SettingOverride.objects.get(key="TENANT_BANNER").value
    assert isinstance(value, Undecodable)
    assert value.raw.replace(" ", "") == bad_row


def test_list_and_get_show_the_other_rows(bad_row):
    out, _err = run("list")
    assert "SESSION_EXPIRE_SECONDS" in out
    out, _err = run("get", "SESSION_EXPIRE_SECONDS", "--host", "a.example.com")
    assert "600" in out


def test_export_skips_it_and_says_so_and_the_file_round_trips(bad_row):
    out, err = run("export")
    assert json.loads(out) == [{"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 600}]
    assert "Skipped TENANT_BANNER (a.example.com): its stored value cannot be decoded (" in err


def test_unset_removes_it_and_the_audit_keeps_the_stored_text(bad_row):
    run("unset", "TENANT_BANNER", "--host", "a.example.com")
    assert not SettingOverride.objects.filter(key="TENANT_BANNER").exists()
    change = SettingOverrideChange.objects.get(key="TENANT_BANNER")
    assert isinstance(change.old_value, Undecodable)
    assert change.old_value.raw.replace(" ", "") == bad_row


def test_checks_and_migrate_run(bad_row):
    call_command("check", "--database", "default", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("migrate", verbosity=0)


def test_the_admin_lists_it_and_its_change_page_shows_the_stored_text(bad_row, admin_client):
    assert admin_client.get("/admin/request_settings/settingoverride/").status_code == 200
    row = SettingOverride.objects.get(key="TENANT_BANNER")
    page = admin_client.get(f"/admin/request_settings/settingoverride/{row.pk}/change/")
    assert page.status_code == 200
    assert admin_client.get("/admin/request_settings/settingoverride/effective/?host=a.example.com").status_code == 200
    assert (
        admin_client.post(f"/admin/request_settings/settingoverride/{row.pk}/delete/", {"post": "yes"}).status_code
        == 302
    )
    assert not SettingOverride.objects.filter(key="TENANT_BANNER").exists()


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[["', 0),
        ('[1, [2, {"a": [3]}]]', 4),
        ('["\\"[", [], {"]": {}}]', 3),
        ("[" * 300 + "]" * 300, 300),
    ],
)
def test_nesting_is_counted_without_recursion_and_brackets_in_strings_do_not_count(text, depth):
    from request_settings.jsonfield import nesting_depth

    assert nesting_depth(text) == depth


def test_a_value_just_under_the_reader_bound_is_read():
    from request_settings.jsonfield import READ_DEPTH_LIMIT, TolerantJSONField

    field = TolerantJSONField()
    shallow = "[" * READ_DEPTH_LIMIT + "]" * READ_DEPTH_LIMIT
    assert not isinstance(field.from_db_value(shallow, None, connection), Undecodable)
    deep = "[" + shallow + "]"
    assert isinstance(field.from_db_value(deep, None, connection), Undecodable)
