"""Django's own test suite as our compatibility test: run its modules plain and with request_settings installed.

Usage (from the repository root; ``tox -e django-suite`` does this)::

    python -m tests.django_suite.run [--cache DIR] [--parallel N] [--variants plain,app] [--modules cache i18n]

Gets the source release of the installed Django (``pip download --no-binary``: the sdist carries ``tests/``) into a
cache folder outside the repository, writes a copy of its ``runtests.py`` that imports ``inject/suite_hooks.py``
(Django's own files are never edited), runs each variant, and fails when a test that passes plain does not pass in a
variant, unless ``excused.txt`` lists it with a reason.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from tests.django_suite.compare import (
    Comparison,
    Outcome,
    compare,
    last_line,
    parse_excuses,
    parse_outcomes,
    summary_table,
    unused_excuses,
)

HERE = Path(__file__).resolve().parent
INJECT = HERE / "inject"
EXCUSES = HERE / "excused.txt"
# The modules issue 9 names: settings, sessions, middleware, CSRF, requests, the admin, views, translations, signals,
# caches, auth, forms, templates, handlers and ASGI, where an overlay on settings or a middleware could show.
MODULES = [
    "settings_tests", "test_utils", "sessions_tests", "middleware", "csrf_tests", "requests_tests", "admin_views",
    "view_tests", "i18n", "signals", "cache", "auth_tests", "forms_tests", "template_tests", "handlers", "asgi",
]  # fmt: skip
MIDDLEWARE = "request_settings.middleware.RequestSettingsMiddleware"
COPY_NAME = "runtests_request_settings.py"
SHOWN = 50  # differences listed per variant on the terminal (a run that stopped early misses thousands)
ANCHOR = 'if __name__ == "__main__":'
INJECTED = "import suite_hooks  # noqa: E402\nsuite_hooks.install(globals())\n\n\n"


@dataclass(frozen=True)
class Variant:
    name: str
    apps: tuple[str, ...] = ()
    middleware: tuple[str, ...] = ()


VARIANTS = (
    Variant("plain"),
    Variant("app", apps=("request_settings",)),
    Variant("middleware", apps=("request_settings",), middleware=(MIDDLEWARE,)),
    # suite_rows (inject/) writes a few all-hosts rows of custom keys into every test database.
    Variant("rows", apps=("request_settings", "suite_rows"), middleware=(MIDDLEWARE,)),
)


def default_cache() -> Path:
    return Path(os.environ.get("DJANGO_SUITE_CACHE") or Path(tempfile.gettempdir()) / "request-settings-django-suite")


def django_tests(django_version: str, cache: Path) -> Path:
    """The ``tests/`` folder of Django's source release ``django_version``, downloaded and unpacked once."""
    root = cache / f"django-{django_version}"
    tests = root / "tests"
    if (tests / "runtests.py").exists():
        return tests
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / f"django-{django_version}.tar.gz"
    if not archive.exists():
        print(f"Downloading the source release of Django {django_version} into {downloads}", flush=True)
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet"]
        subprocess.run([*pip, f"Django=={django_version}", "--dest", str(downloads)], check=True)
    if not archive.exists():
        raise SystemExit(f"pip download did not leave {archive.name} in {downloads}.")
    with tarfile.open(archive) as tar:
        # The "data" filter refuses absolute paths and links out of the folder (Python >= 3.10.12).
        if hasattr(tarfile, "data_filter"):
            tar.extractall(cache, filter="data")
        else:  # pragma: no cover - old patch releases only
            tar.extractall(cache)
    if not (tests / "runtests.py").exists():
        raise SystemExit(f"{archive.name} has no tests/runtests.py.")
    return tests


def write_runtests_copy(tests: Path) -> Path:
    """A copy of Django's runtests.py whose module globals suite_hooks patches, next to the original."""
    source = (tests / "runtests.py").read_text(encoding="utf-8")
    if source.count(ANCHOR) != 1:
        raise SystemExit(f"runtests.py of this Django release has no single {ANCHOR!r}: update {__file__}.")
    copy = tests / COPY_NAME
    copy.write_text(source.replace(ANCHOR, INJECTED + ANCHOR), encoding="utf-8")
    return copy


