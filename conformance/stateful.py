"""Stateful cases: rule-based state machines that drive the model and the IUT side by side.

Why one module of ~650 lines: the two machines (relay, lifecycle) share one base class whose rules, steps
and recording they extend, and the search that runs them; the model (:mod:`.model`), the diff
(:mod:`.diff`) and the search budget and tally (:mod:`.properties`) stand apart.

Theory of operation
-------------------
After Hypothesis' ``tests/nocover/test_database_agreement.py``: every step of a
:class:`~hypothesis.stateful.RuleBasedStateMachine` is applied to two implementations and they must
agree. Here one is the reference :class:`~splicecheck.reference.lifecycle.SpliceMachine` (the model)
and the other the IUT, through its adapter session: lifecycle events with ``session.event`` and
segments with ``session.inject``. What the model emits for a step is diffed against what the IUT
emitted by the same diff engine as every other case; a step fails when a difference attributed to
one of the case's requirements grades FAIL or NON-STRICT. Steps impossible in a state are kept out
with ``@precondition`` (never ``assume``); where the IUT's session exposes a ``stage`` attribute, an
``@invariant`` checks that it agrees with the model's.

Two cases:

- ``state/relay`` — any adapter. The scenario's splice is made by ``adapter.open``; then data,
  retransmissions (reaching below the base), reordering, duplicates, ACKs, SACKs, URG, FIN and RST in
  both directions.
- ``state/lifecycle`` — adapters with Feature.LIFECYCLE that can open a session *before* the splice:
  the two handshakes (the scenario), pre-splice data through the proxy application, INTEND_SPLICE,
  in-flight data held under DONT_ACK, PRESPLICE(n), the OK message written in pieces (the splice is
  made and held data released when it is complete), the client's ACK of the OK message, and then the
  ``state/relay`` rules. Such a session comes from ``adapter.open_unspliced(scenario)`` (the contract's
  :func:`~splicecheck.conformance.contract.open_unspliced`); without one the case is UNSUPPORTED.

The program of the minimal failing run is the result's ``reason``; its checks and steps are the
result's diffs and steps; the budget is :class:`~splicecheck.conformance.properties.Budget`'s
``programs`` and ``steps``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

from hypothesis import reject, seed
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.errors import StopTest
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ..reference.codec import decode, encode
from ..reference.errors import MalformedSegment, SpliceStateError
from ..reference.lifecycle import Event, EventType, SpliceMachine, Stage
from ..reference.relay import Leg, RelayResult, SpliceState
from ..reference.segment import ACK, FIN, PSH, RST, URG, Segment
from ..reference.seqspace import seq_add
from .case import Case, Injection
from .contract import (
    Adapter,
    Feature,
    Observation,
    Scenario,
    Session,
    UnsupportedError,
    drawable_avoid,
    open_unspliced,
    session_sockets,
)
from .diff import diff_step, expected_counts, geometry, split_observation, summary
from .expectations import Known
from .model import Addresses, addresses, handshake_sockets, unspliced_machine
from .plans import SackPlan, SegmentPlan, TsPlan, describe_scenario
from .properties import (
    Budget,
    SearchTally,
    adapter_spec,
    conclude,
    fresh_seed,
    hypothesis_settings,
    run_search,
    screening,
)
from .results import CaseKind, CaseResult, FieldDiff, Geometry, StepRecord, case_verdict
from .runner import Executed
from .strategies import scenario_strategy

RELAY_REQS = ("SEQ-MAP", "ACK-MAP", "ACK-NOACK", "TRIM-REST", "TRIM-SOUND", "TRIM-COMPLETE", "TRIM-BELOW",
              "URG-KEEP", "URG-SHIFT", "URG-CLEAR", "TS-VAL", "TS-ECR", "SACK-MAP", "SACK-CLIP", "FLAGS-KEEP",
              "PAYLOAD-KEEP", "TCPCSUM-VALID")
LIFECYCLE_REQS = ("LIFE-RELEASE", "LIFE-DONTACK", "LIFE-BASE-S2C", "LIFE-BASE-C2S", "LIFE-COMPLETE", "LIFE-TOTAL",
                  *RELAY_REQS)

SIDES = st.sampled_from(("client", "server"))
SIZES = st.one_of(st.integers(1, 16), st.integers(0, 600))
SMALL = st.integers(0, 64)
WINDOWS = st.sampled_from((8192, 0, 0xFFFF, 1))
MIN_TRAFFIC_BEFORE_RST = 6  # a RST ends the program's traffic: let some flow first
MAX_PRESPLICE_ROUNDS = 2
MAX_INFLIGHT = 4
PRESPLICE_BYTES = st.integers(1, 1500)
OK_LENGTHS = st.one_of(st.just(0), st.integers(1, 64))
PROXY_TS = st.one_of(st.none(), st.integers(1, 1000), st.integers(1 << 31, 0xFFFF_FFFF))  # the proxy's clock


def _kind(seg: Segment, where: Addresses) -> EventType:
    server = seg.ip.src == where.server.addr and seg.tcp.sport == where.server.port
    return EventType.SERVER_SEGMENT if server else EventType.CLIENT_SEGMENT


# --------------------------------------------------------------------------------------------------
# The machines
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Program:
    """One run of a machine: its steps in words, and every check made."""

    log: list[str] = field(default_factory=list)
    diffs: list[FieldDiff] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    geometry: list[Geometry] = field(default_factory=list)

    def executed(self) -> Executed:
        return Executed(self.diffs, self.steps, self.geometry)

    def describe(self) -> str:
        return "; ".join(self.log)


@dataclass(slots=True)
class _Stream:
    """One end host's byte stream as an offset from its leg's splice_irs."""

    sent: int = 0  # next new sequence offset
    fin: bool = False
    tick: int = 1  # TSval offset of its next segment


class SpliceAgreement(RuleBasedStateMachine):
    """Rules shared by both machines: relayed traffic once the splice is made. Subclasses set the class
    attributes (a fresh subclass per search) and an ``@initialize`` rule that opens ``self.session``."""

    adapter: ClassVar[Adapter]
    tally: ClassVar[SearchTally]
    reqs: ClassVar[list[str]]
    last: ClassVar[list[Program]]  # the latest program (after the search: the minimal failing one)

    def __init__(self) -> None:
        super().__init__()
        self.tally.begin()
        self.program = Program()
        self.last[:] = [self.program]
        self.stack = ExitStack()
        self.session: Session | None = None
        self.machine: SpliceMachine | None = None
        self.where: Addresses | None = None
        self.streams = {"client": _Stream(), "server": _Stream()}
        self.history: list[Injection] = []
        self.checked_constants = False
        self.presplice_rounds = 0  # pre-splice exchanges through the proxy application (a few at most)
        self.inflight = 0  # segments sent while DONT_ACK holds them (a few at most)
        self.counted: set[str] = set()  # the masked findings this program was counted under (fuzz --expect)

    def teardown(self) -> None:
        self.stack.close()
        # a program Hypothesis gave up on (no enabled rule could run: swarm testing) does not count;
        # teardown runs in its ``finally``, where the exception on its way out is still visible
        if isinstance(sys.exc_info()[1], StopTest) and self.tally.first_failure is None:
            self.tally.examples -= 1
        p = self.program
        if self.tally.failure is None and self.tally.evidence is None and any(not d.ok for d in p.diffs):
            self.tally.evidence = p.executed()

    # -- plumbing ------------------------------------------------------------------------------------
    @property
    def avoid(self) -> frozenset[Feature]:
        return drawable_avoid(self.adapter)

    @property
    def stage(self) -> Stage | None:
        return self.machine.stage if self.machine is not None else None

    @property
    def relaying(self) -> bool:
        return self.stage in (Stage.SPLICED, Stage.COMPLETE)

    def _state(self) -> SpliceState:
        """The splice's constants, or before the splice the provisional ones the counters give."""
        m = self.machine
        assert m is not None
        if m.splice is not None:
            return m.splice
        c, d = m.c, m.d
        client = c.leg(m.c2s_irs if m.c2s_irs is not None else c.rcv_nxt,
                       m.s2c_iss if m.s2c_iss is not None else c.snd_nxt)
        if d is None:  # D not connected: only client segments are made, the server leg is a stand-in
            assert self.where is not None
            return SpliceState(client, Leg(self.where.server, self.where.proxy_d, 0, 0), m.strip_style)
        return SpliceState(client, d.leg(m.s2c_irs if m.s2c_irs is not None else d.rcv_nxt,
                                         m.c2s_iss if m.c2s_iss is not None else d.snd_nxt), m.strip_style)

    def _max_ack(self, side: str) -> int:
        """The highest ack offset (from in.splice_iss) ``side`` may send: all the other end's bytes once
        relaying; before the splice only what the proxy itself sent (held bytes are not delivered, and
        the client cannot acknowledge the unwritten part of the OK message)."""
        if self.relaying or self.stage is Stage.CLOSED:
            return self.streams["server" if side == "client" else "client"].sent
        m = self.machine
        return -m.ok_remaining if m is not None and side == "client" else 0

    def _plan(self, side: str, off: int, size: int = 0, flags: int = ACK, *, lag: int = 0, ack_off: int | None = None,
              urgent: int = 0, window: int = 8192, sack: SackPlan | None = None) -> Injection:
        """A segment of ``side``'s stream; TS (ticking) when its leg uses timestamps; acking the other
        stream ``lag`` bytes short of what was sent to it."""
        st_ = self._state()
        me, other = self.streams[side], self.streams["server" if side == "client" else "client"]
        leg = st_.client if side == "client" else st_.server
        opts: tuple[TsPlan | SackPlan, ...] = (TsPlan(me.tick, other.tick - 1),) if leg.timestamps else ()
        me.tick += 1
        if sack is not None:
            opts += (sack,)
        ack_off = self._max_ack(side) - lag if ack_off is None else ack_off
        plan = SegmentPlan(side, off, size, fill=(off + 17) & 0xFF, flags=flags, ack_off=ack_off,
                           urgent=urgent, window=window, options=opts, default_ts=False)
        return plan.build(st_)

    def _inject(self, inj: Injection, what: str, primary: str = "SEQ-MAP") -> None:
        m, session, where = self.machine, self.session, self.where
        assert m is not None and session is not None and where is not None
        self.program.log.append(what)
        wire = inj.wire
        held = len(m.held)
        if m.splice is not None:  # wrap coverage, against the splice as the model has it before this step
            self.tally.coverage.observe(m.splice, inj.segment)
        try:
            judged = decode(wire) if inj.raw is not None else inj.segment
        except MalformedSegment:
            judged, results = inj.segment, []
        else:
            try:
                results = m.handle(Event(_kind(judged, where), segment=judged))
            except Exception as exc:
                raise self.tally.harness(exc) from exc
        self.history.append(inj)
        observed = self._iut(lambda: session.inject(inj.segment, raw=inj.raw, expect=expected_counts(*results)))
        if observed is None:
            return
        idle = "LIFE-DONTACK" if len(m.held) > held else "LIFE-TOTAL"
        self._compare(results, [(judged, wire)] * len(results), observed, primary, idle, (judged, wire))

    def _event(self, event: Event, what: str) -> None:
        m, session = self.machine, self.session
        assert m is not None and session is not None
        self.program.log.append(what)
        held = list(m.held)
        try:
            results = m.handle(event)
        except Exception as exc:
            raise self.tally.harness(exc) from exc
        observed = self._iut(lambda: session.event(event))
        if observed is None:
            return
        self._compare(results, [(s, encode(s)) for s in held[:len(results)]], observed, "LIFE-RELEASE",
                      "LIFE-RELEASE", None)
        if m.splice is not None and not self.checked_constants:
            self.checked_constants = True
            self._check_constants(session, m.splice)

    def _iut(self, call: Callable[[], Observation]) -> Observation | None:
        """The IUT's answer; a refused event or segment is a divergence (LIFE-TOTAL), other errors the harness's."""
        try:
            return call()
        except SpliceStateError as exc:
            self._record([FieldDiff(-1, -1, "event accepted", True, f"refused: {exc}", "LIFE-TOTAL")])
            return None
        except Exception as exc:
            raise self.tally.harness(exc) from exc

    def _compare(self, results: list[RelayResult], inputs: list[tuple[Segment, bytes]], observed: Observation,
                 primary: str, idle_req: str, idle_input: tuple[Segment, bytes] | None) -> None:
        """Diff the model's results against the IUT's packets, split among the results in order."""
        p = self.program
        diffs: list[FieldDiff] = []
        if not results:  # the model emits nothing: the IUT must not either
            if observed.empty:
                return
            step = len(p.steps)
            for leg, actual in (("to_client", observed.to_client), ("to_server", observed.to_server)):
                diffs.append(FieldDiff(step, -1, f"{leg}.count", 0, len(actual), idle_req))
            seg, raw = idle_input if idle_input is not None else (None, b"")
            p.steps.append(StepRecord(
                leg_in="server" if seg is not None and self.where is not None and _kind(seg, self.where)
                is EventType.SERVER_SEGMENT else "client",
                input=raw.hex(), actual_to_client=[x.hex() for x in observed.to_client],
                actual_to_server=[x.hex() for x in observed.to_server],
                summary_input=summary(raw) if raw else "lifecycle event " + p.log[-1],
                summary_actual=[summary(x) for x in observed.to_client + observed.to_server]))
            self._record(diffs)
            return
        state = self._state()
        for r, (seg, raw), part in zip(results, inputs, split_observation(results, observed), strict=True):
            step = len(p.steps)
            step_diffs, record = diff_step(step, state, seg, raw, r, part, primary)
            diffs += step_diffs
            p.steps.append(record)
            g = geometry(state, seg, r, step)
            if g is not None:
                p.geometry.append(g)
        self._record(diffs)

    def _check_constants(self, session: Session, made: SpliceState) -> None:
        """The IUT's splice constants against the lifecycle table's (figures 6 and 7)."""
        try:
            iut = session.state
        except Exception as exc:
            raise self.tally.harness(exc) from exc
        self._record([FieldDiff(-1, -1, f"splice.{leg}.{name}", getattr(getattr(made, leg), name),
                                getattr(getattr(iut, leg), name), req)
                      for leg, name, req in (("client", "splice_irs", "LIFE-BASE-C2S"),
                                             ("server", "splice_iss", "LIFE-BASE-C2S"),
                                             ("server", "splice_irs", "LIFE-BASE-S2C"),
                                             ("client", "splice_iss", "LIFE-BASE-S2C"))])

    def _record(self, diffs: list[FieldDiff]) -> None:
        """Keep the checks; fail the program if a targeted requirement was missed."""
        p = self.program
        p.diffs += diffs
        self.tally.checked += len(diffs)
        bad = [d for d in diffs if not d.ok]
        verdict = case_verdict(self.reqs, bad)
        if self.tally.fails(verdict) and not self.tally.expected(p.describe(), p.executed(), self.counted):
            raise self.tally.fail(verdict, p.describe(), p.executed(),
                                  "\n".join(d.line() for d in bad if d.req in self.reqs))

    # -- invariant -------------------------------------------------------------------------------------
    @invariant()
    def stages_agree(self) -> None:
        """Where the IUT's session shows its stage, it is the model's (LIFE-COMPLETE for the ACK of
        the OK message, LIFE-TOTAL otherwise)."""
        iut = getattr(self.session, "stage", None) if self.session is not None else None
        if iut is None or self.machine is None:
            return
        model, actual = self.machine.stage.value, getattr(iut, "value", iut)
        req = "LIFE-COMPLETE" if Stage.COMPLETE.value in (model, actual) else "LIFE-TOTAL"
        self._record([FieldDiff(-1, -1, "stage", model, actual, req)])

    # -- relayed traffic -------------------------------------------------------------------------------
    def _new_data(self, side: str, size: int) -> tuple[int, int]:
        """Offset for ``size`` new bytes of ``side`` (none once it sent its FIN) and the size used."""
        s = self.streams[side]
        size = 0 if s.fin else size
        off = s.sent
        s.sent += size
        return off, size

    @precondition(lambda self: self.relaying)
    @rule(side=SIDES, size=SIZES, lag=SMALL, window=WINDOWS)
    def data(self, side: str, size: int, lag: int, window: int) -> None:
        off, size = self._new_data(side, size)
        self._inject(self._plan(side, off, size, ACK | PSH if size else ACK, lag=lag, window=window),
                     f"{side}.data(off={off}, len={size})")

    @precondition(lambda self: self.relaying)
    @rule(side=SIDES, first=SIZES, second=SIZES)
    def reorder(self, side: str, first: int, second: int) -> None:
        """Two new segments, the later one first."""
        a, first = self._new_data(side, first)
        b, second = self._new_data(side, second)
        self._inject(self._plan(side, b, second), f"{side}.data(off={b}, len={second}) [reordered]")
        self._inject(self._plan(side, a, first), f"{side}.data(off={a}, len={first}) [late]")

    @precondition(lambda self: self.relaying)
    @rule(side=SIDES, back=st.one_of(SMALL, st.integers(1, 3000)), size=SIZES, urgent=st.one_of(st.just(0), SMALL))
    def retransmit(self, side: str, back: int, size: int, urgent: int) -> None:
        """Bytes sent ``back`` before the stream's end again — below the base when ``back`` exceeds what
        was relayed (the proxy application had read those: the splice trims them)."""
        s = self.streams[side]
        off = s.sent - back
        if Feature.BELOW_BASE in self.avoid and off + size <= 0:
            size = 1 - off  # reach the base: a stateful filter in front of the splice drops the rest
        flags = ACK | (URG if urgent else 0)
        self._inject(self._plan(side, off, size, flags, urgent=urgent),
                     f"{side}.retransmit(off={off}, len={size}" + (f", urg={urgent})" if urgent else ")"))

    @precondition(lambda self: self.relaying and bool(self.history))
    @rule()
    def duplicate(self) -> None:
        self._inject(self.history[-1], "duplicate(last)")

    @precondition(lambda self: self.relaying)
    @rule(side=SIDES, lag=st.one_of(SMALL, st.integers(0, 4000)))
    def ack(self, side: str, lag: int) -> None:
        self._inject(self._plan(side, self.streams[side].sent, lag=lag), f"{side}.ack(lag={lag})")

    @precondition(lambda self: self.relaying)
    @rule(side=SIDES, blocks=st.lists(st.tuples(st.integers(-700, 700), st.integers(1, 1500)), min_size=1,
                                      max_size=3))
    def sack(self, side: str, blocks: list[tuple[int, int]]) -> None:
        """A duplicate ACK with SACK blocks around what the other end sent (some reaching below in.splice_iss)."""
        other = self.streams["server" if side == "client" else "client"].sent
        edges = tuple((other + a, other + a + n) for a, n in blocks)
        self._inject(self._plan(side, self.streams[side].sent, ack_off=0, sack=SackPlan(edges)),
                     f"{side}.sack({edges})")

    @precondition(lambda self: self.relaying)
    @rule(side=SIDES, size=SIZES, urgent=st.integers(0, 700))
    def urgent(self, side: str, size: int, urgent: int) -> None:
        off, size = self._new_data(side, size)
        self._inject(self._plan(side, off, size, ACK | URG | PSH, urgent=urgent),
                     f"{side}.urgent(off={off}, len={size}, urg={urgent})")

    @precondition(lambda self: self.relaying)
    @rule(side=SIDES, size=st.one_of(st.just(0), SIZES))
    def fin(self, side: str, size: int) -> None:
        s = self.streams[side]
        if s.fin:  # retransmitted FIN
            self._inject(self._plan(side, s.sent - 1, 0, ACK | FIN), f"{side}.fin(again, off={s.sent - 1})")
            return
        off = s.sent
        s.sent += size + 1
        s.fin = True
        self._inject(self._plan(side, off, size, ACK | FIN | PSH if size else ACK | FIN),
                     f"{side}.fin(off={off}, len={size})")

    @precondition(lambda self: self.relaying and len(self.history) >= MIN_TRAFFIC_BEFORE_RST)
    @rule(side=SIDES, with_ack=st.booleans(), back=st.one_of(st.just(0), SMALL))
    def rst(self, side: str, with_ack: bool, back: int) -> None:
        off = self.streams[side].sent - back
        self._inject(self._plan(side, off, 0, RST | (ACK if with_ack else 0)), f"{side}.rst(off={off})")

    @precondition(lambda self: self.stage is Stage.CLOSED)
    @rule()
    def closed(self) -> None:
        """Nothing is sent once a RST closed the splice (what a splice does afterwards is not specified)."""


