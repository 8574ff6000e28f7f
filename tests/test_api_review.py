"""The JSON API against hostile and careless clients: what the other API tests leave out.

OPTIONS on a detail URL, a NUL character in a key (PostgreSQL refuses it in any query), a lone UTF-16 surrogate in a
value, a stored value Python cannot decode, and a schedule body with a misspelt or mistyped field. Each is answered
with a clear 4xx (never a 500), and nothing is written.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from request_settings.models import SettingOverride, SettingOverrideChange, SettingSchedule
from tests.utils import NEEDS_API, api_operator, with_api

urlpatterns, HAS_API = with_api([])

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__), pytest.mark.skipif(not HAS_API, reason=NEEDS_API)]

LIST = "request_settings_api:override-list"
CHANGES = "request_settings_api:change-list"
SCHEDULES = "request_settings_api:schedule-list"
MALFORMED = "not an upper-case identifier (A-Z, 0-9 and _, starting with a letter)"


@pytest.fixture
def operator(django_user_model):
    client = api_operator(django_user_model)
    client.raise_request_exception = False  # a 500 is an answer to assert on, not an exception in the test
    return client


@pytest.fixture
def nobody(django_user_model):
    """A signed-in staff user without any right over overrides."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.raise_request_exception = False
    client.force_authenticate(django_user_model.objects.create_user("nobody", password="pw", is_staff=True))
    return client


def override_url(key, host=None):
    url = reverse("request_settings_api:override-detail", args=[key])
    return url if host is None else f"{url}?host={host}"


def draft_url(key):
    return reverse("request_settings_api:draft-detail", args=[key])


def table():
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


# -- OPTIONS -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fields"),
    [(override_url, ["value"]), (draft_url, ["remove", "value"])],
    ids=["override", "draft"],
)
def test_options_on_a_detail_url_describes_the_body_it_takes(operator, url, fields):
    response = operator.options(url("SESSION_EXPIRE_SECONDS"))

    assert response.status_code == 200, response.content
    assert sorted(response.json()["actions"]["PUT"]) == fields


def test_options_never_tells_whether_a_row_exists(nobody):
    SettingOverride.objects.set("BANNER_TEXT", "hello", host="a.example.com")

    existing = nobody.options(override_url("BANNER_TEXT", "a.example.com"))
    absent = nobody.options(override_url("BANNER_TEXT", "b.example.com"))

    assert (existing.status_code, absent.status_code) == (200, 200)
    assert existing.json() == absent.json()
    assert "hello" not in existing.content.decode()


# -- a NUL character in a key (PostgreSQL refuses it in a query: no row can hold one) ---------------------------------


def test_a_nul_in_the_key_of_a_write_is_a_400_naming_the_key(operator):
    override = operator.put(override_url("A\x00B"), {"value": 1}, format="json")
    draft = operator.put(draft_url("A\x00B"), {"value": 1}, format="json")
    removal = operator.put(draft_url("A\x00B"), {"remove": True}, format="json")

    for response in (override, draft, removal):
        assert response.status_code == 400, response.content
        assert response.json() == {"key": [f"A\x00B cannot be overridden: {MALFORMED}."]}
    assert table() == []


def test_a_nul_in_the_key_of_a_read_or_delete_finds_nothing(operator):
    SettingOverride.objects.set("AB", 1)

    assert operator.get(override_url("A\x00B")).status_code == 404
    assert operator.delete(override_url("A\x00B")).status_code == 404
    assert operator.delete(draft_url("A\x00B")).status_code == 404
    for name in (LIST, CHANGES, SCHEDULES):
        response = operator.get(reverse(name), {"key": "A\x00B"})
        assert (response.status_code, response.json()["count"]) == (200, 0), name
    assert table() == [("AB", "", 1)]


# -- a lone surrogate: valid JSON syntax, but no character (no text encoding, nor jsonb, can hold it) ------------------

LONE_SURROGATE = (
    "is not a valid value for SITE_BANNER: expected strings and object keys without lone UTF-16 surrogates "
    "(\\ud800 to \\udfff)."
)


@pytest.mark.parametrize(
    "value", ['"\\ud800"', '{"\\udfff": 1}', '["ok", "a\\udc00b"]'], ids=["text", "name", "nested"]
)
def test_a_lone_surrogate_in_a_value_is_a_400_on_every_write(operator, value):
    override = operator.put(override_url("SITE_BANNER"), f'{{"value": {value}}}', content_type="application/json")
    draft = operator.put(draft_url("SITE_BANNER"), f'{{"value": {value}}}', content_type="application/json")
    schedule = operator.post(
        reverse(SCHEDULES), f'{{"key": "SITE_BANNER", "value": {value}}}', content_type="application/json"
    )

    for response in (override, draft, schedule):
        assert response.status_code == 400, response.content
        [[field, [message]]] = response.json().items()
        assert field == "value" and message.endswith(LONE_SURROGATE), response.json()  # the write API's reason
    assert table() == []
    assert not SettingSchedule.objects.exists()


