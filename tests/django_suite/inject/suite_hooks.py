"""Imported by the harness's copy of Django's ``runtests.py``: the variant's apps and middleware, and a recorder.

``run.py`` writes the copy with two lines added before its ``if __name__ == "__main__":``::

    import suite_hooks
    suite_hooks.install(globals())

The variant comes from the environment (set by ``run.py``), so one copy serves every variant; under the "spawn"
start method each worker re-imports the copy and gets the same patch.

Outcomes are recorded by the process that runs the test, one JSON line per outcome in ``<pid>.jsonl`` of the folder
named by DJANGO_SUITE_OUTCOMES. Not in the main process under --parallel: Django replays a worker's events there by
position (``RemoteTestResult.test_index``), and a class skipped or failed in ``setUpClass`` shifts the positions, so
the replayed outcomes can land on the wrong test names. Not from ``-v 2`` lines either: workers' own output
interleaves with them.
"""

from __future__ import annotations

import json
import os
import traceback
import unittest
from pathlib import Path
from types import TracebackType
from typing import Any

from django.test.runner import DiscoverRunner, ParallelTestSuite, RemoteTestResult, RemoteTestRunner

APPS_VARIABLE = "DJANGO_SUITE_APPS"
MIDDLEWARE_VARIABLE = "DJANGO_SUITE_MIDDLEWARE"
OUTCOMES_VARIABLE = "DJANGO_SUITE_OUTCOMES"

ErrorInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


def _names(variable: str) -> list[str]:
    return [name for name in os.environ.get(variable, "").split(",") if name]


def install(namespace: dict[str, Any]) -> None:
    """Patch the globals of the runtests copy: apps appended, middleware put first, the recording runner."""
    namespace["ALWAYS_INSTALLED_APPS"].extend(_names(APPS_VARIABLE))
    namespace["ALWAYS_MIDDLEWARE"][:0] = _names(MIDDLEWARE_VARIABLE)
    # runtests.py asks get_runner(settings) for the runner class; answer with ours (same runner, plus a recorder).
    namespace["get_runner"] = lambda settings, test_runner_class=None: RecordingRunner


def record(test: unittest.TestCase, outcome: str, err: ErrorInfo | None = None, label: str = "") -> None:
    """Append one outcome to this process's file (one file per process: no two writers share one)."""
    folder = os.environ.get(OUTCOMES_VARIABLE)
    if not folder:
        return
    line: dict[str, str] = {"id": test.id(), "outcome": outcome}
    if err is not None:
        line["detail"] = label + "".join(traceback.format_exception(*err))
    with (Path(folder) / f"{os.getpid()}.jsonl").open("a", encoding="utf-8") as output:
        output.write(json.dumps(line) + "\n")


class Recorder(unittest.TestResult):
    """Records every outcome, then lets the result class it is mixed into do its usual work."""

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        record(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: ErrorInfo) -> None:
        super().addFailure(test, err)
        record(test, "fail", err)

    def addError(self, test: unittest.TestCase, err: ErrorInfo) -> None:
        super().addError(test, err)
        record(test, "error", err)

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        record(test, "skip")

    def addExpectedFailure(self, test: unittest.TestCase, err: ErrorInfo) -> None:
        super().addExpectedFailure(test, err)
        record(test, "xfail")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        record(test, "xpass")

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: ErrorInfo | None) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            # A failed subtest fails its test (unittest then never calls addSuccess for it): record it under the
            # test's own id, with the subtest's parameters in the detail.
            failed = err[0] is not None and issubclass(err[0], test.failureException)
            record(test, "fail" if failed else "error", err, label=f"{subtest}\n")


class RecordingResult(Recorder, unittest.TextTestResult):
    """The main process's result when the tests run in it (no --parallel, or a single test case)."""


class RecordingRemoteResult(Recorder, RemoteTestResult):
    """A --parallel worker's result: records where the test object is the real one."""


class RecordingRemoteRunner(RemoteTestRunner):
    resultclass = RecordingRemoteResult


class RecordingParallelTestSuite(ParallelTestSuite):
    runner_class = RecordingRemoteRunner


class RecordingRunner(DiscoverRunner):
    parallel_test_suite = RecordingParallelTestSuite

    def get_resultclass(self) -> type[unittest.TextTestResult] | None:
        chosen = super().get_resultclass()
        if chosen is not None or self.parallel > 1:
            # --debug-sql/--pdb chose Django's own class; under --parallel the workers record, and the events
            # replayed here must not be recorded twice.
            return chosen
        return RecordingResult
