"""Verdicts and results: what a run produces, one JSON line per case (the reports' only input).

Grading (docs/ARCHITECTURE.md, principle 4). Every field the diff engine compares is attributed to requirement
IDs. A difference in a field attributed to requirement R is graded by R's level: FAIL for a MUST,
NON-STRICT for a SHOULD, INFO for a MAY. UNSUPPORTED: the IUT declared it cannot do what the case needs.
SKIPPED: this machine lacks what the adapter needs (the reason says what). ERROR: the harness failed, not
the IUT.

**First divergence.** The harness builds every injection from the splice state, never from the IUT's
output, so an earlier step can change a later one only through the IUT's state: when it emitted more,
fewer or other packets than the model (a ``count``, a segment that does not decode, an ICMP error instead
of a segment), relayed other control flags (``tcp.flags``: a RST or FIN passed or not), or set the splice
up otherwise (the ``state.``/``stage``/lifecycle checks, ``packet`` -1). The first step with such a
difference is the *first divergence*; from there the model's state no longer describes the IUT's, so every
difference in a *later* step of the same case is its consequence: marked ``consequence_of`` = the first
divergence's requirement (its worst such difference), charged to it and graded at its level, never at a
stricter one (a relayed expired-TTL RST, a SHOULD, that closes the splice does not make the next segment's
loss a TS-VAL FAIL). Every other difference is *first-hand*: a per-packet field (a window not rescaled
exactly, a TTL not decremented) changes nothing later, so a MUST broken after it is still a MUST broken.
The marking is done when a :class:`CaseResult` is made (``__post_init__``), so results files written
before it load and grade alike.

**A case's verdict** is the worst grade among the differences charged to the requirements it *targets*;
differences charged to other requirements are *collateral* and count towards those requirements'
verdicts. One exception, so that a MUST seen broken is never lost because the case was aimed elsewhere:
a first-hand collateral difference of a MUST makes the case FAIL too, and the case names those
requirements in ``collateral_failures`` (a collateral SHOULD or MAY leaves the case's verdict alone and
shows in the requirement table only).

**Several legitimate outcomes.** Where the paper or a later RFC allows a splice more than one answer (legs
that disagree on timestamps: strip, supply or refuse; ECN flags towards a leg that never negotiated ECN:
relay or clear), a case declares the others as :class:`~splicecheck.conformance.case.Alternative` values.
The runner judges the IUT's output against the model first — the only path a case without alternatives
has, unchanged — and only if that finds a difference, the same observed packets (the IUT is not run
again) against each alternative's relay in turn. The first alternative the output matches, up to the
differences it tolerates, grades the case (PASS when nothing else differs), and its name is recorded in
``alternative`` (``"model"`` when the model's outcome matched a case that has alternatives); when none
matches, the case is graded against the outcome it came closest to (fewest packets of another kind than the
outcome's — one more or fewer, SYN or RST added or gone, ICMP for TCP — then fewest differing checks,
``runner.distance``; the model on a tie), and ``alternative`` names that one unless
it is the model's — so an IUT that legitimately answers a foreign segment with its host's RST and later
misses an ICMP error is charged with the missing ICMP, not with the RST. Step-local alternatives (a host's
RST, relaying an option area that cannot be walked) are chosen step by step and may mix in one case; the
name then joins theirs with ``+``. A refusal to splice legs that disagree on an option
(``SpliceRefused``) is the alternative ``"refuse"``.

A requirement's verdict is the worst over all the checks charged to it, targeted and collateral; if none
ran it is UNSUPPORTED (or SKIPPED), and if no case covers it at all, NOT-COVERED. ``runner.exit_code``
looks at both the cases' and the requirements' verdicts, so the table and the exit code always agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..spec.requirements import BY_ID, Level


class CaseKind(StrEnum):
    """What a case (and its result line) is: its value is what results files store."""

    NAMED = "named"  # a hand-written case: fixed segments, one expected outcome
    VECTOR = "vector"  # a Z3 boundary vector run as a case
    PROPERTY = "property"  # a Hypothesis property: many generated examples
    STATEFUL = "stateful"  # a Hypothesis state machine: generated programs of events
    TRACE = "trace"  # a connection judged offline from captures (``splicecheck trace``)


#: The kinds of catalogue cases (what ``--kind`` selects); trace results come from captures, not the catalogue.
CASE_KINDS = (CaseKind.NAMED, CaseKind.VECTOR, CaseKind.PROPERTY, CaseKind.STATEFUL)


class Verdict(StrEnum):
    PASS = "PASS"
    INFO = "INFO"
    SKIPPED = "SKIPPED"
    UNSUPPORTED = "UNSUPPORTED"
    NON_STRICT = "NON-STRICT"
    FAIL = "FAIL"
    ERROR = "ERROR"
    NOT_COVERED = "NOT-COVERED"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def bad(self) -> bool:
        """Makes the run's exit code 1."""
        return self in (Verdict.FAIL, Verdict.ERROR)