def test_a_surrogate_pair_is_one_character_and_is_accepted(operator):
    response = operator.put(override_url("SITE_BANNER"), '{"value": "\\ud83d\\ude00"}', content_type="application/json")

    assert response.status_code == 201
    assert table() == [("SITE_BANNER", "", "\U0001f600")]


# -- a stored value Python cannot decode (written behind the app's back) -----------------------------------------------

UNDECODABLE = "is not valid for TENANT_BANNER, expected a JSON value (string, number, true/false, null, list or object)"


@pytest.fixture(params=["1" * 5000, "[" * 990 + "]" * 990], ids=["digits", "depth"])
def bad_row(request):
    table_name = SettingOverride._meta.db_table
    placeholder = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table_name} (key, host, value, created_at, updated_at) "
            f"VALUES (%s, %s, {placeholder}, %s, %s)",
            ["TENANT_BANNER", "a.example.com", request.param, "2026-01-01 00:00:00+00", "2026-01-01 00:00:00+00"],
        )


def test_a_row_python_cannot_decode_is_listed_read_and_deleted_with_its_problem(operator, bad_row):
    SettingOverride.objects.set("SITE_BANNER", "hello")

    listed = operator.get(reverse(LIST))
    one = operator.get(override_url("TENANT_BANNER", "a.example.com"))
    deleted = operator.delete(override_url("TENANT_BANNER", "a.example.com"))
    changes = operator.get(reverse(CHANGES))

    assert (listed.status_code, one.status_code, deleted.status_code, changes.status_code) == (200, 200, 204, 200)
    rows = {row["key"]: row for row in listed.json()["results"]}
    assert (rows["SITE_BANNER"]["value"], rows["SITE_BANNER"]["problem"]) == ("hello", None)
    assert rows["TENANT_BANNER"]["value"] is None
    assert rows["TENANT_BANNER"]["problem"].endswith(UNDECODABLE)
    assert one.json()["value"] is None
    assert one.json()["problem"].endswith(UNDECODABLE)
    deletion = changes.json()["results"][0]
    assert (deletion["key"], deletion["action"], deletion["old_value"]) == ("TENANT_BANNER", "deleted", None)
    assert SettingOverrideChange.objects.get(key="TENANT_BANNER").old_value.raw  # the stored text kept in the audit
    assert table() == [("SITE_BANNER", "", "hello")]


# -- a schedule body -----------------------------------------------------------------------------------------------


def test_a_misspelt_field_of_a_schedule_is_refused_not_ignored(operator):
    # Ignored, "strat" would schedule the value from now on, until changed.
    body = {"key": "SESSION_EXPIRE_SECONDS", "value": 600, "strat": "2030-01-01T00:00:00Z", "id": 7}

    response = operator.post(reverse(SCHEDULES), body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "strat": [
            'Unknown field \'strat\': the body is {"key", "host", "value", "start", "end"} (host, start and '
            "end may be left out)."
        ]
    }
    assert not SettingSchedule.objects.exists()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"key": "SESSION_EXPIRE_SECONDS\n", "value": 600},
            {"key": [f"SESSION_EXPIRE_SECONDS\n cannot be overridden: {MALFORMED}."]},
        ),
        (
            {"key": "SESSION_EXPIRE_SECONDS\u2028", "value": 600},
            {"key": [f"SESSION_EXPIRE_SECONDS\u2028 cannot be overridden: {MALFORMED}."]},
        ),
        (
            {"key": "SESSION_EXPIRE_SECONDS", "host": "shop.example.com\t", "value": 600},
            {
                "host": [
                    "'shop.example.com\\t' is not a host: expected a host name such as 'shop.example.com' (case, a "
                    "port and a trailing dot are ignored), a pattern such as '*.example.com' for every subdomain of "
                    "example.com, or '' for all hosts."
                ]
            },
        ),
        ({"key": "SESSION_EXPIRE_SECONDS", "host": 5, "value": 600}, {"host": ["Not a valid string."]}),
        ({"key": 123, "value": 600}, {"key": ["Not a valid string."]}),
    ],
    ids=["newline", "line-separator", "tab", "int-host", "int-key"],
)
def test_a_schedule_key_or_host_is_judged_as_sent_like_a_put(operator, body, errors):
    """The write API refuses these; so does a PUT's URL and ``?host=``: trimming or converting them would hide it."""
    response = operator.post(reverse(SCHEDULES), body, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not SettingSchedule.objects.exists()


def test_surrounding_spaces_of_a_schedule_host_are_still_ignored_as_everywhere(operator):
    body = {"key": "SESSION_EXPIRE_SECONDS", "host": " Shop.Example.com ", "value": 600}

    response = operator.post(reverse(SCHEDULES), body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["host"] == "shop.example.com"
