"""The site-facing editing view: staff without admin access set overrides in a form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect
from django.views.generic.edit import FormView

from request_settings import policy, rights
from request_settings.forms import (
    LIST_VALUE_CHARS,
    SettingOverrideForm,
    display_value,
    host_label,
    is_secret,
    value_text,
)
from request_settings.models import get_override_model

DRAFT = "_draft"
"""The name of the "Save as draft" button."""


# The view protects itself: its POST writes settings, whatever the project's MIDDLEWARE holds.
@method_decorator(csrf_protect, name="dispatch")
class SettingOverrideFormView(PermissionRequiredMixin, FormView):  # type: ignore[type-arg]
    """Set one override, outside the admin, with the rights of ``request_settings.rights``.

    The user needs to add and change somewhere: the model permissions (every key and host), or grants
    (``GrantBackend``), which limit the keys and hosts offered; each save is asked with its row, and "use the
    settings.py value" needs the delete right. Limit the page with ``keys`` (a list of keys; one key hides the key
    field) and ``host`` (``None``: the user picks a host; ``""``: the all-hosts row; a host name: that host), as class
    attributes or ``as_view(keys=[...], host=...)`` arguments. Anonymous users get the login redirect, others without
    rights a 403. The template ``request_settings/setting_override_form.html`` is a complete page; restyle it by
    extending it and overriding its ``style`` or ``content`` block (see the README).
    """

    form_class = SettingOverrideForm
    template_name = "request_settings/setting_override_form.html"
    keys: Sequence[str] | None = None
    host: str | None = None
    success_url: str | None = None
    title = "Change a setting"

    def has_permission(self) -> bool:
        user = self.request.user
        return rights.allowed_anywhere(user, "add") and rights.allowed_anywhere(user, "change")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "keys": self.keys, "host": self.host, "user": self.request.user}

    def get_form(self, form_class: Any = None) -> SettingOverrideForm:
        form: SettingOverrideForm = super().get_form(form_class)
        if form.offers_nothing:
            raise PermissionDenied  # rights somewhere, but on none of this page's keys and hosts
        return form

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        if self.keys and len(self.keys) == 1 and self.host is not None and not is_secret(self.keys[0]):
            key = self.keys[0]
            row = get_override_model()._default_manager.filter(key=key, host=self.host).first()
            base = policy.base_value(key)
            if row is not None:
                initial["value"] = value_text(key, row.value)
            elif base is not None:
                initial["value"] = value_text(key, base)
        return initial

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        rows = get_override_model()._default_manager.all()
        if self.keys:
            rows = rows.filter(key__in=self.keys)
        if self.host is not None:
            rows = rows.filter(host__in={"", self.host})
        rows = rights.filter_viewable(self.request.user, rows)
        context.update(
            title=self.title,
            fixed_host=None if self.host is None else host_label(self.host),
            current=[
                {
                    "key": row.key,
                    "host": host_label(row.host),
                    "value": display_value(row.key, row.value, limit=LIST_VALUE_CHARS),
                }
                for row in rows.order_by("key", "host")
            ],
            defaults=[
                {"key": key, "value": display_value(key, policy.base_value(key), limit=LIST_VALUE_CHARS)}
                for key in (self.keys or ())
            ],
            can_draft=self.request.user.is_staff,  # previewing a draft needs a staff account
        )
        return context

    def form_valid(self, form: SettingOverrideForm) -> HttpResponse:
        if DRAFT in self.request.POST:
            return self.draft_valid(form)
        try:
            row = form.save(user=self.request.user)
        except ValidationError as error:  # the write API re-validates: a policy change since clean() lands here
            form.add_error(None, error)
            return self.form_invalid(form)
        data = form.cleaned_data
        where = host_label(data["host"])
        if row is None:
            messages.success(self.request, f"{data['key']} for {where} now uses the settings.py value.")
        else:
            shown = display_value(row.key, row.value, limit=LIST_VALUE_CHARS)
            messages.success(self.request, f"{row.key} for {where} is now {shown}.")
        return super().form_valid(form)

    def draft_valid(self, form: SettingOverrideForm) -> HttpResponse:
        """The "Save as draft" button: the same checks and rights, written to the user's drafts (staff only)."""
        if not self.request.user.is_staff:
            form.add_error(None, "Only staff can save drafts: previewing them needs a staff account.")
            return self.form_invalid(form)
        try:
            draft = form.save_draft(user=self.request.user)
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        where = host_label(draft.host)
        change = "removal" if draft.remove else display_value(draft.key, draft.value, limit=LIST_VALUE_CHARS)
        messages.success(
            self.request,
            f"Saved as a draft: {draft.key} for {where} ({change}). Nobody else sees it; turn preview on to try it.",
        )
        return super().form_valid(form)

    def get_success_url(self) -> str:
        return self.success_url or self.request.get_full_path()
