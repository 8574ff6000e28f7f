"""The rules of request_settings/validators.py at their edges, and the policy's handling of settings.py values."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import DatabaseError
from django.test import override_settings
from django.urls import path, reverse_lazy
from django.utils.translation import gettext_lazy

from request_settings import policy, validators

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a\x00b", "a string without NUL characters"),
        ({"a\x00": 1}, "an object whose keys are strings without NUL characters"),
        ({1: "a"}, "an object whose keys are strings without NUL characters"),
        ("a\ud800b", "strings and object keys without lone UTF-16 surrogates (\\ud800 to \\udfff)"),
        ([["\udfff"]], "strings and object keys without lone UTF-16 surrogates (\\ud800 to \\udfff)"),
        ({"\udc80": 1}, "strings and object keys without lone UTF-16 surrogates (\\ud800 to \\udfff)"),
        ("😀 \ufffd \uffff \U0010ffff", None),  # every code point outside the surrogates is a character
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


# -- what each rule accepts, at its edges ------------------------------------------------------------------------------


def accepts(rule, value, host=None):
    return rule(value, host=host) is None


@pytest.mark.parametrize(
    ("rule", "kind"),
    [
        (validators.boolean(), bool),
        (validators.integer(0, 1), int),
        (validators.number(0, 1), float),
        (validators.text(5), str),
        (validators.charset(), str),
        (validators.cookie_domain(), str),
        (validators.cookie_path(), str),
        (validators.local_url(), str),
        (validators.email_address(), str),
        (validators.server_name(), str),
        (validators.dotted_path(), str),
        (validators.list_of(validators.boolean(), 2, "flags"), list),
        (validators.origin(), str),
        (validators.header_name(), str),
        (validators.http_method(), str),
        (validators.existing_site(), int),
        (validators.one_of("DENY", "SAMEORIGIN"), None),  # typed text is read as JSON, then compared
    ],
)
def test_each_rule_names_the_type_a_form_parses_typed_text_into(rule, kind):
    assert rule.kind is kind


@override_settings(EMAIL_SUBJECT_PREFIX=gettext_lazy("[Shop] "))
def test_a_text_setting_lazy_in_settings_py_takes_typed_digits_as_text():
    from request_settings.fields import parse_value

    assert parse_value("EMAIL_SUBJECT_PREFIX", "42") == "42"  # not the number 42, which the rule would refuse


@pytest.mark.parametrize(
    ("rule", "accepted"),
    [
        (validators.number(0, 1), "a number from 0 to 1"),
        (validators.number(1, 3600, optional=True, unit="seconds"), "a number from 1 to 3600 (seconds) or null"),
        (validators.text(5), "a string of at most 5 characters without control characters"),
        (
            validators.text(5, allow_empty=False, optional=True),
            "a non-empty string of at most 5 characters without control characters or null",
        ),
        (validators.origin(), "an origin such as 'https://shop.example.com' or 'http://localhost:8000' (no path)"),
        (validators.header_name(), "an HTTP header name such as 'x-requested-with'"),
        (validators.http_method(), "an HTTP method such as 'GET'"),
        (
            validators.list_of(validators.http_method(), 20, "methods"),
            "a list of at most 20 methods (an HTTP method such as 'GET')",
        ),
    ],
)
def test_each_rule_says_what_it_accepts(rule, accepted):
    assert rule.accepted == accepted
    assert rule(object()) == accepted


def test_null_is_refused_unless_a_rule_is_optional():
    assert validators.number(0, 1)(None) == "a number from 0 to 1"
    assert validators.number(0, 1, optional=True)(None) is None
    assert validators.text(5, optional=True)(None) is None
    assert validators.HostRule("a domain", bool, lambda value, host: None)(None) == "a domain"


def test_text_edges():
    assert accepts(validators.text(3), "abc")
    assert not accepts(validators.text(3), "abcd")
    assert accepts(validators.text(3), "")
    assert not accepts(validators.text(3, allow_empty=False), "")
    assert accepts(validators.text(3, allow_empty=False), "a")
    assert accepts(validators.text(20), "XX-Mas Sale")  # letters are no control characters
    for separator in ("\u2028", "\u2029", "\x7f", "\x85"):
        assert not accepts(validators.text(20), f"a{separator}b")


def test_a_domain_has_at_most_253_characters_and_is_a_string():
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253
    assert validators.is_domain(longest)
    assert not validators.is_domain(longest + "d")  # Django's own validator takes up to 255
    for value in (None, 5, ["example.com"], "", " example.com"):
        assert not validators.is_domain(value)


def test_a_pattern_rows_cookie_domain_is_judged_by_its_subdomains():
    pattern = "*.shop.example.com"
    assert policy.value_problem("SESSION_COOKIE_DOMAIN", "shop.example.com", host=pattern) is None
    assert policy.value_problem("SESSION_COOKIE_DOMAIN", ".example.com", host=pattern) is None
    assert policy.value_problem("SESSION_COOKIE_DOMAIN", "other.org", host=pattern) == (
        "null or a domain that *.shop.example.com lies in, such as 'shop.example.com' (browsers drop the others)"
    )
    assert policy.value_problem("CSRF_COOKIE_DOMAIN", ".shop.example.com", host=pattern) is None
    # CsrfViewMiddleware's Referer check takes a name without a dot for that one host, never its subdomains
    assert policy.value_problem("CSRF_COOKIE_DOMAIN", "shop.example.com", host=pattern) == (
        "null or a domain with a leading dot that *.shop.example.com lies in, such as '.shop.example.com'"
    )
    assert policy.value_problem("CSRF_COOKIE_DOMAIN", "example.org", host="a.example.org") == (
        "null, 'a.example.org' or a domain with a leading dot that a.example.org lies in, such as '.a.example.org'"
    )


def test_a_cookie_domain_in_capitals_covers_its_host():
    assert policy.value_problem("SESSION_COOKIE_DOMAIN", "XYLO.example", host="xylo.example") is None
    assert policy.value_problem("SESSION_COOKIE_DOMAIN", ".Xylo.example", host="a.xylo.example") is None


def test_a_cookie_path_has_at_most_255_characters():
    with override_settings(ROOT_URLCONF="tests.helperapp.urls"):  # no admin: any clean path
        assert accepts(validators.cookie_path(), "/" + "a" * 254)
        assert not accepts(validators.cookie_path(), "/" + "a" * 255)


def shop(request):
    return None  # pragma: no cover (only reversed)


urlpatterns = [path("shop/", shop, name="Shop"), path("shop/<int:pk>/", shop, name="ShopItem")]


@override_settings(ROOT_URLCONF=__name__)
def test_a_url_name_may_start_with_a_capital():
    assert policy.value_problem("LOGIN_URL", "Shop") is None
    assert policy.value_problem("LOGIN_URL", "ShopItem") is not None  # needs an argument


def test_a_local_url_has_at_most_2048_characters():
    assert accepts(validators.local_url(), "/" + "a" * 2047)
    assert not accepts(validators.local_url(), "/" + "a" * 2048)


def test_an_address_has_at_most_320_characters_with_its_name():
    address = " <shop@example.com>"
    assert accepts(validators.email_address(), "N" * (320 - len(address)) + address)
    assert not accepts(validators.email_address(), "N" * (321 - len(address)) + address)


def test_a_dotted_path_has_at_most_255_characters():
    assert accepts(validators.dotted_path(), "a." + "b" * 253)
    assert not accepts(validators.dotted_path(), "a." + "b" * 254)


def test_a_list_has_at_most_its_number_of_items():
    flags = validators.list_of(validators.boolean(), 2, "flags")
    assert accepts(flags, [True, False])
    assert accepts(flags, (True,))
    assert not accepts(flags, [True, False, True])
    assert not accepts(flags, [True, 1])


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("http://localhost:1", True),
        ("http://localhost:65535", True),
        ("http://localhost:65536", False),
        ("http://[fe80::1:2]", True),
        ("http://[abc]", False),  # bracketed, but no IP address
        (5, False),
        (["https://shop.example.org"], False),
    ],
)
def test_origin_edges(value, ok):
    assert accepts(validators.origin(), value) is ok


def test_site_ids_are_bounded_like_the_sites_table():
    with mock.patch("django.apps.apps.is_installed", return_value=False):
        assert policy.value_problem("SITE_ID", 2**31 - 1) is None
        assert policy.value_problem("SITE_ID", 2**31) is not None
        assert policy.value_problem("SITE_ID", 0) is not None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([float("nan"), True], "a finite number"),  # found behind a plain item
        ([None, float("inf")], "a finite number"),
        ([validators.MAX_INT, -validators.MAX_INT], None),
        ([validators.MAX_INT + 1], f"integers from {-validators.MAX_INT} to {validators.MAX_INT}"),
        ([-validators.MAX_INT - 1], f"integers from {-validators.MAX_INT} to {validators.MAX_INT}"),
    ],
)
def test_json_problem_edges(value, problem):
    assert validators.json_problem(value, max_depth=32, max_size=65536) == problem


def nested_objects(depth):
    value = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_objects_count_towards_the_depth_like_lists():
    assert validators.json_problem(nested_objects(3), max_depth=3, max_size=65536) is None
    assert validators.json_problem(nested_objects(4), max_depth=3, max_size=65536) == (
        "a JSON value nested at most 3 levels deep (REQUEST_SETTINGS_MAX_VALUE_DEPTH)"
    )
