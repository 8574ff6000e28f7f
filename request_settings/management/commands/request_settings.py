"""``manage.py request_settings``: list, read, change, export and import the overrides; run a command per host.

Every change goes through the write API (``SettingOverride.objects.set``/``unset``), so it is
validated, audited and announced like a change made in the admin. It is also the way back in when
an override locks staff out. ``run`` runs any management command inside a host's layer (cron jobs per tenant).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, router, transaction
from django.db.models import Q
from django.utils import timezone

from request_settings import policy, schedules
from request_settings.activation import activate
from request_settings.conf.settings import settings as conf
from request_settings.effective import Effective, resolve, row_problem
from request_settings.exceptions import InvalidHost
from request_settings.fields import parse_value
from request_settings.forms import MASK, display_value, host_label, is_secret, visible
from request_settings.hosts import clean_host
from request_settings.jsonfield import Undecodable, json_text
from request_settings.models import SettingSchedule, get_override_model, in_brackets

_DISABLED = "REQUEST_SETTINGS_ENABLED is False"
"""The reason ``effective.resolve`` gives for every row while the kill switch is off (the command says it once)."""
_NOT_SET = "(not set)"
_FIELDS = ("key", "host", "value")
_WINDOW_FIELDS = ("start", "end")
"""An export entry with these is a scheduled value (``objects.schedule``); files written before have none."""
MAX_FILE_SIZE = 64 * 1024 * 1024
"""The most ``import`` reads (64 MiB): an export of thousands of rows is far smaller, and a huge or endless input
(``/dev/zero``) is refused after this much instead of filling the memory."""


def _text(text: str) -> str:
    """argparse type of a value or username: bytes that are not UTF-8 arrive as lone surrogates (surrogateescape)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not UTF-8 text (is the terminal's encoding UTF-8?)") from None
    return text


def _host(text: str) -> str:
    """argparse type of --host: the one host rule (``hosts.clean_host``), patterns included; "" is every host."""
    try:
        return clean_host(text)
    except InvalidHost as error:
        raise argparse.ArgumentTypeError(str(error)) from error


class _AsJSON:
    """A non-string host of an import file, spelled as in the file (``null``, ``true``) in clean_host's message."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return json_text(self.value)


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _activation(text: str) -> activate:
    """argparse type of ``run --host``: the ``activate()`` of a host a request can have ("" for all hosts)."""
    try:
        return activate(text)
    except ValueError as error:  # InvalidHost
        raise argparse.ArgumentTypeError(str(error)) from error


def _scope(host: str) -> str:
    """``(shop.example.com)`` or ``(all hosts)``, to follow a key."""
    return f"({host})" if host else host_label(host)


def _messages(error: ValidationError) -> str:
    return " ".join(error.messages)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _NamedTwice(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An import file's object, refused if it names a field twice (``json`` would keep the last one silently)."""
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise _NamedTwice(name)
        found[name] = value
    return found


class Command(BaseCommand):
    help = (
        "List, read, change, export and import the per-host overrides of django.conf.settings; "
        "run a management command inside a host's overrides."
    )
    # The lock-out recovery path: a failing system check must not stop `unset`.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        self._common_options: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_base_argument(self, parser: CommandParser, *args: Any, **kwargs: Any) -> None:
        """Django's common options (-v, --settings, --traceback, ...): noted, to be accepted after the action too."""
        self._common_options.append((args, kwargs))
        super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        def host_option(sub: CommandParser, help_text: str) -> None:
            sub.add_argument("--host", type=_host, default=None, help=help_text)

        def user_option(sub: CommandParser) -> None:
            sub.add_argument(
                "--user",
                type=_text,
                metavar="USERNAME",
                help="Record this user as the author of the change (audit).",
            )

        def draft_option(sub: CommandParser) -> None:
            sub.add_argument(
                "--draft",
                action="store_true",
                help="Save the change as a draft of --user (who previews it in the browser; publish it there).",
            )

        sub = actions.add_parser("list", help="Show the overrides, secret-looking values masked.")
        host_option(sub, "Only the rows of this host ('' for the all-hosts rows); default: every row.")

        sub = actions.add_parser("get", help="Show the effective value of KEY for a host, and where it comes from.")
        sub.add_argument("key", metavar="KEY")
        host_option(sub, "The host whose view to show; default: what an unknown host gets.")

        sub = actions.add_parser("set", help="Override KEY with VALUE (typed and validated like the admin form).")
        sub.add_argument("key", metavar="KEY")
        sub.add_argument("value", type=_text, metavar="VALUE", help="Text, parsed as the admin form parses it.")
        host_option(sub, "Override for this host only; default: every host.")
        user_option(sub)
        draft_option(sub)
        sub.add_argument(
            "--from",
            dest="start",
            metavar="TIME",
            help="Schedule the value instead of setting it: it takes effect at TIME (ISO 8601 such as "
            "2026-12-24T18:00, or with an offset such as 2026-12-24T18:00+01:00; without one, TIME is read in the "
            "current time zone, TIME_ZONE). Default with --until: now.",
        )
        sub.add_argument(
            "--until",
            dest="end",
            metavar="TIME",
            help="Schedule the value instead of setting it: it stops applying at TIME (as --from). Default with "
            "--from: until changed.",
        )

        sub = actions.add_parser("unset", help="Remove the override of KEY.")
        sub.add_argument("key", metavar="KEY")
        host_option(sub, "Remove this host's override; default: the all-hosts override.")
        user_option(sub)
        draft_option(sub)
        sub.add_argument(
            "--scheduled",
            action="store_true",
            help="Cancel the scheduled values of KEY for the host (in effect or to come) instead of the override.",
        )

        sub = actions.add_parser(
            "export", help="Write the overrides to stdout as JSON, secrets in full (for `import`)."
        )
        host_option(sub, "Only the rows of this host ('' for the all-hosts rows); default: every row.")

        sub = actions.add_parser("import", help="Apply a file written by `export`: all or nothing.")
        sub.add_argument("file", metavar="FILE", help="The file to read (at most 64 MiB); - reads stdin.")
        sub.add_argument("--dry-run", action="store_true", help="Show what would change; write nothing.")
        sub.add_argument(
            "--replace",
            action="store_true",
            help="Make the table exactly the file: delete rows not in it.",
        )
        user_option(sub)

        sub = actions.add_parser(
            "run",
            help="Run a management command inside a host's overrides: run --host HOST -- COMMAND [ARGS...].",
        )
        target = sub.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--host",
            type=_activation,
            dest="activation",
            metavar="HOST",
            help="The host whose overrides the command sees ('' for what an unknown host gets).",
        )
        target.add_argument(
            "--all-hosts",
            action="store_true",
            help="Run the command once per host that has override rows or scheduled values not over yet, each inside "
            "its own overrides.",
        )
        sub.add_argument(
            "command",
            nargs=argparse.REMAINDER,
            metavar="-- COMMAND [ARGS...]",
            help="The management command and its arguments, after --.",
        )

        # argparse gives what follows the action to the action's parser alone: without these, Django's common
        # options are "unrecognized arguments" there. SUPPRESS keeps a value given before the action.
        for action_parser in actions.choices.values():
            for args, kwargs in self._common_options:
                super().add_base_argument(action_parser, *args, **{**kwargs, "default": argparse.SUPPRESS})

    def handle(self, *args: Any, **options: Any) -> None:
        action: str = options["action"]
        try:
            getattr(self, f"_{action}")(options)
        except DatabaseError as error:  # a write failing here is rolled back by its atomic block
            raise CommandError(f"Cannot {action}: the database failed: {error}.") from error

    # -- reading ---------------------------------------------------------------------------

    def _list(self, options: dict[str, Any]) -> None:
        host: str | None = options["host"]
        rows = get_override_model()._default_manager.all()
        if host is not None:
            rows = rows.filter(host=host)
        found = sorted(rows.values_list("host", "key", "value"), key=lambda row: (row[0], row[1]))
        if not found:
            where = "" if host is None else f" for {host_label(host)}"
            self.stdout.write(f"No overrides{where}.")
        width = max((len(visible(host_label(row_host))) for row_host, _key, _value in found), default=0)
        for row_host, key, value in found:
            line = f"{visible(host_label(row_host)):<{width}}  {key} = {display_value(key, value)}"
            problem = row_problem(key, value, row_host)
            self.stdout.write(visible(line if problem is None else f"{line}  (ignored: {problem})"))
        self._list_schedules(host)
        self._warn_if_disabled()

    def _list_schedules(self, host: str | None) -> None:
        """The scheduled values that have not ended, after the rows: each with its window."""
        now = timezone.now()
        rows = SettingSchedule.objects.filter(Q(end__isnull=True) | Q(end__gt=now))
        if host is not None:
            rows = rows.filter(host=host)
        found = sorted(rows, key=lambda row: (row.host, row.key, row.start))
        if not found:
            return
        self.stdout.write("Scheduled:")
        width = max(len(visible(host_label(row.host))) for row in found)
        for row in found:
            state = "in effect" if row.start <= now else "upcoming"
            line = f"{visible(host_label(row.host)):<{width}}  {row.key} = {display_value(row.key, row.value)}"
            self.stdout.write(visible(f"{line}  {schedules.window_text(row.start, row.end)} ({state})"))

    def _get(self, options: dict[str, Any]) -> None:
        # The one resolver of the effective page and the API: patterns, scheduled values and the kill switch included.
        key = self._key(options["key"])
        host: str = options["host"] or ""
        reason = policy.refusal(key)
        if reason is not None:
            self.stderr.write(f"{key} cannot be overridden: {reason}.")
        (line,) = resolve(host, [key])
        for row_host, problem in line.ignored:
            if problem != _DISABLED:  # said once, below
                self.stderr.write(f"The {_source(row_host, host)} is ignored: {problem}.")
        if line.source_host is not None:
            self.stdout.write(visible(f"{key} = {display_value(key, line.value)} ({_source_text(line)})"))
        elif line.is_set:
            self.stdout.write(visible(f"{key} = {display_value(key, line.value)} (settings.py)"))
        else:
            self.stdout.write(f"{key}: not set")
        self._warn_if_disabled()

    def _export(self, options: dict[str, Any]) -> None:
        host: str | None = options["host"]
        rows = get_override_model()._default_manager.all()
        if host is not None:
            rows = rows.filter(host=host)
        # Sorted here, not by the database: a collation must not change the file.
        found = sorted(rows.values_list("key", "host", "value"), key=lambda row: (row[1], row[0]))
        for key, row_host, value in found:
            if isinstance(value, Undecodable):
                reason = f"its stored value cannot be decoded ({value.error})"
                self.stderr.write(visible(f"Skipped {key} {in_brackets(row_host)}: {reason}."))
        found = [row for row in found if not isinstance(row[2], Undecodable)]
        entries: list[tuple[tuple[str, str, str], dict[str, Any]]] = [
            ((row_host, key, ""), {"key": key, "host": row_host, "value": value}) for key, row_host, value in found
        ]
        windows = _export_windows(host, self.stderr.write)
        # A row's entries: the plain row first, then its windows by start (ISO times in UTC sort as times).
        entries.extend(((entry["host"], entry["key"], entry["start"]), entry) for entry in windows)
        lines = [
            visible(json.dumps(entry, ensure_ascii=False))
            for _order, entry in sorted(entries, key=lambda item: item[0])
        ]
        self.stdout.write("[\n" + ",\n".join(lines) + "\n]" if lines else "[]")
        secrets = sorted({entry["key"] for _order, entry in entries if is_secret(entry["key"])})
        counts = f"{len(found)} override(s)" + (f" and {len(windows)} scheduled value(s)" if windows else "")
        if secrets:
            self.stderr.write(
                f"Exported {counts}. Values are written in full, the secret-looking ones "
                f"({', '.join(secrets)}) included: keep the file private."
            )
        else:
            self.stderr.write(f"Exported {counts}.")

    # -- writing ---------------------------------------------------------------------------

    def _set(self, options: dict[str, Any]) -> None:
        key = self._key(options["key"])
        reason = policy.refusal(key)
        if reason is not None:
            raise CommandError(f"{key} cannot be overridden: {reason}.")
        host: str = options["host"] or ""
        try:
            value = parse_value(key, options["value"], host=host)
        except ValidationError as error:
            raise CommandError(_messages(error)) from error
        user = self._user(options["user"])
        if options["start"] is not None or options["end"] is not None:
            if options["draft"]:
                raise CommandError("--draft cannot be combined with --from/--until: a draft is not scheduled.")
            self._schedule(key, value, host, user, options["start"], options["end"])
            return
        if options["draft"]:
            self._draft(user, key, value, host)
            return
        model = get_override_model()
        previous = model._default_manager.filter(key=key, host=host).values_list("value").first()
        try:
            model.objects.set(key, value, host=host, user=user)
        except ValidationError as error:
            raise CommandError(_messages(error)) from error
        before = _NOT_SET if previous is None else display_value(key, previous[0])
        self.stdout.write(visible(f"{key}: {before} -> {display_value(key, value)} {_scope(host)}"))
        if not policy.is_checked(key):
            self.stderr.write(f"Note: the value of {key} is not checked: {policy.UNCHECKED_WHY}")

    def _unset(self, options: dict[str, Any]) -> None:
        key = self._key(options["key"])
        host: str = options["host"] or ""
        user = self._user(options["user"])
        if options["scheduled"]:
            if options["draft"]:
                raise CommandError("--draft cannot be combined with --scheduled: a draft does not cancel a schedule.")
            self._unschedule(key, host, user)
            return
        if options["draft"]:
            self._draft(user, key, None, host, remove=True)
            return
        model = get_override_model()
        old = model._default_manager.filter(key=key, host=host).values_list("value", flat=True).first()
        if model.objects.unset(key, host=host, user=user):
            self.stdout.write(visible(f"{key}: {display_value(key, old)} -> {_NOT_SET} {_scope(host)}"))
        else:
            self.stdout.write(f"{key} has no override for {host or 'all hosts'}: nothing changed.")

    def _schedule(self, key: str, value: Any, host: str, user: Any, start: str | None, end: str | None) -> None:
        """``set --from/--until``: the value in effect in a window (``objects.schedule``), not the override."""
        try:
            window = [
                None if text is None else schedules.aware(text, field=name)
                for name, text in (("--from", start), ("--until", end))
            ]
            row = get_override_model().objects.schedule(
                key, value, host=host, start=window[0], end=window[1], user=user
            )
        except ValidationError as error:
            raise CommandError(_messages(error)) from error
        self.stdout.write(
            f"{key}: {display_value(key, value)} scheduled {schedules.window_text(row.start, row.end)} {_scope(host)}"
        )

    def _unschedule(self, key: str, host: str, user: Any) -> None:
        """``unset --scheduled``: cancel the windows of (key, host) in effect or to come (the way back in, too)."""
        now = timezone.now()
        rows = SettingSchedule.objects.filter(key=key, host=host).filter(Q(end__isnull=True) | Q(end__gt=now))
        found = list(rows.order_by("start"))
        if not found:
            self.stdout.write(f"{key} has no scheduled value for {host or 'all hosts'}: nothing changed.")
            return
        manager = get_override_model().objects
        with transaction.atomic(using=router.db_for_write(SettingSchedule)):
            for row in found:
                manager.unschedule(row, user=user)
        for row in found:
            window = schedules.window_text(row.start, row.end)
            self.stdout.write(visible(f"{key}: cancelled {display_value(key, row.value)} {window} {_scope(host)}"))

    def _draft(self, user: Any, key: str, value: Any, host: str, *, remove: bool = False) -> None:
        """``set``/``unset --draft``: the change goes to ``user``'s drafts, validated as a write."""
        from request_settings.preview import save_draft

        if user is None:
            raise CommandError("--draft needs --user USERNAME: a draft belongs to the user who previews it.")
        try:
            save_draft(user, key, value, host, remove=remove)
        except ValidationError as error:
            raise CommandError(_messages(error)) from error
        change = _NOT_SET if remove else display_value(key, value)
        self.stdout.write(visible(f"{key}: draft of {user.get_username()} -> {change} {_scope(host)} (not published)"))

    def _import(self, options: dict[str, Any]) -> None:
        path: str = "stdin" if options["file"] == "-" else options["file"]
        dry_run: bool = options["dry_run"]
        user = self._user(options["user"])
        wanted, windows = self._read_entries(options["file"], path)
        model = get_override_model()
        using = router.db_for_write(model)
        schedules_using = router.db_for_write(SettingSchedule)
        try:
            if dry_run:
                # Plain reads, no transaction and no lock: a read-only user or a replica can run it. The plan meets
                # every check the import does, so it refuses what the import would refuse.
                changes, cancelled, added = _plan(wanted, windows, replace=options["replace"])
            else:
                with transaction.atomic(using=using), transaction.atomic(using=schedules_using):
                    changes, cancelled, added = _plan(wanted, windows, replace=options["replace"])
                    # Windows replaced or dropped go first, so that the file's windows may take their time.
                    for row in cancelled:
                        model.objects.unschedule(row, user=user)
                    for sign, key, host, _old, value in changes:
                        if sign == "-":
                            model.objects.unset(key, host=host, user=user)
                        else:
                            model.objects.set(key, value, host=host, user=user)
                    for key, host, value, start, end in added:
                        model.objects.schedule(key, value, host=host, start=start, end=end, user=user)
        except (ValidationError, DatabaseError) as error:
            detail = _messages(error) if isinstance(error, ValidationError) else str(error)
            raise CommandError(f"Import of {path} failed, nothing was written: {detail}") from error
        # Said once the import has committed: a failed one shows no line for a change it did not make.
        for row in cancelled:
            self.stdout.write(visible(_window_line("-", row.key, row.host, row.value, row.start, row.end)))
        for change in changes:
            self.stdout.write(visible(_change_line(*change)))
        for window in added:
            self.stdout.write(visible(_window_line("+", *window)))
        signs = [change[0] for change in changes]
        unchanged = len(wanted) - signs.count("+") - signs.count("~")
        counts = (
            f"{signs.count('+')} created, {signs.count('~')} updated, {signs.count('-')} deleted, {unchanged} unchanged"
        )
        if windows or cancelled:
            counts += (
                f"; scheduled values: {len(added)} added, {len(cancelled)} cancelled, "
                f"{len(windows) - len(added)} unchanged"
            )
        if dry_run:
            self.stdout.write(f"Dry run of {path}: would be {counts}. Nothing was written.")
        else:
            self.stdout.write(f"Imported {path}: {counts}.")

    def _read_entries(self, file: str, path: str) -> tuple[dict[tuple[str, str], Any], list[Window]]:
        """The overrides of ``file`` (``path`` in messages) by (key, host), and its scheduled values that have not
        ended, all validated; CommandError naming each bad one. Windows that have ended are skipped (they would never
        apply)."""
        try:
            if file == "-":
                raw = sys.stdin.buffer.read(MAX_FILE_SIZE + 1)
            else:
                with open(file, "rb") as opened:
                    raw = opened.read(MAX_FILE_SIZE + 1)
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from error
        if len(raw) > MAX_FILE_SIZE:
            raise CommandError(f"{path} is larger than 64 MiB, the most import reads; nothing was written.")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text: {error.reason}.") from error
        try:
            data = json.loads(text, object_pairs_hook=_unique_names)
        except _NamedTwice as error:
            raise CommandError(
                f"{path} names {error.name!r} twice in one object: JSON would keep only the last one silently."
            ) from None
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{path} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
            ) from error
        except (ValueError, RecursionError) as error:  # past the reader's limits: 4,300 digits, the recursion limit
            reason = "nested too deeply" if isinstance(error, RecursionError) else "a number is too long"
            raise CommandError(f"{path} cannot be read as JSON: {reason}.") from None
        if not isinstance(data, list):
            raise CommandError(
                f'{path} should hold a JSON array of {{"key", "host", "value"}} objects, '
                "as `export` writes; "
                f"it holds a JSON {_JSON_TYPES.get(type(data), 'null')}."
            )
        wanted: dict[tuple[str, str], Any] = {}
        seen: dict[tuple[str, str], int] = {}
        windows: list[Window] = []
        seen_windows: dict[tuple[str, str, datetime.datetime], int] = {}
        problems: list[str] = []
        now = timezone.now()
        for line, entry in zip(_entry_lines(text), data, strict=True):
            key, problem = self._entry_problem(entry)
            if problem is None and isinstance(entry, dict) and set(_WINDOW_FIELDS) & set(entry):
                host = clean_host(entry.get("host", ""))
                window, problem = _entry_window(entry)
                if window is None or problem is not None:
                    pass
                elif (key, host, window[0]) in seen_windows:
                    first = seen_windows[key, host, window[0]]
                    problem = (
                        f"a second window of {key} {_scope(host)} from {schedules.when(window[0])}, after line {first}"
                    )
                elif window[1] is not None and window[1] <= now:
                    ended = schedules.window_text(*window)
                    self.stderr.write(f"{path}: line {line}, key {key}: skipped, its window {ended} has ended.")
                else:
                    seen_windows[key, host, window[0]] = line
                    windows.append((key, host, entry["value"], window[0], window[1]))
            elif problem is None:
                host = clean_host(entry.get("host", ""))  # valid: _entry_problem checked it
                if (key, host) in seen:
                    first = seen[key, host]
                    problem = f"a second entry for {key} {_scope(host)}, after line {first}"
                else:
                    seen[key, host] = line
                    wanted[key, host] = entry["value"]
            if problem is not None:
                problems.append(visible(f"line {line}, key {key or '?'}: {problem}"))
        if problems:
            for problem in problems:
                self.stderr.write(f"{path}: {problem}")
            count = f"{len(problems)} bad entr{'y' if len(problems) == 1 else 'ies'}"
            raise CommandError(f"{path} has {count} (first: {problems[0]}); nothing was written.")
        return wanted, windows

    @staticmethod
    def _entry_problem(entry: Any) -> tuple[str, str | None]:
        """The entry's key (or "") and what is wrong with it, in words, if anything."""
        if not isinstance(entry, dict):
            return "", 'expected an object with "key", "host" and "value"'
        key = entry.get("key")
        if not isinstance(key, str):
            return "", f'"key" should be a setting name, not {json_text(key)}'
        unknown = sorted(set(entry) - set(_FIELDS) - set(_WINDOW_FIELDS))
        if unknown:
            return (
                key,
                f"unknown field(s) {', '.join(unknown)}; expected key, host and value "
                "(and start and end for a scheduled value)",
            )
        if "value" not in entry:
            return key, 'no "value"'
        try:
            host = entry.get("host", "")
            host = clean_host(host if isinstance(host, str) else _AsJSON(host))  # the one host rule, as --host
        except InvalidHost as error:
            return key, str(error)
        reason = policy.refusal(key)
        if reason is not None:
            return key, f"{key} cannot be overridden: {reason}."
        accepted = policy.value_problem(key, entry["value"], host)
        if accepted is not None:
            shown = MASK if is_secret(key) else json_text(entry["value"])
            return key, f"{shown} is not a valid value for {key}: expected {accepted}."
        return key, None

    # -- running a command per host --------------------------------------------------------

    def _run(self, options: dict[str, Any]) -> None:
        name, args = self._command_line(options["command"])
        if options["activation"] is not None:
            status = self._run_once(options["activation"], name, args)
            self._warn_if_disabled()
            if status:
                raise CommandError(
                    f"{name} exited with status {status} for {_label(options['activation'].host)}.", returncode=status
                )
            return
        hosts = _hosts_with_rows()
        if not hosts:
            self.stderr.write(f"No host has override rows or scheduled values of its own: {name} was not run.")
        failed: list[tuple[str, int]] = []
        for host in hosts:
            if options["verbosity"] >= 1:
                self.stderr.write(visible(f"== {host}: {' '.join([name, *args])}"))
            status = self._run_once(activate(host), name, args)
            if status:
                failed.append((host, status))
            if options["verbosity"] >= 1 or status:
                self.stderr.write(visible(f"== {host}: exit status {status}"))
        self._warn_if_disabled()
        if failed:
            which = ", ".join(f"{host} (exit status {status})" for host, status in failed)
            raise CommandError(f"{name} failed for {len(failed)} of {len(hosts)} hosts: {which}.")

    @staticmethod
    def _command_line(words: list[str]) -> tuple[str, list[str]]:
        """The command name and its arguments, from what follows ``run``'s options (``--`` first)."""
        if words and words[0] == "--":
            words = words[1:]
        if not words:
            raise CommandError("run needs a command: run --host HOST -- COMMAND [ARGS...].")
        name, *args = words
        if name not in get_commands():
            raise CommandError(f"Unknown command: {name!r}. Type 'manage.py help' for the list of commands.")
        return name, args

    def _run_once(self, activation: activate, name: str, args: list[str]) -> int:
        """Run the command inside the host's layer, as the command line would; its exit status."""
        with activation:
            try:
                call_command(name, *args, stdout=self.stdout, stderr=self.stderr)
            except CommandError as error:
                self.stderr.write(f"{type(error).__name__}: {error}")
                return error.returncode
            except SystemExit as error:
                return _exit_status(error)
            except Exception:
                self.stderr.write(traceback.format_exc())
                return 1
        return 0

    # -- shared ----------------------------------------------------------------------------

    @staticmethod
    def _key(key: str) -> str:
        if not policy.KEY_PATTERN.fullmatch(key):
            raise CommandError(f"{key!r} is not a setting name: {policy.MALFORMED}.")
        return key

    @staticmethod
    def _user(username: str | None) -> Any:
        if username is None:
            return None
        user_model = get_user_model()
        try:
            return user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist as error:
            raise CommandError(f"No user {username!r}: --user takes the username of an existing user.") from error

    def _warn_if_disabled(self) -> None:
        if not conf.ENABLED:
            self.stderr.write("REQUEST_SETTINGS_ENABLED is False: no override applies, requests get settings.py.")


