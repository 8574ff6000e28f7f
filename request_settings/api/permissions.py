"""Who may see and change which overrides through the API: ``request_settings.rights``, asked with the object.

The model permission alone keeps full rights; without it, an object-permission backend (``GrantBackend``,
django-rules, django-guardian) is asked about the row, or an unsaved row for a key and host with no row yet.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from request_settings.models import AbstractSettingOverride
from request_settings.rights import Action, allowed


class OverridePermission(BasePermission):
    """Signed-in users pass the view; each row is then checked with its action (view, add, change, delete)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return allowed(request.user, action_for(request.method or "GET", obj), obj)


def action_for(method: str, obj: AbstractSettingOverride) -> Action:
    """The permission a method needs on ``obj``: PUT adds when the row does not exist yet, changes otherwise."""
    if method in SAFE_METHODS:
        return "view"
    if method == "DELETE":
        return "delete"
    return "add" if obj._state.adding else "change"
