"""manage.py request_settings against careless input: a read-only dry run, huge or endless files, stdin, text
that is not UTF-8, control characters in stored rows, and a database that is down."""

from __future__ import annotations

import datetime
import io
import json
from contextlib import contextmanager
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.test import override_settings

from request_settings.models import SettingOverride, SettingSchedule

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
KEY = "SESSION_EXPIRE_SECONDS"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("request_settings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def table() -> list[tuple[str, str, object]]:
    return sorted(SettingOverride.objects.values_list("key", "host", "value"))


def windows() -> list[tuple[str, str, object, datetime.datetime, datetime.datetime | None]]:
    return sorted(SettingSchedule.objects.values_list("key", "host", "value", "start", "end"))


@contextmanager
def read_only():
    """The database as a read-only user (or a replica) sees it: any write or row lock is refused."""

    def refuse_writes(execute, sql, params, many, context):
        words = sql.lstrip().upper()
        if not words.startswith(("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK")) or " FOR UPDATE" in words:
            raise OperationalError("cannot execute this in a read-only transaction")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_writes):
        yield


@contextmanager
def database_down():
    def refuse(execute, sql, params, many, context):
        raise OperationalError("could not connect to server: Connection refused")

    with connection.execute_wrapper(refuse):
        yield


# -- import --dry-run only reads ------------------------------------------------------------------------------------


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def at(hours: float) -> str:
    return (NOW + datetime.timedelta(hours=hours)).isoformat()


def test_a_dry_run_works_on_a_read_only_connection_and_says_what_the_import_would_do(clock, tmp_path):
    SettingOverride.objects.set(KEY, 600)
    SettingOverride.objects.set("BANNER_TEXT", "gone", host="shop.example.com")
    SettingOverride.objects.schedule(KEY, 700, start=NOW + datetime.timedelta(hours=1))
    path = tmp_path / "file.json"
    path.write_text(
        json.dumps(
            [
                {"key": KEY, "host": "", "value": 300},
                {"key": "PAYMENT_API_TOKEN", "host": "", "value": "tok-new"},
                {"key": KEY, "host": "", "value": 900, "start": at(2), "end": None},
            ]
        )
    )
    before = table(), windows()

    with read_only():
        dry, _ = run("import", str(path), "--dry-run", "--replace")

    assert (table(), windows()) == before
    real, _ = run("import", str(path), "--replace")
    assert dry.splitlines()[:-1] == real.splitlines()[:-1]
    assert dry.splitlines() == [
        "- SESSION_EXPIRE_SECONDS (all hosts) = 700 from 2026-12-01 07:00:00-06:00, until changed",
        "+ PAYMENT_API_TOKEN (all hosts) = ********************",
        "~ SESSION_EXPIRE_SECONDS (all hosts): 600 -> 300",
        '- BANNER_TEXT (shop.example.com): "gone"',
        "+ SESSION_EXPIRE_SECONDS (all hosts) = 900 from 2026-12-01 08:00:00-06:00, until changed",
        f"Dry run of {path}: would be 1 created, 1 updated, 1 deleted, 0 unchanged; "
        "scheduled values: 1 added, 1 cancelled, 0 unchanged. Nothing was written.",
    ]


def test_a_dry_run_on_a_read_only_connection_refuses_an_overlap_as_the_import_does(clock, tmp_path):
    SettingOverride.objects.schedule(KEY, 600, start=NOW + datetime.timedelta(hours=1))
    path = tmp_path / "file.json"
    path.write_text(json.dumps([{"key": KEY, "host": "", "value": 900, "start": at(2), "end": at(3)}]))
    message = (
        f"Import of {path} failed, nothing was written: SESSION_EXPIRE_SECONDS (all hosts) already has a scheduled "
        "value (600) from 2026-12-01 07:00:00-06:00, until changed, which overlaps this window: choose a window that "
        "ends before it starts or starts after it ends, or cancel it first."
    )

    with read_only(), pytest.raises(CommandError) as dry:
        run("import", str(path), "--dry-run")
    with pytest.raises(CommandError) as real:
        run("import", str(path))

    assert str(dry.value) == str(real.value) == message