class RelayAgreement(SpliceAgreement):
    """``state/relay``: the splice made by ``adapter.open``, then relayed traffic."""

    @initialize(data=st.data())
    def open_splice(self, data: st.DataObject) -> None:
        scenario = data.draw(scenario_strategy(self.avoid), label="scenario")
        self.program.log.append(f"open({describe_scenario(scenario)})")
        try:
            self.session = self.stack.enter_context(self.adapter.open(scenario))
            state = self.session.state
        except UnsupportedError as exc:  # this scenario only (the IUT cannot make it): draw another program
            self.tally.rejected += 1
            self.tally.unsupported = str(exc)
            if self.tally.first_failure is None:
                self.tally.examples -= 1
            reject()
        except Exception as exc:
            raise self.tally.harness(exc) from exc
        self.machine = SpliceMachine.spliced(state)
        self.where = Addresses(state.client.peer, state.client.local, state.server.local, state.server.peer)


class LifecycleAgreement(SpliceAgreement):
    """``state/lifecycle``: the whole figure-3 sequence, then relayed traffic."""

    def __init__(self) -> None:
        super().__init__()
        self.scenario = Scenario()

    @initialize(data=st.data())
    def handshakes(self, data: st.DataObject) -> None:
        self.scenario = data.draw(scenario_strategy(self.avoid, presplice=False), label="scenario")
        self.program.log.append(f"handshakes({describe_scenario(self.scenario)})")
        try:
            self.session = self.stack.enter_context(open_unspliced(self.adapter, self.scenario))
            learnt = session_sockets(self.session)  # a live IUT's own numbers (contract, "Learnt numbers")
            self.machine = (SpliceMachine(learnt[0], strip_style=self.scenario.strip_style) if learnt and learnt[0]
                            else unspliced_machine(self.scenario))
        except Exception as exc:
            raise self.tally.harness(exc) from exc
        self.where = addresses(self.scenario.family)

    def _feature(self, f: Feature) -> bool:
        return f not in self.avoid

    # -- the proxy application (figure 3) ------------------------------------------------------------
    def _proxy_steps(self) -> list[str]:
        """The socket calls the proxy application can make now."""
        m = self.machine
        assert m is not None
        steps = []
        if m.d is None:
            steps.append("connect_server")
        if m.stage is Stage.UNSPLICED:
            steps.append("intend_splice")
        data = self._feature(Feature.PRESPLICE_DATA) and self.presplice_rounds < MAX_PRESPLICE_ROUNDS
        if data and m.d is not None and m.stage in (Stage.UNSPLICED, Stage.CONNECTED):
            steps.append("client_presplice")
        if data and m.d is not None and m.stage is Stage.UNSPLICED:
            steps.append("server_presplice")
        if m.stage is Stage.CONNECTED:
            steps.append("presplice")
        if m.stage is Stage.PRESPLICED:
            steps.append("ok_message")
        return steps

    @precondition(lambda self: self.stage in (Stage.UNSPLICED, Stage.INTENDED, Stage.CONNECTED, Stage.PRESPLICED))
    @rule(data=st.data())
    def proxy_step(self, data: st.DataObject) -> None:
        """The proxy application's next socket call, one of those possible now. One rule for all of them:
        Hypothesis' swarm testing disables each rule in about half the programs, and with one rule per
        call most programs would never reach the splice."""
        step = data.draw(st.sampled_from(self._proxy_steps()), label="proxy step")
        getattr(self, step)(data)

    def connect_server(self, data: st.DataObject) -> None:
        ev = Event(EventType.SERVER_CONNECTED, socket=handshake_sockets(self.scenario)[1])
        if session_sockets(self.session) is None:
            self._event(ev, "server_connected()")
            return
        # the IUT's kernel numbers D: it connects first, and the model connects with the socket it learnt
        session, m = self.session, self.machine
        assert session is not None and m is not None
        self.program.log.append("server_connected()")
        if self._iut(lambda: session.event(ev)) is None:
            return
        learnt = session_sockets(session)
        d = learnt[1] if learnt is not None else None
        try:
            m.handle(Event(EventType.SERVER_CONNECTED, socket=d or ev.socket))
        except Exception as exc:
            raise self.tally.harness(exc) from exc

    def intend_splice(self, data: st.DataObject) -> None:
        self._event(Event(EventType.INTEND_SPLICE), "intend_splice()")

    def client_presplice(self, data: st.DataObject) -> None:
        """The client sends n bytes; the proxy's TCP takes them, the application reads and forwards them."""
        n, ts = data.draw(PRESPLICE_BYTES, label="n"), data.draw(PROXY_TS, label="proxy ts")
        self.presplice_rounds += 1
        self._inject(self._plan("client", 0, n, ACK | PSH), f"client.presplice_data(len={n})", "LIFE-TOTAL")
        m = self.machine
        assert m is not None and m.d is not None
        self._event(Event(EventType.APP_RECV_CLIENT, n), f"app_recv_client({n})")
        tsval = None if ts is None else seq_add(m.d.lastsent_ts, ts)
        self._event(Event(EventType.APP_SEND_SERVER, n, tsval=tsval), f"app_send_server({n}, tsval={tsval})")

    def server_presplice(self, data: st.DataObject) -> None:
        """The server sends n bytes (before INTEND_SPLICE), forwarded to the client by the application."""
        n, ts = data.draw(PRESPLICE_BYTES, label="n"), data.draw(PROXY_TS, label="proxy ts")
        self.presplice_rounds += 1
        self._inject(self._plan("server", 0, n, ACK | PSH), f"server.presplice_data(len={n})", "LIFE-TOTAL")
        m = self.machine
        assert m is not None
        self._event(Event(EventType.APP_RECV_SERVER, n), f"app_recv_server({n})")
        tsval = None if ts is None else seq_add(m.c.lastsent_ts, ts)
        self._event(Event(EventType.APP_SEND_CLIENT, n, tsval=tsval), f"app_send_client({n}, tsval={tsval})")

    def presplice(self, data: st.DataObject) -> None:
        n = data.draw(OK_LENGTHS, label="n") if self._feature(Feature.OK_MESSAGE) else 0
        self._event(Event(EventType.PRESPLICE, n), f"presplice({n})")

    def ok_message(self, data: st.DataObject) -> None:
        """k more bytes of the OK message written to the client (the last piece makes the splice)."""
        m = self.machine
        assert m is not None
        k = min(data.draw(OK_LENGTHS.filter(bool), label="k"), m.ok_remaining)
        ts = data.draw(PROXY_TS, label="proxy ts")
        tsval = None if ts is None else seq_add(m.c.lastsent_ts, ts)
        self._event(Event(EventType.APP_SEND_CLIENT, k, tsval=tsval), f"ok_message({k}, tsval={tsval})")

    @precondition(lambda self: self.stage in (Stage.CONNECTED, Stage.PRESPLICED) and self.inflight < MAX_INFLIGHT)
    @rule(size=SIZES)
    def inflight_server(self, size: int) -> None:
        """Server data arriving under DONT_ACK: held for the splice (released when it is made)."""
        self.inflight += 1
        off, size = self._new_data("server", size)
        self._inject(self._plan("server", off, size, ACK | PSH), f"server.inflight(off={off}, len={size})",
                     "LIFE-RELEASE")

    @precondition(lambda self: self.stage is Stage.PRESPLICED and self.inflight < MAX_INFLIGHT)
    @rule(size=SIZES)
    def inflight_client(self, size: int) -> None:
        """Client data arriving after PRESPLICE: held for the splice too."""
        self.inflight += 1
        off, size = self._new_data("client", size)
        self._inject(self._plan("client", off, size, ACK | PSH), f"client.inflight(off={off}, len={size})",
                     "LIFE-RELEASE")

    @precondition(lambda self: self.relaying)
    @rule(short=st.one_of(st.just(0), st.integers(0, 64)))
    def ack_ok_message(self, short: int) -> None:
        """The client acknowledges the OK message, ``short`` bytes short of its end (LIFE-COMPLETE)."""
        self._inject(self._plan("client", self.streams["client"].sent, ack_off=-short),
                     f"client.ack_ok_message(short={short})")


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


