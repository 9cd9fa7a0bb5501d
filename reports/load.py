"""Reading a results file (JSON Lines) back into a :class:`Run`, the one input of every renderer.

The runner writes, one JSON object a line: a ``header`` (:class:`RunHeader`), one ``case`` per
:class:`CaseResult`, and a ``footer`` (:class:`RunFooter`) only when the run finished. So:

* no footer, or a footer with ``interrupted`` (a signal or an adapter fault stopped the run), means the
  run did not finish: ``Run.partial`` is true and every report says so;
* a case record repeated byte for byte is ignored (two different records of one case ID are both
  kept: a property case may legitimately appear twice), and a file written by a newer splicecheck is
  read as far as this one understands it: each with a warning;
* a last line without its newline that does not parse was cut by a crash mid-write: it is ignored,
  with a warning;
* any other line that does not parse, or names a requirement this catalogue does not know (a results
  file from another splicecheck version), is skipped with a warning saying which line and why.

What makes a file unreadable as a whole raises a :class:`ResultsError` naming the file and the
problem (missing, empty, not JSON Lines, no header) — never a traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .. import __version__
from ..conformance.findings import FindingsTally
from ..conformance.results import (
    CaseResult,
    RunFooter,
    RunHeader,
    Verdict,
    contributions,
    requirement_verdict,
    run_fails,
)
from ..reference.errors import SpliceCheckError
from ..spec.requirements import BY_ID
from .summary import FAILED, PASSED, SKIPPED, Counts, count


class ResultsError(SpliceCheckError):
    """A results file that cannot be read as a whole; ``path`` names it."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ResultsNotFound(ResultsError):
    """The path does not exist or is not a regular file."""


class ResultsEmpty(ResultsError):
    """The file holds nothing but whitespace."""


class ResultsFormatError(ResultsError):
    """The file is not splicecheck JSON Lines: its first line is not a run header."""


@dataclass(slots=True)
class Run:
    """One run: who was tested (header), the case results in file order, and how the run ended.

    The runner builds one directly for :meth:`TerminalReporter.finish`; :func:`load_run` builds one
    from a file. ``warnings`` are the loader's notes on lines it skipped."""

    header: RunHeader
    results: list[CaseResult] = field(default_factory=list)
    footer: RunFooter | None = None
    warnings: list[str] = field(default_factory=list)
    path: Path | None = None
    omitted: int = 0  # cases a bounded reading counted but did not keep (load_run's keep)
    tally: RunTally | None = None  # every case counted, when some were omitted

    @property
    def partial(self) -> bool:
        """True when the run did not finish: no footer line, or one saying it was interrupted."""
        return self.footer is None or bool(self.footer.interrupted)

    @property
    def stopped(self) -> str:
        """How a partial run ended, for the reports: its file has no footer (a crash, SIGKILL, a file still
        being written), or the footer names what interrupted it."""
        if self.footer is None:
            return "The results file has no footer: the run was interrupted"
        return f"The run was interrupted ({self.footer.interrupted})"

    @property
    def duration(self) -> float:
        """The footer's wall-clock duration, or the sum of the case durations of a partial run."""
        if self.footer is not None:
            return self.footer.duration
        return sum(r.duration for r in self.results)