_RANK = {Verdict.NOT_COVERED: 0, Verdict.PASS: 1, Verdict.INFO: 2, Verdict.SKIPPED: 3, Verdict.UNSUPPORTED: 4,
         Verdict.NON_STRICT: 5, Verdict.FAIL: 6, Verdict.ERROR: 7}

GRADE = {Level.MUST: Verdict.FAIL, Level.SHOULD: Verdict.NON_STRICT, Level.MAY: Verdict.INFO}


def grade(req: str) -> Verdict:
    """The verdict a departure from requirement ``req`` earns."""
    return GRADE[BY_ID[req].level]


def worst(verdicts: Iterable[Verdict], default: Verdict = Verdict.PASS) -> Verdict:
    return max(verdicts, key=lambda v: v.rank, default=default)


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One compared field of one output packet (packetdrill style when it differs).

    ``step``: index of the injection in the case; ``packet``: index of the output on its leg;
    ``field``: a dotted name (``tcp.seq``, ``tcp.options.TS.tsval``, ``segments``, …);
    values are JSON-friendly (ints, strings, lists, None)."""

    step: int
    packet: int
    field: str
    expected: Any
    actual: Any
    req: str
    consequence_of: str | None = None  # a later step's difference: the first divergence's requirement

    @property
    def ok(self) -> bool:
        return bool(self.expected == self.actual)

    @property
    def charged(self) -> str:
        """The requirement this check counts for: its own, or the first divergence's for a consequence."""
        return self.consequence_of or self.req

    @property
    def verdict(self) -> Verdict:
        if self.ok:
            return Verdict.PASS
        own = grade(self.req)
        if self.consequence_of is None:
            return own
        return min(own, grade(self.consequence_of), key=lambda v: v.rank)  # never stricter than the cause

    def line(self) -> str:
        after = f" (after {self.consequence_of} diverged)" if self.consequence_of else ""
        return f"{self.req} field {self.field}: expected {fmt(self.expected)} vs actual {fmt(self.actual)}{after}"


#: fields of an emitted packet whose difference means the IUT acted otherwise than the model (module docstring)
STATE_CHANGING = (".tcp.flags", ".decodes", ".icmp")


def diverges(d: FieldDiff) -> bool:
    """Whether difference ``d`` can leave the IUT's state other than the model's (module docstring)."""
    return not d.ok and (d.packet < 0 or d.field.endswith(STATE_CHANGING))


def attribute(diffs: Iterable[FieldDiff]) -> list[FieldDiff]:
    """``diffs`` with every difference after the first divergence marked as its consequence (module
    docstring); differences already marked keep their mark."""
    diffs = list(diffs)
    divergent = [d for d in diffs if diverges(d)]
    if not divergent:
        return diffs
    first = min(d.step for d in divergent)
    lead = max((d for d in divergent if d.step == first), key=lambda d: grade(d.req).rank)
    return [replace(d, consequence_of=lead.req) if not d.ok and d.step > first and d.consequence_of is None else d
            for d in diffs]


