"""Mutation testing of the core: would each module's own tests notice the module being wrong?

mutmut (pinned in tox.ini) generates the mutants, with its own operators on libcst; this script applies each mutant
to a private copy of the tree and runs that module's own test files in a fresh pytest process, at most ``--workers``
at a time. A mutant is killed when the tests fail (or time out), survives when they pass. mutmut's own runner is not
used: in fork mode it counts every mutant as killed (pytest-django's ``setup_test_environment()`` already ran in the
parent) and in forkserver mode code that runs at import (the module-level store, policy's validator builders) runs
before the mutant is switched on. A fresh process has neither problem.

Equivalent mutants (no test could tell them from the original) are listed with a reason in
``tests/mutation/equivalent.txt`` and leave the count: score = killed / (mutants - equivalent).

The working tree is never written: copies, the results and the cache live in ``--workdir`` (outside the tree).

    tox -e mutation                                   every module, score per module, fails under 90 %
    python tests/mutation/run.py hosts overlay        some modules
    python tests/mutation/run.py --show ID            the change a mutant makes
    python tests/mutation/run.py --rerun survivors    after adding tests: run again only what survived last time
    python tests/mutation/run.py --rerun none         the table of the last results, without running them again
"""

from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import hashlib
import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider
from mutmut.mutation.file_mutation import MutationVisitor
from mutmut.mutation.mutators import mutation_operators
from mutmut.mutation.pragma_handling import IgnoredCode

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = Path(__file__).with_name("equivalent.txt")

Run = tuple[tuple[str, ...], dict[str, str]]
"""One pytest process: its arguments and extra environment."""

SQLITE: dict[str, str] = {}
POSTGRES = {"REQUEST_SETTINGS_TEST_DB": "postgres"}
"""Concurrent writers and LISTEN/NOTIFY run only there."""
SAVEPOINT = "tests/test_store.py::test_a_failing_read_inside_a_transaction_does_not_break_it"
"""The savepoint around a read inside a transaction shows only on PostgreSQL: SQLite never aborts a transaction."""
MULTIDB: Run = (("--ds=tests.multidb.settings", "tests/multidb"), SQLITE)
"""The override model routed to a second database: its own settings, so its own process."""
REPLICA: Run = (("--ds=tests.multidb.replica_settings", "tests/multidb"), SQLITE)
"""Reads routed to a replica, writes to the primary."""

MODULES: dict[str, tuple[Run, ...]] = {
    "overlay": ((("tests/test_overlay.py",), SQLITE),),
    "middleware": ((("tests/test_middleware.py", "tests/test_preview.py"), SQLITE),),  # preview: the cookie's hooks
    "hosts": ((("tests/test_hosts.py",), SQLITE),),
    "store": (
        # timetable: the store's switch at a schedule's start or end
        (
            ("tests/test_store.py", "tests/test_invisible.py", "tests/test_broadcast.py", "tests/test_timetable.py"),
            SQLITE,
        ),
        MULTIDB,
        REPLICA,
        (("tests/test_store_postgres.py", SAVEPOINT), POSTGRES),
    ),
    "snapshot": ((("tests/test_snapshot.py", "tests/test_hosts.py"), SQLITE),),  # hosts: the Host-header memory
    "timetable": ((("tests/test_timetable.py", "tests/test_store.py"), SQLITE),),
    "changes": (
        (("tests/test_store.py", "tests/test_broadcast.py"), SQLITE),
        MULTIDB,
        REPLICA,
        (("tests/test_store_postgres.py", "tests/test_refresher.py"), POSTGRES),  # NOTIFY
    ),
    "refresher": (
        (("tests/test_refresher.py", "tests/test_broadcast.py"), SQLITE),
        (("tests/test_refresher.py",), POSTGRES),  # LISTEN
        MULTIDB,
    ),
    "broadcast": ((("tests/test_broadcast.py",), SQLITE),),
    "policy": (
        (
            (
                "tests/test_policy.py",
                "tests/test_validators.py",
                "tests/test_honored.py",
                "tests/test_refusals.py",
                "tests/test_values.py",
            ),
            SQLITE,
        ),
    ),
    "validators": ((("tests/test_validators.py", "tests/test_values.py", "tests/test_honored.py"), SQLITE),),
    # test_rights_paths: every path (admin, site form, effective page) asks rights, with GrantBackend installed
    "rights": ((("tests/test_rights.py", "tests/test_rights_paths.py"), SQLITE),),
    "backends": (
        (
            ("tests/test_backends.py", "tests/test_grants.py", "tests/test_rights.py", "tests/test_rights_paths.py"),
            SQLITE,
        ),
    ),
}
"""Each mutated module (request_settings/<name>.py) and the pytest processes of its own tests, fast and
module-scoped, run in this order: a mutant is killed as soon as one of them fails."""

