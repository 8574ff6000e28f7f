"""django-dynamic-preferences autodiscovers this module in each installed app (peer benchmark)."""

from __future__ import annotations

from dynamic_preferences.preferences import Section
from dynamic_preferences.registries import global_preferences_registry
from dynamic_preferences.types import IntegerPreference

bench = Section("bench")


@global_preferences_registry.register
class Limit(IntegerPreference):
    section = bench
    name = "limit"
    default = 10
