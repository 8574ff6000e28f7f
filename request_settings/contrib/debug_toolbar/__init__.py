"""The django-debug-toolbar panel (extra ``toolbar``): what this request's settings layer holds, and why.

Add ``"request_settings.contrib.debug_toolbar"`` to INSTALLED_APPS (for its template) and
``"request_settings.contrib.debug_toolbar.RequestSettingsPanel"`` to ``DEBUG_TOOLBAR_PANELS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import debug_toolbar  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by tests/test_api_optional.py
    raise ImportError(
        "request_settings.contrib.debug_toolbar needs django-debug-toolbar: "
        "pip install 'django-request-settings[toolbar]'"
    ) from error

if TYPE_CHECKING:
    from request_settings.contrib.debug_toolbar.panel import RequestSettingsPanel

__all__ = ["RequestSettingsPanel"]


def __getattr__(name: str) -> Any:
    # The panel module imports the toolbar's panel machinery: load it when the toolbar asks, not with the app.
    if name == "RequestSettingsPanel":
        from request_settings.contrib.debug_toolbar.panel import RequestSettingsPanel

        return RequestSettingsPanel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
