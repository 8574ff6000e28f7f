"""The JSON shapes of the API. Values are JSON; secret-looking keys are masked whenever a value is read.

Which keys are secret comes from the project's exception reporter filter, as on Django's debug page and in the admin
(``request_settings.forms.display_value``): a masked value reads ``"********************"``, and a dict value has
its secret-looking entries masked.
"""

from __future__ import annotations

from typing import Any

from django.views.debug import get_default_exception_reporter_filter
from rest_framework import serializers

from request_settings.effective import MISSING, Effective, Source, row_problem
from request_settings.forms import host_label, is_secret
from request_settings.jsonfield import Undecodable


def masked(key: str, value: Any) -> Any:
    """``value`` as JSON with what Django's error reports would hide hidden.

    A stored value Python cannot decode (``Undecodable``, written behind the app's back) reads as null: the row's
    ``problem`` says why, and the audit keeps its stored text.
    """
    if isinstance(value, Undecodable):
        return None
    return get_default_exception_reporter_filter().cleanse_setting(key, value)


def refuse_unknown_fields(serializer: serializers.Serializer[Any], expected: str) -> None:
    """A 400 naming each field of the body the serializer does not know: ignored, a misspelt one would go unseen."""
    data = serializer.initial_data
    unknown = sorted(set(data) - set(serializer.fields)) if isinstance(data, dict) else []
    if unknown:
        raise serializers.ValidationError(
            {name: [f"Unknown field {name!r}: the body is {expected}."] for name in unknown}
        )


