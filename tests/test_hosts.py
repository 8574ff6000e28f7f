from __future__ import annotations

import pytest
from django.test import RequestFactory
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from request_settings.exceptions import InvalidHost
from request_settings.hosts import (
    clean_host,
    host_from_request,
    matching_patterns,
    normalise_host,
    pattern_covers,
    snapshot_host,
)


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
        (" XL.Example.COM ", "xl.example.com"),  # only spaces are stripped, never letters
        ("[::1]:8000", "[::1]"),
        ("10.0.0.1", "10.0.0.1"),
        ("*.Example.com", "*.example.com"),
        ("*.example.com.:443", "*.example.com"),
        ("*.eu.example.com", "*.eu.example.com"),
        ("a" * 249 + ".com", "a" * 249 + ".com"),  # 253 characters: the longest DNS name
        ("*." + "a" * 249 + ".com", "*." + "a" * 249 + ".com"),  # its pattern still fits the column (255)
        ("Bücher.example", "xn--bcher-kva.example"),  # as a browser sends it in the Host header
        ("bücher.example.:8000", "xn--bcher-kva.example"),
        ("shop.Bücher:8000", "shop.xn--bcher-kva"),  # the port kept apart from the label it follows
        ("١٢٣.example", "xn--9hbcd.example"),  # digits (Arabic-Indic), not letters
        ("e\u0301.example", "xn--9ca.example"),  # a combining mark, composed (é) as browsers do
        ("*.Bücher.example", "*.xn--bcher-kva.example"),
        ("пример.испытание", "xn--e1afmkfd.xn--80akhbyknj4f"),
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
        "a.localhost..",  # one trailing dot is ignored, two are not a name
        "0..",
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
        "bü\x00cher.example",
        "bü\x85cher.example",  # a C1 control
        "bücher\u200b.example",  # invisible: IDNA 2003 would drop it, silently naming another host
        "bü\u00adcher.example",  # a soft hyphen, dropped likewise
        "bücher\u2028.example",
        "bücher\u202e.example",  # a bidi control
        "\u00a0bücher.example",  # a no-break space
        "bü cher.example",
        "¡.example",  # a symbol: IDNA 2003 encodes it (xn--7a), browsers refuse it
        "♥.example",
        "shop\u3002example",  # an ideographic full stop: type the dot
        "straße.example",  # IDNA 2003 gives strasse, browsers xn--strae-oqa: no guess between them
        "ς.example",
        "a\u200db.example",
        "é" * 64 + ".example",  # a label of 64 characters once encoded
        "bücher..example",
        "*.bücher.example:port",
        "a" * 250 + ".com",  # 254 characters
        "*." + "a" * 250 + ".com",
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


@examples(max_examples=500, deadline=None, derandomize=True)  # the same examples in every CI run
@given(st.text(max_size=80) | st.from_regex(r"\A[\w.:*-]{1,40}\Z"))
def test_whatever_is_typed_is_refused_or_stored_as_a_request_host_could_be(text):
    """Any text: InvalidHost, or a host (or pattern) whose request would carry it as is, ASCII and validated."""
    try:
        host = clean_host(text)
    except InvalidHost:
        return
    name = host.removeprefix("*.")
    assert host == "" or (host.isascii() and normalise_host(name) == name), (text, host)


def test_a_huge_input_is_quoted_only_in_part():
    """A header or a field of any length may reach the host rule: its message (logged, shown, stored in a task's
    result) quotes the first 300 characters and says how long the rest is."""
    expected_end = (
        " is not a host: expected a host name such as 'shop.example.com' (case, a port and a trailing dot are "
        "ignored), a pattern such as '*.example.com' for every subdomain of example.com, or '' for all hosts."
    )
    for raw, quoted in [
        ("a" * 298, repr("a" * 298)),  # 300 characters once quoted: in full
        ("a" * 299, f"{repr('a' * 299)[:300]}... (301 characters)"),
        ("a" * 100_000, f"{repr('a' * 100_000)[:300]}... (100002 characters)"),
        (["a.example.com"] * 100, f"{repr(['a.example.com'] * 100)[:300]}... (1700 characters)"),
    ]:
        with pytest.raises(InvalidHost) as raised:
            clean_host(raw)
        assert str(raised.value) == quoted + expected_end


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
        (".example.com", False),
        ("example.com.evil.org", False),
        ("badexample.com", False),
        ("*.com", False),
        ("", False),
    ],
)
def test_pattern_covers_subdomains_and_narrower_patterns_only(host, covered):
    assert pattern_covers("*.example.com", host) is covered


