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

from django import forms
from django.conf import LazySettings, global_settings, settings
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.views.debug import SafeExceptionReporterFilter

from request_settings import appsettings, thirdparty, validators
from request_settings.conf.settings import settings as conf

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
MAX_KEY_LENGTH = 255
"""The size of the key column (of the override, audit and change tables)."""
TOO_LONG = f"longer than {MAX_KEY_LENGTH} characters, the size of the key column"
COLLIDES = "the name of an attribute of django.conf.settings itself"
LAYOUT = (
    "a file-system location of the project (BASE_DIR, *_DIR, *_ROOT, *_PATH, EMAIL_FILE_PATH): staff could point "
    "the site's files, or mail with password-reset links, somewhere else"
)
NOT_JSON = "its settings.py value cannot be stored as JSON and come back the same"

_MISSING = object()
_LAYOUT_SUFFIXES = ("_DIR", "_DIRS", "_ROOT", "_PATH", "_PATHS")

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
"""Returns what is accepted, in words, when the value is not; None when it is fine. Validators built here also take
``host=`` (the row's host), for the rules that depend on it (cookie domains)."""

_MAX_COOKIE_AGE = 2**31 - 1  # beyond, a cookie's expiry date can pass the year 9999 and set_cookie() fails
_YEAR = 365 * 24 * 3600
_MINUTE = 60  # session and CSRF lifetimes: long enough for staff to sign in and remove a bad override
_SAMESITE = validators.one_of("Lax", "Strict", False)  # "None" without Secure makes browsers drop the cookie
_NO_WWW = validators.Rule(
    "false (true would send every request, the admin's included, to another host)",
    lambda value: value is False,
    kind=bool,
)

HONORED: dict[str, validators.Rule] = {
    "SESSION_COOKIE_AGE": validators.integer(_MINUTE, _MAX_COOKIE_AGE, unit="seconds"),
    "SESSION_EXPIRE_AT_BROWSER_CLOSE": validators.boolean(),
    "SESSION_COOKIE_SECURE": validators.boolean(),
    "SESSION_COOKIE_HTTPONLY": validators.boolean(),
    "SESSION_COOKIE_SAMESITE": _SAMESITE,
    "SESSION_COOKIE_DOMAIN": validators.cookie_domain(),
    "SESSION_COOKIE_PATH": validators.cookie_path(),
    "SESSION_SAVE_EVERY_REQUEST": validators.boolean(),
    "CSRF_COOKIE_AGE": validators.integer(_MINUTE, _MAX_COOKIE_AGE, optional=True, unit="seconds"),
    "CSRF_COOKIE_SECURE": validators.boolean(),
    "CSRF_COOKIE_HTTPONLY": validators.boolean(),
    "CSRF_COOKIE_SAMESITE": _SAMESITE,
    "CSRF_COOKIE_DOMAIN": validators.cookie_domain(referer_check=True),
    "CSRF_COOKIE_PATH": validators.cookie_path(),
    "EMAIL_SUBJECT_PREFIX": validators.text(100),
    "EMAIL_TIMEOUT": validators.number(1, 3600, optional=True, unit="seconds"),
    "EMAIL_USE_LOCALTIME": validators.boolean(),
    "DEFAULT_FROM_EMAIL": validators.email_address(),
    "SERVER_EMAIL": validators.email_address(),
    "EMAIL_BACKEND": validators.dotted_path(),
    "EMAIL_HOST": validators.server_name(),
    "EMAIL_PORT": validators.integer(1, 65535),
    "EMAIL_HOST_USER": validators.text(255),
    "EMAIL_HOST_PASSWORD": validators.text(255),
    "EMAIL_USE_TLS": validators.boolean(),
    "EMAIL_USE_SSL": validators.boolean(),
    "LOGIN_URL": validators.local_url(),
    "LOGIN_REDIRECT_URL": validators.local_url(),
    "LOGOUT_REDIRECT_URL": validators.local_url(optional=True),
    "PASSWORD_RESET_TIMEOUT": validators.integer(1, _YEAR, unit="seconds"),
    # The admin's own forms must stay postable: its login and delete forms send a few hundred bytes and fields.
    "DATA_UPLOAD_MAX_MEMORY_SIZE": validators.integer(65536, _MAX_COOKIE_AGE, optional=True, unit="bytes"),
    "DATA_UPLOAD_MAX_NUMBER_FIELDS": validators.integer(100, _MAX_COOKIE_AGE, optional=True),
    "DATA_UPLOAD_MAX_NUMBER_FILES": validators.integer(1, _MAX_COOKIE_AGE, optional=True),
    "X_FRAME_OPTIONS": validators.one_of("DENY", "SAMEORIGIN"),
    "APPEND_SLASH": validators.boolean(),
    "PREPEND_WWW": _NO_WWW,
    "DEFAULT_CHARSET": validators.charset(),
    "MESSAGE_LEVEL": validators.integer(0, 100),
    "SITE_ID": validators.existing_site(),
}
"""Django settings that Django reads per request, each with the values that cannot break a response or lock staff
out of the admin."""


