"""What every report says the same way: counts, requirement rows, first failures, stable names.

Counting (cases, not requirements; the closing line of the terminal report and of report.md):

* **passed** = PASS + INFO (INFO: only a MAY was departed from);
* **failed** = FAIL + ERROR (a MUST missed, or the harness broke: either makes the run's exit code 1);
* **skipped** = SKIPPED + UNSUPPORTED (not run on this machine, or the IUT declared it cannot);
* **non-strict** = NON-STRICT (a SHOULD missed) is counted on its own and in none of the three above.

Cases are referred to by their index in ``Run.results``: case IDs of property-based cases may repeat.
:func:`slugs` gives each case a unique file- and anchor-safe name, used for evidence files and HTML ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..conformance.findings import FindingsTally, findings, summary_lines
from ..conformance.results import CaseResult, FieldDiff, Verdict, requirement_verdicts, worst
from ..spec.requirements import BY_ID, GROUPS, Requirement

PASSED = (Verdict.PASS, Verdict.INFO)
FAILED = (Verdict.FAIL, Verdict.ERROR)
SKIPPED = (Verdict.SKIPPED, Verdict.UNSUPPORTED)
#: verdicts whose cases get evidence (a pcapng of input, expected and actual packets) and details
EVIDENCE_VERDICTS = (Verdict.FAIL, Verdict.NON_STRICT, Verdict.ERROR)
#: verdicts a reader must act on: shown expanded, listed first
ATTENTION = (Verdict.FAIL, Verdict.ERROR, Verdict.NON_STRICT)


@dataclass(frozen=True, slots=True)
class Counts:
    passed: int
    failed: int
    skipped: int
    non_strict: int
    by_verdict: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_verdict.values())

    def line(self) -> str:
        """The closing line: ``N passed, N failed, N skipped``."""
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"

    def non_strict_line(self) -> str:
        return f"{self.non_strict} non-strict (a SHOULD missed; counted apart from passed, failed and skipped)"


def count(results: Sequence[CaseResult]) -> Counts:
    by = {v.value: 0 for v in Verdict if v is not Verdict.NOT_COVERED}
    for r in results:
        by[r.verdict.value] = by.get(r.verdict.value, 0) + 1

    def n(vs: Sequence[Verdict]) -> int:
        return sum(by.get(v.value, 0) for v in vs)

    return Counts(n(PASSED), n(FAILED), n(SKIPPED), by[Verdict.NON_STRICT.value], by)


def group_of(result: CaseResult) -> str:
    """A case's group is the group of its primary (first) requirement."""
    req = BY_ID.get(result.reqs[0]) if result.reqs else None
    return req.group if req is not None else "unknown"


def first_failure(result: CaseResult, req: str | None = None) -> FieldDiff | None:
    """The first differing field of ``result`` (attributed to ``req`` when given and there is one)."""
    bad = [d for d in result.diffs if not d.ok]
    if req is not None:
        mine = [d for d in bad if d.req == req]
        if mine:
            return mine[0]
    targeted = [d for d in bad if d.req in result.reqs]
    pick = targeted or bad
    return pick[0] if pick else None


def verdict_for(result: CaseResult, rid: str) -> Verdict:
    """How ``result`` bears on requirement ``rid`` (as ``requirement_verdicts`` grades it).

    A case that did not run counts with its own verdict; one that ran, by its differences attributed
    to ``rid``. A case whose verdict no difference explains keeps it under its primary requirement."""
    if result.verdict in (Verdict.UNSUPPORTED, Verdict.SKIPPED, Verdict.ERROR):
        return result.verdict
    mine = [d.verdict for d in result.diffs if d.req == rid and not d.ok]
    if mine:
        return worst(mine)
    explained = any(not d.ok and d.req in result.reqs for d in result.diffs)
    if result.reqs and rid == result.reqs[0] and not explained:
        return result.verdict
    return Verdict.PASS


@dataclass(slots=True)
class RequirementRow:
    """One catalogued requirement in a run: its verdict and the cases that bear on it (indices)."""

    req: Requirement
    verdict: Verdict
    cases: list[int] = field(default_factory=list)  # cases targeting it
    collateral: list[int] = field(default_factory=list)  # other cases with a differing field attributed to it


