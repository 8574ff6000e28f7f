"""System checks: each id fires on a broken configuration, is silent on good ones, runs in check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.apps import apps
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection, models
from django.test import override_settings
from django.test.utils import isolate_apps

from request_settings import checks
from request_settings.middleware import RequestSettingsMiddleware
from request_settings.models import SettingOverride

OURS = "request_settings.middleware.RequestSettingsMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
TIMEOUT = "django_session_timeout.middleware.SessionTimeoutMiddleware"
COMMON = "django.middleware.common.CommonMiddleware"
REPO = Path(__file__).resolve().parent.parent


def ids(messages):
    return [message.id for message in messages]


def only(messages, check_id):
    found = [message for message in messages if message.id == check_id]
    assert len(found) == 1, ids(messages)
    return found[0]


def run_check(*args):
    """``manage.py check`` output and the request_settings ids it printed (SystemCheckError too).

    Only Django's checks and ours run: a third-party app imported by an earlier test (the Debug Toolbar) leaves its
    checks registered in the process, and their warnings would change the text asserted here.
    """
    from django.core.checks.registry import registry

    ours = {
        check for check in registry.registered_checks if check.__module__.startswith(("django.", "request_settings."))
    }
    out, err = StringIO(), StringIO()
    try:
        with mock.patch.object(registry, "registered_checks", ours):
            call_command("check", *args, stdout=out, stderr=err)
    except SystemCheckError as error:
        text = str(error)
    else:
        text = out.getvalue() + err.getvalue()
    return text, sorted(set(re.findall(r"request_settings\.[EW]\d{3}", text)))


# -- the test configuration is good ----------------------------------------------------------------


def test_the_test_settings_pass_every_check():
    assert checks.check_settings_types() == []
    assert checks.check_model() == []
    assert checks.check_host_resolver() == []
    assert checks.check_middleware() == []
    assert checks.check_fields() == []
    assert checks.check_unknown_settings() == []


def test_manage_py_check_passes_on_the_test_settings():
    text, found = run_check()
    assert found == []
    assert "System check identified no issues" in text


def test_manage_py_check_reports_a_broken_setting():
    with override_settings(REQUEST_SETTINGS_CACHE_TTL="5"):
        text, found = run_check()
    assert found == ["request_settings.E001"]
    assert "REQUEST_SETTINGS_CACHE_TTL should be a non-negative number of seconds, not '5'" in text


def test_manage_py_check_reports_a_warning_without_failing(settings):
    below_session = [entry for entry in settings.MIDDLEWARE if entry != OURS]
    below_session.insert(below_session.index(SESSION) + 1, OURS)
    with override_settings(MIDDLEWARE=below_session):
        text, found = run_check()
    assert found == ["request_settings.W003"]
    assert "System check identified 1 issue" in text


def test_the_database_check_only_runs_with_database():
    assert "request_settings.W006" not in run_check()[1]


# -- our settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [-1, "5", True, None, float("nan"), float("inf")])
def test_e001_cache_ttl(settings, ttl):
    settings.REQUEST_SETTINGS_CACHE_TTL = ttl
    message = only(checks.check_settings_types(), "request_settings.E001")
    assert isinstance(message, Error)
    assert message.msg.startswith("REQUEST_SETTINGS_CACHE_TTL should be a non-negative number")
    assert repr(ttl) in message.msg
    assert "REQUEST_SETTINGS_CACHE_TTL to a number such as 5" in message.hint


@pytest.mark.parametrize("ttl", [0, 5, 0.5])
def test_e001_silent_on_a_good_ttl(settings, ttl):
    settings.REQUEST_SETTINGS_CACHE_TTL = ttl
    assert checks.check_settings_types() == []


@pytest.mark.parametrize("enabled", ["False", 0, None])
def test_e002_enabled(settings, enabled):
    settings.REQUEST_SETTINGS_ENABLED = enabled
    message = only(checks.check_settings_types(), "request_settings.E002")
    assert message.msg == f"REQUEST_SETTINGS_ENABLED should be True or False, not {enabled!r} " + (
        f"({type(enabled).__name__})."
    )
    assert "REQUEST_SETTINGS_ENABLED = False" in message.hint


def test_e002_silent_when_switched_off(settings):
    settings.REQUEST_SETTINGS_ENABLED = False
    assert checks.check_settings_types() == []


@pytest.mark.parametrize("allowed", ["SESSION_EXPIRE_SECONDS", ["SITE_ID", 3], 7])
def test_e003_allowed(settings, allowed):
    settings.REQUEST_SETTINGS_ALLOWED = allowed
    message = only(checks.check_settings_types(), "request_settings.E003")
    assert "REQUEST_SETTINGS_ALLOWED should be None or a collection of setting names" in message.msg
    assert repr(allowed) in message.msg
    assert "['SESSION_EXPIRE_SECONDS']" in message.hint


@pytest.mark.parametrize("allowed", [None, [], ("SITE_ID",), {"SITE_ID", "SESSION_EXPIRE_SECONDS"}])
def test_e003_silent_on_good_values(settings, allowed):
    settings.REQUEST_SETTINGS_ALLOWED = allowed
    assert checks.check_settings_types() == []


@pytest.mark.parametrize("denied", ["SITE_ID", None, [b"SITE_ID"]])
def test_e004_denied(settings, denied):
    settings.REQUEST_SETTINGS_DENIED = denied
    message = only(checks.check_settings_types(), "request_settings.E004")
    assert "REQUEST_SETTINGS_DENIED should be a collection of setting names" in message.msg
    assert repr(denied) in message.msg


def test_e004_silent_on_a_list(settings):
    settings.REQUEST_SETTINGS_DENIED = ["SITE_ID"]
    assert checks.check_settings_types() == []


@pytest.mark.parametrize("alias", ["redis", 0])
def test_e005_broadcast_cache(settings, alias):
    settings.REQUEST_SETTINGS_BROADCAST_CACHE = alias
    message = only(checks.check_settings_types(), "request_settings.E005")
    assert message.msg == (
        "REQUEST_SETTINGS_BROADCAST_CACHE should be None or an alias in CACHES ('default'), not "
        f"{alias!r} ({type(alias).__name__})."
    )
    assert "Add the cache to CACHES" in message.hint


def test_e005_silent_on_a_known_alias(settings):
    settings.REQUEST_SETTINGS_BROADCAST_CACHE = "default"
    assert checks.check_settings_types() == []


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        (["SITE_ID"], "REQUEST_SETTINGS_FIELDS should be a dict"),
        ({"SITE_ID": "django.forms.IntegerField"}, "REQUEST_SETTINGS_FIELDS['SITE_ID'] should be"),
        ({"SITE_ID": {"field": int}}, "REQUEST_SETTINGS_FIELDS['SITE_ID']['field'] should be"),
        ({1: {"field": "django.forms.IntegerField"}}, "keys should be setting names, not 1 (int)"),
    ],
)
def test_e006_fields_shape(settings, fields, shown):
    settings.REQUEST_SETTINGS_FIELDS = fields
    message = only(checks.check_settings_types(), "request_settings.E006")
    assert shown in message.msg
    assert '"field": "django.forms.IntegerField"' in message.hint
    # The field check leaves malformed declarations to E006 instead of crashing on them.
    assert checks.check_fields() == []


def test_e006_silent_on_a_good_declaration(settings):
    settings.REQUEST_SETTINGS_FIELDS = {
        "SESSION_EXPIRE_SECONDS": {"field": "django.forms.IntegerField", "min_value": 60},
        "SITE_TITLE": {"max_length": 50},  # no "field": the JSON-or-text default
    }
    assert checks.check_settings_types() == []
    assert checks.check_fields() == []


# -- the override model ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "detail"),
    [
        ("auth.Nope", "'auth.Nope' cannot be imported"),
        ("SettingOverride", "not 'SettingOverride'"),
        (42, "not 42 (int)"),
    ],
)
def test_e007_model_cannot_be_loaded(settings, model, detail):
    settings.REQUEST_SETTINGS_MODEL = model
    message = only(checks.check_model(), "request_settings.E007")
    assert message.msg.startswith("REQUEST_SETTINGS_MODEL should name an installed model: ")
    assert detail in message.msg  # the helper's own error text
    assert "AbstractSettingOverride" in message.hint


def test_e008_and_e009_a_model_that_is_not_an_override_table(settings):
    settings.REQUEST_SETTINGS_MODEL = "auth.Group"
    messages = checks.check_model()
    assert ids(messages) == ["request_settings.E008", "request_settings.E009"]
    e008, e009 = messages
    assert e008.msg == (
        "auth.Group (REQUEST_SETTINGS_MODEL) should have the fields key, value and host; it lacks key, value, host."
    )
    assert "Subclass request_settings.models.AbstractSettingOverride" in e008.hint
    assert e009.msg == (
        "auth.Group's default manager (REQUEST_SETTINGS_MODEL) should provide the write API; "
        "it lacks set, unset, aset, aunset."
    )
    assert "SettingOverrideManager" in e009.hint
    assert e008.obj is e009.obj


@isolate_apps("tests.helperapp")
def test_e009_a_model_with_the_fields_but_a_plain_manager(settings):
    class PlainOverride(models.Model):
        key = models.CharField(max_length=255)
        value = models.JSONField()
        host = models.CharField(max_length=255, blank=True)

        class Meta:
            app_label = "helperapp"

        def __str__(self):
            return self.key

    from django.apps import apps as global_apps

    isolated = PlainOverride._meta.apps
    settings.REQUEST_SETTINGS_MODEL = "helperapp.PlainOverride"
    assert isolated is not global_apps
    with mock.patch("request_settings.appsettings.apps", isolated):
        messages = checks.check_model()
    assert ids(messages) == ["request_settings.E009"]
    assert "helperapp.PlainOverride's default manager" in messages[0].msg


def test_model_checks_silent_on_the_default_model():
    assert checks.check_model() == []


# -- the host resolver ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolver", "detail"),
    [
        ("tests.views.no_such_resolver", "'tests.views.no_such_resolver' cannot be imported"),
        ("resolver", "not 'resolver'"),
        ("tests.settings.SECRET_KEY", "should name a callable, not 'tests-only-not-a-secret'"),
    ],
)
def test_e010_host_resolver(settings, resolver, detail):
    settings.REQUEST_SETTINGS_HOST_RESOLVER = resolver
    message = only(checks.check_host_resolver(), "request_settings.E010")
    assert message.msg.startswith("REQUEST_SETTINGS_HOST_RESOLVER should ")
    assert detail in message.msg
    assert "callable(request) -> str" in message.hint


def test_e010_silent_on_a_callable(settings):
    settings.REQUEST_SETTINGS_HOST_RESOLVER = "request_settings.hosts.normalise_host"
    assert checks.check_host_resolver() == []


# -- middleware -----------------------------------------------------------------------------------


class MySession(SessionMiddleware):
    pass


class MyRequestSettings(RequestSettingsMiddleware):
    pass


def test_w001_middleware_missing(settings):
    settings.MIDDLEWARE = [SECURITY, SESSION, COMMON]
    message = only(checks.check_middleware(), "request_settings.W001")
    assert isinstance(message, Warning)
    assert message.msg == (f"MIDDLEWARE should contain {OURS!r}; without it no request gets overrides.")
    assert "first or just after SecurityMiddleware" in message.hint


def test_w002_middleware_listed_twice(settings):
    settings.MIDDLEWARE = [SECURITY, OURS, SESSION, OURS]
    message = only(checks.check_middleware(), "request_settings.W002")
    assert "should list RequestSettingsMiddleware once, not 2 times" in message.msg


def test_w003_below_session_middleware(settings):
    settings.MIDDLEWARE = [SECURITY, SESSION, OURS, COMMON]
    message = only(checks.check_middleware(), "request_settings.W003")
    assert message.msg == (
        f"{OURS} should be above {SESSION} in MIDDLEWARE; below it, the session cookie would ignore the overrides."
    )
    assert f"Move {OURS!r} up" in message.hint


def test_w004_below_session_timeout_middleware(settings):
    settings.MIDDLEWARE = [SECURITY, TIMEOUT, OURS, SESSION]
    message = only(checks.check_middleware(), "request_settings.W004")
    assert f"should be above {TIMEOUT}" in message.msg
    assert "the session timeout would ignore the overrides" in message.msg


def test_w003_and_w004_together(settings):
    settings.MIDDLEWARE = [SESSION, TIMEOUT, OURS]
    assert ids(checks.check_middleware()) == ["request_settings.W003", "request_settings.W004"]


def test_subclasses_count_as_the_classes_they_extend(settings):
    settings.MIDDLEWARE = ["tests.test_checks.MySession", "tests.test_checks.MyRequestSettings"]
    assert ids(checks.check_middleware()) == ["request_settings.W003"]
    settings.MIDDLEWARE = ["tests.test_checks.MyRequestSettings", "tests.test_checks.MySession"]
    assert checks.check_middleware() == []


def test_unimportable_middleware_is_not_a_match_and_does_not_crash(settings):
    settings.MIDDLEWARE = ["nowhere.Middleware", None, OURS, SESSION]
    assert checks.check_middleware() == []
    settings.MIDDLEWARE = ["nowhere.Middleware", SESSION]
    assert ids(checks.check_middleware()) == ["request_settings.W001"]


@pytest.mark.parametrize(
    "middleware",
    [
        [SECURITY, OURS, SESSION, TIMEOUT],
        [OURS, SECURITY, SESSION, TIMEOUT],
        [SECURITY, OURS, COMMON],  # no sessions at all
    ],
)
def test_middleware_checks_silent_on_good_positions(settings, middleware):
    settings.MIDDLEWARE = middleware
    assert checks.check_middleware() == []


# -- field declarations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declaration", "detail"),
    [
        ({"field": "django.forms.NoSuchField"}, "'django.forms.NoSuchField' cannot be imported"),
        ({"field": "django.utils.text.slugify"}, "not a django.forms.Field subclass"),
        ({"field": "django.forms.IntegerField", "min_valu": 1}, "fails: "),
    ],
)
def test_e011_field_cannot_be_built(settings, declaration, detail):
    settings.REQUEST_SETTINGS_FIELDS = {"SESSION_EXPIRE_SECONDS": declaration}
    message = only(checks.check_fields(), "request_settings.E011")
    assert message.msg.startswith("REQUEST_SETTINGS_FIELDS['SESSION_EXPIRE_SECONDS'] should build a form field: ")
    assert detail in message.msg
    assert "django.forms.Field subclass" in message.hint


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("SECRET_KEY", "security-critical"),
        ("TIME_ZONE", "cached by Django on first use"),
        ("SHOP_BANNER", None),
    ],
)
def test_w005_field_for_a_refused_key(settings, key, reason):
    settings.REQUEST_SETTINGS_FIELDS = {key: {"field": "django.forms.CharField"}}
    messages = checks.check_fields()
    if reason is None:
        assert messages == []
        return
    message = only(messages, "request_settings.W005")
    assert message.msg.startswith(
        f"REQUEST_SETTINGS_FIELDS should only declare keys that may be overridden; {key} cannot be: {reason}"
    )
    assert f"Remove {key!r} from REQUEST_SETTINGS_FIELDS" in message.hint


def test_w005_follows_the_projects_deny_list(settings):
    settings.REQUEST_SETTINGS_FIELDS = {"SESSION_EXPIRE_SECONDS": {"field": "django.forms.IntegerField"}}
    assert checks.check_fields() == []
    settings.REQUEST_SETTINGS_DENIED = ["SESSION_EXPIRE_SECONDS"]
    message = only(checks.check_fields(), "request_settings.W005")
    assert "SESSION_EXPIRE_SECONDS cannot be: denied by REQUEST_SETTINGS_DENIED." in message.msg


def test_w005_is_skipped_while_the_policy_settings_are_malformed(settings):
    settings.REQUEST_SETTINGS_FIELDS = {"SECRET_KEY": {"field": "django.forms.CharField"}}
    settings.REQUEST_SETTINGS_ALLOWED = 3  # E003 reports it; the policy cannot be asked meanwhile
    assert checks.check_fields() == []
    assert ids(checks.check_settings_types()) == ["request_settings.E003"]


# -- stored rows (database check) -----------------------------------------------------------------


@pytest.mark.django_db
def test_database_check_silent_on_allowed_rows():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host="a.example.com")
    assert checks.check_stored_overrides(databases=["default"]) == []
    text, found = run_check("--database", "default")
    assert found == []
    assert "System check identified no issues" in text


@pytest.mark.django_db
def test_w006_a_row_the_policy_now_refuses(settings):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host="a.example.com")
    settings.REQUEST_SETTINGS_DENIED = ["SESSION_EXPIRE_SECONDS"]
    message = only(checks.check_stored_overrides(databases=["default"]), "request_settings.W006")
    assert message.msg == (
        "The override of SESSION_EXPIRE_SECONDS for host 'a.example.com' should be removed: "
        "SESSION_EXPIRE_SECONDS cannot be overridden (denied by REQUEST_SETTINGS_DENIED)."
    )
    assert "SettingOverride.objects.unset(key, host=...)" in message.hint
    assert message.obj is SettingOverride
    text, found = run_check("--database", "default")
    assert found == ["request_settings.W006"]
    assert "a.example.com" in text


@pytest.mark.django_db
def test_w006_a_row_written_around_the_write_api():
    SettingOverride.objects.create(key="SECRET_KEY", value="stolen")
    message = only(checks.check_stored_overrides(databases=["default"]), "request_settings.W006")
    assert "SECRET_KEY for all hosts should be removed" in message.msg
    assert "(security-critical)" in message.msg


@pytest.mark.django_db
def test_w007_a_row_whose_value_is_no_longer_accepted(settings):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    settings.REQUEST_SETTINGS_FIELDS = {
        "SESSION_EXPIRE_SECONDS": {"field": "django.forms.IntegerField", "max_value": 300}
    }
    message = only(checks.check_stored_overrides(databases=["default"]), "request_settings.W007")
    assert message.msg.startswith(
        "The override of SESSION_EXPIRE_SECONDS for all hosts should hold a valid value, not 600: "
        "SESSION_EXPIRE_SECONDS expects a value the declared field accepts"
    )
    assert "objects.set()" in message.hint


@pytest.mark.django_db
def test_database_check_ignores_a_broken_field_declaration(settings):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    settings.REQUEST_SETTINGS_FIELDS = {"SESSION_EXPIRE_SECONDS": {"field": "nowhere.Field"}}
    assert checks.check_stored_overrides(databases=["default"]) == []  # E011 reports it


@pytest.mark.django_db
def test_database_check_skips_a_broken_model_or_policy(settings):
    SettingOverride.objects.create(key="SECRET_KEY", value="stolen")
    settings.REQUEST_SETTINGS_DENIED = "SECRET_KEY"
    assert checks.check_stored_overrides(databases=["default"]) == []  # E004 reports it
    del settings.REQUEST_SETTINGS_DENIED
    settings.REQUEST_SETTINGS_MODEL = "auth.Nope"
    assert checks.check_stored_overrides(databases=["default"]) == []  # E007 reports it
    settings.REQUEST_SETTINGS_MODEL = "auth.Group"
    assert checks.check_stored_overrides(databases=["default"]) == []  # E008 reports it


@pytest.mark.django_db
def test_database_check_tolerates_a_query_error_without_breaking_the_transaction():
    SettingOverride.objects.create(key="SECRET_KEY", value="stolen")

    def failing_query(*args, **kwargs):
        with connection.cursor() as cursor:  # a real error from the database, not a fake one
            cursor.execute("SELECT key FROM request_settings_no_such_table")

    with mock.patch.object(type(SettingOverride._default_manager), "using", failing_query):
        assert checks.check_stored_overrides(databases=["default"]) == []
    # On PostgreSQL an error outside a savepoint would abort this test's transaction.
    assert SettingOverride.objects.filter(key="SECRET_KEY").exists()


@pytest.mark.django_db(transaction=True)
def test_database_check_before_the_table_exists():
    """migrate runs database checks before our migration creates the table (DESIGN.md traps)."""
    call_command("migrate", "request_settings", "zero", verbosity=0)
    try:
        assert SettingOverride._meta.db_table not in connection.introspection.table_names()
        assert checks.check_stored_overrides(databases=["default"]) == []
        text, found = run_check("--database", "default")
        assert found == []
        assert "System check identified no issues" in text
    finally:
        # migrate runs the database checks first, with the table still missing.
        call_command("migrate", "request_settings", verbosity=0)
    assert SettingOverride._meta.db_table in connection.introspection.table_names()
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    assert checks.check_stored_overrides(databases=["default"]) == []


class NoOverridesHere:
    """A router that keeps the override table out of every database."""

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if model_name == "settingoverride" else None


@pytest.mark.django_db
def test_database_check_skips_databases_the_table_is_not_routed_to(settings):
    SettingOverride.objects.create(key="SECRET_KEY", value="stolen")
    assert ids(checks.check_stored_overrides(databases=["default"])) == ["request_settings.W006"]
    settings.DATABASE_ROUTERS = ["tests.test_checks.NoOverridesHere"]
    assert checks.check_stored_overrides(databases=["default"]) == []


# -- the middleware without the app ----------------------------------------------------------------


def run_without_app(*args):
    """A process with tests/settings_without_app.py: the middleware in MIDDLEWARE, the app not installed."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_without_app", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=False
    )