def builtin_rule(key: str) -> validators.Rule | None:
    """The rule we ship for ``key``: Django's honored settings, then the third-party registry."""
    rule = HONORED.get(key)
    if rule is not None:
        return rule
    found = thirdparty.decision(key)
    return found.rule if isinstance(found, thirdparty.Honored) else None


def _layout_key(key: str) -> bool:
    return key == "BASE_DIR" or key.endswith(_LAYOUT_SUFFIXES)


def _builtin_refusal(key: str) -> str | None:
    """The reasons no project configuration can lift."""
    if not KEY_PATTERN.fullmatch(key):
        return MALFORMED
    if len(key) > MAX_KEY_LENGTH:
        return TOO_LONG
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
    found = thirdparty.decision(key)
    if isinstance(found, thirdparty.Refused):
        return found.reason
    if builtin_rule(key) is not None:
        return None  # the rule decides the values, whatever settings.py holds (LOGIN_URL = reverse_lazy(...))
    if key == "EMAIL_FILE_PATH" or (not hasattr(global_settings, key) and _layout_key(key)):
        return LAYOUT
    return _not_json(key)


def _not_json(key: str) -> str | None:
    base = base_value(key, _MISSING)
    if base is _MISSING:
        return None
    problem = _shape_problem(base)
    return None if problem is None else f"{NOT_JSON}: {problem}"


def _shape_problem(base: Any) -> str | None:
    """Why ``base`` (a settings.py value) cannot round-trip through JSON; None when it can (tuples included)."""
    stack = [base]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, bool | int | str | Promise):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"its settings.py value holds {item!r}"
        elif isinstance(item, list | tuple):
            if len({isinstance(child, tuple) for child in item if isinstance(child, list | tuple)}) > 1:
                return "its settings.py value mixes lists and tuples at one level"
            stack.extend(item)
        elif isinstance(item, dict):
            if not all(isinstance(name, str) for name in item):
                return "its settings.py value is a dict with keys that are not strings"
            stack.extend(item.values())
        else:
            return f"its settings.py value is a {type(item).__name__}"
    return None


def _alias_refusal(key: str, denied: Collection[str]) -> str | None:
    """A renamed app setting (``AppSettings`` deprecations) is one setting under two names: refuse both or neither."""
    for alias in sorted(appsettings.aliases(key)):
        reason = _builtin_refusal(alias) or (DENIED_BY_PROJECT if alias in denied else None)
        if reason is not None:
            return f"another name of the renamed setting {alias}, which cannot be overridden ({reason})"
    return None


def refusal(key: str) -> str | None:
    """Why `key` may not be overridden, in words; None when it may."""
    reason = _builtin_refusal(key)
    if reason is not None:
        return reason
    denied: Collection[str] = getattr(settings, "REQUEST_SETTINGS_DENIED", ())
    if key in denied:
        return DENIED_BY_PROJECT
    reason = _alias_refusal(key, denied)
    if reason is not None:
        return reason
    allowed: Collection[str] | None = getattr(settings, "REQUEST_SETTINGS_ALLOWED", None)
    if allowed is not None:
        return None if key in allowed else NOT_ALLOWED
    if key in SENSITIVE_KEYS:
        return SENSITIVE
    if hasattr(global_settings, key) and key not in HONORED:
        return UNTESTED
    return None


def value_problem(key: str, value: Any, host: str | None = None) -> str | None:
    """What `key` accepts, in words, when `value` is not acceptable; None when it is.

    ``host`` is the row's host (``""`` for all hosts): some rules depend on it (a cookie domain must contain it).
    """
    return value_checker(key)(value, host=host)  # type: ignore[call-arg]


def value_checker(key: str) -> Validator:
    """The validator of `key`'s values, built once per key (a snapshot of many rows reuses it).

    Every value: JSON that PostgreSQL's jsonb can hold, within REQUEST_SETTINGS_MAX_VALUE_DEPTH and _SIZE. Then the
    rule we ship for the key (Django's honored settings, the third-party registry), else the type of the settings.py
    value (an int setting stays an int); and the field declared in REQUEST_SETTINGS_FIELDS, which can only narrow.
    """
    max_depth, max_size = conf.MAX_VALUE_DEPTH, conf.MAX_VALUE_SIZE

    def limits(value: Any) -> str | None:
        return validators.json_problem(value, max_depth=max_depth, max_size=max_size)

    # The key's own rule speaks first (its words are the most useful); none of them recurses into a value.
    rule = builtin_rule(key) or _type_checker(key)
    rules: list[Callable[..., str | None]] = [limits] if rule is None else [rule, limits]
    declared = _declared_checker(key)
    if declared is not None:
        rules.append(declared)
    return validators.all_of(rules)


