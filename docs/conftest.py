"""pytest runs every Python code block of the documentation pages (Sybil), like README.md's: see
tests/doc_examples.py for how blocks run (one namespace and one rolled-back transaction per page). The ``doc_page``
fixture they share comes from the repository's conftest.py."""

from __future__ import annotations

from pathlib import Path

from tests.doc_examples import collect_pages, sybil_for

pytest_collect_file = collect_pages(sybil_for(["*.md", "**/*.md"], markup="myst", path=Path(__file__).resolve().parent))
