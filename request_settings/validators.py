"""Rules for override values: each checks a value and says, in words, what it accepts.

A rule is called as ``rule(value)`` (or ``rule(value, host=...)`` when the row's host is known) and returns None
when the value is fine, else what is accepted. The rules here are bounded on purpose: a value that Django or a
third-party app accepts at its type but that breaks every response (a charset with a line break, a cookie domain
that splits the Set-Cookie header, a lifetime of 0) is refused before it is written, and skipped if it was written
behind the app's back.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import DomainNameValidator, validate_email, validate_ipv46_address

Test = Callable[[Any], bool]

MAX_INT = 2**63 - 1
"""Integers JSON can carry through every database we support (SQLite's JSON1 and jsonb keep 64 bits exactly)."""


class Rule:
    """A validator with its words: ``accepted`` is shown in help texts and errors; ``kind`` types the form field."""

    def __init__(self, accepted: str, test: Test, *, kind: type | None = None, optional: bool = False) -> None:
        self.accepted = accepted + (" or null" if optional else "")
        self.test = test
        self.kind = kind
        self.optional = optional

    def __call__(self, value: Any, host: str | None = None) -> str | None:
        if value is None:
            return None if self.optional else self.accepted
        return None if self.test(value) else self.accepted

    def __repr__(self) -> str:
        return f"<Rule {self.accepted}>"


class HostRule(Rule):
    """A rule whose answer also depends on the host of the row (``""`` all hosts, None when unknown)."""

    def __init__(
        self,
        accepted: str,
        test: Test,
        host_test: Callable[[Any, str], str | None],
        *,
        kind: type | None = None,
        optional: bool = False,
    ) -> None:
        super().__init__(accepted, test, kind=kind, optional=optional)
        self.host_test = host_test

    def __call__(self, value: Any, host: str | None = None) -> str | None:
        problem = super().__call__(value)
        if problem is None and value is not None and host is not None:
            return self.host_test(value, host)
        return problem


def has_control_character(text: str) -> bool:
    """Any C0/C1 control character or DEL, and the Unicode line and paragraph separators."""
    return any(unicodedata.category(char) == "Cc" or char in "\u2028\u2029" for char in text)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def boolean() -> Rule:
    return Rule("true or false", lambda value: isinstance(value, bool), kind=bool)


def integer(minimum: int, maximum: int, *, optional: bool = False, unit: str = "") -> Rule:
    words = f"an integer from {minimum} to {maximum}" + (f" ({unit})" if unit else "")
    return Rule(words, lambda value: _is_int(value) and minimum <= value <= maximum, kind=int, optional=optional)


def number(minimum: float, maximum: float, *, optional: bool = False, unit: str = "") -> Rule:
    words = f"a number from {minimum:g} to {maximum:g}" + (f" ({unit})" if unit else "")
    return Rule(words, lambda value: _is_number(value) and minimum <= value <= maximum, kind=float, optional=optional)


def one_of(*options: Any) -> Rule:
    def test(value: Any) -> bool:
        return any(value == option and type(value) is type(option) for option in options)

    return Rule("one of " + ", ".join(repr(option) for option in options), test)


def text(max_length: int, *, optional: bool = False, allow_empty: bool = True) -> Rule:
    """A one-line string: control characters are refused (a vertical tab is a line break to a mail server)."""

    def test(value: Any) -> bool:
        return (
            isinstance(value, str)
            and (allow_empty or bool(value))
            and len(value) <= max_length
            and not has_control_character(value)
        )

    empty = "" if allow_empty else "non-empty "
    return Rule(
        f"a {empty}string of at most {max_length} characters without control characters",
        test,
        kind=str,
        optional=optional,
    )


# Charsets every response can be encoded in: ASCII-compatible (HTML and headers stay readable) and able to encode
# every character (a legacy charset turns any page showing a character outside it into a 500, the admin's
# included). Names are compared exactly, never through codecs.lookup(), which ignores punctuation ("utf-8\n").
CHARSETS = ("utf-8", "gb18030")


def charset() -> Rule:
    words = "one of " + ", ".join(repr(name) for name in CHARSETS) + " (any letter case)"
    return Rule(words, lambda value: isinstance(value, str) and value.lower() in CHARSETS, kind=str)


_domain = DomainNameValidator(accept_idna=False)


def is_domain(value: Any) -> bool:
    """A DNS name such as ``shop.example.com`` (ASCII, at least two labels), as Django validates one."""
    if not isinstance(value, str) or not value or len(value) > 253 or value != value.strip():
        return False
    try:
        _domain(value)
    except ValidationError:
        return False
    return True


def _host_base(host: str) -> str:
    return host[2:] if host.startswith("*.") else host


def _domain_covers(domain: str, host: str) -> bool:
    """Cookie domain-matching (RFC 6265 5.1.3): would a browser send a cookie of ``domain`` to ``host``?"""
    domain = domain.lstrip(".").lower()
    base = _host_base(host)
    return base == domain or base.endswith("." + domain)


def cookie_domain(*, referer_check: bool = False) -> HostRule:
    """None, or a domain that the row's host lies in; a browser drops a cookie for any other domain.

    ``referer_check``: CsrfViewMiddleware also compares the Referer of HTTPS posts with CSRF_COOKIE_DOMAIN
    (``is_same_domain``), where a name without a leading dot matches that exact host only.
    """

    def host_test(value: Any, host: str) -> str | None:
        if not host:
            return "null for all hosts (a cookie domain locks out every host outside it): set it per host"
        base = _host_base(host)
        pattern = host.startswith("*.")
        if referer_check and not (value.startswith(".") or (value.lower() == base and not pattern)):
            # A name without a dot matches that one host; a pattern row's hosts are its subdomains, never the base.
            exact = "" if pattern else f", {base!r}"
            return f"null{exact} or a domain with a leading dot that {host} lies in, such as {'.' + base!r}"
        if not _domain_covers(value, host):
            return f"null or a domain that {host} lies in, such as {base!r} (browsers drop the others)"
        return None

    return HostRule(
        "a domain such as 'example.com' or '.example.com' (letters, digits, '-' and '.')",
        lambda value: isinstance(value, str) and is_domain(value[1:] if value.startswith(".") else value),
        host_test,
        kind=str,
        optional=True,
    )


_PATH_CHARACTERS = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+=:@/%]*\Z")


