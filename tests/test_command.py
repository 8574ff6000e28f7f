"""manage.py request_settings: every subcommand, every error, and the export/import round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from request_settings.models import SettingOverride, SettingOverrideChange, SettingOverrideManager

pytestmark = pytest.mark.django_db

MASK = "********************"
REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("request_settings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rows() -> list[tuple[str, str, str]]:
    """The table, values as canonical JSON so that 1, 1.0 and True stay distinct."""
    return sorted(
        (key, host, json.dumps(value, sort_keys=True))
        for key, host, value in SettingOverride.objects.values_list("key", "host", "value")
    )


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "overrides.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- list ------------------------------------------------------------------------------------------


def test_list_empty_table():
    out, _ = run("list")
    assert out == "No overrides.\n"


def test_list_every_row_with_all_hosts_label_and_secrets_masked():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    SettingOverride.objects.set("PAYMENT_API_TOKEN", "tok-123", host="shop.example.com")

    out, _ = run("list")

    lines = out.splitlines()
    assert lines[0].split() == ["(all", "hosts)", "SESSION_EXPIRE_SECONDS", "=", "600"]
    assert lines[1].split() == ["shop.example.com", "PAYMENT_API_TOKEN", "=", MASK]
    assert lines[2].split() == ["shop.example.com", "SESSION_EXPIRE_SECONDS", "=", "60"]
    assert "tok-123" not in out


def test_list_one_host_and_the_all_hosts_rows():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")

    shop, _ = run("list", "--host", "Shop.Example.com:8000")
    all_hosts, _ = run("list", "--host", "")
    other, _ = run("list", "--host", "blog.example.com")

    assert shop.split() == ["shop.example.com", "SESSION_EXPIRE_SECONDS", "=", "60"]
    assert all_hosts.split() == ["(all", "hosts)", "SESSION_EXPIRE_SECONDS", "=", "600"]
    assert other == "No overrides for blog.example.com.\n"


def test_list_marks_a_row_the_snapshot_skips():
    # Written around the write API, as a row that was valid before the policy changed would be.
    SettingOverride.objects.create(key="SESSION_COOKIE_AGE", value=-5)

    out, _ = run("list")

    assert "SESSION_COOKIE_AGE = -5  (ignored: -5 is not valid for SESSION_COOKIE_AGE" in out


def test_list_marks_a_row_of_a_refused_key_and_still_masks_it():
    SettingOverride.objects.create(key="SECRET_KEY", value="planted")
    out, _ = run("list")
    assert out.split("  ", 1)[1] == (
        f"SECRET_KEY = {MASK}  (ignored: SECRET_KEY cannot be overridden: security-critical)\n"
    )


def test_list_says_when_the_kill_switch_is_off():
    with override_settings(REQUEST_SETTINGS_ENABLED=False):
        _, err = run("list")
    assert "REQUEST_SETTINGS_ENABLED is False" in err


# -- get -------------------------------------------------------------------------------------------


def test_get_says_where_the_effective_value_comes_from():
    assert run("get", "SESSION_EXPIRE_SECONDS")[0] == "SESSION_EXPIRE_SECONDS = 3600 (settings.py)\n"
    assert run("get", "BANNER_TEXT")[0] == "BANNER_TEXT: not set\n"

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    assert run("get", "SESSION_EXPIRE_SECONDS")[0] == ("SESSION_EXPIRE_SECONDS = 600 (all-hosts override)\n")
    # A host without a row of its own gets the all-hosts row.
    assert run("get", "SESSION_EXPIRE_SECONDS", "--host", "blog.example.com")[0] == (
        "SESSION_EXPIRE_SECONDS = 600 (all-hosts override)\n"
    )

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    assert run("get", "SESSION_EXPIRE_SECONDS", "--host", "shop.example.com")[0] == (
        "SESSION_EXPIRE_SECONDS = 60 (host override for shop.example.com)\n"
    )


def test_get_agrees_with_what_a_request_sees(client):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    response = client.get(reverse("echo"), HTTP_HOST="shop.example.com")
    out, _ = run("get", "SESSION_EXPIRE_SECONDS", "--host", "shop.example.com")
    assert response.json()["values"]["SESSION_EXPIRE_SECONDS"] == 60
    assert out.startswith("SESSION_EXPIRE_SECONDS = 60 ")


def test_get_masks_secret_looking_values():
    SettingOverride.objects.set("PAYMENT_API_TOKEN", "tok-123")
    out, _ = run("get", "PAYMENT_API_TOKEN")
    assert out == f"PAYMENT_API_TOKEN = {MASK} (all-hosts override)\n"
    # settings.py values too: SECRET_KEY is never shown.
    out, err = run("get", "SECRET_KEY")
    assert out == f"SECRET_KEY = {MASK} (settings.py)\n"
    assert "SECRET_KEY cannot be overridden: security-critical." in err


def test_get_skips_a_row_the_snapshot_skips_and_says_why():
    SettingOverride.objects.create(key="SESSION_EXPIRE_SECONDS", value="soon")
    out, err = run("get", "SESSION_EXPIRE_SECONDS")
    assert out == "SESSION_EXPIRE_SECONDS = 3600 (settings.py)\n"
    assert 'The all-hosts override is ignored: "soon" is not valid for SESSION_EXPIRE_SECONDS' in err


def test_get_malformed_key():
    with pytest.raises(CommandError, match=r"'session-age' is not a setting name: not an upper-case"):
        run("get", "session-age")


# -- set -------------------------------------------------------------------------------------------


def test_set_creates_then_updates_and_prints_old_and_new():
    out, _ = run("set", "SESSION_EXPIRE_SECONDS", "600")
    assert out == "SESSION_EXPIRE_SECONDS: (not set) -> 600 (all hosts)\n"
    out, _ = run("set", "SESSION_EXPIRE_SECONDS", "300")
    assert out == "SESSION_EXPIRE_SECONDS: 600 -> 300 (all hosts)\n"
    out, _ = run("set", "SESSION_EXPIRE_SECONDS", "60", "--host", "shop.example.com")
    assert out == "SESSION_EXPIRE_SECONDS: (not set) -> 60 (shop.example.com)\n"
    assert rows() == [
        ("SESSION_EXPIRE_SECONDS", "", "300"),
        ("SESSION_EXPIRE_SECONDS", "shop.example.com", "60"),
    ]


def test_set_is_seen_by_the_next_request(client):
    run("set", "SESSION_EXPIRE_SECONDS", "60", "--host", "shop.example.com")
    shop = client.get(reverse("echo"), HTTP_HOST="shop.example.com").json()
    blog = client.get(reverse("echo"), HTTP_HOST="blog.example.com").json()
    assert shop["values"]["SESSION_EXPIRE_SECONDS"] == 60
    assert blog["values"]["SESSION_EXPIRE_SECONDS"] == 3600


@pytest.mark.parametrize(
    ("key", "text", "stored"),
    [
        ("SESSION_EXPIRE_SECONDS", "600", 600),  # an int in settings.py stays an int
        ("SESSION_EXPIRE_AT_BROWSER_CLOSE", "yes", True),
        ("SESSION_COOKIE_SAMESITE", "Strict", "Strict"),
        (
            "FEATURE_FLAGS",
            '{"beta": [1, 2.5, null], "name": "été"}',
            {"beta": [1, 2.5, None], "name": "été"},
        ),
        ("BANNER_TEXT", "Closed on Monday", "Closed on Monday"),  # not JSON: plain text
    ],
)
def test_set_parses_text_like_the_admin_form(key, text, stored):
    run("set", key, text)
    assert SettingOverride.objects.get(key=key, host="").value == stored


def test_set_masks_secret_looking_values():
    out, _ = run("set", "PAYMENT_API_TOKEN", "tok-123")
    assert out == f"PAYMENT_API_TOKEN: (not set) -> {MASK} (all hosts)\n"


def test_set_records_the_user():
    user = get_user_model().objects.create_user("ops")
    run("set", "SESSION_EXPIRE_SECONDS", "600", "--user", "ops")
    assert SettingOverride.objects.get(key="SESSION_EXPIRE_SECONDS").updated_by == user


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "session-age", "1"], r"'session-age' is not a setting name: not an upper-case"),
        (["set", "SECRET_KEY", "x"], r"^SECRET_KEY cannot be overridden: security-critical\.$"),
        (
            ["set", "TIME_ZONE", "UTC"],
            r"TIME_ZONE cannot be overridden: cached by Django on first use",
        ),
        (["set", "EMAIL_HOST", "mx.evil.test"], r"EMAIL_HOST cannot be overridden: sensitive"),
        (
            ["set", "SESSION_EXPIRE_SECONDS", "soon"],
            r"'soon' is not a valid value for SESSION_EXPIRE_SECONDS: Enter a whole number\. "
            r"Expected an integer from 60 to 31536000 \(seconds\)\.",
        ),
        (
            ["set", "SESSION_COOKIE_AGE", "-1"],
            r"'-1' is not a valid value for SESSION_COOKIE_AGE: expected an integer from 60",
        ),
        (["set", "BANNER_TEXT", "a\x00b"], r"for BANNER_TEXT: expected a string without NUL characters"),
        (["set", "BANNER_TEXT", "x", "--host", "http://shop/"], r"argument --host: 'http://shop/'"),
        (["set", "BANNER_TEXT", "x", "--user", "nobody"], r"No user 'nobody'"),
        (["set", "BANNER_TEXT"], r"the following arguments are required: VALUE"),
    ],
)
def test_set_refuses_bad_input_and_writes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert rows() == []


def test_set_reports_a_refusal_of_the_write_api(monkeypatch):
    # A custom override model's manager may refuse more than the policy does.
    def refuse(self, key, value, host="", user=None):
        raise ValidationError(f"{key} is frozen on this site.")

    monkeypatch.setattr(SettingOverrideManager, "set", refuse)
    with pytest.raises(CommandError, match=r"^BANNER_TEXT is frozen on this site\.$"):
        run("set", "BANNER_TEXT", "x")


# -- unset -----------------------------------------------------------------------------------------


def test_unset_removes_one_row():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")

    out, _ = run("unset", "SESSION_EXPIRE_SECONDS", "--host", "shop.example.com")
    assert out == "SESSION_EXPIRE_SECONDS: 60 -> (not set) (shop.example.com)\n"
    assert rows() == [("SESSION_EXPIRE_SECONDS", "", "600")]

    out, _ = run("unset", "SESSION_EXPIRE_SECONDS")
    assert out == "SESSION_EXPIRE_SECONDS: 600 -> (not set) (all hosts)\n"
    assert rows() == []


def test_unset_without_a_row_changes_nothing():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    out, _ = run("unset", "SESSION_EXPIRE_SECONDS")
    assert out == "SESSION_EXPIRE_SECONDS has no override for all hosts: nothing changed.\n"
    assert rows() == [("SESSION_EXPIRE_SECONDS", "shop.example.com", "60")]


def test_unset_is_the_way_back_from_a_lock_out(client):
    # A row refused today (the project denied the key after it was set) can still be removed.
    SettingOverride.objects.set("CSRF_COOKIE_SECURE", True)
    with override_settings(REQUEST_SETTINGS_DENIED=["CSRF_COOKIE_SECURE"]):
        out, _ = run("unset", "CSRF_COOKIE_SECURE")
    assert out == "CSRF_COOKIE_SECURE: true -> (not set) (all hosts)\n"
    assert rows() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["unset", "session-age"], r"'session-age' is not a setting name"),
        (["unset", "BANNER_TEXT", "--host", "a b"], r"argument --host: 'a b' is not a host: "),
        (["unset", "BANNER_TEXT", "--user", "nobody"], r"No user 'nobody'"),
    ],
)
def test_unset_refuses_bad_input_and_removes_nothing(args, message):
    SettingOverride.objects.set("BANNER_TEXT", "hello")
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert rows() == [("BANNER_TEXT", "", '"hello"')]


# -- subcommands -----------------------------------------------------------------------------------


def test_unknown_subcommand():
    with pytest.raises(CommandError, match=r"invalid choice: 'remove'"):
        run("remove", "BANNER_TEXT")


def test_missing_subcommand():
    with pytest.raises(CommandError, match=r"required: ACTION"):
        run()


@pytest.mark.parametrize(
    ("args", "status", "last_line"),
    [
        (
            ["set", "SECRET_KEY", "x"],
            1,
            "CommandError: SECRET_KEY cannot be overridden: security-critical.",
        ),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    ],
)
def test_command_line_exit_status_and_one_line_error(args, status, last_line):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "django", "request_settings", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == status
    assert result.stdout == ""
    assert last_line in result.stderr.strip().splitlines()[-1]


# -- export ----------------------------------------------------------------------------------------


def test_export_format_sorted_by_host_then_key_one_object_per_line():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    SettingOverride.objects.set("BANNER_TEXT", "Bonjour ✓")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("BANNER_TEXT", None, host="blog.example.com")

    out, err = run("export")

    assert out == (
        "[\n"
        '{"key": "BANNER_TEXT", "host": "", "value": "Bonjour ✓"},\n'
        '{"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 600},\n'
        '{"key": "BANNER_TEXT", "host": "blog.example.com", "value": null},\n'
        '{"key": "SESSION_EXPIRE_SECONDS", "host": "shop.example.com", "value": 60}\n'
        "]\n"
    )
    assert err == "Exported 4 override(s).\n"  # no secret-looking key: no warning about secrets


def test_export_writes_secrets_in_full_and_says_so():
    SettingOverride.objects.set("PAYMENT_API_TOKEN", "tok-123")
    out, err = run("export")
    assert json.loads(out) == [{"key": "PAYMENT_API_TOKEN", "host": "", "value": "tok-123"}]
    assert "secret-looking ones (PAYMENT_API_TOKEN) included: keep the file private." in err


def test_export_one_host_and_empty():
    assert run("export")[0] == "[]\n"
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    out, _ = run("export", "--host", "shop.example.com")
    assert json.loads(out) == [{"key": "SESSION_EXPIRE_SECONDS", "host": "shop.example.com", "value": 60}]
    out, _ = run("export", "--host", "")
    assert json.loads(out) == [{"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 600}]


def test_export_bad_host():
    with pytest.raises(CommandError, match=r"argument --host: 'http://x/' is not a host: "):
        run("export", "--host", "http://x/")


# -- import ----------------------------------------------------------------------------------------

AWKWARD_VALUES = {
    "SESSION_EXPIRE_SECONDS": 600,
    "SESSION_EXPIRE_AT_BROWSER_CLOSE": False,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "ALLOWED_NETWORKS": ["10.0.0.0/8", ["nested", 1, 2.5]],
    "FEATURE_FLAGS": {"beta": {"users": [1, 2, 3], "ratio": 0.1}, "empty": {}, "flag": True},
    "BANNER_TEXT": 'Grüße, 日本語, emoji 🎉, "quotes" and \\ backslash\nnewline',
    "MAINTENANCE_NOTE": None,
    "PRICE_FACTOR": 1e-7,
    "BIG_NUMBER": 2**53 + 1,
    "EMPTY_TEXT": "",
}


def test_export_then_import_into_an_empty_table_round_trips_exactly(tmp_path):
    for key, value in AWKWARD_VALUES.items():
        SettingOverride.objects.set(key, value)
    SettingOverride.objects.set("ALLOWED_NETWORKS", ("192.168.0.0/16",), host="shop.example.com")
    SettingOverride.objects.set("FEATURE_FLAGS", {}, host="blog.example.com")
    before, exported = rows(), run("export")[0]

    SettingOverride.objects.all().delete()
    out, _ = run("import", write(tmp_path, exported))

    assert (
        out.splitlines()[-1]
        == f"Imported {tmp_path / 'overrides.json'}: 12 created, 0 updated, 0 deleted, 0 unchanged."
    )
    assert rows() == before
    assert run("export")[0] == exported


def test_import_updates_and_leaves_other_rows_alone(tmp_path):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("BANNER_TEXT", "old")
    SettingOverride.objects.set("FEATURE_FLAGS", {"a": 1})
    path = write(
        tmp_path,
        '[\n{"key": "BANNER_TEXT", "host": "", "value": "new"},\n'
        '{"key": "FEATURE_FLAGS", "host": "", "value": {"a": 1}},\n'
        '{"key": "SESSION_EXPIRE_SECONDS", "host": "shop.example.com", "value": 60}\n]\n',
    )

    out, _ = run("import", path)

    assert out.splitlines() == [
        '~ BANNER_TEXT (all hosts): "old" -> "new"',
        "+ SESSION_EXPIRE_SECONDS (shop.example.com) = 60",
        f"Imported {path}: 1 created, 1 updated, 0 deleted, 1 unchanged.",
    ]
    assert rows() == [
        ("BANNER_TEXT", "", '"new"'),
        ("FEATURE_FLAGS", "", '{"a": 1}'),
        ("SESSION_EXPIRE_SECONDS", "", "600"),
        ("SESSION_EXPIRE_SECONDS", "shop.example.com", "60"),
    ]


def test_import_tells_true_from_one(tmp_path):
    SettingOverride.objects.set("FEATURE_LEVEL", 1)
    path = write(tmp_path, '[{"key": "FEATURE_LEVEL", "host": "", "value": true}]')
    run("import", path)
    assert rows() == [("FEATURE_LEVEL", "", "true")]


def test_import_replace_makes_the_table_exactly_the_file(tmp_path):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("BANNER_TEXT", "gone", host="shop.example.com")
    path = write(tmp_path, '[{"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 300}]')

    out, _ = run("import", path, "--replace")

    assert out.splitlines() == [
        "~ SESSION_EXPIRE_SECONDS (all hosts): 600 -> 300",
        '- BANNER_TEXT (shop.example.com): "gone"',
        f"Imported {path}: 0 created, 1 updated, 1 deleted, 0 unchanged.",
    ]
    assert rows() == [("SESSION_EXPIRE_SECONDS", "", "300")]


def test_import_dry_run_reports_and_writes_nothing(tmp_path):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("PAYMENT_API_TOKEN", "tok-old", host="shop.example.com")
    before = rows()
    path = write(
        tmp_path,
        '[{"key": "BANNER_TEXT", "host": "", "value": "hi"},'
        ' {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 300}]',
    )

    out, _ = run("import", path, "--dry-run", "--replace")

    assert out.splitlines() == [
        '+ BANNER_TEXT (all hosts) = "hi"',
        "~ SESSION_EXPIRE_SECONDS (all hosts): 600 -> 300",
        f"- PAYMENT_API_TOKEN (shop.example.com): {MASK}",
        f"Dry run of {path}: would be 1 created, 1 updated, 1 deleted, 0 unchanged. Nothing was written.",
    ]
    assert rows() == before


def test_import_records_the_user(tmp_path):
    user = get_user_model().objects.create_user("ops")
    run(
        "import",
        write(tmp_path, '[{"key": "BANNER_TEXT", "host": "", "value": "hi"}]'),
        "--user",
        "ops",
    )
    assert SettingOverride.objects.get(key="BANNER_TEXT").updated_by == user


def test_import_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"Cannot read .*missing\.json: No such file or directory\."):
        run("import", str(tmp_path / "missing.json"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[\n{"key": "A", "host": "", "value": 1},\n{"key": "B"\n]',
            r"is not valid JSON: .* \(line 4, column 1\)",
        ),
        ("", r"is not valid JSON: Expecting value \(line 1, column 1\)"),
        ('{"key": "A", "value": 1}', r"should hold a JSON array .* it holds a JSON object\."),
        (b"\xff\xfe[]", r"is not UTF-8 text"),
        (
            '[{"key": "BANNER_TEXT", "host": "", "value": "new", "value": "newer"}]',
            r"names 'value' twice in one object: JSON would keep only the last one silently\.",
        ),
        (
            '[{"key": "BANNER_TEXT", "host": "", "value": {"a": 1, "a": 2}}]',
            r"names 'a' twice in one object",
        ),
    ],
)
def test_import_unreadable_file(tmp_path, text, message):
    SettingOverride.objects.set("BANNER_TEXT", "kept")
    path = tmp_path / "overrides.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError, match=message):
        run("import", str(path), "--replace")
    assert rows() == [("BANNER_TEXT", "", '"kept"')]


def test_import_bad_entry_in_the_middle_writes_nothing_and_names_line_and_key(tmp_path):
    SettingOverride.objects.set("BANNER_TEXT", "kept")
    path = write(
        tmp_path,
        "[\n"
        '{"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 300},\n'
        '{"key": "SECRET_KEY", "host": "", "value": "stolen"},\n'
        '{"key": "BANNER_TEXT", "host": "", "value": "changed"}\n'
        "]\n",
    )
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("request_settings", "import", path, "--replace", stdout=StringIO(), stderr=err)

    assert str(raised.value) == (
        f"{path} has 1 bad entry (first: line 3, key SECRET_KEY: SECRET_KEY cannot be overridden: "
        "security-critical.); nothing was written."
    )
    assert rows() == [("BANNER_TEXT", "", '"kept"')]


def test_import_reports_every_bad_entry(tmp_path):
    lines = [
        '{"key": "BANNER_TEXT", "host": "", "value": "fine"}',  # line 2
        '{"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": "soon"}',  # 3: wrong type
        '{"key": "SESSION_COOKIE_AGE", "host": "a..example.com", "value": 60}',  # 4: no request has this host
        '{"key": "bad key", "host": "", "value": 1}',  # 5: malformed key
        '{"key": "BANNER_TEXT", "host": "", "value": "again"}',  # 6: duplicate of line 2
        '{"key": "BANNER_TEXT", "host": "x.example.com", "value": 1, "x": 0}',  # 7: extra field
        '["BANNER_TEXT", "", 1]',  # 8: not an object
        '{"key": "BANNER_TEXT", "host": "y.example.com"}',  # 9: no value
        '{"key": 7, "host": "", "value": 1}',  # 10: key not a string
        '{"key": "BANNER_TEXT", "host": true, "value": 1}',  # 11: host not a string
        '{"key": "EMAIL_HOST", "host": "", "value": "mx.evil.test"}',  # 12: sensitive
    ]
    path = write(tmp_path, "[\n" + ",\n".join(lines) + "\n]\n")
    err = StringIO()
    with pytest.raises(CommandError, match=r"has 10 bad entries \(first: line 3, key SESSION_EXPIRE_SECONDS: "):
        call_command("request_settings", "import", path, stdout=StringIO(), stderr=err)

    reported = [line.removeprefix(f"{path}: ") for line in err.getvalue().splitlines()]
    assert [line.split(":")[0] for line in reported] == [
        "line 3, key SESSION_EXPIRE_SECONDS",
        "line 4, key SESSION_COOKIE_AGE",
        "line 5, key bad key",
        "line 6, key BANNER_TEXT",
        "line 7, key BANNER_TEXT",
        "line 8, key ?",
        "line 9, key BANNER_TEXT",
        "line 10, key ?",
        "line 11, key BANNER_TEXT",
        "line 12, key EMAIL_HOST",
    ]
    # Values and hosts are spelled as in the file (JSON: "soon", true), never as Python would ('soon', True).
    assert '"soon" is not a valid value for SESSION_EXPIRE_SECONDS: expected an integer from 60' in reported[0]
    assert "'a..example.com' is not a host: expected a host name" in reported[1]
    assert "true is not a host: expected a host name" in reported[8]
    assert "a second entry for BANNER_TEXT (all hosts), after line 2" in reported[3]
    assert "unknown field(s) x; expected key, host and value" in reported[4]
    assert "EMAIL_HOST cannot be overridden: sensitive" in reported[9]
    assert rows() == []


def test_import_line_numbers_follow_any_layout(tmp_path):
    path = write(
        tmp_path,
        '  [ {"key": "BANNER_TEXT", "value": "ok"},\n\n   {\n  "key": "DEBUG",\n "value": true}]',
    )
    with pytest.raises(CommandError, match=r"first: line 3, key DEBUG: DEBUG cannot be overridden"):
        run("import", path)


def test_import_failing_halfway_rolls_everything_back(tmp_path, monkeypatch):
    SettingOverride.objects.set("BANNER_TEXT", "kept")
    audited = SettingOverrideChange.objects.count()
    real_set = SettingOverrideManager.set

    def flaky_set(self, key, value, host="", user=None):
        if key == "SESSION_EXPIRE_SECONDS":
            raise ValidationError("the database said no")
        return real_set(self, key, value, host=host, user=user)

    monkeypatch.setattr(SettingOverrideManager, "set", flaky_set)
    path = write(
        tmp_path,
        '[{"key": "ALPHA", "host": "", "value": 1}, {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": 300}]',
    )
    with pytest.raises(CommandError, match=r"failed, nothing was written: the database said no"):
        run("import", path, "--replace")
    assert rows() == [("BANNER_TEXT", "", '"kept"')]
    # ALPHA was created and audited before the failure: the record went with the rollback.
    assert SettingOverrideChange.objects.count() == audited


def test_command_changes_are_audited_and_a_failed_import_leaves_no_record(tmp_path):
    user = get_user_model().objects.create_user("ops")
    earlier = list(SettingOverrideChange.objects.values_list("id", flat=True))
    run("set", "SESSION_EXPIRE_SECONDS", "600", "--user", "ops")
    run("unset", "SESSION_EXPIRE_SECONDS")
    bad = write(tmp_path, '[{"key": "A1", "value": 1}, {"key": "DEBUG", "value": true}]')
    with pytest.raises(CommandError):
        run("import", bad)

    changes = SettingOverrideChange.objects.exclude(id__in=earlier).order_by("id")
    assert [(c.key, c.action, c.old_value, c.new_value, c.user) for c in changes] == [
        ("SESSION_EXPIRE_SECONDS", "created", None, 600, user),
        ("SESSION_EXPIRE_SECONDS", "deleted", 600, None, None),
    ]


# -- Django's common options anywhere on the line --------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["list", "-v", "0"],
        ["list", "--verbosity", "2", "--traceback"],
        ["list", "--host", "shop.example.com", "--no-color"],
        ["-v", "0", "list", "--force-color"],
        ["get", "SESSION_EXPIRE_SECONDS", "--traceback", "-v", "3"],
        ["export", "--no-color"],
        ["unset", "BANNER_TEXT", "-v", "0"],
    ],
)
def test_common_options_are_accepted_after_the_action(args):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    run(*args)  # before the fix: CommandError "unrecognized arguments: -v 0"


def test_every_action_accepts_every_common_option():
    from request_settings.management.commands.request_settings import Command

    parser = Command().create_parser("manage.py", "request_settings")
    common = {option for action in parser._actions for option in action.option_strings} - {"-h", "--help"}
    subparsers = next(action for action in parser._actions if action.dest == "action")
    assert common >= {"-v", "--verbosity", "--settings", "--pythonpath", "--traceback", "--no-color", "--version"}
    for name, sub in subparsers.choices.items():
        accepted = {option for action in sub._actions for option in action.option_strings}
        assert common <= accepted, f"{name} lacks {sorted(common - accepted)}"


@pytest.fixture(scope="module")
def mysite(tmp_path_factory):
    """A project of its own on the command line: mysite.settings with an SQLite file, migrated."""
    root = tmp_path_factory.mktemp("project")
    (root / "mysite").mkdir()
    (root / "mysite" / "__init__.py").write_text("")
    (root / "mysite" / "settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n\n"
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': {str(root / 'db.sqlite3')!r}}}}}\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(root)])

    def manage(*args):
        return subprocess.run(
            [sys.executable, "-m", "django", *args],
            capture_output=True,
            text=True,
            cwd=root,
            env=env,
            timeout=120,
            check=False,
        )

    migrated = manage("migrate", "--settings", "mysite.settings", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    return manage


def test_command_line_settings_and_common_options_after_the_action(mysite):
    changed = mysite(
        "request_settings",
        "set",
        "SESSION_EXPIRE_SECONDS",
        "60",
        "--host",
        "shop.example.com",
        "--settings",
        "mysite.settings",
    )
    listed = mysite("request_settings", "list", "--settings", "mysite.settings", "--traceback", "-v", "0")

    assert changed.returncode == 0, changed.stderr
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["shop.example.com", "SESSION_EXPIRE_SECONDS", "=", "60"]


def test_command_line_traceback_after_the_action_shows_the_traceback(mysite):
    plain = mysite("request_settings", "set", "SECRET_KEY", "x", "--settings", "mysite.settings")
    traced = mysite("request_settings", "set", "SECRET_KEY", "x", "--settings", "mysite.settings", "--traceback")

    assert plain.returncode == traced.returncode == 1
    assert "Traceback" not in plain.stderr
    assert "Traceback (most recent call last)" in traced.stderr
    assert "SECRET_KEY cannot be overridden: security-critical." in traced.stderr


# -- run: a management command inside a host's overrides -------------------------------------------

PRINT_SETTING = "from django.conf import settings; print(settings.SESSION_EXPIRE_SECONDS)"
PRINT_HOST_AND_SETTING = (
    "import request_settings; from django.conf import settings; "
    "print(request_settings.current_host(), settings.SESSION_EXPIRE_SECONDS)"
)


@pytest.fixture
def three_hosts():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)  # all hosts: not a host of its own
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 610, host="a.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 620, host="b.example.com")
    SettingOverride.objects.set("BANNER_TEXT", "C", host="c.example.com")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 640, host="*.example.org")  # a pattern: not a host


def test_run_host_runs_the_command_inside_the_hosts_layer(three_hosts, capsys):
    run("run", "--host", "B.example.com:8000", "--", "shell", "-v", "0", "-c", PRINT_SETTING)
    assert capsys.readouterr().out == "620\n"
    run("run", "--host", "", "--", "shell", "-v", "0", "-c", PRINT_SETTING)  # what an unknown host gets
    assert capsys.readouterr().out == "600\n"
    assert settings_now() == 3600


def test_run_host_gets_the_rows_of_a_matching_pattern(three_hosts, capsys):
    run("run", "--host", "shop.example.org", "--", "shell", "-v", "0", "-c", PRINT_SETTING)
    assert capsys.readouterr().out == "640\n"


def settings_now():
    from django.conf import settings

    return settings.SESSION_EXPIRE_SECONDS


def test_run_host_reads_the_values_of_the_moment_it_runs(three_hosts, capsys):
    run("set", "SESSION_EXPIRE_SECONDS", "621", "--host", "b.example.com")
    run("run", "--host", "b.example.com", "--", "shell", "-v", "0", "-c", PRINT_SETTING)
    assert capsys.readouterr().out.endswith("621\n")


def test_run_host_passes_the_commands_own_options_through(three_hosts):
    # Options after -- belong to the command: -v 0 here is dumpdata's, --indent too.
    out, _ = run(
        "run",
        "--host",
        "a.example.com",
        "--",
        "dumpdata",
        "request_settings.settingoverride",
        "-v",
        "0",
        "--indent",
        "1",
    )
    assert {row["fields"]["host"] for row in json.loads(out)} == {
        "",
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "*.example.org",
    }


def test_run_host_exit_status_of_a_failing_command(three_hosts):
    with pytest.raises(CommandError) as raised:
        run("run", "--host", "a.example.com", "--", "shell", "-c", "raise SystemExit(3)")
    assert raised.value.returncode == 3
    assert str(raised.value) == "shell exited with status 3 for a.example.com."


def test_run_host_reports_the_commands_error(three_hosts):
    err = StringIO()
    with pytest.raises(CommandError, match=r"^request_settings exited with status 1 for a.example.com\.$"):
        call_command(
            "request_settings",
            "run",
            "--host",
            "a.example.com",
            "--",
            "request_settings",
            "get",
            "bad key",
            stdout=StringIO(),
            stderr=err,
        )
    assert "CommandError: 'bad key' is not a setting name" in err.getvalue()


def test_run_all_hosts_runs_once_per_host_with_rows_each_in_its_own_layer(three_hosts, capsys):
    out, err = StringIO(), StringIO()
    call_command(
        "request_settings",
        "run",
        "--all-hosts",
        "--",
        "shell",
        "-v",
        "0",
        "-c",
        PRINT_HOST_AND_SETTING,
        stdout=out,
        stderr=err,
    )

    assert capsys.readouterr().out.splitlines() == ["a.example.com 610", "b.example.com 620", "c.example.com 600"]
    assert err.getvalue().splitlines() == [
        f"== a.example.com: shell -v 0 -c {PRINT_HOST_AND_SETTING}",
        "== a.example.com: exit status 0",
        f"== b.example.com: shell -v 0 -c {PRINT_HOST_AND_SETTING}",
        "== b.example.com: exit status 0",
        f"== c.example.com: shell -v 0 -c {PRINT_HOST_AND_SETTING}",
        "== c.example.com: exit status 0",
    ]
    assert settings_now() == 3600


def test_run_all_hosts_goes_on_after_a_failure_and_reports_each_status(three_hosts):
    script = (
        "import sys, request_settings\n"
        "host = request_settings.current_host()\n"
        "if host == 'a.example.com': raise RuntimeError('broken for a')\n"
        "sys.exit(4 if host == 'b.example.com' else 0)\n"
    )
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "request_settings", "run", "--all-hosts", "--", "shell", "-c", script, stdout=StringIO(), stderr=err
        )

    assert (
        str(raised.value)
        == "shell failed for 2 of 3 hosts: a.example.com (exit status 1), b.example.com (exit status 4)."
    )
    assert raised.value.returncode == 1
    lines = err.getvalue().splitlines()
    assert [line for line in lines if "exit status" in line] == [
        "== a.example.com: exit status 1",
        "== b.example.com: exit status 4",
        "== c.example.com: exit status 0",
    ]
    assert "RuntimeError: broken for a" in err.getvalue()


@pytest.mark.parametrize("where", ["before", "after"])
def test_run_all_hosts_quiet_reports_only_failures(three_hosts, where, capsys):
    script = "import sys, request_settings; sys.exit(5 if request_settings.current_host() == 'c.example.com' else 0)"
    args = ["run", "--all-hosts", "--", "shell", "-v", "0", "-c", script]
    args = ["-v", "0", *args] if where == "before" else [*args[:2], "-v", "0", *args[2:]]
    err = StringIO()
    with pytest.raises(CommandError, match=r"for 1 of 3 hosts: c.example.com \(exit status 5\)"):
        call_command("request_settings", *args, stdout=StringIO(), stderr=err)
    assert err.getvalue() == "== c.example.com: exit status 5\n"


def test_run_all_hosts_without_host_rows(capsys):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    _, err = run("run", "--all-hosts", "--", "shell", "-c", PRINT_SETTING)
    assert err == "No host has override rows or scheduled values of its own: shell was not run.\n"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--", "check"], r"one of the arguments --host --all-hosts is required"),
        (["run", "--host", "a.example.com", "--all-hosts", "--", "check"], r"not allowed with argument"),
        (["run", "--host", "a.example.com"], r"run needs a command: run --host HOST -- COMMAND \[ARGS\.\.\.\]\."),
        (["run", "--host", "a.example.com", "--"], r"run needs a command"),
        (["run", "--all-hosts", "--", "frobnicate"], r"Unknown command: 'frobnicate'"),
        (["run", "--host", "http://shop/", "--", "check"], r"argument --host: 'http://shop/' is not a host"),
        (["run", "--host", "*.example.com", "--", "check"], r"argument --host: '\*.example.com' is not a host"),
    ],
)
def test_run_refuses_bad_input_before_running_anything(three_hosts, args, message, capsys):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert capsys.readouterr().out == ""


def test_run_says_when_the_kill_switch_is_off(three_hosts, capsys):
    with override_settings(REQUEST_SETTINGS_ENABLED=False):
        _, err = run("run", "--host", "a.example.com", "--", "shell", "-v", "0", "-c", PRINT_SETTING)
    assert capsys.readouterr().out == "3600\n"
    assert "REQUEST_SETTINGS_ENABLED is False" in err


def test_run_on_the_command_line(mysite):
    mysite(
        "request_settings",
        "set",
        "SESSION_EXPIRE_SECONDS",
        "770",
        "--host",
        "cron.example.com",
        "--settings",
        "mysite.settings",
    )
    done = mysite(
        "request_settings",
        "run",
        "--host",
        "cron.example.com",
        "--settings",
        "mysite.settings",
        "--",
        "shell",
        "-v",
        "0",
        "-c",
        PRINT_SETTING,
    )
    failed = mysite(
        "request_settings",
        "run",
        "--host",
        "cron.example.com",
        "--settings",
        "mysite.settings",
        "--",
        "shell",
        "-c",
        "raise SystemExit(3)",
    )

    assert (done.returncode, done.stdout) == (0, "770\n"), done.stderr
    assert failed.returncode == 3
    assert failed.stderr.strip().splitlines()[-1] == "CommandError: shell exited with status 3 for cron.example.com."
