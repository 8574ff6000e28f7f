"""From the text staff type to a typed value, per key, for every editing path (admin, site form, command).

The form field of a key is, in order: its declaration in REQUEST_SETTINGS_FIELDS (any Django form field with its
keyword arguments); else one inferred from the type of the settings.py value (an int stays an int); else a JSON
literal, where text that is not JSON is taken as a plain string.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from request_settings import policy
from request_settings.conf.settings import settings as conf

_MISSING = object()
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class BooleanTextField(forms.Field):
    """true/false typed as text (also 1/0, yes/no, on/off); anything else is an error, never a silent True."""

    default_error_messages = {"invalid": _("Enter true or false.")}

    def to_python(self, value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        text = str(value or "").strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if not text:
            return None
        raise ValidationError(self.error_messages["invalid"], code="invalid")

    def prepare_value(self, value: Any) -> Any:
        return json.dumps(value) if isinstance(value, bool) else value


class JSONOrTextField(forms.CharField):
    """A JSON literal; text that is not JSON is taken as a plain string."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return "" if value else None
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value

    def prepare_value(self, value: Any) -> Any:
        """The text that parses back to ``value``: the string "42" shows quoted, or it would come back a number."""
        if isinstance(value, str) and not _parses_as_json(value):
            return value
        return json.dumps(value)


def _parses_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class JSONTextField(forms.JSONField):
    """A JSON list or object for a settings.py value of that type, shown as compact JSON."""

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, str) else json.dumps(value)


def declared_field(key: str) -> forms.Field | None:
    """The form field REQUEST_SETTINGS_FIELDS declares for ``key``, if any."""
    declaration = dict(conf.FIELDS.get(key) or {})
    if not declaration:
        return None
    field_class = import_string(declaration.pop("field", "request_settings.fields.JSONOrTextField"))
    field: forms.Field = field_class(**declaration)
    return field


def value_field(key: str, **kwargs: Any) -> forms.Field:
    """The form field that turns typed text into a value of the right type for ``key``."""
    declared = declared_field(key)
    if declared is not None:
        return declared
    base = policy.base_value(key, _MISSING)
    if isinstance(base, bool):
        return BooleanTextField(**kwargs)
    if isinstance(base, int):
        return forms.IntegerField(**kwargs)
    if isinstance(base, float):
        return forms.FloatField(**kwargs)
    if isinstance(base, str):
        return forms.CharField(strip=False, required=False, **kwargs)
    if isinstance(base, list | tuple | dict):
        return JSONTextField(**kwargs)
    return JSONOrTextField(required=False, **kwargs)


def accepted_text(key: str) -> str:
    """What ``key`` accepts, in words, for help texts and errors."""
    declared = conf.FIELDS.get(key) or {}
    if declared:
        help_text = declared.get("help_text")
        return "what the declared field accepts" + (f" ({help_text})" if help_text else "")
    validator_hint = policy.HONORED.get(key)
    if validator_hint is not None:
        return validator_hint(object()) or "a JSON value"
    base = policy.base_value(key, _MISSING)
    if base is _MISSING or base is None:
        return "a JSON value, or plain text for a string"
    return policy.TYPE_NAMES.get(type(base), "a JSON value")


def parse_value(key: str, text: Any) -> Any:
    """Typed value of ``key`` from text; ValidationError naming the key, the input and what is accepted."""
    field = value_field(key)
    try:
        value = field.clean(text)
    except ValidationError as error:
        raise ValidationError(
            _("%(text)r is not a valid value for %(key)s: %(errors)s Expected %(accepted)s"),
            code="invalid_value",
            params={
                "text": text,
                "key": key,
                "errors": " ".join(error.messages),
                "accepted": accepted_text(key).rstrip(".") + ".",
            },
        ) from error
    problem = policy.value_problem(key, value)
    if problem is not None:
        raise ValidationError(
            _("%(text)r is not a valid value for %(key)s: expected %(accepted)s."),
            code="invalid_value",
            params={"text": text, "key": key, "accepted": problem},
        )
    return policy.coerce(key, value)
