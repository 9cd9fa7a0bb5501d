"""The runner: cases against an adapter, one streamed result per case.

For each case: UNSUPPORTED if the adapter declared a feature the case needs; otherwise a session is
opened for the case's scenario, the injections are built from the session's splice state, each is
sent to the IUT and relayed by the model (threading the model's state), and the diff engine compares
them. Exceptions are sorted into the three kinds of docs/ARCHITECTURE.md principle 5: the IUT's divergence is a
verdict, :class:`UnsupportedError` is UNSUPPORTED, anything else the harness raised is ERROR.

Results are appended to a JSONL file as each case completes (:class:`JsonlSink`), flushed and fsynced,
so a crash or Ctrl-C keeps every finished case. The footer line ends a run that finished, and one that
a signal or a fault outside any case stopped (its ``interrupted`` field says which); only a crash or
SIGKILL leaves a file without one. An adapter's exception (``SystemExit`` included) inside a case is
that case's ERROR; outside a case (``info()``, ``missing()``) it is an :class:`AdapterFault`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Protocol, TypeVar

from .. import __version__
from ..reference.codec import decode
from ..reference.errors import MalformedSegment
from ..reference.relay import RelayResult, SpliceState, direction_of
from ..reference.segment import Segment
from . import interrupts
from .case import Alternative, Case, Injection, injections
from .contract import (
    Adapter,
    Feature,
    Observation,
    Session,
    SpliceRefused,
    UnsupportedError,
    legs_disagree,
    refusal_req,
)
from .diff import diff_step, expected_counts, geometry
from .model import Model
from .results import (
    CaseResult,
    FieldDiff,
    Geometry,
    RunFooter,
    RunHeader,
    StepRecord,
    Verdict,
    case_verdict,
    requirement_verdicts,
    run_fails,
)

T = TypeVar("T")


class Reporter(Protocol):
    def start(self, header: RunHeader, total: int | None = None) -> None: ...
    def case(self, result: CaseResult) -> None: ...


def repro_command(adapter_spec: str, case_id: str, seed: int | None = None) -> str:
    cmd = f"splicecheck run --adapter {adapter_spec} --case {case_id}"
    return cmd + (f" --seed {seed}" if seed is not None else "")


@dataclass(frozen=True, slots=True)
class Executed:
    """The checks of one run of a case's injections (also used by property and stateful cases)."""

    diffs: list[FieldDiff]
    steps: list[StepRecord]
    geometry: list[Geometry]
    alternative: str = ""  # the legitimate outcome matched (results.py, "Several legitimate outcomes")

    @property
    def checked(self) -> int:
        return len(self.diffs)

    def differing(self) -> list[FieldDiff]:
        return [d for d in self.diffs if not d.ok]


Observed = tuple[Injection, Observation]


def _judge(model: Model, inj: Injection, keep_rest: bool = False) -> tuple[Segment, bytes, RelayResult, SpliceState]:
    """What the model emits for ``inj``: the judged segment, its wire form, the model's result and the
    state before it. A raw injection that does not decode is expected to be dropped; with ``keep_rest``
    (an alternative's, ``Alternative.keep_rest``) one whose option area cannot be walked is relayed, the
    rest of the area kept as bytes."""
    wire = inj.wire
    state_before = model.state
    try:
        judged = decode(wire, keep_rest) if inj.raw is not None else inj.segment
    except MalformedSegment:
        return inj.segment, wire, RelayResult(direction_of(state_before, inj.segment), ()), state_before
    return judged, wire, model.relay(judged, inj.now), state_before


def run_injections(session: Session, model: Model, built: Iterable[Injection | Segment], primary: str,
                   first_step: int = 0, record: list[Observed] | None = None) -> Executed:
    """Inject ``built`` into ``session`` one by one, relay each through ``model`` (threading its state),
    and diff the two. A raw injection that does not decode is expected to be dropped. ``record``: where
    to keep each injection with what the IUT emitted (to judge it again against an alternative)."""
    diffs: list[FieldDiff] = []
    steps: list[StepRecord] = []
    geo: list[Geometry] = []
    for i, inj in enumerate(injections(list(built)), first_step):
        judged, wire, expected, state_before = _judge(model, inj)
        observed = session.inject(inj.segment, raw=inj.raw, expect=expected_counts(expected))
        if record is not None:
            record.append((inj, observed))
        step_diffs, record_ = diff_step(i, state_before, judged, wire, expected, observed, primary)
        diffs += step_diffs
        steps.append(record_)
        g = geometry(state_before, judged, expected, i)
        if g is not None:
            geo.append(g)
    return Executed(diffs, steps, geo)


