"""The documentation's Python code blocks run as tests, through Sybil's pytest integration.

A conftest.py sets ``pytest_collect_file = collect_pages(sybil_for(patterns), ...)`` and imports the ``doc_page``
fixture: the repository's conftest.py does so for README.md, and pages under docs/ are added the same way (another
``sybil_for(...)``, with ``markup="myst"`` or ``"rest"`` for Sphinx sources). The blocks of a page run top to bottom
in one namespace and one database transaction, rolled back after the page, like the lines of a shell session. A
block runs one of three ways, from what it is:

- a block whose first line is ``# package/module.py`` is that file: it is written into a folder on ``sys.path`` for
  the length of the page and imported, so that later blocks can import it;
- a block that defines ``test*`` functions is a test module: it runs in a pytest process of its own, with the
  settings of a new project (tests/docs_settings.py), and it must collect its tests and pass them all, none skipped;
- any other block runs in the page's namespace.

Sybil's directives (HTML comments in Markdown) work in the pages: ``invisible-code-block: python`` for checks a reader
need not see, ``skip: next`` for a block that cannot run (check it another way), and ``clear-namespace``.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree

import pytest
from sybil import Example, Sybil
from sybil.evaluators import python as sybil_evaluators
from sybil.evaluators.python import PythonEvaluator, pad
from sybil.integration.pytest import pytest_integration
from sybil.typing import Parser

ROOT = Path(__file__).resolve().parent.parent
NEW_PROJECT_SETTINGS = "tests.docs_settings"
PAGE = "doc_page"  # the fixture, and the name under which Sybil puts it in each page's namespace
FILE_HEADER = re.compile(r"# (?P<path>(?:[A-Za-z_]\w*/)*[A-Za-z_]\w*)\.py\n")


def sybil_for(
    patterns: Sequence[str],
    *,
    markup: Literal["markdown", "myst", "rest"] = "markdown",
    test_settings: str = NEW_PROJECT_SETTINGS,
    extra_parsers: Sequence[Parser] = (),
    path: Path = ROOT,
) -> Sybil:
    """A Sybil for the pages matching ``patterns`` (relative to ``path``, the repository by default)."""
    parsers = importlib.import_module(f"sybil.parsers.{markup}")
    return Sybil(
        parsers=[
            parsers.CodeBlockParser("python", PythonBlock(test_settings)),
            parsers.SkipParser(),
            parsers.ClearNamespaceParser(),
            *extra_parsers,
        ],
        patterns=list(patterns),
        path=str(path),
        fixtures=[PAGE],
    )


def collect_pages(*sybils: Sybil) -> Callable[[Path, pytest.Collector], pytest.Collector | None]:
    """The ``pytest_collect_file`` hook of a conftest.py: Sybil's, with each page marked as using the database.

    pytest-django creates the test databases only for tests that ask for them; the blocks get theirs through the
    ``doc_page`` fixture, one transaction for the whole page.
    """
    collect = pytest_integration(*sybils)

    def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        page = collect(file_path, parent)
        if page is not None:
            page.add_marker(pytest.mark.django_db)
        return page

    return pytest_collect_file


class Page:
    """What the blocks of one page share besides their namespace: a folder of the files they are."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write_module(self, relative: str, source: str) -> None:
        """Write ``relative`` (``package/module.py``, packages created as needed), then import it."""
        target = self.folder / relative
        for package in reversed(Path(relative).parents[:-1]):
            (self.folder / package).mkdir(exist_ok=True)
            (self.folder / package / "__init__.py").touch()
        target.write_text(source, encoding="utf-8")
        if str(self.folder) not in sys.path:
            sys.path.insert(0, str(self.folder))
        name = relative.removesuffix(".py").replace("/", ".")
        sys.modules.pop(name, None)  # a page may show a file twice: the later version wins
        importlib.invalidate_caches()
        importlib.import_module(name)

    def close(self) -> None:
        """Forget the page's files: off ``sys.path``, out of ``sys.modules``."""
        if str(self.folder) in sys.path:
            sys.path.remove(str(self.folder))
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and Path(file).is_relative_to(self.folder):
                del sys.modules[name]


@pytest.fixture(scope="module")
def doc_page(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One page: its files, and one transaction per database around all its blocks, rolled back after them."""
    from django.db import connections, transaction

    from request_settings.testing import clear_snapshot

    page = Page(tmp_path_factory.mktemp("doc-page"))
    with django_db_blocker.unblock(), ExitStack() as transactions:
        for alias in connections:
            transactions.enter_context(transaction.atomic(using=alias))
            transactions.callback(transaction.set_rollback, True, using=alias)
        clear_snapshot()
        try:
            yield page
        finally:
            page.close()
            clear_snapshot()


class PythonBlock:
    """The evaluator of a page's Python blocks: a file, a test module, or code for the page's namespace."""

    def __init__(self, test_settings: str) -> None:
        self.test_settings = test_settings
        self.in_namespace = PythonEvaluator()

    def __call__(self, example: Example) -> str | None:
        try:
            return self._evaluate(example)
        except Exception as error:
            # Reported as text: Sybil's pytest traceback filter fails on some chained exceptions (an error raised
            # while handling another in a one-frame function) with an INTERNALERROR that ends the whole session.
            return _traceback_from_page(error)

    def _evaluate(self, example: Example) -> str | None:
        source = str(example.parsed)
        header = FILE_HEADER.match(source)
        if header is not None:
            example.namespace[PAGE].write_module(f"{header['path']}.py", _padded(example))
            return None
        expected = _test_count(source)
        if expected:
            return run_test_module(example, expected, self.test_settings)
        self.in_namespace(example)
        return None


def _traceback_from_page(error: Exception) -> str:
    """The traceback of ``error`` from the page's first frame on (this module's and Sybil's frames left out)."""
    frames = error.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename in (__file__, sybil_evaluators.__file__):
        frames = frames.tb_next
    return "".join(traceback.format_exception(type(error), error, frames))


def _padded(example: Example) -> str:
    """The block's source, shifted so that tracebacks show the page's line numbers."""
    return pad(str(example.parsed), example.line + example.parsed.line_offset)


def _test_count(source: str) -> int:
    """How many tests pytest collects from ``source`` at least: ``test*`` functions and ``Test*`` classes' methods."""
    count = 0
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            count += 1
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            count += sum(
                isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test")
                for item in node.body
            )
    return count


def run_test_module(example: Example, expected: int, settings_module: str) -> str | None:
    """Run the block as a test module of a project with ``settings_module``; a failure message, or None."""
    folder = example.namespace[PAGE].folder / f"test-module-line-{example.line}"
    folder.mkdir(exist_ok=True)
    page_name = re.sub(r"\W", "_", Path(example.path).stem.lower())
    module = folder / f"test_{page_name}_line_{example.line}.py"
    module.write_text(_padded(example), encoding="utf-8")
    # None of the repository's pytest options, and pytest-asyncio's default loop scope stated to keep it quiet.
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8")
    report = folder / "report.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        module.name,
        f"--ds={settings_module}",
        f"--junitxml={report}",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-W",
        "error::RuntimeWarning",
    ]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if report.exists():
        root = ElementTree.parse(report).getroot()
        suite = root.find("testsuite") if root.tag == "testsuites" else root
        if suite is not None:
            counts = {name: int(suite.get(name, "0")) for name in counts}
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    if result.returncode == 0 and counts["tests"] >= expected and passed == counts["tests"]:
        return None
    return (
        f"The test module at line {example.line} should pass its {expected} test(s) with {settings_module}; "
        f"pytest exited {result.returncode} with {counts}:\n{result.stdout}{result.stderr}"
    )
