"""The JSON API (extra ``api``) through DRF's APIClient and the real URLconf: reads, writes, rights, bad bodies."""

from __future__ import annotations

import json
import os

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.test import override_settings
from django.urls import include, path, reverse

if os.environ.get("REQUEST_SETTINGS_REQUIRE_EXTRAS"):
    import rest_framework  # noqa: F401  (the api env: a missing extra is a failure)
else:
    pytest.importorskip("rest_framework", reason="the extra 'api' is not installed (tox -e api runs these tests)")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from request_settings import policy
from request_settings.models import SettingOverride, SettingOverrideChange
from tests import views
from tests.test_schedules import AGREEMENT_CASES, KEY, NOW

urlpatterns = [
    path("api/settings/", include("request_settings.api.urls")),
    path("echo/", views.echo),  # what a request gets, to compare with effective/
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

MASK = "********************"


class HostGrantBackend(ModelBackend):
    """A stand-in object-permission backend: user ``editor-<host>`` holds every right on that host's rows."""

    def has_perm(self, user_obj, perm, obj=None):
        if obj is None or not user_obj.is_active:
            return False
        prefix = "editor-"
        return user_obj.username.startswith(prefix) and obj.host == user_obj.username[len(prefix) :]


@pytest.fixture(autouse=True)
def _backends():
    backends = ["django.contrib.auth.backends.ModelBackend", f"{__name__}.HostGrantBackend"]
    with override_settings(
        AUTHENTICATION_BACKENDS=backends,
        REST_FRAMEWORK={"DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]},
    ):
        yield


def api_client(django_user_model, *actions, name="operator"):
    user = django_user_model.objects.create_user(name, password="pw")
    user.user_permissions.set(Permission.objects.filter(codename__in=[f"{a}_settingoverride" for a in actions]))
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client


@pytest.fixture
def operator(django_user_model):
    return api_client(django_user_model, "view", "add", "change", "delete")


@pytest.fixture
def viewer(django_user_model):
    return api_client(django_user_model, "view", name="viewer")


@pytest.fixture
def tenant(django_user_model):
    """An editor of a.example.com only, through the object-permission backend (no model permission)."""
    return api_client(django_user_model, name="editor-a.example.com")


def detail(key, host=None):
    url = reverse("request_settings_api:override-detail", args=[key])
    return url if host is None else f"{url}?host={host}"


def put(client, key, value, host=None, **body):
    return client.put(detail(key, host), {"value": value, **body}, format="json")


LIST = "request_settings_api:override-list"
EFFECTIVE = "request_settings_api:effective"
CHANGES = "request_settings_api:change-list"


def table():
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


# -- writes -----------------------------------------------------------------------------------------------------


def test_put_creates_then_updates_through_the_write_api(operator):
    created = put(operator, "SESSION_EXPIRE_SECONDS", 120, host="Shop.Example.com")
    updated = put(operator, "SESSION_EXPIRE_SECONDS", 90, host="shop.example.com")

    assert (created.status_code, updated.status_code) == (201, 200)
    assert updated.json()["value"] == 90
    assert updated.json()["host"] == "shop.example.com"
    assert updated.json()["updated_by"] == "operator"
    assert table() == [("SESSION_EXPIRE_SECONDS", "shop.example.com", 90)]
    audit = list(SettingOverrideChange.objects.order_by("id").values_list("action", "old_value", "new_value", "user"))
    assert audit == [("created", None, 120, operator.user.pk), ("updated", 120, 90, operator.user.pk)]


def test_put_without_host_writes_the_all_hosts_row(operator):
    response = put(operator, "BANNER_TEXT", "Closed on Monday")

    assert response.status_code == 201
    assert response.json()["host_label"] == "(all hosts)"
    assert table() == [("BANNER_TEXT", "", "Closed on Monday")]


def test_a_written_value_reaches_the_next_request(operator, client):
    from django.conf import settings

    from request_settings import activate

    put(operator, "SESSION_EXPIRE_SECONDS", 77, host="shop.example.com")

    with activate("shop.example.com"):
        assert settings.SESSION_EXPIRE_SECONDS == 77
    with activate("other.example.com"):
        assert settings.SESSION_EXPIRE_SECONDS == 3600


def test_json_null_is_a_value(operator):
    response = put(operator, "MAYBE_URL", None)

    assert response.status_code == 201
    assert table() == [("MAYBE_URL", "", None)]


@pytest.mark.parametrize(
    ("key", "value", "field", "words"),
    [
        ("SECRET_KEY", "x", "key", ["SECRET_KEY cannot be overridden", policy.SECURITY]),
        ("TIME_ZONE", "UTC", "key", ["TIME_ZONE cannot be overridden", policy.CACHED]),
        ("lower_case", 1, "key", ["lower_case cannot be overridden", policy.MALFORMED]),
        ("SESSION_COOKIE_AGE", -5, "value", ["-5", "SESSION_COOKIE_AGE", "an integer from"]),
        ("SESSION_EXPIRE_SECONDS", "soon", "value", ["'soon'", "SESSION_EXPIRE_SECONDS", "an integer"]),
        ("BANNER_TEXT", "a\x00b", "value", ["BANNER_TEXT", "NUL"]),
    ],
)
def test_bad_writes_are_400s_naming_key_value_and_accepted_and_write_nothing(operator, key, value, field, words):
    response = put(operator, key, value)

    assert response.status_code == 400
    message = " ".join(response.json()[field])
    for word in words:
        assert word in message
    assert table() == []
    assert not SettingOverrideChange.objects.exists()


def test_the_api_and_the_admin_form_give_the_same_refusal(operator):
    from request_settings.forms import clean_key

    response = put(operator, "DEBUG", True)

    with pytest.raises(Exception) as admin_error:
        clean_key("DEBUG")
    assert response.json()["key"] == admin_error.value.messages


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        "text",
        {},
        {"value": 1, "host": "b.example.com"},
        {"val": 1},
    ],
)
def test_malformed_bodies_are_400s(operator, body):
    response = operator.put(detail("BANNER_TEXT"), body, format="json")

    assert response.status_code == 400
    assert table() == []


