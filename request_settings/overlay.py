"""The context-local layer over ``django.conf.settings``.

``settings.KEY`` answers from the layer of the current context (a request, an ``activate()`` block) first, then from
Django as usual. Three facts about ``django/conf/__init__.py`` shape this module:

- ``LazySettings.__getattr__`` caches every value it reads in the instance ``__dict__``: a proxy inside
  ``settings._wrapped`` would get its first answer cached for everyone. A *data descriptor* on the class wins over
  the instance ``__dict__``, so each overridable key gets one; keys nobody overrides keep Django's read path.
- ``LazyObject`` forwards ``__class__`` to the wrapped object, so the type of ``settings`` itself is changed through
  ``object``'s own ``__class__`` descriptor.
- ``setting_changed`` is never sent: its receivers reset process-wide caches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

from django.conf import LazySettings, settings

EMPTY: Mapping[str, Any] = MappingProxyType({})

_object_getattribute = object.__getattribute__
Layer = tuple[Mapping[str, Any], ...]
"""Mappings looked up in order, most specific first (a host's rows, its patterns' rows, the all-hosts rows)."""
_layer: ContextVar[Layer | None] = ContextVar("request_settings_layer", default=None)
_host: ContextVar[str | None] = ContextVar("request_settings_host", default=None)
LayerToken = tuple[Token[Layer | None], Token[str | None]]
_pinned_keys: Counter[str] = Counter()
"""Keys pinned by ``override_request_settings`` blocks still open anywhere: their descriptors stay."""

Pins = tuple[tuple[str | None, Mapping[str, Any]], ...]
_pins: ContextVar[Pins] = ContextVar("request_settings_pins", default=())
"""Values pinned by ``override_request_settings``: (host or None for every host, values), innermost last."""


class _Overridable:
    """Data descriptor for one key: the current layer first, then Django's cached read path."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: LazySettings | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        layer = _layer.get()
        if layer is not None:
            for rows in layer:
                if self.name in rows:
                    return rows[self.name]
        try:
            # Django's own cache of this setting, read without LazyObject.__getattribute__'s detour.
            return _object_getattribute(instance, "__dict__")[self.name]
        except KeyError:
            return LazySettings.__getattr__(instance, self.name)

    # Never called (LazySettings defines __setattr__/__delattr__), but their presence makes this a *data*
    # descriptor, which is what lets it win over the values LazySettings caches in the instance __dict__.
    def __set__(self, instance: LazySettings, value: Any) -> None:  # pragma: no cover
        LazySettings.__setattr__(instance, self.name, value)

    def __delete__(self, instance: LazySettings) -> None:  # pragma: no cover
        LazySettings.__delattr__(instance, self.name)


def _overlay_class() -> type[LazySettings]:
    """The class of ``settings``, swapped once for a subclass that can carry descriptors."""
    current = type(settings)  # type() is not fooled by LazyObject's forwarded __class__
    if current.__dict__.get("_request_settings_overlay"):
        return current
    # Same __module__, __qualname__ and __name__ as the class it replaces: Django finds its own translation catalogs
    # through sys.modules[settings.__module__] (django/utils/translation/trans_real.py), and other code introspects.
    namespace = {
        "_request_settings_overlay": True,
        "__module__": current.__module__,
        "__qualname__": current.__qualname__,
        "__doc__": current.__doc__,
    }
    overlay = type(current.__name__, (current,), namespace)
    object.__dict__["__class__"].__set__(settings, overlay)
    return overlay


def is_installed() -> bool:
    return bool(type(settings).__dict__.get("_request_settings_overlay"))


def install() -> None:
    """Give ``django.conf.settings`` the overlay class (idempotent; called from ``AppConfig.ready()``)."""
    _overlay_class()


def make_overridable(key: str) -> None:
    """Let the layer answer for ``key``: one class attribute assignment, inert outside a layer."""
    cls = _overlay_class()
    if key in cls.__dict__:
        return
    if hasattr(LazySettings, key):
        raise ValueError(f"{key!r} is an attribute of django.conf.settings and cannot be overridden.")
    setattr(cls, key, _Overridable(key))


def is_overridable(key: str) -> bool:
    return isinstance(type(settings).__dict__.get(key), _Overridable)


def retain(keys: Collection[str]) -> None:
    """Remove the descriptors of keys outside ``keys`` and every open pin, so they never accumulate.

    Called after a full read of the table: a key nobody overrides any more goes back to Django's own read path.
    """
    cls = _overlay_class()
    for name, attribute in list(cls.__dict__.items()):
        if isinstance(attribute, _Overridable) and name not in keys and not _pinned_keys[name]:
            delattr(cls, name)


def current() -> Mapping[str, Any]:
    """The active layer as a read-only mapping (empty outside any layer)."""
    layer = _layer.get()
    if not layer:
        return EMPTY
    if len(layer) == 1:
        return MappingProxyType(dict(layer[0]))
    values: dict[str, Any] = {}
    for rows in reversed(layer):
        values.update(rows)
    return MappingProxyType(values)


def current_host() -> str | None:
    """The host whose layer is active: None outside any layer, ``""`` for the all-hosts layer."""
    return _host.get()


def push(layer: Layer | Mapping[str, Any], host: str | None = None) -> LayerToken:
    """Make ``layer`` (the one of ``host``) the current context's; its keys must be overridable (see ``freeze``)."""
    return _layer.set(layer if isinstance(layer, tuple) else (layer,)), _host.set(host)


def pop(token: LayerToken) -> None:
    layer_token, host_token = token
    _host.reset(host_token)
    _layer.reset(layer_token)


def freeze(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """An immutable layer of ``values``, with a descriptor installed for each of its keys."""
    for key in values:
        make_overridable(key)
    return MappingProxyType(dict(values))


def pins() -> Pins:
    return _pins.get()


def pin(host: str | None, values: Mapping[str, Any]) -> Token[Pins]:
    _pinned_keys.update(values.keys())
    return _pins.set((*_pins.get(), (host, freeze(values))))


def unpin(token: Token[Pins]) -> None:
    _pinned_keys.subtract(token.var.get()[-1][1].keys())
    _pins.reset(token)
