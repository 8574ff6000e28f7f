"""Exceptions raised by request_settings.

Each class subclasses what a caller would naturally catch: a misconfigured setting is
``ImproperlyConfigured`` (Django reports it as such) and a ``ValueError`` (it is a bad value);
a value that cannot be imported is also an ``ImportError``. The messages are built by the code
that raises them and always name the setting, the bad value and the fix.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class AppSettingsError(ImproperlyConfigured, ValueError):
    """Base class of the app-settings errors, so one ``except`` catches them all."""


class UnknownSettingError(AppSettingsError, AttributeError):
    """An upper-case name the app does not define; an ``AttributeError`` so ``hasattr`` works."""


class AppSettingsDeclarationError(AppSettingsError):
    """An ``AppSettings`` subclass has a bad prefix or defaults module; found when it is created."""


class DeprecationDeclarationError(AppSettingsDeclarationError):
    """A ``DeprecatedSetting`` or an app's ``deprecations`` tuple is inconsistent or mistyped."""


class DefaultValueTypeInvalid(AppSettingsError):
    """A value in the app's defaults module has the wrong type: the app author must fix it."""


class DefaultValueFormatInvalid(AppSettingsError):
    """A string in the app's defaults module has the wrong format: the app author must fix it."""


class DefaultValueNotImportable(AppSettingsError, ImportError):
    """A value in the app's defaults module names something that cannot be imported or found."""


class OverrideValueTypeInvalid(AppSettingsError):
    """A value in the project's settings has the wrong type: the project must fix it."""


class OverrideValueFormatInvalid(AppSettingsError):
    """A string in the project's settings has the wrong format: the project must fix it."""


class OverrideValueNotImportable(AppSettingsError, ImportError):
    """A value in the project's settings names something that cannot be imported or found."""


class InvalidHost(ValueError):
    """A host given to an entry point (admin, form, command, import, ``activate()``) that no request can have."""


class MissingHost(RuntimeError):
    """A task that names no host where one is required: a Celery task while ``REQUEST_SETTINGS_CELERY_REQUIRE_HOST``
    is True, a ``django.tasks`` task on a backend with ``request_settings_require_host``."""