def requirement_rows(results: Sequence[CaseResult]) -> list[RequirementRow]:
    """Every catalogued requirement, in catalogue order, with its verdict (``requirement_verdicts``)."""
    verdicts = requirement_verdicts(results)
    rows = {rid: RequirementRow(BY_ID[rid], verdicts.get(rid, Verdict.NOT_COVERED)) for rid in BY_ID}
    for i, r in enumerate(results):
        for rid in dict.fromkeys(r.reqs):
            if rid in rows:
                rows[rid].cases.append(i)
        for rid in dict.fromkeys(d.req for d in r.collateral if not d.ok):
            if rid in rows:
                rows[rid].collateral.append(i)
    return list(rows.values())


def by_group(rows: Sequence[RequirementRow]) -> list[tuple[str, list[RequirementRow]]]:
    """Rows grouped in the catalogue's group order."""
    return [(g, [r for r in rows if r.req.group == g]) for g in GROUPS if any(r.req.group == g for r in rows)]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str) -> str:
    """A file- and anchor-safe form of ``text``."""
    return _UNSAFE.sub("_", text).strip("._") or "case"


def slugs(results: Sequence[CaseResult]) -> list[str]:
    """A unique safe name per case, in order; repeated IDs get ``__2``, ``__3``, …"""
    seen: set[str] = set()
    out: list[str] = []
    for r in results:
        base = slug(r.case)
        name, k = base, 1
        while name.lower() in seen:  # case-insensitive: evidence files may land on such a file system
            k += 1
            name = f"{base}__{k}"
        seen.add(name.lower())
        out.append(name)
    return out


def needs_evidence(result: CaseResult) -> bool:
    return result.verdict in EVIDENCE_VERDICTS and bool(result.steps)


def seconds(value: float) -> str:
    """A duration as the reports print it (fixed precision: deterministic output)."""
    return f"{value:.3f}s"


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    if limit is not None and len(flat) > limit:
        return flat[: limit - 1] + "…"
    return flat


def iut_label(name: str, version: str) -> str:
    return f"{name} {version}".strip()


def findings_block(results: Sequence[CaseResult], limit: int | None = 30,
                   tally: FindingsTally | None = None) -> list[str]:
    """The terminal's findings block (printed before the closing line), with a blank line after; none
    when nothing departed. ``tally``: every case of a run read back in bounded memory, grouped as it
    streamed past (``results`` then holds only the listed cases)."""
    lines = summary_lines(tally.findings() if tally is not None else findings(results), limit)
    return [*lines, ""] if lines else []


def unsupported_reasons(results: Sequence[CaseResult]) -> list[tuple[str, int, str]]:
    """Why cases were UNSUPPORTED — (reason, how many cases, the first of them), in order of first
    appearance — from the results alone, so that every report of every adapter lists what the IUT
    could not be given, whatever its IUT details say. (A bounded reading has them from its tally,
    ``RunTally.unsupported_reasons``, for all the cases rather than the kept ones.)"""
    seen: dict[str, list[str]] = {}
    for r in results:
        if r.verdict is Verdict.UNSUPPORTED:
            seen.setdefault(r.reason or "(no reason given)", []).append(r.case)
    return [(why, len(cases), cases[0]) for why, cases in seen.items()]


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One property or stateful case's wrap coverage: the regions its segments reached (with hits) and missed."""

    case: str
    reached: list[tuple[str, int]]
    missed: list[str]

    @property
    def line(self) -> str:
        return f"{len(self.reached)}/{len(self.reached) + len(self.missed)} wrap regions"


def coverage_rows(results: Sequence[CaseResult]) -> list[CoverageRow]:
    """The wrap coverage of the cases that counted it (``CaseResult.coverage``), in run order."""
    return [CoverageRow(r.case, [(k, n) for k, n in r.coverage.items() if n],
                        [k for k, n in r.coverage.items() if not n])
            for r in results if r.coverage is not None]


def hits_text(reached: Sequence[tuple[str, int]]) -> str:
    """``region n, ...`` for the regions reached."""
    return ", ".join(f"{k} {n}" for k, n in reached)