def _known(cls: type, d: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Split ``d`` into the fields ``cls`` has and the names of those it has not (newer writers)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return ({k: v for k, v in d.items() if k in names},
            sorted(k for k in d if k not in names and k != "type"))


def _header(path: Path, obj: Any) -> RunHeader:
    if not isinstance(obj, dict) or obj.get("type") != "header":
        raise ResultsFormatError(path, "not a splicecheck results file: line 1 is not a run header "
                                       '(a JSON object with "type": "header")')
    kw, _ = _known(RunHeader, obj)
    try:
        header = RunHeader(**kw)
    except TypeError as e:
        raise ResultsFormatError(path, f"line 1: incomplete run header ({e})") from None
    if not isinstance(header.iut, str) or not header.iut:
        raise ResultsFormatError(path, "line 1: the run header names no IUT")
    return header


def _case(obj: dict[str, Any]) -> CaseResult:
    """A CaseResult from one parsed line; ValueError/TypeError/KeyError when it is not one."""
    kw, _ = _known(CaseResult, obj)
    result = CaseResult.from_dict(kw)
    if not isinstance(result.reqs, list) or not result.reqs:
        raise ValueError("the case names no requirement")
    unknown = sorted({r for r in result.reqs if r not in BY_ID} | {d.req for d in result.diffs if d.req not in BY_ID})
    if unknown:
        raise ValueError(f"unknown requirement ID(s) {', '.join(unknown)} (results of another splicecheck version?)")
    return result


def _footer(obj: dict[str, Any]) -> RunFooter:
    kw, _ = _known(RunFooter, obj)
    return RunFooter(**kw)


def _version_key(text: str) -> tuple[int, ...] | None:
    parts = re.findall(r"\d+", text.split("+")[0])[:3]
    return tuple(int(p) for p in parts) if parts else None


def _newer_version(text: object) -> bool:
    """Whether a results file's ``splicecheck_version`` is newer than this splicecheck."""
    theirs, ours = _version_key(str(text)), _version_key(__version__)
    return theirs is not None and ours is not None and theirs > ours


class _Lines:
    """64-bit digests of the case records read so far, each with its line number: an open-addressing table
    of machine words (16 bytes a record at most, not a bytes object and a dict entry each), so reading back
    a run of 10^5 cases in bounded memory stays bounded. A digest of 0 is stored as 1."""

    def __init__(self) -> None:
        self._keys = array("Q", bytes(8 * 1024))
        self._lines = array("Q", bytes(8 * 1024))
        self._used = 0

    def setdefault(self, record: bytes, line: int) -> int | None:
        """The line of an earlier identical record, or None (and ``record`` is remembered at ``line``)."""
        key = int.from_bytes(hashlib.blake2b(record, digest_size=8).digest(), "big") or 1
        keys = self._keys
        mask = len(keys) - 1
        i = key & mask
        while keys[i]:
            if keys[i] == key:
                return int(self._lines[i])
            i = (i + 1) & mask
        keys[i] = key
        self._lines[i] = line
        self._used += 1
        if self._used * 2 > len(keys):
            self._grow()
        return None

    def _grow(self) -> None:
        old = [(k, ln) for k, ln in zip(self._keys, self._lines, strict=True) if k]
        size = len(self._keys) * 2
        self._keys, self._lines = array("Q", bytes(8 * size)), array("Q", bytes(8 * size))
        mask = size - 1
        for k, ln in old:
            i = k & mask
            while self._keys[i]:
                i = (i + 1) & mask
            self._keys[i], self._lines[i] = k, ln


_NOT_RUN = (Verdict.UNSUPPORTED, Verdict.SKIPPED, Verdict.ERROR)


class RunTally:
    """What every case of a run adds up to, counted while the cases stream by (memory bounded by the
    catalogue, not by the number of cases): cases by verdict, cases and collateral cases per requirement,
    and the set of verdicts each requirement's checks got — enough for :func:`requirement_verdicts`,
    the closing counts and the exit code without holding the cases."""

    def __init__(self) -> None:
        self.by_verdict: dict[str, int] = {}
        self.values: dict[str, set[Verdict]] = {rid: set() for rid in BY_ID}
        self.cases: dict[str, int] = {}  # cases targeting a requirement
        self.collateral: dict[str, int] = {}  # other cases with a differing field attributed to it
        self.findings = FindingsTally()  # every case grouped, kept or not
        self.unsupported: dict[str, tuple[int, str]] = {}  # why a case was UNSUPPORTED -> (cases, the first)
        self.total = 0

    def add(self, result: CaseResult) -> bool:
        """Count ``result``; True when it gave some requirement a verdict no earlier case gave it (a case
        worth keeping: the kept cases then grade every requirement as all the cases do)."""
        self.total += 1
        self.by_verdict[result.verdict.value] = self.by_verdict.get(result.verdict.value, 0) + 1
        self.findings.add(result)
        if result.verdict is Verdict.UNSUPPORTED:
            why = result.reason or "(no reason given)"
            n, first = self.unsupported.get(why, (0, result.case))
            self.unsupported[why] = (n + 1, first)
        for rid in dict.fromkeys(result.reqs):
            self.cases[rid] = self.cases.get(rid, 0) + 1
        if not result.diffs and result.verdict not in _NOT_RUN:
            # what contributions() gives a case without differences (most of a trace's): PASS for each target
            pairs: Iterable[tuple[str, Verdict]] = ((rid, Verdict.PASS) for rid in result.reqs)
        else:
            for rid in dict.fromkeys(d.req for d in result.collateral if not d.ok):
                self.collateral[rid] = self.collateral.get(rid, 0) + 1
            pairs = contributions(result)
        new = False
        for rid, v in pairs:
            seen = self.values.setdefault(rid, set())
            if v not in seen:
                seen.add(v)
                new = True
        return new

    def unsupported_reasons(self) -> list[tuple[str, int, str]]:
        """As :func:`splicecheck.reports.summary.unsupported_reasons` of all the cases counted."""
        return [(why, n, first) for why, (n, first) in self.unsupported.items()]

    def requirement_verdicts(self) -> dict[str, Verdict]:
        """As :func:`~splicecheck.conformance.results.requirement_verdicts` of all the cases counted."""
        return {rid: requirement_verdict(vs) for rid, vs in self.values.items()}

    def exit_code(self, strict: bool = False) -> int:
        """As :func:`~splicecheck.conformance.runner.exit_code` of all the cases counted."""
        cases = [Verdict(v) for v, n in self.by_verdict.items() if n]
        return 1 if run_fails([*cases, *self.requirement_verdicts().values()], strict) else 0


def run_counts(run: Run) -> Counts:
    """The closing counts of ``run``: of all its cases, those a bounded reading did not keep too."""
    if run.tally is None:
        return count(run.results)
    by = {v.value: 0 for v in Verdict if v is not Verdict.NOT_COVERED}
    for k, n in run.tally.by_verdict.items():
        by[k] = by.get(k, 0) + n

    def total(vs: tuple[Verdict, ...]) -> int:
        return sum(by.get(v.value, 0) for v in vs)

    return Counts(total(PASSED), total(FAILED), total(SKIPPED), by[Verdict.NON_STRICT.value], by)


#: verdicts of the cases a bounded reading keeps (up to its cap) before the others
_ATTENTION = (Verdict.FAIL, Verdict.ERROR, Verdict.NON_STRICT)


def parse_lines(path: Path, data: bytes, keep: int | None = None) -> Run:
    """The :class:`Run` in ``data``, the bytes of the file at ``path`` (named in errors and warnings);
    ``keep`` as for :func:`load_run`."""
    lines = data.split(b"\n")
    # A file that ends with its newline leaves an empty last element; otherwise the last line was cut.
    cut_last = lines[-1] != b""
    if not cut_last:
        lines.pop()
    return _parse(path, ((line, cut_last and i == len(lines) - 1) for i, line in enumerate(lines)), keep)


def _file_lines(f: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Each line of ``f`` without its newline, and whether it lacked one (the last line, cut)."""
    for raw in f:
        if raw.endswith(b"\n"):
            yield raw[:-1], False
        else:
            yield raw, True


def _parse(path: Path, lines: Iterable[tuple[bytes, bool]], keep: int | None) -> Run:
    it = iter(lines)
    n = 0
    first: tuple[bytes, bool] | None = None
    for line, was_cut in it:
        n += 1
        if line.strip():
            first = (line, was_cut)
            break
    if first is None:
        raise ResultsEmpty(path, "empty results file (the run wrote nothing)")
    head, cut = first
    try:
        head_obj = json.loads(head.decode("utf-8-sig"))  # tolerate a BOM an editor added
    except (UnicodeDecodeError, json.JSONDecodeError):
        if cut and head.lstrip().startswith(b"{"):
            raise ResultsFormatError(path, "the run header is truncated (the run stopped mid-write)") from None
        raise ResultsFormatError(path, f"not JSON Lines: line {n} is not a JSON object") from None
    run = Run(_header(path, head_obj), path=path)
    newer = _newer_version(run.header.splicecheck_version)
    if newer:
        run.warnings.append(f"line {n}: written by splicecheck {run.header.splicecheck_version}, newer than "
                            f"this {__version__}: fields it added are ignored")
    collector = RunCollector(run, keep)
    for raw, cut in it:
        n += 1
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if cut:
                run.warnings.append(f"line {n}: truncated (the run stopped mid-write); ignored")
            else:
                run.warnings.append(f"line {n}: not JSON ({e}); ignored")
            continue
        if run.footer is not None:
            run.warnings.append(f"line {n}: found after the run's footer; ignored")
            continue
        kind = obj.get("type") if isinstance(obj, dict) else None
        try:
            if kind == "case":
                collector.add(_case(obj), raw, n)
            elif kind == "footer":
                run.footer = _footer(obj)
            elif kind == "header":
                run.warnings.append(f"line {n}: a second run header; ignored")
            else:
                run.warnings.append(f"line {n}: unknown record type {kind!r}; ignored")
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            label = obj.get("case", "?") if kind == "case" else kind
            run.warnings.append(f"line {n}: invalid {kind} record {label!r}: {e}; ignored")
    return collector.finish()


class RunCollector:
    """Adds case results to a :class:`Run` as :func:`load_run` reads them: a record repeated byte for
    byte is ignored with a warning; with ``keep``, only the cases :func:`load_run` describes are kept and
    the rest counted (``tally``). A writer that already holds each result and its line (``splicecheck
    trace``) builds its run's :class:`Run` with it as the lines are written, instead of reading the file
    back: the same cases kept, the same counts, the same warnings."""

    def __init__(self, run: Run, keep: int | None = None, *, unique: bool = False) -> None:
        """``unique``: the writer's lines cannot repeat (each names a case ID used once, as a trace's
        do): no digest of each is kept to find repeats."""
        self.run = run
        self.keep = keep
        self.tally = RunTally()  # every case added, kept or not
        # a case record -> its first line; keyed by a digest, not the record
        self._seen: _Lines | None = None if unique else _Lines()
        self._attention = self._other = 0
        self._lines = 1  # line numbers when the caller gives none: the header is line 1

    def add(self, result: CaseResult, raw: bytes = b"", line: int | None = None) -> None:
        """Add ``result``, whose JSON line is ``raw`` (unused when ``unique``), read at line ``line``
        (default: the next line)."""
        if line is None:
            self._lines += 1
            line = self._lines
        run = self.run
        earlier = self._seen.setdefault(raw.strip(), line) if self._seen is not None else None
        if earlier is not None:
            run.warnings.append(f"line {line}: duplicate of line {earlier} (case {result.case!r}); ignored")
            return
        new = self.tally.add(result)
        keep = self.keep
        if keep is None:
            run.results.append(result)
        elif result.verdict in _ATTENTION and self._attention < keep:
            self._attention += 1
            run.results.append(result)
        elif result.verdict not in _ATTENTION and self._other < keep:
            self._other += 1
            run.results.append(result)
        elif new:  # the first case to give a requirement this verdict: requirement verdicts stay exact
            run.results.append(result)
        else:
            run.omitted += 1

    def finish(self) -> Run:
        """The run, with the bounded reading's tally and warning when cases were omitted."""
        run, tally = self.run, self.tally
        if run.omitted:
            run.tally = tally
            kept = len(run.results)
            run.warnings.append(f"{kept:,} of {tally.total:,} cases are listed (every requirement's worst case, "
                                f"the first {self.keep:,} failing or non-strict and the first {self.keep:,} "
                                f"others); requirement verdicts, the terminal's closing counts and index.json's "
                                f"counts cover all {tally.total:,}")
        return run


def load_run(path: Path | str, keep: int | None = None) -> Run:
    """Read the results file at ``path``; raises a :class:`ResultsError` when it cannot be read at all.

    The file is read a line at a time. With ``keep``, memory is bounded whatever the number of cases:
    only the first ``keep`` failing, non-strict or erroneous cases, the first ``keep`` others and, for
    every requirement, the first case to give it each of its verdicts are kept in ``Run.results`` (so
    requirement verdicts are those of all the cases); the rest are counted in ``Run.tally`` and
    ``Run.omitted``, and a warning says so."""
    p = Path(path)
    if not p.exists():
        raise ResultsNotFound(p, "no such results file")
    if not p.is_file():
        raise ResultsNotFound(p, "not a results file (a directory?)")
    try:
        with p.open("rb") as f:
            return _parse(p, _file_lines(f), keep)
    except OSError as e:
        raise ResultsNotFound(p, f"cannot read: {e.strerror or e}") from None
