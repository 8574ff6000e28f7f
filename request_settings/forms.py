"""Forms that edit overrides: the site-facing ``SettingOverrideForm`` and the admin's form.

Both take the value as text and type it per key (``fields.parse_value``), refuse the keys the
policy refuses with the reason in words, and write through the write API
(``SettingOverride.objects.set`` / ``unset``), which audits and invalidates. Nothing is written when
any field has an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.views.debug import SafeExceptionReporterFilter, get_default_exception_reporter_filter

from request_settings import fields, hosts, policy, rights
from request_settings.conf.settings import settings as conf
from request_settings.exceptions import InvalidHost
from request_settings.models import ALL_HOSTS_LABEL, get_override_model, looks_secret

MASK = SafeExceptionReporterFilter.cleansed_substitute
KEY_MAX_LENGTH = 255
HOST_MAX_LENGTH = 255
LIST_VALUE_CHARS = 200
"""Characters of a value shown in lists (changelist, effective settings, history); the change form shows it all."""
SECRET_HELP = (
    "Keys that look secret are masked in lists and write-only in forms: which ones is the project's exception "
    "reporter filter's hidden_settings (DEFAULT_EXCEPTION_REPORTER_FILTER), as on Django's debug page."
)


def is_secret(key: str) -> bool:
    """Keys the project's exception reporter filter hides (``hidden_settings``: API, TOKEN, PASS... by default)."""
    return looks_secret(key)


def value_text(key: str, value: Any) -> str:
    """The text staff would type for ``value`` of ``key`` (it parses back to the same value)."""
    if value is None:
        return ""
    field = fields.value_field(key)
    prepared = field.prepare_value(value)
    if isinstance(prepared, str):
        return prepared
    return json.dumps(prepared) if isinstance(prepared, list | tuple | dict | bool) else str(prepared)


def display_value(key: str, value: Any, *, limit: int | None = None) -> str:
    """``value`` as JSON for reading, masked like Django's error reports mask settings; ``limit`` characters at most.

    Through the project's exception reporter filter: a secret-looking key is masked whole, and so are
    secret-looking keys inside a dict value. Lists pass ``limit`` so one huge value cannot bloat a page.
    Characters nobody would see are spelled out (``visible``).
    """
    report_filter = get_default_exception_reporter_filter()
    cleansed = report_filter.cleanse_setting(key, value)
    if cleansed == report_filter.cleansed_substitute:
        return str(cleansed)
    text = visible(json.dumps(cleansed, ensure_ascii=False, default=repr))
    return text if limit is None else Truncator(text).chars(limit)


def visible(text: str) -> str:
    """``text`` with each character that is not printable (controls, a zero-width space, a right-to-left override,
    line separators, a space other than " ") written as a JSON escape (``\\u200b``).

    ``"Sale"`` and ``"Sale\\u200b"`` must not look alike in the admin or a panel, and stored text must not drive a
    terminal; inside a JSON string an escape is still valid JSON, so an export round-trips.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else json.dumps(char)[1:-1] for char in text)


def host_label(host: str) -> str:
    """How a row's host is shown everywhere: the host, the pattern ``*.example.com`` as is, or "(all hosts)"."""
    return host or str(ALL_HOSTS_LABEL)


def known_keys() -> list[str]:
    """Keys to offer: declared ones, settings.py names the policy allows, stored keys."""
    candidates = set(conf.FIELDS)
    # dir() of the settings object is that of Django's holder: the names settings.py (or
    # Django) defines.
    candidates.update(name for name in dir(settings) if policy.KEY_PATTERN.fullmatch(name))
    # order_by(): the default ordering (host, key) would make DISTINCT return one key per row
    candidates.update(get_override_model()._default_manager.order_by().values_list("key", flat=True).distinct())
    return sorted(key for key in candidates if policy.refusal(key) is None)