def _source(row_host: str, host: str) -> str:
    """The row ``row_host`` as seen from ``host``: ``host override for H``, ``pattern override for *.example.com``,
    ``all-hosts override``."""
    if not row_host:
        return "all-hosts override"
    return f"{'host' if row_host == host else 'pattern'} override for {row_host}"


def _source_text(line: Effective) -> str:
    """Where ``line``'s value comes from; a scheduled value says until when, in the words of the effective page."""
    assert line.source_host is not None
    text = _source(line.source_host, line.host)
    if line.scheduled:
        text += ", scheduled " + ("until changed" if line.until is None else f"until {schedules.when(line.until)}")
    return text


def _label(host: str) -> str:
    return host or str(host_label(host))


def _hosts_with_rows() -> list[str]:
    """The hosts that have rows of their own or scheduled values not over yet (in effect or to come), sorted:
    patterns and the all-hosts rows are not hosts."""
    rows = get_override_model()._default_manager.exclude(host="").order_by().values_list("host", flat=True)
    windows = SettingSchedule.objects.exclude(host="").filter(Q(end__isnull=True) | Q(end__gt=timezone.now()))
    hosts = {*rows.distinct(), *windows.order_by().values_list("host", flat=True).distinct()}
    return sorted(host for host in hosts if not host.startswith("*."))


