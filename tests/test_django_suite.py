"""The rules the django-suite env fails on (tests/django_suite/compare.py): outcomes, differences, excuses."""

from __future__ import annotations

import io
import json
import unittest
from pathlib import Path

import pytest

from tests.django_suite.compare import (
    Outcome,
    compare,
    last_line,
    parse_excuses,
    parse_outcomes,
    summary_table,
    unused_excuses,
)
from tests.django_suite.run import ANCHOR, INJECTED, MODULES, VARIANTS, read_outcomes, write_runtests_copy


def lines(*records: tuple[str, str] | tuple[str, str, str]) -> list[str]:
    return [json.dumps(dict(zip(("id", "outcome", "detail"), record, strict=False))) for record in records]


def outcomes(**by_id: str) -> dict[str, Outcome]:
    return {test_id.replace("__", "."): Outcome(outcome) for test_id, outcome in by_id.items()}


def test_parse_keeps_the_worst_outcome_of_a_test_and_its_detail():
    parsed = parse_outcomes(
        [
            *lines(("a.T.test_sub", "fail", "i=1\nAssertionError: 1 != 2"), ("a.T.test_ok", "pass")),
            "",
            *lines(("a.T.test_sub", "pass"), ("a.T.test_err", "skip"), ("a.T.test_err", "error", "boom")),
        ]
    )
    assert parsed == {
        "a.T.test_sub": Outcome("fail", "i=1\nAssertionError: 1 != 2"),
        "a.T.test_ok": Outcome("pass"),
        "a.T.test_err": Outcome("error", "boom"),
    }


def test_parse_refuses_an_unknown_outcome_naming_it():
    with pytest.raises(ValueError, match=r"Line 1: unknown outcome 'passed'"):
        parse_outcomes(lines(("a.T.test", "passed")))


def test_a_test_passing_plain_differs_when_it_fails_errors_skips_or_vanishes():
    plain = outcomes(m__ok="pass", m__fails="pass", m__errors="pass", m__skips="pass", m__gone="pass")
    variant = outcomes(m__ok="pass", m__fails="fail", m__errors="error", m__skips="skip")
    result = compare("app", plain, variant, {})
    assert [(d.test_id, d.plain, d.variant) for d in result.differences] == [
        ("m.errors", "pass", "error"),
        ("m.fails", "pass", "fail"),
        ("m.gone", "pass", "missing"),
        ("m.skips", "pass", "skip"),
    ]
    assert result.excused == []


def test_tests_not_passing_plain_are_no_difference_but_new_errors_are():
    plain = outcomes(m__root="fail", m__skipped="skip", m__xfail="xfail")
    variant = {
        **outcomes(m__root="error", m__skipped="fail", m__xfail="xpass"),
        "unittest.loader._FailedTest.m2": Outcome("error", "ImportError: no module"),
        "m.new_pass": Outcome("pass"),
    }
    result = compare("middleware", plain, variant, {})
    assert [(d.test_id, d.plain, d.variant, d.detail) for d in result.differences] == [
        ("unittest.loader._FailedTest.m2", "missing", "error", "ImportError: no module")
    ]


def test_an_excused_difference_is_counted_apart_and_stale_excuses_are_found():
    excuses = parse_excuses(
        "# comment\n\nsignals.T.test_no_receivers  asserts post_save has no receivers\nm.fixed  was a bug\n"
    )
    assert excuses == {"signals.T.test_no_receivers": "asserts post_save has no receivers", "m.fixed": "was a bug"}
    plain = outcomes(signals__T__test_no_receivers="pass", m__fixed="pass", m__broken="pass")
    variant = outcomes(signals__T__test_no_receivers="fail", m__fixed="pass", m__broken="error")
    result = compare("app", plain, variant, excuses)
    assert [d.test_id for d in result.differences] == ["m.broken"]
    assert [d.test_id for d in result.excused] == ["signals.T.test_no_receivers"]
    assert unused_excuses(excuses, [result]) == ["m.fixed"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("m.T.test_a\n", r"line 1: 'm.T.test_a' has no reason"),
        ("# x\nm.T.test_a  why\nm.T.test_a  again\n", r"line 3: 'm.T.test_a' is listed twice"),
    ],
)
def test_an_excuse_needs_one_line_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_excuses(text)


def test_the_reviewed_excuse_file_parses_and_every_entry_names_a_test_of_the_modules_run():
    excuses = parse_excuses((Path(__file__).parent / "django_suite" / "excused.txt").read_text(encoding="utf-8"))
    assert all(test_id.split(".")[0] in MODULES for test_id in excuses)


def test_summary_table_counts_per_variant():
    plain = outcomes(m__a="pass", m__b="pass", m__c="skip", m__d="fail")
    variant = outcomes(m__a="error", m__b="fail", m__c="skip", m__d="fail")
    table = summary_table(
        [compare("plain", plain, plain, {}), compare("app", plain, variant, {"m.b": "why"})], {"plain": (9.6, 15.2)}
    )
    assert table.splitlines()[0].split() == [
        "variant", "tests", "run", "failures", "errors", "skipped", "differences", "excused", "seconds", "cpu", "s"
    ]  # fmt: skip
    assert table.splitlines()[2].split() == ["plain", "4", "1", "0", "1", "0", "0", "10", "15"]
    assert table.splitlines()[3].split() == ["app", "4", "2", "1", "1", "1", "1", "0", "0"]


