"""The JSON column of the override and audit tables: reads that never raise.

A value that Python's JSON decoder refuses can only be written behind the app's back (raw SQL), yet one such row
must not take down requests, checks, ``migrate`` or the command: readers get an ``Undecodable`` marker instead, and
skip it, show it or delete it. Written back (the audit record of its deletion), it keeps its stored text.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

READ_DEPTH_LIMIT = 256
"""Nesting above which a stored value is not decoded: Python 3.11's decoder fails near 1,000 levels, 3.12's
decodes it but ``repr`` and display then fail. The write paths refuse far less (REQUEST_SETTINGS_MAX_VALUE_DEPTH)."""


def nesting_depth(text: str) -> int:
    """How deeply JSON ``text`` nests arrays and objects, brackets inside strings aside; without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def json_text(value: Any, limit: int = 200) -> str:
    """A value spelled as JSON (``true``, ``null``, ``"text"``), cut short: messages quote JSON, never Python."""
    text = value.raw if isinstance(value, Undecodable) else json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Undecodable:
    """A stored value that Python's JSON decoder refuses (a number of over 4,300 digits, a list nested 990 deep).

    Such a row can only be written behind the app's back; readers get this marker instead of an exception, so one
    bad row never takes down requests, checks, migrate or the command: they skip it, show it, or delete it.
    """

    __slots__ = ("error", "raw")

    def __init__(self, raw: str, error: BaseException) -> None:
        self.raw = raw
        self.error = f"{type(error).__name__}: {str(error)[:200]}"

    def __repr__(self) -> str:
        return f"<undecodable JSON: {self.error}>"


class _KeepUndecodable(json.JSONEncoder):
    """Writes an ``Undecodable`` back as the text it was read from (an audit of its deletion keeps it as it was)."""

    def encode(self, o: Any) -> str:
        return o.raw if isinstance(o, Undecodable) else super().encode(o)


class TolerantJSONField(models.JSONField):  # type: ignore[type-arg,unused-ignore]
    """A JSONField whose reads never raise: an undecodable stored value comes back as ``Undecodable``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("encoder", _KeepUndecodable)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # Counting brackets is C-fast; only a text with that many is scanned properly.
        if isinstance(value, str) and value.count("[") + value.count("{") > READ_DEPTH_LIMIT:
            depth = nesting_depth(value)
            if depth > READ_DEPTH_LIMIT:
                return Undecodable(value, ValueError(f"nested {depth} levels deep, more than {READ_DEPTH_LIMIT}"))
        try:
            return super().from_db_value(value, expression, connection)
        except (ValueError, RecursionError) as error:
            return Undecodable(value, error)

    def deconstruct(self) -> Any:
        # The column is a plain JSONField: migrations (ours and those of custom override models) need not know.
        name, _path, args, kwargs = super().deconstruct()
        if kwargs.get("encoder") is _KeepUndecodable:
            del kwargs["encoder"]
        return name, "django.db.models.JSONField", args, kwargs