def collateral_failures(reqs: Iterable[str], diffs: Iterable[FieldDiff]) -> list[str]:
    """The MUSTs outside ``reqs`` seen broken first-hand (in the first divergent step)."""
    targets = set(reqs)
    return sorted({d.req for d in attribute(diffs)
                   if not d.ok and d.consequence_of is None and d.req not in targets and d.verdict is Verdict.FAIL})


def fmt(v: Any) -> str:
    """Decimal and hex for numbers, as packetdrill prints them."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v} ({v:#x})" if v > 9 else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One injection: the packets in, expected and observed (hex), and their one-line summaries."""

    leg_in: str  # "client" or "server": who sent it
    input: str
    expected_to_client: list[str] = field(default_factory=list)
    expected_to_server: list[str] = field(default_factory=list)
    actual_to_client: list[str] = field(default_factory=list)
    actual_to_server: list[str] = field(default_factory=list)
    summary_input: str = ""
    summary_expected: list[str] = field(default_factory=list)
    summary_actual: list[str] = field(default_factory=list)
    #: the step number its differences carry, where the steps kept are not every step (the trace checker keeps
    #: only differing ones); None: its place in the list (a run keeps every step)
    step: int | None = None


def step_record(r: CaseResult, step: int) -> StepRecord | None:
    """The record of ``r``'s step ``step`` (the number its differences carry), None when it was not kept."""
    if any(s.step is not None for s in r.steps):
        return next((s for s in r.steps if s.step == step), None)
    return r.steps[step] if 0 <= step < len(r.steps) else None


def step_number(steps: Sequence[StepRecord], index: int) -> int:
    """The step number the differences of ``steps[index]`` carry."""
    s = steps[index].step
    return index if s is None else s


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where a case's input sits in sequence space relative to the splice's base (for the HTML picture)."""

    splice_irs: int
    splice_iss: int
    seq: int
    length: int
    direction: str
    #: the in leg's splice_iss, the base of the input's acknowledgment number (None in results written before
    #: it was recorded): an ack behind it acknowledges bytes sent before the splice
    ack_base: int | None = None
    #: the step it belongs to (the differences' step number; a step with no direction, a foreign segment's, has
    #: no geometry); None in results written before it was recorded
    step: int | None = None


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case against one IUT (one JSON line)."""

    case: str  # case ID, e.g. "SEQ-MAP-wrap-1"
    reqs: list[str]  # the requirements the case targets (first = primary)
    verdict: Verdict
    description: str = ""
    expectation: str = ""
    diffs: list[FieldDiff] = field(default_factory=list)  # differing fields only
    checked: int = 0  # number of field comparisons made
    steps: list[StepRecord] = field(default_factory=list)
    geometry: list[Geometry] = field(default_factory=list)
    reason: str = ""  # UNSUPPORTED / SKIPPED / ERROR: why
    duration: float = 0.0
    repro: str = ""  # one command that reproduces the case
    seed: int | None = None
    kind: CaseKind = CaseKind.NAMED
    examples: int = 0  # property/stateful: examples (programs) generated before the search stopped
    first_failure: int | None = None  # property/stateful: 1-based index of the first failing example
    collateral_failures: list[str] = field(default_factory=list)  # MUSTs outside reqs broken first-hand
    alternative: str = ""  # the legitimate outcome the IUT matched or was graded against (module docstring)
    #: property/stateful: hits per wrap region (``conformance.coverage.REGIONS`` order, zeros included) of
    #: the segments its examples injected; None (and absent from the JSON line) for other cases and older files
    coverage: dict[str, int] | None = None

    def __post_init__(self) -> None:
        """Mark the consequences of the first divergence and name the collateral MUSTs (module docstring)."""
        if self.diffs:
            object.__setattr__(self, "diffs", attribute(self.diffs))
            object.__setattr__(self, "collateral_failures", collateral_failures(self.reqs, self.diffs))

    @property
    def targeted(self) -> list[FieldDiff]:
        return [d for d in self.diffs if d.charged in self.reqs]

    @property
    def collateral(self) -> list[FieldDiff]:
        return [d for d in self.diffs if d.charged not in self.reqs]

    def to_json(self) -> str:
        d = asdict(self)
        if not d["alternative"]:
            del d["alternative"]  # single-outcome cases' lines are what they always were
        if d["coverage"] is None:
            del d["coverage"]  # so are those of cases that do not count wrap coverage
        d["verdict"] = self.verdict.value
        d["type"] = "case"
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseResult:
        d = {k: v for k, v in d.items() if k != "type"}
        d["verdict"] = Verdict(d["verdict"])
        d["kind"] = CaseKind(d.get("kind", CaseKind.NAMED))
        d["diffs"] = [FieldDiff(**x) for x in d.get("diffs", [])]
        d["steps"] = [StepRecord(**x) for x in d.get("steps", [])]
        d["geometry"] = [Geometry(**x) for x in d.get("geometry", [])]
        return cls(**d)


