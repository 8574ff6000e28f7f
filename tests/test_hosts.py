from __future__ import annotations

import pytest
from django.test import RequestFactory

from request_settings.exceptions import InvalidHost
from request_settings.hosts import clean_host, host_from_request, matching_patterns, normalise_host, pattern_covers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("shop.example.com", "shop.example.com"),
        ("Shop.Example.COM", "shop.example.com"),
        ("shop.example.com:8000", "shop.example.com"),
        ("shop.example.com.", "shop.example.com"),
        ("shop.example.com.:443", "shop.example.com"),
        ("[::1]:8000", "[::1]"),
        ("", ""),
        (None, ""),
        ("not a host", ""),
        ("evil.com/path", ""),
    ],
)
def test_normalise_host(raw, expected):
    assert normalise_host(raw) == expected


def test_host_from_request_uses_the_validated_host():
    request = RequestFactory().get("/", HTTP_HOST="A.Example.com:8080")
    assert host_from_request(request) == "a.example.com"


def test_a_host_allowed_hosts_refuses_maps_to_all_hosts():
    request = RequestFactory().get("/", HTTP_HOST="attacker.test")
    assert host_from_request(request) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        ("", ""),
        ("  ", ""),
        ("(all hosts)", ""),
        ("A.LOCALHOST", "a.localhost"),
        ("a.localhost:8000", "a.localhost"),
        ("a.localhost.", "a.localhost"),
        (" shop.example.com ", "shop.example.com"),
        ("[::1]:8000", "[::1]"),
        ("10.0.0.1", "10.0.0.1"),
        ("*.Example.com", "*.example.com"),
        ("*.example.com.:443", "*.example.com"),
        ("*.eu.example.com", "*.eu.example.com"),
    ],
)
def test_clean_host_normalises_what_a_request_could_match(raw, expected):
    assert clean_host(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "http://a.localhost/",
        "a.localhost/path",
        ".localhost",
        "a..localhost",
        "*",
        "*.",
        "**.example.com",
        "a.*.example.com",
        "*example.com",
        "*.[::1]",
        "shop example.com",
        "shop_1.example.com",
        "a.localhost\n",
        "a.local\x00host",
        5,
        b"a.localhost",
        ["a.localhost"],
    ],
)
def test_clean_host_refuses_what_no_request_can_match_with_one_message(raw):
    with pytest.raises(InvalidHost) as raised:
        clean_host(raw)
    assert str(raised.value) == (
        f"{raw!r} is not a host: expected a host name such as 'shop.example.com' (case, a port and a trailing dot "
        "are ignored), a pattern such as '*.example.com' for every subdomain of example.com, or '' for all hosts."
    )
    assert isinstance(raised.value, ValueError)


def test_clean_host_without_patterns_refuses_a_pattern():
    with pytest.raises(InvalidHost, match=r"^'\*\.example\.com' is not a host: expected a host name such as "):
        clean_host("*.example.com", patterns=False)


def test_matching_patterns_most_specific_first():
    assert list(matching_patterns("a.eu.example.com")) == ["*.eu.example.com", "*.example.com", "*.com"]
    assert list(matching_patterns("localhost")) == []
    assert list(matching_patterns("[::1]")) == []


@pytest.mark.parametrize(
    ("host", "covered"),
    [
        ("a.example.com", True),
        ("a.b.example.com", True),
        ("*.example.com", True),
        ("*.eu.example.com", True),
        ("example.com", False),
        ("example.com.evil.org", False),
        ("badexample.com", False),
        ("*.com", False),
        ("", False),
    ],
)
def test_pattern_covers_subdomains_and_narrower_patterns_only(host, covered):
    assert pattern_covers("*.example.com", host) is covered