def _admin_path() -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("admin:index")
    except NoReverseMatch:
        return None


def path_covers(cookie_path: str, path: str) -> bool:
    """Cookie path-matching (RFC 6265 5.1.4): would a browser send a cookie of ``cookie_path`` to ``path``?"""
    if path == cookie_path:
        return True
    return path.startswith(cookie_path) and (cookie_path.endswith("/") or path[len(cookie_path)] == "/")


def cookie_path() -> Rule:
    """A URL path under which the admin lies: a narrower cookie would never reach the admin, and staff could not
    sign in to remove it. No ``;`` or ``,`` (they would add cookie attributes) and no control characters."""

    def test(value: Any) -> bool:
        if not (isinstance(value, str) and len(value) <= 255 and _PATH_CHARACTERS.match(value)):
            return False
        if ";" in value or "," in value:
            return False
        admin = _admin_path()
        return admin is None or path_covers(value, admin)

    admin = "the admin's URL"
    return Rule(
        f"a URL path starting with / that {admin} lies under, such as '/' (no ';', ',' or spaces)", test, kind=str
    )


def url_name(value: str) -> bool:
    """A URL pattern name (``login``, ``accounts:login``) that reverses without arguments."""
    from django.urls import NoReverseMatch, reverse

    if not re.fullmatch(r"[A-Za-z_][\w-]*(:[A-Za-z_][\w-]*)*", value):
        return False
    try:
        reverse(value)
    except NoReverseMatch:
        return False
    return True


def _url_hosts() -> Collection[str]:
    from request_settings.conf.settings import settings as conf

    hosts: Collection[str] = conf.URL_HOSTS
    return hosts


def local_url(*, optional: bool = False) -> Rule:
    """A path on this site (``/welcome/``) or a URL name; an absolute http(s) URL only on a host of
    REQUEST_SETTINGS_URL_HOSTS.

    Never ``//evil.example/``, ``/\\evil.example``, ``javascript:`` or ``mailto:``: Django's own
    ``url_has_allowed_host_and_scheme`` decides what stays on the site.
    """
    from django.utils.http import url_has_allowed_host_and_scheme

    def test(value: Any) -> bool:
        if not isinstance(value, str) or not value or len(value) > 2048 or has_control_character(value):
            return False
        if any(char.isspace() for char in value):
            return False
        if value.startswith("/"):
            return url_has_allowed_host_and_scheme(value, allowed_hosts=set())
        if "://" in value:
            allowed = set(_url_hosts())
            return bool(allowed) and url_has_allowed_host_and_scheme(value, allowed_hosts=allowed)
        return url_name(value)

    words = "a path on this site starting with / (not //), or a URL name such as 'login'"
    words += " (an absolute URL only on a host in REQUEST_SETTINGS_URL_HOSTS)"
    return Rule(words, test, kind=str, optional=optional)


_NAMED_ADDRESS = re.compile(r"(?P<name>[^<>\",;:@]*?)\s*<(?P<address>[^<>\s]+)>\Z")


def email_address() -> Rule:
    """One address, bare or with a display name (``Shop <shop@example.com>``), validated as Django validates one."""

    def test(value: Any) -> bool:
        if not isinstance(value, str) or not value or len(value) > 320 or has_control_character(value):
            return False
        named = _NAMED_ADDRESS.match(value)
        try:
            validate_email(named["address"] if named else value)
        except ValidationError:
            return False
        return True

    return Rule("one e-mail address such as 'shop@example.com' or 'Shop <shop@example.com>'", test, kind=str)


