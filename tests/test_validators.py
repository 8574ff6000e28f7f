"""The rules of request_settings/validators.py at their edges, and the policy's handling of settings.py values."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import DatabaseError
from django.test import override_settings
from django.urls import reverse_lazy

from request_settings import policy, validators

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a\x00b", "a string without NUL characters"),
        ({"a\x00": 1}, "an object whose keys are strings without NUL characters"),
        ({1: "a"}, "an object whose keys are strings without NUL characters"),
        (object(), "a JSON value (string, number, true/false, null, list or object)"),
        ([1, (2, {"x": [float("nan")]})], "a finite number"),
    ],
)
def test_json_problems(value, problem):
    assert validators.json_problem(value, max_depth=32, max_size=65536) == problem


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("http://[::1]:8000", True),
        ("https://[not-an-ip]", False),
        ("https://127.0.0.1", True),
        ("https://shop.example.org:0", False),
        ("https://user@shop.example.org", False),
    ],
)
def test_origins(value, ok):
    assert (validators.origin()(value) is None) is ok


@pytest.mark.parametrize(("value", "ok"), [("10.0.0.1", True), ("::1", True), ("localhost", True), ("smtp", False)])
def test_mail_servers(value, ok):
    assert (validators.server_name()(value) is None) is ok


def test_a_url_name_that_needs_arguments_is_refused():
    assert policy.value_problem("LOGIN_URL", "admin:app_list") is not None


def test_without_the_admin_any_clean_cookie_path_is_accepted():
    with override_settings(ROOT_URLCONF="tests.helperapp.urls"):
        assert policy.value_problem("SESSION_COOKIE_PATH", "/shop/") is None
        assert policy.value_problem("SESSION_COOKIE_PATH", "/shop/;x") is not None


def test_site_id_without_contrib_sites_is_only_bounded():
    with mock.patch("django.apps.apps.is_installed", return_value=False):
        assert policy.value_problem("SITE_ID", 99) is None


def test_site_id_is_refused_when_the_sites_table_cannot_be_read():
    with mock.patch("django.db.models.query.QuerySet.exists", side_effect=DatabaseError("down")):
        assert policy.value_problem("SITE_ID", 1) is not None


def test_a_rule_shows_what_it_accepts():
    assert repr(validators.integer(1, 2)) == "<Rule an integer from 1 to 2>"


@override_settings(SHOP_HOME=reverse_lazy("echo"))
def test_a_lazy_string_in_settings_py_is_a_string():
    assert policy.refusal("SHOP_HOME") is None
    assert policy.value_problem("SHOP_HOME", "/elsewhere/") is None
    assert policy.value_problem("SHOP_HOME", 42) == "a string"


@override_settings(SHOP_RATIO=float("inf"))
def test_an_infinite_number_in_settings_py_is_refused():
    assert policy.refusal("SHOP_RATIO") == f"{policy.NOT_JSON}: its settings.py value holds inf"
