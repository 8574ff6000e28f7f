"""The site-facing form view: permissions, CSRF, limits by key and host, the write API."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import reverse

from request_settings.models import SettingOverride, SettingOverrideChange
from tests.utils import logged_in_client

pytestmark = pytest.mark.django_db

EDIT = "request_settings:edit"
TIMEOUT = "session-timeout"  # keys=["SESSION_EXPIRE_SECONDS"], host=None
TIMEOUT_ALL = "session-timeout-all"  # keys=["SESSION_EXPIRE_SECONDS"], host=""


def logged_in(django_user_model, *codenames, name="staffer"):
    return logged_in_client(django_user_model, codenames, name=name)  # no admin access needed


@pytest.fixture
def editor(django_user_model):
    return logged_in(django_user_model, "add_settingoverride", "change_settingoverride")


def table():
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


@pytest.mark.parametrize("name", [EDIT, TIMEOUT, TIMEOUT_ALL])
def test_anonymous_users_are_sent_to_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert client.post(reverse(name), {"key": "X_KEY", "value": "1"}).status_code == 302
    assert table() == []


@pytest.mark.parametrize(
    "codenames",
    [(), ("add_settingoverride",), ("change_settingoverride",), ("view_settingoverride",)],
)
def test_users_without_add_and_change_permissions_get_403(django_user_model, codenames):
    client = logged_in(django_user_model, *codenames)
    assert client.get(reverse(EDIT)).status_code == 403
    assert client.post(reverse(EDIT), {"key": "X_KEY", "value": "1"}).status_code == 403
    assert table() == []


def test_the_form_writes_through_the_write_api_with_the_user(editor):
    page = editor.get(reverse(EDIT))
    assert page.status_code == 200
    assert page.templates[0].name == "request_settings/setting_override_form.html"

    response = editor.post(
        reverse(EDIT),
        {"key": "SESSION_EXPIRE_SECONDS", "host": "a.example.com", "value": "300"},
        follow=True,
    )

    assert response.status_code == 200
    assert "SESSION_EXPIRE_SECONDS for a.example.com is now 300." in response.content.decode()
    assert table() == [("SESSION_EXPIRE_SECONDS", "a.example.com", 300)]
    row = SettingOverride.objects.get()
    assert row.updated_by == editor.user
    change = SettingOverrideChange.objects.get()
    assert (change.action, change.new_value, change.user) == ("created", 300, editor.user)


def test_the_override_applies_to_that_host_only(editor):
    editor.post(reverse(EDIT), {"key": "SESSION_EXPIRE_SECONDS", "host": "a.example.com", "value": "300"})

    echo = Client()
    assert echo.get(reverse("echo"), HTTP_HOST="a.example.com").json()["values"] == {"SESSION_EXPIRE_SECONDS": 300}
    assert echo.get(reverse("echo"), HTTP_HOST="b.example.com").json()["values"] == {"SESSION_EXPIRE_SECONDS": 3600}


def test_the_form_is_csrf_protected(django_user_model):
    strict = Client(enforce_csrf_checks=True)
    user = django_user_model.objects.create_user("strict")
    user.user_permissions.set(Permission.objects.filter(codename__in=["add_settingoverride", "change_settingoverride"]))
    strict.force_login(user)

    response = strict.post(reverse(EDIT), {"key": "X_KEY", "host": "", "value": "1"})

    assert response.status_code == 403
    assert table() == []
    page = strict.get(reverse(EDIT))
    token = page.context["csrf_token"]
    assert (
        strict.post(reverse(EDIT), {"key": "X_KEY", "host": "", "value": "1", "csrfmiddlewaretoken": token}).status_code
        == 302
    )
    assert table() == [("X_KEY", "", 1)]


def test_a_page_limited_to_one_key_refuses_others(editor):
    page = editor.get(reverse(TIMEOUT))
    text = page.content.decode()
    assert page.status_code == 200
    assert '<input type="hidden" name="key" value="SESSION_EXPIRE_SECONDS"' in text
    assert 'name="host"' in text  # host=None: the user picks the host

    response = editor.post(reverse(TIMEOUT), {"key": "OTHER_KEY", "host": "", "value": "1"})
    assert response.status_code == 200
    assert "key" in response.context["form"].errors
    assert table() == []


def test_a_page_fixed_to_all_hosts_ignores_a_posted_host(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)
    page = editor.get(reverse(TIMEOUT_ALL))
    assert 'name="host"' not in page.content.decode()
    assert page.context["form"].initial["value"] == "900"  # the current value, ready to edit

    response = editor.post(
        reverse(TIMEOUT_ALL),
        {"key": "SESSION_EXPIRE_SECONDS", "host": "evil.example.com", "value": "120"},
    )

    assert response.status_code == 302
    assert table() == [("SESSION_EXPIRE_SECONDS", "", 120)]


def test_reset_removes_the_override_and_is_audited(django_user_model):
    editor = logged_in(django_user_model, "add_settingoverride", "change_settingoverride", "delete_settingoverride")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)

    response = editor.post(
        reverse(TIMEOUT_ALL),
        {"key": "SESSION_EXPIRE_SECONDS", "value": "", "reset": "on"},
        follow=True,
    )

    assert "now uses the settings.py value" in response.content.decode()
    assert table() == []
    assert SettingOverrideChange.objects.first().action == "deleted"


def test_bad_value_shows_the_error_and_writes_nothing(editor):
    response = editor.post(reverse(TIMEOUT_ALL), {"key": "SESSION_EXPIRE_SECONDS", "value": "soon"})

    assert response.status_code == 200
    [message] = response.context["form"].errors["value"]
    assert "SESSION_EXPIRE_SECONDS" in message and "an integer" in message
    assert "SESSION_EXPIRE_SECONDS" in response.content.decode()
    assert table() == []


def test_current_overrides_are_listed_with_secrets_masked(editor):
    SettingOverride.objects.set("PARTNER_API_TOKEN", "s3cr3t-token", host="a.example.com")
    SettingOverride.objects.set("SITE_BANNER", "hello")

    text = editor.get(reverse(EDIT)).content.decode()

    assert "s3cr3t-token" not in text and "PARTNER_API_TOKEN" in text
    assert "(all hosts)" in text and "&quot;hello&quot;" in text


# -- rights, CSRF and secrets ----------------------------------------------------------------------------------------


def test_use_the_settings_py_value_needs_the_delete_permission(editor):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900)
    audits = SettingOverrideChange.objects.count()

    response = editor.post(reverse(TIMEOUT_ALL), {"key": "SESSION_EXPIRE_SECONDS", "value": "", "reset": "on"})

    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert error.startswith("You may not remove SESSION_EXPIRE_SECONDS for (all hosts)")
    assert table() == [("SESSION_EXPIRE_SECONDS", "", 900)]
    assert SettingOverrideChange.objects.count() == audits


@override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != "django.middleware.csrf.CsrfViewMiddleware"])
def test_the_view_protects_itself_without_the_csrf_middleware(django_user_model):
    strict = Client(enforce_csrf_checks=True)
    user = django_user_model.objects.create_user("strict")
    user.user_permissions.set(Permission.objects.filter(codename__in=["add_settingoverride", "change_settingoverride"]))
    strict.force_login(user)

    response = strict.post(reverse(EDIT), {"key": "X_KEY", "host": "", "value": "1"})

    assert response.status_code == 403
    assert table() == []
    token = strict.get(reverse(EDIT)).context["csrf_token"]
    data = {"key": "X_KEY", "host": "", "value": "1", "csrfmiddlewaretoken": token}
    assert strict.post(reverse(EDIT), data).status_code == 302
    assert table() == [("X_KEY", "", 1)]


def test_a_secret_is_write_only_in_the_site_form(editor):
    SettingOverride.objects.set("PARTNER_API_TOKEN", "s3cr3t-token")
    audits = SettingOverrideChange.objects.count()
    data = {"key": "PARTNER_API_TOKEN", "host": "", "value": ""}

    assert "s3cr3t-token" not in editor.get(reverse(EDIT)).content.decode()
    assert editor.post(reverse(EDIT), data).status_code == 302  # left empty: kept, nothing recorded
    assert table() == [("PARTNER_API_TOKEN", "", "s3cr3t-token")]
    assert SettingOverrideChange.objects.count() == audits
    assert editor.post(reverse(EDIT), {**data, "value": "other"}).status_code == 302
    assert table() == [("PARTNER_API_TOKEN", "", "other")]


@pytest.mark.parametrize(
    ("host", "stored"),
    [("A.EXAMPLE.COM", "a.example.com"), ("a.example.com:8000", "a.example.com"), ("a.example.com.", "a.example.com")],
)
def test_the_site_form_normalises_hosts_like_a_request(editor, host, stored):
    assert editor.post(reverse(EDIT), {"key": "X_KEY", "host": host, "value": "1"}).status_code == 302
    assert table() == [("X_KEY", stored, 1)]


def test_the_site_form_accepts_a_pattern(editor):
    assert editor.post(reverse(EDIT), {"key": "X_KEY", "host": "*.Example.com", "value": "1"}).status_code == 302
    assert table() == [("X_KEY", "*.example.com", 1)]
    assert "*.example.com" in editor.get(reverse(EDIT)).content.decode()


# -- the default template ---------------------------------------------------------------------------------------------


def test_the_default_page_is_complete_and_accessible(editor):
    response = editor.post(reverse(TIMEOUT), {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": "soon"})
    text = response.content.decode()

    assert text.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in text and '<meta name="viewport"' in text
    assert "<main" in text and "<h1>Change a setting</h1>" in text
    assert '<label for="id_value">' in text  # every input has its label
    assert 'aria-describedby="id_value_error' in text or 'aria-invalid="true"' in text
    assert "<style>" in text  # looks right without the project's own base template


def test_the_page_is_restyled_by_extending_its_blocks(editor):
    from django.template import engines

    template = engines["django"].from_string(
        '{% extends "request_settings/setting_override_form.html" %}'
        '{% block style %}<link rel="stylesheet" href="/site.css">{% endblock %}'
        "{% block content %}<p>Before.</p>{{ block.super }}{% endblock %}"
    )
    page = editor.get(reverse(EDIT))

    text = template.render({"form": page.context["form"], "title": page.context["title"]})

    assert '<link rel="stylesheet" href="/site.css">' in text and "<style>" not in text
    assert "<p>Before.</p>" in text and 'name="value"' in text