def _exit_status(error: SystemExit) -> int:
    """The status ``sys.exit(code)`` gives the shell: None is 0, an int is itself, anything else is 1."""
    if error.code is None:
        return 0
    return error.code if isinstance(error.code, int) else 1


Window = tuple[str, str, Any, datetime.datetime, "datetime.datetime | None"]
"""A scheduled value of an import file: (key, host, value, start, end)."""


def _export_windows(host: str | None, skipped: Callable[[str], Any]) -> list[dict[str, Any]]:
    """The scheduled values that have not ended as export entries: times in UTC, ISO 8601, ``end`` null if none.

    One whose stored value cannot be decoded is left out and said to ``skipped``, as a row is (an ``import --replace``
    of the file would cancel it)."""
    rows = SettingSchedule.objects.filter(Q(end__isnull=True) | Q(end__gt=timezone.now()))
    if host is not None:
        rows = rows.filter(host=host)
    entries = []
    for key, row_host, value, start, end in rows.values_list("key", "host", "value", "start", "end"):
        if isinstance(value, Undecodable):
            reason = f"its stored value cannot be decoded ({value.error})"
            skipped(visible(f"Skipped {key} {in_brackets(row_host)} {schedules.window_text(start, end)}: {reason}."))
            continue
        stop = None if end is None else _iso(end)
        entries.append({"key": key, "host": row_host, "value": value, "start": _iso(start), "end": stop})
    return entries


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat()


