"""The terminal report: progress while a run goes, then an h2spec-like listing per requirement.

The runner drives a :class:`TerminalReporter`::

    rep = TerminalReporter(sys.stdout)
    rep.start(header, total=len(cases))     # total is optional; it picks the progress style
    for ...: rep.case(result)               # one line per case, or one character when there are many
    rep.finish(run)                         # the listing and the closing line

The listing groups requirements by catalogue group; under each requirement that any case bears on, one
line per case: a mark, the case ID, its verdict and description. Under a case that missed the
requirement, the requirement's sentence, then ``Expected:`` and ``Actual:`` from its first differing
field (packetdrill's number format), and the command that reproduces it. Marks: ``✔`` PASS or INFO,
``×`` FAIL or ERROR, ``!`` NON-STRICT, ``-`` SKIPPED or UNSUPPORTED (``+``/``x`` on a stream that cannot
encode the first two). The last line is exactly ``N passed, N failed, N skipped`` (see
``reports.summary`` for what each counts); the line above it counts NON-STRICT cases on their own.
"""

from __future__ import annotations

import re
import sys
import textwrap
from typing import TextIO

import tabulate as _tabulate_module
from tabulate import tabulate

from ..conformance.results import CaseResult, RunHeader, Verdict, fmt
from ..spec.requirements import BY_ID
from .load import Run, run_counts
from .summary import (
    ATTENTION,
    FAILED,
    PASSED,
    SKIPPED,
    by_group,
    coverage_rows,
    findings_block,
    first_failure,
    one_line,
    requirement_rows,
    unsupported_reasons,
    verdict_for,
)

#: progress characters in the compact style (pytest's, extended to the graded verdicts)
PROGRESS_CHAR = {Verdict.PASS: ".", Verdict.INFO: "i", Verdict.NON_STRICT: "N", Verdict.FAIL: "F",
                 Verdict.ERROR: "E", Verdict.SKIPPED: "s", Verdict.UNSUPPORTED: "u", Verdict.NOT_COVERED: "?"}
DOTS_PER_LINE = 60
WRAP = 100


def _mark_set(stream: TextIO) -> tuple[str, str]:
    """The pass and fail marks this stream can encode."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "✔×".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "+", "x"
    return "✔", "×"


def mark(verdict: Verdict, marks: tuple[str, str] = ("✔", "×")) -> str:
    if verdict in PASSED:
        return marks[0]
    if verdict in FAILED:
        return marks[1]
    if verdict is Verdict.NON_STRICT:
        return "!"
    if verdict in SKIPPED:
        return "-"
    return " "


def failure_lines(result: CaseResult, req: str | None = None) -> list[str]:
    """What a case missed: the requirement's sentence, Expected and Actual, the reproducer (unindented)."""
    if result.verdict is Verdict.ERROR:
        lines = ["-> harness error: " + one_line(result.reason or "(no reason given)")]
    else:
        diff = first_failure(result, req)
        rid = diff.req if diff is not None else (req or result.reqs[0])
        r = BY_ID.get(rid)
        sentence = f"{rid} ({r.level.value}): {r.text}" if r is not None else rid
        lines = textwrap.wrap(sentence, WRAP, initial_indent="-> ", subsequent_indent="   ",
                              break_on_hyphens=False)
        if diff is not None:
            where = f"step {diff.step}, packet {diff.packet}"
            lines.append(f"   Expected: {diff.field} = {fmt(diff.expected)}  ({where})")
            lines.append(f"     Actual: {diff.field} = {fmt(diff.actual)}")
        elif result.reason:
            lines.append("   " + one_line(result.reason))
    if result.repro:
        lines.append(f"   Reproduce: {result.repro}")
    return lines


#: a character no number or boolean tabulate recognises can hold (``float``/``int`` literals with digits,
#: signs, points, exponents, underscores, thousands commas, ``inf``/``nan``/``infinity``; ``True``/``False``)
_TEXT_CHAR = re.compile(r"[^\d\s+\-.,_eEiInNfFtTyYaArRuUlLsS]")


