"""Who may view, add, change or delete which overrides: Django's permissions, asked with the object.

Every path (admin, site form, JSON API) asks here, so they agree. The model permission alone keeps full rights;
without it, Django's ``user.has_perm(perm, obj)`` asks the object-permission backends (``GrantBackend``,
django-rules, django-guardian) about the row, or about an unsaved row for a key and host with no row yet. Django's
ModelBackend answers no as soon as an object is passed, hence two questions: without the object first, then with it.

Listing the rows a user may see cannot ask about each row of a big table: a backend may answer with a query
(``override_scope(user_obj, perm) -> Q | None``, as ``GrantBackend`` does). Rows no such backend grants are asked
about one by one only when some other backend that takes objects is installed (ModelBackend never grants one).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from django.contrib.auth import get_backends
from django.contrib.auth.backends import ModelBackend
from django.db.models import Model, Q, QuerySet

from request_settings.models import AbstractSettingOverride, get_override_model

Action = Literal["view", "add", "change", "delete"]
ACTIONS: tuple[Action, ...] = ("view", "add", "change", "delete")

_Row = TypeVar("_Row", bound=Model)


def permission(action: Action) -> str:
    """``"<app_label>.<action>_<model_name>"`` of the override model (swappable, so not a constant)."""
    opts = get_override_model()._meta
    return f"{opts.app_label}.{action}_{opts.model_name}"


def override_for(key: str, host: str) -> AbstractSettingOverride:
    """An unsaved row: what the permission system is asked about for a key and host that has no row (yet)."""
    return get_override_model()(key=key, host=host)


def allowed(user: Any, action: Action, obj: AbstractSettingOverride | None = None) -> bool:
    """May ``user`` do ``action`` on ``obj``: the model permission, else the same permission asked with ``obj``.

    Without ``obj`` only the model permission counts (full rights on every row).
    """
    perm = permission(action)
    return bool(user.has_perm(perm) or (obj is not None and user.has_perm(perm, obj)))


def allowed_for(user: Any, action: Action, key: str, host: str) -> bool:
    """``allowed()`` about the row of ``(key, host)``, or an unsaved one when there is none."""
    if user.has_perm(permission(action)):
        return True
    row = get_override_model()._default_manager.filter(key=key, host=host).first()
    return allowed(user, action, row if row is not None else override_for(key, host))


def allowed_anywhere(user: Any, action: Action) -> bool:
    """May ``user`` do ``action`` on at least some rows (or, for "add", some key and host): opens the admin screens.

    True with the model permission, or when a backend's scope grants something; with other object-permission
    backends, when one of the existing rows is allowed.
    """
    perm = permission(action)
    if user.has_perm(perm):
        return True
    scope, ask_each_row = _scope(user, perm)
    if scope is not None:
        return True
    if not ask_each_row:
        return False
    return any(user.has_perm(perm, row) for row in get_override_model()._default_manager.iterator())


def granted_hosts(user: Any, action: Action) -> list[str] | None:
    """The row hosts ``user`` may ``action`` on, to offer as choices: None means any host (model permission).

    ``""`` is the all-hosts rows and ``*.example.com`` a pattern (its subdomains too). From backends that say which
    hosts they grant (``override_hosts(user_obj, perm)``, as ``GrantBackend`` does) and from the rows allowed.
    """
    perm = permission(action)
    if user.has_perm(perm):
        return None
    hosts: set[str] = set()
    if getattr(user, "is_active", False):
        for backend in get_backends():
            hook = getattr(backend, "override_hosts", None)
            if hook is not None:
                hosts.update(hook(user, perm))
    rows = filter_allowed(user, get_override_model()._default_manager.all(), action)
    hosts.update(rows.order_by("host").values_list("host", flat=True).distinct())  # not the default (host, key)
    return sorted(hosts)


def filter_allowed(user: Any, queryset: QuerySet[_Row], action: Action = "view") -> QuerySet[_Row]:
    """The rows of ``queryset`` (override rows) that ``user`` may ``action``: a queryset, so counts stay in SQL."""
    perm = permission(action)
    if user.has_perm(perm):
        return queryset
    scope, ask_each_row = _scope(user, perm)
    granted = scope if scope is not None else Q(pk__in=[])
    if ask_each_row:
        rest = queryset.exclude(granted) if scope is not None else queryset
        extra = [row.pk for row in rest.iterator() if user.has_perm(perm, row)]
        granted |= Q(pk__in=extra)
    rows: QuerySet[_Row] = queryset.filter(granted)
    return rows


def filter_viewable(user: Any, queryset: QuerySet[_Row]) -> QuerySet[_Row]:
    """The rows ``user`` may see: those they may view or change (Django's admin shows a row for either)."""
    visible = filter_allowed(user, queryset, "view")
    if visible is queryset:
        return queryset
    if user.has_perm(permission("change")):
        return queryset
    both: QuerySet[_Row] = visible | filter_allowed(user, queryset, "change")
    return both


def _scope(user: Any, perm: str) -> tuple[Q | None, bool]:
    """The rows backends grant by query (None: none), and whether another backend must be asked row by row."""
    scope: Q | None = None
    ask_each_row = False
    if not getattr(user, "is_active", False):
        return None, False
    for backend in get_backends():
        hook = getattr(backend, "override_scope", None)
        if hook is not None:
            granted = hook(user, perm)
            if granted is not None:
                scope = granted if scope is None else scope | granted
        elif _may_grant_objects(backend):
            ask_each_row = True
    return scope, ask_each_row


def _may_grant_objects(backend: object) -> bool:
    """Whether ``backend.has_perm(user, perm, obj)`` can say yes: ModelBackend as Django ships it never does."""
    if not hasattr(backend, "has_perm"):
        return False
    if isinstance(backend, ModelBackend):
        cls = type(backend)
        return not (
            cls.has_perm is ModelBackend.has_perm and cls.get_all_permissions is ModelBackend.get_all_permissions
        )
    return True