def test_a_failing_import_prints_no_change_it_did_not_make(clock, tmp_path):
    SettingOverride.objects.schedule(KEY, 600, start=NOW + datetime.timedelta(hours=1))
    path = tmp_path / "file.json"
    path.write_text(
        json.dumps(
            [
                {"key": "BANNER_TEXT", "host": "", "value": "hi"},
                {"key": KEY, "host": "", "value": 900, "start": at(2), "end": None},
            ]
        )
    )
    out = StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("request_settings", "import", str(path), stdout=out, stderr=StringIO())
    assert out.getvalue() == ""
    assert table() == []


# -- how much import reads, and from where --------------------------------------------------------------------------


def test_import_refuses_a_file_over_64_mib_without_reading_it_all(tmp_path):
    path = tmp_path / "huge.json"
    with path.open("wb") as file:
        file.truncate(64 * 1024 * 1024 + 1)  # sparse: no disk used
    with pytest.raises(CommandError) as raised:
        run("import", str(path))
    assert str(raised.value) == f"{path} is larger than 64 MiB, the most import reads; nothing was written."


def test_import_of_an_endless_input_stops_at_the_limit():
    with pytest.raises(CommandError) as raised:
        run("import", "/dev/zero", "--dry-run")
    assert str(raised.value) == "/dev/zero is larger than 64 MiB, the most import reads; nothing was written."


def test_import_reads_stdin_when_the_file_is_a_dash(monkeypatch):
    text = json.dumps([{"key": "BANNER_TEXT", "host": "", "value": "hé"}]).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbf" + text)))
    out, _ = run("import", "-")
    assert out.splitlines() == [
        '+ BANNER_TEXT (all hosts) = "hé"',
        "Imported stdin: 1 created, 0 updated, 0 deleted, 0 unchanged.",
    ]
    assert table() == [("BANNER_TEXT", "", "hé")]


def test_import_of_a_directory(tmp_path):
    with pytest.raises(CommandError) as raised:
        run("import", str(tmp_path))
    assert str(raised.value) == f"Cannot read {tmp_path}: Is a directory."


# -- text that is not text ------------------------------------------------------------------------------------------


def test_import_of_a_lone_surrogate_escape_is_a_bad_entry(tmp_path):
    path = tmp_path / "file.json"
    path.write_text('[\n{"key": "BANNER_TEXT", "host": "", "value": "a\\ud800b"}\n]')
    with pytest.raises(CommandError) as raised:
        run("import", str(path))
    # What is accepted is validators.json_problem's to say; the command says where, and shows the value escaped.
    message = str(raised.value)
    assert message.startswith(
        f'{path} has 1 bad entry (first: line 2, key BANNER_TEXT: "a\\ud800b" is not a valid value for BANNER_TEXT: '
        "expected "
    )
    assert message.endswith("); nothing was written.")
    assert "\ud800" not in message  # escaped, not raw: a terminal shows it, stderr can encode it
    assert table() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "BANNER_TEXT", "caf\udce9"], "Error: argument VALUE: 'caf\\udce9' is not UTF-8 text"),
        (["set", "BANNER_TEXT", "x", "--user", "\udce9"], "Error: argument --user: '\\udce9' is not UTF-8 text"),
        (["unset", "BANNER_TEXT", "--user", "\udce9"], "Error: argument --user: '\\udce9' is not UTF-8 text"),
    ],
)
def test_arguments_in_a_non_utf8_terminal_are_refused(args, message):
    # Python decodes bytes that are not UTF-8 in argv to lone surrogates (surrogateescape): caf\xe9 in Latin-1.
    with pytest.raises(CommandError) as raised:
        run(*args)
    assert str(raised.value) == f"{message} (is the terminal's encoding UTF-8?)"
    assert table() == []


