"""The extras are optional: without Django REST framework and django-debug-toolbar the core imports, starts and
checks silently; the modules that need them say which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Blocks the extras' packages in a fresh interpreter, as if they were not installed (None in sys.modules makes
# their import raise ImportError), then turns every warning into an error.
PRELUDE = """
import sys, warnings
for name in ("rest_framework", "drf_spectacular", "debug_toolbar"):
    sys.modules[name] = None
warnings.simplefilter("error")
import django
django.setup()
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", PRELUDE + textwrap.dedent(code)],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_core_module_imports_without_the_extras_and_without_a_warning():
    result = run(
        """
        import importlib, pkgutil
        import request_settings
        from django.core.management import call_command
        optional = ("request_settings.api", "request_settings.contrib.")
        names = [
            module.name
            for module in pkgutil.walk_packages(request_settings.__path__, "request_settings.")
            if not module.name.startswith(optional)
        ]
        for name in names:
            importlib.import_module(name)
        call_command("check")
        leaked = [name for name in ("rest_framework", "drf_spectacular", "debug_toolbar") if sys.modules[name]]
        print(len(names), "modules", leaked)
        """
    )

    assert result.returncode == 0, result.stderr
    count, _, leaked = result.stdout.strip().splitlines()[-1].partition(" modules ")
    assert int(count) > 20
    assert leaked == "[]"
    assert "Warning" not in result.stderr


@pytest.mark.parametrize(
    ("module", "extra"),
    [("request_settings.api.urls", "api"), ("request_settings.contrib.debug_toolbar", "toolbar")],
)
def test_an_optional_module_without_its_extra_names_the_extra_to_install(module, extra):
    result = run(
        f"""
        try:
            import {module}
        except ImportError as error:
            print(error)
        """
    )

    assert result.returncode == 0, result.stderr
    assert f"pip install 'django-request-settings[{extra}]'" in result.stdout
