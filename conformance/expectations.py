"""Expectations: the known findings of an IUT, so that a run says what is *new* (``splicecheck run --expect``).

An expectations file is TOML (read with the standard library's ``tomllib``)::

    iut = "synproxy"                    # informational
    [[expect]]
    finding = "F-31036ea00e"            # a finding ID (conformance.findings), or:
    # signature = {kind = "dropped", leg = "to_server", flags = "A"}   the finding's signature, or:
    # req = "TRIM-SOUND"                every finding whose requirements include it, or:
    # case = "SEQ-MAP/server-rst-after-data"   every finding shown by this case
    status = "fail"                     # fail | non-strict | info | flaky
    class = "bug"                       # by-design | bug | unclassified
    note = "the RST is re-based on itself (2019 fix)"
    title = "..."                       # optional, for the reader
    cases = ["..."]                     # optional: where it was seen (scopes "unexpectedly passing")

Each finding of the run is matched to the first entry that names it — by finding ID or signature first,
then by case, then by requirement. It is **expected** when an entry matches and the entry's status is its
verdict (``fail`` FAIL, ``non-strict`` NON-STRICT, ``info`` INFO) or ``flaky``; **unexpected** when no
entry matches or the status differs. An entry that matches no finding is **unexpectedly passing** when
it is not ``flaky`` and what it names ran (its ``case``, a case of its ``cases``, a case targeting its
``req``; an entry naming only a finding, without ``cases``, whenever any case ran). A case graded ERROR is
unexpected too. With ``--expect`` the exit code is 0 exactly when nothing unexpected happened.

**In a fuzz campaign** (``splicecheck fuzz --expect``, :class:`Known`) the same file decides which examples
the search goes on past: an example whose findings (computed from its result exactly as a run's are) are
all *masked* is counted, not failed. A finding is masked by the entry :func:`judge` would match it to, with
two differences, both because one example is not a run. Entries naming a **case** mask nothing: every
example of a campaign comes from a generated case, so a case entry (the files' catch-all for the generated
cases' run-to-run variation) would mask new behaviours with known ones. And the example's verdict may be
**weaker** than the entry's status (one example carries only some of the occurrences that graded the run's
finding), never stronger: a known behaviour seen breaking a MUST where the file expected a SHOULD is new.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .findings import Finding, findings
from .results import CaseResult, Verdict

STATUSES = ("fail", "non-strict", "info", "flaky")
CLASSES = ("by-design", "bug", "unclassified")
_STATUS_OF = {"FAIL": "fail", "NON-STRICT": "non-strict", "INFO": "info"}
_SEVERITY = {"info": 0, "non-strict": 1, "fail": 2}


class ExpectationsError(ValueError):
    """An expectations file that cannot be used (unreadable, bad TOML, unknown status or class)."""


@dataclass(frozen=True, slots=True)
class Expectation:
    status: str
    klass: str
    note: str = ""
    finding: str | None = None
    signature: dict[str, Any] | None = None
    req: str | None = None
    case: str | None = None
    title: str = ""
    cases: tuple[str, ...] = ()

    def label(self) -> str:
        what = self.finding or (f"signature {self.signature}" if self.signature else None) \
            or (f"case {self.case}" if self.case else None) or f"requirement {self.req}"
        return f"{what}{f' ({self.title})' if self.title else ''}"

    def names(self, f: Finding, by_case: frozenset[str] = frozenset()) -> int:
        """How specifically this entry names ``f``: 3 by ID/signature, 2 by case, 1 by requirement, 0 not.
        A case entry names a finding only if every case showing it is named by some case entry of the file
        (``by_case``): a behaviour that also shows in a case the file does not cover by case (a named case,
        say) needs an entry of its own, and is not waved through because a flaky generated case saw it too."""
        if (self.finding is not None and self.finding == f.id) or (self.signature is not None
                                                                   and self.signature == f.signature):
            return 3
        if self.case is not None and self.case in f.cases and set(f.cases) <= by_case:
            return 2
        if self.req is not None and self.req in f.reqs:
            return 1
        return 0


def load(path: Path | str) -> list[Expectation]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExpectationsError(f"{path}: {exc}") from exc
    entries = data.get("expect", [])
    if not isinstance(entries, list):
        raise ExpectationsError(f"{path}: 'expect' must be an array of tables ([[expect]])")
    out: list[Expectation] = []
    for k, e in enumerate(entries, 1):
        where = f"{path}: entry {k}"
        if not isinstance(e, dict):
            raise ExpectationsError(f"{where}: not a table")
        status, klass = e.get("status"), e.get("class", "unclassified")
        if status not in STATUSES:
            raise ExpectationsError(f"{where}: status must be one of {', '.join(STATUSES)}, not {status!r}")
        if klass not in CLASSES:
            raise ExpectationsError(f"{where}: class must be one of {', '.join(CLASSES)}, not {klass!r}")
        keys = [x for x in ("finding", "signature", "req", "case") if e.get(x) is not None]
        if not keys:
            raise ExpectationsError(f"{where}: names nothing (give finding, signature, req or case)")
        sig = e.get("signature")
        if sig is not None and not isinstance(sig, dict):
            raise ExpectationsError(f"{where}: signature must be a table")
        out.append(Expectation(status, klass, str(e.get("note", "")), e.get("finding"), sig, e.get("req"),
                               e.get("case"), str(e.get("title", "")), tuple(e.get("cases", ()))))
    return out


@dataclass(slots=True)
class Outcome:
    """What a run did against the expectations."""

    expected: list[tuple[Finding, Expectation]] = field(default_factory=list)
    unexpected: list[tuple[Finding, Expectation | None, str]] = field(default_factory=list)  # why
    unexpectedly_passing: list[Expectation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # cases graded ERROR

    @property
    def ok(self) -> bool:
        return not (self.unexpected or self.unexpectedly_passing or self.errors)

    def to_dict(self, source: str | None = None) -> dict[str, Any]:
        """The outcome as index.json records it (``reports.render``)."""
        def entry(e: Expectation) -> dict[str, Any]:
            return {"names": e.label(), "status": e.status, "class": e.klass, "note": e.note}

        return {"source": source, "ok": self.ok,
                "expected": [{"finding": f.id, "verdict": f.verdict, **entry(e)} for f, e in self.expected],
                "unexpected": [{"finding": f.id, "verdict": f.verdict, "title": f.title, "why": why,
                                **(entry(e) if e is not None else {})} for f, e, why in self.unexpected],
                "unexpectedly_passing": [entry(e) for e in self.unexpectedly_passing],
                "errors": list(self.errors)}

    def classes(self) -> dict[str, tuple[str, str]]:
        """Per finding ID: its class (the matching entry's, or ``unclassified``) and ``expected``/``unexpected``."""
        out = {f.id: (e.klass, "expected") for f, e in self.expected}
        out.update({f.id: (e.klass if e is not None else "unclassified", "unexpected") for f, e, _w in self.unexpected})
        return out

    def lines(self) -> list[str]:
        out = [f"expectations: {len(self.expected)} expected, {len(self.unexpected)} unexpected, "
               f"{len(self.unexpectedly_passing)} unexpectedly passing"
               + (f", {len(self.errors)} case(s) in ERROR" if self.errors else "")]
        for f, _e, why in self.unexpected:
            out.append(f"  UNEXPECTED {f.id} {f.verdict}: {f.title} ({why}; smallest: {f.repro or f.smallest})")
        for e in self.unexpectedly_passing:
            out.append(f"  UNEXPECTEDLY PASSING {e.label()}: expected {e.status} [{e.klass}]")
        for c in self.errors:
            out.append(f"  ERROR {c}")
        return out


def judge(found: Sequence[Finding], results: Sequence[CaseResult], expectations: Sequence[Expectation]) -> Outcome:
    """Sort the run's findings into expected and unexpected, and find the entries that did not show."""
    out = Outcome()
    used: set[int] = set()
    by_case = frozenset(e.case for e in expectations if e.case is not None)
    for f in found:
        ranked = [(n, -k, k) for k, e in enumerate(expectations) if (n := e.names(f, by_case))]
        if not ranked:
            out.unexpected.append((f, None, "no expectation names it"))
            continue
        k = max(ranked)[2]
        e = expectations[k]
        used.add(k)
        got = _STATUS_OF.get(f.verdict, "info")
        if e.status in ("flaky", got):
            out.expected.append((f, e))
        else:
            out.unexpected.append((f, e, f"expected {e.status}, got {got}"))
    ran = {r.case for r in results if r.verdict not in (Verdict.SKIPPED, Verdict.UNSUPPORTED)}
    targeted = {q for r in results if r.case in ran for q in r.reqs}
    for k, e in enumerate(expectations):
        if k in used or e.status == "flaky":
            continue
        if e.case is not None:
            in_scope = e.case in ran
        elif e.cases:
            in_scope = bool(ran.intersection(e.cases))
        elif e.req is not None:
            in_scope = e.req in targeted
        else:
            in_scope = bool(ran)
        if in_scope:
            out.unexpectedly_passing.append(e)
    out.errors = [r.case for r in results if r.verdict is Verdict.ERROR]
    return out


# --------------------------------------------------------------------------------------------------
# Campaigns (module docstring, "In a fuzz campaign")
# --------------------------------------------------------------------------------------------------


def masking(f: Finding, expectations: Sequence[Expectation]) -> tuple[Expectation | None, str]:
    """The entry that masks finding ``f`` of one campaign example (module docstring): the entry :func:`judge`
    would pick, case entries left out, if its status is ``flaky`` or at least ``f``'s verdict; else None and
    why not."""
    ranked = [(n, -k, k) for k, e in enumerate(expectations) if e.case is None and (n := e.names(f))]
    if not ranked:
        return None, "no entry names it"
    e = expectations[max(ranked)[2]]
    got = _STATUS_OF.get(f.verdict, "info")
    if e.status == "flaky" or _SEVERITY[got] <= _SEVERITY[e.status]:
        return e, ""
    return None, f"the file expects {e.status}, this example {got}"


@dataclass(slots=True)
class Sighting:
    """A finding a campaign went on past: how many examples showed it, and the first of them."""

    finding: str
    verdict: str
    title: str
    klass: str  # the masking entry's class
    case: str
    examples: int
    seed: int  # the seed of the search that drew the first example
    description: str  # the first example

    def merge(self, other: Sighting) -> None:
        self.examples += other.examples


class Known:
    """An expectations file as a campaign uses it: which of an example's findings are masked."""

    def __init__(self, source: str, expectations: Sequence[Expectation]) -> None:
        self.source = source
        self.expectations = list(expectations)

    def classify(self, result: CaseResult) -> list[tuple[Finding, Expectation | None, str]]:
        """Every finding of ``result`` (one example's result), each with the entry masking it, or None and why."""
        return [(f, *masking(f, self.expectations)) for f in findings([result])]

    def screen(self, result: CaseResult) -> list[tuple[Finding, Expectation]] | None:
        """The example's findings with their masking entries when every one is masked (and it has some);
        None when any is not (the example is then a failure, as without expectations)."""
        classified = self.classify(result)
        if not classified or any(e is None for _f, e, _why in classified):
            return None
        return [(f, e) for f, e, _why in classified if e is not None]
