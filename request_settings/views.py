"""The site-facing editing view: staff without admin access set overrides in a form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.views.generic.edit import FormView

from request_settings import policy
from request_settings.forms import (
    SettingOverrideForm,
    display_value,
    host_label,
    is_secret,
    value_text,
)
from request_settings.models import get_override_model


class SettingOverrideFormView(PermissionRequiredMixin, FormView):  # type: ignore[type-arg]
    """Set one override, outside the admin; the model's add and change permissions are required.

    Limit it with ``keys`` (a list of keys; one key hides the key field) and ``host`` (``None``:
    the user types a host, empty for all; ``""``: the all-hosts row; a host name: that host), as
    class attributes or ``as_view(keys=[...], host=...)`` arguments. Anonymous users get the login
    redirect, others without the permissions a 403. Override the template
    ``request_settings/setting_override_form.html`` to fit the site.
    """

    form_class = SettingOverrideForm
    template_name = "request_settings/setting_override_form.html"
    keys: Sequence[str] | None = None
    host: str | None = None
    success_url: str | None = None
    title = "Change a setting"

    def get_permission_required(self) -> tuple[str, ...]:
        opts = get_override_model()._meta
        return (
            f"{opts.app_label}.add_{opts.model_name}",
            f"{opts.app_label}.change_{opts.model_name}",
        )

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "keys": self.keys, "host": self.host}

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        if self.keys and len(self.keys) == 1 and self.host is not None:
            key = self.keys[0]
            row = get_override_model()._default_manager.filter(key=key, host=self.host).first()
            base = policy.base_value(key)
            if row is not None and not is_secret(key):
                initial["value"] = value_text(key, row.value)
            elif base is not None and not is_secret(key):
                initial["value"] = value_text(key, base)
        return initial

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        rows = get_override_model()._default_manager.all()
        if self.keys:
            rows = rows.filter(key__in=self.keys)
        if self.host is not None:
            rows = rows.filter(host__in={"", self.host})
        context.update(
            title=self.title,
            fixed_host=None if self.host is None else host_label(self.host),
            current=[
                {
                    "key": row.key,
                    "host": host_label(row.host),
                    "value": display_value(row.key, row.value),
                }
                for row in rows.order_by("key", "host")
            ],
            defaults=[{"key": key, "value": display_value(key, policy.base_value(key))} for key in (self.keys or ())],
        )
        return context

    def form_valid(self, form: SettingOverrideForm) -> HttpResponse:
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
            messages.success(self.request, f"{row.key} for {where} is now {display_value(row.key, row.value)}.")
        return super().form_valid(form)

    def get_success_url(self) -> str:
        return self.success_url or self.request.get_full_path()