def rejudge(state: SpliceState, alt: Alternative, observed: Sequence[Observed], primary: str) -> Executed:
    """The IUT's recorded output judged against alternative ``alt`` (no new injection); the differences
    ``alt`` tolerates become passed checks that say so; the others, in the steps ``alt`` holds for, are charged
    to ``alt.charge`` when it names a requirement."""
    model = Model(state, alt.relay_fn)
    diffs: list[FieldDiff] = []
    steps: list[StepRecord] = []
    geo: list[Geometry] = []
    for i, (inj, obs) in enumerate(observed):
        judged, wire, expected, state_before = _judge(model, inj, alt.keep_rest)
        step_diffs, rec = diff_step(i, state_before, judged, wire, expected, obs, primary)
        holds = alt.tolerate_where is None or alt.tolerate_where(expected)
        tolerate = alt.tolerate if holds else None
        for d in step_diffs:
            if not d.ok and tolerate is not None and tolerate(d):
                d = replace(d, field=f"{d.field} (the IUT's choice within {alt.name!r})", expected=d.actual)
            elif holds and alt.charge and d.req != alt.charge:
                d = replace(d, req=alt.charge)
            diffs.append(d)
        steps.append(rec)
        g = geometry(state_before, judged, expected, i)
        if g is not None:
            geo.append(g)
    return Executed(diffs, steps, geo, alt.name)


def execute(adapter: Adapter, case: Case) -> Executed:
    """Open a session for ``case.scenario``, inject the built segments, diff each against the model; for a
    case with alternatives, when the model's outcome differs, against each alternative in turn: the first
    the IUT matches passes; when it matches none, it is graded against the one it came closest to (fewest packets
    of another kind than the outcome's, then fewest differing checks: :func:`distance`; the model on a tie), whose
    name the result records."""
    with adapter.open(case.scenario) as session:
        state = session.state
        if not case.alternatives:  # the single-outcome path
            return run_injections(session, Model(state), case.build(state), case.primary)
        observed: list[Observed] = []
        ex = run_injections(session, Model(state), case.build(state), case.primary, record=observed)
    if not ex.differing():
        return replace(ex, alternative="model")
    closest, fewest = ex, distance(ex.diffs)
    mixed = ex  # the step-local alternatives so far, each step the outcome it came closest to
    for alt in case.alternatives:
        other = rejudge(state, alt, observed, case.primary)
        if alt.per_step:
            other = mixed = per_step(mixed, other)
        n = distance(other.diffs)
        if not n[1]:
            return other
        if n < fewest:  # the IUT followed this outcome and departed from it later: graded against it, so
            closest, fewest = other, n  # the departure is its own finding, not a consequence of the choice
    return closest


def distance(diffs: Iterable[FieldDiff]) -> tuple[int, int]:
    """How far the IUT's output is from one outcome: first the packets of another kind than the outcome's
    (:func:`diverges`), then the differing checks. What kind of packet a splice sends is its choice of outcome;
    a field within the packet is a departure from it — so an IUT that relays what the model drops is graded
    against the outcome that relays it, even when its packet then differs in more fields than the one count,
    and one that relays a foreign segment is not taken for a host that answered it with a RST."""
    bad = [d for d in diffs if not d.ok]
    return sum(map(diverges, bad)), len(bad)


_INDEXED_FIELD = re.compile(r"to_(?:client|server)\[\d+\]\.(tcp\.flags|icmp)$")


def diverges(d: FieldDiff) -> bool:
    """Whether a differing check says the IUT sent another kind of packet than the outcome's: a packet count
    (one more, one fewer), a SYN or RST where the outcome's packet has none or the other way round, an ICMP
    error in a TCP segment's place or the reverse. (FIN is left out: a trim removes it from the model's.)"""
    if d.field.endswith(".count"):
        return True
    m = _INDEXED_FIELD.search(d.field)
    if m is None:
        return False
    if m.group(1) == "icmp":
        return (d.expected is None) != (d.actual is None)
    return {c for c in str(d.expected) if c in "SR"} != {c for c in str(d.actual) if c in "SR"}


