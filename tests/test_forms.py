"""Typed validation and the key policy on both editing forms, posted through the real stack."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from request_settings import policy
from request_settings.forms import SettingOverrideForm, value_text
from request_settings.models import SettingOverride, SettingOverrideChange

ADD = "admin:request_settings_settingoverride_add"
SESSION_FIELD = {
    "SESSION_EXPIRE_SECONDS": {
        "field": "django.forms.IntegerField",
        "min_value": 60,
        "max_value": 86400,
        "help_text": "whole seconds from 60 to 86400",
    }
}
TYPED = {"FEATURE_ON": True, "ITEMS_PER_PAGE": 20, "PARTNER_IDS": [1, 2], "BANNER_TEXT": "hi"}


def make_editor(django_user_model, name="editor"):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__endswith="_settingoverride"))
    return user


@pytest.fixture
def editor(django_user_model):
    client = Client()
    client.force_login(make_editor(django_user_model))
    return client


def table():
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


def post_admin(client, key, value, host=""):
    return client.post(reverse(ADD), {"key": key, "host": host, "value": value})


def post_site(client, key, value, host=""):
    return client.post(reverse("request_settings:edit"), {"key": key, "host": host, "value": value})


def errors(response):
    context = response.context
    form = context["adminform"].form if "adminform" in context else context["form"]
    return form.errors


@pytest.fixture(params=[post_admin, post_site], ids=["admin", "site"])
def post(request):
    return request.param


# -- good input is typed


@pytest.mark.django_db
@override_settings(REQUEST_SETTINGS_FIELDS=SESSION_FIELD, **TYPED)
@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("SESSION_EXPIRE_SECONDS", "120", 120),  # declared int with bounds
        ("FEATURE_ON", "false", False),  # inferred bool
        ("ITEMS_PER_PAGE", " 50 ", 50),  # inferred int
        ("PARTNER_IDS", "[3, 4]", [3, 4]),  # inferred list
        ("BANNER_TEXT", "42", "42"),  # inferred str: digits stay text
        ("NEW_JSON_KEY", '{"a": [1, null]}', {"a": [1, None]}),  # a new key: JSON
        ("NEW_TEXT_KEY", "hello world", "hello world"),  # a new key: plain text is a string
        ("SESSION_COOKIE_AGE", "600", 600),  # honored Django setting
    ],
)
def test_good_input_is_stored_typed(editor, post, key, text, value):
    response = post(editor, key, text, host="a.example.com")

    assert response.status_code == 302, errors(response)
    row = SettingOverride.objects.get()
    assert (row.key, row.host, row.value) == (key, "a.example.com", value)
    assert type(row.value) is type(value)


# -- bad input: the field error names the key and what is accepted; nothing is written


@pytest.mark.django_db
@override_settings(REQUEST_SETTINGS_FIELDS=SESSION_FIELD, **TYPED)
@pytest.mark.parametrize(
    ("key", "text", "accepted"),
    [
        ("SESSION_EXPIRE_SECONDS", "30", "whole seconds from 60 to 86400"),
        ("SESSION_EXPIRE_SECONDS", "90000", "whole seconds from 60 to 86400"),
        ("SESSION_EXPIRE_SECONDS", "two minutes", "whole seconds from 60 to 86400"),
        ("SESSION_EXPIRE_SECONDS", "", "whole seconds from 60 to 86400"),
        ("FEATURE_ON", "maybe", "true or false"),
        ("ITEMS_PER_PAGE", "1.5", "an integer"),
        ("PARTNER_IDS", "{not json", "a JSON list"),
        ("PARTNER_IDS", '{"a": 1}', "a JSON list"),
        ("NEW_JSON_KEY", "1e999", "a finite number"),
        ("SESSION_COOKIE_AGE", "0", "an integer from 60"),
        ("NEW_TEXT_KEY", "bad\x00text", "NEW_TEXT_KEY"),
    ],
)
def test_bad_input_names_the_key_and_what_is_accepted_and_writes_nothing(editor, post, key, text, accepted):
    SettingOverride.objects.set("UNRELATED_KEY", 1)
    before = table()

    response = post(editor, key, text)

    assert response.status_code == 200
    [message] = errors(response)["value"]
    assert key in message
    assert accepted in message
    assert table() == before
    assert SettingOverrideChange.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("host", "problem"),
    [("http://a.example.com/", "is not a host: expected"), ("a b", "is not a host: expected")],
)
def test_bad_host_is_refused(editor, post, host, problem):
    response = post(editor, "NEW_KEY", "1", host=host)
    assert response.status_code == 200
    assert problem in errors(response)["host"][0]
    assert table() == []


# -- refused keys: the reason in words


@pytest.mark.django_db
@override_settings(REQUEST_SETTINGS_DENIED=["LEGACY_FLAG"])
@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("SECURE_HSTS_SECONDS", policy.STARTUP),
        ("SESSION_ENGINE", policy.STARTUP),
        ("TIME_ZONE", policy.CACHED),
        ("LANGUAGES", policy.CACHED),
        ("SECRET_KEY", policy.SECURITY),
        ("DEBUG", policy.SECURITY),
        ("REQUEST_SETTINGS_CACHE_TTL", policy.OWN),
        ("LEGACY_FLAG", policy.DENIED_BY_PROJECT),
        ("EMAIL_HOST", policy.SENSITIVE),
        ("ABSOLUTE_URL_OVERRIDES", policy.UNTESTED),
        ("lower_case", policy.MALFORMED),
    ],
)
def test_every_refused_key_category_is_rejected_with_its_reason(editor, post, key, reason):
    response = post(editor, key, "1")

    assert response.status_code == 200
    assert errors(response)["key"] == [f"{key} cannot be overridden: {reason}."]
    assert table() == []


@pytest.mark.django_db
@override_settings(REQUEST_SETTINGS_ALLOWED=["ONLY_THIS"])
def test_keys_outside_the_allowed_list_are_refused(editor, post):
    response = post(editor, "OTHER_KEY", "1")
    assert errors(response)["key"] == [f"OTHER_KEY cannot be overridden: {policy.NOT_ALLOWED}."]
    assert post(editor, "ONLY_THIS", "1").status_code == 302
    assert table() == [("ONLY_THIS", "", 1)]


@pytest.mark.django_db
@override_settings(REQUEST_SETTINGS_ALLOWED=["EMAIL_HOST"])
def test_a_sensitive_key_is_allowed_once_named(editor, post):
    assert post(editor, "EMAIL_HOST", "smtp.example.com").status_code == 302
    assert table() == [("EMAIL_HOST", "", "smtp.example.com")]


# -- unit level: the site form itself


@pytest.mark.django_db
def test_site_form_limited_to_keys_and_host():
    form = SettingOverrideForm(
        {"key": "OTHER_KEY", "value": "5"}, keys=["SESSION_EXPIRE_SECONDS"], host="A.Example.com"
    )
    assert not form.is_valid()
    assert "key" in form.errors and "host" not in form.fields
    form = SettingOverrideForm(
        {"key": "SESSION_EXPIRE_SECONDS", "value": "600"},
        keys=["SESSION_EXPIRE_SECONDS"],
        host="A.Example.com",
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["host"] == "a.example.com"
    row = form.save()
    assert (row.key, row.host, row.value) == ("SESSION_EXPIRE_SECONDS", "a.example.com", 600)
    with pytest.raises(ValueError, match="has errors"):
        SettingOverrideForm({"key": "SECRET_KEY", "value": "x"}).save()


@pytest.mark.django_db
@override_settings(**TYPED)
@pytest.mark.parametrize(
    ("key", "value"),
    [("FEATURE_ON", True), ("ITEMS_PER_PAGE", 7), ("PARTNER_IDS", [1]), ("BANNER_TEXT", "42"),
     ("NEW_KEY", "42"), ("NEW_KEY", "plain"), ("NEW_KEY", {"a": 1})],
)  # fmt: skip
def test_value_text_parses_back_to_the_same_value(key, value):
    form = SettingOverrideForm({"key": key, "host": "", "value": value_text(key, value)})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["value"] == value
    assert type(form.cleaned_data["value"]) is type(value)


# -- property-based: arbitrary input is never a 500 and never a write on rejection

keys = st.one_of(
    st.sampled_from(["SESSION_EXPIRE_SECONDS", "SECRET_KEY", "TIME_ZONE", "FEATURE_ON", "NEW_KEY"]),
    st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True),
    st.text(max_size=300),
)
hosts = st.one_of(
    st.sampled_from(["", "a.example.com", "A.EXAMPLE.COM:8000", "b.example.com."]),
    st.text(max_size=300),
)
values = st.one_of(
    st.sampled_from(["120", "30", "true", "[1, 2]", '{"a": 1}', "", "NaN", "1e999", "null"]),
    st.text(max_size=200),
)


class PropertyTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        from django.contrib.auth import get_user_model

        cls.user = make_editor(get_user_model())

    def check(self, url, key, host, value):
        SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
        before = table()
        audits = SettingOverrideChange.objects.count()
        client = Client()
        client.force_login(self.user)
        response = client.post(url, {"key": key, "host": host, "value": value})
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 200:
            assert errors(response), "a rejection must show an error"
            assert table() == before
            assert SettingOverrideChange.objects.count() == audits
        else:
            expected = host.strip().lower().rstrip(".").split(":")[0]
            if not expected.isascii():
                expected = expected.encode("idna").decode()  # stored as browsers send it
            row = SettingOverride.objects.get(key=key, host=expected)
            assert SettingOverrideChange.objects.count() == audits + 1
            assert SettingOverrideChange.objects.first().new_value == row.value

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(key=keys, host=hosts, value=values)
    @override_settings(REQUEST_SETTINGS_FIELDS=SESSION_FIELD, FEATURE_ON=True)
    def test_admin_add_form(self, key, host, value):
        self.check(reverse(ADD), key, host, value)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(key=keys, host=hosts, value=values)
    @override_settings(REQUEST_SETTINGS_FIELDS=SESSION_FIELD, FEATURE_ON=True)
    def test_site_form(self, key, host, value):
        self.check(reverse("request_settings:edit"), key, host, value)