def search_machine(adapter: Adapter, case: Case, machine: type[SpliceAgreement], seed_: int,
                   budget: Budget, database: ExampleDatabase | None = None,
                   stop_at: float | None = None, known: Known | None = None,
                   tallies: list[SearchTally] | None = None) -> tuple[SearchTally, Program | None]:
    """Run ``machine`` against ``adapter``; the tally and the last program run (the minimal failing
    one if the search failed). ``database``, ``known``, ``tallies``: as for property searches (its failures
    replayed first; a step whose program so far shows only masked findings does not end the program)."""
    last: list[Program] = []
    tally = SearchTally(budget.shrink_runs, stop_at=stop_at, seed=seed_, case=case.id,
                        screen=None if known is None else screening(known, case, adapter, seed_))
    if tallies is not None:
        tallies.append(tally)
    # named per adapter: Hypothesis keys a state machine's saved failures by its class (by the source it
    # finds for the name, else the name), so a campaign's database keeps each adapter's failures apart
    cls = type(f"{machine.__name__}_for_{adapter_spec(adapter)}", (machine,),
               {"adapter": adapter, "tally": tally, "reqs": list(case.reqs), "last": last})
    seed(seed_)(cls)
    cfg = hypothesis_settings(budget.programs, budget, steps=budget.steps, database=database)
    run_search(partial(run_state_machine_as_test, cls, settings=cfg), tally)
    return tally, (last[0] if last else None)


