"""The admin of the override table and of the grants: typed editing, effective settings per host, history.

Every write goes through ``SettingOverride.objects.set`` / ``unset`` (validation, audit, invalidation, signal),
never through ``Model.save``/``delete``. Every read and write asks ``request_settings.rights`` with the row, so a
user holding grants (``GrantBackend``) or any object permissions sees and edits only their rows, and a user with the
model permissions everything. Secrets are masked wherever values are shown, and long values are cut in lists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import router, transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from request_settings import audit, effective, policy, preview, rights, schedules
from request_settings.conf.settings import settings as conf
from request_settings.forms import (
    HOST_HELP,
    LIST_VALUE_CHARS,
    SECRET_HELP,
    DatalistTextInput,
    SettingOverrideAdminForm,
    ValueTextField,
    clean_host,
    clean_key,
    clean_value,
    display_value,
    host_label,
    is_secret,
    known_keys,
    valid_kept,
    value_help,
    value_text,
)
from request_settings.hosts import is_pattern, pattern_covers
from request_settings.models import (
    SettingDraft,
    SettingGrant,
    SettingOverrideChange,
    SettingSchedule,
    get_override_model,
    same_value,
)

_MISSING = object()
_NOT_SET = "—"
_HIDDEN = "(hidden: no right to view this key here)"
_Action = SettingOverrideChange.Action
_NO_OLD_VALUE = frozenset({_Action.CREATED, _Action.SCHEDULED, _Action.TOOK_EFFECT})
_NO_NEW_VALUE = frozenset({_Action.DELETED, _Action.UNSCHEDULED, _Action.LOST_EFFECT})
HOST_CHOICES_SHOWN = 10
"""Hosts listed as links in the changelist's host filter; the others are found by typing (autocomplete)."""
HOST_SUGGESTIONS = 20
"""Hosts one autocomplete answer holds."""
EFFECTIVE_PER_PAGE = 100
AUDIT_PER_PAGE = 100
DRAFT = "_draft"
"""The name of the "Save as draft" button of the override form."""


class HostFilter(admin.SimpleListFilter):
    """Filter by host: a few hosts as links, any other found by typing (a search box with autocomplete).

    Listing every host would weigh megabytes with many tenants. "" shows as "(all hosts)"; a typed host goes
    through the one host rule (``hosts.clean_host``), so ``A.Example.com:8000`` finds ``a.example.com``.
    """

    title = "host"
    parameter_name = "host"
    template = "admin/request_settings/host_filter.html"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        opts = model_admin.opts
        self.autocomplete_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_hosts")
        hosts = model_admin.get_queryset(request).order_by("host").values_list("host", flat=True).distinct()
        shown = list(hosts[:HOST_CHOICES_SHOWN])
        selected = self.value()
        if selected is not None and selected not in shown:
            shown.append(selected)
        return [(host, host_label(host)) for host in shown]

    def has_output(self) -> bool:
        return True  # the search box, even before any row exists

    def choices(self, changelist: Any) -> Any:
        # The default marks "All" as selected for host="" (all hosts) too, as "" is falsy: compare to None instead.
        self.other_params = [
            (name, value) for name, value in changelist.params.items() if name not in (self.parameter_name, PAGE_VAR)
        ]
        selected = self.value()
        for choice in super().choices(changelist):
            if "display" in choice and choice["display"] == "All":
                choice["selected"] = selected is None
            yield choice

    def value(self) -> str | None:
        value = self.used_parameters.get(self.parameter_name)
        if isinstance(value, list):  # Django >= 5.0 keeps lists
            value = value[-1] if value else None
        if value is None:
            return None
        try:
            return clean_host(str(value))
        except ValidationError:
            return str(value)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.used_parameters.get(self.parameter_name)
        if isinstance(value, list):
            value = value[-1] if value else None
        if value is None:
            return queryset
        try:
            host = clean_host(str(value))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            host = None
        rows: QuerySet[Any] = queryset.none() if host is None else queryset.filter(host=host)
        return rows


