"""The pure part of the harness: read recorded outcomes, compare a variant with the plain run, apply the excuses.

Kept free of I/O beyond parsing strings, so ``tests/test_django_suite.py`` can test the rules the env fails on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Worst wins when one test reports several outcomes (a failed subtest, then the test's own result).
RANK = {"pass": 0, "xfail": 1, "skip": 2, "xpass": 3, "fail": 4, "error": 5}
MISSING = "missing"
BAD = frozenset({"fail", "error"})


@dataclass(frozen=True)
class Outcome:
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class Difference:
    test_id: str
    plain: str
    variant: str
    detail: str = ""


@dataclass
class Comparison:
    variant: str
    counts: Counter[str]
    differences: list[Difference] = field(default_factory=list)
    excused: list[Difference] = field(default_factory=list)

    @property
    def run(self) -> int:
        return sum(self.counts.values())


def parse_outcomes(lines: Iterable[str]) -> dict[str, Outcome]:
    """JSON lines ``{"id", "outcome", "detail"?}`` (as suite_hooks writes them) -> test id -> worst outcome."""
    outcomes: dict[str, Outcome] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        outcome = record["outcome"]
        if outcome not in RANK:
            raise ValueError(f"Line {number}: unknown outcome {outcome!r}, expected one of {sorted(RANK)}.")
        test_id = record["id"]
        known = outcomes.get(test_id)
        if known is None or RANK[outcome] > RANK[known.outcome]:
            outcomes[test_id] = Outcome(outcome, record.get("detail", ""))
    return outcomes


def parse_excuses(text: str) -> dict[str, str]:
    """``excused.txt``: one ``<test id> <reason>`` a line; blank lines and ``#`` comments ignored; a reason is due."""
    excuses: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        test_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"excused.txt line {number}: {test_id!r} has no reason; write '<test id> <reason>'.")
        if test_id in excuses:
            raise ValueError(f"excused.txt line {number}: {test_id!r} is listed twice.")
        excuses[test_id] = reason.strip()
    return excuses


def compare(
    name: str, plain: Mapping[str, Outcome], variant: Mapping[str, Outcome], excuses: Mapping[str, str]
) -> Comparison:
    """A difference: a test that passed plain and did not pass here (failed, errored, skipped or never ran), or a
    failure/error here of a test the plain run does not have (a module that no longer imports, a setUpClass error).
    """
    result = Comparison(name, Counter(outcome.outcome for outcome in variant.values()))
    for test_id in sorted(set(plain) | set(variant)):
        before = plain[test_id].outcome if test_id in plain else MISSING
        after = variant.get(test_id, Outcome(MISSING))
        if (before == "pass" and after.outcome != "pass") or (before == MISSING and after.outcome in BAD):
            difference = Difference(test_id, before, after.outcome, after.detail)
            (result.excused if test_id in excuses else result.differences).append(difference)
    return result


def unused_excuses(excuses: Mapping[str, str], comparisons: Iterable[Comparison]) -> list[str]:
    """Excused ids that differ in no variant any more: the list should shrink, never hide a fixed bug."""
    used = {difference.test_id for comparison in comparisons for difference in comparison.excused}
    return sorted(set(excuses) - used)


def summary_table(comparisons: Iterable[Comparison], seconds: Mapping[str, tuple[float, float]]) -> str:
    """One row per variant: tests run, failures, errors, skipped, differences vs plain, excused, wall and CPU time."""
    header = ("variant", "tests run", "failures", "errors", "skipped", "differences", "excused", "seconds", "cpu s")
    rows: list[tuple[str, ...]] = [header]
    for item in comparisons:
        wall, cpu = seconds.get(item.variant, (0.0, 0.0))
        rows.append(
            (
                item.variant,
                str(item.run),
                str(item.counts["fail"]),
                str(item.counts["error"]),
                str(item.counts["skip"]),
                str(len(item.differences)),
                str(len(item.excused)),
                f"{wall:.0f}",
                f"{cpu:.0f}",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def last_line(detail: str) -> str:
    """The exception line of a traceback (its last non-empty line), for a one-line report."""
    lines = [line for line in detail.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