def per_step(model: Executed, alt: Executed) -> Executed:
    """``alt`` (a rejudged run of the same injections against a step-local alternative) where, step by step,
    each step takes the outcome it came closer to (:func:`distance`) — the alternative's when it is closer there,
    else the model's — so an IUT whose host answered one foreign segment and not another matches neither
    outcome alone and still departs from nothing. Named after the alternative when any step took it, joined
    with ``+`` to the name ``model`` already has (``model`` may itself be such a mix: :func:`execute` folds every
    step-local alternative in). (Both runs number their steps from 0, as :func:`execute` and :func:`rejudge`
    make them.)"""
    mine, theirs = _by_step(model.diffs), _by_step(alt.diffs)
    diffs: list[FieldDiff] = []
    steps = list(model.steps)
    taken: set[int] = set()
    for step in sorted(mine.keys() | theirs.keys()):
        m, t = mine.get(step, []), theirs.get(step, [])
        if distance(t) < distance(m):
            diffs += t
            steps[step] = alt.steps[step]
            taken.add(step)
        else:
            diffs += m
    if not taken:
        return Executed(diffs, steps, model.geometry, model.alternative)
    geo = sorted([g for g in model.geometry if g.step not in taken] + [g for g in alt.geometry if g.step in taken],
                 key=lambda g: g.step or 0)
    name = f"{model.alternative}+{alt.alternative}" if model.alternative else alt.alternative
    return Executed(diffs, steps, geo, name)


def _by_step(diffs: Iterable[FieldDiff]) -> dict[int, list[FieldDiff]]:
    out: dict[int, list[FieldDiff]] = {}
    for d in diffs:
        out.setdefault(d.step, []).append(d)
    return out


def unsupported_by(adapter: Adapter) -> frozenset[Feature]:
    """The features ``adapter`` declares unsupported, and ACCEPT when it has no ``open_accepted`` (an
    adapter written before the accept direction existed cannot declare it)."""
    if callable(getattr(adapter, "open_accepted", None)):
        return adapter.unsupported
    return adapter.unsupported | {Feature.ACCEPT}


def run_case(adapter: Adapter, case: Case, adapter_spec: str, seed: int | None = None) -> CaseResult:
    base = CaseResult(case=case.id, reqs=list(case.reqs), verdict=Verdict.PASS, description=case.description,
                      expectation=case.expectation, kind=case.kind, repro=repro_command(adapter_spec, case.id, seed),
                      seed=seed)
    missing = sorted(f.value for f in case.all_needs() & unsupported_by(adapter))
    if missing:
        return replace(base, verdict=Verdict.UNSUPPORTED, reason="the IUT cannot: " + ", ".join(missing))
    t0 = time.perf_counter()
    try:
        if case.execute is not None:  # it cannot know the adapter spec: the repro command is made here
            custom = case.execute(adapter, case, seed)
            return replace(custom, repro=repro_command(adapter_spec, case.id, custom.seed))
        ex = execute(adapter, case)
    except UnsupportedError as exc:
        return replace(base, verdict=Verdict.UNSUPPORTED, reason=str(exc), duration=time.perf_counter() - t0)
    except SpliceRefused as exc:  # the IUT declined to splice (paper §3.4): graded, see contract.SpliceRefused
        req = refusal_req(case.scenario, case.primary)
        reqs = list(dict.fromkeys([*case.reqs, req]))
        if legs_disagree(case.scenario):  # §3.4's first solution: the legitimate alternative "refuse"
            return replace(base, reqs=reqs, checked=1, alternative="refuse", reason=f"splice refused: {exc}",
                           duration=time.perf_counter() - t0)
        bad = [FieldDiff(-1, -1, "splice made", "spliced", f"refused: {exc}", req)]
        return replace(base, reqs=reqs, verdict=case_verdict(reqs, bad), diffs=bad, reason=f"splice refused: {exc}",
                       duration=time.perf_counter() - t0)
    except (Exception, SystemExit) as exc:  # anything else the harness or adapter raised is ERROR
        if interrupts.interruption(exc) is not None:
            raise  # a signal (SIGTERM/SIGHUP as a SystemExit): the run stops
        return replace(base, verdict=Verdict.ERROR, reason=fault_reason(exc), duration=time.perf_counter() - t0)
    bad = ex.differing()
    return replace(base, verdict=case_verdict(list(case.reqs), bad), diffs=bad, checked=ex.checked, steps=ex.steps,
                   geometry=ex.geometry, duration=time.perf_counter() - t0, alternative=ex.alternative)


