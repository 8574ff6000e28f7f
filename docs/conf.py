"""Sphinx configuration of the documentation site (MyST Markdown, the furo theme).

Built in CI by ``tox -e docs`` with warnings as errors, so a broken internal link or cross-reference fails the build;
the pages' Python examples run as tests through Sybil (docs/conftest.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# autodoc imports the package, and its models need Django configured: the test suite's settings will do.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import request_settings  # noqa: E402

project = "django-request-settings"
author = "request_settings developers"
copyright = "request_settings developers, BSD-3-Clause"
release = request_settings.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "conftest.py"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# Pages include sections of README.md, whose headings start at level 2.
suppress_warnings = ["myst.header"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
# Nitpicky: a reference to one of our own names that does not resolve is an error. Names of Python, Django and other
# libraries are not checked (no intersphinx: the build must work offline).
nitpicky = True
# Private names (TypeVars such as ``_F`` in signatures) are not documented either.
nitpick_ignore_regex = [(r"py:.*", r"(?!request_settings\b).*"), (r"py:.*", r".*\._\w+")]

html_theme = "furo"
html_title = f"django-request-settings {release}"