def _entry_window(
    entry: dict[str, Any],
) -> tuple[tuple[datetime.datetime, datetime.datetime | None] | None, str | None]:
    """The window of an import entry: ``start`` (required) and ``end`` (null: until changed), as ``set --from``."""
    if not settings.USE_TZ:
        return None, "a scheduled value needs USE_TZ = True (a window's times need a time zone)"
    texts = {name: entry.get(name) for name in _WINDOW_FIELDS}
    if not isinstance(texts["start"], str):
        return (
            None,
            f'"start" should be an ISO 8601 time such as "2026-12-24T18:00:00+00:00", not {json_text(texts["start"])}',
        )
    if texts["end"] is not None and not isinstance(texts["end"], str):
        return None, f'"end" should be an ISO 8601 time or null (until changed), not {json_text(texts["end"])}'
    try:
        start = schedules.aware(texts["start"], field="start")
        end = None if texts["end"] is None else schedules.aware(texts["end"], field="end")
    except ValidationError as error:
        return None, _messages(error)
    if end is not None and end <= start:
        return None, f"the end {schedules.when(end)} should be after the start {schedules.when(start)}"
    return (start, end), None


def _plan(
    wanted: dict[tuple[str, str], Any], windows: list[Window], *, replace: bool
) -> tuple[list[Change], list[SettingSchedule], list[Window]]:
    """What importing the file changes, read from the databases the import writes, and refused (ValidationError) as
    ``objects.schedule`` would refuse it: (changes, windows to cancel, windows to schedule)."""
    model = get_override_model()
    rows = model._default_manager.using(router.db_for_write(model)).values_list("key", "host", "value")
    changes = _changes({(key, host): value for key, host, value in rows}, wanted, replace=replace)
    cancelled, added = _window_changes(windows, replace=replace)
    _check_overlaps(cancelled, added)
    return changes, cancelled, added


