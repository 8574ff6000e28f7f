"""The machinery that runs the documentation's code blocks (tests/doc_examples.py), on pages written here."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from sybil.example import SybilFailure

from tests.doc_examples import PAGE, ROOT, Page, sybil_for


def evaluate(tmp_path, markdown, name="page.md"):
    """Run every block of a Markdown page, as the pytest integration would; the failures, by line."""
    page_file = tmp_path / name
    page_file.write_text(textwrap.dedent(markdown), encoding="utf-8")
    document = sybil_for([name], path=tmp_path).parse(page_file)
    page = Page(tmp_path / "files")
    page.folder.mkdir()
    failures = {}
    try:
        for example in document.examples():
            document.namespace[PAGE] = page
            try:
                example.evaluate()
            except SybilFailure as failure:
                failures[example.line] = failure.result
    finally:
        page.close()
    return failures, document.namespace


def test_the_plain_pytest_run_collects_every_block_of_the_readme():
    """tox and .ci/run call plain ``pytest``: README.md must be among its test paths."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "--continue-on-collection-errors",
            "-p",
            "no:randomly",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    collected = [line for line in result.stdout.splitlines() if line.startswith("README.md::")]
    parsed = list(sybil_for(["README.md"]).parse(ROOT / "README.md").examples())  # blocks, and directives too
    assert [f"README.md::line:{example.line},column:{example.column}" for example in parsed] == collected, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(collected) >= readme.count("```python\n") + readme.count("<!-- invisible-code-block: python\n") >= 8


def test_blocks_share_the_page_namespace_and_a_failing_one_is_reported_with_its_line(tmp_path):
    failures, namespace = evaluate(
        tmp_path,
        """\
        ```python
        greeting = "hello"
        ```

        <!-- invisible-code-block: python
        assert greeting == "hello"
        -->

        ```python
        assert greeting == "bonjour", greeting
        ```
        """,
    )
    assert list(failures) == [9]
    assert 'File "' + str(tmp_path / "page.md") + '", line 10' in failures[9]
    assert "AssertionError: hello" in failures[9]
    assert namespace["greeting"] == "hello"


def test_an_error_raised_while_handling_another_is_reported_not_an_internal_error(tmp_path):
    """Sybil's own traceback filter fails on this chain (simplistix/sybil#118); ours reports it as text."""
    failures, _ = evaluate(
        tmp_path,
        """\
        ```python
        def lookup(name):
            try:
                return {}[name]
            except KeyError:
                raise AttributeError(name)

        lookup("GREETING")
        ```
        """,
    )
    assert "KeyError: 'GREETING'" in failures[1]
    assert "During handling of the above exception, another exception occurred" in failures[1]
    assert failures[1].rstrip().endswith("AttributeError: GREETING")


def test_a_block_that_does_not_compile_is_reported(tmp_path):
    failures, _ = evaluate(tmp_path, "Text.\n\n```python\nsettings = [\n```\n")
    assert list(failures) == [3]
    assert "SyntaxError" in failures[3]


def test_a_block_headed_by_a_file_name_is_that_module_for_the_later_blocks(tmp_path):
    failures, _ = evaluate(
        tmp_path,
        """\
        ```python
        # shopapp/conf/defaults.py
        GREETING = "hello"
        ```

        ```python
        from shopapp.conf import defaults

        assert defaults.GREETING == "hello"
        assert defaults.__file__.endswith("shopapp/conf/defaults.py")
        ```
        """,
    )
    assert failures == {}
    assert (tmp_path / "files" / "shopapp" / "conf" / "__init__.py").exists()
    assert "shopapp.conf.defaults" not in sys.modules  # forgotten after the page
    assert str(tmp_path / "files") not in sys.path


@pytest.mark.parametrize(
    ("test", "reason"),
    [
        ("def test_wrong():\n    assert 1 + 1 == 3\n", "'failures': 1"),
        ('def test_later():\n    pytest.skip("not now")\n', "'skipped': 1"),
        ("def test_no_database():\n    User.objects.count()\n", "Database access not allowed"),
        # ALLOWED_HOSTS of a new project is empty: the test client gets a 400 for any other host.
        (
            "@pytest.mark.django_db\n"
            'def test_host(client):\n    assert client.get("/", HTTP_HOST="shop.example.com").status_code == 404\n',
            "400",
        ),
    ],
)
def test_a_test_module_block_must_pass_every_test_in_a_new_project(tmp_path, test, reason):
    source = "import pytest\nfrom django.contrib.auth.models import User\n\n\n" + test
    page = "```python\n" + source + "```\n"
    failures, _ = evaluate(tmp_path, page)
    assert list(failures) == [1]
    assert "should pass its 1 test(s) with tests.docs_settings" in failures[1]
    assert reason in failures[1]


def test_a_passing_test_module_block_runs_in_its_own_process(tmp_path):
    failures, namespace = evaluate(
        tmp_path,
        """\
        ```python
        import os

        from django.conf import settings


        def test_a_new_project():
            assert settings.SETTINGS_MODULE == "tests.docs_settings"
            assert settings.ALLOWED_HOSTS == ["testserver"]  # as startproject writes it, plus the test runner's
            assert os.getpid() != PARENT
        ```
        """.replace("PARENT", str(os.getpid())),
    )
    assert failures == {}
    assert "test_a_new_project" not in namespace  # a test module is not run in the page's namespace