def is_checked(key: str) -> bool:
    """False for a key whose values nothing checks beyond JSON: no rule, no declared field, not in settings.py."""
    return builtin_rule(key) is not None or _type_checker(key) is not None or declared_field(key) is not None


UNCHECKED_WHY = (
    "settings.py does not define it and no rule or declared field covers it, so any JSON value is accepted. Define "
    "it in settings.py, or declare a field for it in REQUEST_SETTINGS_FIELDS."
)
UNCHECKED = "any JSON value: not checked (define the key in settings.py or declare it in REQUEST_SETTINGS_FIELDS)"


def accepted(key: str) -> str:
    """What ``key`` accepts, in words, for help texts."""
    words = []
    rule = builtin_rule(key) or _type_checker(key)
    if rule is not None:
        words.append(rule.accepted)
    declaration = conf.FIELDS.get(key) or {}
    if declaration:
        help_text = declaration.get("help_text")
        words.append("what the declared field accepts" + (f" ({help_text})" if help_text else ""))
    return ", and ".join(words) if words else UNCHECKED


def form_kind(key: str) -> type | None:
    """The Python type a form should parse typed text into: the settings.py value's, else the rule's."""
    base = base_value(key, _MISSING)
    if base is not _MISSING and base is not None and not isinstance(base, Promise):
        return type(base)
    rule = builtin_rule(key)
    return None if rule is None else rule.kind


def declared_field(key: str) -> forms.Field | None:
    """The form field REQUEST_SETTINGS_FIELDS declares for ``key``, if any."""
    declaration = dict(conf.FIELDS.get(key) or {})
    if not declaration:
        return None
    # By dotted path, so that this module never imports fields.py (which builds on this one).
    field_class = import_string(declaration.pop("field", "request_settings.fields.JSONOrTextField"))
    field: forms.Field = field_class(**declaration)
    return field


def _declared_checker(key: str) -> Validator | None:
    field = declared_field(key)
    if field is None:
        return None

    def check(value: Any) -> str | None:
        # The field judges the text staff would type for the value (what the forms give it), not the value itself:
        # a JSON field's clean() parses a str, so the string "abc" would be read as the JSON text abc.
        try:
            cleaned = field.clean(field.prepare_value(value))
        except ValidationError as error:
            return "a value the declared field accepts (" + " ".join(_masked_messages(key, error)) + ")"
        return None if cleaned == value else "a value of the declared field's type"

    return check


def _masked_messages(key: str, error: ValidationError) -> list[str]:
    """The field's messages; for a secret-looking key, what they quote (their params, such as the value) is masked."""
    from request_settings.models import looks_secret  # models builds on this module

    if not looks_secret(key):
        return error.messages
    mask = SafeExceptionReporterFilter.cleansed_substitute
    messages = []
    for each in error.error_list:
        params = each.params
        if isinstance(params, dict):
            params = dict.fromkeys(params, mask)
        elif params:
            params = (mask,) * len(params)
        messages.append(str(each.message) % params if params else str(each.message))
    return messages


TYPE_NAMES: dict[type, str] = {
    bool: "true or false",
    int: f"an integer from {-validators.MAX_INT} to {validators.MAX_INT}",
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


def _type_checker(key: str) -> validators.Rule | None:
    """Values of the type of the settings.py value of ``key``; None when settings.py gives no JSON type to follow."""
    base = base_value(key, _MISSING)
    if isinstance(base, Promise):
        base = str(base)
    # The JSON type the value is: an IntEnum member is an int, a SafeString a str (bool comes before int).
    base_type = next((json_type for json_type in TYPE_NAMES if isinstance(base, json_type)), None)
    if base_type is None:
        return None
    words = TYPE_NAMES[base_type]

    def test(value: Any) -> bool:
        if base_type is bool or isinstance(value, bool):
            return type(value) is base_type
        if base_type is float and isinstance(value, int):
            return True
        if base_type in (list, tuple):
            return isinstance(value, list | tuple)
        return isinstance(value, base_type)

    return validators.Rule(words, test, kind=base_type)


def coerce(key: str, value: Any) -> Any:
    """Give a JSON value the container types of settings.py: a tuple there comes back as a tuple, at every level
    where settings.py has one (``(("a", 1), ("b", 2))`` too)."""
    base = base_value(key, _MISSING)
    return value if base is _MISSING else _like(base, value)


def _like(base: Any, value: Any) -> Any:
    if isinstance(base, list | tuple) and isinstance(value, list | tuple):
        template = base[0] if base and all(isinstance(item, tuple) for item in base) else None
        items = [value_item if template is None else _like(template, value_item) for value_item in value]
        return tuple(items) if isinstance(base, tuple) else items
    if isinstance(base, dict) and isinstance(value, dict):
        return {name: _like(base[name], item) if name in base else item for name, item in value.items()}
    return value
