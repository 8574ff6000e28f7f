"""System checks for request_settings; every check id is assigned here, and only here.

===================== ======= ===================================================================
id                    level   meaning
===================== ======= ===================================================================
request_settings.E001 Error   REQUEST_SETTINGS_CACHE_TTL is not a non-negative number.
request_settings.E002 Error   REQUEST_SETTINGS_ENABLED is not True or False.
request_settings.E003 Error   REQUEST_SETTINGS_ALLOWED is not None or a collection of names.
request_settings.E004 Error   REQUEST_SETTINGS_DENIED is not a collection of setting names.
request_settings.E005 Error   REQUEST_SETTINGS_BROADCAST_CACHE is not None or an alias in CACHES.
request_settings.E006 Error   REQUEST_SETTINGS_FIELDS is not a dict of name -> field declaration.
request_settings.E007 Error   REQUEST_SETTINGS_MODEL cannot be loaded (not an installed model).
request_settings.E008 Error   The override model lacks a required field (key, value, host).
request_settings.E009 Error   The override model's manager lacks the write API (set, unset, ...).
request_settings.E010 Error   REQUEST_SETTINGS_HOST_RESOLVER cannot be imported or called.
request_settings.E011 Error   A REQUEST_SETTINGS_FIELDS field class cannot be imported or built.
request_settings.E012 Error   RequestSettingsMiddleware is used but the app is not in INSTALLED_APPS.
request_settings.E013 Error   REQUEST_SETTINGS_POLL_INTERVAL is not a positive number.
request_settings.E014 Error   REQUEST_SETTINGS_LISTEN, _CELERY_REQUIRE_HOST or _PREVIEW_BANNER is not True or False.
request_settings.E015 Error   REQUEST_SETTINGS_MAX_VALUE_DEPTH or _MAX_VALUE_SIZE is not a positive integer.
request_settings.E016 Error   REQUEST_SETTINGS_URL_HOSTS is not a collection of host names.
request_settings.W001 Warning RequestSettingsMiddleware is not in MIDDLEWARE.
request_settings.W002 Warning RequestSettingsMiddleware is in MIDDLEWARE more than once.
request_settings.W003 Warning RequestSettingsMiddleware is below SessionMiddleware.
request_settings.W004 Warning RequestSettingsMiddleware is below SessionTimeoutMiddleware.
request_settings.W005 Warning REQUEST_SETTINGS_FIELDS declares a key the policy refuses.
request_settings.W006 Warning (database) A stored override has a key the policy now refuses.
request_settings.W007 Warning (database) A stored override has a value its key does not accept.
request_settings.W008 Warning (database) A stored override has a key whose values nothing checks.
request_settings.W009 Warning REQUEST_SETTINGS_LISTEN is on, but the table's database is not PostgreSQL.
request_settings.W010 Warning A REQUEST_SETTINGS_* name in the settings is not one of ours (a typo?).
===================== ======= ===================================================================

W006, W007 and W008 read the override table, so they run only with ``check --database default`` and
in ``migrate``; before the first ``migrate`` the table does not exist, and they say nothing.
Subclasses of the middleware classes count as those classes.

E012 cannot be registered like the others: without the app in INSTALLED_APPS, ``ready()`` never runs. The
middleware imports this module before anything that loads the models, and importing it then raises E012 as
``manage.py check`` prints it (see ``require_installed``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from django import forms
from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks as django_checks
from django.core.checks import CheckMessage, Tags
from django.core.checks import Error as _Error
from django.core.checks import Warning as _Warning
from django.core.management.base import SystemCheckError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router, transaction
from django.db.models import Model
from django.utils.module_loading import import_string

from request_settings import policy
from request_settings.conf.settings import settings as conf
from request_settings.exceptions import AppSettingsError

APP = "request_settings"
MIDDLEWARE_PATH = "request_settings.middleware.RequestSettingsMiddleware"
SESSION_MIDDLEWARE_PATH = "django.contrib.sessions.middleware.SessionMiddleware"
TIMEOUT_MIDDLEWARE_PATH = "django_session_timeout.middleware.SessionTimeoutMiddleware"
REQUIRED_FIELDS = ("key", "value", "host")
WRITE_API = ("set", "unset", "aset", "aunset")

Messages = list[CheckMessage]


def _error(number: int, msg: str, hint: str, obj: Any = None) -> CheckMessage:
    return _Error(msg, hint=hint, obj=obj, id=f"request_settings.E{number:03d}")


def _warning(number: int, msg: str, hint: str, obj: Any = None) -> CheckMessage:
    return _Warning(msg, hint=hint, obj=obj, id=f"request_settings.W{number:03d}")


def _shown(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_names(value: object) -> bool:
    """A collection of strings, but not a string itself (``"DEBUG"`` would mean D, E, B, U, G)."""
    return (
        isinstance(value, Collection)
        and not isinstance(value, str | bytes)
        and all(isinstance(item, str) for item in value)
    )


def _seconds(value: object) -> float | None:
    """``value`` as a float of seconds; None unless a real number that time arithmetic can use."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)  # an int beyond float's range: time.monotonic() + value raises OverflowError
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _policy_is_readable() -> bool:
    """``policy.refusal`` tests membership in ALLOWED/DENIED, and raises if either is malformed."""
    allowed = conf.ALLOWED
    return _is_names(conf.DENIED) and (allowed is None or _is_names(allowed))


