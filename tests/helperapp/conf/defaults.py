"""Defaults of the test app; projects override them as ``HELPERAPP_<NAME>``."""

from __future__ import annotations

GREETING = "hello"
PAGE_SIZE = 20
USER_MODEL = "auth.User"
SLUGIFY = "django.utils.text.slugify"
JSON_MODULE = "json"

# Deprecated but still working until 2.0 (see deprecations in settings.py).
ITEMS_PER_PAGE = 10
LEGACY_MODE = False
LEGACY_MODEL = "auth.Group"

# Mutable defaults: each reader gets its own copy, so no caller can change them for another.
TAGS = ["news"]
OPTIONS = {"nested": {"depth": 1}}