PYTEST = (
    "-x",
    "-q",
    "--no-header",
    "-p",
    "no:randomly",
    "-p",
    "no:hypothesispytest",  # its import costs a second per process; @given works without it
)
MEMORY = 3 * 2**30
"""Bytes of data a test process may allocate (about 30 times what the suite needs)."""
IGNORED = shutil.ignore_patterns(
    ".git", ".tox", "__pycache__", "*.pyc", ".hypothesis", ".mypy_cache", ".ruff_cache", "node_modules", "htmlcov"
)


@dataclass
class Mutant:
    id: str
    module: str
    function: str
    line: int
    change: str
    source: str


class _Visitor(MutationVisitor):
    """mutmut's visitor, also inside decorated functions (mutmut skips them only because of its trampolines)."""

    def _skip_node_and_children(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef) and node.decorators:
            return False
        return bool(super()._skip_node_and_children(node))


def generate(module: str) -> list[Mutant]:
    """The mutants mutmut's operators make inside the functions and methods of ``request_settings/<module>.py``."""
    path = ROOT / "request_settings" / f"{module}.py"
    original = path.read_text()
    wrapper = MetadataWrapper(cst.parse_module(original))
    visitor = _Visitor(mutation_operators, IgnoredCode(set(), set(), set()))
    wrapper.visit(visitor)
    positions = wrapper.resolve(PositionProvider)
    names: dict[cst.CSTNode, str] = {}
    for statement in wrapper.module.body:
        if isinstance(statement, cst.FunctionDef):
            names[statement] = statement.name.value
        elif isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock):
            for method in statement.body.body:
                if isinstance(method, cst.FunctionDef):
                    names[method] = f"{statement.name.value}.{method.name.value}"
    mutants: list[Mutant] = []
    seen_sources: set[str] = set()
    occurrences: Counter[str] = Counter()
    for mutation in visitor.mutations:
        function = mutation.contained_by_top_level_function
        if not isinstance(function, cst.FunctionDef):  # module and class bodies: declarations, as mutmut does
            continue
        source = wrapper.module.deep_replace(mutation.original_node, mutation.mutated_node).code
        if source in seen_sources or source == original:
            continue
        try:
            compile(source, str(path), "exec")
        except SyntaxError:
            continue
        seen_sources.add(source)
        change = _change(original, source)
        name = names[function]
        occurrences[name + change] += 1
        digest = hashlib.sha256(f"{name}\n{change}\n{occurrences[name + change]}".encode()).hexdigest()[:8]
        line = positions[mutation.original_node].start.line
        mutants.append(Mutant(f"{module}:{name}:{digest}", module, name, line, change, source))
    return mutants


def _change(original: str, mutated: str) -> str:
    """The changed lines, stripped: what identifies a mutant across edits elsewhere in the file."""
    diff = difflib.unified_diff(original.splitlines(), mutated.splitlines(), n=0, lineterm="")
    return "\n".join(
        line[0] + " " + line[1:].strip() for line in diff if line[:1] in "-+" and not line.startswith(("---", "+++"))
    )


