"""A module that fails on import with something other than ImportError, as a broken project module can."""

from __future__ import annotations

raise RuntimeError("this module fails on import")
