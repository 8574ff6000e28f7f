"""From a request to the tenant key of the override table: a normalised host name."""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import split_domain_port


def normalise_host(host: str | None) -> str:
    """Lower-case, without port or trailing dot; ``""`` (all hosts) for None, empty or malformed input."""
    if not host:
        return ""
    domain, _port = split_domain_port(host)
    return domain


def host_from_request(request: HttpRequest) -> str:
    """The default ``REQUEST_SETTINGS_HOST_RESOLVER``: ``request.get_host()``, validated by ALLOWED_HOSTS.

    A host that ALLOWED_HOSTS refuses gets the all-hosts overrides here; Django rejects the request later with its
    usual 400, so this middleware never turns a bad Host header into a 500.
    """
    try:
        return normalise_host(request.get_host())
    except DisallowedHost:
        return ""