def read_equivalent() -> dict[str, str]:
    """``id -> reason`` from equivalent.txt; every entry must give its reason."""
    entries: dict[str, str] = {}
    for number, raw in enumerate(EQUIVALENT.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        mutant_id, _, reason = line.partition(" ")
        if not reason.strip():
            sys.exit(f"{EQUIVALENT.name}:{number}: {mutant_id} gives no reason.")
        entries[mutant_id] = reason.strip()
    return entries


class Copies:
    """One private copy of the tree per worker; a mutant is written into a copy and the original put back after."""

    def __init__(self, workdir: Path, count: int) -> None:
        self.free: queue.Queue[Path] = queue.Queue()
        for index in range(count):
            copy = workdir / f"tree-{index}"
            if copy.exists():
                shutil.rmtree(copy)
            shutil.copytree(ROOT, copy, ignore=IGNORED)
            self.free.put(copy)

    def run(self, module: str, source: str | None, timeout: float) -> tuple[str, float, str]:
        copy = self.free.get()
        target = copy / "request_settings" / f"{module}.py"
        original = target.read_text()
        try:
            if source is not None:
                target.write_text(source)
            total = 0.0
            for arguments, env in MODULES[module]:
                status, seconds, output = pytest_in(copy, arguments, env, timeout)
                total += seconds
                if status != "passed":
                    break
            return status, total, output
        finally:
            target.write_text(original)
            self.free.put(copy)


def pytest_in(copy: Path, arguments: tuple[str, ...], extra: dict[str, str], timeout: float) -> tuple[str, float, str]:
    """Run pytest with ``arguments`` in a fresh process importing the copy.

    ("passed" | "failed" | "timeout", seconds, output)
    """
    env = dict(
        os.environ,
        PYTHONPATH=str(copy),
        PYTHONDONTWRITEBYTECODE="1",
        # A missing PostgreSQL or Redis fails the unmutated run (and stops this script) instead of skipping tests.
        CI="true",
        # Each copy its own PostgreSQL test database: two workers, and other people's runs, never share one.
        REQUEST_SETTINGS_TEST_DB_NAME=f"test_request_settings_mutation_{copy.name.replace('-', '_')}",
        **extra,
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *PYTEST, "-m", _markers(extra), *arguments],
        cwd=copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a timeout kills the whole group
        preexec_fn=_limit_memory,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return "timeout", time.monotonic() - started, output
    seconds = time.monotonic() - started
    if process.returncode == 0:
        return "passed", seconds, output
    if process.returncode in (4, 5):  # usage error, no tests: a problem of this script, not a kill
        raise SystemExit(f"pytest could not run {' '.join(arguments)} (exit {process.returncode}):\n{output}")
    return "failed", seconds, output


def _markers(extra: dict[str, str]) -> str:
    """The suite's own selection; a PostgreSQL run keeps the tests marked ``postgres`` (tox -e postgres does too)."""
    postgres = extra.get("REQUEST_SETTINGS_TEST_DB") == "postgres"
    return "not browser and not load" if postgres else "not postgres and not browser and not load"


def _limit_memory() -> None:
    # A mutant that loops while appending would take the shared machine's memory long before its timeout.
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY, MEMORY))


def fingerprint(module: str) -> str:
    """What a mutant's result depends on besides its own source: the package, the test settings and helpers, and the
    module's own test files (other test files and other folders of tests/ left out, so others' work there keeps it)."""
    digest = hashlib.sha256()
    paths = [
        *ROOT.glob("request_settings/**/*"),
        *ROOT.glob("tests/*.py"),
        *ROOT.glob("tests/helperapp/**/*"),
        ROOT / "pyproject.toml",
        ROOT / "conftest.py",
    ]
    arguments = [argument for run_arguments, _env in MODULES[module] for argument in run_arguments]
    own_tests = {ROOT / argument for argument in arguments if (ROOT / argument).exists()}
    paths.extend(path for own in own_tests if own.is_dir() for path in own.rglob("*"))
    for path in sorted(set(paths)):
        if not path.is_file() or "__pycache__" in path.parts or path == ROOT / "request_settings" / f"{module}.py":
            continue
        if path.name.startswith("test_") and path not in own_tests and not own_tests & set(path.parents):
            continue
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class Score:
    module: str
    total: int
    killed: int
    equivalent: int
    survivors: list[Mutant]
    wrongly_listed: list[str]

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / (self.total - self.equivalent) if self.total > self.equivalent else 100.0


