"""Broken defaults, one per error family, for the Default* error tests."""

from __future__ import annotations

MODEL_TYPE = 42
MODEL_FORMAT = "auth"
MODEL_MISSING = "auth.Nope"
OBJECT_TYPE = ["django.utils.text.slugify"]
OBJECT_FORMAT = "slugify"
OBJECT_MISSING = "django.utils.text.nope"
MODULE_TYPE = None
MODULE_FORMAT = "not a module"
MODULE_MISSING = "tests.helperapp.no_such_module"