def _check_overlaps(cancelled: list[SettingSchedule], added: list[Window]) -> None:
    """Raise the refusal of ``objects.schedule`` (``schedules.overlap_error``) for the first window of ``added`` that
    overlaps a stored one left in place or one added before it: found by reading, so a dry run finds it too."""
    gone = {row.pk for row in cancelled}
    placed: dict[tuple[str, str], list[SettingSchedule]] = {}
    for key, host, value, start, end in added:
        if (key, host) not in placed:
            stored = SettingSchedule.objects.using(router.db_for_write(SettingSchedule)).filter(key=key, host=host)
            placed[key, host] = [row for row in stored if row.pk not in gone]
        others = [row for row in placed[key, host] if schedules.overlaps(start, end, row.start, row.end)]
        if others:
            raise schedules.overlap_error(key, host, min(others, key=lambda row: row.start))
        placed[key, host].append(SettingSchedule(key=key, host=host, value=value, start=start, end=end))


def _window_changes(windows: list[Window], *, replace: bool) -> tuple[list[SettingSchedule], list[Window]]:
    """(windows to cancel, windows to schedule): a file window with the start of a stored one of the same (key,
    host) replaces it if its end or value differ; with ``replace``, stored windows not in the file are cancelled."""
    rows = SettingSchedule.objects.using(router.db_for_write(SettingSchedule))
    stored = {
        (row.key, row.host, row.start): row for row in rows.filter(Q(end__isnull=True) | Q(end__gt=timezone.now()))
    }
    cancelled: list[SettingSchedule] = []
    added: list[Window] = []
    kept: set[int] = set()
    for window in windows:
        key, host, value, start, end = window
        row = stored.get((key, host, start))
        if row is not None and row.end == end and _canonical(row.value) == _canonical(value):
            kept.add(row.pk)
            continue
        if row is not None:
            cancelled.append(row)
            kept.add(row.pk)
        added.append(window)
    if replace:
        cancelled.extend(row for row in stored.values() if row.pk not in kept)
    order = lambda item: (item[1], item[0], item[3])  # noqa: E731
    return sorted(cancelled, key=lambda row: (row.host, row.key, row.start)), sorted(added, key=order)


