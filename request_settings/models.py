"""The override table: one row per (key, host); ``host = ""`` means every host."""

from __future__ import annotations

import datetime
import json
import re
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.debug import get_default_exception_reporter_filter

from request_settings import policy
from request_settings.exceptions import InvalidHost
from request_settings.hosts import ALL_HOSTS_LABEL, clean_host, is_pattern, pattern_covers
from request_settings.jsonfield import TolerantJSONField, Undecodable
from request_settings.signals import override_changed

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    UserLike = AbstractBaseUser | AnonymousUser | None

_Override = TypeVar("_Override", bound="AbstractSettingOverride")

__all__ = ["ALL_HOSTS_LABEL", "Undecodable"]  # re-exported


def in_brackets(host: str) -> str:
    """``(shop.example.com)`` or ``(all hosts)`` after a key: the label has its own brackets, never doubled."""
    return f"({host})" if host else str(ALL_HOSTS_LABEL)


def same_value(first: Any, second: Any) -> bool:
    """Equal as JSON values: ``True`` is not ``1`` and ``1.0`` is not ``1`` here, unlike in Python."""
    return json.dumps(first, sort_keys=True, default=repr) == json.dumps(second, sort_keys=True, default=repr)


def validate_host(host: str) -> None:
    """A stored host is ``""`` (all hosts), a bare lower-case host name or a pattern ``*.example.com``."""
    try:
        cleaned = clean_host(host)
    except InvalidHost as error:
        raise ValidationError(str(error), code="invalid_host") from None
    if cleaned != host:
        raise ValidationError(
            _("%(host)r is not stored as written: use %(cleaned)r."),
            code="invalid_host",
            params={"host": host, "cleaned": cleaned},
        )


def shown(value: Any, limit: int = 200) -> str:
    """``repr(value)`` for a message: cut short, and never raising for a value nested past the recursion limit."""
    try:
        text = repr(value)
    except RecursionError:
        return "<a value nested too deeply to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def looks_secret(key: str) -> bool:
    """Keys the project's exception reporter filter hides (``hidden_settings``: API, TOKEN, PASS... by default)."""
    return bool(get_default_exception_reporter_filter().hidden_settings.search(key))


def shown_value(key: str, value: Any) -> str:
    """``shown(value)`` for a refusal of ``key``, or Django's mask when the key looks secret: a refusal travels as far
    as any message (an API response, a command's stderr, the error of a write-only input)."""
    if looks_secret(key):
        return str(get_default_exception_reporter_filter().cleansed_substitute)
    return shown(value)


def storable(text: str) -> bool:
    """Whether a row could hold ``text``: PostgreSQL refuses a NUL in any text, even in a WHERE clause (an error, not
    "no row"), so a lookup by such a key is answered without a query."""
    return "\x00" not in text


def validate_override(key: str, value: Any, host: str | None = None) -> None:
    """Raise ValidationError naming the key, the value and what is accepted, if the policy refuses them.

    ``host`` is the row's (``""`` for all hosts): some rules depend on it (a cookie domain must contain it).
    """
    reason = policy.refusal(key)
    if reason is not None:
        raise ValidationError(
            {"key": _("%(key)s cannot be overridden: %(reason)s.") % {"key": key, "reason": reason}},
            code="refused",
        )
    problem = policy.value_problem(key, value, host=host)
    if problem is not None:
        raise ValidationError(
            {"value": _("%(value)s is not a valid value for %(key)s: expected %(accepted)s.")
             % {"value": shown_value(key, value), "key": key, "accepted": problem}},
            code="invalid_value",
        )  # fmt: skip


