"""Hosts: the tenant key of a request, and the one rule for a host given by a person or by code.

A request's host comes from ``request.get_host()`` (validated by ALLOWED_HOSTS). A host typed in the admin, a form,
the command, an import file or passed to ``activate()`` goes through ``clean_host()``, so every entry point
normalises and refuses alike, with the same message.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Protocol

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from django.utils.encoding import punycode
from django.utils.translation import gettext_lazy as _

from request_settings.exceptions import InvalidHost

ALL_HOSTS_LABEL = _("(all hosts)")
"""How ``""`` (the all-hosts rows) is shown; accepted back as input."""

PATTERN_PREFIX = "*."
MAX_HOST_LENGTH = 253
"""The longest DNS name, as text without its trailing dot; with ``*.``, a pattern still fits the host column (255)."""


_QUOTED = 300
"""The most of a refused input its message quotes: any host or pattern, with room to spare."""


def normalise_host(host: str | None) -> str:
    """Lower-case, without port or trailing dot; ``""`` (all hosts) for None, empty or malformed input."""
    if not host:
        return ""
    domain, _port = split_domain_port(host)
    return domain


def clean_host(host: object, *, patterns: bool = True) -> str:
    """The stored form of ``host``: ``""`` for all hosts, a host name, or (with ``patterns``) ``*.example.com``.

    Case, a port and a trailing dot are normalised away, as Django does for a request's host, and an internationalised
    name is stored in the ASCII form its requests carry; anything a request's host can never match (a URL, a leading
    dot, an empty label, a non-string) raises ``InvalidHost``.
    """
    if host is None:
        return ""
    if isinstance(host, str):
        text = host.strip(" ")  # typed surrounding spaces; any other whitespace is refused
        if text in ("", str(ALL_HOSTS_LABEL)):
            return ""
        wildcard = patterns and text.startswith(PATTERN_PREFIX)
        body = _ascii_form(text[len(PATTERN_PREFIX) :] if wildcard else text)
        domain, _port = split_domain_port(body)
        valid = (
            bool(domain)
            and len(domain) <= MAX_HOST_LENGTH
            and not domain.startswith(".")
            and not domain.endswith(".")  # "a.." keeps a dot once Django drops one: no request is named so
            and ".." not in domain
        )
        if valid and not (wildcard and domain.startswith("[")):
            return PATTERN_PREFIX + domain if wildcard else domain
    accepted = "a host name such as 'shop.example.com' (case, a port and a trailing dot are ignored)"
    if patterns:
        accepted += ", a pattern such as '*.example.com' for every subdomain of example.com,"
    quoted = repr(host)
    if len(quoted) > _QUOTED:  # a header or a field of any length reaches this rule: its message stays short
        quoted = f"{quoted[:_QUOTED]}... ({len(quoted)} characters)"
    raise InvalidHost(f"{quoted} is not a host: expected {accepted} or '' for all hosts.")


def _ascii_form(name: str) -> str:
    """An internationalised name (``bücher.example``) as a browser sends it (``xn--bcher-kva.example``); ``""`` if
    it cannot be one.

    Beyond ASCII, only letters, marks and digits: Python's codec (IDNA 2003) would drop invisible characters
    (``bü\u00adcher`` would silently name ``bücher``) and encode symbols that browsers (IDNA 2008) refuse. The four
    letters the two encode differently are refused too: no guess between them.
    """
    if name.isascii():
        return name
    if any(
        not char.isascii() and (char in _IDNA_DEVIATIONS or unicodedata.category(char)[0] not in ("L", "M", "N"))
        for char in name
    ):
        return ""
    domain, colon, port = name.partition(":")  # a non-ASCII name is no IPv6 literal: a colon starts the port
    try:
        return punycode(domain) + colon + port
    except UnicodeError:  # an empty label, or one longer than 63 once encoded
        return ""


_IDNA_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")  # ß, ς, ZWNJ, ZWJ (UTS 46 deviations)


def is_pattern(host: str) -> bool:
    return host.startswith(PATTERN_PREFIX)


def matching_patterns(host: str) -> Iterator[str]:
    """The patterns a request for ``host`` matches, most specific first: ``a.b.c`` gives ``*.b.c`` then ``*.c``."""
    rest = host
    while True:
        dot = rest.find(".")
        if dot < 0:
            return
        rest = rest[dot + 1 :]
        if rest:
            yield PATTERN_PREFIX + rest


def pattern_covers(pattern: str, host: str) -> bool:
    """Whether the rows of ``host`` (a host or a pattern) fall under ``pattern`` (``*.example.com``)."""
    suffix = pattern[1:]  # ".example.com": a subdomain ends with it; the apex and example.com.evil.org do not
    return host.endswith(suffix) and len(host) > len(suffix) and (not is_pattern(host) or len(host) >= len(pattern))


class KnownHosts(Protocol):
    raw_hosts: dict[str, str]
    """Raw Host headers already resolved to a host with rows (bounded by ``raw_hosts_limit``)."""
    raw_hosts_limit: int

    def has_rows(self, host: str) -> bool: ...


def snapshot_host(request: HttpRequest, known: KnownHosts) -> str:
    """``host_from_request()``, fast: only a host that has rows of its own is checked against ALLOWED_HOSTS.

    Any other host, allowed or not, gets the all-hosts rows, so its check can wait for Django's own (CommonMiddleware
    answers 400 before any view runs) and it costs only string operations: its name is normalised like a valid
    header's, as ``activate()`` names it. Resolved hosts with rows are remembered per snapshot, raw header to host:
    nothing grows for hosts without rows.
    """
    raw: str = request._get_raw_host()  # type: ignore[attr-defined]  # Host, or X-Forwarded-Host if trusted
    host = known.raw_hosts.get(raw)
    if host is not None:
        return host
    rough = _rough_host(raw)
    if not known.has_rows(rough) and not _pinned(rough):
        return rough
    host = normalise_host(raw)  # the strict rule, for the few hosts that have rows
    if not host or not (known.has_rows(host) or _pinned(host)):
        return ""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host() does
    if not validate_host(host, allowed):
        return ""
    if len(known.raw_hosts) < known.raw_hosts_limit:
        known.raw_hosts[raw] = host
    return host


def _pinned(host: str) -> bool:
    """Values pinned for ``host`` by ``override_request_settings`` (tests): it is resolved like a host with rows."""
    from request_settings.overlay import pins

    return any(pinned_host == host for pinned_host, _values in pins())


def _rough_host(raw: str) -> str:
    """``normalise_host()`` without its validation, in string operations only.

    Equal to it for every valid header; for an invalid one it may give a name the strict rule refuses, which is why a
    host found to have rows is normalised again strictly.
    """
    host = raw.lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rpartition(":")[0].removesuffix(".") if ":" in host else host.removesuffix(".")


def host_from_request(request: HttpRequest) -> str:
    """The default ``REQUEST_SETTINGS_HOST_RESOLVER``: ``request.get_host()``, validated by ALLOWED_HOSTS.

    A host that ALLOWED_HOSTS refuses gets the all-hosts overrides here; Django rejects the request later with its
    usual 400, so this middleware never turns a bad Host header into a 500.
    """
    try:
        return normalise_host(request.get_host())
    except DisallowedHost:
        return ""