def run_variant(variant: Variant, copy: Path, results: Path, parallel: int, modules: list[str]) -> tuple[float, float]:
    """Run one variant; its outcomes go to ``<results>/<name>/*.jsonl``, its output to ``<results>/<name>.log``.

    Returns the wall-clock and the CPU seconds it took (CPU time is what a busy shared machine does not inflate).
    """
    outcomes, log = results / variant.name, results / f"{variant.name}.log"
    shutil.rmtree(outcomes, ignore_errors=True)
    outcomes.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(INJECT), os.environ.get("PYTHONPATH")])),
        "DJANGO_SUITE_APPS": ",".join(variant.apps),
        "DJANGO_SUITE_MIDDLEWARE": ",".join(variant.middleware),
        "DJANGO_SUITE_OUTCOMES": str(outcomes),
    }
    command = [sys.executable, copy.name, f"--parallel={parallel}", "--noinput", *modules]
    print(f"{variant.name}: {' '.join(command)}  (log: {log})", flush=True)
    start, cpu_start = time.monotonic(), _children_cpu()
    with log.open("w", encoding="utf-8") as output:
        # Exit status 1 only says some test failed (some do as root, in every variant): the outcomes decide.
        subprocess.run(command, cwd=copy.parent, env=env, stdout=output, stderr=subprocess.STDOUT, check=False)
    return time.monotonic() - start, _children_cpu() - cpu_start


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def read_outcomes(folder: Path) -> dict[str, Outcome]:
    """The outcomes every process of a run wrote, one file each (see suite_hooks.record)."""
    lines: list[str] = []
    for path in sorted(folder.glob("*.jsonl")):
        lines.extend(path.read_text(encoding="utf-8").splitlines())
    return parse_outcomes(lines)


def finished(log: Path) -> bool:
    """unittest's closing "Ran N tests" line: without it the run stopped early (a worker's result failed to pickle,
    a crash at start-up), and the tests it never reached show as missing."""
    return any(line.startswith("Ran ") for line in log.read_text(encoding="utf-8", errors="replace").splitlines())


def report(comparisons: list[Comparison], results: Path) -> None:
    """Each difference in one line here; the full tracebacks in ``<results>/differences.txt``."""
    details = []
    for comparison in comparisons:
        for kind, items in (("DIFFERENCE", comparison.differences), ("excused", comparison.excused)):
            for number, item in enumerate(items):
                if number < SHOWN:
                    print(f"  {kind} [{comparison.variant}] {item.test_id}: {item.plain} -> {item.variant}"
                          f"  {last_line(item.detail)}")  # fmt: skip
                elif number == SHOWN:
                    print(f"  ... and {len(items) - SHOWN} more of [{comparison.variant}] in differences.txt")
                if kind == "DIFFERENCE":
                    details.append(f"== [{comparison.variant}] {item.test_id}: {item.plain} -> {item.variant}\n"
                                   f"{item.detail}\n")  # fmt: skip
    (results / "differences.txt").write_text("\n".join(details), encoding="utf-8")
    if details:
        print(f"Tracebacks of the differences: {results / 'differences.txt'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cache", type=Path, default=default_cache(), help="where the Django source release goes")
    # Twice the CPUs: the cache tests spend about a minute per run in time.sleep() (expiry), which other workers can
    # use; measured on 2 cores, 4 workers finish a variant sooner than 2.
    parser.add_argument(
        "--parallel", type=int, default=2 * (os.cpu_count() or 1), help="Django's --parallel (default: 2 x CPUs)"
    )
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS), help="comma-separated subset")
    parser.add_argument("--modules", nargs="+", default=MODULES, help="Django test modules or labels")
    args = parser.parse_args(argv)

    chosen = [variant for variant in VARIANTS if variant.name in args.variants.split(",")]
    if not chosen or chosen[0].name != "plain":
        parser.error(f"--variants must include plain (to compare with), from {[v.name for v in VARIANTS]}.")
    excuses = parse_excuses(EXCUSES.read_text(encoding="utf-8"))
    django_version = version("Django")
    tests = django_tests(django_version, args.cache.resolve())
    copy = write_runtests_copy(tests)
    results = tests.parent / "results"
    results.mkdir(exist_ok=True)
    print(f"Django {django_version}, {len(args.modules)} modules, --parallel={args.parallel}", flush=True)

    seconds: dict[str, tuple[float, float]] = {}
    outcomes = {}
    crashed = []
    for variant in chosen:
        seconds[variant.name] = run_variant(variant, copy, results, args.parallel, args.modules)
        outcomes[variant.name] = read_outcomes(results / variant.name)
        if not outcomes[variant.name] or not finished(results / f"{variant.name}.log"):
            crashed.append(variant.name)
        wall, cpu = seconds[variant.name]
        print(f"{variant.name}: {len(outcomes[variant.name])} tests in {wall:.0f} s ({cpu:.0f} s of CPU)", flush=True)

    plain = outcomes["plain"]
    comparisons = [compare(name, plain, found, excuses) for name, found in outcomes.items()]
    print()
    print(summary_table(comparisons, seconds))
    print()
    report(comparisons[1:], results)
    for test_id in unused_excuses(excuses, comparisons[1:]):
        print(f"  note: {test_id} is excused but differs in no variant run here")
    if crashed:
        print(f"FAILED: the run of {', '.join(crashed)} stopped before its end: see the log in {results}.")
        return 1
    different = sum(len(comparison.differences) for comparison in comparisons)
    if different:
        print(f"FAILED: {different} tests pass plain and not in a variant (fix them, or excuse an inherent one).")
        return 1
    print("OK: every test that passes plain passes in every variant.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