def _nul_refused(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``view``, answering 400 to a query string holding a NUL character: PostgreSQL refuses one in any text, even in
    a WHERE clause, so a filter such as ``?key=A%00B`` would be a server error there (and finds nothing anywhere)."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if any("\x00" in name or any("\x00" in value for value in values) for name, values in request.GET.lists()):
            raise BadRequest("A NUL character in the query string.")
        return view(request, *args, **kwargs)

    return guarded


class _AppAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The base of the app's admins: every view of theirs, Django's and ours, refuses a NUL in the query string."""

    def get_urls(self) -> list[URLPattern]:
        urls = [*self._own_urls(), *super().get_urls()]
        for url in urls:
            url.callback = _nul_refused(url.callback)
        return urls

    def _own_urls(self) -> list[URLPattern]:
        """The admin's own views, before Django's (whose ``<path:object_id>/`` would take their paths)."""
        return []


class _RefusedWriteIsAMessage(_AppAdmin):
    """The write API checks again, under its lock, what the form checked: a change someone saved meanwhile can make
    it refuse. The page is shown again with the reason (nothing written: the view's transaction rolls back), not a
    server error."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class SettingOverrideAdmin(_RefusedWriteIsAMessage):
    form = SettingOverrideAdminForm
    list_display = ["key", "host_display", "value_display", "base_display", "updated_by", "updated_at", "history"]
    list_display_links = ["key"]
    list_filter = [HostFilter, "key"]
    search_fields = ["key", "host"]
    change_list_template = "admin/request_settings/change_list.html"
    change_form_template = "admin/request_settings/change_form.html"
    effective_template = "admin/request_settings/effective.html"
    audit_template = "admin/request_settings/audit.html"
    filterable_fields = frozenset({"key", "host"})
    """The only fields a changelist URL may filter on: never ``value`` (a masked secret would leak letter by letter
    through ``value__startswith``), nor a relation."""

    # -- rights: every question goes to request_settings.rights, answers kept for the request ------------------------

    def _anywhere(self, request: HttpRequest, action: rights.Action) -> bool:
        cache: dict[str, bool] = request.__dict__.setdefault("_request_settings_anywhere", {})
        if action not in cache:
            cache[action] = rights.allowed_anywhere(request.user, action)
        return cache[action]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or self.has_view_or_change_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return self._anywhere(request, "view") or self._anywhere(request, "change")
        return rights.allowed(request.user, "view", obj) or rights.allowed(request.user, "change", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._anywhere(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._anywhere(request, "change") if obj is None else rights.allowed(request.user, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._anywhere(request, "delete") if obj is None else rights.allowed(request.user, "delete", obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Only the rows the user may view or change: the changelist, its filters, counts, and every object URL."""
        visible: QuerySet[Any] | None = request.__dict__.get("_request_settings_visible")
        if visible is None:
            visible = rights.filter_viewable(request.user, super().get_queryset(request))
            request.__dict__["_request_settings_visible"] = visible
        rows: QuerySet[Any] = visible.all()
        return rows

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        return lookup.split("__", 1)[0] in self.filterable_fields and super().lookup_allowed(lookup, value, request)

    # -- changelist columns ------------------------------------------------------------------------------------------

    @admin.display(description="host", ordering="host")
    def host_display(self, obj: Any) -> str:
        return host_label(obj.host)

    @admin.display(description="value")
    def value_display(self, obj: Any) -> str:
        return display_value(obj.key, obj.value, limit=LIST_VALUE_CHARS)

    @admin.display(description="value in settings.py")
    def base_display(self, obj: Any) -> str:
        return _base_text(obj.key)

    @admin.display(description="history")
    def history(self, obj: Any) -> str:
        return format_html('<a href="{}">{}</a>', self._history_url(obj), "history")

    # -- forms -------------------------------------------------------------------------------------------------------

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        # The form checks an add with the row it would write, so it needs the user; a subclass per request.
        return type(form.__name__, (form,), {"user": request.user})

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["key", "host", "value"]
        shown = "value" if self.has_change_permission(request, obj) else "value_display"
        return ["key", "host_display", shown, "base_display", "updated_by", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        # "host" is listed so that the form's declared host field goes too (the page shows host_display).
        return ["key", "host", "host_display", "value_display", "base_display", "updated_by", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        manager = self.model._default_manager
        data = form.cleaned_data
        key = obj.key if change else data["key"]
        host = obj.host if change else data["host"]
        existing = manager.filter(key=key, host=host).first()
        if not change and existing is not None:
            if not self.has_change_permission(request, existing):
                raise PermissionDenied  # an add that would update a row needs the change permission on it
            obj._request_settings_old_value = existing.value
        if DRAFT in request.POST:
            # Same form, same checks and rights as a save; the change goes to the user's drafts, not the table.
            obj._request_settings_draft = preview.save_draft(request.user, key, data["value"], host)
            return
        row = manager.set(key, data["value"], host=host, user=request.user)
        # The admin goes on with ``obj`` (log entry, message, redirect): make it the row the write API wrote.
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
        if hasattr(obj, "_request_settings_draft"):
            return None  # nothing changed yet: publishing audits the change
        if hasattr(obj, "_request_settings_old_value"):
            return self.log_change(request, obj, [{"changed": {"fields": ["value"]}}])
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if hasattr(obj, "_request_settings_draft"):
            return None
        return super().log_change(request, obj, message)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        may_write = self.has_add_permission(request) if add else self.has_change_permission(request, obj)
        context["can_save_draft"] = may_write and request.user.is_staff and IS_POPUP_VAR not in request.GET
        context["drafts_url"] = reverse("admin:request_settings_settingdraft_changelist")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if hasattr(obj, "_request_settings_draft"):
            return self._draft_saved(request, obj._request_settings_draft)
        return super().response_change(request, obj)

    def _draft_saved(self, request: HttpRequest, draft: SettingDraft) -> HttpResponse:
        shown = display_value(draft.key, draft.value, limit=LIST_VALUE_CHARS)
        self.message_user(
            request,
            f"Saved as a draft: {draft.key} for {host_label(draft.host)} = {shown}. Nobody else sees it; turn preview "
            "on to try it in this browser, then publish it.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:request_settings_settingdraft_changelist"))

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        if hasattr(obj, "_request_settings_draft"):
            return self._draft_saved(request, obj._request_settings_draft)
        if not hasattr(obj, "_request_settings_old_value") or IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            format_html(
                "The {} “{}” already existed, so it was updated: {} → {}.",
                self.opts.verbose_name,
                str(obj),
                display_value(obj.key, obj._request_settings_old_value, limit=LIST_VALUE_CHARS),
                display_value(obj.key, obj.value, limit=LIST_VALUE_CHARS),
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
        rows = list(queryset)
        if not all(self.has_delete_permission(request, obj) for obj in rows):
            raise PermissionDenied  # all or nothing: a crafted selection holding a row the user may only view
        with transaction.atomic(using=queryset.db):
            for obj in rows:
                self.model._default_manager.unset(obj.key, host=obj.host, user=request.user)

    # -- extra views -------------------------------------------------------------------------------------------------

    def _own_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("effective/", wrap(self.effective_view), name="{}_{}_effective".format(*info)),
            path("audit/", wrap(self.audit_view), name="{}_{}_audit".format(*info)),
            path("hosts/", wrap(self.hosts_view), name="{}_{}_hosts".format(*info)),
            path(
                "audit/<int:change_id>/revert/",
                wrap(require_POST(self.revert_view)),
                name="{}_{}_revert".format(*info),
            ),
        ]

    def hosts_view(self, request: HttpRequest) -> JsonResponse:
        """Autocomplete: up to HOST_SUGGESTIONS hosts the user may see that contain ``term``, labels as typed back."""
        return _host_suggestions(self, request)

    def effective_view(self, request: HttpRequest) -> HttpResponse:
        """For one host (or pattern): per key, what a request gets and which row it comes from; paginated."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        user = request.user
        error = None
        host = ""
        if "host" in request.GET:
            try:
                host = clean_host(request.GET["host"])
            except ValidationError as invalid:
                error = " ".join(invalid.messages)
            else:
                if not self._may_view_host(request, host):
                    raise PermissionDenied
        else:
            host = self._default_host(request)
        # "With my drafts": the author's drafts as their previewing browser gets them; nobody else's, ever.
        drafts = preview.draft_changes(user) if request.GET.get("drafts") and user.is_staff else None
        keys = effective.keys_in_view() if error is None else []
        if drafts and error is None:
            keys = sorted({*keys, *(key for key, _host in drafts)})
        page = Paginator(keys, EFFECTIVE_PER_PAGE).get_page(request.GET.get(PAGE_VAR))
        everything = _sees(user)
        lines = []
        for item in effective.resolve(host, page.object_list, drafts=drafts) if page.object_list else []:
            visible = everything or _sees(user, rights.override_for(item.key, host))
            line = _effective_line(item, visible)
            if visible and drafts and item.source_host is not None and (item.key, item.source_host) in drafts:
                line["source"] = f"your draft ({line['source']})"
                line["draft"] = True
            lines.append(line)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Effective settings for {host_label(host)}",
            "host": host,
            "host_label": host_label(host),
            "host_help": HOST_HELP,
            "hosts": self._suggested_hosts(request),
            "autocomplete_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_hosts"),
            "error": error,
            "lines": lines,
            "page": page,
            "page_var": PAGE_VAR,
            "query": {
                "host": request.GET.get("host", host_label(host)),
                **({"drafts": "1"} if drafts is not None else {}),
            },
            "enabled": conf.ENABLED,
            "with_drafts": drafts is not None,
            "can_draft": user.is_staff,
        }
        return TemplateResponse(request, self.effective_template, context, status=400 if error else 200)

    def _may_view_host(self, request: HttpRequest, host: str) -> bool:
        user = request.user
        if _sees(user):
            return True
        granted = _seen_hosts(user) or []
        if any(item == host or (is_pattern(item) and pattern_covers(item, host)) for item in granted):
            return True
        return any(_sees(user, rights.override_for(key, host)) for key in effective.keys_in_view())

    def _default_host(self, request: HttpRequest) -> str:
        """ "" (what an unknown host gets) when the user may see it; else the first host they may see."""
        if self._may_view_host(request, ""):
            return ""
        candidates = [host for host in _seen_hosts(request.user) or [] if host]
        exact = [host for host in candidates if not is_pattern(host)]
        if not (exact or candidates):
            raise PermissionDenied
        return (exact or candidates)[0]

    def _suggested_hosts(self, request: HttpRequest) -> list[str]:
        rows = self.get_queryset(request).exclude(host="").order_by("host").values_list("host", flat=True)
        return list(rows.distinct()[:HOST_SUGGESTIONS])

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        """The admin's History of a row is its audit trail (every path writes it; LogEntry only knows the admin)."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return self._audit_response(request, obj.key, obj.host)

    def audit_view(self, request: HttpRequest) -> HttpResponse:
        """The audit trail of one (key, host), also once its row is gone."""
        key = request.GET.get("key", "")
        try:
            host = clean_host(request.GET.get("host", ""))
        except ValidationError:
            raise PermissionDenied from None
        if not (
            rights.allowed_for(request.user, "view", key, host) or rights.allowed_for(request.user, "change", key, host)
        ):
            raise PermissionDenied
        return self._audit_response(request, key, host)

    def _audit_response(self, request: HttpRequest, key: str, host: str) -> HttpResponse:
        """Newest first, a revert button on each value that is not the current one, if the user may write it."""
        changes = audit.happened(SettingOverrideChange.objects.filter(key=key, host=host).select_related("user"))
        page = Paginator(changes, AUDIT_PER_PAGE).get_page(request.GET.get(PAGE_VAR))
        current = self.model._default_manager.filter(key=key, host=host).first()
        if current is not None:
            may_write = rights.allowed(request.user, "change", current)
        else:
            may_write = rights.allowed(request.user, "add", rights.override_for(key, host))

        def revertible(change: SettingOverrideChange) -> bool:
            if not (may_write and audit.can_revert_to(change)):
                return False
            return current is None or not same_value(change.new_value, current.value)

        def shown(value: Any) -> str:
            return display_value(key, value, limit=LIST_VALUE_CHARS)

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"History of {key} for {host_label(host)}",
            "key": key,
            "host": host,
            "host_label": host_label(host),
            "current": None if current is None else shown(current.value),
            "current_url": None
            if current is None
            else reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[quote(current.pk)]),
            "changes": [
                {
                    "change": change,
                    "old": _NOT_SET if change.action in _NO_OLD_VALUE else shown(change.old_value),
                    "new": _NOT_SET if change.action in _NO_NEW_VALUE else shown(change.new_value),
                    "window": None
                    if change.window_start is None
                    else schedules.window_text(change.window_start, change.window_end),
                    "user": change.user.get_username() if change.user else change.username or _NOT_SET,
                    "revertible": revertible(change),
                }
                for change in page.object_list
            ],
            "page": page,
            "page_var": PAGE_VAR,
            "query": {"key": key, "host": host},
        }
        return TemplateResponse(request, self.audit_template, context)

    def revert_view(self, request: HttpRequest, change_id: int) -> HttpResponse:
        """POST only (CSRF-protected by admin_view): set the key back to the value a change left."""
        change = get_object_or_404(SettingOverrideChange, pk=change_id)
        current = self.model._default_manager.filter(key=change.key, host=change.host).first()
        if current is not None:
            allowed = rights.allowed(request.user, "change", current)
        else:
            allowed = rights.allowed(request.user, "add", rights.override_for(change.key, change.host))
        if not allowed:
            raise PermissionDenied
        back = HttpResponseRedirect(_audit_url(self, change.key, change.host))
        if current is not None and audit.can_revert_to(change) and same_value(change.new_value, current.value):
            self.message_user(request, f"{current} already has that value: nothing changed.", messages.INFO)
            return back
        try:
            row = audit.revert(change, user=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.log_change(request, row, [{"changed": {"fields": ["value"]}}])
            self.message_user(
                request,
                f"{row} was reverted to {display_value(row.key, row.value, limit=LIST_VALUE_CHARS)} "
                f"(the value of {change.changed_at:%Y-%m-%d %H:%M:%S}).",
                messages.SUCCESS,
            )
        return back

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        info = self.opts.app_label, self.opts.model_name
        extra = {"effective_url": reverse("admin:{}_{}_effective".format(*info)), **(extra_context or {})}
        if self.admin_site.is_registered(SettingSchedule):
            extra.setdefault(
                "timeline_url", reverse(f"admin:{SettingSchedule._meta.app_label}_settingschedule_timeline")
            )
        return super().changelist_view(request, extra)

    def _history_url(self, obj: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_history", args=[quote(obj.pk)])


def _host_suggestions(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> JsonResponse:
    """Up to HOST_SUGGESTIONS hosts containing ``term``: of the rows the user may see, then of their grants."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    term = request.GET.get("term", "").strip().lower()
    rows = model_admin.get_queryset(request)
    if term:
        rows = rows.filter(host__contains=term)
    found = list(rows.order_by("host").values_list("host", flat=True).distinct()[:HOST_SUGGESTIONS])
    extra = sorted(host for host in _seen_hosts(request.user) or [] if term in host and host not in found)
    return JsonResponse({"results": [host_label(host) for host in (found + extra)[:HOST_SUGGESTIONS]]})


def _sees(user: Any, obj: Any = None) -> bool:
    """View or change rights on ``obj`` (the model without it): Django's admin shows a row for either."""
    return rights.allowed(user, "view", obj) or rights.allowed(user, "change", obj)


def _seen_hosts(user: Any) -> list[str] | None:
    """The hosts ``user`` may view or change rows of (None: any host)."""
    viewing, changing = rights.granted_hosts(user, "view"), rights.granted_hosts(user, "change")
    if viewing is None or changing is None:
        return None
    return sorted(set(viewing) | set(changing))


def _audit_url(model_admin: admin.ModelAdmin[Any], key: str, host: str) -> str:
    info = model_admin.opts.app_label, model_admin.opts.model_name
    return reverse("admin:{}_{}_audit".format(*info)) + "?" + urlencode({"key": key, "host": host})


def _base_text(key: str) -> str:
    base = policy.base_value(key, _MISSING)
    return "(not in settings.py)" if base is _MISSING else display_value(key, base, limit=LIST_VALUE_CHARS)


def _source_text(item: effective.Effective) -> str:
    text = _row_text(item)
    if item.scheduled:
        until = "until changed" if item.until is None else f"until {schedules.when(item.until)}"
        return f"{text}, scheduled {until}"
    return text


def _row_text(item: effective.Effective) -> str:
    if item.source is effective.Source.HOST and not is_pattern(item.host):
        return "this host"
    if item.source in (effective.Source.HOST, effective.Source.PATTERN):
        return f"pattern {item.source_host}"
    if item.source is effective.Source.ALL_HOSTS:
        return "all hosts"
    return "settings.py" if conf.ENABLED else "settings.py (overrides are disabled)"


def _effective_line(item: effective.Effective, visible: bool) -> dict[str, Any]:
    """One row of the effective-settings page; rows the snapshot skips show as not applied, with the reason."""
    if not visible:
        return {"key": item.key, "base": _HIDDEN, "effective": _HIDDEN, "source": "", "ignored": [], "hidden": True}
    ignored = []
    for row_host in dict.fromkeys(host for host, _reason in item.ignored):
        reason = next(reason for host, reason in item.ignored if host == row_host)
        ignored.append(f"{host_label(row_host)}: {reason}")
    value = "(not set)" if not item.is_set else display_value(item.key, item.value, limit=LIST_VALUE_CHARS)
    return {
        "key": item.key,
        "base": _base_text(item.key),
        "effective": value,
        "source": _source_text(item),
        "ignored": ignored,
        "secret": is_secret(item.key),
        "hidden": False,
    }


class SettingGrantAdmin(_AppAdmin):
    """Grants: edited only with the SettingGrant model permissions (a grant never gives rights over grants)."""

    list_display = ["__str__", "user", "group", "hosts", "keys", "can_edit"]
    list_filter = ["can_edit", "group"]
    search_fields = ["hosts", "keys", "user__username", "group__name"]
    raw_id_fields = ["user"]
    fieldsets = [
        (None, {"fields": ["user", "group"], "description": "A grant is for one user or for one group."}),
        (
            "Scope",
            {
                "fields": ["hosts", "keys", "can_edit"],
                "description": "Rights over the override rows of these hosts and keys: viewing, and with “can edit” "
                "adding, changing and deleting them. A grant makes nobody staff, and never lets a key past the "
                "policy. Add request_settings.backends.GrantBackend to AUTHENTICATION_BACKENDS. " + SECRET_HELP,
            },
        ),
    ]


class SettingDraftAdmin(_AppAdmin):
    """The signed-in user's own drafts: preview them in this browser, publish them, or discard them.

    Drafts are saved with "Save as draft" on the override form (or the site form, the API, the command); here each
    user sees only their own. Publishing asks the author's rights per key and host, as saving does.
    """

    list_display = ["key", "host_display", "value_display", "updated_at"]
    list_display_links = None
    change_list_template = "admin/request_settings/draft_change_list.html"
    confirm_template = "admin/request_settings/draft_confirm.html"

    def _may_draft(self, request: HttpRequest) -> bool:
        """Staff who may write some override (or still hold drafts from when they could)."""
        cache = request.__dict__
        if "_request_settings_may_draft" not in cache:
            user = request.user
            cache["_request_settings_may_draft"] = user.is_staff and (
                any(rights.allowed_anywhere(user, action) for action in ("add", "change", "delete"))
                or preview.drafts_of(user).exists()
            )
        return bool(cache["_request_settings_may_draft"])

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        own: QuerySet[Any] = super().get_queryset(request).filter(author_id=request.user.pk)
        return own

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_draft(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_draft(request) and (obj is None or obj.author_id == request.user.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # drafts are saved from the override form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_permission(request, obj)  # deleting one's draft discards it

    @admin.display(description="host", ordering="host")
    def host_display(self, obj: SettingDraft) -> str:
        return host_label(obj.host)

    @admin.display(description="draft value")
    def value_display(self, obj: SettingDraft) -> str:
        return "(remove the override)" if obj.remove else display_value(obj.key, obj.value, limit=LIST_VALUE_CHARS)

    def _own_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("preview/", wrap(require_POST(self.preview_view)), name="{}_{}_preview".format(*info)),
            path("publish/", wrap(self.publish_view), name="{}_{}_publish".format(*info)),
            path("discard/", wrap(self.discard_view), name="{}_{}_discard".format(*info)),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"previewing": preview.is_on(request, request.user), **preview.admin_urls(), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """POST ``preview=on`` or ``off``: set or delete this browser's preview cookie."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        if request.POST.get("preview") == "on":
            preview.turn_on(request, response, request.user)
            self.message_user(request, "Preview is on: this browser now gets your drafts.", messages.SUCCESS)
        else:
            preview.turn_off(response)
            self.message_user(request, "Preview is off: this browser gets the published settings.", messages.SUCCESS)
        return response

    def publish_view(self, request: HttpRequest) -> HttpResponse:
        """GET: confirm; POST: publish every draft of the user, all or nothing."""
        return self._confirmed(request, "publish")

    def discard_view(self, request: HttpRequest) -> HttpResponse:
        """GET: confirm; POST: delete every draft of the user."""
        return self._confirmed(request, "discard")

    def _confirmed(self, request: HttpRequest, action: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        if request.method == "POST":
            if action == "discard":
                count = preview.discard(request.user)
                self.message_user(request, f"Discarded {count} draft(s).", messages.SUCCESS)
                return back
            try:
                published = preview.publish(request.user)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                names = ", ".join(f"{draft.key} for {host_label(draft.host)}" for draft in published)
                self.message_user(request, f"Published {len(published)} draft(s): {names or 'none'}.", messages.SUCCESS)
            return back
        drafts = list(preview.drafts_of(request.user))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{action.capitalize()} your drafts",
            "action": action,
            "drafts": [
                {"key": draft.key, "host": host_label(draft.host), "value": self.value_display(draft)}
                for draft in drafts
            ],
        }
        return TemplateResponse(request, self.confirm_template, context)


class SettingScheduleAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """A window of a value: checked like ``objects.schedule`` (key, host, value, times, overlap, rights), so the
    errors show in the form; the write API checks again under its lock when the admin saves."""

    key = forms.CharField(
        label="Key",
        max_length=255,
        widget=DatalistTextInput(known_keys),
        help_text="The name of the setting, as in settings.py.",
    )
    host = forms.CharField(label="Host", max_length=255, required=False, help_text=HOST_HELP)
    value = ValueTextField(
        label="Value",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Typed per key, as in the override form.",
    )
    user: Any = None
    """The request's user, set by the ModelAdmin."""

    class Meta:
        model = SettingSchedule
        fields = ["key", "host", "value", "start", "end"]
        help_texts = {
            "start": "When the value takes effect (this site's time zone); it replaces the override of this key "
            "and host meanwhile.",
            "end": "When the value stops applying; empty: until changed (until this schedule is deleted).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["host"] = self.instance.host
            key = self.instance.key
            if is_secret(key):
                self.fields["value"].widget = forms.PasswordInput(
                    render_value=False, attrs={"placeholder": "(set: type a new value to replace it)"}
                )
                self.fields["value"].help_text = f"{SECRET_HELP} Leave it empty to keep the scheduled value."
            else:
                self.initial["value"] = value_text(key, self.instance.value)
                self.fields["value"].help_text = value_help(key)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key, text = cleaned.get("key"), cleaned.get("value")
        if key is None or "host" not in cleaned or text is None:
            return cleaned
        try:
            cleaned["key"] = key = clean_key(key)
            cleaned["host"] = host = clean_host(cleaned["host"])
        except ValidationError as error:
            self.add_error("key" if error.code == "refused" else "host", error)
            return cleaned
        if self.user is not None and not schedules.may_edit(self.user, key, host):
            self.add_error(None, f"You may not schedule {key} for {host_label(host)}: none of your rights covers it.")
            return cleaned
        keep = self.instance.pk is not None and text == "" and is_secret(key) and key == self.instance.key
        try:
            cleaned["value"] = valid_kept(key, self.instance.value, host) if keep else clean_value(key, text, host)
        except ValidationError as error:
            self.add_error("value", error)
            return cleaned
        if "start" not in cleaned or "end" not in cleaned:
            return cleaned
        try:
            start, end = schedules.window(cleaned["start"], cleaned["end"], timezone.now())
        except ValidationError as error:
            self.add_error(None, error)
            return cleaned
        other = schedules.overlapping(key, host, start, end, exclude=self.instance.pk)
        if other is not None:
            self.add_error(None, schedules.overlap_error(key, host, other))
        return cleaned

    def _post_clean(self) -> None:
        # clean() checked what the write API checks; the model's full_clean() would only repeat it.
        if self.errors:
            return
        for name in ("key", "host", "value", "start", "end"):
            setattr(self.instance, name, self.cleaned_data[name])


class SettingScheduleAdmin(_RefusedWriteIsAMessage):
    """Scheduled values: written through ``objects.schedule``/``unschedule`` (validation, overlap refusal, audit).

    Rights are those over the override of the same (key, host): seeing it to see its windows, changing it to add,
    change or delete them. Changing a window cancels it and schedules the new one (both audited).
    """

    form = SettingScheduleAdminForm
    list_display = ["key", "host_display", "value_display", "start", "end_display", "state", "created_by"]
    list_display_links = ["key"]
    list_filter = [HostFilter]
    search_fields = ["key", "host"]
    date_hierarchy = "start"
    timeline_template = "admin/request_settings/timeline.html"
    filterable_fields = frozenset({"key", "host", "start"})
    """As the overrides' changelist: never ``value`` (a masked secret would leak letter by letter), nor a relation;
    ``start`` for the date hierarchy."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        return lookup.split("__", 1)[0] in self.filterable_fields and super().lookup_allowed(lookup, value, request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return rights.allowed_anywhere(request.user, "view") or rights.allowed_anywhere(request.user, "change")
        return schedules.may_view(request.user, obj.key, obj.host)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return rights.allowed_anywhere(request.user, "change")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return rights.allowed_anywhere(request.user, "change")
        return schedules.may_edit(request.user, obj.key, obj.host)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return schedules.visible(request.user, super().get_queryset(request).select_related("created_by"))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    @admin.display(description="host", ordering="host")
    def host_display(self, obj: Any) -> str:
        return host_label(obj.host)

    @admin.display(description="value")
    def value_display(self, obj: Any) -> str:
        return display_value(obj.key, obj.value, limit=LIST_VALUE_CHARS)

    @admin.display(description="end", ordering="end")
    def end_display(self, obj: Any) -> str:
        return "until changed" if obj.end is None else schedules.when(obj.end)

    @admin.display(description="state")
    def state(self, obj: Any) -> str:
        now = timezone.now()
        if obj.end is not None and obj.end <= now:
            return "ended"
        return "in effect" if obj.start <= now else "upcoming"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        manager = get_override_model()._default_manager
        data = form.cleaned_data
        with transaction.atomic(using=router.db_for_write(SettingSchedule)):
            if change:
                manager.unschedule(SettingSchedule(pk=obj.pk), user=request.user)
            row = manager.schedule(
                data["key"], data["value"], host=data["host"], start=data["start"], end=data["end"], user=request.user
            )
        obj.pk = row.pk
        for field in row._meta.concrete_fields:
            setattr(obj, field.attname, getattr(row, field.attname))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing related to save."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        get_override_model()._default_manager.unschedule(obj, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        rows = list(queryset)
        if not all(self.has_delete_permission(request, obj) for obj in rows):
            raise PermissionDenied
        with transaction.atomic(using=queryset.db):
            for obj in rows:
                get_override_model()._default_manager.unschedule(obj, user=request.user)

    def _own_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("timeline/", wrap(self.timeline_view), name="{}_{}_timeline".format(*info)),
            path("hosts/", wrap(self.hosts_view), name="{}_{}_hosts".format(*info)),
        ]

    def hosts_view(self, request: HttpRequest) -> JsonResponse:
        """The host filter's autocomplete, as the overrides' one: hosts of the windows the user may see, and the
        hosts they were granted."""
        return _host_suggestions(self, request)

    def timeline_view(self, request: HttpRequest) -> HttpResponse:
        """For one host: per key, what a request gets now and from where, and the windows that start or end next."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        user = request.user
        error = None
        host = ""
        try:
            host = clean_host(request.GET.get("host", ""))
        except ValidationError as invalid:
            error = " ".join(invalid.messages)
        keys = effective.keys_in_view() if error is None else []
        page = Paginator(keys, EFFECTIVE_PER_PAGE).get_page(request.GET.get(PAGE_VAR))
        everything = _sees(user)
        lines = []
        for item in schedules.timeline(host, page.object_list) if page.object_list else []:
            if not (everything or _sees(user, rights.override_for(item.now.key, host))):
                continue  # keys of this host the user may not see are left out, as the changelist does
            line = _effective_line(item.now, True)
            line["upcoming"] = [
                {
                    "at": schedules.when(moment.at),
                    "what": (
                        f"{display_value(moment.key, moment.schedule.value, limit=LIST_VALUE_CHARS)} takes effect"
                        if moment.starts
                        else f"{display_value(moment.key, moment.schedule.value, limit=LIST_VALUE_CHARS)} ends"
                    ),
                    "row": host_label(moment.row_host),
                    "url": reverse(
                        f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[quote(moment.schedule.pk)]
                    ),
                }
                for moment in item.upcoming
            ]
            lines.append(line)
        override_opts = get_override_model()._meta
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Timeline of {host_label(host)}",
            "host": host,
            "host_label": host_label(host),
            "host_help": HOST_HELP,
            "autocomplete_url": reverse(f"admin:{override_opts.app_label}_{override_opts.model_name}_hosts"),
            "error": error,
            "lines": lines,
            "page": page,
            "page_var": PAGE_VAR,
            "query": {"host": request.GET.get("host", host_label(host))},
            "now": schedules.when(timezone.now()),
            "enabled": conf.ENABLED,
        }
        return TemplateResponse(request, self.timeline_template, context, status=400 if error else 200)


def _register(model: type[Model], model_admin: type[admin.ModelAdmin[Any]]) -> None:
    if not admin.site.is_registered(model):
        admin.site.register(model, model_admin)


_register(get_override_model(), SettingOverrideAdmin)
_register(SettingGrant, SettingGrantAdmin)
_register(SettingSchedule, SettingScheduleAdmin)
_register(SettingDraft, SettingDraftAdmin)
