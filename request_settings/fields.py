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
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import gettext_lazy as _

from request_settings import policy
from request_settings.jsonfield import Undecodable
from request_settings.models import shown_value

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


def _without_nul_check(field: forms.CharField) -> forms.CharField:
    """``field`` without CharField's NUL check: the write API refuses NUL too, with the reason every path gives."""
    field.validators = [item for item in field.validators if not isinstance(item, ProhibitNullCharactersValidator)]
    return field


class JSONOrTextField(forms.CharField):
    """A JSON literal; text that is not JSON is taken as a plain string."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)
        _without_nul_check(self)

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
        if isinstance(value, Undecodable):
            return value.raw  # shown as stored; saving it again is refused with the decoder's reason
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
        if isinstance(value, Undecodable):
            return value.raw
        return value if isinstance(value, str) else json.dumps(value)


def declared_field(key: str) -> forms.Field | None:
    """The form field REQUEST_SETTINGS_FIELDS declares for ``key``, if any."""
    return policy.declared_field(key)


def value_field(key: str, **kwargs: Any) -> forms.Field:
    """The form field that turns typed text into a value of the right type for ``key``.

    The declared field, else one for the type of the settings.py value, else for the type the key's rule expects
    (``SESSION_EXPIRE_SECONDS`` takes whole numbers even when settings.py does not define it), else JSON or text.
    """
    declared = declared_field(key)
    if declared is not None:
        return declared
    kind = policy.form_kind(key)
    if kind is bool:
        return BooleanTextField(**kwargs)
    if kind is int:
        return forms.IntegerField(**kwargs)
    if kind is float:
        return forms.FloatField(**kwargs)
    if kind is str and policy.base_value(key, None) is not None:
        return _without_nul_check(forms.CharField(strip=False, required=False, **kwargs))
    if kind in (list, tuple, dict):
        return JSONTextField(**kwargs)
    return JSONOrTextField(required=False, **kwargs)


def accepted_text(key: str) -> str:
    """What ``key`` accepts, in words, for help texts and errors."""
    return policy.accepted(key)


def parse_value(key: str, text: Any, host: str | None = None) -> Any:
    """Typed value of ``key`` from text; ValidationError naming the key, the input and what is accepted.

    ``host`` is the row's host when known: some rules depend on it (a cookie domain must contain the host).
    """
    field = value_field(key)
    try:
        value = field.clean(text)
    except ValidationError as error:
        raise ValidationError(
            _("%(text)s is not a valid value for %(key)s: %(errors)s Expected %(accepted)s"),
            code="invalid_value",
            params={
                "text": shown_value(key, text),
                "key": key,
                "errors": " ".join(error.messages),
                "accepted": accepted_text(key).rstrip(".") + ".",
            },
        ) from error
    except (ValueError, RecursionError) as error:
        # JSON Python's reader refuses past its limits: an integer of over 4,300 digits (ValueError, not the
        # JSONDecodeError a JSON field catches), a list nested past the recursion limit.
        raise ValidationError(
            _(
                "%(text)s is not a valid value for %(key)s: it is not JSON that can be read (%(reason)s). Expected "
                "%(accepted)s"
            ),
            code="invalid_value",
            params={
                "text": shown_value(key, text),
                "key": key,
                "reason": "nested too deeply" if isinstance(error, RecursionError) else "a number too long",
                "accepted": accepted_text(key).rstrip(".") + ".",
            },
        ) from None
    problem = policy.value_problem(key, value, host=host)
    if problem is not None:
        raise ValidationError(
            _("%(text)s is not a valid value for %(key)s: expected %(accepted)s."),
            code="invalid_value",
            params={"text": shown_value(key, text), "key": key, "accepted": problem},
        )
    return policy.coerce(key, value)