def case_verdict(reqs: list[str], diffs: Iterable[FieldDiff]) -> Verdict:
    """The worst grade among differences charged to the targeted requirements (PASS if none); FAIL when a
    MUST outside them was seen broken first-hand (module docstring)."""
    marked = attribute(diffs)
    verdict = worst(d.verdict for d in marked if not d.ok and d.charged in reqs)
    return worst((verdict, Verdict.FAIL)) if collateral_failures(reqs, marked) else verdict


def contributions(result: CaseResult) -> list[tuple[str, Verdict]]:
    """The (requirement, verdict) pairs one case adds to its requirements' grading (module docstring)."""
    if result.verdict in (Verdict.UNSUPPORTED, Verdict.SKIPPED, Verdict.ERROR):
        return [(rid, result.verdict) for rid in result.reqs]
    out = [(rid, worst((d.verdict for d in result.diffs if d.charged == rid), Verdict.PASS)) for rid in result.reqs]
    return out + [(d.charged, d.verdict) for d in result.collateral]


def requirement_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """A requirement's verdict from its checks' verdicts: the worst of those that ran, else UNSUPPORTED or
    SKIPPED, else NOT-COVERED."""
    vs = list(verdicts)
    ran = [v for v in vs if v not in (Verdict.UNSUPPORTED, Verdict.SKIPPED)]
    return worst(ran) if ran else worst(vs, Verdict.NOT_COVERED)


def requirement_verdicts(results: Iterable[CaseResult]) -> dict[str, Verdict]:
    """Per requirement ID (every catalogued one): the worst verdict among its checks (module docstring)."""
    out: dict[str, list[Verdict]] = {rid: [] for rid in BY_ID}
    for r in results:
        for rid, v in contributions(r):
            out.setdefault(rid, []).append(v)
    return {rid: requirement_verdict(vs) for rid, vs in out.items()}


def run_fails(verdicts: Iterable[Verdict], strict: bool = False) -> bool:
    """Whether cases or requirements with these verdicts fail a run: any FAIL or ERROR (with ``strict``,
    NON-STRICT too, as h2spec's strict mode)."""
    bad = {Verdict.FAIL, Verdict.ERROR} | ({Verdict.NON_STRICT} if strict else set())
    return any(v in bad for v in verdicts)


@dataclass(frozen=True, slots=True)
class RunHeader:
    """The first JSON line of a results file: who was tested, by what, with which seeds."""

    iut: str
    iut_version: str
    iut_description: str
    splicecheck_version: str
    started: str  # ISO 8601
    adapter: str
    seed: int | None = None
    argv: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        d["type"] = "header"
        return json.dumps(d, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class RunFooter:
    """The last JSON line, written only when the run finished (its absence marks a partial run)."""

    finished: str
    duration: float
    counts: dict[str, int]
    interrupted: str | None = None  # why the run stopped early ("SIGTERM", "error: …"); None: it finished

    def to_json(self) -> str:
        d = asdict(self)
        if d["interrupted"] is None:
            del d["interrupted"]  # a finished run's footer is what it always was
        d["type"] = "footer"
        return json.dumps(d, separators=(",", ":"))