class JsonlSink:
    """Appends one JSON line per record, flushed and fsynced, so an interrupted run keeps its results.

    ``evidence``: ``"failing"`` (default) keeps the packets (``steps``) of cases that did not pass and
    drops those of passing ones — their field checks are counted in ``checked``, and a passing case's
    packets are what the model says, so they add megabytes and no information; ``"all"`` keeps every
    case's packets (for offline re-checking)."""

    def __init__(self, path: Path | None, evidence: str = "failing") -> None:
        if evidence not in ("failing", "all"):
            raise ValueError(f"evidence must be 'failing' or 'all': {evidence!r}")
        self.evidence = evidence
        self.path = path
        self._f: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f = path.open("w", encoding="utf-8")

    def write(self, line: str) -> None:
        if self._f is None:
            return
        self._f.write(line + "\n")
        self._f.flush()
        with contextlib.suppress(OSError):
            os.fsync(self._f.fileno())

    def write_case(self, result: CaseResult) -> None:
        if self.evidence == "failing" and result.verdict is Verdict.PASS and result.steps:
            result = replace(result, steps=[])
        self.write(result.to_json())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def header_for(adapter: Adapter, adapter_spec: str, seed: int | None, argv: Sequence[str] | None = None) -> RunHeader:
    info = adapter.info()
    return RunHeader(iut=info.name, iut_version=info.version, iut_description=info.description,
                     splicecheck_version=__version__, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     adapter=adapter_spec, seed=seed, argv=list(argv if argv is not None else sys.argv[1:]),
                     details=dict(info.details))


def skipped_all(cases: Iterable[Case], reason: str, adapter_spec: str) -> list[CaseResult]:
    return [CaseResult(case=c.id, reqs=list(c.reqs), verdict=Verdict.SKIPPED, description=c.description,
                       expectation=c.expectation, reason=reason, kind=c.kind, repro=repro_command(adapter_spec, c.id))
            for c in cases]


# --- adapter faults outside a case (issue 14) --------------------------------------------------------


class AdapterFault(Exception):
    """The adapter failed outside any case (``info()``, ``missing()``, ``close()``): the run cannot go on
    (or, for ``close()``, could not end cleanly). The message is one line naming the call."""


def fault_reason(exc: BaseException) -> str:
    """One line for an exception: its type and message (an adapter's ``sys.exit(3)`` included)."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def adapter_call(what: str, fn: Callable[[], T]) -> T:
    """Call one of the adapter's methods outside a case; anything it raises (but a signal) becomes
    :class:`AdapterFault` naming ``what``."""
    try:
        return fn()
    except (Exception, SystemExit) as exc:
        if interrupts.interruption(exc) is not None:
            raise
        raise AdapterFault(f"the adapter's {what} failed: {fault_reason(exc)}") from exc


def footer(started: float, results: Iterable[CaseResult], interrupted: str | None = None) -> RunFooter:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.verdict.value] = counts.get(r.verdict.value, 0) + 1
    return RunFooter(time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter() - started, counts,
                     interrupted=interrupted)


def run(adapter: Adapter, cases: Sequence[Case], *, adapter_spec: str, sink: JsonlSink | None = None,
        reporter: Reporter | None = None, seed: int | None = None,
        on_result: Callable[[CaseResult], None] | None = None, argv: Sequence[str] | None = None) -> list[CaseResult]:
    """Run ``cases`` in order; every result is streamed to ``sink`` and ``reporter`` as it completes."""
    sink = sink or JsonlSink(None)
    header = adapter_call("info()", lambda: header_for(adapter, adapter_spec, seed, argv))
    sink.write(header.to_json())
    if reporter is not None:
        reporter.start(header, len(cases))
    t0 = time.perf_counter()
    results: list[CaseResult] = []
    try:
        missing_fn = getattr(adapter, "missing", None)
        missing: list[str] = list(adapter_call("missing()", missing_fn)) if callable(missing_fn) else []
        todo: Iterable[CaseResult | Case] = skipped_all(cases, "; ".join(missing), adapter_spec) if missing else cases
        for item in todo:
            result = item if isinstance(item, CaseResult) else run_case(adapter, item, adapter_spec, seed)
            results.append(result)
            sink.write_case(result)
            if reporter is not None:
                reporter.case(result)
            if on_result is not None:
                on_result(result)
            interrupts.check()  # a signal whose raise was swallowed inside the case stops the run here
    except BaseException as exc:  # a signal, or a fault outside any case: the footer says the run stopped
        stopped = interrupts.interruption(exc) or f"error: {fault_reason(exc)}"
        sink.write(footer(t0, results, stopped).to_json())
        raise
    sink.write(footer(t0, results).to_json())
    return results


def exit_code(results: Iterable[CaseResult], strict: bool = False) -> int:
    """0 when no case and no requirement is FAIL or ERROR (with ``strict``, NON-STRICT either, as h2spec's
    strict mode), 1 otherwise (2, usage errors, is the CLI's). Cases and requirement table both count,
    so the two always agree with the exit code."""
    results = list(results)
    return 1 if run_fails([*(r.verdict for r in results), *requirement_verdicts(results).values()], strict) else 0


def dump(results: Iterable[CaseResult]) -> str:
    """All results as one JSON array (for tests and debugging)."""
    return json.dumps([json.loads(r.to_json()) for r in results], indent=1)