def test_a_bad_host_is_a_400_naming_it(operator):
    response = put(operator, "BANNER_TEXT", "x", host="http://a.example.com/")

    assert response.status_code == 400
    assert "'http://a.example.com/' is not a host: expected" in response.json()["host"][0]


def test_non_json_bodies_are_415_and_broken_json_400(operator):
    form = operator.put(detail("BANNER_TEXT"), "value=1", content_type="application/x-www-form-urlencoded")
    broken = operator.put(detail("BANNER_TEXT"), b'{"value": ', content_type="application/json")
    deep = operator.put(detail("BANNER_TEXT"), "[" * 100_000 + "]" * 100_000, content_type="application/json")

    assert (form.status_code, broken.status_code, deep.status_code) == (415, 400, 400)


def test_a_value_nested_too_deeply_for_the_policy_is_a_400(operator):
    nested = "1"
    for _ in range(900):
        nested = "[" + nested + "]"

    response = operator.put(detail("DEEP"), '{"value": ' + nested + "}", content_type="application/json")

    assert response.status_code == 400
    assert table() == []


def test_delete_unsets_and_audits(operator):
    SettingOverride.objects.set("BANNER_TEXT", "x", host="a.example.com")

    response = operator.delete(detail("BANNER_TEXT", "a.example.com"))
    again = operator.delete(detail("BANNER_TEXT", "a.example.com"))

    assert (response.status_code, again.status_code) == (204, 404)
    assert table() == []
    assert SettingOverrideChange.objects.first().action == "deleted"


def test_get_one_override_and_404_when_absent(operator):
    SettingOverride.objects.set("BANNER_TEXT", "hello", host="a.example.com")

    found = operator.get(detail("BANNER_TEXT", "a.example.com"))
    absent = operator.get(detail("BANNER_TEXT"))

    assert found.status_code == 200
    assert {k: found.json()[k] for k in ("key", "host", "value", "secret", "problem")} == {
        "key": "BANNER_TEXT",
        "host": "a.example.com",
        "value": "hello",
        "secret": False,
        "problem": None,
    }
    assert absent.status_code == 404


# -- reads ------------------------------------------------------------------------------------------------------