class SettingOverrideManager(models.Manager[_Override]):
    """The write API every path uses (admin, forms, command): validates, upserts, invalidates on commit."""

    def set(self, key: str, value: Any, host: str = "", user: UserLike = None) -> _Override:
        """Create or update the override of ``key`` for ``host``; raise ValidationError and write nothing if bad."""
        host = self._clean_host(host)
        validate_override(key, value, host)
        using = router.db_for_write(self.model)
        with transaction.atomic(using=using):
            row: _Override | None = self.select_for_update().filter(key=key, host=host).first()
            if row is None:
                try:
                    # A savepoint: a concurrent insert of the same (key, host) may win the race, then we update it.
                    with transaction.atomic(using=using):
                        row = self.create(key=key, host=host, value=value, updated_by=_real_user(user))
                except IntegrityError:
                    row = self.select_for_update().filter(key=key, host=host).first()
                    if row is None:
                        raise  # not a lost race: a real constraint failure
                else:
                    self._changed(row, None, value, user, using, created=True)
                    return row
            old_value = row.value
            if same_value(old_value, value):
                return row  # the same value again: nothing to write, audit or announce
            row.value = value  # the row is locked (select_for_update): the last committed write wins
            row.updated_by = _real_user(user)
            row.save(update_fields=["value", "updated_by", "updated_at"])
            self._changed(row, old_value, value, user, using)
            return row

    def unset(self, key: str, host: str = "", user: UserLike = None) -> bool:
        """Remove the override of ``key`` for ``host``; False when there was none."""
        host = self._clean_host(host)
        if not storable(key):
            return False
        with transaction.atomic(using=router.db_for_write(self.model)):
            row = self.select_for_update().filter(key=key, host=host).first()
            if row is None:
                return False
            row.delete()
            self._changed(row, row.value, None, user, router.db_for_write(self.model), deleted=True)
            return True

    async def aset(self, key: str, value: Any, host: str = "", user: UserLike = None) -> _Override:
        return await sync_to_async(self.set)(key, value, host=host, user=user)

    async def aunset(self, key: str, host: str = "", user: UserLike = None) -> bool:
        return await sync_to_async(self.unset)(key, host=host, user=user)

    def schedule(
        self,
        key: str,
        value: Any,
        host: str = "",
        start: datetime.datetime | None = None,
        end: datetime.datetime | None = None,
        user: UserLike = None,
    ) -> SettingSchedule:
        """Put ``value`` in effect for ``key`` and ``host`` from ``start`` (None: now) until ``end`` (None: until
        changed), in place of the plain row of the same (key, host); the new ``SettingSchedule``.

        Validated like ``set``. Refused (ValidationError, nothing written): ``USE_TZ = False``, naive datetimes,
        ``end`` not after ``start``, a window that has already ended, and a window overlapping another of the same
        (key, host), named in the message. Audited in the same transaction: "scheduled" now, "took effect" at
        ``start`` (now, if it has passed) and "lost effect" at ``end``.
        """
        from request_settings import audit, schedules

        if not settings.USE_TZ:
            raise ValidationError(
                _("Scheduled changes need USE_TZ = True: without it a window's times have no time zone, and each DST "
                  "change would make some of them ambiguous."),
                code="use_tz",
            )  # fmt: skip
        host = self._clean_host(host)
        validate_override(key, value, host)
        now = timezone.now()
        start, end = schedules.window(start, end, now)
        using = router.db_for_write(SettingSchedule)
        with transaction.atomic(using=using):
            schedules.lock(using, key, host)
            other = schedules.overlapping(key, host, start, end, using=using, lock=True)
            if other is not None:
                raise schedules.overlap_error(key, host, other)
            row: SettingSchedule = SettingSchedule.objects.using(using).create(
                key=key, host=host, value=value, start=start, end=end, created_by=_real_user(user)
            )
            audit.record_schedule(row, _real_user(user), using, now)
        return row

    def unschedule(self, schedule: SettingSchedule, user: UserLike = None) -> bool:
        """Cancel a scheduled value (delete its window); False when it was already gone.

        Audited: "unscheduled" now; "lost effect" now if the window was in effect; the records of its start and end
        that have not come yet are removed (they will not happen).
        """
        from request_settings import audit

        using = router.db_for_write(SettingSchedule)
        with transaction.atomic(using=using):
            row = SettingSchedule.objects.using(using).select_for_update().filter(pk=schedule.pk).first()
            if row is None:
                return False
            audit.record_unschedule(row, _real_user(user), using, timezone.now())
            row.delete()
            return True

    async def aschedule(
        self,
        key: str,
        value: Any,
        host: str = "",
        start: datetime.datetime | None = None,
        end: datetime.datetime | None = None,
        user: UserLike = None,
    ) -> SettingSchedule:
        return await sync_to_async(self.schedule)(key, value, host=host, start=start, end=end, user=user)

    async def aunschedule(self, schedule: SettingSchedule, user: UserLike = None) -> bool:
        return await sync_to_async(self.unschedule)(schedule, user=user)

    def _changed(
        self,
        row: _Override,
        old_value: Any,
        new_value: Any,
        user: UserLike,
        using: str,
        *,
        created: bool = False,
        deleted: bool = False,
    ) -> None:
        """Inside the write's transaction: audit the change; announce it once committed (never if rolled back)."""
        from request_settings.audit import record

        record(row.key, row.host, old_value, new_value, _real_user(user), using, created=created, deleted=deleted)
        transaction.on_commit(
            partial(
                override_changed.send,
                sender=self.model,
                key=row.key,
                host=row.host,
                old_value=old_value,
                new_value=new_value,
                user=_real_user(user),
                created=created,
                deleted=deleted,
            ),
            using=using,
        )

    @staticmethod
    def _clean_host(host: str | None) -> str:
        try:
            return clean_host(host)
        except InvalidHost as error:
            raise ValidationError({"host": str(error)}, code="invalid_host") from None


