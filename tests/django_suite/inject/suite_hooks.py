"""Imported by the harness's copy of Django's ``runtests.py``: the variant's apps and middleware, and a recorder.

``run.py`` writes the copy with two lines added before its ``if __name__ == "__main__":``::

    import suite_hooks
    suite_hooks.install(globals())

The variant comes from the environment (set by ``run.py``), so one copy serves every variant; under the "spawn"
start method each worker re-imports the copy and gets the same patch.
"""

from __future__ import annotations

import json
import os
import traceback
import unittest
from types import TracebackType
from typing import IO, Any

from django.test.runner import DiscoverRunner

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


class RecordingResult(unittest.TextTestResult):
    """The usual text result that also writes one JSON line per outcome to the file named by DJANGO_SUITE_OUTCOMES.

    Under --parallel, the workers' events are replayed on this object in the main process, so every test of every
    worker comes through here, and test output printed by workers cannot garble the record (unlike ``-v 2`` lines).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        path = os.environ.get(OUTCOMES_VARIABLE)
        self._record_file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def _record(self, test: unittest.TestCase, outcome: str, err: ErrorInfo | None = None, label: str = "") -> None:
        if self._record_file is None:
            return
        line = {"id": test.id(), "outcome": outcome}
        if err is not None:
            line["detail"] = label + "".join(traceback.format_exception(*err))
        self._record_file.write(json.dumps(line) + "\n")
        self._record_file.flush()

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._record(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: ErrorInfo) -> None:
        super().addFailure(test, err)
        self._record(test, "fail", err)

    def addError(self, test: unittest.TestCase, err: ErrorInfo) -> None:
        super().addError(test, err)
        self._record(test, "error", err)

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skip")

    def addExpectedFailure(self, test: unittest.TestCase, err: ErrorInfo) -> None:
        super().addExpectedFailure(test, err)
        self._record(test, "xfail")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "xpass")

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: ErrorInfo | None) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            # A failed subtest fails its test (unittest then never calls addSuccess for it): record it under the
            # test's own id, with the subtest's parameters in the detail.
            failed = err[0] is not None and issubclass(err[0], test.failureException)
            self._record(test, "fail" if failed else "error", err, label=f"{subtest}\n")

    def stopTestRun(self) -> None:
        super().stopTestRun()
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None


class RecordingRunner(DiscoverRunner):
    def get_resultclass(self) -> type[unittest.TextTestResult] | None:
        chosen = super().get_resultclass()
        if chosen is not None:  # --debug-sql or --pdb asked for Django's own result class: keep it
            return chosen
        return RecordingResult