def test_last_line_is_the_exception_line():
    assert last_line("Traceback (most recent call last):\n  File x\nKeyError: 'a'\n\n") == "KeyError: 'a'"
    assert last_line("") == ""


def test_the_variants_add_the_app_then_the_middleware_first_then_rows():
    assert [(v.name, v.apps, v.middleware) for v in VARIANTS] == [
        ("plain", (), ()),
        ("app", ("request_settings",), ()),
        ("middleware", ("request_settings",), ("request_settings.middleware.RequestSettingsMiddleware",)),
        ("rows", ("request_settings", "suite_rows"), ("request_settings.middleware.RequestSettingsMiddleware",)),
    ]


def test_the_runtests_copy_leaves_djangos_file_alone_and_patches_before_main(tmp_path):
    original = 'ALWAYS_MIDDLEWARE = []\n\n\nif __name__ == "__main__":\n    main()\n'
    (tmp_path / "runtests.py").write_text(original)
    copy = write_runtests_copy(tmp_path)
    assert (tmp_path / "runtests.py").read_text() == original
    assert copy.read_text() == original.replace(ANCHOR, INJECTED + ANCHOR)
    assert copy.read_text().index("suite_hooks.install(globals())") < copy.read_text().index(ANCHOR)


def test_the_runtests_copy_refuses_an_unknown_layout(tmp_path):
    (tmp_path / "runtests.py").write_text("main()\n")
    with pytest.raises(SystemExit, match="no single"):
        write_runtests_copy(tmp_path)


@pytest.fixture
def hooks(tmp_path, monkeypatch):
    """suite_hooks as Django's test process imports it, recording into tmp_path."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "django_suite" / "inject"))
    import suite_hooks

    monkeypatch.setenv(suite_hooks.OUTCOMES_VARIABLE, str(tmp_path))
    return suite_hooks


def test_the_recorder_writes_one_line_per_outcome_that_parse_reads(hooks, tmp_path):
    class Sample(unittest.TestCase):
        def test_pass(self):
            pass

        def test_fail(self):
            self.assertEqual(1, 2)

        def test_error(self):
            raise KeyError("boom")

        @unittest.skip("not here")
        def test_skip(self):
            pass

        def test_subtest(self):
            for i in range(2):
                with self.subTest(i=i):
                    self.assertEqual(i, 0)

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Sample)
    unittest.TextTestRunner(stream=io.StringIO(), resultclass=hooks.RecordingResult).run(suite)
    parsed = read_outcomes(tmp_path)
    name = f"{Sample.__module__}.{Sample.__qualname__}"
    assert {test_id.removeprefix(name + "."): o.outcome for test_id, o in parsed.items()} == {
        "test_pass": "pass",
        "test_fail": "fail",
        "test_error": "error",
        "test_skip": "skip",
        "test_subtest": "fail",
    }
    assert last_line(parsed[f"{name}.test_error"].detail) == "KeyError: 'boom'"
    # The failing subtest's own name and parameters (Python 3.10 names the class only, 3.11+ the method too).
    first_line = parsed[f"{name}.test_subtest"].detail.splitlines()[0]
    assert first_line.startswith(f"test_subtest ({name}") and first_line.endswith("(i=1)")


def test_a_parallel_worker_records_the_real_test_names(hooks, tmp_path):
    """Django replays a worker's events by position, and a class skipped in setUpClass shifts the positions (the
    skip lands on the test before it): the worker itself records, under each test's own name."""

    class SkippedInSetUpClass(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise unittest.SkipTest("no backend")

        def test_never_run(self):
            pass

    class AfterTheSkippedClass(unittest.TestCase):
        def test_a(self):
            pass

        @unittest.skip("not here")
        def test_b(self):
            pass

    suite = unittest.TestSuite(
        [SkippedInSetUpClass("test_never_run"), AfterTheSkippedClass("test_a"), AfterTheSkippedClass("test_b")]
    )
    hooks.RecordingRemoteRunner().run(suite)
    skipped, after = (f"{cls.__module__}.{cls.__qualname__}" for cls in (SkippedInSetUpClass, AfterTheSkippedClass))
    assert {test_id: o.outcome for test_id, o in read_outcomes(tmp_path).items()} == {
        f"setUpClass ({skipped})": "skip",
        f"{after}.test_a": "pass",
        f"{after}.test_b": "skip",
    }


def test_the_main_process_records_only_when_no_worker_does(hooks):
    from django.test.runner import DebugSQLTextTestResult

    assert hooks.RecordingRunner(parallel=1).get_resultclass() is hooks.RecordingResult
    assert hooks.RecordingRunner(parallel=2).get_resultclass() is None
    assert hooks.RecordingRunner(parallel=1, debug_sql=True).get_resultclass() is DebugSQLTextTestResult
    assert hooks.RecordingRunner.parallel_test_suite.runner_class is hooks.RecordingRemoteRunner