@pytest.mark.parametrize("host", ["a.example.com", "a.b.example.com", "a..example.com", "x.y", "localhost", "[::1]"])
def test_a_request_matches_exactly_the_patterns_that_cover_its_host(host):
    """The rows a request reads (matching_patterns) and the rows a grant covers (pattern_covers) agree."""
    candidates = {"*.example.com", "*.b.example.com", "*..example.com", "*.com", "*.y", "*.localhost"}
    matched = list(matching_patterns(host))
    assert set(matched) & candidates == {pattern for pattern in candidates if pattern_covers(pattern, host)}
    assert matched == sorted(matched, key=len, reverse=True)  # most specific first


def _known(*hosts):
    from request_settings.snapshot import build

    return build([("TENANT_BANNER", host, "x") for host in hosts], 1)


def _reference(request, snapshot):
    """What the slow path gives: get_host() validated by ALLOWED_HOSTS, then normalised; "" when refused."""
    host = host_from_request(request)
    return host if host and snapshot.has_rows(host) else None


HEADERS = [
    {"HTTP_HOST": "shop.example.com"},
    {"HTTP_HOST": "Shop.Example.COM:8443"},
    {"HTTP_HOST": "shop.example.com."},
    {"HTTP_HOST": "shop.example.com.:80"},
    {"HTTP_HOST": "[::1]:8000"},
    {"HTTP_HOST": "evil.test"},
    {"HTTP_HOST": "shop.evil.test"},
    {"HTTP_HOST": "shop.example.com/evil"},
    {"HTTP_HOST": "shop.example.com@evil.test"},
    {"HTTP_HOST": ""},
    {"SERVER_NAME": "shop.example.com", "SERVER_PORT": "80"},
    {"HTTP_HOST": "other.example.com", "HTTP_X_FORWARDED_HOST": "shop.example.com"},
    {"HTTP_HOST": "shop.example.com", "HTTP_X_FORWARDED_HOST": "evil.test"},
]


@pytest.mark.parametrize("forwarded", [False, True])
@pytest.mark.parametrize("meta", HEADERS)
def test_the_fast_path_agrees_with_get_host_for_every_host_that_has_rows(meta, forwarded, settings):
    settings.USE_X_FORWARDED_HOST = forwarded
    settings.ALLOWED_HOSTS = [".example.com", "[::1]"]
    snapshot = _known("shop.example.com", "[::1]", "shop.evil.test")
    for _ in range(2):  # the second time from the per-snapshot memory
        request = RequestFactory().get("/", **meta)
        if "HTTP_HOST" in meta and not meta["HTTP_HOST"]:
            del request.META["HTTP_HOST"]
        fast = snapshot_host(request, snapshot)
        expected = _reference(request, snapshot)
        if expected is None:  # no rows of its own: the all-hosts layer, whatever the host
            assert not snapshot.has_rows(fast)
        else:
            assert fast == expected


def test_with_debug_and_no_allowed_hosts_localhost_is_allowed_as_django_does(settings):
    settings.DEBUG, settings.ALLOWED_HOSTS = True, []
    snapshot = _known("a.localhost", "a.example.com")
    assert snapshot_host(RequestFactory().get("/", HTTP_HOST="a.localhost:8000"), snapshot) == "a.localhost"
    assert snapshot_host(RequestFactory().get("/", HTTP_HOST="a.example.com"), snapshot) == ""


LOCAL_HOSTS = [{"HTTP_HOST": "a.localhost:8000"}, {"HTTP_HOST": "127.0.0.1"}, {"HTTP_HOST": "[::1]:8000"}]


@pytest.mark.parametrize("meta", [*LOCAL_HOSTS, {"HTTP_HOST": "shop.example.com"}])
@pytest.mark.parametrize(("debug", "allowed"), [(True, []), (False, []), (True, [".example.com"]), (False, ["*"])])
def test_debug_and_allowed_hosts_decide_as_get_host_does(meta, debug, allowed, settings):
    settings.DEBUG, settings.ALLOWED_HOSTS = debug, allowed
    snapshot = _known("a.localhost", "127.0.0.1", "[::1]", "shop.example.com")
    request = RequestFactory().get("/", **meta)
    assert snapshot_host(request, snapshot) == host_from_request(request)  # every host here has rows


