"""GrantBackend through Django's own ``user.has_perm``: what a grant gives, and what it never gives."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.test import override_settings

from request_settings.backends import GrantBackend
from request_settings.models import SettingGrant, SettingOverride

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("grant_backend"),
]

BACKENDS = ["django.contrib.auth.backends.ModelBackend", "request_settings.backends.GrantBackend"]
PERM = "request_settings.{}_settingoverride"


@pytest.fixture
def grant_backend():
    with override_settings(AUTHENTICATION_BACKENDS=BACKENDS):
        yield


def row(key="SESSION_EXPIRE_SECONDS", host="a.example.com"):
    return SettingOverride(key=key, host=host, value=1)


def fresh(user):
    """The user as the next request loads it (grants are read once per user object, like Django's perm cache)."""
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def tenant(django_user_model):
    user = django_user_model.objects.create_user("tenant", is_staff=True)
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*", can_edit=True)
    return fresh(user)


@pytest.mark.parametrize("action", ["view", "add", "change", "delete"])
def test_a_tenant_editor_has_every_right_on_their_host_and_none_elsewhere(tenant, action):
    perm = PERM.format(action)
    assert tenant.has_perm(perm, row(host="a.example.com"))
    assert not tenant.has_perm(perm, row(host="b.example.com"))
    assert not tenant.has_perm(perm, row(host=""))  # the all-hosts row
    assert not tenant.has_perm(perm, row(host="*.example.com"))  # an exact-host grant never covers a pattern row
    assert not tenant.has_perm(perm)  # never the model permission: that would be every row


def test_a_saved_row_is_judged_like_an_unsaved_one(tenant):
    mine = SettingOverride.objects.set("SITE_TITLE", "A", host="a.example.com")
    theirs = SettingOverride.objects.set("SITE_TITLE", "B", host="b.example.com")
    assert tenant.has_perm(PERM.format("change"), mine)
    assert not tenant.has_perm(PERM.format("change"), theirs)


@pytest.mark.parametrize(("action", "granted"), [("view", True), ("add", False), ("change", False), ("delete", False)])
def test_a_view_only_grant_gives_view_only(django_user_model, action, granted):
    user = django_user_model.objects.create_user("viewer")
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*", can_edit=False)
    assert fresh(user).has_perm(PERM.format(action), row()) is granted


def test_group_grants_count_for_every_member(django_user_model):
    group = Group.objects.create(name="shop-a staff")
    SettingGrant.objects.create(group=group, hosts="*.shop-a.example.com", keys="SESSION_*", can_edit=True)
    member = django_user_model.objects.create_user("member")
    member.groups.add(group)
    outsider = django_user_model.objects.create_user("outsider")

    assert fresh(member).has_perm(PERM.format("change"), row(host="eu.shop-a.example.com"))
    assert not fresh(member).has_perm(PERM.format("change"), row(host="shop-a.example.com"))  # not the apex
    assert not fresh(outsider).has_perm(PERM.format("view"), row(host="eu.shop-a.example.com"))


def test_a_session_grant_cannot_touch_csrf_cookie_age(django_user_model):
    user = django_user_model.objects.create_user("sessions")
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="SESSION_*", can_edit=True)
    user = fresh(user)
    assert user.has_perm(PERM.format("change"), row("SESSION_COOKIE_AGE"))
    for action in ("view", "add", "change", "delete"):
        assert not user.has_perm(PERM.format(action), row("CSRF_COOKIE_AGE"))


@pytest.mark.parametrize("key", ["SECRET_KEY", "DEBUG", "REQUEST_SETTINGS_ENABLED", "EMAIL_HOST", "lower"])
def test_a_grant_never_lets_a_key_past_the_policy(tenant, key):
    for action in ("view", "add", "change", "delete"):
        assert not tenant.has_perm(PERM.format(action), row(key))


def test_several_grants_add_up_and_the_editing_one_decides_edits(django_user_model):
    user = django_user_model.objects.create_user("two")
    SettingGrant.objects.create(user=user, hosts="a.example.com b.example.com", keys="*", can_edit=False)
    SettingGrant.objects.create(user=user, hosts="b.example.com", keys="SITE_*", can_edit=True)
    user = fresh(user)
    assert user.has_perm(PERM.format("view"), row("SESSION_COOKIE_AGE", "a.example.com"))
    assert not user.has_perm(PERM.format("change"), row("SESSION_COOKIE_AGE", "b.example.com"))
    assert user.has_perm(PERM.format("change"), row("SITE_TITLE", "b.example.com"))
    assert not user.has_perm(PERM.format("change"), row("SITE_TITLE", "a.example.com"))


def test_inactive_and_anonymous_users_get_nothing(django_user_model):
    user = django_user_model.objects.create_user("gone", is_active=False)
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*", can_edit=True)
    backend = GrantBackend()
    assert not backend.has_perm(fresh(user), PERM.format("view"), row())
    assert not backend.has_module_perms(fresh(user), "request_settings")
    assert not AnonymousUser().has_perm(PERM.format("view"), row())
    assert backend.override_scope(AnonymousUser(), PERM.format("view")) is None