def test_list_is_sorted_filtered_and_paginated(operator):
    for index in range(60):
        SettingOverride.objects.set(f"ITEM_{index:02d}", index)
    SettingOverride.objects.set("ITEM_00", 100, host="a.example.com")

    first = operator.get(reverse(LIST)).json()
    second = operator.get(first["next"]).json()
    only_a = operator.get(reverse(LIST), {"host": "a.example.com"}).json()
    only_all = operator.get(reverse(LIST) + "?host=").json()
    by_key = operator.get(reverse(LIST), {"key": "ITEM_00"}).json()
    small = operator.get(reverse(LIST), {"page_size": 5}).json()

    assert first["count"] == 61
    assert len(first["results"]) == 50
    assert [row["key"] for row in first["results"][:2]] == ["ITEM_00", "ITEM_01"]
    assert len(second["results"]) == 11
    assert second["results"][-1]["host"] == "a.example.com"
    assert [(row["key"], row["value"]) for row in only_a["results"]] == [("ITEM_00", 100)]
    assert only_all["count"] == 60
    assert [(row["host"], row["value"]) for row in by_key["results"]] == [("", 0), ("a.example.com", 100)]
    assert len(small["results"]) == 5


def test_secrets_are_masked_everywhere_values_are_read(operator):
    SettingOverride.objects.set("MAPS_API_KEY", "s3cr3t")
    SettingOverride.objects.set("MAPS_API_KEY", "other-s3cr3t", host="a.example.com")
    SettingOverride.objects.set("SERVICE", {"url": "https://x", "token": "s3cr3t"})

    listed = operator.get(reverse(LIST)).content.decode()
    one = operator.get(detail("MAPS_API_KEY")).json()
    effective = operator.get(reverse(EFFECTIVE), {"host": "a.example.com"}).content.decode()
    changes = operator.get(reverse(CHANGES)).content.decode()

    for text in (listed, json.dumps(one), effective, changes):
        assert "s3cr3t" not in text
    assert (one["value"], one["secret"]) == (MASK, True)
    assert {"url": "https://x", "token": MASK} in [row["value"] for row in json.loads(listed)["results"]]


def test_a_row_requests_ignore_says_why(operator):
    SettingOverride.objects.create(key="SESSION_COOKIE_AGE", value=-1)  # behind the write API's back

    row = operator.get(detail("SESSION_COOKIE_AGE")).json()

    assert "-1 is not valid for SESSION_COOKIE_AGE" in row["problem"]


def test_effective_values_with_their_source(operator):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="shop.example.com")
    SettingOverride.objects.set("BANNER_TEXT", "Sale")
    SettingOverride.objects.set("ONLY_B", 1, host="b.example.com")

    def lines(host=None):
        params = {} if host is None else {"host": host}
        response = operator.get(reverse(EFFECTIVE), params)
        assert response.status_code == 200
        return {line["key"]: line for line in response.json()}

    shop, other, every = lines("shop.example.com"), lines("other.example.com"), lines()

    assert (shop["SESSION_EXPIRE_SECONDS"]["value"], shop["SESSION_EXPIRE_SECONDS"]["source"]) == (120, "host")
    assert shop["SESSION_EXPIRE_SECONDS"]["source_host"] == "shop.example.com"
    assert shop["SESSION_EXPIRE_SECONDS"]["settings_value"] == 3600
    assert (other["SESSION_EXPIRE_SECONDS"]["value"], other["SESSION_EXPIRE_SECONDS"]["source"]) == (600, "all_hosts")
    assert (every["SESSION_EXPIRE_SECONDS"]["value"], every["SESSION_EXPIRE_SECONDS"]["source"]) == (600, "all_hosts")
    assert (shop["BANNER_TEXT"]["value"], shop["BANNER_TEXT"]["source"]) == ("Sale", "all_hosts")
    assert shop["ONLY_B"] == {
        "key": "ONLY_B",
        "value": None,
        "is_set": False,
        "source": "settings",
        "source_host": None,
        "settings_value": None,
        "in_settings": False,
        "secret": False,
        "ignored": [],
        "scheduled": False,
        "scheduled_until": None,
    }


def test_effective_names_rows_that_do_not_apply(operator):
    SettingOverride.objects.set("SESSION_COOKIE_AGE", 600)
    SettingOverride.objects.create(key="SESSION_COOKIE_AGE", host="shop.example.com", value="long")

    line = {row["key"]: row for row in operator.get(reverse(EFFECTIVE), {"host": "shop.example.com"}).json()}

    age = line["SESSION_COOKIE_AGE"]
    assert (age["value"], age["source"]) == (600, "all_hosts")
    assert age["ignored"][0]["host"] == "shop.example.com"
    assert '"long" is not valid for SESSION_COOKIE_AGE' in age["ignored"][0]["reason"]


def test_effective_follows_the_kill_switch(operator):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)

    with override_settings(REQUEST_SETTINGS_ENABLED=False):
        line = operator.get(reverse(EFFECTIVE)).json()[0]

    assert (line["value"], line["source"]) == (3600, "settings")
    assert "REQUEST_SETTINGS_ENABLED is False" in line["ignored"][0]["reason"]


