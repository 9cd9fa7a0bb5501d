"""Stateful cases: model and IUT driven side by side (conformance/stateful.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from splicecheck.adapters.reference import LifecycleSession, ReferenceAdapter
from splicecheck.conformance.contract import Feature, Observation, Scenario
from splicecheck.conformance.model import addresses, reference_machine
from splicecheck.conformance.properties import ENV_PROGRAMS, ENV_SHRINK_RUNS, ENV_STEPS
from splicecheck.conformance.results import CaseKind, Verdict
from splicecheck.conformance.runner import run_case
from splicecheck.conformance.stateful import CASES, LIFECYCLE_REQS
from splicecheck.reference.codec import encode
from splicecheck.reference.lifecycle import SpliceMachine, Stage
from splicecheck.reference.relay import RelayResult, SpliceState, relay
from splicecheck.reference.segment import Segment

RELAY, LIFECYCLE = CASES


def drops_wrapping(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Every segment whose sequence space crosses 2^32 is dropped (a wrap-only bug)."""
    r = relay(state, seg, now)
    return dataclasses.replace(r, emitted=()) if seg.tcp.seq + seg.seg_len > 1 << 32 else r


class Broken(ReferenceAdapter):
    name = "broken"


@pytest.fixture(autouse=True)
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PROGRAMS, "25")
    monkeypatch.setenv(ENV_STEPS, "30")
    monkeypatch.setenv(ENV_SHRINK_RUNS, "150")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference_agrees_with_the_model(case: object) -> None:
    from splicecheck.conformance.case import Case

    assert isinstance(case, Case) and case.kind is CaseKind.STATEFUL
    r = run_case(ReferenceAdapter(), case, "reference", 4)
    assert r.verdict is Verdict.PASS, (r.reason, [d.line() for d in r.diffs])
    assert r.examples == 25 and r.checked > 25 * 20


@pytest.mark.parametrize("case", [RELAY, pytest.param(LIFECYCLE, marks=pytest.mark.slow)], ids=[c.id for c in CASES])
def test_a_wrap_bug_fails_with_a_minimal_program_that_the_seed_reproduces(case: object) -> None:
    from splicecheck.conformance.case import Case

    assert isinstance(case, Case)
    r = run_case(Broken(relay_fn=drops_wrapping), case, "broken", 8)
    assert r.verdict is Verdict.FAIL, r.reason
    assert "minimal program:" in r.reason and r.repro == f"splicecheck run --adapter broken --case {case.id} --seed 8"
    assert r.first_failure is not None and r.first_failure == r.examples
    # the failing step is a segment across 2^32 that the IUT swallowed
    (d,) = [d for d in r.targeted if d.field.endswith(".count")][:1]
    assert (d.expected, d.actual) == (1, 0)
    again = run_case(Broken(relay_fn=drops_wrapping), case, "broken", 8)
    assert (again.reason, again.diffs) == (r.reason, r.diffs)


class Session(LifecycleSession):
    """A pre-splice session over the model, to build lifecycle bugs from."""


class LifecycleIut(ReferenceAdapter):
    """An adapter with its own pre-splice sessions (``open_unspliced``), built from a session class."""

    name = "lifecycle-iut"
    session_cls: type[LifecycleSession] = Session

    @contextmanager
    def open_unspliced(self, scenario: Scenario) -> Iterator[LifecycleSession]:
        m = SpliceMachine(reference_machine(scenario).client, strip_style=scenario.strip_style)
        yield self.session_cls(m, addresses(scenario.family))


class ForwardsHeldData(Session):
    """Ignores DONT_ACK: server data that arrives before the splice is forwarded to the client as is."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        held = self.machine.stage in (Stage.CONNECTED, Stage.PRESPLICED) and segment.payload \
            and segment.ip.src == self.where.server.addr
        out = super().inject(segment, raw=raw, expect=expect)
        return Observation(to_client=(encode(segment),)) if held else out


class NeverComplete(Session):
    """Relays correctly but never notices the ACK of the OK message."""

    @property
    def stage(self) -> Stage:
        s = self.machine.stage
        return Stage.SPLICED if s is Stage.COMPLETE else s


@pytest.mark.parametrize(("session_cls", "req"), [(ForwardsHeldData, "LIFE-DONTACK"), (NeverComplete, "LIFE-COMPLETE")])
def test_lifecycle_bugs_are_found(session_cls: type[LifecycleSession], req: str) -> None:
    adapter = LifecycleIut()
    adapter.session_cls = session_cls
    r = run_case(adapter, LIFECYCLE, "x", 2)
    assert r.verdict is Verdict.FAIL, r.reason
    assert req in {d.req for d in r.targeted}, [d.line() for d in r.targeted]
    assert req in LIFECYCLE_REQS


def test_the_reference_with_its_own_open_unspliced_passes() -> None:
    assert run_case(LifecycleIut(), LIFECYCLE, "x", 6).verdict is Verdict.PASS


def test_lifecycle_needs_a_pre_splice_session() -> None:
    class NoLifecycle(ReferenceAdapter):
        unsupported = frozenset({Feature.LIFECYCLE})

    assert run_case(NoLifecycle(), LIFECYCLE, "x", 1).verdict is Verdict.UNSUPPORTED

    class Opaque:  # an adapter with LIFECYCLE but neither open_unspliced nor a model inside
        name = "opaque"
        unsupported: frozenset[Feature] = frozenset()

        def info(self) -> object:
            return None

        def open(self, scenario: Scenario) -> object:
            return ReferenceAdapter().open(scenario)

        def close(self) -> None:
            pass

    r = run_case(Opaque(), LIFECYCLE, "x", 1)  # type: ignore[arg-type]
    assert r.verdict is Verdict.UNSUPPORTED and "open_unspliced" in r.reason
    # state/relay needs nothing of the kind
    assert run_case(Opaque(), RELAY, "x", 1).verdict is Verdict.PASS  # type: ignore[arg-type]


def test_a_scenario_the_iut_cannot_make_is_redrawn_not_the_whole_case() -> None:
    """An adapter that cannot make some scenarios (seqadj-ftp needs 0 or at least 24 client pre-splice
    bytes) makes those programs invalid, not the case UNSUPPORTED."""
    from contextlib import contextmanager

    from splicecheck.adapters.reference import ReferenceAdapter
    from splicecheck.conformance.contract import UnsupportedError
    from splicecheck.conformance.properties import Budget
    from splicecheck.conformance.stateful import CASES, RelayAgreement, search_machine

    class Picky(ReferenceAdapter):
        @contextmanager
        def open(self, scenario):  # type: ignore[no-untyped-def]
            if scenario.client_presplice % 2:
                raise UnsupportedError("odd pre-splice byte counts are not possible here")
            with super().open(scenario) as s:
                yield s

    case = next(c for c in CASES if c.id == "state/relay")
    tally, _ = search_machine(Picky(), case, RelayAgreement, 5, Budget(programs=30, steps=5))
    assert tally.rejected > 0 and tally.failure is None and tally.examples > 0
