"""A small helper that reusable apps use to read their own prefixed settings.

An app keeps its defaults as upper-case names in ``yourapp/conf/defaults.py`` and writes, in
``yourapp/conf/settings.py``::

    class YourAppSettings(AppSettings):
        deprecations = (DeprecatedSetting("OLD_NAME", renamed_to="NAME", removing_in="2.0"),)

    settings = YourAppSettings()

Projects override ``NAME`` with ``YOURAPP_NAME`` in their settings. Values are read from
``django.conf.settings`` on every access, never copied, so ``override_settings`` and per-request
overlays reach them. Only imported models, objects and modules are cached, keyed by the raw value
and cleared on ``setting_changed``. A mutable default (a list, a dict) is copied on each read, so a
caller that changes what it read cannot change the default for every later reader.
"""

from __future__ import annotations

import copy
import re
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar, cast

from django.apps import apps
from django.conf import settings as django_settings
from django.core.exceptions import AppRegistryNotReady
from django.core.signals import setting_changed
from django.db.models import Model
from django.utils.module_loading import import_string

from request_settings import exceptions as exc

__all__ = ["AppSettings", "DeprecatedSetting"]

_T = TypeVar("_T")
_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_MISSING = object()


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_shared_safely(value: object) -> bool:
    """Whether ``value`` may be handed to every reader: hashable (immutable in practice) or not copyable."""
    try:
        hash(value)
    except TypeError:
        pass
    else:
        return True
    try:
        copy.deepcopy(value)
    except Exception:
        return True  # a default holding a lock or a module: shared, as Django shares its own defaults
    return False


def _is_dotted_path(value: str, min_parts: int) -> bool:
    parts = value.split(".")
    return len(parts) >= min_parts and all(part.isidentifier() for part in parts)


@dataclass(frozen=True)
class DeprecatedSetting:
    """Declares that ``name`` is deprecated: removed, renamed to, or replaced by another setting.

    Types are checked here so a typo fails inside the class body that declares it.
    """

    name: str
    renamed_to: str | None = None
    replaced_by: str | None = None
    removing_in: str | None = None
    warning_category: type[Warning] = DeprecationWarning
    guidance: str | None = None

    def __post_init__(self) -> None:
        for field in ("name", "renamed_to", "replaced_by"):
            value = getattr(self, field)
            if (value is not None or field == "name") and not (isinstance(value, str) and _NAME.match(value)):
                raise exc.DeprecationDeclarationError(
                    f"DeprecatedSetting {field} must be an upper-case setting name without the "
                    f"prefix, such as 'OLD_NAME', not {_describe(value)}."
                )
        if self.renamed_to is not None and self.replaced_by is not None:
            raise exc.DeprecationDeclarationError(
                f"DeprecatedSetting {self.name!r} gives both renamed_to={self.renamed_to!r} and "
                f"replaced_by={self.replaced_by!r}. Give renamed_to when the old value still means "
                "the same thing, replaced_by when it does not."
            )
        if self.name in (self.renamed_to, self.replaced_by):
            raise exc.DeprecationDeclarationError(
                f"DeprecatedSetting {self.name!r} points at itself. Name a different setting."
            )
        for field in ("removing_in", "guidance"):
            value = getattr(self, field)
            if value is not None and not (isinstance(value, str) and value):
                raise exc.DeprecationDeclarationError(
                    f"DeprecatedSetting {self.name!r} {field} must be a non-empty string or None, "
                    f"not {_describe(value)}."
                )
        category = self.warning_category
        if not (isinstance(category, type) and issubclass(category, Warning)):
            raise exc.DeprecationDeclarationError(
                f"DeprecatedSetting {self.name!r} warning_category must be a Warning subclass such "
                f"as DeprecationWarning, not {_describe(category)}."
            )


@dataclass(frozen=True)
class _Kind(Generic[_T]):
    """How one family of import settings (models, objects, modules) is validated and loaded."""

    name: str
    expected: str
    is_valid: Callable[[str], bool]
    load: Callable[[str], _T]


# Loaders look their importer up at call time, so tests can spy on them.
def _load_model(value: str) -> type[Model]:
    return apps.get_model(value)