def test_effective_lists_declared_keys_without_rows(operator):
    with override_settings(REQUEST_SETTINGS_FIELDS={"SESSION_EXPIRE_SECONDS": {"field": "django.forms.IntegerField"}}):
        lines = operator.get(reverse(EFFECTIVE)).json()

    assert [(line["key"], line["value"], line["source"]) for line in lines] == [
        ("SESSION_EXPIRE_SECONDS", 3600, "settings")
    ]


def test_changes_are_the_audit_trail_newest_first_filtered(operator):
    SettingOverride.objects.set("BANNER_TEXT", "a", user=operator.user)
    SettingOverride.objects.set("BANNER_TEXT", "b", user=operator.user)
    SettingOverride.objects.set("OTHER", 1, host="a.example.com")
    SettingOverride.objects.unset("BANNER_TEXT")

    every = operator.get(reverse(CHANGES)).json()
    banner = operator.get(reverse(CHANGES), {"key": "BANNER_TEXT", "host": ""}).json()
    host_a = operator.get(reverse(CHANGES), {"host": "a.example.com"}).json()

    assert every["count"] == 4
    assert [(c["action"], c["old_value"], c["new_value"], c["user"]) for c in banner["results"]] == [
        ("deleted", "b", None, None),
        ("updated", "a", "b", "operator"),
        ("created", None, "a", "operator"),
    ]
    assert [c["key"] for c in host_a["results"]] == ["OTHER"]


# -- permissions ----------------------------------------------------------------------------------------------


def test_anonymous_users_get_no_access(client):
    anonymous = APIClient()
    SettingOverride.objects.set("BANNER_TEXT", "x")

    for url in (reverse(LIST), reverse(EFFECTIVE), reverse(CHANGES), detail("BANNER_TEXT")):
        assert anonymous.get(url).status_code in (401, 403)
    assert put(anonymous, "BANNER_TEXT", "y").status_code in (401, 403)
    assert table() == [("BANNER_TEXT", "", "x")]


def test_a_viewer_reads_but_cannot_write(viewer):
    SettingOverride.objects.set("BANNER_TEXT", "x")

    assert viewer.get(reverse(LIST)).json()["count"] == 1
    assert put(viewer, "BANNER_TEXT", "y").status_code == 403
    assert put(viewer, "NEW_KEY", "y").status_code == 403
    assert viewer.delete(detail("BANNER_TEXT")).status_code == 403
    assert table() == [("BANNER_TEXT", "", "x")]


def test_add_and_change_are_separate_rights(django_user_model):
    adder = api_client(django_user_model, "add", name="adder")
    changer = api_client(django_user_model, "change", name="changer")
    SettingOverride.objects.set("EXISTING", 1)

    assert put(adder, "NEW_KEY", 1).status_code == 201
    assert put(adder, "EXISTING", 2).status_code == 403
    assert put(changer, "EXISTING", 3).status_code == 200
    assert put(changer, "OTHER_NEW", 1).status_code == 403
    assert table() == [("EXISTING", "", 3), ("NEW_KEY", "", 1)]


def test_a_user_without_any_right_gets_403_everywhere(django_user_model):
    nobody = api_client(django_user_model, name="nobody")
    SettingOverride.objects.set("BANNER_TEXT", "x", host="a.example.com")

    assert nobody.get(detail("BANNER_TEXT", "a.example.com")).status_code == 403
    assert nobody.get(detail("BANNER_TEXT", "b.example.com")).status_code == 403  # no hint whether a row exists
    assert nobody.get(reverse(EFFECTIVE), {"host": "a.example.com"}).status_code == 403
    assert nobody.get(reverse(LIST)).json()["count"] == 0
    assert nobody.get(reverse(CHANGES)).json()["count"] == 0