def _real_user(user: UserLike) -> Any:
    return user if user is not None and user.is_authenticated else None


class AbstractSettingOverride(models.Model):
    """Subclass this for a custom override table and point REQUEST_SETTINGS_MODEL at it."""

    key = models.CharField(
        _("key"),
        max_length=255,
        validators=[RegexValidator(policy.KEY_PATTERN, _("Enter an upper-case setting name such as SITE_TITLE."))],
        help_text=_("The name of the setting, as in settings.py."),
    )
    # null=True so that a JSON null round-trips (Django stores None as SQL NULL).
    value = TolerantJSONField(_("value"), null=True, help_text=_("A JSON value."))
    host = models.CharField(
        _("host"),
        max_length=255,
        blank=True,
        default="",
        validators=[validate_host],
        help_text=_("The host this override applies to; empty for every host."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = SettingOverrideManager()

    class Meta:
        abstract = True
        ordering = ["host", "key"]
        verbose_name = _("setting override")
        verbose_name_plural = _("setting overrides")
        constraints = [
            # host is never NULL ("" is every host), so this holds on PostgreSQL too, where NULLs are distinct.
            models.UniqueConstraint(fields=["key", "host"], name="%(app_label)s_%(class)s_unique_key_host"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {in_brackets(self.host)}"

    def clean(self) -> None:
        validate_override(self.key, self.value, self.host)


class SettingOverride(AbstractSettingOverride):
    """The default override table."""

    class Meta(AbstractSettingOverride.Meta):
        swappable = "REQUEST_SETTINGS_MODEL"


class SettingOverrideChange(models.Model):
    """One audited change of an override, written in the same transaction as the change.

    Not a foreign key to the override table: the history of a key outlives its row (a deletion
    is a change too), and the override model is swappable.
    """

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        UPDATED = "updated", _("updated")
        DELETED = "deleted", _("deleted")
        REVERTED = "reverted", _("reverted")
        # Scheduled changes (``objects.schedule``): "scheduled" and "unscheduled" are dated when written; "took
        # effect" and "lost effect" at the window's start and end, written with "scheduled" (no process runs then).
        SCHEDULED = "scheduled", _("scheduled")
        UNSCHEDULED = "unscheduled", _("unscheduled")
        TOOK_EFFECT = "took_effect", _("took effect")
        LOST_EFFECT = "lost_effect", _("lost effect")

    key = models.CharField(_("key"), max_length=255)
    host = models.CharField(_("host"), max_length=255, blank=True, default="")
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    # SQL NULL when there was no value (before a creation, after a deletion); see ``action``.
    old_value = TolerantJSONField(_("old value"), null=True, blank=True)
    new_value = TolerantJSONField(_("new value"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The user's name at the time, kept when the user is deleted later.
    username = models.CharField(_("username"), max_length=255, blank=True, default="")
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now, db_index=True)
    reverted_from = models.ForeignKey(
        "self",
        verbose_name=_("reverted to the value of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The window of a scheduled change, kept when the schedule is gone; ``schedule`` finds the records of a window
    # that has not passed yet, to remove them when it is cancelled.
    schedule = models.ForeignKey(
        "SettingSchedule",
        verbose_name=_("schedule"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    window_start = models.DateTimeField(_("window start"), null=True, blank=True)
    window_end = models.DateTimeField(_("window end"), null=True, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("setting override change")
        verbose_name_plural = _("setting override changes")
        indexes = [models.Index(fields=["key", "host"], name="request_set_key_host_idx")]

    def __str__(self) -> str:
        when = f"{self.changed_at:%Y-%m-%d %H:%M:%S}"
        return f"{self.key} {in_brackets(self.host)} {self.action} at {when}"


def get_override_model() -> type[AbstractSettingOverride]:
    """The active override model (REQUEST_SETTINGS_MODEL), like ``get_user_model()``."""
    from request_settings.conf.settings import settings as conf

    return cast("type[AbstractSettingOverride]", conf.models.MODEL)


class ChangeVersion(models.Model):
    """One row: the version of the override table, bumped in the transaction of every write.

    The bump is an UPDATE of this row, so concurrent writers queue on its lock and versions become visible in
    commit order: a process that has read version N has seen every change up to N (a sequence would not give that:
    a transaction holding id 5 may commit after one holding id 6).
    """

    version = models.BigIntegerField(_("version"), default=0)

    class Meta:
        verbose_name = _("change version")

    def __str__(self) -> str:
        return f"version {self.version}"


class ChangedRow(models.Model):
    """Which (key, host) a version changed: a refresh reads these, then only those rows, not the whole table."""

    version = models.BigIntegerField(_("version"), db_index=True)
    key = models.CharField(_("key"), max_length=255)
    host = models.CharField(_("host"), max_length=255, blank=True, default="")

    class Meta:
        verbose_name = _("changed row")

    def __str__(self) -> str:
        return f"{self.key} {in_brackets(self.host)} at version {self.version}"


GRANT_ALL_KEYS = "*"
_GRANT_SEPARATORS = re.compile(r"[\s,]+")
_KEY_PATTERN_RE = re.compile(r"^(?:[A-Z][A-Z0-9_]*\*?|\*)\Z")


def grant_hosts(text: str) -> list[str]:
    """The hosts of a grant's ``hosts`` text: ``""`` for the all-hosts rows, host names, ``*.example.com`` patterns.

    Separated by commas or whitespace; the label "(all hosts)" is taken whole before splitting (it has a space), and
    a text that is empty or only the label means the all-hosts rows. Raises ValidationError naming each bad host.
    """
    labels = {"(all hosts)", str(ALL_HOSTS_LABEL)}
    rest = text.strip()
    hosts: list[str] = []
    for label in labels:
        if label in rest:
            hosts.append("")
            rest = rest.replace(label, " ")
    if not rest.strip(" ,\t\r\n") and not hosts:
        return [""]
    errors: list[str] = []
    for item in _GRANT_SEPARATORS.split(rest):
        if not item:
            continue
        try:
            host = clean_host(item)
        except InvalidHost as error:
            errors.append(str(error))
            continue
        if host not in hosts:
            hosts.append(host)
    if errors:
        raise ValidationError(errors, code="invalid_host")
    return hosts


def grant_keys(text: str) -> list[str]:
    """The key patterns of a grant's ``keys`` text: exact keys, prefixes ending in ``*``, ``*`` for every key.

    Empty grants no key. Raises ValidationError naming each bad pattern and what is accepted.
    """
    patterns: list[str] = []
    bad: list[str] = []
    for item in _GRANT_SEPARATORS.split(text.strip()):
        if not item:
            continue
        if not _KEY_PATTERN_RE.fullmatch(item):
            bad.append(item)
        elif item not in patterns:
            patterns.append(item)
    if bad:
        raise ValidationError(
            _(
                "%(patterns)s: expected setting names such as SESSION_COOKIE_AGE (upper-case letters, digits and _), "
                "a prefix ending in * such as SESSION_*, or * for every key the policy allows."
            ),
            code="invalid_key_pattern",
            params={"patterns": ", ".join(repr(item) for item in bad)},
        )
    return patterns


def key_pattern_matches(pattern: str, key: str) -> bool:
    """``SESSION_*`` matches keys starting with SESSION_; an exact key matches itself only (never as a prefix)."""
    if pattern.endswith("*"):
        return key.startswith(pattern[:-1])
    return key == pattern


def grant_host_covers(grant_host: str, host: str) -> bool:
    """Whether the rows of ``host`` fall under one host of a grant: all hosts, an exact host or a pattern."""
    if is_pattern(grant_host):
        return pattern_covers(grant_host, host)
    return host == grant_host  # an exact-host grant never covers a pattern row; "" covers the all-hosts rows only


def validate_grant_hosts(text: str) -> None:
    """The field validator of ``SettingGrant.hosts`` (referenced by migrations: keep the name)."""
    grant_hosts(text)


def validate_grant_keys(text: str) -> None:
    """The field validator of ``SettingGrant.keys`` (referenced by migrations: keep the name)."""
    grant_keys(text)


class SettingGrant(models.Model):
    """Rights over some hosts and keys of the override table, for one user or one group (``GrantBackend``).

    A grant lets its holder see the admin's override screens and the rows in its scope; with ``can_edit``, also add,
    change and delete them. It never makes anyone staff, and never lets a key past the policy.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="request_settings_grants",
    )
    group = models.ForeignKey(
        "auth.Group",
        verbose_name=_("group"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="request_settings_grants",
    )
    hosts = models.TextField(
        _("hosts"),
        blank=True,
        validators=[validate_grant_hosts],
        help_text=_(
            "Host names separated by commas or spaces: shop.example.com for that host, *.example.com for every "
            "subdomain of example.com (not example.com itself); empty or “(all hosts)” for the rows of all hosts."
        ),
    )
    keys = models.TextField(
        _("keys"),
        blank=True,
        validators=[validate_grant_keys],
        help_text=_(
            "Setting names separated by commas or spaces: SESSION_COOKIE_AGE for that key, SESSION_* for every key "
            "starting with SESSION_, * for every key the policy allows. Empty grants no key."
        ),
    )
    can_edit = models.BooleanField(
        _("can edit"),
        default=False,
        help_text=_("Add, change and delete the rows in scope; otherwise only view them."),
    )

    class Meta:
        verbose_name = _("setting grant")
        verbose_name_plural = _("setting grants")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="request_settings_settinggrant_user_xor_group",
                violation_error_message=_("A grant is for a user or for a group: choose exactly one."),
            ),
        ]

    def __str__(self) -> str:
        holder = self.user if self.user_id is not None else self.group
        hosts = ", ".join(host or str(ALL_HOSTS_LABEL) for host in self.host_list())
        action = _("edit") if self.can_edit else _("view")
        return f"{holder}: {action} {self.keys.strip() or '-'} on {hosts}"

    def host_list(self) -> list[str]:
        """The hosts of ``hosts``; an unparsable text (written behind the admin's back) grants no host."""
        try:
            return grant_hosts(self.hosts)
        except ValidationError:
            return []

    def key_list(self) -> list[str]:
        """The key patterns of ``keys``; an unparsable text grants no key."""
        try:
            return grant_keys(self.keys)
        except ValidationError:
            return []

    def covers(self, key: str, host: str) -> bool:
        """Whether the row ``(key, host)`` is in this grant's scope (the key policy is the backend's concern)."""
        return any(key_pattern_matches(pattern, key) for pattern in self.key_list()) and any(
            grant_host_covers(grant_host, host) for grant_host in self.host_list()
        )


class SettingSchedule(models.Model):
    """A value of ``key`` for ``host`` in effect from ``start`` until ``end`` (None: until changed).

    Beside the override table, not in it: outside every window the plain row (or settings.py) applies again, and the
    override model is swappable. Windows of one (key, host) never overlap (``objects.schedule`` refuses it).
    """

    key = models.CharField(_("key"), max_length=255)
    host = models.CharField(_("host"), max_length=255, blank=True, default="", validators=[validate_host])
    value = TolerantJSONField(_("value"), null=True, help_text=_("A JSON value."))
    start = models.DateTimeField(_("start"), db_index=True)
    end = models.DateTimeField(_("end"), null=True, blank=True, db_index=True, help_text=_("Empty: until changed."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["host", "key", "start"]
        verbose_name = _("scheduled setting")
        verbose_name_plural = _("scheduled settings")
        indexes = [models.Index(fields=["key", "host"], name="request_set_sched_key_host_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__isnull=True) | models.Q(end__gt=models.F("start")),
                name="request_settings_settingschedule_end_after_start",
                violation_error_message=_("A schedule ends after it starts."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {in_brackets(self.host)} from {self.start:%Y-%m-%d %H:%M}"


class SettingDraft(models.Model):
    """A change its author has saved but not published: only the author's previewing browsers see it.

    ``remove`` marks a draft that unsets the override of (key, host) instead of setting ``value``.
    """

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.CASCADE,
        related_name="request_settings_drafts",
    )
    key = models.CharField(_("key"), max_length=255)
    host = models.CharField(_("host"), max_length=255, blank=True, default="", validators=[validate_host])
    value = TolerantJSONField(_("value"), null=True, blank=True, help_text=_("A JSON value."))
    remove = models.BooleanField(_("remove"), default=False, help_text=_("Publishing removes the override."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["author", "host", "key"]
        verbose_name = _("setting draft")
        verbose_name_plural = _("setting drafts")
        constraints = [
            models.UniqueConstraint(
                fields=["author", "key", "host"], name="request_settings_settingdraft_unique_author_key_host"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {in_brackets(self.host)} (draft by {self.author})"
