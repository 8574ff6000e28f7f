"""The override admin through the real stack: add/change/delete, permissions, extra views."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.views.debug import SafeExceptionReporterFilter, get_default_exception_reporter_filter

from request_settings.models import SettingOverride, SettingOverrideChange
from tests.utils import logged_in_client

pytestmark = pytest.mark.django_db

ADD = "admin:request_settings_settingoverride_add"
CHANGELIST = "admin:request_settings_settingoverride_changelist"
EFFECTIVE = "admin:request_settings_settingoverride_effective"
AUDIT = "admin:request_settings_settingoverride_audit"


def staff_client(django_user_model, *actions: str, name: str = "editor") -> Client:
    codenames = [f"{action}_settingoverride" for action in actions]
    return logged_in_client(django_user_model, codenames, name=name, is_staff=True)


@pytest.fixture
def editor(django_user_model):
    return staff_client(django_user_model, "view", "add", "change", "delete")


def table():
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


def change_url(row):
    return reverse("admin:request_settings_settingoverride_change", args=[row.pk])


# -- add -------------------------------------------------------------------------------------------


def test_add_creates_a_typed_row_audited_and_logged(editor):
    response = editor.post(reverse(ADD), {"key": "SESSION_EXPIRE_SECONDS", "host": "A.Example.com", "value": "120"})

    assert response.status_code == 302
    row = SettingOverride.objects.get()
    assert (row.key, row.host, row.value, row.updated_by) == (
        "SESSION_EXPIRE_SECONDS",
        "a.example.com",
        120,
        editor.user,
    )
    change = SettingOverrideChange.objects.get()
    assert (change.action, change.old_value, change.new_value, change.user) == (
        "created",
        None,
        120,
        editor.user,
    )
    assert LogEntry.objects.get().action_flag == ADDITION


def test_add_on_an_existing_key_and_host_updates_that_row(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host="a.example.com")

    response = editor.post(
        reverse(ADD),
        {"key": "SESSION_EXPIRE_SECONDS", "host": "a.example.com", "value": "90"},
        follow=True,
    )

    assert response.status_code == 200
    assert table() == [("SESSION_EXPIRE_SECONDS", "a.example.com", 90)]
    text = response.content.decode()
    assert "already existed, so it was updated: 600 → 90" in text
    assert LogEntry.objects.get().action_flag == CHANGE
    latest = SettingOverrideChange.objects.first()
    assert (latest.action, latest.old_value, latest.new_value) == ("updated", 600, 90)


def test_add_on_an_existing_row_needs_the_change_permission(django_user_model):
    client = staff_client(django_user_model, "view", "add")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)

    response = client.post(reverse(ADD), {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": "90"})

    assert response.status_code == 200
    [error] = response.context["adminform"].form.non_field_errors()
    assert error.startswith("You may not change SESSION_EXPIRE_SECONDS for (all hosts)")
    assert table() == [("SESSION_EXPIRE_SECONDS", "", 600)]
    assert SettingOverrideChange.objects.count() == 1  # only the set() above


def test_add_form_offers_known_keys_but_accepts_a_new_one(editor):
    SettingOverride.objects.set("SITE_BANNER", "hello")

    page = editor.get(reverse(ADD)).content.decode()

    assert '<option value="SESSION_EXPIRE_SECONDS">' in page
    assert '<option value="SITE_BANNER">' in page
    assert '<option value="SECRET_KEY">' not in page  # refused keys are not offered
    response = editor.post(reverse(ADD), {"key": "BRAND_NEW_FLAG", "host": "", "value": '{"on": true}'})
    assert response.status_code == 302
    assert SettingOverride.objects.get(key="BRAND_NEW_FLAG").value == {"on": True}


def test_add_refused_key_shows_the_reason_and_writes_nothing(editor):
    response = editor.post(reverse(ADD), {"key": "SECRET_KEY", "host": "", "value": "x"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["key"] == ["SECRET_KEY cannot be overridden: security-critical."]
    assert table() == []
    assert SettingOverrideChange.objects.count() == 0


# -- change ----------------------------------------------------------------------------------------


def test_change_updates_the_value_and_keeps_key_and_host(editor):
    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host="a.example.com")

    page = editor.get(change_url(row))
    assert page.status_code == 200
    assert 'name="value"' in page.content.decode()
    assert 'name="key"' not in page.content.decode()  # read-only on the change form
    assert page.context["adminform"].form.initial["value"] == "600"

    response = editor.post(change_url(row), {"key": "OTHER_KEY", "host": "b.example.com", "value": "1200"})

    assert response.status_code == 302
    assert table() == [("SESSION_EXPIRE_SECONDS", "a.example.com", 1200)]
    latest = SettingOverrideChange.objects.first()
    assert (latest.action, latest.old_value, latest.new_value, latest.user) == (
        "updated",
        600,
        1200,
        editor.user,
    )
    assert LogEntry.objects.get().action_flag == CHANGE


def test_change_with_a_bad_value_writes_nothing(editor):
    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)

    response = editor.post(change_url(row), {"value": "ten minutes"})

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["value"]
    assert "SESSION_EXPIRE_SECONDS" in error and "ten minutes" in error and "an integer" in error
    assert table() == [("SESSION_EXPIRE_SECONDS", "", 600)]


# -- delete ----------------------------------------------------------------------------------------


def test_delete_goes_through_unset_and_is_audited(editor):
    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    url = reverse("admin:request_settings_settingoverride_delete", args=[row.pk])

    assert editor.get(url).status_code == 200
    response = editor.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert table() == []
    latest = SettingOverrideChange.objects.first()
    assert (latest.action, latest.old_value, latest.new_value, latest.user) == (
        "deleted",
        600,
        None,
        editor.user,
    )
    assert LogEntry.objects.get().action_flag == DELETION


def test_bulk_delete_action_is_audited_per_row(editor):
    rows = [SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host=h) for h in ("", "a.example.com")]
    SettingOverride.objects.set("KEEP_ME", 1)

    response = editor.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": [r.pk for r in rows], "post": "yes"},
    )

    assert response.status_code == 302
    assert table() == [("KEEP_ME", "", 1)]
    deleted = SettingOverrideChange.objects.filter(action="deleted")
    assert sorted(deleted.values_list("host", flat=True)) == ["", "a.example.com"]


# -- permissions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("view", [CHANGELIST, ADD, EFFECTIVE, AUDIT])
def test_staff_without_permissions_get_403(django_user_model, view):
    client = staff_client(django_user_model)
    assert client.get(reverse(view)).status_code == 403


@pytest.mark.parametrize("view", [CHANGELIST, ADD, EFFECTIVE, AUDIT])
def test_anonymous_users_are_sent_to_the_login_page(client, view):
    response = client.get(reverse(view))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_permissions_cannot_write(django_user_model):
    client = staff_client(django_user_model)
    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)

    assert client.post(reverse(ADD), {"key": "X_NEW", "host": "", "value": "1"}).status_code == 403
    assert client.post(change_url(row), {"value": "1200"}).status_code == 403
    url = reverse("admin:request_settings_settingoverride_delete", args=[row.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert table() == [("SESSION_EXPIRE_SECONDS", "", 600)]


def test_view_only_staff_see_masked_values_and_cannot_change(django_user_model):
    client = staff_client(django_user_model, "view")
    row = SettingOverride.objects.set("PARTNER_API_TOKEN", "s3cr3t-token")

    page = client.get(change_url(row))
    assert page.status_code == 200
    assert "s3cr3t-token" not in page.content.decode()
    assert client.post(change_url(row), {"value": "other"}).status_code == 403
    assert client.get(reverse(ADD)).status_code == 403
    assert table() == [("PARTNER_API_TOKEN", "", "s3cr3t-token")]


# -- changelist ------------------------------------------------------------------------------------


def test_changelist_shows_values_beside_settings_py_and_masks_secrets(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="a.example.com", user=editor.user)
    SettingOverride.objects.set("PARTNER_API_TOKEN", "s3cr3t-token")

    response = editor.get(reverse(CHANGELIST))

    assert response.status_code == 200
    text = response.content.decode()
    assert "(all hosts)" in text and "a.example.com" in text
    assert "s3cr3t-token" not in text and "********************" in text
    assert '<td class="field-base_display">3600</td>' in text  # settings.py value beside the override
    assert ">Value in settings.py<" in text  # the column header: Django capitalises it ("Settings.py value" before)
    assert '<td class="field-value_display">120</td>' in text
    assert reverse(EFFECTIVE) in text
    assert "editor" in text


def test_changelist_filters_by_host_and_key_and_searches(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="a.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 300)
    SettingOverride.objects.set("SITE_BANNER", "hi")

    def shown(**params):
        response = editor.get(reverse(CHANGELIST), params)
        assert response.status_code == 200
        return sorted((r.key, r.host) for r in response.context["cl"].result_list)

    assert shown(host="") == [("SESSION_EXPIRE_SECONDS", ""), ("SITE_BANNER", "")]
    assert shown(host="a.example.com") == [("SESSION_EXPIRE_SECONDS", "a.example.com")]
    assert shown(key="SITE_BANNER") == [("SITE_BANNER", "")]
    assert shown(q="banner") == [("SITE_BANNER", "")]
    assert len(shown()) == 3


# -- effective settings ----------------------------------------------------------------------------


def test_effective_settings_page_shows_where_each_value_comes_from(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 300)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="a.example.com")
    SettingOverride.objects.set("SITE_BANNER", "hello", host="b.example.com")
    SettingOverride.objects.set("PARTNER_API_TOKEN", "s3cr3t-token", host="a.example.com")

    def lines(host):
        response = editor.get(reverse(EFFECTIVE), {"host": host})
        assert response.status_code == 200
        assert "s3cr3t-token" not in response.content.decode()
        return {line["key"]: (line["base"], line["effective"], line["source"]) for line in response.context["lines"]}

    a = lines("a.example.com")
    assert a["SESSION_EXPIRE_SECONDS"] == ("3600", "120", "this host")
    assert a["SITE_BANNER"] == ("(not in settings.py)", "(not set)", "settings.py")
    assert a["PARTNER_API_TOKEN"][1] == "********************"
    b = lines("B.Example.com:8000")  # the one host rule: normalised like a request's host
    assert b["SESSION_EXPIRE_SECONDS"] == ("3600", "300", "all hosts")
    assert b["SITE_BANNER"] == ("(not in settings.py)", '"hello"', "this host")
    every = lines("")
    assert every["SESSION_EXPIRE_SECONDS"] == ("3600", "300", "all hosts")


def test_effective_page_for_all_hosts_has_one_column_per_idea(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 300)

    text = editor.get(reverse(EFFECTIVE)).content.decode()

    headers = text[text.index("<thead>") : text.index("</thead>")]
    assert "All hosts" not in headers and "(all hosts)" not in headers
    assert "What a request for (all hosts) gets" in text


def test_effective_page_follows_pattern_rows(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 300)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 240, host="*.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="a.example.com")

    def line(host):
        response = editor.get(reverse(EFFECTIVE), {"host": host})
        [found] = [item for item in response.context["lines"] if item["key"] == "SESSION_EXPIRE_SECONDS"]
        return found["effective"], found["source"]

    assert line("a.example.com") == ("120", "this host")
    assert line("b.example.com") == ("240", "pattern *.example.com")
    assert line("*.example.com") == ("240", "pattern *.example.com")
    assert line("example.com") == ("300", "all hosts")  # a pattern never covers its apex


@pytest.mark.parametrize("bad", ["http://a.example.com/", ".example.com", "a..b"])
def test_effective_page_refuses_a_host_no_request_can_have(editor, bad):
    response = editor.get(reverse(EFFECTIVE), {"host": bad})
    assert response.status_code == 400
    assert response.context["error"].startswith(f"{bad!r} is not a host: expected")
    assert response.context["lines"] == []


def test_effective_page_is_paginated(editor):
    for number in range(105):
        SettingOverride.objects.bulk_create([SettingOverride(key=f"FLAG_{number:03}", host="", value=number)])

    first = editor.get(reverse(EFFECTIVE))
    second = editor.get(reverse(EFFECTIVE), {"p": 2})

    assert len(first.context["lines"]) == 100
    assert [line["key"] for line in second.context["lines"]] == [f"FLAG_{number:03}" for number in range(100, 105)]
    assert "page 1 of 2" in first.content.decode()
    assert 'href="?host=%28all%20hosts%29&amp;p=2"' in first.content.decode()


def test_changelist_links_to_the_effective_page_and_each_rows_history(editor):
    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 300, host="a.example.com")
    text = editor.get(reverse(CHANGELIST)).content.decode()
    assert reverse(EFFECTIVE) in text
    history = reverse("admin:request_settings_settingoverride_history", args=[row.pk])
    assert f'<a href="{history}">history</a>' in text
    change_page = editor.get(change_url(row)).content.decode()
    assert history in change_page  # the admin's own History button
    assert "Audit trail" not in change_page  # one history, not two


INSERT = (
    f"INSERT INTO {SettingOverride._meta.db_table} (key, host, value, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s)"
)


def test_a_refused_key_inserted_by_raw_sql_is_not_applied_and_shows_as_ignored(editor, client):
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT,
            [
                "SECURE_HSTS_SECONDS",
                "",
                "5",
                "2026-01-01 00:00:00+00:00",
                "2026-01-01 00:00:00+00:00",
            ],
        )
        cursor.execute(
            INSERT,
            [
                "SESSION_EXPIRE_SECONDS",
                "",
                '"not a number"',
                "2026-01-01 00:00:00+00:00",
                "2026-01-01 00:00:00+00:00",
            ],
        )

    echo = client.get(reverse("echo"), {"keys": "SECURE_HSTS_SECONDS,SESSION_EXPIRE_SECONDS"}).json()
    assert echo["values"] == {"SECURE_HSTS_SECONDS": 0, "SESSION_EXPIRE_SECONDS": 3600}

    lines = {line["key"]: line for line in editor.get(reverse(EFFECTIVE)).context["lines"]}
    [ignored] = lines["SECURE_HSTS_SECONDS"]["ignored"]
    assert ignored.startswith("(all hosts): SECURE_HSTS_SECONDS cannot be overridden: read once at start-up")
    assert (lines["SECURE_HSTS_SECONDS"]["effective"], lines["SECURE_HSTS_SECONDS"]["source"]) == ("0", "settings.py")
    assert lines["SESSION_EXPIRE_SECONDS"]["source"] == "settings.py"
    assert lines["SESSION_EXPIRE_SECONDS"]["ignored"][0].startswith("(all hosts): ")


# -- history and revert ----------------------------------------------------------------------------


def test_history_page_lists_changes_and_revert_restores_an_earlier_value(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host="a.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900, host="a.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="b.example.com")  # another host's history
    first = SettingOverrideChange.objects.get(action="created", host="a.example.com")

    response = editor.get(reverse(AUDIT), {"key": "SESSION_EXPIRE_SECONDS", "host": "a.example.com"})
    assert response.status_code == 200
    assert [(c["change"].action, c["old"], c["new"]) for c in response.context["changes"]] == [
        ("updated", "600", "900"),
        ("created", "—", "600"),
    ]

    revert = reverse("admin:request_settings_settingoverride_revert", args=[first.pk])
    assert editor.get(revert).status_code == 405  # POST only
    response = editor.post(revert, follow=True)

    assert response.status_code == 200
    assert "was reverted to 600" in response.content.decode()
    assert SettingOverride.objects.get(host="a.example.com").value == 600
    latest = SettingOverrideChange.objects.filter(host="a.example.com").first()
    assert (
        latest.action,
        latest.old_value,
        latest.new_value,
        latest.reverted_from,
        latest.user,
    ) == (
        "reverted",
        900,
        600,
        first,
        editor.user,
    )
    assert [c["change"].action for c in response.context["changes"]] == [
        "reverted",
        "updated",
        "created",
    ]


def test_revert_needs_csrf_and_the_change_permission(django_user_model, editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)
    first = SettingOverrideChange.objects.get(action="created")
    revert = reverse("admin:request_settings_settingoverride_revert", args=[first.pk])

    viewer = staff_client(django_user_model, "view", name="viewer")
    assert viewer.post(revert).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(editor.user)
    assert strict.post(revert).status_code == 403
    assert SettingOverride.objects.get().value == 900
    assert SettingOverrideChange.objects.count() == 2


def test_a_deletion_cannot_be_reverted_and_a_now_invalid_value_is_refused(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 90)
    SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS")
    created, deleted = (SettingOverrideChange.objects.get(action=a) for a in ("created", "deleted"))
    count = SettingOverrideChange.objects.count()

    revert = reverse("admin:request_settings_settingoverride_revert", args=[deleted.pk])
    response = editor.post(revert, follow=True)
    assert "left no value to revert to" in response.content.decode()

    fields = {"SESSION_EXPIRE_SECONDS": {"field": "django.forms.IntegerField", "min_value": 120}}
    with override_settings(REQUEST_SETTINGS_FIELDS=fields):
        revert = reverse("admin:request_settings_settingoverride_revert", args=[created.pk])
        response = editor.post(revert, follow=True)
    assert response.status_code == 200
    assert "SESSION_EXPIRE_SECONDS" in response.content.decode()
    assert table() == []
    assert SettingOverrideChange.objects.count() == count


def test_history_masks_secret_values(editor):
    SettingOverride.objects.set("PARTNER_API_TOKEN", "first-secret")
    SettingOverride.objects.set("PARTNER_API_TOKEN", "second-secret")

    response = editor.get(reverse(AUDIT), {"key": "PARTNER_API_TOKEN", "host": ""})

    text = response.content.decode()
    assert "first-secret" not in text and "second-secret" not in text
    assert "Revert to this value" in text


@pytest.mark.parametrize(("button", "target"), [("_continue", "change"), ("_addanother", "add")])
def test_add_on_an_existing_row_honours_the_save_buttons(editor, button, target):
    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)

    response = editor.post(reverse(ADD), {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": "90", button: "1"})

    expected = change_url(row) if target == "change" else reverse(ADD)
    assert (response.status_code, response["Location"]) == (302, expected)
    assert table() == [("SESSION_EXPIRE_SECONDS", "", 90)]


# -- security review findings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"key": "MAPS_API_KEY", "host": "", "value__icontains": "s"},  # letter by letter
        {"key": "MAPS_API_KEY", "value": '"maps-secret"'},  # confirming a guess
        {"value__startswith": '"m'},
        {"value__has_key": "x"},
        {"updated_by__password__startswith": "md5"},
        {"updated_by__username": "editor"},
    ],
)
def test_a_changelist_url_cannot_filter_on_values_or_relations(django_user_model, params):
    SettingOverride.objects.set("MAPS_API_KEY", "maps-secret")
    viewer = staff_client(django_user_model, "view", name="viewer")

    response = viewer.get(reverse(CHANGELIST), params)

    assert response.status_code == 400  # DisallowedModelAdminLookup: no answer either way


def test_declared_filters_and_search_still_work_through_the_url(editor):
    SettingOverride.objects.set("MAPS_API_KEY", "maps-secret", host="a.example.com")
    for params in ({"key__exact": "MAPS_API_KEY"}, {"host": "a.example.com"}, {"q": "maps"}):
        response = editor.get(reverse(CHANGELIST), params)
        assert response.context["cl"].result_count == 1, params


def test_a_key_with_markup_inserted_behind_the_apps_back_is_escaped_in_help_text(editor):
    key = "<script>alert(1)</script>"
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [key, "", '"x"', "2026-01-01 00:00:00+00:00", "2026-01-01 00:00:00+00:00"])
    row = SettingOverride.objects.get()

    text = editor.get(change_url(row)).content.decode()

    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_secret_values_are_write_only_in_the_change_form(editor):
    row = SettingOverride.objects.set("PARTNER_API_TOKEN", "s3cr3t-token")
    audits = SettingOverrideChange.objects.count()

    page = editor.get(change_url(row))
    text = page.content.decode()
    assert "s3cr3t-token" not in text
    assert 'type="password"' in text and "leave this empty to keep it" in text
    assert "hidden_settings" in text  # says where "secret" comes from

    assert editor.post(change_url(row), {"value": ""}).status_code == 302  # left empty: kept
    assert table() == [("PARTNER_API_TOKEN", "", "s3cr3t-token")]
    assert SettingOverrideChange.objects.count() == audits  # and nothing recorded
    assert editor.post(change_url(row), {"value": "new-token"}).status_code == 302
    assert table() == [("PARTNER_API_TOKEN", "", "new-token")]


class ShopSecretsFilter(SafeExceptionReporterFilter):
    """A project's reporter filter that also hides SHOP_* settings (Django's pattern plus its own)."""

    hidden_settings = re.compile("API|TOKEN|KEY|SECRET|PASS|SIGNATURE|SHOP_", flags=re.I)


@pytest.fixture
def shop_filter(settings):
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = f"{__name__}.ShopSecretsFilter"
    get_default_exception_reporter_filter.cache_clear()  # Django caches the filter for the process
    yield
    get_default_exception_reporter_filter.cache_clear()


def test_which_keys_are_secret_follows_the_projects_reporter_filter(editor, shop_filter):
    row = SettingOverride.objects.set("SHOP_COUPON", "FREE-2026")

    assert "FREE-2026" not in editor.get(reverse(CHANGELIST)).content.decode()
    assert "FREE-2026" not in editor.get(change_url(row)).content.decode()
    assert "FREE-2026" not in editor.get(reverse(EFFECTIVE)).content.decode()


def test_the_host_filter_lists_a_few_hosts_and_finds_the_others_by_typing(editor):
    SettingOverride.objects.bulk_create(
        SettingOverride(key="SESSION_EXPIRE_SECONDS", host=f"t{number:04}.example.com", value=600)
        for number in range(500)
    )

    page = editor.get(reverse(CHANGELIST))
    text = page.content.decode()
    [host_filter, _key_filter] = page.context["cl"].filter_specs
    assert len(host_filter.lookup_choices) == 10
    assert "t0499.example.com" not in text  # neither listed nor in a datalist
    assert 'data-host-autocomplete="' + reverse("admin:request_settings_settingoverride_hosts") in text

    typed = editor.get(reverse(CHANGELIST), {"host": "T0499.Example.com:443"})  # the one host rule
    assert [row.host for row in typed.context["cl"].result_list] == ["t0499.example.com"]
    suggestions = editor.get(reverse("admin:request_settings_settingoverride_hosts"), {"term": "t04"}).json()
    assert suggestions["results"] == [f"t{number:04}.example.com" for number in range(400, 420)]


def test_the_host_filter_keeps_the_other_filters_and_refuses_a_bad_host(editor):
    SettingOverride.objects.set("SITE_BANNER", "hi", host="a.example.com")

    text = editor.get(reverse(CHANGELIST), {"key__exact": "SITE_BANNER"}).content.decode()
    assert '<input type="hidden" name="key__exact" value="SITE_BANNER">' in text
    response = editor.get(reverse(CHANGELIST), {"host": "http://a.example.com/"}, follow=True)
    assert response.context["cl"].result_count == 0
    assert "&#x27;http://a.example.com/&#x27; is not a host: expected" in response.content.decode()


def test_long_values_are_cut_in_lists_and_whole_in_the_change_form(editor):
    row = SettingOverride.objects.set("HUGE_TEXT", "x" * 60_000)

    for url in (reverse(CHANGELIST), reverse(EFFECTIVE)):
        page = editor.get(url).content.decode()
        assert "x" * 1000 not in page
        assert "&quot;" + "x" * 150 in page and "…" in page
    SettingOverride.objects.set("HUGE_TEXT", "y" * 60_000)
    history = editor.get(reverse("admin:request_settings_settingoverride_history", args=[row.pk])).content.decode()
    assert "x" * 1000 not in history and "y" * 1000 not in history
    assert "y" * 60_000 in editor.get(change_url(row)).content.decode()


# -- admin polish ------------------------------------------------------------------------------------------------------


def test_the_admins_history_is_the_audit_trail_also_for_rows_written_by_code(editor):
    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)  # by code: no LogEntry
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)

    response = editor.get(reverse("admin:request_settings_settingoverride_history", args=[row.pk]))

    assert response.templates[0].name == "admin/request_settings/audit.html"
    assert [(item["old"], item["new"]) for item in response.context["changes"]] == [("600", "900"), ("—", "600")]
    assert response.context["title"] == "History of SESSION_EXPIRE_SECONDS for (all hosts)"


def test_no_revert_is_offered_to_the_current_value_and_posting_one_records_nothing(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)

    response = editor.get(reverse(AUDIT), {"key": "SESSION_EXPIRE_SECONDS", "host": ""})
    offered = [(item["new"], item["revertible"]) for item in response.context["changes"]]
    assert offered == [("600", False), ("900", True), ("600", False)]

    count = SettingOverrideChange.objects.count()
    first = SettingOverrideChange.objects.get(action="created")
    reply = editor.post(reverse("admin:request_settings_settingoverride_revert", args=[first.pk]), follow=True)
    assert "already has that value: nothing changed." in reply.content.decode()
    assert SettingOverrideChange.objects.count() == count


@pytest.mark.parametrize(
    ("old", "same", "different"), [(6, "6", "6.5"), (True, "true", "1"), ([1, 2], "[1, 2]", "[2, 1]")]
)
def test_setting_the_same_value_again_records_nothing(editor, old, same, different):
    row = SettingOverride.objects.set("SOME_VALUE", old)
    count = SettingOverrideChange.objects.count()

    assert editor.post(change_url(row), {"value": same}).status_code == 302
    assert SettingOverrideChange.objects.count() == count
    assert editor.post(change_url(row), {"value": different}).status_code == 302
    assert SettingOverrideChange.objects.count() == count + 1  # JSON equality: 1 is not true, [2, 1] is not [1, 2]


def test_no_doubled_brackets_around_all_hosts(editor):
    row = SettingOverride.objects.set("BANNER_TEXT", "hi")
    response = editor.post(change_url(row), {"value": "hello"}, follow=True)
    text = response.content.decode()
    assert "BANNER_TEXT (all hosts)" in text
    assert "((all hosts))" not in text


def test_the_change_permission_alone_shows_every_row_and_every_hosts_effective_settings(django_user_model):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="a.example.com")
    changer = staff_client(django_user_model, "change", name="changer")

    assert changer.get(reverse(CHANGELIST)).context["cl"].result_count == 1
    for params in ({}, {"host": "a.example.com"}, {"host": "b.example.com"}):
        response = changer.get(reverse(EFFECTIVE), params)
        assert response.status_code == 200
        assert not any(line["hidden"] for line in response.context["lines"])


# -- a NUL character in a query string -------------------------------------------------------------------------------


def our_admin_urls():
    """Every URL of the app's admins (Django's views and ours), with a real row's id where one is needed."""
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "request_settings":
            continue
        for pattern in model_admin.get_urls():
            if pattern.name is None:
                continue  # Django's catch-all that redirects an old-style change URL
            ids = {"object_id": model._default_manager.first(), "change_id": SettingOverrideChange.objects.first()}
            kwargs = {name: ids[name].pk for name in pattern.pattern.regex.groupindex}
            yield reverse(f"admin:{pattern.name}", kwargs=kwargs)


