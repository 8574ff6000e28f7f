"""Adversarial review of the app-settings helper and the system checks: the cases the other suites missed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import Warning
from django.core.management import call_command
from django.test import override_settings

from request_settings import checks
from request_settings.appsettings import AppSettings
from request_settings.conf import defaults
from request_settings.conf.settings import settings as conf
from request_settings.models import SettingOverride
from tests.helperapp.conf.settings import settings as helper

MASK = "********************"


def found(messages):
    return [(message.id, message.msg) for message in messages]


# -- defaults are the app's: a caller mutating what it read must not change them for everyone else -------------


def test_a_mutable_default_read_and_mutated_does_not_leak_to_the_next_reader():
    fields = conf.FIELDS
    fields["LEAKED"] = {"field": "django.forms.IntegerField"}
    assert conf.FIELDS == {}
    assert defaults.FIELDS == {}


def test_another_apps_mutable_default_does_not_leak_either():
    tags = helper.TAGS
    tags.append("leaked")
    helper.get("OPTIONS")["nested"]["leaked"] = True
    assert helper.TAGS == ["news"]
    assert helper.get("OPTIONS") == {"nested": {"depth": 1}}


def test_immutable_defaults_are_returned_as_they_are():
    assert conf.ALLOWED is None
    assert conf.DENIED is defaults.DENIED
    assert helper.GREETING is helper.get("GREETING")


def test_an_overridden_mutable_value_is_the_projects_own_object(settings):
    # Only defaults are protected; a project's value is Django's, read as Django hands it out.
    settings.HELPERAPP_TAGS = tags = ["mine"]
    assert helper.TAGS is tags


# -- checks must report odd values, never crash on them --------------------------------------------------------

HUGE = 10**309  # an int beyond float's range: time arithmetic with it raises OverflowError


def test_e001_reports_a_ttl_too_large_for_a_float_instead_of_crashing(settings):
    settings.REQUEST_SETTINGS_CACHE_TTL = HUGE
    assert found(checks.check_settings_types()) == [
        (
            "request_settings.E001",
            f"REQUEST_SETTINGS_CACHE_TTL should be a non-negative number of seconds, not {HUGE} (int).",
        )
    ]


def test_e013_reports_a_poll_interval_too_large_for_a_float(settings):
    # The refresher computes now + POLL_INTERVAL and waits that long: both raise OverflowError.
    settings.REQUEST_SETTINGS_POLL_INTERVAL = HUGE
    assert found(checks.check_settings_types()) == [
        (
            "request_settings.E013",
            f"REQUEST_SETTINGS_POLL_INTERVAL should be a positive number of seconds, not {HUGE} (int).",
        )
    ]


@pytest.mark.parametrize("value", [0, 1, 10**300, 0.25])
def test_e001_and_e013_silent_on_large_but_usable_numbers(settings, value):
    settings.REQUEST_SETTINGS_CACHE_TTL = value
    settings.REQUEST_SETTINGS_POLL_INTERVAL = value or 0.5
    assert checks.check_settings_types() == []


@pytest.mark.parametrize(
    ("declaration", "detail"),
    [
        (
            {"field": "django.forms.RegexField", "regex": "("},
            "django.forms.RegexField(**{'regex': '('}) fails: missing ), unterminated subpattern at position 0",
        ),
        (
            {"field": "django.forms.IntegerField", "widget": 5},
            "django.forms.IntegerField(**{'widget': 5}) fails: 'int' object has no attribute 'is_required'",
        ),
        (
            {"field": "tests.helperapp.explodes.Field"},
            "'tests.helperapp.explodes.Field' cannot be imported: RuntimeError: this module fails on import",
        ),
    ],
)
def test_e011_reports_a_field_that_fails_in_any_way_instead_of_crashing(settings, declaration, detail):
    settings.REQUEST_SETTINGS_FIELDS = {"SHOP_PATTERN": declaration}
    [(check_id, message)] = found(checks.check_fields())
    assert check_id == "request_settings.E011"
    # Up to Python's own words, which vary between versions (3.13 adds to an AttributeError's).
    assert message.startswith(f"REQUEST_SETTINGS_FIELDS['SHOP_PATTERN'] should build a form field: {detail}"), message


@pytest.mark.django_db
@pytest.mark.parametrize(
    "declaration",
    [
        {"field": "django.forms.RegexField", "regex": "("},
        {"field": "django.forms.IntegerField", "widget": 5},
        {"field": "tests.helperapp.explodes.Field"},
    ],
)
def test_the_database_check_leaves_a_broken_declaration_to_e011_instead_of_crashing_migrate(settings, declaration):
    SettingOverride.objects.create(key="SHOP_PATTERN", value="a")
    settings.REQUEST_SETTINGS_FIELDS = {"SHOP_PATTERN": declaration}
    assert checks.check_stored_overrides(databases=["default"]) == []


# -- every one of our settings has its type checked --------------------------------------------------------------


@pytest.mark.parametrize("value", ["no", None, 0])
def test_e014_preview_banner_is_true_or_false(settings, value):
    settings.REQUEST_SETTINGS_PREVIEW_BANNER = value
    assert found(checks.check_settings_types()) == [
        (
            "request_settings.E014",
            f"REQUEST_SETTINGS_PREVIEW_BANNER should be True or False, not {value!r} ({type(value).__name__}).",
        )
    ]


def test_e014_silent_when_the_banner_is_switched_off(settings):
    settings.REQUEST_SETTINGS_PREVIEW_BANNER = False
    assert checks.check_settings_types() == []


# -- a stored value quoted by a check: secrets masked, long values cut -----------------------------------------


@pytest.mark.django_db
def test_w007_masks_the_value_of_a_secret_looking_key(settings):
    settings.SHOP_API_TOKEN = "settings-py-token"
    SettingOverride.objects.create(key="SHOP_API_TOKEN", value=8675309)
    SettingOverride.objects.create(key="SHOP_PASSWORD", value="hunter2", host="a.example.com")
    settings.REQUEST_SETTINGS_FIELDS = {"SHOP_PASSWORD": {"field": "django.forms.IntegerField"}}
    messages = checks.check_stored_overrides(databases=["default"])
    assert sorted(found(messages)) == [
        (
            "request_settings.W007",
            f"The override of SHOP_API_TOKEN for all hosts should hold a valid value, not {MASK}: "
            "SHOP_API_TOKEN expects a string.",
        ),
        (
            "request_settings.W007",
            f"The override of SHOP_PASSWORD for host 'a.example.com' should hold a valid value, not {MASK}: "
            "SHOP_PASSWORD expects a value the declared field accepts (Enter a whole number.).",
        ),
    ]
    text = _check_output("--database", "default")
    assert "8675309" not in text
    assert "hunter2" not in text


@pytest.mark.django_db
def test_w007_cuts_a_long_value(settings):
    settings.SHOP_TAGS = ["news"]
    SettingOverride.objects.create(key="SHOP_TAGS", value="x" * 5000)
    [message] = checks.check_stored_overrides(databases=["default"])
    assert message.msg == (
        "The override of SHOP_TAGS for all hosts should hold a valid value, not '" + "x" * 198 + "…: "
        "SHOP_TAGS expects a JSON list."
    )


def _check_output(*args):
    out = StringIO()
    call_command("check", *args, stdout=out, stderr=out)
    return out.getvalue()


# -- a misspelt REQUEST_SETTINGS_* name is silently ignored without a check -------------------------------------


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("REQUEST_SETTINGS_ENABLE", "Did you mean REQUEST_SETTINGS_ENABLED? Rename it, or remove it."),
        ("REQUEST_SETTINGS_CACHE_TLL", "Did you mean REQUEST_SETTINGS_CACHE_TTL? Rename it, or remove it."),
        (
            "REQUEST_SETTINGS_COLOUR",
            "Remove it. The settings request_settings reads are listed in the README's Configuration table.",
        ),
    ],
)
def test_w010_an_unknown_request_settings_name_is_reported_with_a_hint(name, hint):
    with override_settings(**{name: False}):
        messages = checks.check_unknown_settings()
    assert [(m.id, m.msg, m.hint) for m in messages] == [
        ("request_settings.W010", f"{name} is not a setting of request_settings, so it is ignored.", hint)
    ]
    assert isinstance(messages[0], Warning)


def test_w010_silent_on_every_real_setting():
    real = {f"REQUEST_SETTINGS_{name}": getattr(defaults, name) for name in dir(defaults) if name.isupper()}
    with override_settings(**real):
        assert checks.check_unknown_settings() == []
    assert checks.check_unknown_settings() == []


def test_w010_runs_in_manage_py_check():
    with override_settings(REQUEST_SETTINGS_ENABLE=False):
        text = _check_output()
    assert "request_settings.W010" in text
    assert "Did you mean REQUEST_SETTINGS_ENABLED?" in text


def test_a_mutable_default_that_cannot_be_copied_is_handed_out_as_it_is():
    from tests.helperapp.conf import uncopyable_defaults

    class Uncopyable(AppSettings):
        prefix = "UNCOPYABLE"
        defaults_path = "tests.helperapp.conf.uncopyable_defaults"

    assert Uncopyable().LOCKS is uncopyable_defaults.LOCKS