def plain_table(rows: list[list[str]]) -> list[str]:
    """``tabulate(rows, tablefmt="plain").splitlines()``, for rows of single-line strings.

    The listing tabulates one row per listed case and requirement (some 10,000 after a large trace), and
    tabulate spends most of that time deciding, cell by cell, whether a column holds numbers. A column
    with one cell that cannot be a number is text to tabulate (the most generic type wins): left-aligned,
    cells stripped, padded to the widest, joined by two spaces, each line right-stripped. When every
    column has such a cell, this builds exactly that; otherwise (a numeric column, multi-line, tabbed or
    ANSI-coloured cells, ragged rows, or tabulate measuring wide characters with ``wcwidth``) tabulate
    itself does (``tests/test_terminal_table.py`` holds the two to each other)."""
    if not rows:
        return []
    ncols = len(rows[0])
    cols = list(zip(*rows, strict=False))
    blob = "\x00".join("\x00".join(col) for col in cols)
    wide = getattr(_tabulate_module, "WIDE_CHARS_MODE", True) and not blob.isascii()
    if (any(len(r) != ncols for r in rows) or len(cols) != ncols or wide
            or any(c in blob for c in ("\n", "\r", "\t", "\x1b"))
            or not all(any(_TEXT_CHAR.search(cell) for cell in col) for col in cols)):
        return tabulate(rows, tablefmt="plain").splitlines()
    stripped = [[cell.strip() for cell in col] for col in cols]
    widths = [max(map(len, col)) for col in stripped]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in zip(*stripped, strict=True)]


def render_listing(run: Run, marks: tuple[str, str] = ("✔", "×")) -> list[str]:
    """The per-requirement listing and the closing lines of ``finish`` (no trailing newline)."""
    results = run.results
    rows = requirement_rows(results)
    covered = [row for row in rows if row.cases or row.collateral]
    # Case lines (and requirement lines) are tabulated once each, so their columns align across blocks.
    head_cells: list[list[str]] = []
    case_cells: list[list[str]] = []
    plan: list[tuple[str, int, CaseResult | None, str]] = []  # (kind, table row, result, requirement)
    tally = run.tally
    for row in (row for _g, grp in by_group(covered) for row in grp):
        n, c = len(row.cases), len(row.collateral)
        if tally is not None:  # a bounded reading: the numbers of all the cases, not of those listed
            n, c = tally.cases.get(row.req.id, 0), tally.collateral.get(row.req.id, 0)
        what = f"{n} case{'s' * (n != 1)}" + (f", {c} collateral" if c else "")
        plan.append(("req", len(head_cells), None, row.req.id))
        head_cells.append([mark(row.verdict, marks), row.req.id, row.req.level.value, row.verdict.value, what])
        for i, tag in [(i, "") for i in row.cases] + [(i, " (collateral)") for i in row.collateral]:
            r = results[i]
            v = verdict_for(r, row.req.id)
            desc = r.description if v not in SKIPPED else (r.reason or r.description)
            plan.append(("case", len(case_cells), r, row.req.id if v in ATTENTION else ""))
            case_cells.append([mark(v, marks), r.case, v.value, one_line(desc, 70) + tag])
    heads = plain_table(head_cells)
    cases = plain_table(case_cells)

    out: list[str] = []
    group_of_req = {row.req.id: g for g, grp in by_group(covered) for row in grp}
    current = None
    for kind, k, result, rid in plan:
        if kind == "req":
            if group_of_req[rid] != current:
                current = group_of_req[rid]
                out += ["", current]
            out.append("  " + heads[k].rstrip())
            continue
        out.append("      " + cases[k].rstrip())
        if result is not None and rid:
            out += ["          " + line for line in failure_lines(result, rid)]

    missing = [row.req.id for row in rows if not row.cases and not row.collateral]
    if missing:
        out += ["", *textwrap.wrap("not covered: " + ", ".join(missing), WRAP, subsequent_indent="  ",
                                   break_on_hyphens=False)]
    out.append("")
    for w in run.warnings:
        out.append(f"warning: {w}")
    if run.partial:
        reported = len(results) if tally is None else tally.total
        why = "no footer, the run was interrupted" if run.footer is None else f"interrupted ({run.footer.interrupted})"
        out.append(f"PARTIAL RUN: {why}; {reported} case(s) reported")
    out += findings_block(results, tally=None if tally is None else tally.findings)
    unsupported = unsupported_reasons(results) if tally is None else tally.unsupported_reasons()
    if unsupported:
        out += ["unsupported (the adapter could not give these cases a precondition):"]
        out += [f"  {n:>4} case(s): {one_line(why)} (first: {first})" for why, n, first in unsupported]
        out.append("")
    covered_wrap = coverage_rows(results)
    if covered_wrap:
        which = "" if tally is None else " (of the cases listed)"
        out.append(f"wrap coverage{which}: regions near 0, 2^31, 2^32 - 1 and the splice's bases the segments reached")
        for cov in covered_wrap:  # indented as the listing's case lines
            missed = f"; not reached: {', '.join(cov.missed)}" if cov.missed else ""
            out += textwrap.wrap(f"{cov.case}: {cov.line}{missed}", WRAP, initial_indent="      ",
                                 subsequent_indent="          ", break_on_hyphens=False)
        out.append("")
    counts = run_counts(run)
    out.append(counts.non_strict_line())
    out.append(counts.line())
    return out