# -- rows written behind the app's back: shown, never obeyed by the terminal -----------------------------------------


def test_list_and_get_escape_control_and_bidi_characters():
    SettingOverride.objects.create(key="EVIL\x1b[2J", host="a\u202eb.example.com", value=1)
    SettingOverride.objects.set("BANNER_TEXT", "x\x7fy\u2028z\u2066w\x9b")

    out, _ = run("list")
    got, _ = run("get", "BANNER_TEXT")

    assert out.splitlines()[0] == '(all hosts)           BANNER_TEXT = "x\\u007fy\\u2028z\\u2066w\\u009b"'
    assert out.splitlines()[1].startswith("a\\u202eb.example.com  EVIL\\u001b[2J = 1  (ignored: ")
    assert got == 'BANNER_TEXT = "x\\u007fy\\u2028z\\u2066w\\u009b" (all-hosts override)\n'


def test_export_escapes_them_and_still_round_trips(tmp_path):
    value = "x\x7fy\u2028z\u202ew\x9b"
    SettingOverride.objects.set("BANNER_TEXT", value)

    out, _ = run("export")

    assert out == '[\n{"key": "BANNER_TEXT", "host": "", "value": "x\\u007fy\\u2028z\\u202ew\\u009b"}\n]\n'
    SettingOverride.objects.all().delete()
    path = tmp_path / "export.json"
    path.write_text(out)
    run("import", str(path))
    assert table() == [("BANNER_TEXT", "", value)]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="jsonb refuses a lone surrogate")
def test_export_of_a_stored_lone_surrogate_writes_it_escaped():
    SettingOverride.objects.create(key="BANNER_TEXT", value="a\ud800b")
    out, _ = run("export")
    assert out == '[\n{"key": "BANNER_TEXT", "host": "", "value": "a\\ud800b"}\n]\n'


# -- the database is down -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "action"),
    [
        (["list"], "list"),
        (["get", "BANNER_TEXT"], "get"),
        (["set", "BANNER_TEXT", "x"], "set"),
        (["unset", "BANNER_TEXT"], "unset"),
        (["export"], "export"),
    ],
)
def test_a_database_that_is_down_is_a_command_error(args, action):
    with database_down(), pytest.raises(CommandError) as raised:
        run(*args)
    assert str(raised.value) == (
        f"Cannot {action}: the database failed: could not connect to server: Connection refused."
    )


def test_import_with_the_database_down(tmp_path):
    path = tmp_path / "file.json"
    path.write_text('[{"key": "BANNER_TEXT", "value": 1}]')
    for args in (["--dry-run"], []):
        with database_down(), pytest.raises(CommandError) as raised:
            run("import", str(path), *args)
        assert str(raised.value) == (
            f"Import of {path} failed, nothing was written: could not connect to server: Connection refused"
        )


def test_set_shows_the_value_it_stored_escaped():
    out, _ = run("set", "BANNER_TEXT", "a\u202eb")
    assert out == 'BANNER_TEXT: (not set) -> "a\\u202eb" (all hosts)\n'
    assert table() == [("BANNER_TEXT", "", "a\u202eb")]


def test_without_use_tz_a_dry_run_refuses_a_window_as_the_import_does(tmp_path):
    path = tmp_path / "file.json"
    path.write_text('[{"key": "SESSION_EXPIRE_SECONDS", "value": 600, "start": "2026-12-24T18:00+00:00"}]')
    message = (
        f"{path} has 1 bad entry (first: line 1, key SESSION_EXPIRE_SECONDS: a scheduled value needs USE_TZ = True "
        "(a window's times need a time zone)); nothing was written."
    )
    with override_settings(USE_TZ=False):
        for args in (["--dry-run"], []):
            with pytest.raises(CommandError) as raised:
                run("import", str(path), *args)
            assert str(raised.value) == message
    assert windows() == []