class DatalistTextInput(forms.TextInput):
    """A text input that suggests options (an HTML datalist) but accepts any text."""

    template_name = "request_settings/widgets/datalist.html"

    def __init__(self, options: Callable[[], Iterable[str]], attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.options = options

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        widget["datalist_id"] = f"{widget['attrs'].get('id') or name}_options"
        widget["attrs"]["list"] = widget["datalist_id"]
        widget["attrs"].setdefault("autocomplete", "off")
        widget["options"] = list(self.options())
        return context


def _key_field() -> forms.CharField:
    return forms.CharField(
        label="Key",
        max_length=KEY_MAX_LENGTH,
        widget=DatalistTextInput(known_keys),
        help_text="The name of the setting, as in settings.py; pick one or type a new one.",
    )


HOST_HELP = (
    "A host name such as shop.example.com, or *.example.com for every subdomain of example.com; "
    "leave it empty for all hosts."
)


def _host_field() -> forms.CharField:
    return forms.CharField(label="Host", max_length=HOST_MAX_LENGTH, required=False, help_text=HOST_HELP)


def value_help(key: str) -> SafeString:
    """``KEY: what it accepts.``, escaped: a key stored behind the app's back may hold markup (help text is safe)."""
    return format_html("{}: {}.", key, fields.accepted_text(key))


def offered_hosts(user: Any) -> list[str] | None:
    """The hosts ``user`` may write (add or change), for choices; None when any host is allowed."""
    adding, changing = rights.granted_hosts(user, "add"), rights.granted_hosts(user, "change")
    if adding is None or changing is None:
        return None
    return sorted(set(adding) | set(changing))


def offered_keys(user: Any, keys: Iterable[str], host_choices: Sequence[str] | None) -> list[str]:
    """The keys of ``keys`` that ``user`` may write on one of ``host_choices`` (None: any host)."""
    if host_choices is None or any(rights.allowed(user, action) for action in ("add", "change")):
        return list(keys)
    return [
        key
        for key in keys
        if any(
            rights.allowed(user, action, rights.override_for(key, host))
            for host in host_choices
            for action in ("add", "change")
        )
    ]


def rights_error(user: Any, key: str, host: str, *, removing: bool = False) -> ValidationError | None:
    """Why ``user`` may not write ``(key, host)``, asked with the row (or an unsaved one); None if they may."""
    row = get_override_model()._default_manager.filter(key=key, host=host).first()
    target = row if row is not None else rights.override_for(key, host)
    action: rights.Action = "delete" if removing else ("add" if row is None else "change")
    if rights.allowed(user, action, target):
        return None
    verb = {"add": "set", "change": "change", "delete": "remove"}[action]
    return ValidationError(
        "You may not %(verb)s %(key)s for %(host)s: none of your rights covers that key on that host.",
        code="permission_denied",
        params={"verb": verb, "key": key, "host": host_label(host)},
    )


def kept_secret(key: str, host: str, text: str) -> tuple[bool, Any]:
    """A secret input left empty keeps the stored value (secret inputs are write-only): ``(kept, value)``."""
    if text or not is_secret(key):
        return False, None
    row = get_override_model()._default_manager.filter(key=key, host=host).values_list("value", flat=True)
    values = list(row)
    return (True, values[0]) if values else (False, None)


class ValueTextField(forms.CharField):
    """The value as typed; every check, NUL characters included, is the key's own (parse_value)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # parse_value refuses NUL too, and its message names the key and what is accepted.
        self.validators = [
            validator for validator in self.validators if not isinstance(validator, ProhibitNullCharactersValidator)
        ]


def _value_field(widget: type[forms.Widget] = forms.TextInput) -> forms.CharField:
    return ValueTextField(
        label="Value",
        required=False,
        strip=False,
        widget=widget,
        help_text="Typed per key: a declared field's input, the type of the settings.py value "
        "(lists and objects as JSON), or for a new key a JSON literal or plain text.",
    )


def clean_key(key: str) -> str:
    """``key`` if the policy allows it; ValidationError with the reason in words otherwise."""
    reason = policy.refusal(key)
    if reason is not None:
        raise ValidationError(
            "%(key)s cannot be overridden: %(reason)s.",
            code="refused",
            params={"key": key, "reason": reason},
        )
    return key


def clean_host(text: object) -> str:
    """``hosts.clean_host`` for forms: the stored host (a pattern allowed), or ValidationError with its message."""
    try:
        return hosts.clean_host(text)
    except InvalidHost as error:
        raise ValidationError(str(error), code="invalid_host") from None


def valid_kept(key: str, value: Any, host: str) -> Any:
    """A kept secret (an empty secret input), checked as the write API will check it: since it was stored, a declared
    field may refuse it, and that is the value field's error (the value not shown), not a 500 when saving."""
    accepted = policy.value_problem(key, value, host=host)
    if accepted is not None:
        raise ValidationError(
            "The stored value of %(key)s is no longer valid: type a new one (expected %(accepted)s).",
            code="invalid_value",
            params={"key": key, "accepted": accepted},
        )
    return value


def clean_value(key: str, text: str, host: str | None = None) -> Any:
    """The typed value of ``key`` for ``host``; ValidationError names the key and what is accepted."""
    try:
        return fields.parse_value(key, text, host=host)
    except RecursionError:
        raise ValidationError(
            "The value for %(key)s is nested too deeply: expected %(accepted)s.",
            code="invalid_value",
            params={"key": key, "accepted": fields.accepted_text(key)},
        ) from None


class SettingOverrideForm(forms.Form):
    """Set (or remove) one override, outside the admin: key, host, and the value as text.

    ``keys`` limits the keys offered (one key hides the field); ``host`` fixes the host ("" for all
    hosts), while ``None`` lets the user type one. With ``user``, the keys and hosts offered are those the user may
    write, and each save is checked with the row (``request_settings.rights``): add, change, or delete for "use the
    settings.py value". ``save()`` writes through the write API.
    """

    key = _key_field()
    host = _host_field()
    value = _value_field()
    reset = forms.BooleanField(
        label="Use the settings.py value (remove the override)",
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        keys: Sequence[str] | None = None,
        host: str | None = None,
        user: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fixed_host = None if host is None else hosts.clean_host(host)
        host_choices = None if user is None else offered_hosts(user)
        self.keys: list[str] | None = list(keys) if keys else None
        if user is not None and host_choices is not None:
            where = host_choices if self.fixed_host is None else [self.fixed_host]
            self.keys = offered_keys(user, self.keys or known_keys(), where)
        if self.keys is not None:
            self.fields["key"] = forms.ChoiceField(
                label="Key",
                choices=[(key, key) for key in self.keys],
                widget=forms.HiddenInput if len(self.keys) == 1 else forms.Select,
            )
            if len(self.keys) == 1:
                self.initial.setdefault("key", self.keys[0])
        if self.fixed_host is not None:
            del self.fields["host"]
        elif host_choices is not None:
            if any(hosts.is_pattern(choice) for choice in host_choices):
                # A pattern covers hosts nobody can list: suggest, then check the typed host in clean().
                self.fields["host"].widget = DatalistTextInput(lambda: [host_label(h) for h in host_choices])
            else:
                self.fields["host"] = forms.ChoiceField(
                    label="Host", choices=[(h, host_label(h)) for h in host_choices], required=False
                )
        key = self.single_key
        if key is not None:
            self.fields["value"].help_text = value_help(key)

    @property
    def offers_nothing(self) -> bool:
        """No key can be written here by this user (the view answers 403)."""
        return self.keys is not None and not self.keys

    @property
    def single_key(self) -> str | None:
        return self.keys[0] if self.keys and len(self.keys) == 1 else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key = cleaned.get("key")
        if key is None:
            return cleaned
        try:
            clean_key(key)
        except ValidationError as error:
            self.add_error("key", error)
            return cleaned
        if self.fixed_host is not None:
            cleaned["host"] = self.fixed_host
        elif "host" in cleaned:
            try:
                cleaned["host"] = clean_host(cleaned["host"])
            except ValidationError as error:
                self.add_error("host", error)
                return cleaned
        else:
            return cleaned
        host = cleaned["host"]
        if self.user is not None:
            problem = rights_error(self.user, key, host, removing=bool(cleaned.get("reset")))
            if problem is not None:
                self.add_error(None, problem)
                return cleaned
        if not cleaned.get("reset") and "value" in cleaned:
            kept, value = kept_secret(key, host, cleaned["value"])
            try:
                cleaned["value"] = value if kept else clean_value(key, cleaned["value"], host)
            except ValidationError as error:
                self.add_error("value", error)
        return cleaned

    def save(self, user: Any = None) -> Any:
        """Write (or remove) the override through the write API; the row, or None when removed."""
        if self.errors:
            raise ValueError("The form has errors; nothing can be saved.")
        user = user if user is not None else self.user
        data = self.cleaned_data
        manager = get_override_model()._default_manager
        if data.get("reset"):
            manager.unset(data["key"], host=data["host"], user=user)
            return None
        return manager.set(data["key"], data["value"], host=data["host"], user=user)

    def save_draft(self, user: Any = None) -> Any:
        """Save the change (or the removal) as ``user``'s draft instead: checked alike, published later."""
        from request_settings.preview import save_draft

        if self.errors:
            raise ValueError("The form has errors; nothing can be saved.")
        data = self.cleaned_data
        removing = bool(data.get("reset"))
        value = None if removing else data["value"]
        return save_draft(user if user is not None else self.user, data["key"], value, data["host"], remove=removing)


class SettingOverrideAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """The admin's add/change form; the ModelAdmin supplies the model (it is swappable) and ``user``.

    An add on an existing (key, host) is allowed: the admin updates that row, so no unique check. A secret value is
    write-only: the change form never shows it, and an empty input keeps it.
    """

    key = _key_field()
    host = _host_field()
    value = _value_field(forms.Textarea)
    user: Any = None
    """The request's user, set by the ModelAdmin: adds are checked with the row they would write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        value = self.fields["value"]
        value.widget.attrs.update({"rows": 3, "cols": 60})
        if self.instance.pk is None:
            if self.user is not None and "key" in self.fields:
                host_choices = offered_hosts(self.user)
                self.fields["key"].widget = DatalistTextInput(
                    lambda: offered_keys(self.user, known_keys(), host_choices)
                )
                if host_choices is not None:
                    self.fields["host"].widget = DatalistTextInput(lambda: [host_label(h) for h in host_choices])
            return
        key = self.instance.key
        if is_secret(key):
            value.widget = forms.PasswordInput(
                render_value=False,
                attrs={"autocomplete": "new-password", "placeholder": "(set: type a new value to replace it)"},
            )
            value.help_text = format_html(
                "{} The value of {} is set and not shown; type a new value to replace it, or leave this empty to "
                "keep it. {}: {}.",
                SECRET_HELP,
                key,
                key,
                fields.accepted_text(key),
            )
        else:
            self.initial["value"] = value_text(key, self.instance.value)
            value.help_text = value_help(key)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # On the change form key and host are read-only: they come from the row.
        key = cleaned.get("key", self.instance.key if "key" not in self.fields else None)
        if key is None:
            return cleaned
        try:
            cleaned["key"] = clean_key(key)
        except ValidationError as error:
            self.add_error("key" if "key" in self.fields else None, error)
            return cleaned
        if "host" in self.fields:
            if "host" not in cleaned:
                return cleaned
            try:
                cleaned["host"] = clean_host(cleaned["host"])
            except ValidationError as error:
                self.add_error("host", error)
                return cleaned
        else:
            cleaned["host"] = self.instance.host
        if self.user is not None and self.instance.pk is None:
            problem = rights_error(self.user, key, cleaned["host"])
            if problem is not None:
                self.add_error(None, problem)
                return cleaned
        if "value" in cleaned:
            kept, value = (
                kept_secret(key, cleaned["host"], cleaned["value"]) if self.instance.pk is not None else (False, None)
            )
            try:
                host = cleaned["host"]
                cleaned["value"] = valid_kept(key, value, host) if kept else clean_value(key, cleaned["value"], host)
            except ValidationError as error:
                self.add_error("value", error)
        return cleaned

    def _post_clean(self) -> None:
        # clean() has checked everything the write API checks. The model's full_clean() would repeat each error and
        # refuse an add on an existing (key, host) through the unique constraint, which the admin turns into an
        # update (as Django's UserCreationForm, we replace this hook).
        if self.errors:
            return
        for name in ("key", "host", "value"):
            if name in self.cleaned_data:
                setattr(self.instance, name, self.cleaned_data[name])
