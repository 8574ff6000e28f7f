"""Signals of request_settings. Never ``setting_changed``: its receivers reset process-wide caches."""

from __future__ import annotations

from django.dispatch import Signal

override_changed = Signal()
"""Sent once per committed change, after commit: ``sender`` (the override model), ``key``, ``host``, ``old_value``,
``new_value``, ``user``, ``created`` and ``deleted``."""