E012 = (
    "?: (request_settings.E012) INSTALLED_APPS should contain 'request_settings' when "
    "request_settings.middleware.RequestSettingsMiddleware is used."
)


def test_e012_manage_py_check_prints_a_check_error_not_a_traceback():
    """The admin's own check imports every MIDDLEWARE entry: that import must not crash on our models."""
    result = run_without_app("-m", "django", "check")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "RuntimeError" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "System check identified some issues:"
    assert E012 in lines
    assert "\tHINT: Add 'request_settings' to INSTALLED_APPS and run manage.py migrate, or remove " in result.stderr


def test_e012_a_server_starting_without_the_app_names_the_fix():
    """Without the admin nothing imports the middleware during the checks; the request handler then does."""
    code = "import django; django.setup(); from django.core.handlers.wsgi import WSGIHandler; WSGIHandler()"
    result = run_without_app("-c", code)
    assert result.returncode == 1
    assert "doesn't declare an explicit app_label" not in result.stderr
    assert E012 in result.stderr.splitlines()


def test_e012_check_function_names_the_missing_app():
    assert checks.check_app_installed() == []
    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"]):
        message = only(checks.check_app_installed(), "request_settings.E012")
        with pytest.raises(SystemCheckError) as raised:
            checks.require_installed()
    assert isinstance(message, Error)
    assert str(message) == E012 + "\n\tHINT: " + message.hint
    assert str(raised.value).splitlines() == [
        "System check identified some issues:",
        "",
        "ERRORS:",
        *str(message).splitlines(),
        "",
        "System check identified 1 issue.",
    ]
    checks.require_installed()  # installed again: nothing to say