def check_settings_types(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """Wrong types in our own settings fail later, on a request; report them at start-up instead."""
    messages: Messages = []
    ttl = conf.CACHE_TTL
    seconds = _seconds(ttl)
    if seconds is None or seconds < 0:
        messages.append(
            _error(
                1,
                f"REQUEST_SETTINGS_CACHE_TTL should be a non-negative number of seconds, not {_shown(ttl)}.",
                "Set REQUEST_SETTINGS_CACHE_TTL to a number such as 5, or remove it.",
            )
        )
    enabled = conf.ENABLED
    if not isinstance(enabled, bool):
        messages.append(
            _error(
                2,
                f"REQUEST_SETTINGS_ENABLED should be True or False, not {_shown(enabled)}.",
                "Set REQUEST_SETTINGS_ENABLED = False to switch overrides off, or remove it.",
            )
        )
    allowed = conf.ALLOWED
    if allowed is not None and not _is_names(allowed):
        messages.append(
            _error(
                3,
                f"REQUEST_SETTINGS_ALLOWED should be None or a collection of setting names, not {_shown(allowed)}.",
                "Write it as a list or set of strings, such as ['SESSION_EXPIRE_SECONDS'], or "
                "None for the default policy.",
            )
        )
    denied = conf.DENIED
    if not _is_names(denied):
        messages.append(
            _error(
                4,
                f"REQUEST_SETTINGS_DENIED should be a collection of setting names, not {_shown(denied)}.",
                "Write it as a list or set of strings, such as ['SITE_ID'], or () to deny nothing "
                "beyond the built-in list.",
            )
        )
    alias = conf.BROADCAST_CACHE
    caches = getattr(settings, "CACHES", {})
    if alias is not None and not (isinstance(alias, str) and alias in caches):
        messages.append(
            _error(
                5,
                f"REQUEST_SETTINGS_BROADCAST_CACHE should be None or an alias in CACHES "
                f"({', '.join(map(repr, caches)) or 'none defined'}), not {_shown(alias)}.",
                "Add the cache to CACHES (a shared one such as Redis), or set REQUEST_SETTINGS_BROADCAST_CACHE = None.",
            )
        )
    messages.extend(_fields_shape())
    messages.extend(_later_settings())
    return messages


def _later_settings() -> Iterator[CheckMessage]:
    interval = conf.POLL_INTERVAL
    seconds = _seconds(interval)
    if seconds is None or seconds <= 0:
        yield _error(
            13,
            f"REQUEST_SETTINGS_POLL_INTERVAL should be a positive number of seconds, not {_shown(interval)}.",
            "Set REQUEST_SETTINGS_POLL_INTERVAL to a number such as 0.5, or remove it.",
        )
    for name in ("LISTEN", "CELERY_REQUIRE_HOST", "PREVIEW_BANNER"):
        flag = getattr(conf, name)
        if not isinstance(flag, bool):
            yield _error(
                14,
                f"REQUEST_SETTINGS_{name} should be True or False, not {_shown(flag)}.",
                f"Set REQUEST_SETTINGS_{name} to True or False, or remove it.",
            )
    for name in ("MAX_VALUE_DEPTH", "MAX_VALUE_SIZE"):
        limit = getattr(conf, name)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            yield _error(
                15,
                f"REQUEST_SETTINGS_{name} should be a positive integer, not {_shown(limit)}.",
                f"Set REQUEST_SETTINGS_{name} to an integer such as the default, or remove it.",
            )
    url_hosts = conf.URL_HOSTS
    if not _is_names(url_hosts):
        yield _error(
            16,
            f"REQUEST_SETTINGS_URL_HOSTS should be a collection of host names, not {_shown(url_hosts)}.",
            "Write it as a list of strings, such as ['accounts.example.com'], or () for local URLs only.",
        )
    if conf.LISTEN is True:
        try:
            using = router.db_for_read(conf.models.MODEL)
        except AppSettingsError:
            using = DEFAULT_DB_ALIAS  # E007 says why
        vendor = connections[using].vendor
        if vendor != "postgresql":
            yield _warning(
                9,
                f"REQUEST_SETTINGS_LISTEN is True, but the override table's database {using!r} is {vendor}, not "
                "PostgreSQL: changes are polled only.",
                "Set REQUEST_SETTINGS_LISTEN = False, or keep the table on PostgreSQL (psycopg 3.2 or later).",
            )


def _fields_shape() -> Iterator[CheckMessage]:
    fields = conf.FIELDS
    hint = (
        'Write it as {"KEY": {"field": "django.forms.IntegerField", "min_value": 1}}: a setting '
        'name, then the dotted path of a form field class under "field" and its keyword arguments.'
    )
    if not isinstance(fields, dict):
        yield _error(
            6,
            f"REQUEST_SETTINGS_FIELDS should be a dict of setting name -> field declaration, not {_shown(fields)}.",
            hint,
        )
        return
    for key, declaration in fields.items():
        if not isinstance(key, str):
            yield _error(6, f"REQUEST_SETTINGS_FIELDS keys should be setting names, not {_shown(key)}.", hint)
        elif not isinstance(declaration, dict):
            yield _error(
                6,
                f"REQUEST_SETTINGS_FIELDS[{key!r}] should be a dict, not {_shown(declaration)}.",
                hint,
            )
        elif "field" in declaration and not isinstance(declaration["field"], str):
            yield _error(
                6,
                f"REQUEST_SETTINGS_FIELDS[{key!r}]['field'] should be a dotted path, not "
                f"{_shown(declaration['field'])}.",
                hint,
            )


def check_model(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """The override model is loaded on every snapshot refresh and written by every edit."""
    try:
        model: type[Model] = conf.models.MODEL
    except AppSettingsError as error:
        return [
            _error(
                7,
                f"REQUEST_SETTINGS_MODEL should name an installed model: {error}",
                "Point REQUEST_SETTINGS_MODEL at a subclass of "
                "request_settings.models.AbstractSettingOverride in an installed app, or remove "
                "it to use request_settings.SettingOverride.",
            )
        ]
    messages: Messages = []
    names = {field.name for field in model._meta.get_fields()}
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if missing:
        messages.append(
            _error(
                8,
                f"{model._meta.label} (REQUEST_SETTINGS_MODEL) should have the fields key, value "
                f"and host; it lacks {', '.join(missing)}.",
                "Subclass request_settings.models.AbstractSettingOverride, which defines them.",
                obj=model,
            )
        )
    manager = model._default_manager
    lacking = [name for name in WRITE_API if not callable(getattr(manager, name, None))]
    if lacking:
        messages.append(
            _error(
                9,
                f"{model._meta.label}'s default manager (REQUEST_SETTINGS_MODEL) should provide "
                f"the write API; it lacks {', '.join(lacking)}.",
                "Subclass request_settings.models.AbstractSettingOverride, or use (a subclass of) "
                "request_settings.models.SettingOverrideManager as its first manager.",
                obj=model,
            )
        )
    return messages


def check_host_resolver(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """The resolver runs on every request: a bad path would turn every request into a 500."""
    hint = (
        "Point REQUEST_SETTINGS_HOST_RESOLVER at a callable(request) -> str, or remove it to use "
        "request_settings.hosts.host_from_request."
    )
    try:
        resolver = conf.objects.HOST_RESOLVER
    except AppSettingsError as error:
        return [_error(10, f"REQUEST_SETTINGS_HOST_RESOLVER should be importable: {error}", hint)]
    if not callable(resolver):
        return [
            _error(
                10,
                f"REQUEST_SETTINGS_HOST_RESOLVER should name a callable, not {_shown(resolver)}.",
                hint,
            )
        ]
    return []


def _is(entry: object, path: str) -> bool:
    """``entry`` (a MIDDLEWARE item) is the class at ``path`` or a subclass of it."""
    if entry == path:
        return True
    if not isinstance(entry, str):
        return False
    try:
        entry_class = import_string(entry)
        target = import_string(path)
    except Exception:
        # Importing a middleware (or an optional package) may fail in many ways; the request
        # handler reports that itself. Here it only means "not a match".
        return False
    return isinstance(entry_class, type) and isinstance(target, type) and issubclass(entry_class, target)


def _first(middleware: list[Any], path: str) -> int | None:
    return next((index for index, entry in enumerate(middleware) if _is(entry, path)), None)


def check_middleware(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """The layer must be active when the session cookie and the session timeout are computed."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    ours = [index for index, entry in enumerate(middleware) if _is(entry, MIDDLEWARE_PATH)]
    if not ours:
        return [
            _warning(
                1,
                f"MIDDLEWARE should contain {MIDDLEWARE_PATH!r}; without it no request gets overrides.",
                f"Add {MIDDLEWARE_PATH!r} to MIDDLEWARE, first or just after SecurityMiddleware.",
            )
        ]
    messages: Messages = []
    if len(ours) > 1:
        listed = ", ".join(repr(middleware[index]) for index in ours)
        messages.append(
            _warning(
                2,
                f"MIDDLEWARE should list RequestSettingsMiddleware once, not {len(ours)} times ({listed}).",
                "Keep the entry above SessionMiddleware and remove the others.",
            )
        )
    for number, path, why in (
        (3, SESSION_MIDDLEWARE_PATH, "the session cookie would ignore the overrides"),
        (4, TIMEOUT_MIDDLEWARE_PATH, "the session timeout would ignore the overrides"),
    ):
        above = _first(middleware, path)
        if above is not None and ours[0] > above:
            messages.append(
                _warning(
                    number,
                    f"{MIDDLEWARE_PATH} should be above {middleware[above]} in MIDDLEWARE; below it, {why}.",
                    f"Move {MIDDLEWARE_PATH!r} up, first in MIDDLEWARE or just after SecurityMiddleware.",
                )
            )
    return messages


def _field_problem(declaration: dict[str, Any]) -> str | None:
    kwargs = dict(declaration)
    path = kwargs.pop("field", "request_settings.fields.JSONOrTextField")
    # A project's module or a field's constructor may fail with any exception (re.error for a bad regex,
    # AttributeError for a bad widget): a check reports it, it must not crash manage.py check or migrate.
    try:
        field_class = import_string(path)
    except ImportError as error:
        return f"{path!r} cannot be imported: {error}"
    except Exception as error:
        return f"{path!r} cannot be imported: {type(error).__name__}: {error}"
    if not (isinstance(field_class, type) and issubclass(field_class, forms.Field)):
        return f"{path!r} is {_shown(field_class)}, not a django.forms.Field subclass"
    try:
        field_class(**kwargs)
    except Exception as error:
        return f"{path}(**{kwargs!r}) fails: {error}"
    return None


def check_fields(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """A declaration is used by every editing form of its key: it must build, and be reachable."""
    fields = conf.FIELDS
    if not isinstance(fields, dict):
        return []  # E006 already says so
    messages: Messages = []
    readable = _policy_is_readable()
    for key, declaration in fields.items():
        if not (isinstance(key, str) and isinstance(declaration, dict)):
            continue  # E006
        if "field" in declaration and not isinstance(declaration["field"], str):
            continue  # E006
        problem = _field_problem(declaration)
        if problem is not None:
            messages.append(
                _error(
                    11,
                    f"REQUEST_SETTINGS_FIELDS[{key!r}] should build a form field: {problem}.",
                    "Name a django.forms.Field subclass under 'field', with keyword arguments it accepts.",
                )
            )
        reason = policy.refusal(key) if readable else None
        if reason is not None:
            messages.append(
                _warning(
                    5,
                    f"REQUEST_SETTINGS_FIELDS should only declare keys that may be overridden; "
                    f"{key} cannot be: {reason}.",
                    f"Remove {key!r} from REQUEST_SETTINGS_FIELDS, or allow it (see "
                    "REQUEST_SETTINGS_ALLOWED and REQUEST_SETTINGS_DENIED) if the policy permits.",
                )
            )
    return messages


def _rows(model: type[Model], alias: str) -> list[tuple[str, str, Any]] | None:
    """All rows of the table in ``alias``; None when the table is not there (before migrate)."""
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            if model._meta.db_table not in connection.introspection.table_names(cursor):
                return None
        # A savepoint when inside a transaction, so a failing query cannot break the caller's.
        with transaction.atomic(using=alias):
            return list(model._default_manager.using(alias).values_list("key", "host", "value"))
    except DatabaseError:
        return None


def _value_problem(key: str, value: Any, host: str) -> str | None:
    try:
        return policy.value_problem(key, value, host=host)
    except Exception:
        return None  # a broken REQUEST_SETTINGS_FIELDS declaration (any error, as in E011): E006/E011 report it


def check_stored_overrides(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> Messages:
    """Rows the policy now refuses are skipped on every request; tell staff so they can clean up."""
    if not databases or not _policy_is_readable():
        return []
    try:
        model: type[Model] = conf.models.MODEL
    except AppSettingsError:
        return []  # E007
    if any(name not in {f.name for f in model._meta.get_fields()} for name in REQUIRED_FIELDS):
        return []  # E008
    from request_settings.models import shown_value  # not at import: the models need the app installed (E012)

    hint = (
        f"Delete it in the admin or with {model.__name__}.objects.unset(key, host=...); until then "
        "every request skips it."
    )
    messages: Messages = []
    for alias in databases:
        if not router.allow_migrate_model(alias, model):
            continue
        for key, host, value in _rows(model, alias) or ():
            where = f"host {host!r}" if host else "all hosts"
            reason = policy.refusal(key)
            if reason is not None:
                messages.append(
                    _warning(
                        6,
                        f"The override of {key} for {where} should be removed: {key} cannot be overridden ({reason}).",
                        hint,
                        obj=model,
                    )
                )
                continue
            accepted = _value_problem(key, value, host)
            if accepted is not None:
                # Printed by every migrate: a secret-looking key's value is masked, a long one cut.
                messages.append(
                    _warning(
                        7,
                        f"The override of {key} for {where} should hold a valid value, not "
                        f"{shown_value(key, value)}: {key} expects {accepted}.",
                        f"Set a valid value in the admin or with {model.__name__}.objects.set(); "
                        "until then every request skips it.",
                        obj=model,
                    )
                )
            elif not _is_checked(key):
                messages.append(
                    _warning(
                        8,
                        f"The override of {key} for {where} should have a value something checks: "
                        f"{policy.UNCHECKED_WHY}",
                        f"Define {key} in settings.py (overrides must then have its type), or declare a form "
                        f"field for it in REQUEST_SETTINGS_FIELDS, such as {{{key!r}: {{'field': "
                        "'django.forms.IntegerField', 'min_value': 1}}.",
                        obj=model,
                    )
                )
    return messages


def _is_checked(key: str) -> bool:
    try:
        return policy.is_checked(key)
    except Exception:
        return True  # a broken REQUEST_SETTINGS_FIELDS declaration (any error, as in E011): E006/E011 report it


def check_unknown_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """A misspelt name is silently ignored: ``REQUEST_SETTINGS_ENABLE = False`` would leave the kill switch on."""
    prefix = f"{conf.prefix}_"
    ours = [name for name in dir(conf) if name.isupper()] + [item.name for item in type(conf).deprecations]
    messages: Messages = []
    for name in dir(settings):
        if not name.startswith(prefix) or name.removeprefix(prefix) in ours:
            continue
        # Compared without the prefix, which every name shares and which would make any two names look alike.
        close = difflib.get_close_matches(name.removeprefix(prefix), ours, n=1, cutoff=0.75)
        if close:
            hint = f"Did you mean {prefix}{close[0]}? Rename it, or remove it."
        else:
            hint = "Remove it. The settings request_settings reads are listed in the README's Configuration table."
        messages.append(_warning(10, f"{name} is not a setting of request_settings, so it is ignored.", hint))
    return messages


def check_app_installed(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """The middleware needs the app: its table, the overlay that ``ready()`` installs, and these checks."""
    if apps.is_installed(APP):
        return []
    return [
        _error(
            12,
            f"INSTALLED_APPS should contain {APP!r} when {MIDDLEWARE_PATH} is used.",
            f"Add {APP!r} to INSTALLED_APPS and run manage.py migrate, or remove {MIDDLEWARE_PATH!r} from MIDDLEWARE.",
        )
    ]


def require_installed() -> None:
    """Raise E012, worded as ``manage.py check`` prints a failed check, when the app is not installed.

    Without the app nothing of ours is registered with the check framework, and the first of our modules to be
    imported is the middleware: by the admin's own check (which imports every MIDDLEWARE entry) or by the request
    handler. Its models would then fail with Django's RuntimeError about a model class outside INSTALLED_APPS.
    ``manage.py`` prints a SystemCheckError as a check error, without a traceback.
    """
    if not apps.apps_ready:
        return  # imported before django.setup(): Django's AppRegistryNotReady says what is wrong
    for error in check_app_installed():
        raise SystemCheckError(
            f"System check identified some issues:\n\nERRORS:\n{error}\n\nSystem check identified 1 issue."
        )


def register() -> None:
    """Add the checks to Django's registry; called from ``AppConfig.ready()``; idempotent."""
    for check in (
        check_settings_types,
        check_model,
        check_host_resolver,
        check_middleware,
        check_fields,
        check_unknown_settings,
    ):
        django_checks.register(check)
    django_checks.register(check_stored_overrides, Tags.database)


# The middleware imports this module first, so that a missing app is reported as E012 instead of a crash.
require_installed()
