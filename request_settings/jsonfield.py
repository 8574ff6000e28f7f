"""The JSON column of the override and audit tables: reads that never raise.

A value that Python's JSON decoder refuses can only be written behind the app's back (raw SQL), yet one such row
must not take down requests, checks, ``migrate`` or the command: readers get an ``Undecodable`` marker instead, and
skip it, show it or delete it. Written back (the audit record of its deletion), it keeps its stored text.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models


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
