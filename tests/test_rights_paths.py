"""A tenant editor of a.example.com, through every path: everything for that host, nothing for any other.

Every request goes through the real stack (test client, admin URLs); crafted POSTs and URLs carry another row's id,
another host, the all-hosts row and a pattern row. GrantBackend sits beside ModelBackend, as a project adds it.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.test import Client, override_settings
from django.urls import reverse

from request_settings.models import SettingGrant, SettingOverride, SettingOverrideChange

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("grant_backend")]

BACKENDS = ["django.contrib.auth.backends.ModelBackend", "request_settings.backends.GrantBackend"]
ADMIN = "admin:request_settings_settingoverride_"
MINE = "a.example.com"
OTHERS = ["b.example.com", "", "*.example.com"]


@pytest.fixture
def grant_backend():
    with override_settings(AUTHENTICATION_BACKENDS=BACKENDS):
        yield


@pytest.fixture
def rows():
    """One SESSION_EXPIRE_SECONDS row per host, and a SITE_TITLE beside it on a and b."""
    found = {}
    for value, host in enumerate([MINE, *OTHERS]):
        found[host] = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600 + value, host=host)
    SettingOverride.objects.set("SITE_TITLE", "A", host=MINE)
    SettingOverride.objects.set("SITE_TITLE", "B", host="b.example.com")
    return found


def login(django_user_model, name, *, hosts=MINE, keys="*", can_edit=True, group=None):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    if group is not None:
        user.groups.add(group)
    else:
        SettingGrant.objects.create(user=user, hosts=hosts, keys=keys, can_edit=can_edit)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def tenant(django_user_model):
    return login(django_user_model, "tenant")


def table():
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


def url(name, *args):
    return reverse(ADMIN + name, args=args)


# -- what they see -------------------------------------------------------------------------------------------------


def test_the_admin_index_lists_the_app_for_a_grant_holder(tenant, rows):
    page = tenant.get(reverse("admin:index")).content.decode()
    assert url("changelist") in page
    assert reverse("admin:request_settings_settinggrant_changelist") not in page  # grants are not theirs to edit


def test_the_changelist_its_filters_and_counts_show_only_their_rows(tenant, rows):
    response = tenant.get(url("changelist"))
    changelist = response.context["cl"]

    assert sorted((row.key, row.host) for row in changelist.result_list) == [
        ("SESSION_EXPIRE_SECONDS", MINE),
        ("SITE_TITLE", MINE),
    ]
    assert (changelist.result_count, changelist.full_result_count) == (2, 2)
    [host_filter, key_filter] = changelist.filter_specs
    assert [value for value, _label in host_filter.lookup_choices] == [MINE]
    assert sorted(key_filter.lookup_choices) == ["SESSION_EXPIRE_SECONDS", "SITE_TITLE"]


def test_facet_counts_and_filtering_by_another_host_show_nothing_of_it(tenant, rows):
    response = tenant.get(url("changelist"), {"host": "b.example.com", "_facets": "1"})
    assert list(response.context["cl"].result_list) == []
    assert "B" not in [getattr(row, "value", None) for row in response.context["cl"].result_list]
    assert tenant.get(url("changelist"), {"q": "b.example"}).context["cl"].result_count == 0


def test_the_host_autocomplete_offers_only_their_hosts(tenant, rows):
    assert tenant.get(url("hosts"), {"term": "example"}).json() == {"results": [MINE]}


# -- another row by URL --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", OTHERS)
def test_another_hosts_row_cannot_be_reached_by_url(tenant, rows, host):
    row = rows[host]
    before = table()

    for name in ("change", "delete", "history"):
        response = tenant.get(url(name, row.pk))
        assert (response.status_code, response["Location"]) == (302, reverse("admin:index")), name
    tenant.post(url("change", row.pk), {"value": "60"})
    tenant.post(url("delete", row.pk), {"post": "yes"})

    assert table() == before
    assert LogEntry.objects.count() == 0


@pytest.mark.parametrize("host", OTHERS)
def test_another_hosts_history_and_revert_are_refused(tenant, rows, host):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900, host=host)
    created = SettingOverrideChange.objects.get(key="SESSION_EXPIRE_SECONDS", host=host, action="created")
    before = table()

    assert tenant.get(url("audit"), {"key": "SESSION_EXPIRE_SECONDS", "host": host}).status_code == 403
    assert tenant.post(url("revert", created.pk)).status_code == 403
    assert table() == before


@pytest.mark.parametrize("host", OTHERS)
def test_adding_for_another_host_is_refused_by_the_form(tenant, rows, host):
    before = table()
    for key in ("SESSION_EXPIRE_SECONDS", "BRAND_NEW_KEY"):  # an update of their row, and a new row
        response = tenant.post(url("add"), {"key": key, "host": host, "value": "120"})
        assert response.status_code == 200
        [error] = response.context["adminform"].form.non_field_errors()
        assert error.startswith("You may not ") and key in error
    assert table() == before


def test_bulk_delete_with_another_hosts_id_deletes_nothing_of_theirs(tenant, rows):
    theirs = [rows[host].pk for host in OTHERS]
    tenant.post(
        url("changelist"),
        {"action": "delete_selected", "_selected_action": [rows[MINE].pk, *theirs], "post": "yes"},
    )
    assert sorted(SettingOverride.objects.filter(pk__in=theirs).values_list("host", flat=True)) == sorted(OTHERS)
    assert not SettingOverride.objects.filter(pk=rows[MINE].pk).exists()


def test_bulk_delete_of_a_row_they_may_only_view_is_refused_whole(django_user_model, rows):
    client = login(django_user_model, "mixed")
    SettingGrant.objects.create(user=client.user, hosts="b.example.com", keys="*", can_edit=False)
    selected = [rows[MINE].pk, rows["b.example.com"].pk]
    before = table()

    confirm = client.post(url("changelist"), {"action": "delete_selected", "_selected_action": selected})
    assert confirm.status_code == 200
    assert confirm.context["perms_lacking"] == {"setting override"}
    client.post(url("changelist"), {"action": "delete_selected", "_selected_action": selected, "post": "yes"})
    assert table() == before


# -- everything for their own host ---------------------------------------------------------------------------------


def test_everything_works_for_their_own_host(tenant, rows):
    mine = rows[MINE]
    assert tenant.get(url("change", mine.pk)).status_code == 200
    assert tenant.post(url("change", mine.pk), {"value": "120"}).status_code == 302
    assert SettingOverride.objects.get(pk=mine.pk).value == 120
    assert tenant.post(url("add"), {"key": "NEW_FLAG", "host": "A.Example.com", "value": "1"}).status_code == 302
    assert SettingOverride.objects.get(key="NEW_FLAG").host == MINE

    history = tenant.get(url("history", mine.pk))
    assert [item["change"].action for item in history.context["changes"]] == ["updated", "created"]
    created = SettingOverrideChange.objects.get(pk=history.context["changes"][1]["change"].pk)
    assert tenant.post(url("revert", created.pk)).status_code == 302
    assert SettingOverride.objects.get(pk=mine.pk).value == 600

    assert tenant.post(url("delete", mine.pk), {"post": "yes"}).status_code == 302
    assert not SettingOverride.objects.filter(pk=mine.pk).exists()
    assert tenant.get(url("audit"), {"key": "SESSION_EXPIRE_SECONDS", "host": MINE}).status_code == 200


# -- effective settings ---------------------------------------------------------------------------------------------


def test_the_effective_page_shows_only_their_host(tenant, rows):
    default = tenant.get(url("effective"))
    assert default.context["host"] == MINE  # not "" (what an unknown host gets): they have no right there
    lines = {line["key"]: line for line in default.context["lines"]}
    assert (lines["SESSION_EXPIRE_SECONDS"]["effective"], lines["SESSION_EXPIRE_SECONDS"]["source"]) == (
        "600",
        "this host",
    )
    for host in ("b.example.com", "(all hosts)", "", "*.example.com", "c.example.org"):
        assert tenant.get(url("effective"), {"host": host}).status_code == 403, host
    assert tenant.get(url("effective"), {"host": "A.EXAMPLE.COM."}).context["host"] == MINE


def test_the_effective_page_hides_values_of_keys_not_granted(django_user_model, rows):
    client = login(django_user_model, "sessions", keys="SESSION_*")
    SettingOverride.objects.set("SITE_TITLE", "secret plans", host=MINE)

    response = client.get(url("effective"), {"host": MINE})

    lines = {line["key"]: line for line in response.context["lines"]}
    assert lines["SESSION_EXPIRE_SECONDS"]["effective"] == "600"
    assert lines["SITE_TITLE"]["hidden"] and "secret plans" not in response.content.decode()


def test_a_pattern_grant_sees_every_subdomain_but_not_the_apex(django_user_model, rows):
    client = login(django_user_model, "wild", hosts="*.example.com")
    for host in ("a.example.com", "x.y.example.com", "*.example.com", "*.eu.example.com"):
        assert client.get(url("effective"), {"host": host}).status_code == 200, host
    for host in ("example.com", "example.com.evil.org", ""):
        assert client.get(url("effective"), {"host": host}).status_code == 403, host
    listed = {row.host for row in client.get(url("changelist")).context["cl"].result_list}
    assert listed == {"a.example.com", "b.example.com", "*.example.com"}


# -- the site-facing form --------------------------------------------------------------------------------------------


def test_the_site_form_offers_and_accepts_only_their_host(tenant, rows):
    page = tenant.get(reverse("request_settings:edit"))
    assert page.status_code == 200
    assert [value for value, _label in page.context["form"].fields["host"].choices] == [MINE]

    before = table()
    for host in OTHERS:
        data = {"key": "SESSION_EXPIRE_SECONDS", "host": host, "value": "61"}
        response = tenant.post(reverse("request_settings:edit"), data)
        assert response.status_code == 200
        assert response.context["form"].errors
    assert table() == before
    response = tenant.post(reverse("session-timeout"), {"key": "SESSION_EXPIRE_SECONDS", "host": MINE, "value": "120"})
    assert response.status_code == 302
    assert SettingOverride.objects.get(key="SESSION_EXPIRE_SECONDS", host=MINE).value == 120


def test_a_page_fixed_to_the_all_hosts_row_is_forbidden_to_them(tenant, rows):
    assert tenant.get(reverse("session-timeout-all")).status_code == 403
    response = tenant.post(reverse("session-timeout-all"), {"key": "SESSION_EXPIRE_SECONDS", "value": "61"})
    assert response.status_code == 403
    assert SettingOverride.objects.get(key="SESSION_EXPIRE_SECONDS", host="").value == 602


def test_the_site_form_lists_only_rows_they_may_see(tenant, rows):
    current = tenant.get(reverse("request_settings:edit")).context["current"]
    assert {item["host"] for item in current} == {MINE}


# -- view-only grants, group grants, key patterns ---------------------------------------------------------------


def test_a_view_only_grant_sees_its_rows_and_changes_nothing(django_user_model, rows):
    viewer = login(django_user_model, "viewer", can_edit=False)
    mine = rows[MINE]
    before = table()

    assert viewer.get(url("changelist")).context["cl"].result_count == 2
    page = viewer.get(url("change", mine.pk))
    assert page.status_code == 200 and 'name="value"' not in page.content.decode()
    assert viewer.post(url("change", mine.pk), {"value": "61"}).status_code == 403
    assert viewer.get(url("add")).status_code == 403
    assert viewer.post(url("delete", mine.pk), {"post": "yes"}).status_code == 403
    assert viewer.get(reverse("request_settings:edit")).status_code == 403
    created = SettingOverrideChange.objects.get(host=MINE, key="SESSION_EXPIRE_SECONDS")
    assert viewer.post(url("revert", created.pk)).status_code == 403
    history = viewer.get(url("history", mine.pk))
    assert not any(item["revertible"] for item in history.context["changes"])
    assert table() == before


def test_a_group_grant_works_for_its_members_only(django_user_model, rows):
    group = Group.objects.create(name="shop a")
    SettingGrant.objects.create(group=group, hosts=MINE, keys="*", can_edit=True)
    member = login(django_user_model, "member", group=group)
    outsider = login(django_user_model, "outsider", group=Group.objects.create(name="empty"))

    assert member.post(url("change", rows[MINE].pk), {"value": "61"}).status_code == 302
    assert outsider.get(url("changelist")).status_code == 403
    assert outsider.get(url("change", rows[MINE].pk)).status_code == 403


def test_a_session_grant_cannot_touch_csrf_cookie_age(django_user_model, rows):
    client = login(django_user_model, "sessions", keys="SESSION_*")
    SettingOverride.objects.set("CSRF_COOKIE_AGE", 3600, host=MINE)
    csrf = SettingOverride.objects.get(key="CSRF_COOKIE_AGE")

    assert client.post(url("add"), {"key": "SESSION_COOKIE_AGE", "host": MINE, "value": "600"}).status_code == 302
    response = client.post(url("add"), {"key": "CSRF_COOKIE_AGE", "host": MINE, "value": "60"})
    assert response.status_code == 200 and response.context["adminform"].form.non_field_errors()
    assert client.post(url("change", csrf.pk), {"value": "60"}).status_code == 302  # redirected: not theirs
    assert SettingOverride.objects.get(key="CSRF_COOKIE_AGE").value == 3600
    assert "CSRF_COOKIE_AGE" not in [row.key for row in client.get(url("changelist")).context["cl"].result_list]


# -- model permissions and grants ---------------------------------------------------------------------------------


def test_model_permissions_keep_full_rights(django_user_model, rows):
    operator = django_user_model.objects.create_user("operator", is_staff=True)
    operator.user_permissions.set(Permission.objects.filter(codename__endswith="_settingoverride"))
    client = Client()
    client.force_login(operator)
    assert client.get(url("changelist")).context["cl"].result_count == len(table())
    assert client.get(url("effective"), {"host": "b.example.com"}).status_code == 200
    superuser = Client()
    superuser.force_login(django_user_model.objects.create_superuser("root"))
    assert superuser.get(url("changelist")).context["cl"].result_count == len(table())


def test_grants_are_edited_only_with_the_grant_model_permissions(tenant, django_user_model):
    changelist = reverse("admin:request_settings_settinggrant_changelist")
    grant = SettingGrant.objects.get(user=tenant.user)
    assert tenant.get(changelist).status_code == 403
    assert tenant.post(reverse("admin:request_settings_settinggrant_change", args=[grant.pk]), {}).status_code == 403

    keeper = django_user_model.objects.create_user("keeper", is_staff=True)
    keeper.user_permissions.set(Permission.objects.filter(codename__endswith="_settinggrant"))
    client = Client()
    client.force_login(keeper)
    assert client.get(changelist).status_code == 200
    response = client.post(
        reverse("admin:request_settings_settinggrant_add"),
        {"user": tenant.user.pk, "hosts": "B.example.com, *.shop.example.org", "keys": "SESSION_*", "can_edit": "on"},
    )
    assert response.status_code == 302
    assert SettingGrant.objects.filter(user=tenant.user).count() == 2
    bad = client.post(reverse("admin:request_settings_settinggrant_add"), {"hosts": "http://x/", "keys": "x"})
    assert set(bad.context["adminform"].form.errors) == {"hosts", "keys", "__all__"}


def test_a_pattern_grant_types_its_host_in_the_site_form(django_user_model, rows):
    client = login(django_user_model, "wild", hosts="*.example.com", keys="SESSION_*")
    page = client.get(reverse("request_settings:edit"))
    text = page.content.decode()
    assert 'list="id_host_options"' in text and '<option value="*.example.com">' in text  # suggested, not a select

    ok = client.post(
        reverse("request_settings:edit"), {"key": "SESSION_EXPIRE_SECONDS", "host": "new.example.com", "value": "90"}
    )
    apex = client.post(
        reverse("request_settings:edit"), {"key": "SESSION_EXPIRE_SECONDS", "host": "example.com", "value": "90"}
    )

    assert ok.status_code == 302 and apex.status_code == 200
    assert SettingOverride.objects.get(host="new.example.com").value == 90
    assert not SettingOverride.objects.filter(host="example.com").exists()


def test_the_history_of_a_host_no_request_can_have_is_refused(tenant, rows):
    assert (
        tenant.get(url("audit"), {"key": "SESSION_EXPIRE_SECONDS", "host": "http://a.example.com/"}).status_code == 403
    )


def test_the_host_autocomplete_without_a_term_lists_what_they_may_see(django_user_model, rows):
    client = login(django_user_model, "wild", hosts="*.example.com")
    assert client.get(url("hosts")).json() == {"results": ["*.example.com", "a.example.com", "b.example.com"]}
