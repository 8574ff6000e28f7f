"""The one resolver of effective values: precedence, skipped rows, the kill switch, declared keys."""

from __future__ import annotations

import pytest
from django.test import override_settings

from request_settings import activate
from request_settings.effective import MISSING, Source, keys_in_view, resolve, scopes
from request_settings.models import SettingOverride

pytestmark = pytest.mark.django_db


def by_key(host, keys=None):
    return {line.key: line for line in resolve(host, keys)}


def test_scopes_walk_from_the_host_through_its_patterns_to_all_hosts():
    assert scopes("a.b.example.com") == ["a.b.example.com", "*.b.example.com", "*.example.com", "*.com", ""]
    assert scopes("localhost") == ["localhost", ""]
    assert scopes("") == [""]


def test_precedence_host_then_longest_pattern_then_all_hosts_then_settings_py():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 300, host="*.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 200, host="*.eu.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 100, host="shop.eu.example.com")

    def winner(host):
        line = by_key(host)["SESSION_EXPIRE_SECONDS"]
        return line.value, line.source, line.source_host

    assert winner("shop.eu.example.com") == (100, Source.HOST, "shop.eu.example.com")
    assert winner("blog.eu.example.com") == (200, Source.PATTERN, "*.eu.example.com")
    assert winner("blog.example.com") == (300, Source.PATTERN, "*.example.com")
    assert winner("example.com") == (600, Source.ALL_HOSTS, "")
    assert winner("") == (600, Source.ALL_HOSTS, "")
    SettingOverride.objects.filter(host="").delete()
    assert winner("other.org") == (3600, Source.SETTINGS, None)


def test_the_resolver_agrees_with_what_a_request_gets():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="shop.example.com")
    SettingOverride.objects.set("BANNER_TEXT", "Sale", host="shop.example.com")

    for host in ("shop.example.com", "blog.example.com", ""):
        with activate(host) as layer:
            for line in resolve(host):
                assert layer.get(line.key, line.base) == line.value, (host, line)


def test_rows_the_snapshot_skips_are_named_with_the_reason():
    SettingOverride.objects.set("SESSION_COOKIE_AGE", 600)
    SettingOverride.objects.create(key="SESSION_COOKIE_AGE", host="shop.example.com", value=-1)
    SettingOverride.objects.create(key="SECRET_KEY", value="x")

    lines = by_key("shop.example.com")

    age = lines["SESSION_COOKIE_AGE"]
    assert (age.value, age.source) == (600, Source.ALL_HOSTS)
    assert age.ignored[0][0] == "shop.example.com"
    assert "-1 is not valid for SESSION_COOKIE_AGE" in age.ignored[0][1]
    secret = lines["SECRET_KEY"]
    assert secret.source is Source.SETTINGS
    assert "SECRET_KEY cannot be overridden" in secret.ignored[0][1]


def test_with_the_kill_switch_off_everything_comes_from_settings_py():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)

    with override_settings(REQUEST_SETTINGS_ENABLED=False):
        line = by_key("")["SESSION_EXPIRE_SECONDS"]

    assert (line.value, line.source) == (3600, Source.SETTINGS)
    assert line.ignored == (("", "REQUEST_SETTINGS_ENABLED is False"),)


def test_keys_without_rows_or_settings_are_unset():
    line = by_key("", ["NOWHERE"])["NOWHERE"]

    assert line.value is MISSING and not line.is_set
    assert line.base is MISSING


def test_a_tuple_in_settings_py_stays_a_tuple():
    with override_settings(TUPLE_SETTING=("a",)):
        SettingOverride.objects.set("TUPLE_SETTING", ["b", "c"])
        line = by_key("")["TUPLE_SETTING"]

    assert line.value == ("b", "c")


def test_keys_in_view_are_stored_and_declared_keys():
    SettingOverride.objects.set("BANNER_TEXT", "x", host="a.example.com")

    with override_settings(REQUEST_SETTINGS_FIELDS={"DECLARED": {"field": "django.forms.IntegerField"}}):
        assert keys_in_view() == ["BANNER_TEXT", "DECLARED"]
    assert resolve("", []) == []


def test_source_labels_read_as_words():
    assert [source.label for source in Source] == ["host row", "pattern row", "all-hosts row", "settings.py"]


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        (
            "Shop.Example.com",
            "'Shop.Example.com' is not a host a request can have; it would be stored as 'shop.example.com'",
        ),
        ("shop\x1b[2J.example.com", "'shop\\x1b[2J.example.com' is not a host a request can have"),
        ("(all hosts)", "'(all hosts)' is not a host a request can have; it would be stored as ''"),
    ],
)
def test_a_row_written_behind_the_apps_back_with_a_host_no_request_has_is_said_to_be_ignored(host, problem):
    from io import StringIO

    from django.core.management import call_command

    from request_settings.effective import row_problem

    SettingOverride.objects.bulk_create([SettingOverride(key="SESSION_EXPIRE_SECONDS", host=host, value=600)])
    assert row_problem("SESSION_EXPIRE_SECONDS", 600, host) == problem
    out = StringIO()
    call_command("request_settings", "list", stdout=out)
    assert "SESSION_EXPIRE_SECONDS = 600  (ignored: " in out.getvalue()
    assert row_problem("SESSION_EXPIRE_SECONDS", 600, "*.example.com") is None
