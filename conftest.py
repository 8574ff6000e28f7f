"""pytest runs every Python code block of README.md as a test (Sybil): see tests/doc_examples.py."""

from __future__ import annotations

from tests.doc_examples import collect_pages, doc_page, sybil_for

__all__ = ["doc_page"]  # the fixture the blocks of a page share, registered by being here

pytest_collect_file = collect_pages(sybil_for(["README.md"]))
