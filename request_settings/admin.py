"""The admin of the override table: typed editing, effective settings per host, history.

Every write goes through ``SettingOverride.objects.set`` / ``unset`` (validation, audit,
invalidation, signal), never through ``Model.save``/``delete``; secrets are masked wherever values
are shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from request_settings import audit, policy
from request_settings.conf.settings import settings as conf
from request_settings.forms import SettingOverrideAdminForm, display_value, host_label, is_secret
from request_settings.hosts import normalise_host
from request_settings.models import SettingOverrideChange, get_override_model

_MISSING = object()
_NOT_SET = "—"


class HostFilter(admin.SimpleListFilter):
    """Filter by host, showing "" as "(all hosts)"."""

    title = "host"
    parameter_name = "host"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        hosts = model_admin.get_queryset(request).order_by("host").values_list("host", flat=True).distinct()
        return [(host, host_label(host)) for host in hosts]

    def choices(self, changelist: Any) -> Any:
        # The default marks "All" as selected for host="" (all hosts) too, as "" is falsy:
        # compare to None instead.
        selected = self.value()
        for choice in super().choices(changelist):
            if "display" in choice and choice["display"] == "All":
                choice["selected"] = selected is None
            yield choice

    def value(self) -> str | None:
        value = self.used_parameters.get(self.parameter_name)
        if isinstance(value, list):  # Django >= 5.0 keeps lists
            value = value[-1] if value else None
        return None if value is None else str(value)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(host=value)


class SettingOverrideAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = SettingOverrideAdminForm
    list_display = [
        "key",
        "host_display",
        "value_display",
        "base_display",
        "updated_by",
        "updated_at",
        "history",
    ]
    list_display_links = ["key"]
    list_filter = [HostFilter, "key"]
    search_fields = ["key", "host"]
    change_list_template = "admin/request_settings/change_list.html"
    change_form_template = "admin/request_settings/change_form.html"
    effective_template = "admin/request_settings/effective.html"
    audit_template = "admin/request_settings/audit.html"

    # -- changelist columns ------------------------------------------------------------------------

    @admin.display(description="host", ordering="host")
    def host_display(self, obj: Any) -> str:
        return host_label(obj.host)

    @admin.display(description="value")
    def value_display(self, obj: Any) -> str:
        return display_value(obj.key, obj.value)

    @admin.display(description="settings.py value")
    def base_display(self, obj: Any) -> str:
        return _base_text(obj.key)

    @admin.display(description="history")
    def history(self, obj: Any) -> str:
        return format_html('<a href="{}">{}</a>', _audit_url(self, obj.key, obj.host), "history")

    # -- forms -------------------------------------------------------------------------------------

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["key", "host", "value"]
        shown = "value" if self.has_change_permission(request, obj) else "value_display"
        return ["key", "host_display", shown, "base_display", "updated_by", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        # "host" is listed so that the form's declared host field goes too (the page shows
        # host_display).
        return [
            "key",
            "host",
            "host_display",
            "value_display",
            "base_display",
            "updated_by",
            "updated_at",
        ]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        manager = self.model._default_manager
        data = form.cleaned_data
        key = obj.key if change else data["key"]
        host = obj.host if change else data["host"]
        existing = manager.filter(key=key, host=host).first()
        if not change and existing is not None:
            if not self.has_change_permission(request, existing):
                raise PermissionDenied  # an add that would update a row needs the change permission
            obj._request_settings_old_value = existing.value
        row = manager.set(key, data["value"], host=host, user=request.user)
        # The admin goes on with ``obj`` (log entry, message, redirect): make it the row
        # the write API wrote.
        obj.pk = row.pk
        for field in row._meta.concrete_fields:
            setattr(obj, field.attname, getattr(row, field.attname))
        obj._state.adding = False
        obj._state.db = row._state.db
        if not policy.is_checked(key):
            self.message_user(request, f"The value of {key} is not checked: {policy.UNCHECKED_WHY}", messages.WARNING)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing related to save; ``form.save_m2m`` does not exist on our save path."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if hasattr(obj, "_request_settings_old_value"):
            return self.log_change(request, obj, [{"changed": {"fields": ["value"]}}])
        return super().log_addition(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        if not hasattr(obj, "_request_settings_old_value") or IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            format_html(
                "The {} “{}” already existed, so it was updated: {} → {}.",
                self.opts.verbose_name,
                str(obj),
                display_value(obj.key, obj._request_settings_old_value),
                display_value(obj.key, obj.value),
            ),
            messages.SUCCESS,
        )
        info = self.opts.app_label, self.opts.model_name
        if "_continue" in request.POST:
            return HttpResponseRedirect(reverse("admin:{}_{}_change".format(*info), args=[quote(obj.pk)]))
        if "_addanother" in request.POST:
            return HttpResponseRedirect(request.path)
        return self.response_post_save_change(request, obj)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.model._default_manager.unset(obj.key, host=obj.host, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic(using=queryset.db):
            for obj in queryset:
                self.model._default_manager.unset(obj.key, host=obj.host, user=request.user)

    # -- extra views -------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("effective/", wrap(self.effective_view), name="{}_{}_effective".format(*info)),
            path("audit/", wrap(self.audit_view), name="{}_{}_audit".format(*info)),
            path(
                "audit/<int:change_id>/revert/",
                wrap(require_POST(self.revert_view)),
                name="{}_{}_revert".format(*info),
            ),
            *super().get_urls(),
        ]

    def effective_view(self, request: HttpRequest) -> HttpResponse:
        """For one host: per key, settings.py, the all-hosts and host overrides, and what wins."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        host = normalise_host(request.GET.get("host", ""))
        rows = list(self.model._default_manager.filter(host__in={"", host}).values_list("key", "host", "value"))
        overrides: dict[str, dict[str, Any]] = {}
        for key, row_host, value in rows:
            overrides.setdefault(key, {})["host" if row_host else "all"] = value
        in_use = self.model._default_manager.values_list("key", flat=True).distinct()
        keys = sorted(set(in_use) | set(conf.FIELDS))
        lines = [_effective_line(key, host, overrides.get(key, {})) for key in keys]
        hosts = self.model._default_manager.exclude(host="").order_by("host").values_list("host", flat=True)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Effective settings for {host_label(host)}",
            "host": host,
            "host_label": host_label(host),
            "hosts": list(hosts.distinct()),
            "lines": lines,
            "enabled": conf.ENABLED,
        }
        return TemplateResponse(request, self.effective_template, context)

    def audit_view(self, request: HttpRequest) -> HttpResponse:
        """The audit trail of one (key, host), newest first, with a revert button per value."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        key = request.GET.get("key", "")
        host = normalise_host(request.GET.get("host", ""))
        changes = SettingOverrideChange.objects.filter(key=key, host=host).select_related("user")
        current = self.model._default_manager.filter(key=key, host=host).first()
        can_revert = self.has_change_permission(request) and (current is not None or self.has_add_permission(request))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"History of {key} for {host_label(host)}",
            "key": key,
            "host": host,
            "host_label": host_label(host),
            "current": None if current is None else display_value(key, current.value),
            "current_url": None
            if current is None
            else reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[quote(current.pk)],
            ),
            "changes": [
                {
                    "change": change,
                    "old": _NOT_SET if change.action == change.Action.CREATED else display_value(key, change.old_value),
                    "new": _NOT_SET if change.action == change.Action.DELETED else display_value(key, change.new_value),
                    "user": change.user.get_username() if change.user else change.username or _NOT_SET,
                    "revertible": can_revert and audit.can_revert_to(change),
                }
                for change in changes
            ],
        }
        return TemplateResponse(request, self.audit_template, context)

    def revert_view(self, request: HttpRequest, change_id: int) -> HttpResponse:
        """POST only (CSRF-protected by admin_view): set the key back to the value a change left."""
        change = get_object_or_404(SettingOverrideChange, pk=change_id)
        current = self.model._default_manager.filter(key=change.key, host=change.host).first()
        if not self.has_change_permission(request, current) or (
            current is None and not self.has_add_permission(request)
        ):
            raise PermissionDenied
        try:
            row = audit.revert(change, user=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.log_change(request, row, [{"changed": {"fields": ["value"]}}])
            self.message_user(
                request,
                f"{row} was reverted to {display_value(row.key, row.value)} "
                f"(the value of {change.changed_at:%Y-%m-%d %H:%M:%S}).",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(_audit_url(self, change.key, change.host))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        info = self.opts.app_label, self.opts.model_name
        extra = {
            "effective_url": reverse("admin:{}_{}_effective".format(*info)),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            extra["audit_url"] = _audit_url(self, obj.key, obj.host)
        return super().change_view(request, object_id, form_url, extra)


def _audit_url(model_admin: admin.ModelAdmin[Any], key: str, host: str) -> str:
    info = model_admin.opts.app_label, model_admin.opts.model_name
    return reverse("admin:{}_{}_audit".format(*info)) + "?" + urlencode({"key": key, "host": host})


def _base_text(key: str) -> str:
    base = policy.base_value(key, _MISSING)
    return "(not in settings.py)" if base is _MISSING else display_value(key, base)


def _effective_line(key: str, host: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """One row of the effective-settings page; a row the snapshot skips shows as ignored."""
    reason = policy.refusal(key)
    applied: dict[str, bool] = {}
    for scope, value in overrides.items():
        applied[scope] = reason is None and policy.value_problem(key, value) is None
    base = policy.base_value(key, _MISSING)
    if not conf.ENABLED:
        effective, source = base, "settings.py (overrides are disabled)"
    elif host and applied.get("host"):
        effective, source = overrides["host"], "this host"
    elif applied.get("all"):
        effective, source = overrides["all"], "all hosts"
    else:
        effective, source = base, "settings.py"

    def shown(scope: str) -> str:
        if scope not in overrides:
            return _NOT_SET
        text = display_value(key, overrides[scope])
        return text if applied[scope] else f"{text} (ignored: {reason or 'invalid value'})"

    return {
        "key": key,
        "base": _base_text(key),
        "all": shown("all"),
        "host": shown("host") if host else _NOT_SET,
        "effective": "(not set)" if effective is _MISSING else display_value(key, effective),
        "source": source,
        "secret": is_secret(key),
    }


def _register(model: type[Model]) -> None:
    if not admin.site.is_registered(model):
        admin.site.register(model, SettingOverrideAdmin)


_register(get_override_model())