def test_only_hosts_with_rows_are_remembered_and_the_memory_is_bounded(settings):
    settings.ALLOWED_HOSTS = ["*"]
    snapshot = _known("shop.example.com")
    for n in range(500):
        snapshot_host(RequestFactory().get("/", HTTP_HOST=f"stranger{n}.example.com"), snapshot)
        snapshot_host(RequestFactory().get("/", HTTP_HOST=f"shop.example.com:{8000 + n}"), snapshot)
    assert set(snapshot.raw_hosts.values()) == {"shop.example.com"}
    assert len(snapshot.raw_hosts) == snapshot.raw_hosts_limit == 8


@pytest.mark.django_db
def test_a_changed_allowed_hosts_is_obeyed_at_once(client, settings):
    from request_settings.models import SettingOverride

    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    assert client.get("/echo/", HTTP_HOST="shop.example.com").json()["values"] == {"SESSION_EXPIRE_SECONDS": 60}
    settings.ALLOWED_HOSTS = ["testserver"]
    assert client.get("/echo/", HTTP_HOST="shop.example.com").status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        "shop.example.com",
        "Shop.Example.COM:8443",
        "shop.example.com.",
        "shop.example.com.:80",
        "[::1]",
        "[::1]:8000",
        "[2001:DB8::1]:443",
        "10.0.0.1:80",
        "localhost",
    ],
)
def test_the_rough_normalisation_equals_the_strict_one_for_every_valid_header(raw):
    from request_settings.hosts import _rough_host

    assert _rough_host(raw) == normalise_host(raw)


def test_a_host_without_rows_gets_the_all_hosts_layer_and_is_remembered_nowhere(settings):
    snapshot = _known("shop.example.com")
    for header in ["Stranger.Example.com:8000", "evil.test", "shop.example.com:abc"]:
        host = snapshot_host(RequestFactory().get("/", HTTP_HOST=header), snapshot)
        assert not snapshot.has_rows(host)
        assert snapshot.layer(host) == snapshot.layer("")
    assert snapshot_host(RequestFactory().get("/", HTTP_HOST="Stranger.Example.com:8000"), snapshot) == (
        "stranger.example.com"
    )  # named as activate() names it
    invalid = RequestFactory().get("/", HTTP_HOST="shop.example.com:abc")  # the name of a host with rows, bad port
    assert snapshot_host(invalid, snapshot) == ""  # all hosts, and named so: never that host nor any other
    assert snapshot.raw_hosts == {}


VALID_WITHOUT_ROWS = ["Other.Example.com", "other.example.com.:8443", "[::1]:8000", "10.0.0.1:80", "localhost."]


@pytest.mark.parametrize("raw", VALID_WITHOUT_ROWS)
def test_a_host_without_rows_is_named_as_django_normalises_it(raw):
    """current_host() names it as activate() would, without any ALLOWED_HOSTS check (Django's own comes later)."""
    snapshot = _known("shop.example.com")
    assert snapshot_host(RequestFactory().get("/", HTTP_HOST=raw), snapshot) == normalise_host(raw)


def test_a_pinned_host_without_rows_is_resolved_like_a_host_with_rows(settings):
    from request_settings.testing import override_request_settings

    settings.ALLOWED_HOSTS = [".example.com"]
    snapshot = _known("shop.example.com")
    with (
        override_request_settings(host="pinned.example.com", TENANT_BANNER="x"),
        override_request_settings(host="pinned.evil.test", TENANT_BANNER="y"),
    ):
        assert (
            snapshot_host(RequestFactory().get("/", HTTP_HOST="Pinned.Example.com:80"), snapshot)
            == "pinned.example.com"
        )
        assert snapshot_host(RequestFactory().get("/", HTTP_HOST="pinned.evil.test"), snapshot) == ""  # refused
        assert snapshot_host(RequestFactory().get("/", HTTP_HOST="other.evil.test"), snapshot) == "other.evil.test"
