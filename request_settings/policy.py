"""Which keys may be overridden per request, with what values, and, when not, why not in words.

Secure by default (DESIGN.md, "Decisions"): Django's own settings are refused unless we have tested that Django
reads them per request; settings Django caches on first use, reads at start-up, or that guard security are refused
whatever the project configures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from typing import Any

from django.conf import LazySettings, global_settings, settings

KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*\Z")

STARTUP = "read once at start-up: an override would have no effect"
CACHED = "cached by Django on first use: the value would leak to every host"
SECURITY = "security-critical"
OWN = "request_settings' own configuration: set it in settings.py"
DENIED_BY_PROJECT = "denied by REQUEST_SETTINGS_DENIED"
NOT_ALLOWED = "not in REQUEST_SETTINGS_ALLOWED"
SENSITIVE = "sensitive (it could reroute the site's mail): allowed only when named in REQUEST_SETTINGS_ALLOWED"
UNTESTED = "a Django setting that is not known to be honored per request"
MALFORMED = "not an upper-case identifier (A-Z, 0-9 and _, starting with a letter)"
COLLIDES = "the name of an attribute of django.conf.settings itself"

_CACHED_KEYS = frozenset(
    {
        "LANGUAGES", "LANGUAGES_BIDI", "LANGUAGE_CODE", "LOCALE_PATHS", "TIME_ZONE", "FORMAT_MODULE_PATH",
        "DATE_FORMAT", "DATETIME_FORMAT", "TIME_FORMAT", "YEAR_MONTH_FORMAT", "MONTH_DAY_FORMAT",
        "SHORT_DATE_FORMAT", "SHORT_DATETIME_FORMAT", "FIRST_DAY_OF_WEEK", "DECIMAL_SEPARATOR",
        "THOUSAND_SEPARATOR", "NUMBER_GROUPING", "USE_THOUSAND_SEPARATOR", "DATE_INPUT_FORMATS",
        "TIME_INPUT_FORMATS", "DATETIME_INPUT_FORMATS", "MEDIA_URL", "STATIC_URL", "CSRF_TRUSTED_ORIGINS",
        "CSRF_FAILURE_VIEW", "MESSAGE_TAGS", "PASSWORD_HASHERS", "FORM_RENDERER",
        "DEFAULT_EXCEPTION_REPORTER", "DEFAULT_EXCEPTION_REPORTER_FILTER", "SESSION_FILE_PATH",
        "STATICFILES_DIRS", "STATICFILES_FINDERS", "DATABASE_ROUTERS", "SETTINGS_MODULE",
        "SERIALIZATION_MODULES", "MIGRATION_MODULES", "FIXTURE_DIRS",
    }
)  # fmt: skip
_STARTUP_KEYS = frozenset(
    {
        "SESSION_ENGINE", "SESSION_CACHE_ALIAS", "SESSION_SERIALIZER", "FORCE_SCRIPT_NAME", "ROOT_URLCONF",
        "WSGI_APPLICATION", "ASGI_APPLICATION", "SILENCED_SYSTEM_CHECKS", "DEFAULT_TABLESPACE",
        "DEFAULT_INDEX_TABLESPACE",
    }
)  # fmt: skip
_STARTUP_PREFIXES = ("SECURE_", "CACHE_MIDDLEWARE_", "STATICFILES_")
_SECURITY_KEYS = frozenset(
    {
        "SECRET_KEY", "SECRET_KEY_FALLBACKS", "SIGNING_BACKEND", "DEBUG", "DEBUG_PROPAGATE_EXCEPTIONS",
        "ALLOWED_HOSTS", "INTERNAL_IPS", "SECURE_PROXY_SSL_HEADER", "USE_X_FORWARDED_HOST",
        "USE_X_FORWARDED_PORT", "CSRF_USE_SESSIONS", "CSRF_HEADER_NAME", "AUTHENTICATION_BACKENDS",
        "AUTH_PASSWORD_VALIDATORS", "MEDIA_ROOT", "STATIC_ROOT", "FILE_UPLOAD_TEMP_DIR",
        "FILE_UPLOAD_PERMISSIONS", "FILE_UPLOAD_DIRECTORY_PERMISSIONS", "FILE_UPLOAD_HANDLERS",
        "DATABASES", "INSTALLED_APPS", "MIDDLEWARE", "CACHES", "TEMPLATES", "STORAGES", "LOGGING",
        "LOGGING_CONFIG", "AUTH_USER_MODEL", "DEFAULT_AUTO_FIELD", "USE_TZ", "USE_I18N", "ADMINS", "MANAGERS",
    }
)  # fmt: skip
SENSITIVE_KEYS = frozenset(
    {
        "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_SSL_CERTFILE", "EMAIL_SSL_KEYFILE",
    }
)  # fmt: skip

Validator = Callable[[Any], str | None]
"""Returns what is accepted, in words, when the value is not; None when it is fine."""


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _int(minimum: int, maximum: int | None = None, *, optional: bool = False) -> Validator:
    accepted = f"an integer from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
    accepted += " or null" if optional else ""

    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return accepted
        return None if minimum <= value and (maximum is None or value <= maximum) else accepted

    return check


def _seconds_or_null(value: Any) -> str | None:
    if value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    ):
        return None
    return "a positive number of seconds or null"


def _text(*, optional: bool = False, path: bool = False, one_line: bool = False) -> Validator:
    accepted = "a URL path starting with /" if path else "a string without line breaks" if one_line else "a string"
    accepted += " or null" if optional else ""

    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or (path and not value.startswith("/")):
            return accepted
        if one_line and ("\n" in value or "\r" in value):
            return accepted  # a line break in a mail header: BadHeaderError on every message, or header injection
        return None

    return check


def _choice(*options: Any) -> Validator:
    accepted = "one of " + ", ".join(repr(option) for option in options)

    def check(value: Any) -> str | None:
        ok = any(value == option and type(value) is type(option) for option in options)
        return None if ok else accepted

    return check


def _charset(value: Any) -> str | None:
    try:
        "".encode(value)  # codecs.lookup() also knows rot13 or base64, which no response can be encoded in
    except (LookupError, TypeError):
        return "the name of a character set Python knows, such as 'utf-8'"
    return None


_SAMESITE = _choice("Lax", "Strict", "None", False)
_MAX_COOKIE_AGE = 2**31 - 1  # beyond, a cookie's expiry date can pass the year 9999 and set_cookie() fails

HONORED: dict[str, Validator] = {
    "SESSION_COOKIE_AGE": _int(1, _MAX_COOKIE_AGE),
    "SESSION_EXPIRE_AT_BROWSER_CLOSE": _bool,
    "SESSION_COOKIE_SECURE": _bool,
    "SESSION_COOKIE_HTTPONLY": _bool,
    "SESSION_COOKIE_SAMESITE": _SAMESITE,
    "SESSION_COOKIE_DOMAIN": _text(optional=True),
    "SESSION_COOKIE_PATH": _text(path=True),
    "SESSION_SAVE_EVERY_REQUEST": _bool,
    "CSRF_COOKIE_AGE": _int(1, _MAX_COOKIE_AGE, optional=True),
    "CSRF_COOKIE_SECURE": _bool,
    "CSRF_COOKIE_HTTPONLY": _bool,
    "CSRF_COOKIE_SAMESITE": _SAMESITE,
    "CSRF_COOKIE_DOMAIN": _text(optional=True),
    "CSRF_COOKIE_PATH": _text(path=True),
    "EMAIL_SUBJECT_PREFIX": _text(one_line=True),
    "EMAIL_TIMEOUT": _seconds_or_null,
    "EMAIL_USE_LOCALTIME": _bool,
    "DEFAULT_FROM_EMAIL": _text(one_line=True),
    "SERVER_EMAIL": _text(one_line=True),
    "EMAIL_BACKEND": _text(),
    "EMAIL_HOST": _text(),
    "EMAIL_PORT": _int(1, 65535),
    "EMAIL_HOST_USER": _text(),
    "EMAIL_HOST_PASSWORD": _text(),
    "EMAIL_USE_TLS": _bool,
    "EMAIL_USE_SSL": _bool,
    "LOGIN_URL": _text(),
    "LOGIN_REDIRECT_URL": _text(),
    "LOGOUT_REDIRECT_URL": _text(optional=True),
    "PASSWORD_RESET_TIMEOUT": _int(1),
    "DATA_UPLOAD_MAX_MEMORY_SIZE": _int(1, optional=True),
    "DATA_UPLOAD_MAX_NUMBER_FIELDS": _int(1, optional=True),
    "DATA_UPLOAD_MAX_NUMBER_FILES": _int(1, optional=True),
    "X_FRAME_OPTIONS": _choice("DENY", "SAMEORIGIN"),
    "APPEND_SLASH": _bool,
    "PREPEND_WWW": _bool,
    "DEFAULT_CHARSET": _charset,
    "MESSAGE_LEVEL": _int(0),
    "SITE_ID": _int(1),
}
"""Django settings that Django reads per request, each with the values that cannot break a response."""


def _builtin_refusal(key: str) -> str | None:
    """The reasons no project configuration can lift."""
    if not KEY_PATTERN.fullmatch(key):
        return MALFORMED
    if hasattr(LazySettings, key):
        return COLLIDES
    if key.startswith("REQUEST_SETTINGS_"):
        return OWN
    if key in _SECURITY_KEYS:
        return SECURITY
    if key in _CACHED_KEYS:
        return CACHED
    if key in _STARTUP_KEYS or key.startswith(_STARTUP_PREFIXES):
        return STARTUP
    return None


def refusal(key: str) -> str | None:
    """Why `key` may not be overridden, in words; None when it may."""
    reason = _builtin_refusal(key)
    if reason is not None:
        return reason
    denied: Collection[str] = getattr(settings, "REQUEST_SETTINGS_DENIED", ())
    if key in denied:
        return DENIED_BY_PROJECT
    allowed: Collection[str] | None = getattr(settings, "REQUEST_SETTINGS_ALLOWED", None)
    if allowed is not None:
        return None if key in allowed else NOT_ALLOWED
    if key in SENSITIVE_KEYS:
        return SENSITIVE
    if hasattr(global_settings, key) and key not in HONORED:
        return UNTESTED
    return None


def value_problem(key: str, value: Any) -> str | None:
    """What `key` accepts, in words, when `value` is not acceptable; None when it is."""
    return value_checker(key)(value)


def value_checker(key: str) -> Validator:
    """The validator of `key`'s values, built once per key (a snapshot of many rows reuses it).

    Checks that the value is something JSON and PostgreSQL's jsonb can hold; then the field declared in
    REQUEST_SETTINGS_FIELDS, else the built-in validator of a Django setting, else the type of the settings.py value
    (an int setting stays an int).
    """
    specific = _declared_checker(key) or HONORED.get(key) or _type_checker(base_value(key))

    def check(value: Any) -> str | None:
        return _json_problem(value) or specific(value)

    return check


def _declared_checker(key: str) -> Validator | None:
    from django.core.exceptions import ValidationError

    from request_settings.fields import declared_field  # fields builds on this module

    field = declared_field(key)
    if field is None:
        return None

    def check(value: Any) -> str | None:
        try:
            cleaned = field.clean(value)
        except ValidationError as error:
            return "a value the declared field accepts (" + " ".join(error.messages) + ")"
        return None if cleaned == value else "a value of the declared field's type"

    return check


def _json_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "a finite number"
    if isinstance(value, str):
        return "a string without NUL characters" if "\x00" in value else None
    if isinstance(value, list | tuple):
        return next(filter(None, map(_json_problem, value)), None)
    if isinstance(value, dict):
        if not all(isinstance(item, str) and "\x00" not in item for item in value):
            return "an object whose keys are strings without NUL characters"
        return next(filter(None, map(_json_problem, value.values())), None)
    return "a JSON value (string, number, true/false, null, list or object)"


TYPE_NAMES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a JSON list",
    tuple: "a JSON list",
    dict: "a JSON object",
}


def base_value(key: str, default: Any = None) -> Any:
    """The settings.py value of `key`, never a per-request one (read from Django's own settings holder)."""
    lazy: Any = settings  # django-stubs types it as the Settings it wraps
    if not lazy.configured:
        lazy._setup()
    return getattr(lazy._wrapped, key, default)


def _type_checker(base: Any) -> Validator:
    """Values of the type of the settings.py value `base` (None, or a type JSON cannot express: anything)."""
    base_type = type(base)
    accepted = TYPE_NAMES.get(base_type)

    def check(value: Any) -> str | None:
        if base is None or accepted is None:
            return None
        if base_type is bool or isinstance(value, bool):
            return None if type(value) is base_type else accepted
        if base_type is float and isinstance(value, int):
            return None
        if base_type in (list, tuple):
            return None if isinstance(value, list | tuple) else accepted
        return None if isinstance(value, base_type) else accepted

    return check


def coerce(key: str, value: Any) -> Any:
    """Give a JSON value the container type of settings.py: a tuple there comes back as a tuple."""
    if isinstance(value, list) and isinstance(base_value(key), tuple):
        return tuple(value)
    return value