def test_other_permissions_and_objects_are_not_its_business(tenant):
    backend = GrantBackend()
    assert not backend.has_perm(tenant, "auth.change_user", row())
    assert not backend.has_perm(tenant, "request_settings.change_settinggrant", row())
    assert not backend.has_perm(tenant, "request_settings.approve_settingoverride", row())
    assert not backend.has_perm(tenant, PERM.format("change"), tenant)  # not an override row
    assert backend.override_scope(tenant, "auth.change_user") is None


def test_module_permission_opens_the_app_only(tenant, django_user_model):
    assert tenant.has_module_perms("request_settings")
    assert not tenant.has_module_perms("auth")
    assert not django_user_model.objects.create_user("nobody").has_module_perms("request_settings")


def test_a_view_only_grant_opens_the_module_too(django_user_model):
    """A grant without can_edit still shows the app in the admin's index: its holder may look at their rows."""
    user = django_user_model.objects.create_user("viewer", is_staff=True)
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*", can_edit=False)
    assert fresh(user).has_module_perms("request_settings")


def test_all_permissions_on_an_object(tenant, django_user_model):
    backend = GrantBackend()
    everything = {PERM.format(action) for action in ("view", "add", "change", "delete")}
    assert backend.get_all_permissions(tenant, row()) == everything
    assert backend.get_all_permissions(tenant, row(host="b.example.com")) == set()
    assert backend.get_all_permissions(tenant) == set()


def test_superusers_and_model_permissions_are_untouched(django_user_model):
    boss = django_user_model.objects.create_superuser("boss")
    assert boss.has_perm(PERM.format("delete"), row(host="anything.example.org"))
    operator = django_user_model.objects.create_user("operator")
    operator.user_permissions.add(Permission.objects.get(codename="change_settingoverride"))
    assert fresh(operator).has_perm(PERM.format("change"))  # ModelBackend, without an object: full rights


def test_grants_are_read_once_per_user_object(tenant, django_assert_num_queries):
    tenant.has_perm(PERM.format("view"), row())
    with django_assert_num_queries(0):
        for host in ("a.example.com", "b.example.com", "c.example.com"):
            tenant.has_perm(PERM.format("change"), row(host=host))


def test_the_policy_is_asked_once_per_stored_key_not_once_per_row(tenant, monkeypatch):
    from request_settings import backends, policy

    SettingOverride.objects.bulk_create(
        SettingOverride(key=key, host=f"h{number}.example.com", value=1)
        for number in range(50)
        for key in ("SITE_TITLE", "SECRET_KEY")
    )
    asked = []
    real = policy.refusal
    monkeypatch.setattr(policy, "refusal", lambda key: asked.append(key) or real(key))

    scope = GrantBackend().override_scope(tenant, PERM.format("view"))

    assert sorted(asked) == ["SECRET_KEY", "SITE_TITLE"]
    assert sorted(backends._stored_keys()) == ["SECRET_KEY", "SITE_TITLE"]
    assert not SettingOverride.objects.filter(scope).exists()  # none on a.example.com


def test_the_hosts_offered_are_those_of_the_grants_that_give_the_right(django_user_model):
    user = django_user_model.objects.create_user("two")
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="*", can_edit=False)
    SettingGrant.objects.create(user=user, hosts="b.example.com", keys="SITE_*", can_edit=True)
    backend, user = GrantBackend(), fresh(user)
    assert backend.override_hosts(user, PERM.format("view")) == ["a.example.com", "b.example.com"]
    assert backend.override_hosts(user, PERM.format("change")) == ["b.example.com"]  # a view-only grant: not here
    assert backend.override_hosts(user, "auth.change_user") == []


def test_a_grant_of_no_key_opens_no_screen(django_user_model):
    from request_settings import rights

    user = django_user_model.objects.create_user("nothing", is_staff=True)
    SettingGrant.objects.create(user=user, hosts="a.example.com", keys="", can_edit=True)
    user = fresh(user)
    assert GrantBackend().override_scope(user, PERM.format("change")) is None
    assert not rights.allowed_anywhere(user, "view")
    assert not rights.allowed_anywhere(user, "add")


class UserObject:
    """A user object of a custom model may lack ``is_active`` or ``is_anonymous``: without them it gets nothing."""

    pk = 1

    def __init__(self, **flags):
        self.__dict__.update(flags)


@pytest.mark.parametrize("flags", [{"is_anonymous": False}, {"is_active": True}])
def test_a_user_object_that_does_not_say_it_is_active_and_known_gets_no_grant(flags, django_assert_num_queries):
    backend = GrantBackend()
    with django_assert_num_queries(0):  # not even a look for grants
        assert not backend.has_perm(UserObject(**flags), PERM.format("view"), row())
        assert not backend.has_module_perms(UserObject(**flags), "request_settings")
        assert backend.override_hosts(UserObject(**flags), PERM.format("view")) == []