class TerminalReporter:
    """Progress and the final listing on a text stream (default: ``sys.stdout`` at each call).

    ``progress``: ``"lines"`` (a line per case), ``"dots"`` (a character per case, pytest style),
    ``"auto"`` (dots when ``start`` was told of more than ``compact_above`` cases; told nothing, lines
    for the first ``compact_above`` cases and dots after them) or ``"off"`` (also ``"none"``)."""

    def __init__(self, stream: TextIO | None = None, *, progress: str = "auto", compact_above: int = 40) -> None:
        if progress not in ("auto", "lines", "dots", "off", "none"):
            raise ValueError(f"progress must be auto, lines, dots or off, not {progress!r}")
        self._stream = stream
        self.progress = progress
        self.compact_above = compact_above
        self._style = "lines"
        self._seen = 0
        self._total: int | None = None
        self._col = 0

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def _print(self, text: str = "") -> None:
        print(text, file=self.stream)

    def start(self, header: RunHeader, total: int | None = None) -> None:
        self._total, self._seen, self._col = total, 0, 0
        if self.progress == "auto":
            self._style = "dots" if total is not None and total > self.compact_above else "lines"
        else:
            self._style = self.progress
        seed = f", seed {header.seed}" if header.seed is not None else ""
        self._print(f"splicecheck {header.splicecheck_version}: {header.iut} {header.iut_version} "
                    f"(adapter {header.adapter}{seed})")
        if header.iut_description:
            self._print("  " + one_line(header.iut_description))
        if total is not None:
            self._print(f"{total} case{'s' * (total != 1)}")
        self.stream.flush()

    def case(self, result: CaseResult) -> None:
        self._seen += 1
        if (self.progress == "auto" and self._total is None and self._style == "lines"
                and self._seen > self.compact_above):
            self._style = "dots"
            legend = ", ".join(f"{c} {v.value}" for v, c in PROGRESS_CHAR.items() if v is not Verdict.NOT_COVERED)
            self._print(f"further cases one character each ({legend}):")
        if self._style == "lines":
            marks = _mark_set(self.stream)
            note = f"  {one_line(result.reason, 80)}" if result.reason and result.verdict is not Verdict.PASS else ""
            n = f"{self._seen:>{len(str(self._total))}}/{self._total}" if self._total is not None else str(self._seen)
            self._print(f"[{n}] {mark(result.verdict, marks)} {result.verdict.value:<11} "
                        f"{result.case} ({result.duration:.2f}s){note}")
        elif self._style == "dots":
            self.stream.write(PROGRESS_CHAR.get(result.verdict, "?"))
            self._col += 1
            if self._col == DOTS_PER_LINE:
                self._end_dots()
        self.stream.flush()

    def _end_dots(self) -> None:
        if self._col:
            of = f"/{self._total}" if self._total is not None else ""
            self.stream.write(f"  [{self._seen}{of}]\n")
            self._col = 0

    def finish(self, run: Run) -> None:
        if self._style == "dots":
            self._end_dots()
        for line in render_listing(run, _mark_set(self.stream)):
            self._print(line)
        self.stream.flush()