def execute_stateful(machine: type[SpliceAgreement], adapter: Adapter, case: Case, seed_: int | None) -> CaseResult:
    """The ``execute`` hook of a stateful case."""
    started = time.perf_counter()
    seed_ = fresh_seed() if seed_ is None else seed_
    budget = Budget.from_env()
    from .campaign import database_from_env  # the campaign module imports this one

    tally, _ = search_machine(adapter, case, machine, seed_, budget, database_from_env())
    return conclude(case, adapter, tally, seed_, budget.programs, started, unit="program")


def _no_injections(state: SpliceState) -> list[Injection]:
    """Stateful cases make their segments step by step."""
    return []


CASES: list[Case] = [
    Case("state/relay", RELAY_REQS,
         "a splice near the wrap, then data, retransmissions below the base, reordering, duplicates, ACKs, SACKs, "
         "URG, FIN and RST in both directions, each step applied to the model and the IUT",
         "every relayed segment as the model relays it, step after step",
         build=_no_injections, kind=CaseKind.STATEFUL, execute=partial(execute_stateful, RelayAgreement)),
    Case("state/lifecycle", LIFECYCLE_REQS,
         "handshakes, pre-splice data, INTEND_SPLICE, in-flight data held under DONT_ACK, PRESPLICE(n), the OK "
         "message in pieces, its ACK, then relayed traffic, each step applied to the model and the IUT",
         "held data released when the OK message is written, base points as in figures 6 and 7, then the relay",
         build=_no_injections, needs=frozenset({Feature.LIFECYCLE}), kind=CaseKind.STATEFUL,
         execute=partial(execute_stateful, LifecycleAgreement)),
]
