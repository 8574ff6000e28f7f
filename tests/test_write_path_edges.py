"""The plain override write paths at their edges: hostile keys, hosts, values and import files, secrets in refusals.

Every path (the write API, the admin, the site form, the JSON API, the command's ``set`` and ``import``) must accept
the same input, refuse it with a clear error, write nothing on refusal and never show a secret-looking key's value.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from request_settings.effective import row_problem
from request_settings.models import SettingOverride, SettingOverrideChange
from tests.urls import urlpatterns as site_urlpatterns
from tests.utils import NEEDS_API, api_operator, with_api

urlpatterns, HAS_API = with_api(site_urlpatterns)
needs_api = pytest.mark.skipif(not HAS_API, reason=NEEDS_API)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

SECRET = "PAYMENT_API_KEY"
SECRET_VALUE = "sk-live-0123456789"
BAD_SECRET = SECRET_VALUE + "\x00"  # refused on every path (jsonb cannot hold a NUL)


def table():
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


def command(*args):
    out, err = StringIO(), StringIO()
    call_command("request_settings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def import_file(tmp_path, text, *args):
    file = tmp_path / "overrides.json"
    file.write_text(text, encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("request_settings", "import", str(file), *args, stdout=StringIO(), stderr=err)
    return str(refused.value), err.getvalue()


@pytest.fixture
def operator(django_user_model):
    return api_operator(django_user_model)


# -- a secret-looking key's refused value is never echoed ------------------------------------------------------------


def test_the_write_api_refusal_does_not_echo_a_secret_value():
    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.set(SECRET, BAD_SECRET)

    message = " ".join(refused.value.messages)
    assert SECRET in message and "NUL" in message
    assert SECRET_VALUE not in message
    assert table() == []


def test_the_command_set_refusal_does_not_echo_a_secret_value():
    with pytest.raises(CommandError) as refused:
        command("set", SECRET, BAD_SECRET)

    assert SECRET in str(refused.value)
    assert SECRET_VALUE not in str(refused.value)
    assert table() == []


def test_the_import_refusal_does_not_echo_a_secret_value(tmp_path):
    message, stderr = import_file(tmp_path, json.dumps([{"key": SECRET, "host": "", "value": BAD_SECRET}]))

    assert SECRET in message and "NUL" in message
    assert SECRET_VALUE not in message and SECRET_VALUE not in stderr
    assert table() == []


def test_the_admin_change_form_refusal_does_not_echo_a_write_only_secret(admin_client):
    row = SettingOverride.objects.set(SECRET, "sk-old")

    response = admin_client.post(
        reverse("admin:request_settings_settingoverride_change", args=[row.pk]), {"value": BAD_SECRET}
    )

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["value"]
    assert SECRET in error
    assert SECRET_VALUE not in response.content.decode()
    assert table() == [(SECRET, "", "sk-old")]


@needs_api
def test_the_api_refusal_does_not_echo_a_secret_value(operator):
    url = reverse("request_settings_api:override-detail", args=[SECRET])

    response = operator.put(url, {"value": BAD_SECRET}, format="json")

    assert response.status_code == 400
    assert SECRET in response.json()["value"][0]
    assert SECRET_VALUE not in response.content.decode()
    assert table() == []
    assert not SettingOverrideChange.objects.exists()


# -- JSON that Python's reader refuses is an error, not a crash --------------------------------------------------------

HUGE_INT = "[" + "1" * 5000 + "]"  # json.loads raises ValueError past 4,300 digits, not JSONDecodeError
DEEP = "[" * 100_000  # RecursionError in json.loads


@pytest.fixture
def list_key(settings):
    settings.MY_LIST = [1, 2]  # a list in settings.py: the value is typed as a JSON list
    return "MY_LIST"


@pytest.mark.parametrize("text", [HUGE_INT, DEEP], ids=["huge-int", "deep"])
def test_the_command_set_refuses_json_python_cannot_read(list_key, text):
    with pytest.raises(CommandError) as refused:
        command("set", list_key, text)

    assert list_key in str(refused.value)
    assert table() == []


@pytest.mark.parametrize("text", [HUGE_INT, DEEP], ids=["huge-int", "deep"])
def test_the_site_form_refuses_json_python_cannot_read(admin_client, list_key, text):
    response = admin_client.post(reverse("request_settings:edit"), {"key": list_key, "host": "", "value": text})

    assert response.status_code == 200
    [error] = response.context["form"].errors["value"]
    assert list_key in error
    assert table() == []


@pytest.mark.parametrize(
    "text",
    ['[{"key": "MY_KEY", "host": "", "value": ' + "1" * 5000 + "}]", "[" * 100_000],
    ids=["huge-int", "deep"],
)
def test_import_refuses_json_python_cannot_read_in_one_line(tmp_path, text):
    message, _stderr = import_file(tmp_path, text)

    assert "overrides.json" in message and "\n" not in message
    assert table() == []


# -- a key or host longer than its column is refused on every path -----------------------------------------------------

LONG_KEY = "A" * 256  # the key column holds 255 characters
LONG_HOST = "a" * 250 + ".com"  # 254 characters: a DNS name has at most 253


def test_the_write_api_refuses_a_key_longer_than_its_column():
    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.set(LONG_KEY, 1)

    assert "255" in " ".join(refused.value.messages)
    assert table() == []


def test_the_write_api_refuses_a_host_longer_than_a_dns_name():
    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.set("MY_KEY", 1, host=LONG_HOST)

    assert "is not a host" in " ".join(refused.value.messages)
    with pytest.raises(ValidationError):
        SettingOverride.objects.set("MY_KEY", 1, host="*." + LONG_HOST)
    assert table() == []


def test_the_command_refuses_a_long_key_and_a_long_host(tmp_path):
    with pytest.raises(CommandError):
        command("set", LONG_KEY, "1")
    with pytest.raises(CommandError):
        command("set", "MY_KEY", "1", "--host", LONG_HOST)
    message, _stderr = import_file(tmp_path, json.dumps([{"key": LONG_KEY, "host": "", "value": 1}]))
    assert "255" in message
    message, _stderr = import_file(tmp_path, json.dumps([{"key": "MY_KEY", "host": LONG_HOST, "value": 1}]))
    assert "is not a host" in message
    assert table() == []


def test_the_site_form_refuses_a_long_host_as_not_a_host(admin_client):
    response = admin_client.post(reverse("request_settings:edit"), {"key": "MY_KEY", "host": LONG_HOST, "value": "1"})

    assert response.status_code == 200
    assert "is not a host" in " ".join(response.context["form"].errors["host"])
    assert table() == []


@needs_api
def test_the_api_refuses_a_long_key_and_a_long_host(operator):
    response = operator.put(reverse("request_settings_api:override-detail", args=[LONG_KEY]), {"value": 1}, "json")
    assert response.status_code == 400
    assert "255" in response.json()["key"][0]

    url = reverse("request_settings_api:override-detail", args=["MY_KEY"]) + "?host=" + LONG_HOST
    response = operator.put(url, {"value": 1}, format="json")
    assert response.status_code == 400
    assert table() == []


# -- a declared field judges a value as the text staff would type for it, on every path --------------------------------


@pytest.mark.parametrize(
    ("declaration", "text", "value"),
    [
        ({"field": "django.forms.JSONField"}, '"abc"', "abc"),
        ({"help_text": "A version label, or any JSON."}, '"1.5"', "1.5"),  # the default: JSONOrTextField
    ],
    ids=["json-field", "json-or-text"],
)
def test_a_string_for_a_declared_key_is_saved_and_applied_everywhere(admin_client, settings, declaration, text, value):
    settings.REQUEST_SETTINGS_FIELDS = {"MY_LABEL": declaration}

    response = admin_client.post(reverse("request_settings:edit"), {"key": "MY_LABEL", "host": "", "value": text})

    assert response.status_code == 302
    row = SettingOverride.objects.get(key="MY_LABEL")
    assert row.value == value
    assert row_problem(row.key, row.value, row.host) is None  # requests apply it, not skip it
    SettingOverride.objects.unset("MY_LABEL")
    SettingOverride.objects.set("MY_LABEL", value)  # the write API (the JSON API, import) agrees
    command("set", "MY_LABEL", text, "--host", "shop.example.com")
    assert table() == [("MY_LABEL", "", value), ("MY_LABEL", "shop.example.com", value)]


def test_a_declared_field_still_refuses_a_value_of_another_type(settings):
    settings.REQUEST_SETTINGS_FIELDS = {"MY_COUNT": {"field": "django.forms.IntegerField", "min_value": 3}}

    for value in ["42", 2, True, [4]]:
        with pytest.raises(ValidationError):
            SettingOverride.objects.set("MY_COUNT", value)
    SettingOverride.objects.set("MY_COUNT", 42)
    assert table() == [("MY_COUNT", "", 42)]


# -- a NUL character gets the write API's reason on every path ---------------------------------------------------------


@pytest.mark.parametrize("key", ["MY_NEW_SETTING", "MY_TEXT"], ids=["unchecked", "typed-str"])
def test_a_nul_character_is_refused_with_one_reason_everywhere(admin_client, settings, key):
    settings.MY_TEXT = "plain"
    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.set(key, "a\x00b")
    [reason] = refused.value.messages
    assert "without NUL characters" in reason

    with pytest.raises(CommandError) as refused_by_command:
        command("set", key, "a\x00b")
    response = admin_client.post(reverse("request_settings:edit"), {"key": key, "host": "", "value": "a\x00b"})

    assert str(refused_by_command.value) == reason
    assert response.context["form"].errors["value"] == [reason]
    assert table() == []


def test_unset_of_a_key_with_a_nul_removes_nothing_and_queries_nothing(django_assert_num_queries):
    """No row can hold it (PostgreSQL refuses a NUL in any text, even in a WHERE clause: this was a DataError)."""
    SettingOverride.objects.set("MY_TEXT", "kept")
    with django_assert_num_queries(0):
        assert SettingOverride.objects.unset("MY_TEXT\x00") is False
    assert table() == [("MY_TEXT", "", "kept")]


# -- a lone UTF-16 surrogate (JSON can spell one, no text encoding holds it) is refused on every path ------------------

SURROGATE = "strings and object keys without lone UTF-16 surrogates (\\ud800 to \\udfff)"


@pytest.mark.parametrize("value", ["\ud800", ["ok", {"x": "\udfff"}]], ids=["string", "nested"])
def test_a_lone_surrogate_is_refused_with_one_reason_on_every_write_path(tmp_path, django_user_model, value):
    import datetime as dt

    from request_settings import preview

    start = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)
    spelled = json.dumps(value)  # JSON as a file or a command line would spell it: "\ud800"
    for write in (
        lambda: SettingOverride.objects.set("MY_TEXT", value),
        lambda: SettingOverride.objects.schedule("MY_TEXT", value, start=start),
        lambda: preview.save_draft(django_user_model.objects.create(username="ed", is_staff=True), "MY_TEXT", value),
    ):
        with pytest.raises(ValidationError) as refused:
            write()
        assert SURROGATE in " ".join(refused.value.messages)
    with pytest.raises(CommandError, match=r"\\ud800 to \\udfff"):
        command("set", "MY_TEXT", spelled)
    message, _err = import_file(tmp_path, json.dumps([{"key": "MY_TEXT", "value": value}]))
    assert SURROGATE in message
    assert table() == []
