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
from django.views.debug import SafeExceptionReporterFilter, get_default_exception_reporter_filter

from request_settings import fields, policy
from request_settings.conf.settings import settings as conf
from request_settings.hosts import normalise_host
from request_settings.models import ALL_HOSTS_LABEL, get_override_model

MASK = SafeExceptionReporterFilter.cleansed_substitute
KEY_MAX_LENGTH = 255
HOST_MAX_LENGTH = 255


def is_secret(key: str) -> bool:
    """Keys that look secret by the pattern of Django's error reports (API, TOKEN, PASS...)."""
    return bool(get_default_exception_reporter_filter().hidden_settings.search(key))


def value_text(key: str, value: Any) -> str:
    """The text staff would type for ``value`` of ``key`` (it parses back to the same value)."""
    if value is None:
        return ""
    field = fields.value_field(key)
    prepared = field.prepare_value(value)
    if isinstance(prepared, str):
        return prepared
    return json.dumps(prepared) if isinstance(prepared, list | tuple | dict | bool) else str(prepared)


def display_value(key: str, value: Any) -> str:
    """``value`` as JSON for reading, masked like Django's error reports mask settings.

    Through the project's exception reporter filter: a secret-looking key is masked whole, and so are
    secret-looking keys inside a dict value.
    """
    report_filter = get_default_exception_reporter_filter()
    cleansed = report_filter.cleanse_setting(key, value)
    if cleansed == report_filter.cleansed_substitute:
        return str(cleansed)
    return json.dumps(cleansed, ensure_ascii=False, default=repr)


def host_label(host: str) -> str:
    return host or str(ALL_HOSTS_LABEL)


def known_keys() -> list[str]:
    """Keys to offer: declared ones, settings.py names the policy allows, stored keys."""
    candidates = set(conf.FIELDS)
    # dir() of the settings object is that of Django's holder: the names settings.py (or
    # Django) defines.
    candidates.update(name for name in dir(settings) if policy.KEY_PATTERN.fullmatch(name))
    candidates.update(get_override_model()._default_manager.values_list("key", flat=True).distinct())
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


def _host_field() -> forms.CharField:
    return forms.CharField(
        label="Host",
        max_length=HOST_MAX_LENGTH,
        required=False,
        help_text="The host name, such as shop.example.com; leave it empty for all hosts.",
    )


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


def clean_host(text: str) -> str:
    """A bare, lower-case host name ("" for all hosts), or ValidationError."""
    text = text.strip()
    host = normalise_host(text)
    if text and not host:
        raise ValidationError(
            "%(host)r is not a host name: enter one such as 'shop.example.com' "
            "(no scheme, no path), or leave it empty for all hosts.",
            code="invalid_host",
            params={"host": text},
        )
    return host


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
    hosts), while ``None`` lets the user type one. ``save(user)`` writes through the write API.
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
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.keys = list(keys) if keys else None
        self.fixed_host = None if host is None else normalise_host(host)
        if self.keys:
            self.fields["key"] = forms.ChoiceField(
                label="Key",
                choices=[(key, key) for key in self.keys],
                widget=forms.HiddenInput if len(self.keys) == 1 else forms.Select,
            )
            if len(self.keys) == 1:
                self.initial.setdefault("key", self.keys[0])
        if self.fixed_host is not None:
            del self.fields["host"]
        key = self.single_key
        if key is not None:
            self.fields["value"].help_text = f"{key}: {fields.accepted_text(key)}."

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
        if not cleaned.get("reset") and "value" in cleaned:
            try:
                cleaned["value"] = clean_value(key, cleaned["value"], cleaned.get("host"))
            except ValidationError as error:
                self.add_error("value", error)
        return cleaned

    def save(self, user: Any = None) -> Any:
        """Write (or remove) the override through the write API; the row, or None when removed."""
        if self.errors:
            raise ValueError("The form has errors; nothing can be saved.")
        data = self.cleaned_data
        manager = get_override_model()._default_manager
        if data.get("reset"):
            manager.unset(data["key"], host=data["host"], user=user)
            return None
        return manager.set(data["key"], data["value"], host=data["host"], user=user)


class SettingOverrideAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """The admin's add/change form; the ModelAdmin supplies the model (it is swappable).

    An add on an existing (key, host) is allowed: the admin updates that row, so no unique check.
    """

    key = _key_field()
    host = _host_field()
    value = _value_field(forms.Textarea)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["value"].widget.attrs.update({"rows": 3, "cols": 60})
        if self.instance.pk is not None:
            self.initial["value"] = value_text(self.instance.key, self.instance.value)
            self.fields["value"].help_text = f"{self.instance.key}: {fields.accepted_text(self.instance.key)}."

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
            if "host" in cleaned:
                try:
                    cleaned["host"] = clean_host(cleaned["host"])
                except ValidationError as error:
                    self.add_error("host", error)
        else:
            cleaned["host"] = self.instance.host
        if "value" in cleaned:
            try:
                cleaned["value"] = clean_value(key, cleaned["value"], cleaned.get("host"))
            except ValidationError as error:
                self.add_error("value", error)
        return cleaned

    def _post_clean(self) -> None:
        # clean() has checked everything the write API checks. The model's full_clean()
        # would repeat each error and
        # refuse an add on an existing (key, host) through the unique constraint, which
        # the admin turns into an
        # update (as Django's UserCreationForm, we replace this hook).
        if self.errors:
            return
        for name in ("key", "host", "value"):
            if name in self.cleaned_data:
                setattr(self.instance, name, self.cleaned_data[name])
