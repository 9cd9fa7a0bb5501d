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
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..conformance.results import CaseResult, RunFooter, RunHeader
from ..reference.errors import SpliceCheckError
from ..spec.requirements import BY_ID


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

    @property
    def partial(self) -> bool:
        """True when the run did not finish: no footer line, or one saying it was interrupted."""
        return self.footer is None or bool(self.footer.interrupted)

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


def parse_lines(path: Path, data: bytes) -> Run:
    """The :class:`Run` in ``data``, the bytes of the file at ``path`` (named in errors and warnings)."""
    if not data.strip():
        raise ResultsEmpty(path, "empty results file (the run wrote nothing)")
    lines = data.split(b"\n")
    # A file that ends with its newline leaves an empty last element; otherwise the last line was cut.
    cut_last = lines[-1] != b""
    if not cut_last:
        lines.pop()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    try:
        head_obj = json.loads(lines[first].decode("utf-8-sig"))  # tolerate a BOM an editor added
    except (UnicodeDecodeError, json.JSONDecodeError):
        if first == len(lines) - 1 and cut_last and lines[first].lstrip().startswith(b"{"):
            raise ResultsFormatError(path, "the run header is truncated (the run stopped mid-write)") from None
        raise ResultsFormatError(path, f"not JSON Lines: line {first + 1} is not a JSON object") from None
    run = Run(_header(path, head_obj), path=path)
    newer = _newer_version(run.header.splicecheck_version)
    if newer:
        run.warnings.append(f"line {first + 1}: written by splicecheck {run.header.splicecheck_version}, newer than "
                            f"this {__version__}: fields it added are ignored")
    seen: dict[bytes, int] = {}  # a case record -> its first line (a repeated one is a duplicate)

    for i in range(first + 1, len(lines)):
        raw = lines[i]
        n = i + 1
        if not raw.strip():
            continue
        last = i == len(lines) - 1
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if last and cut_last:
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
                result = _case(obj)
                earlier = seen.get(raw.strip())
                if earlier is not None:
                    run.warnings.append(f"line {n}: duplicate of line {earlier} (case {result.case!r}); ignored")
                    continue
                seen[raw.strip()] = n
                run.results.append(result)
            elif kind == "footer":
                run.footer = _footer(obj)
            elif kind == "header":
                run.warnings.append(f"line {n}: a second run header; ignored")
            else:
                run.warnings.append(f"line {n}: unknown record type {kind!r}; ignored")
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            label = obj.get("case", "?") if kind == "case" else kind
            run.warnings.append(f"line {n}: invalid {kind} record {label!r}: {e}; ignored")
    return run


def load_run(path: Path | str) -> Run:
    """Read the results file at ``path``; raises a :class:`ResultsError` when it cannot be read at all."""
    p = Path(path)
    if not p.exists():
        raise ResultsNotFound(p, "no such results file")
    if not p.is_file():
        raise ResultsNotFound(p, "not a results file (a directory?)")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ResultsNotFound(p, f"cannot read: {e.strerror or e}") from None
    return parse_lines(p, data)
