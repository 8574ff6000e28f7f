"""request_settings.rights: model permission first, then the object; listing rows by query, or row by row."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.contrib.auth.models import AnonymousUser, Permission
from django.db.models import Q
from django.test import override_settings

from request_settings import rights
from request_settings.backends import GrantBackend
from request_settings.models import SettingGrant, SettingOverride

pytestmark = pytest.mark.django_db

MODEL = "django.contrib.auth.backends.ModelBackend"
GRANTS = "request_settings.backends.GrantBackend"


class OddRowsBackend(BaseBackend):
    """An object-permission backend without a query hook (like django-rules): rows whose value is odd."""

    def has_perm(self, user_obj, perm, obj=None):
        return obj is not None and isinstance(obj.value, int) and obj.value % 2 == 1


class ViewOddRowsBackend(BaseBackend):
    """Row by row and aware of the permission asked (as django-rules is): viewing rows whose value is odd, nothing
    else."""

    def has_perm(self, user_obj, perm, obj=None):
        return perm == "request_settings.view_settingoverride" and OddRowsBackend().has_perm(user_obj, perm, obj)


class CustomModelBackend(ModelBackend):
    """A ModelBackend that does answer for objects: it must be asked row by row."""

    def has_perm(self, user_obj, perm, obj=None):
        return obj is not None and obj.host == "c.example.com"


class NoPermsBackend:
    """Authentication only: Django never asks it about permissions, nor do we."""

    def authenticate(self, request, **credentials):
        return None


def fresh(user):
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def rows():
    for host in ("", "a.example.com", "b.example.com", "c.example.com"):
        SettingOverride.objects.set("PAGE_SIZE", 1, host=host)  # odd: OddRowsBackend grants it
        SettingOverride.objects.set("SITE_TITLE", "t", host=host)


def hosts_of(queryset):
    return sorted(set(queryset.values_list("host", flat=True)))


def test_permission_names_the_override_model():
    assert rights.permission("change") == "request_settings.change_settingoverride"
    assert rights.ACTIONS == ("view", "add", "change", "delete")


def test_override_for_is_an_unsaved_row():
    row = rights.override_for("SITE_TITLE", "a.example.com")
    assert (row.key, row.host, row.pk) == ("SITE_TITLE", "a.example.com", None)


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, GRANTS])
def test_model_permission_keeps_full_rights_without_any_query(django_user_model, rows, django_assert_num_queries):
    user = django_user_model.objects.create_user("op")
    user.user_permissions.add(Permission.objects.get(codename="view_settingoverride"))
    user = fresh(user)
    user.get_all_permissions()  # fill Django's permission cache
    queryset = SettingOverride.objects.all()
    with django_assert_num_queries(0):
        assert rights.allowed(user, "view")
        assert rights.allowed(user, "view", rights.override_for("ANY", "z.example.org"))
        assert rights.allowed_anywhere(user, "view")
        assert rights.allowed_for(user, "view", "PAGE_SIZE", "a.example.com")  # no need to look the row up
        assert rights.filter_allowed(user, queryset) is queryset
    assert not rights.allowed(user, "change", rights.override_for("ANY", ""))


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, GRANTS])
def test_grants_filter_in_sql_and_answer_per_object(django_user_model, rows):
    user = django_user_model.objects.create_user("tenant")
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="PAGE_*", can_edit=True)
    SettingGrant.objects.create(user=user, hosts="b.example.com", keys="*", can_edit=False)
    user = fresh(user)

    visible = rights.filter_allowed(user, SettingOverride.objects.all())
    editable = rights.filter_allowed(user, SettingOverride.objects.all(), "change")
    assert sorted(visible.values_list("key", "host")) == [
        ("PAGE_SIZE", "a.example.com"),
        ("PAGE_SIZE", "b.example.com"),
        ("SITE_TITLE", "b.example.com"),
    ]
    assert sorted(editable.values_list("key", "host")) == [("PAGE_SIZE", "a.example.com")]
    assert visible.count() == 3  # counts stay in SQL
    assert not rights.allowed(user, "view")
    assert rights.allowed_anywhere(user, "view")
    assert rights.allowed_anywhere(user, "add")
    assert rights.allowed_for(user, "change", "PAGE_SIZE", "a.example.com")  # the saved row
    assert rights.allowed_for(user, "add", "PAGE_COUNT", "a.example.com")  # no row yet: an unsaved one
    assert not rights.allowed_for(user, "add", "SITE_TITLE", "a.example.com")


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, GRANTS])
def test_refused_keys_stay_hidden_from_grants(django_user_model):
    SettingOverride.objects.bulk_create([SettingOverride(key="SECRET_KEY", host="a.example.com", value="x")])
    SettingOverride.objects.set("SITE_TITLE", "t", host="a.example.com")
    user = django_user_model.objects.create_user("tenant")
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*", can_edit=True)
    visible = rights.filter_allowed(fresh(user), SettingOverride.objects.all())
    assert list(visible.values_list("key", flat=True)) == ["SITE_TITLE"]


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, GRANTS])
def test_without_grants_nothing_is_visible(django_user_model, rows):
    user = fresh(django_user_model.objects.create_user("nobody"))
    assert not rights.filter_allowed(user, SettingOverride.objects.all()).exists()
    assert not rights.allowed_anywhere(user, "view")
    assert not rights.filter_allowed(AnonymousUser(), SettingOverride.objects.all()).exists()
    assert not rights.allowed_anywhere(AnonymousUser(), "view")


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.NoPermsBackend", f"{__name__}.OddRowsBackend"])
def test_a_backend_without_a_query_hook_is_asked_row_by_row(django_user_model, rows):
    user = fresh(django_user_model.objects.create_user("rules"))
    visible = rights.filter_allowed(user, SettingOverride.objects.all())
    assert sorted(visible.values_list("key", "host")) == [
        ("PAGE_SIZE", host) for host in ("", "a.example.com", "b.example.com", "c.example.com")
    ]
    assert rights.allowed_anywhere(user, "change")


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.OddRowsBackend"])
def test_row_by_row_finds_nothing_when_no_row_is_allowed(django_user_model):
    SettingOverride.objects.set("SITE_TITLE", "even")
    user = fresh(django_user_model.objects.create_user("rules"))
    assert not rights.filter_allowed(user, SettingOverride.objects.all()).exists()
    assert not rights.allowed_anywhere(user, "view")


@override_settings(AUTHENTICATION_BACKENDS=[f"{__name__}.CustomModelBackend", GRANTS])
def test_query_and_row_by_row_answers_add_up(django_user_model, rows):
    user = django_user_model.objects.create_user("both")
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="SITE_TITLE")
    visible = rights.filter_allowed(fresh(user), SettingOverride.objects.all())
    assert sorted(visible.values_list("key", "host")) == [
        ("PAGE_SIZE", "c.example.com"),
        ("SITE_TITLE", "a.example.com"),
        ("SITE_TITLE", "c.example.com"),
    ]


@override_settings(AUTHENTICATION_BACKENDS=[MODEL])
def test_plain_model_backend_is_never_asked_row_by_row(django_user_model, rows, django_assert_num_queries):
    user = fresh(django_user_model.objects.create_user("plain"))
    user.get_all_permissions()
    with django_assert_num_queries(0):  # nothing granted: Django knows the answer is empty without asking
        assert rights.filter_allowed(user, SettingOverride.objects.all()).count() == 0


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, GRANTS])
def test_granted_hosts_are_the_grants_hosts_and_the_rows_allowed(django_user_model, rows):
    user = django_user_model.objects.create_user("tenant")
    SettingGrant.objects.create(user=user, hosts="new.example.com *.shop.example.org", keys="*", can_edit=True)
    SettingGrant.objects.create(user=user, hosts="b.example.com", keys="SITE_TITLE", can_edit=False)
    SettingGrant.objects.create(user=user, hosts="c.example.com", keys="", can_edit=True)  # no key: no host
    user = fresh(user)

    assert rights.granted_hosts(user, "change") == ["*.shop.example.org", "new.example.com"]
    assert rights.granted_hosts(user, "view") == ["*.shop.example.org", "b.example.com", "new.example.com"]
    operator = django_user_model.objects.create_user("operator")
    operator.user_permissions.add(Permission.objects.get(codename="change_settingoverride"))
    assert rights.granted_hosts(fresh(operator), "change") is None  # any host


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.OddRowsBackend"])
def test_granted_hosts_of_a_backend_without_hooks_are_the_hosts_of_its_rows(django_user_model, rows):
    user = fresh(django_user_model.objects.create_user("rules"))
    assert rights.granted_hosts(user, "view") == ["", "a.example.com", "b.example.com", "c.example.com"]
    assert rights.granted_hosts(AnonymousUser(), "view") == []


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, GRANTS])
def test_viewable_rows_are_those_one_may_view_or_change(django_user_model, rows):
    user = django_user_model.objects.create_user("tenant")
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="PAGE_SIZE", can_edit=True)
    assert sorted(rights.filter_viewable(fresh(user), SettingOverride.objects.all()).values_list("key", "host")) == [
        ("PAGE_SIZE", "a.example.com")
    ]
    changer = django_user_model.objects.create_user("changer")
    changer.user_permissions.add(Permission.objects.get(codename="change_settingoverride"))
    everything = SettingOverride.objects.all()
    assert rights.filter_viewable(fresh(changer), everything) is everything  # change without view: Django shows all


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.OddRowsBackend"])
def test_allowed_for_asks_about_the_saved_row_of_that_key_and_host(django_user_model):
    """A backend may judge a row by more than its key and host (its value here): the saved row is what it is asked
    about, and an unsaved one only where the key and host have no row."""
    SettingOverride.objects.set("PAGE_SIZE", 1, host="a.example.com")  # odd: granted
    SettingOverride.objects.set("PAGE_SIZE", 2, host="b.example.com")
    SettingOverride.objects.set("PAGE_COUNT", 3, host="b.example.com")
    user = fresh(django_user_model.objects.create_user("rules"))
    assert rights.allowed_for(user, "change", "PAGE_SIZE", "a.example.com")
    assert not rights.allowed_for(user, "change", "PAGE_SIZE", "b.example.com")
    assert not rights.allowed_for(user, "change", "PAGE_SIZE", "c.example.com")  # no row: an unsaved one, no value


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.ViewOddRowsBackend"])
def test_row_by_row_answers_are_asked_for_the_action_in_question(django_user_model, rows):
    user = fresh(django_user_model.objects.create_user("viewer"))
    assert rights.allowed_anywhere(user, "view")
    assert not rights.allowed_anywhere(user, "change")
    assert rights.granted_hosts(user, "view") == ["", "a.example.com", "b.example.com", "c.example.com"]
    assert rights.granted_hosts(user, "change") == []
    assert rights.filter_allowed(user, SettingOverride.objects.all(), "change").count() == 0
    assert (
        sorted(rights.filter_viewable(user, SettingOverride.objects.all()).values_list("key", flat=True))
        == ["PAGE_SIZE"] * 4
    )


class UserWithoutActiveFlag:
    """A custom user model may lack ``is_active`` (Django's own permission checks then refuse it)."""

    pk = 1
    is_anonymous = False

    def has_perm(self, perm, obj=None):
        return False


class GenerousHooksBackend(BaseBackend):
    """Answers the listing hooks without looking at the user: rights must still check that the user is active."""

    def override_hosts(self, user_obj, perm):
        return ["a.example.com"]

    def override_scope(self, user_obj, perm):
        return Q(host="a.example.com")


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.GenerousHooksBackend"])
def test_a_user_that_does_not_say_it_is_active_gets_no_hosts_and_no_rows(rows):
    user = UserWithoutActiveFlag()
    assert rights.granted_hosts(user, "change") == []
    assert not rights.filter_allowed(user, SettingOverride.objects.all(), "change").exists()
    assert not rights.allowed_anywhere(user, "change")


class ChangeOnlyRowsBackend(BaseBackend):
    """Row by row: changing the rows of c.example.com, without the view permission (Django's admin then shows them)."""

    def has_perm(self, user_obj, perm, obj=None):
        return perm == "request_settings.change_settingoverride" and obj is not None and obj.host == "c.example.com"


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.ChangeOnlyRowsBackend"])
def test_rows_one_may_change_but_not_view_are_viewable(django_user_model, rows):
    user = fresh(django_user_model.objects.create_user("changer"))
    assert not rights.filter_allowed(user, SettingOverride.objects.all()).exists()
    viewable = rights.filter_viewable(user, SettingOverride.objects.all())
    assert sorted(viewable.values_list("key", "host")) == [
        ("PAGE_SIZE", "c.example.com"),
        ("SITE_TITLE", "c.example.com"),
    ]


class RecordingGrantBackend(GrantBackend):
    """GrantBackend noting on the user each row it is asked about."""

    def has_perm(self, user_obj, perm, obj=None):
        if obj is not None:
            user_obj.asked.append(("grants", obj.key, obj.host))
        return super().has_perm(user_obj, perm, obj)


class RecordingRowsBackend(CustomModelBackend):
    """The row-by-row backend above (rows of c.example.com), noting on the user each row it is asked about."""

    def has_perm(self, user_obj, perm, obj=None):
        if obj is not None:
            user_obj.asked.append(("rows", obj.key, obj.host))
        return super().has_perm(user_obj, perm, obj)


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.RecordingGrantBackend"])
def test_a_backend_with_a_query_hook_is_never_asked_row_by_row(django_user_model, rows):
    """A big table must not cost one permission check per row to list: the grants answer as one query."""
    user = django_user_model.objects.create_user("tenant")
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*")
    user = fresh(user)
    user.asked = []
    visible = rights.filter_allowed(user, SettingOverride.objects.all())
    assert sorted(visible.values_list("host", flat=True)) == ["a.example.com", "a.example.com"]
    assert rights.granted_hosts(user, "view") == ["a.example.com"]
    assert user.asked == []


@override_settings(AUTHENTICATION_BACKENDS=[f"{__name__}.RecordingRowsBackend", f"{__name__}.RecordingGrantBackend"])
def test_rows_the_query_grants_are_not_asked_about_again(django_user_model, rows):
    user = django_user_model.objects.create_user("both")
    SettingGrant.objects.create(user=user, hosts="a.example.com c.example.com", keys="SITE_TITLE")
    user = fresh(user)
    user.asked = []
    visible = rights.filter_allowed(user, SettingOverride.objects.all())
    assert sorted(visible.values_list("key", "host")) == [
        ("PAGE_SIZE", "c.example.com"),
        ("SITE_TITLE", "a.example.com"),
        ("SITE_TITLE", "c.example.com"),
    ]
    granted_by_query = {("SITE_TITLE", "a.example.com"), ("SITE_TITLE", "c.example.com")}
    asked = {(key, host) for _backend, key, host in user.asked}
    assert asked == {(key, host) for key, host in SettingOverride.objects.values_list("key", "host")} - granted_by_query


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, GRANTS, f"{__name__}.GenerousHooksBackend"])
def test_the_scopes_of_several_backends_add_up(django_user_model, rows):
    user = django_user_model.objects.create_user("tenant")
    SettingGrant.objects.create(user=user, hosts="b.example.com", keys="SITE_TITLE")
    visible = rights.filter_allowed(fresh(user), SettingOverride.objects.all())
    assert sorted(visible.values_list("key", "host")) == [
        ("PAGE_SIZE", "a.example.com"),
        ("SITE_TITLE", "a.example.com"),
        ("SITE_TITLE", "b.example.com"),
    ]


@override_settings(AUTHENTICATION_BACKENDS=[MODEL, f"{__name__}.NoPermsBackend"])
def test_a_backend_without_has_perm_is_never_asked_row_by_row(django_user_model, rows, django_assert_num_queries):
    user = fresh(django_user_model.objects.create_user("plain"))
    user.get_all_permissions()
    with django_assert_num_queries(0):  # no row is read to be asked about
        assert rights.filter_allowed(user, SettingOverride.objects.all()).count() == 0
