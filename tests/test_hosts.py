from __future__ import annotations

import pytest
from django.test import RequestFactory

from request_settings.hosts import host_from_request, normalise_host


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
