"""Per-request, per-host overrides of django.conf.settings, edited live by staff.

The public surface is small and imports nothing heavy: ``activate()``, ``wrap()``, ``current()`` and
``current_host()``.
"""

from __future__ import annotations

from request_settings.activation import activate, wrap
from request_settings.overlay import current, current_host

__all__ = ["activate", "current", "current_host", "wrap"]
__version__ = "0.1.0"