def test_a_nul_in_any_query_parameter_of_our_admin_is_a_400_not_a_query(django_user_model, admin_client):
    """PostgreSQL refuses a NUL in any text, even in a WHERE clause: a ?key=A%00B filter was a 500 there."""
    from request_settings.models import SettingDraft, SettingGrant, SettingSchedule

    row = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60)
    SettingGrant.objects.create(user=django_user_model.objects.get(), hosts="*", keys="*")
    SettingDraft.objects.create(key="SESSION_EXPIRE_SECONDS", value=61, author=django_user_model.objects.get())
    SettingSchedule.objects.create(key="SESSION_EXPIRE_SECONDS", value=62, start=row.updated_at)
    urls = sorted(set(our_admin_urls()))
    assert len(urls) >= 20  # the changelists, forms, histories and our own views of four admins
    for url in urls:
        for query in ("key=A%00B", "q=A%00B", "host=a%00b", "term=a%00", "A%00B=1"):
            response = admin_client.get(f"{url}?{query}")
            assert response.status_code == 400, (url, query, response.status_code)
    assert admin_client.get(reverse(AUDIT), {"key": "SESSION_EXPIRE_SECONDS"}).status_code == 200


def test_a_value_with_characters_nobody_sees_is_shown_with_them_spelled_out(editor):
    """A value "Sale\u200b" (a zero-width space) must not look like "Sale" where staff compare values."""
    SettingOverride.objects.set("SITE_BANNER", "Sale\u200b \u202eevil\u00a0!", host="a.example.com")
    page = html.unescape(editor.get(reverse(CHANGELIST)).content.decode())
    assert '"Sale\\u200b \\u202eevil\\u00a0!"' in page
    assert "\u200b" not in page and "\u202e" not in page