class Session:
    """One run: the copies, the results file (kept between runs as a cache), the equivalent list."""

    def __init__(self, workdir: Path, workers: int, rerun: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.rerun = rerun
        self.equivalent = read_equivalent()
        self.results_path = workdir / "results.json"
        self.results: dict[str, dict[str, str]] = (
            json.loads(self.results_path.read_text()) if self.results_path.exists() else {}
        )
        self.copies = Copies(workdir, workers)
        self.lock = threading.Lock()
        self.finished = 0

    def check_baseline(self, module: str) -> float:
        """The tests import the copy, and pass without any mutant: their duration."""
        copy = self.copies.free.get()
        self.copies.free.put(copy)
        origin = subprocess.run(
            [sys.executable, "-c", "import request_settings; print(request_settings.__file__)"],
            cwd=copy,
            env=dict(os.environ, PYTHONPATH=str(copy)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not origin.startswith(str(copy)):
            sys.exit(f"The tests import request_settings from {origin}, not from the copy {copy}.")
        status, seconds, output = self.copies.run(module, None, timeout=1800)
        if status != "passed":
            sys.exit(f"{module}: its tests fail without any mutant:\n{output}")
        return seconds

    def score(self, module: str, mutants: list[Mutant]) -> Score:
        base = fingerprint(module)
        keys = {m.id: hashlib.sha256((base + m.source).encode()).hexdigest() for m in mutants}
        todo = [m for m in mutants if not self._reusable(m.id, keys[m.id])]
        seconds = self.check_baseline(module) if todo else 0.0
        timeout = max(60.0, 5 * seconds)
        print(
            f"{module}: {len(mutants)} mutants, {len(todo)} to run "
            f"(tests take {seconds:.1f} s unmutated, timeout {timeout:.0f} s)",
            flush=True,
        )
        self.finished = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(self._run_one, m, keys[m.id], timeout, len(todo)) for m in todo]
            for future in futures:
                future.result()
        statuses = {m.id: self.results[m.id]["status"] for m in mutants}
        listed = [m.id for m in mutants if m.id in self.equivalent]
        return Score(
            module,
            len(mutants),
            sum(1 for status in statuses.values() if status in ("killed", "timeout")),
            sum(1 for mutant_id in listed if statuses[mutant_id] == "survived"),  # a killed one counts as killed
            [m for m in mutants if statuses[m.id] == "survived" and m.id not in self.equivalent],
            [mutant_id for mutant_id in listed if statuses[mutant_id] != "survived"],
        )

    def _reusable(self, mutant_id: str, key: str) -> bool:
        earlier = self.results.get(mutant_id)
        if earlier is None or self.rerun == "all":
            return False
        if self.rerun == "none":
            return True
        return earlier["key"] == key or (self.rerun == "survivors" and earlier["status"] != "survived")

    def _run_one(self, mutant: Mutant, key: str, timeout: float, count: int) -> None:
        status, _seconds, _output = self.copies.run(mutant.module, mutant.source, timeout)
        outcome = {"passed": "survived", "failed": "killed", "timeout": "timeout"}[status]
        with self.lock:
            self.results[mutant.id] = {"status": outcome, "key": key}
            self.results_path.write_text(json.dumps(self.results, indent=0, sort_keys=True))
            self.finished += 1
            if outcome == "survived" and mutant.id not in self.equivalent:
                print(f"  survived {mutant.id}  line {mutant.line}: {mutant.change}", flush=True)
            if self.finished % 25 == 0:
                print(f"  {mutant.module}: {self.finished}/{count}", flush=True)


def describe(mutant: Mutant) -> str:
    return f"{mutant.id}  request_settings/{mutant.module}.py:{mutant.line}\n{mutant.change}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"some of: {', '.join(MODULES)} (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "request_settings-mutation")
    parser.add_argument("--fail-under", type=float, default=None, help="exit 1 if a module scores below this %%")
    parser.add_argument(
        "--rerun",
        choices=["changed", "survivors", "all", "none"],
        default="changed",
        help="changed (default): reuse a result only if nothing it depends on changed; survivors: "
        "also keep every earlier kill (quick, after adding tests); all: run every mutant; none: report the last "
        "results (run only mutants that have none)",
    )
    parser.add_argument("--show", metavar="ID", help="print one mutant's change and exit")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args()
    modules = args.modules or list(MODULES)
    unknown = set(modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown modules: {', '.join(sorted(unknown))}")
    workdir = args.workdir.resolve()
    if workdir == ROOT or ROOT in workdir.parents:
        parser.error("--workdir must be outside the working tree")

    mutants = {module: generate(module) for module in (list(MODULES) if args.show else modules)}
    if args.show or args.list:
        for module_mutants in mutants.values():
            for mutant in module_mutants:
                if args.list or mutant.id == args.show:
                    print(describe(mutant))
        return 0

    session = Session(workdir, args.workers, args.rerun)
    scores = [session.score(module, mutants[module]) for module in modules]

    print("\nSurviving mutants (not listed as equivalent):")
    for score in scores:
        for mutant in score.survivors:
            print(describe(mutant))
    generated = {m.id for module_mutants in mutants.values() for m in module_mutants}
    stale = [i for i in session.equivalent if i.split(":")[0] in modules and i not in generated]
    for score in scores:
        for mutant_id in score.wrongly_listed:
            print(f"Listed as equivalent, but the tests kill it: {mutant_id}")
    for mutant_id in stale:
        print(f"Listed as equivalent, but no longer generated: {mutant_id}")

    print(f"\n{'module':<12}{'mutants':>9}{'killed':>8}{'equivalent':>12}{'survived':>10}{'score':>9}")
    for score in scores:
        print(
            f"{score.module:<12}{score.total:>9}{score.killed:>8}{score.equivalent:>12}"
            f"{len(score.survivors):>10}{score.percent:>8.1f}%"
        )
    below = args.fail_under is not None and any(score.percent < args.fail_under for score in scores)
    return 1 if below or stale or any(score.wrongly_listed for score in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
