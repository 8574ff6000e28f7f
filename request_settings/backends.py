"""``GrantBackend``: per-host, per-key rights on the override table, from ``SettingGrant`` rows.

Add it to AUTHENTICATION_BACKENDS beside Django's ModelBackend. It never authenticates anyone and never answers
for the model permission alone (that stays full rights, from ModelBackend); it answers questions asked with a row,
``user.has_perm("request_settings.change_settingoverride", row)``, which is how every path of this app asks (see
``request_settings.rights``). A grant gives the module (the admin's index shows the app), viewing the rows in its
scope, and with ``can_edit`` adding, changing and deleting them. Keys the policy refuses stay refused.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from request_settings import policy
from request_settings.hosts import is_pattern
from request_settings.models import SettingGrant, get_override_model

_ACTIONS = ("view", "add", "change", "delete")
_CACHE = "_request_settings_grant_cache"


class GrantBackend:
    """Object permissions on override rows from ``SettingGrant`` (a user's own grants and their groups')."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        """Rights only: another backend logs people in."""
        return None

    def get_user(self, user_id: Any) -> None:
        return None

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        """For a row (saved or not) of the override model: whether a grant of the user covers its key and host."""
        action = self._action(perm)
        if action is None or obj is None or not isinstance(obj, get_override_model()):
            return False
        if policy.refusal(obj.key) is not None:
            return False  # a grant never lets a key past the policy
        return any(grant.covers(obj.key, obj.host) for grant in self._grants(user_obj, editing=action != "view"))

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        """A grant opens the override model's app in the admin (its index lists what the user may see)."""
        return app_label == get_override_model()._meta.app_label and bool(self._grants(user_obj, editing=False))

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        """The override permissions the user's grants give on ``obj``; none without a row (no model permission)."""
        if obj is None:
            return set()
        opts = get_override_model()._meta
        perms = (f"{opts.app_label}.{action}_{opts.model_name}" for action in _ACTIONS)
        return {perm for perm in perms if self.has_perm(user_obj, perm, obj)}

    def override_scope(self, user_obj: Any, perm: str) -> Q | None:
        """The rows the grants give ``perm`` on, as a query (``rights.filter_allowed`` uses it); None for none."""
        action = self._action(perm)
        if action is None:
            return None
        scope: Q | None = None
        for grant in self._grants(user_obj, editing=action != "view"):
            granted = _grant_scope(grant)
            if granted is not None:
                scope = granted if scope is None else scope | granted
        if scope is None:
            return None
        refused = [key for key in _stored_keys() if policy.refusal(key) is not None]
        return scope & ~Q(key__in=refused) if refused else scope

    def override_hosts(self, user_obj: Any, perm: str) -> list[str]:
        """The hosts of the grants that give ``perm`` (``rights.granted_hosts`` offers them as choices)."""
        action = self._action(perm)
        if action is None:
            return []
        grants = self._grants(user_obj, editing=action != "view")
        return sorted({host for grant in grants if grant.key_list() for host in grant.host_list()})

    @staticmethod
    def _action(perm: str) -> str | None:
        opts = get_override_model()._meta
        app_label, _, codename = perm.partition(".")
        action, _, model_name = codename.partition("_")
        if app_label != opts.app_label or model_name != opts.model_name or action not in _ACTIONS:
            return None
        return action

    @staticmethod
    def _grants(user_obj: Any, *, editing: bool) -> list[SettingGrant]:
        """The user's grants and their groups', read once per user object (as ModelBackend caches permissions)."""
        if not getattr(user_obj, "is_active", False) or getattr(user_obj, "is_anonymous", True):
            return []
        grants: list[SettingGrant] | None = getattr(user_obj, _CACHE, None)
        if grants is None:
            holders = Q(user=user_obj)
            groups = getattr(user_obj, "groups", None)  # a custom user model may have no groups
            if groups is not None:
                holders |= Q(group__in=groups.all())
            grants = list(SettingGrant.objects.filter(holders))
            setattr(user_obj, _CACHE, grants)
        return [grant for grant in grants if grant.can_edit] if editing else grants


def _grant_scope(grant: SettingGrant) -> Q | None:
    """One grant's rows as a query, the same judgement as ``SettingGrant.covers`` (tests hold them equal)."""
    patterns = grant.key_list()
    hosts = grant.host_list()
    if not patterns or not hosts:
        return None
    host_q = Q(pk__in=[])
    for host in hosts:
        if is_pattern(host):
            suffix = host[1:]  # ".example.com": every longer host ending with it, patterns included
            host_q |= Q(host__endswith=suffix) & ~Q(host=suffix)
        else:
            host_q |= Q(host=host)
    if "*" in patterns:
        return host_q
    key_q = Q(pk__in=[])
    for pattern in patterns:
        key_q |= Q(key__startswith=pattern[:-1]) if pattern.endswith("*") else Q(key=pattern)
    return host_q & key_q


def _stored_keys() -> list[str]:
    # order_by(): the model's default ordering would add host to the DISTINCT, one entry per row
    return list(get_override_model()._default_manager.order_by().values_list("key", flat=True).distinct())