def _load_object(value: str) -> Any:
    return import_string(value)


def _load_module(value: str) -> ModuleType:
    return import_module(value)


_MODEL: _Kind[type[Model]] = _Kind(
    "model",
    "a string in the form 'app_label.ModelName' naming an installed model",
    lambda value: value.count(".") == 1 and _is_dotted_path(value, 2),
    _load_model,
)
_OBJECT: _Kind[Any] = _Kind(
    "object",
    "a dotted import path such as 'package.module.attribute'",
    lambda value: _is_dotted_path(value, 2),
    _load_object,
)
_MODULE: _Kind[ModuleType] = _Kind(
    "module",
    "a dotted module path such as 'package.module'",
    lambda value: _is_dotted_path(value, 1),
    _load_module,
)


class _Raw(NamedTuple):
    name: str  # the current (unprefixed) setting name, for the cache key
    setting: str  # the setting the value came from, for error messages
    value: Any
    from_default: bool


class _Namespace(Generic[_T]):
    """``helper.models.NAME`` and friends: attribute access that imports and validates."""

    def __init__(self, helper: AppSettings, kind: _Kind[_T]) -> None:
        self._helper = helper
        self._kind = kind

    def __getattr__(self, name: str) -> _T:
        if not _NAME.match(name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self._helper._load(self._kind, name, stacklevel=3)


class AppSettings:
    """Base class of an app's settings helper; subclass it once per app and instantiate it once.

    ``prefix`` and ``defaults_path``, unless set in the class body, are derived from the module
    the subclass is defined in. The prefix is the last component of the package holding that
    module, after dropping a trailing ``conf``: ``yourapp.conf.settings`` and
    ``tests.yourapp.conf.settings`` both give ``YOURAPP``, a top-level ``mymodule`` gives
    ``MYMODULE``. The defaults live next to that module: ``yourapp.conf.defaults``.
    """

    prefix: ClassVar[str]
    defaults_path: ClassVar[str]
    deprecations: ClassVar[tuple[DeprecatedSetting, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        package, _, _ = cls.__module__.rpartition(".")
        if "prefix" not in cls.__dict__:
            parts = (package or cls.__module__).split(".")
            if len(parts) > 1 and parts[-1] == "conf":
                parts.pop()
            cls.prefix = parts[-1].upper()
        if not (isinstance(cls.prefix, str) and _NAME.match(cls.prefix)):
            raise exc.AppSettingsDeclarationError(
                f"{cls.__qualname__}.prefix must be an upper-case name such as 'YOURAPP', not "
                f"{_describe(cls.prefix)} (derived from the module {cls.__module__!r} unless set). "
                "Set prefix = 'YOURAPP' in the class body."
            )
        if "defaults_path" not in cls.__dict__:
            cls.defaults_path = f"{package}.defaults" if package else "defaults"
        deprecations = cls.deprecations
        if not isinstance(deprecations, tuple) or not all(isinstance(item, DeprecatedSetting) for item in deprecations):
            raise exc.DeprecationDeclarationError(
                f"{cls.__qualname__}.deprecations must be a tuple of DeprecatedSetting, not {_describe(deprecations)}."
            )
        for attr in ("name", "renamed_to"):
            seen = [getattr(item, attr) for item in deprecations if getattr(item, attr)]
            duplicates = sorted({name for name in seen if seen.count(name) > 1})
            if duplicates:
                raise exc.DeprecationDeclarationError(
                    f"{cls.__qualname__}.deprecations has more than one DeprecatedSetting with "
                    f"{attr}={duplicates[0]!r}. Keep one."
                )

    def __init__(self) -> None:
        cls = type(self)
        if cls is AppSettings:
            raise TypeError("Subclass AppSettings once per app; do not instantiate it directly.")
        try:
            module = import_module(cls.defaults_path)
        except ImportError as error:
            raise exc.AppSettingsDeclarationError(
                f"{cls.__qualname__} cannot import its defaults module {cls.defaults_path!r}: "
                f"{error}. Create it, or set defaults_path to the module holding the defaults."
            ) from error
        self._defaults = {name: getattr(module, name) for name in dir(module) if _NAME.match(name)}
        # Copied on each read: a caller appending to a list default would otherwise change it for every
        # later reader, and no override_settings() could undo that.
        self._copied = {name for name, value in self._defaults.items() if not _is_shared_safely(value)}
        self._deprecations = {item.name: item for item in cls.deprecations}
        self._renamed_from = {item.renamed_to: item for item in cls.deprecations if item.renamed_to is not None}
        self._check_deprecations()
        self._cache: dict[tuple[str, str, str], Any] = {}
        self.models: _Namespace[type[Model]] = _Namespace(self, _MODEL)
        self.objects: _Namespace[Any] = _Namespace(self, _OBJECT)
        self.modules: _Namespace[ModuleType] = _Namespace(self, _MODULE)
        _helpers.add(self)

    def _check_deprecations(self) -> None:
        where = f"{type(self).__qualname__}.deprecations"
        for item in self._deprecations.values():
            target = item.renamed_to or item.replaced_by
            if target is not None and (target not in self._defaults or target in self._deprecations):
                raise exc.DeprecationDeclarationError(
                    f"{where}: {item.name!r} points at {target!r}, which is not a current setting "
                    f"in {self.defaults_path}. Add {target} to the defaults or fix the name."
                )
            if item.renamed_to is not None and item.name in self._defaults:
                raise exc.DeprecationDeclarationError(
                    f"{where}: {item.name!r} is renamed to {item.renamed_to!r} but is still in "
                    f"{self.defaults_path}. Remove {item.name} from the defaults; reads of it are "
                    f"answered by {item.renamed_to}."
                )
            if item.renamed_to is None and item.name not in self._defaults:
                raise exc.DeprecationDeclarationError(
                    f"{where}: {item.name!r} is deprecated but has no default in "
                    f"{self.defaults_path}. A deprecated setting works until it is removed: keep "
                    "its default, or declare renamed_to if it was renamed."
                )

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} prefix={self.prefix!r}>"

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._defaults})

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; private and lower-case names stay plain errors.
        if not _NAME.match(name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self._lookup(name, stacklevel=3).value

    def get(self, name: str) -> Any:
        """Return the project's ``PREFIX_NAME`` if set, else the app's default, read live."""
        return self._lookup(name, stacklevel=3).value

    def get_model(self, name: str) -> type[Model]:
        """Return the model class named by the ``'app_label.Model'`` setting ``name``."""
        return self._load(_MODEL, name, stacklevel=3)

    def get_object(self, name: str) -> Any:
        """Return the object (class, callable, ...) named by the dotted-path setting ``name``."""
        return self._load(_OBJECT, name, stacklevel=3)

    def get_module(self, name: str) -> ModuleType:
        """Return the module named by the dotted-path setting ``name``."""
        return self._load(_MODULE, name, stacklevel=3)

    def clear_cache(self) -> None:
        """Forget imported models, objects and modules; called on every ``setting_changed``."""
        self._cache.clear()

    def _prefixed(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def _warn(self, item: DeprecatedSetting, advice: str | None, stacklevel: int) -> None:
        """Warn about ``item`` with ``advice``; the default advice is for code reading it."""
        setting = self._prefixed(item.name)
        when = item.removing_in or "a future version"
        message = f"The {setting} setting is deprecated and will be removed in {when}."
        target = item.renamed_to or item.replaced_by
        if advice is None and target is not None:
            advice = f"Use {self._prefixed(target)} instead."
        if advice is not None:
            message += f" {advice}"
        if item.guidance is not None:
            message += f" {item.guidance}"
        warnings.warn(message, item.warning_category, stacklevel)

    def _lookup(self, name: str, stacklevel: int) -> _Raw:
        """Resolve deprecations, then read; ``stacklevel`` points warnings at the caller."""
        item = self._deprecations.get(name)
        if item is not None:
            self._warn(item, None, stacklevel + 1)
            name = item.renamed_to or name
        elif name not in self._defaults:
            raise exc.UnknownSettingError(
                f"{type(self).__qualname__} has no setting {name!r}. Valid names: "
                f"{', '.join(sorted(self._defaults))} (set {self._prefixed('<NAME>')} in your "
                "Django settings to override one)."
            )
        return self._read(name, stacklevel + 1)

    def _read(self, name: str, stacklevel: int) -> _Raw:
        setting = self._prefixed(name)
        old = self._renamed_from.get(name)
        if old is not None:
            old_setting = self._prefixed(old.name)
            old_value = getattr(django_settings, old_setting, _MISSING)
            if old_value is not _MISSING and hasattr(django_settings, setting):
                advice = f"It is ignored because {setting} is also set: remove {old_setting}."
                self._warn(old, advice, stacklevel + 1)
            elif old_value is not _MISSING:
                advice = f"Rename it to {setting} in your settings."
                self._warn(old, advice, stacklevel + 1)
                return _Raw(name, old_setting, old_value, from_default=False)
        value = getattr(django_settings, setting, _MISSING)
        if value is _MISSING:
            value = self._defaults[name]
            if name in self._copied:
                value = copy.deepcopy(value)
            return _Raw(name, setting, value, from_default=True)
        return _Raw(name, setting, value, from_default=False)

    def _load(self, kind: _Kind[_T], name: str, stacklevel: int) -> _T:
        """Validate and import the value of ``name``; cache by name and raw value."""
        raw = self._lookup(name, stacklevel + 1)
        value = raw.value
        key = (kind.name, raw.name, value) if isinstance(value, str) else None
        if key is not None and key in self._cache:
            return cast(_T, self._cache[key])  # validated when it was cached; this is the hot path
        if raw.from_default:
            type_error: type[exc.AppSettingsError] = exc.DefaultValueTypeInvalid
            format_error: type[exc.AppSettingsError] = exc.DefaultValueFormatInvalid
            import_error: type[exc.AppSettingsError] = exc.DefaultValueNotImportable
            subject = f"The default for {raw.setting} ({raw.name} in {self.defaults_path})"
            fix = f"Change {raw.name} in {self.defaults_path}."
        else:
            type_error = exc.OverrideValueTypeInvalid
            format_error = exc.OverrideValueFormatInvalid
            import_error = exc.OverrideValueNotImportable
            subject = f"The {raw.setting} setting"
            fix = f"Change {raw.setting} in your Django settings."
        subject += f" must be {kind.expected}"
        if key is None:
            raise type_error(f"{subject}, not {_describe(value)}. {fix}")
        if not kind.is_valid(value):
            raise format_error(f"{subject}, not {value!r}. {fix}")
        if kind is _MODEL:
            try:
                apps.check_models_ready()
            except AppRegistryNotReady as error:
                raise AppRegistryNotReady(
                    f"{raw.setting} names a model, which cannot be loaded before Django's app "
                    "registry is ready. Read it inside a function or in AppConfig.ready(), "
                    "not at import time."
                ) from error
        try:
            loaded = kind.load(value)
        except (ImportError, LookupError) as error:
            reason = str(error).rstrip(".")
            message = f"{subject}, but {value!r} cannot be imported: {reason}. {fix}"
            raise import_error(message) from error
        self._cache[key] = loaded
        return loaded


_helpers: weakref.WeakSet[AppSettings] = weakref.WeakSet()


def aliases(setting: str) -> set[str]:
    """The other names of ``setting`` (a prefixed Django setting) through renames declared in any helper.

    A renamed setting is read under both names, so a policy that refuses one name must refuse the other.
    """
    found: set[str] = set()
    for helper in list(_helpers):
        prefix = f"{helper.prefix}_"
        if not setting.startswith(prefix):
            continue
        name = setting[len(prefix) :]
        for item in helper._deprecations.values():
            if item.renamed_to is None:
                continue
            if name == item.name:
                found.add(prefix + item.renamed_to)
            elif name == item.renamed_to:
                found.add(prefix + item.name)
    return found


def _clear_caches(**kwargs: Any) -> None:
    """Any setting may change what an import resolves to (INSTALLED_APPS too), so clear them all."""
    for helper in list(_helpers):
        helper.clear_cache()


setting_changed.connect(_clear_caches, dispatch_uid="request_settings.appsettings.clear_caches")