def test_a_tenant_editor_sees_and_edits_only_its_host(tenant):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 300, host="a.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 200, host="b.example.com")

    listed = tenant.get(reverse(LIST)).json()
    changes = tenant.get(reverse(CHANGES)).json()
    effective_a = tenant.get(reverse(EFFECTIVE), {"host": "a.example.com"})
    effective_b = tenant.get(reverse(EFFECTIVE), {"host": "b.example.com"})
    effective_all = tenant.get(reverse(EFFECTIVE))

    assert [(row["host"], row["value"]) for row in listed["results"]] == [("a.example.com", 300)]
    assert [(c["host"], c["new_value"]) for c in changes["results"]] == [("a.example.com", 300)]
    assert effective_a.status_code == 200
    assert (effective_b.status_code, effective_all.status_code) == (403, 403)

    assert put(tenant, "SESSION_EXPIRE_SECONDS", 60, host="a.example.com").status_code == 200
    assert put(tenant, "NEW_KEY", 1, host="A.EXAMPLE.COM:443").status_code == 201
    assert put(tenant, "SESSION_EXPIRE_SECONDS", 1, host="b.example.com").status_code == 403
    assert put(tenant, "SESSION_EXPIRE_SECONDS", 1).status_code == 403  # the all-hosts row
    assert put(tenant, "NEW_KEY", 1, host="c.example.com").status_code == 403
    assert tenant.delete(detail("SESSION_EXPIRE_SECONDS", "b.example.com")).status_code == 403
    assert tenant.delete(detail("SESSION_EXPIRE_SECONDS")).status_code == 403
    assert tenant.get(detail("SESSION_EXPIRE_SECONDS", "b.example.com")).status_code == 403
    assert tenant.delete(detail("NEW_KEY", "a.example.com")).status_code == 204
    assert table() == [
        ("SESSION_EXPIRE_SECONDS", "", 600),
        ("SESSION_EXPIRE_SECONDS", "a.example.com", 60),
        ("SESSION_EXPIRE_SECONDS", "b.example.com", 200),
    ]


def test_a_tenant_editor_cannot_pass_the_key_policy(tenant):
    response = put(tenant, "SECRET_KEY", "x", host="a.example.com")

    assert response.status_code == 400
    assert table() == []


def test_session_authentication_enforces_csrf(django_user_model):
    user = django_user_model.objects.create_user("csrf", password="pw", is_superuser=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    with override_settings(
        REST_FRAMEWORK={"DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"]}
    ):
        response = put(client, "BANNER_TEXT", "x")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert table() == []


# -- any body, never a 500 ----------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(["SESSION_COOKIE_AGE", "SESSION_EXPIRE_SECONDS", "BANNER_TEXT", "SECRET_KEY", "X_FRAME_OPTIONS"])
hosts = st.sampled_from(["", "a.example.com", "B.EXAMPLE.COM:80", "bad host", "*.example.com", "a.example.com."])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=keys, host=hosts, body=json_values | st.dictionaries(st.sampled_from(["value", "host", "x"]), json_values))
def test_any_json_body_is_answered_without_a_500(operator, key, host, body):
    response = operator.put(detail(key, host), body, format="json")

    assert response.status_code in (200, 201, 400), response.content
    if response.status_code == 400:
        assert all(isinstance(messages, list) for messages in response.json().values())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=64), content_type=st.sampled_from(["application/json", "text/plain", "application/xml"]))
def test_any_bytes_are_answered_without_a_500(operator, raw, content_type):
    response = operator.put(detail("BANNER_TEXT"), raw, content_type=content_type)

    assert response.status_code in (200, 201, 400, 415)


def test_a_grant_of_the_built_in_backend_scopes_the_api(django_user_model):
    from request_settings.models import SettingGrant

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 300, host="a.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 200, host="b.example.com")
    granted = api_client(django_user_model, name="granted")
    SettingGrant.objects.create(user=granted.user, hosts="a.example.com", keys="SESSION_*", can_edit=True)

    backends = ["django.contrib.auth.backends.ModelBackend", "request_settings.backends.GrantBackend"]
    with override_settings(AUTHENTICATION_BACKENDS=backends):
        listed = granted.get(reverse(LIST)).json()
        own = put(granted, "SESSION_EXPIRE_SECONDS", 120, host="a.example.com")
        other_key = put(granted, "BANNER_TEXT", "x", host="a.example.com")
        other_host = put(granted, "SESSION_EXPIRE_SECONDS", 120, host="b.example.com")

    assert [(row["host"], row["value"]) for row in listed["results"]] == [("a.example.com", 300)]
    assert (own.status_code, other_key.status_code, other_host.status_code) == (200, 403, 403)


# -- scheduled values ---------------------------------------------------------------------------------------------

SCHEDULES = "request_settings_api:schedule-list"


def schedule_url(pk):
    return reverse("request_settings_api:schedule-detail", args=[pk])