class StrictCharField(serializers.CharField):
    """Text taken as sent: REST framework's CharField would turn 5 into "5" and strip a trailing line break, where
    the write API (and a PUT's URL and ``?host=``) refuses both."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class OverrideSerializer(serializers.Serializer[Any]):
    """One row of the override table."""

    key = serializers.CharField(read_only=True)
    host = serializers.CharField(read_only=True, help_text='The host name; "" for every host.')
    host_label = serializers.SerializerMethodField(help_text='The host, or "(all hosts)".')
    # method_name: a get_value() would shadow Field.get_value, which REST framework uses to read input.
    value = serializers.SerializerMethodField(
        "masked_value", help_text="The JSON value; masked when the key looks secret."
    )
    secret = serializers.SerializerMethodField(help_text="True when the key looks secret and the value is masked.")
    problem = serializers.SerializerMethodField(
        help_text="Why requests ignore this row (a refused key, an invalid value), or null when it applies."
    )
    updated_at = serializers.DateTimeField(read_only=True)
    updated_by = serializers.SerializerMethodField(help_text="The username of the last writer, or null.")

    def get_host_label(self, obj: Any) -> str:
        return host_label(obj.host)

    def masked_value(self, obj: Any) -> Any:
        return masked(obj.key, obj.value)

    def get_secret(self, obj: Any) -> bool:
        return is_secret(obj.key)

    def get_problem(self, obj: Any) -> str | None:
        return row_problem(obj.key, obj.value, obj.host)

    def get_updated_by(self, obj: Any) -> str | None:
        user = obj.updated_by
        return None if user is None else str(user.get_username())


class OverrideValueSerializer(serializers.Serializer[Any]):
    """The body of a PUT: ``{"value": ...}``, any JSON value (null included); the key's policy decides."""

    value = serializers.JSONField(allow_null=True, help_text="The new value, as JSON.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_fields(self, '{"value": ...} only')
        return attrs


class DraftSerializer(serializers.Serializer[Any]):
    """One of the user's drafts (``SettingDraft``): published later, previewed meanwhile by the author only."""

    key = serializers.CharField(read_only=True)
    host = serializers.CharField(read_only=True, help_text='The host name; "" for every host.')
    host_label = serializers.SerializerMethodField(help_text='The host, or "(all hosts)".')
    value = serializers.SerializerMethodField("masked_value", help_text="The draft value (masked if secret).")
    remove = serializers.BooleanField(read_only=True, help_text="True: publishing removes the override.")
    updated_at = serializers.DateTimeField(read_only=True)

    def get_host_label(self, obj: Any) -> str:
        return host_label(obj.host)

    def masked_value(self, obj: Any) -> Any:
        return None if obj.remove else masked(obj.key, obj.value)


class DraftBodySerializer(serializers.Serializer[Any]):
    """The body of a draft PUT: ``{"value": ...}`` to draft a value, or ``{"remove": true}`` to draft a removal."""

    value = serializers.JSONField(allow_null=True, required=False, help_text="The draft value, as JSON.")
    remove = serializers.BooleanField(required=False, default=False, help_text="Draft the removal of the override.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_fields(self, '{"value": ...} or {"remove": true}')
        if attrs.get("remove") == ("value" in attrs):
            raise serializers.ValidationError('Give either "value" or "remove": true.')
        return attrs


class IgnoredRowSerializer(serializers.Serializer[Any]):
    host = serializers.CharField(help_text='The row\'s host ("" for all hosts, "*.example.com" for a pattern).')
    reason = serializers.CharField()


class EffectiveSerializer(serializers.Serializer[Effective]):
    """One key as a request for the host gets it."""

    key = serializers.CharField()
    value = serializers.SerializerMethodField(
        "masked_value", help_text="The effective value (masked if secret); null when unset."
    )
    is_set = serializers.BooleanField(help_text="False when neither a row nor settings.py sets the key.")
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field named like Field.source, as DRF allows
        choices=[source.value for source in Source],
        help_text="host: the host's own row; pattern: a *.domain row; all_hosts: the all-hosts row; "
        "settings: settings.py (or unset).",
    )
    source_host = serializers.CharField(allow_null=True, help_text="The winning row's host; null for settings.py.")
    settings_value = serializers.SerializerMethodField(help_text="The settings.py value (masked if secret), or null.")
    in_settings = serializers.SerializerMethodField(help_text="True when settings.py defines the key.")
    secret = serializers.SerializerMethodField()
    ignored = serializers.SerializerMethodField(help_text="Rows that would win but do not apply, with the reason.")
    scheduled = serializers.BooleanField(
        help_text="True when the value is a scheduled value in effect now, in place of the row of source_host."
    )
    scheduled_until = serializers.DateTimeField(
        source="until", allow_null=True, help_text="When that scheduled value stops applying; null: until changed."
    )

    def masked_value(self, obj: Effective) -> Any:
        return masked(obj.key, obj.value) if obj.is_set else None

    def get_settings_value(self, obj: Effective) -> Any:
        return None if obj.base is MISSING else masked(obj.key, obj.base)

    def get_in_settings(self, obj: Effective) -> bool:
        return obj.base is not MISSING

    def get_secret(self, obj: Effective) -> bool:
        return is_secret(obj.key)

    def get_ignored(self, obj: Effective) -> list[dict[str, str]]:
        return [{"host": host, "reason": reason} for host, reason in obj.ignored]


class ChangeSerializer(serializers.Serializer[Any]):
    """One audited change (``SettingOverrideChange``), newest first."""

    id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(read_only=True)
    host = serializers.CharField(read_only=True)
    action = serializers.CharField(read_only=True, help_text="created, updated, deleted or reverted.")
    old_value = serializers.SerializerMethodField(help_text="The value before (masked if secret); null if created.")
    new_value = serializers.SerializerMethodField(help_text="The value after (masked if secret); null if deleted.")
    user = serializers.SerializerMethodField(help_text="Who made the change (the username then), or null.")
    changed_at = serializers.DateTimeField(read_only=True)
    reverted_from = serializers.IntegerField(
        source="reverted_from_id", read_only=True, allow_null=True, help_text="The change a revert went back to."
    )

    def get_old_value(self, obj: Any) -> Any:
        return None if obj.action == obj.Action.CREATED else masked(obj.key, obj.old_value)

    def get_new_value(self, obj: Any) -> Any:
        return None if obj.action == obj.Action.DELETED else masked(obj.key, obj.new_value)

    def get_user(self, obj: Any) -> str | None:
        if obj.user is not None:
            return str(obj.user.get_username())
        return obj.username or None


class AwareDateTimeField(serializers.DateTimeField):
    """A time with its UTC offset: REST framework would read a naive one in the server's time zone, a guess."""

    default_error_messages = {
        "naive": "{value} has no UTC offset: write it like 2026-12-24T18:00:00+01:00 (or Z for UTC).",
    }

    def enforce_timezone(self, value: Any) -> Any:
        from django.utils import timezone

        if timezone.is_naive(value):
            self.fail("naive", value=value.isoformat())
        return super().enforce_timezone(value)


class ScheduleSerializer(serializers.Serializer[Any]):
    """A scheduled value (``SettingSchedule``): in effect for its key and host from ``start`` until ``end``.

    Written through ``SettingOverride.objects.schedule`` (validated like a PUT of the override; an overlapping window
    of the same key and host is refused, naming it); times need a UTC offset.
    """

    id = serializers.IntegerField(read_only=True)
    key = StrictCharField(max_length=255)
    host = StrictCharField(max_length=255, allow_blank=True, default="", help_text='The host; "" for every host.')
    value = serializers.JSONField(
        allow_null=True, help_text="The JSON value; masked when read if the key looks secret."
    )
    start = AwareDateTimeField(
        required=False, allow_null=True, default=None, help_text="With a UTC offset; absent or null: now."
    )
    end = AwareDateTimeField(
        required=False, allow_null=True, default=None, help_text="With a UTC offset; absent or null: until changed."
    )
    created_by = serializers.SerializerMethodField(help_text="The username of who scheduled it, or null.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The read-only fields (id, created_by) of a listed window sent back are ignored, as REST framework does.
        refuse_unknown_fields(self, '{"key", "host", "value", "start", "end"} (host, start and end may be left out)')
        return attrs

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        data["value"] = masked(instance.key, instance.value)
        return data

    def get_created_by(self, obj: Any) -> str | None:
        user = obj.created_by
        return None if user is None else str(user.get_username())