def server_name() -> Rule:
    """A mail server: a domain, ``localhost`` or an IP address."""

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if value == "localhost" or is_domain(value):
            return True
        try:
            validate_ipv46_address(value)
        except ValidationError:
            return False
        return True

    return Rule("a host name such as 'smtp.example.com', 'localhost' or an IP address", test, kind=str)


def dotted_path() -> Rule:
    pattern = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+\Z")
    return Rule(
        "a dotted import path such as 'django.core.mail.backends.smtp.EmailBackend'",
        lambda value: isinstance(value, str) and len(value) <= 255 and bool(pattern.match(value)),
        kind=str,
    )


def list_of(item: Rule, max_items: int, what: str) -> Rule:
    def test(value: Any) -> bool:
        return isinstance(value, list | tuple) and len(value) <= max_items and all(item(x) is None for x in value)

    return Rule(f"a list of at most {max_items} {what} ({item.accepted})", test, kind=list)


_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>[^/:?#\[\]@]+|\[[0-9A-Fa-f:.]+\])(:(?P<port>\d{1,5}))?\Z")


def _is_origin(value: Any) -> bool:
    if not isinstance(value, str) or has_control_character(value):
        return False
    match = _ORIGIN.match(value)
    if match is None:
        return False
    host, port = match["host"], match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        return False
    if host.startswith("["):
        try:
            validate_ipv46_address(host[1:-1])
        except ValidationError:
            return False
        return True
    return server_name()(host) is None


def origin() -> Rule:
    return Rule(
        "an origin such as 'https://shop.example.com' or 'http://localhost:8000' (no path)", _is_origin, kind=str
    )


_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}\Z")


def header_name() -> Rule:
    return Rule(
        "an HTTP header name such as 'x-requested-with'",
        lambda value: isinstance(value, str) and bool(_TOKEN.match(value)),
        kind=str,
    )


def http_method() -> Rule:
    return Rule(
        "an HTTP method such as 'GET'",
        lambda value: isinstance(value, str) and bool(re.fullmatch(r"[A-Z]{1,20}", value)),
        kind=str,
    )


def existing_site() -> Rule:
    """The id of a Site that exists: the admin's login page asks for the current Site, and a missing one is a 500.

    Checked on every write and whenever the overrides are read, so a row whose Site was deleted since is skipped.
    """
    bounded = integer(1, 2**31 - 1)

    def test(value: Any) -> bool:
        if bounded(value) is not None:
            return False
        from django.apps import apps
        from django.db import DatabaseError

        if not apps.is_installed("django.contrib.sites"):
            return True
        site_model = apps.get_model("sites", "Site")
        try:
            return bool(site_model._default_manager.filter(pk=value).exists())
        except DatabaseError:
            return False

    return Rule("the id of an existing Site (an integer from 1 to 2147483647)", test, kind=int)


# -- every value ---------------------------------------------------------------------------------------------------


def json_problem(value: Any, *, max_depth: int, max_size: int) -> str | None:
    """What is wrong with ``value`` as a stored value: not JSON, NUL or lone surrogates, unbounded numbers, too deep or
    large.

    Iterative, so that a value nested far deeper than Python's recursion limit is refused rather than crashing.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"a JSON value nested at most {max_depth} levels deep (REQUEST_SETTINGS_MAX_VALUE_DEPTH)"
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not -MAX_INT <= item <= MAX_INT:
                return f"integers from {-MAX_INT} to {MAX_INT}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "a finite number"
        elif isinstance(item, str):
            if "\x00" in item:
                return "a string without NUL characters"
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            if not all(isinstance(name, str) and "\x00" not in name for name in item):
                return "an object whose keys are strings without NUL characters"
            stack.extend((child, depth + 1) for child in item.values())
        else:
            return "a JSON value (string, number, true/false, null, list or object)"
    try:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    except UnicodeEncodeError:  # JSON can spell half a surrogate pair ("\\ud800"): no encoding (nor jsonb) holds it
        return "strings and object keys without lone UTF-16 surrogates (\\ud800 to \\udfff)"
    if size > max_size:
        return f"a JSON value of at most {max_size} bytes (REQUEST_SETTINGS_MAX_VALUE_SIZE), not {size}"
    return None


def all_of(rules: Iterable[Callable[..., str | None]]) -> Callable[..., str | None]:
    """A validator that passes when every rule passes; the first failing rule says what is accepted."""
    checks = tuple(rules)

    def check(value: Any, host: str | None = None) -> str | None:
        for rule in checks:
            problem = rule(value, host=host) if isinstance(rule, Rule) else rule(value)
            if problem is not None:
                return problem
        return None

    return check