def test_e012_leaves_an_import_before_setup_to_django():
    """Before django.setup() it is not known what is installed: Django's AppRegistryNotReady says so at the models."""
    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]):
        with mock.patch.object(apps, "apps_ready", False):
            checks.require_installed()
        with pytest.raises(SystemCheckError):
            checks.require_installed()


POSITIVE_SECONDS = "REQUEST_SETTINGS_POLL_INTERVAL should be a positive number of seconds, not"


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("REQUEST_SETTINGS_POLL_INTERVAL", 0, ("E013", f"{POSITIVE_SECONDS} 0 (int).")),
        ("REQUEST_SETTINGS_POLL_INTERVAL", "0.5", ("E013", f"{POSITIVE_SECONDS} '0.5' (str).")),
        ("REQUEST_SETTINGS_POLL_INTERVAL", float("inf"), ("E013", f"{POSITIVE_SECONDS} inf (float).")),
        (
            "REQUEST_SETTINGS_LISTEN",
            "yes",
            ("E014", "REQUEST_SETTINGS_LISTEN should be True or False, not 'yes' (str)."),
        ),
        (
            "REQUEST_SETTINGS_CELERY_REQUIRE_HOST",
            1,
            ("E014", "REQUEST_SETTINGS_CELERY_REQUIRE_HOST should be True or False, not 1 (int)."),
        ),
        (
            "REQUEST_SETTINGS_MAX_VALUE_DEPTH",
            0,
            ("E015", "REQUEST_SETTINGS_MAX_VALUE_DEPTH should be a positive integer, not 0 (int)."),
        ),
        (
            "REQUEST_SETTINGS_MAX_VALUE_SIZE",
            1.5,
            ("E015", "REQUEST_SETTINGS_MAX_VALUE_SIZE should be a positive integer, not 1.5 (float)."),
        ),
        (
            "REQUEST_SETTINGS_URL_HOSTS",
            "accounts.example.com",
            (
                "E016",
                "REQUEST_SETTINGS_URL_HOSTS should be a collection of host names, not 'accounts.example.com' (str).",
            ),
        ),
    ],
)
def test_the_settings_added_later_are_checked_too(setting, value, expected):
    with override_settings(**{setting: value}):
        found = [(m.id.removeprefix("request_settings."), m.msg) for m in checks.check_settings_types()]
    assert found == [expected]


def test_listen_on_a_database_that_is_not_postgresql_is_a_warning():
    from django.db import connection

    with override_settings(REQUEST_SETTINGS_LISTEN=True):
        found = [(m.id, m.msg) for m in checks.check_settings_types()]
    if connection.vendor == "postgresql":
        assert found == []
    else:
        assert found == [
            (
                "request_settings.W009",
                "REQUEST_SETTINGS_LISTEN is True, but the override table's database 'default' is sqlite, not "
                "PostgreSQL: changes are polled only.",
            )
        ]
