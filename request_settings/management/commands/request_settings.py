"""``manage.py request_settings``: list, read, change, export and import the overrides; run a command per host.

Every change goes through the write API (``SettingOverride.objects.set``/``unset``), so it is
validated, audited and announced like a change made in the admin. It is also the way back in when
an override locks staff out. ``run`` runs any management command inside a host's layer (cron jobs per tenant).
"""

from __future__ import annotations

import argparse
import json
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, router, transaction

from request_settings import policy
from request_settings.activation import activate
from request_settings.conf.settings import settings as conf
from request_settings.effective import row_problem
from request_settings.exceptions import InvalidHost
from request_settings.fields import parse_value
from request_settings.forms import display_value, host_label, is_secret
from request_settings.hosts import clean_host
from request_settings.jsonfield import Undecodable, json_text
from request_settings.models import get_override_model, in_brackets

_MISSING = object()
_NOT_SET = "(not set)"
_FIELDS = ("key", "host", "value")


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
        sub.add_argument("value", metavar="VALUE", help="Text, parsed as the admin form parses it.")
        host_option(sub, "Override for this host only; default: every host.")
        user_option(sub)
        draft_option(sub)

        sub = actions.add_parser("unset", help="Remove the override of KEY.")
        sub.add_argument("key", metavar="KEY")
        host_option(sub, "Remove this host's override; default: the all-hosts override.")
        user_option(sub)
        draft_option(sub)

        sub = actions.add_parser(
            "export", help="Write the overrides to stdout as JSON, secrets in full (for `import`)."
        )
        host_option(sub, "Only the rows of this host ('' for the all-hosts rows); default: every row.")

        sub = actions.add_parser("import", help="Apply a file written by `export`: all or nothing.")
        sub.add_argument("file", metavar="FILE")
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
            help="Run the command once per host that has override rows, each inside its own overrides.",
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
        getattr(self, f"_{action}")(options)

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
        width = max((len(host_label(row_host)) for row_host, _key, _value in found), default=0)
        for row_host, key, value in found:
            line = f"{host_label(row_host):<{width}}  {key} = {display_value(key, value)}"
            problem = row_problem(key, value, row_host)
            self.stdout.write(line if problem is None else f"{line}  (ignored: {problem})")
        self._warn_if_disabled()

    def _get(self, options: dict[str, Any]) -> None:
        key = self._key(options["key"])
        host: str = options["host"] or ""
        sources = [(host, f"host override for {host}")] if host else []
        sources.append(("", "all-hosts override"))
        rows = dict(
            get_override_model()
            ._default_manager.filter(key=key, host__in=[source_host for source_host, _ in sources])
            .values_list("host", "value")
        )
        reason = policy.refusal(key)
        if reason is not None:
            self.stderr.write(f"{key} cannot be overridden: {reason}.")
        for source_host, source in sources:
            if source_host not in rows:
                continue
            problem = row_problem(key, rows[source_host], source_host)
            if problem is not None:
                self.stderr.write(f"The {source} is ignored: {problem}.")
                continue
            value = policy.coerce(key, rows[source_host])
            self.stdout.write(f"{key} = {display_value(key, value)} ({source})")
            break
        else:
            base = policy.base_value(key, _MISSING)
            if base is _MISSING:
                self.stdout.write(f"{key}: not set")
            else:
                self.stdout.write(f"{key} = {display_value(key, base)} (settings.py)")
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
                self.stderr.write(f"Skipped {key} {in_brackets(row_host)}: {reason}.")
        found = [row for row in found if not isinstance(row[2], Undecodable)]
        lines = [
            json.dumps({"key": key, "host": row_host, "value": value}, ensure_ascii=False)
            for key, row_host, value in found
        ]
        self.stdout.write("[\n" + ",\n".join(lines) + "\n]" if lines else "[]")
        secrets = sorted({key for key, _host, _value in found if is_secret(key)})
        if secrets:
            self.stderr.write(
                f"Exported {len(found)} override(s). Values are written in full, the secret-looking ones "
                f"({', '.join(secrets)}) included: keep the file private."
            )
        else:
            self.stderr.write(f"Exported {len(found)} override(s).")

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
        self.stdout.write(f"{key}: {before} -> {display_value(key, value)} {_scope(host)}")
        if not policy.is_checked(key):
            self.stderr.write(f"Note: the value of {key} is not checked: {policy.UNCHECKED_WHY}")

    def _unset(self, options: dict[str, Any]) -> None:
        key = self._key(options["key"])
        host: str = options["host"] or ""
        user = self._user(options["user"])
        if options["draft"]:
            self._draft(user, key, None, host, remove=True)
            return
        model = get_override_model()
        old = model._default_manager.filter(key=key, host=host).values_list("value", flat=True).first()
        if model.objects.unset(key, host=host, user=user):
            self.stdout.write(f"{key}: {display_value(key, old)} -> {_NOT_SET} {_scope(host)}")
        else:
            self.stdout.write(f"{key} has no override for {host or 'all hosts'}: nothing changed.")

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
        self.stdout.write(f"{key}: draft of {user.get_username()} -> {change} {_scope(host)} (not published)")

    def _import(self, options: dict[str, Any]) -> None:
        path: str = options["file"]
        dry_run: bool = options["dry_run"]
        user = self._user(options["user"])
        wanted = self._read_entries(path)
        model = get_override_model()
        using = router.db_for_write(model)
        try:
            with transaction.atomic(using=using):
                rows = model._default_manager.using(using).values_list("key", "host", "value")
                current = {(key, host): value for key, host, value in rows}
                changes = _changes(current, wanted, replace=options["replace"])
                for sign, key, host, old, value in changes:
                    self.stdout.write(_change_line(sign, key, host, old, value))
                    if dry_run:
                        continue
                    if sign == "-":
                        model.objects.unset(key, host=host, user=user)
                    else:
                        model.objects.set(key, value, host=host, user=user)
        except (ValidationError, DatabaseError) as error:
            detail = _messages(error) if isinstance(error, ValidationError) else str(error)
            raise CommandError(f"Import of {path} failed, nothing was written: {detail}") from error
        signs = [change[0] for change in changes]
        unchanged = len(wanted) - signs.count("+") - signs.count("~")
        counts = (
            f"{signs.count('+')} created, {signs.count('~')} updated, {signs.count('-')} deleted, {unchanged} unchanged"
        )
        if dry_run:
            self.stdout.write(f"Dry run of {path}: would be {counts}. Nothing was written.")
        else:
            self.stdout.write(f"Imported {path}: {counts}.")

    def _read_entries(self, path: str) -> dict[tuple[str, str], Any]:
        """The file's overrides by (key, host), all validated; CommandError naming each bad one."""
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text: {error.reason}.") from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{path} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
            ) from error
        if not isinstance(data, list):
            raise CommandError(
                f'{path} should hold a JSON array of {{"key", "host", "value"}} objects, '
                "as `export` writes; "
                f"it holds a JSON {_JSON_TYPES.get(type(data), 'null')}."
            )
        wanted: dict[tuple[str, str], Any] = {}
        seen: dict[tuple[str, str], int] = {}
        problems: list[str] = []
        for line, entry in zip(_entry_lines(text), data, strict=True):
            key, problem = self._entry_problem(entry)
            if problem is None:
                host = clean_host(entry.get("host", ""))  # valid: _entry_problem checked it
                if (key, host) in seen:
                    first = seen[key, host]
                    problem = f"a second entry for {key} {_scope(host)}, after line {first}"
                else:
                    seen[key, host] = line
                    wanted[key, host] = entry["value"]
            if problem is not None:
                problems.append(f"line {line}, key {key or '?'}: {problem}")
        if problems:
            for problem in problems:
                self.stderr.write(f"{path}: {problem}")
            count = f"{len(problems)} bad entr{'y' if len(problems) == 1 else 'ies'}"
            raise CommandError(f"{path} has {count} (first: {problems[0]}); nothing was written.")
        return wanted

    @staticmethod
    def _entry_problem(entry: Any) -> tuple[str, str | None]:
        """The entry's key (or "") and what is wrong with it, in words, if anything."""
        if not isinstance(entry, dict):
            return "", 'expected an object with "key", "host" and "value"'
        key = entry.get("key")
        if not isinstance(key, str):
            return "", f'"key" should be a setting name, not {json_text(key)}'
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            return key, f"unknown field(s) {', '.join(unknown)}; expected key, host and value"
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
            return key, f"{json_text(entry['value'])} is not a valid value for {key}: expected {accepted}."
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
            self.stderr.write(f"No host has override rows of its own: {name} was not run.")
        failed: list[tuple[str, int]] = []
        for host in hosts:
            if options["verbosity"] >= 1:
                self.stderr.write(f"== {host}: {' '.join([name, *args])}")
            status = self._run_once(activate(host), name, args)
            if status:
                failed.append((host, status))
            if options["verbosity"] >= 1 or status:
                self.stderr.write(f"== {host}: exit status {status}")
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


def _label(host: str) -> str:
    return host or str(host_label(host))


def _hosts_with_rows() -> list[str]:
    """The hosts that have rows of their own, sorted: patterns and the all-hosts rows are not hosts."""
    hosts = get_override_model()._default_manager.exclude(host="").order_by().values_list("host", flat=True).distinct()
    return sorted(host for host in hosts if not host.startswith("*."))


def _exit_status(error: SystemExit) -> int:
    """The status ``sys.exit(code)`` gives the shell: None is 0, an int is itself, anything else is 1."""
    if error.code is None:
        return 0
    return error.code if isinstance(error.code, int) else 1


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