def test_schedule_through_the_api_and_cancel_it(operator):
    import datetime

    from request_settings.models import SettingSchedule

    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    body = {"key": "SESSION_EXPIRE_SECONDS", "host": "Shop.Example.com", "value": 600, "start": start.isoformat()}

    created = operator.post(reverse(SCHEDULES), body, format="json")

    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["key"], data["host"], data["value"], data["end"], data["created_by"]) == (
        "SESSION_EXPIRE_SECONDS",
        "shop.example.com",
        600,
        None,
        "operator",
    )
    row = SettingSchedule.objects.get()
    assert row.start == start
    assert operator.get(reverse(SCHEDULES)).json()["results"] == [data]
    assert operator.get(schedule_url(row.pk)).json() == data

    overlapping = operator.post(reverse(SCHEDULES), {**body, "value": 900}, format="json")
    assert overlapping.status_code == 400
    assert "already has a scheduled value (600)" in overlapping.json()["non_field_errors"][0]

    assert operator.delete(schedule_url(row.pk)).status_code == 204
    assert not SettingSchedule.objects.exists()
    assert [c["action"] for c in operator.get(reverse(CHANGES)).json()["results"]] == ["unscheduled", "scheduled"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "SECRET_KEY", "value": "x"}, "key"),
        ({"key": "SESSION_COOKIE_AGE", "value": "a week"}, "value"),
        ({"key": "SESSION_EXPIRE_SECONDS", "value": 600, "start": "2026-12-24T18:00:00"}, "start"),
        ({"key": "SESSION_EXPIRE_SECONDS", "value": 600, "host": "not a host/"}, "host"),
    ],
)
def test_a_refused_schedule_is_a_400_naming_the_field(operator, body, field):
    from request_settings.models import SettingSchedule

    response = operator.post(reverse(SCHEDULES), body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not SettingSchedule.objects.exists()


def test_schedules_need_the_rights_over_the_override(viewer, tenant):
    import datetime

    from request_settings.models import SettingSchedule

    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).isoformat()
    SettingOverride.objects.schedule("SESSION_EXPIRE_SECONDS", 600, host="b.example.com")
    body = {"key": "SESSION_EXPIRE_SECONDS", "value": 900, "start": start}

    assert viewer.post(reverse(SCHEDULES), {**body, "host": "a.example.com"}, format="json").status_code == 403
    assert tenant.post(reverse(SCHEDULES), {**body, "host": "b.example.com"}, format="json").status_code == 403
    assert tenant.post(reverse(SCHEDULES), {**body, "host": "a.example.com"}, format="json").status_code == 201
    listed = [row["host"] for row in tenant.get(reverse(SCHEDULES)).json()["results"]]
    assert listed == ["a.example.com"]
    other = SettingSchedule.objects.get(host="b.example.com")
    assert tenant.delete(schedule_url(other.pk)).status_code == 404
    assert viewer.delete(schedule_url(other.pk)).status_code == 403


def test_effective_says_when_a_value_is_scheduled(operator):
    import datetime

    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    SettingOverride.objects.schedule("SESSION_EXPIRE_SECONDS", 600, end=end)

    (line,) = [line for line in operator.get(reverse(EFFECTIVE)).json() if line["key"] == "SESSION_EXPIRE_SECONDS"]

    assert (line["value"], line["source"], line["scheduled"]) == (600, "all_hosts", True)
    assert datetime.datetime.fromisoformat(line["scheduled_until"].replace("Z", "+00:00")) == end


@pytest.mark.parametrize("case", AGREEMENT_CASES)
@pytest.mark.django_db(transaction=True)  # committed, as the middleware's snapshot reads them
def test_effective_agrees_with_the_request_path_with_scheduled_values(operator, case):
    """The cases of test_schedules.py's agreement test, through ``effective/`` and a real request."""
    import datetime

    import time_machine
    from django.test import Client

    setup, host, (value, source, scheduled, until) = AGREEMENT_CASES[case]
    with time_machine.travel(NOW, tick=False):
        setup()
        served = Client().get("/echo/", {"keys": KEY}, HTTP_HOST=host).json()["values"][KEY]
        (line,) = [line for line in operator.get(reverse(EFFECTIVE), {"host": host}).json() if line["key"] == KEY]

    assert served == value
    assert (line["value"], line["source"], line["scheduled"]) == (value, source, scheduled)
    shown_until = line["scheduled_until"]
    assert (shown_until and datetime.datetime.fromisoformat(shown_until.replace("Z", "+00:00"))) == until