def _window_line(
    sign: str, key: str, host: str, value: Any, start: datetime.datetime, end: datetime.datetime | None
) -> str:
    return f"{sign} {key} {_scope(host)} = {display_value(key, value)} {schedules.window_text(start, end)}"


Change = tuple[str, str, str, Any, Any]
"""(sign, key, host, old value, new value); sign is + (create), ~ (update) or - (delete)."""


def _changes(current: dict[tuple[str, str], Any], wanted: dict[tuple[str, str], Any], *, replace: bool) -> list[Change]:
    """What importing ``wanted`` over ``current`` changes, sorted by host then key."""
    changes: list[Change] = []
    for (key, host), value in wanted.items():
        if (key, host) not in current:
            changes.append(("+", key, host, None, value))
        elif _canonical(current[key, host]) != _canonical(value):
            changes.append(("~", key, host, current[key, host], value))
    if replace:
        changes.extend(
            ("-", key, host, value, None) for (key, host), value in current.items() if (key, host) not in wanted
        )
    return sorted(changes, key=lambda change: (change[2], change[1]))


def _change_line(sign: str, key: str, host: str, old: Any, value: Any) -> str:
    where = f"{sign} {key} {_scope(host)}"
    if sign == "+":
        return f"{where} = {display_value(key, value)}"
    if sign == "~":
        return f"{where}: {display_value(key, old)} -> {display_value(key, value)}"
    return f"{where}: {display_value(key, old)}"


def _entry_lines(text: str) -> Iterable[int]:
    """The line on which each element of the JSON array ``text`` starts (``text`` is valid JSON)."""
    decoder = json.JSONDecoder()
    index = text.index("[") + 1
    line = 1 + text.count("\n", 0, index)
    while True:
        start = index
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        if index >= len(text) or text[index] == "]":
            return
        line += text.count("\n", start, index)
        yield line
        start = index
        _value, index = decoder.raw_decode(text, index)
        line += text.count("\n", start, index)
