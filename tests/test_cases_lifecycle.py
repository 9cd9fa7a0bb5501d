"""The lifecycle cases that watch a splice being made (``open_unspliced``, Feature.LIFECYCLE): the
reference passes them, and each deliberately wrong IUT below — the reference's session with one
lifecycle rule broken — fails the case written for that rule, on that rule's requirement."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import pytest
from splicecheck.adapters.reference import LifecycleSession, ReferenceAdapter, ReferenceSession
from splicecheck.adapters.seqadj_ftp import SeqadjFtpAdapter
from splicecheck.adapters.synproxy import SynproxyAdapter
from splicecheck.conformance.case import Case
from splicecheck.conformance.cases_lifecycle_watch import WATCHING
from splicecheck.conformance.contract import (
    Feature,
    LifecycleAdapter,
    NotSplicedError,
    Observation,
    RefusedError,
    Scenario,
    open_unspliced,
    session_stage,
)
from splicecheck.conformance.model import handshake_sockets, reference_state
from splicecheck.conformance.results import CaseResult, Verdict, grade
from splicecheck.conformance.runner import run_case
from splicecheck.reference.codec import encode
from splicecheck.reference.lifecycle import Event, EventType, SpliceMachine, Stage
from splicecheck.reference.relay import Endpoint
from splicecheck.reference.segment import ACK, PSH, IPv4Header, IPv6Header, Segment, TcpHeader
from splicecheck.reference.seqspace import seq_add

E = EventType
BY_ID = {c.id: c for c in WATCHING}


def verdict(adapter: object, case_id: str) -> CaseResult:
    return run_case(adapter, BY_ID[case_id], "test")  # type: ignore[arg-type]


def failing(r: CaseResult) -> set[str]:
    """The requirements of the case's targeted checks that failed."""
    return {d.req for d in r.targeted}


class WrongIut(ReferenceAdapter):
    """The reference, its sessions before the splice replaced by ``session_cls`` (a broken rule)."""

    name = "wrong"
    session_cls: type[LifecycleSession] = LifecycleSession

    def __init__(self, session_cls: type[LifecycleSession]) -> None:
        super().__init__()
        self.session_cls = session_cls

    @contextmanager
    def open_unspliced(self, scenario: Scenario) -> Iterator[LifecycleSession]:
        with super().open_unspliced(scenario) as s:
            yield self.session_cls(s.machine, s.where)


def making(m: SpliceMachine, event: Event) -> bool:
    """Whether ``event`` makes the splice of machine ``m`` (the OK message's last byte, or PRESPLICE(0))."""
    stage, remaining = m.stage, m.ok_remaining
    return (event.type is E.APP_SEND_CLIENT and stage is Stage.PRESPLICED and event.nbytes == remaining) or \
        (event.type is E.PRESPLICE and event.nbytes == 0 and stage is Stage.CONNECTED)


def tcp(src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int = ACK, data: bytes = b"") -> bytes:
    ip = IPv4Header(src.addr, dst.addr) if len(src.addr) == 4 else IPv6Header(src.addr, dst.addr)
    return encode(Segment(ip, TcpHeader(src.port, dst.port, seq, ack, flags), data))


# --------------------------------------------------------------------------------------------------
# Wrong IUTs
# --------------------------------------------------------------------------------------------------


class BasesAtPresplice(LifecycleSession):
    """Takes D's rcv_nxt at PRESPLICE instead of when DONT_ACK took effect; its TCP counts in-order server
    bytes into rcv_nxt as they arrive, held or not (as a receive queue does)."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        m = self.machine
        in_order = m.stage is Stage.CONNECTED and m.d is not None and self._from_server(segment) \
            and segment.tcp.seq == m.d.rcv_nxt
        out = super().inject(segment, raw=raw, expect=expect)
        if in_order and m.d is not None:
            m.d.rcv_nxt = seq_add(m.d.rcv_nxt, len(segment.payload))
        return out

    def event(self, event: Event) -> Observation:
        m = self.machine
        if event.type is E.PRESPLICE and m.stage is Stage.CONNECTED and m.d is not None:
            m.s2c_irs = m.d.rcv_nxt
        return super().event(event)


class ClientBaseAtSplice(LifecycleSession):
    """Takes C's rcv_nxt when the splice is made instead of at PRESPLICE, counting the client's in-order
    bytes that arrived in between."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        m = self.machine
        in_order = m.stage is Stage.PRESPLICED and not self._from_server(segment) and segment.tcp.seq == m.c.rcv_nxt
        out = super().inject(segment, raw=raw, expect=expect)
        if in_order:
            m.c.rcv_nxt = seq_add(m.c.rcv_nxt, len(segment.payload))
        return out

    def event(self, event: Event) -> Observation:
        if making(self.machine, event):
            self.machine.c2s_irs = self.machine.c.rcv_nxt
        return super().event(event)


class DeliversHeldData(LifecycleSession):
    """Lets the application read server data that arrived under DONT_ACK (and so never relays it)."""

    def event(self, event: Event) -> Observation:
        m = self.machine
        if event.type is E.APP_RECV_SERVER and m.stage in (Stage.CONNECTED, Stage.PRESPLICED) and m.d is not None:
            n = event.nbytes
            while n > 0 and m.held:
                n -= len(m.held.pop(0).payload)
            m.d.rcv_nxt = seq_add(m.d.rcv_nxt, event.nbytes)
            return Observation()
        return super().event(event)


class RelaysHeldData(LifecycleSession):
    """Ignores DONT_ACK: server data arriving before the splice is forwarded to the client at once, as is."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        held = self.machine.stage in (Stage.CONNECTED, Stage.PRESPLICED) and bool(segment.payload) \
            and self._from_server(segment)
        out = super().inject(segment, raw=raw, expect=expect)
        return Observation(to_client=(encode(segment),)) if held else out


class AcksHeldData(LifecycleSession):
    """Holds server data under DONT_ACK but its TCP acknowledges it to the server."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        m = self.machine
        held = m.stage in (Stage.CONNECTED, Stage.PRESPLICED) and bool(segment.payload) and self._from_server(segment)
        out = super().inject(segment, raw=raw, expect=expect)
        if held and m.d is not None:
            ack = tcp(m.d.sock.local, m.d.sock.peer, m.d.snd_nxt, seq_add(segment.tcp.seq, len(segment.payload)))
            return Observation(out.to_client, (*out.to_server, ack))
        return out


class OwnTcpTraffic(LifecycleSession):
    """Correct, and shows its own TCP at work before the splice as a real proxy would: the bytes its
    application writes go out (the OK message included), the data it may read is acknowledged, and
    held server data gets a duplicate ACK at D.splice_irs (acknowledging nothing held)."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        m = self.machine
        before, made = m.stage, m.splice is not None
        out = super().inject(segment, raw=raw, expect=expect)
        if made or before is Stage.PRESPLICED or not segment.payload:
            return out
        ctr = m.d if self._from_server(segment) else m.c
        assert ctr is not None
        held = ctr is m.d and before is Stage.CONNECTED
        ack = m.s2c_irs if held and m.s2c_irs is not None else seq_add(segment.tcp.seq, len(segment.payload))
        pkt = tcp(ctr.sock.local, ctr.sock.peer, ctr.snd_nxt, ack)
        return Observation((*out.to_client, pkt), out.to_server) if ctr is m.c else \
            Observation(out.to_client, (*out.to_server, pkt))

    def event(self, event: Event) -> Observation:
        m = self.machine
        ctr = m.c if event.type is E.APP_SEND_CLIENT else m.d if event.type is E.APP_SEND_SERVER else None
        seq = ctr.snd_nxt if ctr is not None else 0
        out = super().event(event)
        if ctr is None or not event.nbytes:
            return out
        pkt = tcp(ctr.sock.local, ctr.sock.peer, seq, ctr.rcv_nxt, ACK | PSH, bytes(event.nbytes))
        return Observation((pkt, *out.to_client), out.to_server) if ctr is m.c else \
            Observation(out.to_client, (pkt, *out.to_server))


class SkipsRelease(LifecycleSession):
    """Makes the splice but forgets the segments it held."""

    def event(self, event: Event) -> Observation:
        if making(self.machine, event):
            self.machine.held.clear()
        return super().event(event)


class CompletesOnPartialAck(LifecycleSession):
    """Counts the splice complete on the client's first ACK after it is made, covering the OK message or not."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        out = super().inject(segment, raw=raw, expect=expect)
        m = self.machine
        if m.stage is Stage.SPLICED and segment.tcp.flags & ACK and not self._from_server(segment):
            m.stage = Stage.COMPLETE
        return out


class CompletesByPlainComparison(LifecycleSession):
    """Completes when the client's ack is numerically at least C.splice_iss (no sequence-space order)."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        m = self.machine
        before = m.stage
        out = super().inject(segment, raw=raw, expect=expect)
        if before is Stage.SPLICED and m.stage in (Stage.SPLICED, Stage.COMPLETE) and m.splice is not None \
                and segment.tcp.flags & ACK and not self._from_server(segment):
            m.stage = Stage.COMPLETE if segment.tcp.ack >= m.splice.client.splice_iss else Stage.SPLICED
        return out


def accepting(stage: Stage, etype: EventType) -> type[LifecycleSession]:
    """A session that takes an event of type ``etype`` in ``stage`` where the table refuses it (and
    does nothing with it)."""

    class Accepts(LifecycleSession):
        def event(self, event: Event) -> Observation:
            if self.machine.stage is stage and event.type is etype:
                return Observation()
            return super().event(event)

        def inject(self, segment: Segment, *, raw: bytes | None = None,
                   expect: tuple[int, int] | None = None) -> Observation:
            kind = E.SERVER_SEGMENT if self._from_server(segment) else E.CLIENT_SEGMENT
            if self.machine.stage is stage and kind is etype:
                return Observation()
            return super().inject(segment, raw=raw, expect=expect)

    return Accepts


def refusing(stage: Stage, etype: EventType) -> type[LifecycleSession]:
    """A session that refuses an event of type ``etype`` in ``stage`` although the table allows it."""

    class Refuses(LifecycleSession):
        def event(self, event: Event) -> Observation:
            if self.machine.stage is stage and event.type is etype:
                raise RefusedError(stage.value, etype.value, "not implemented")
            return super().event(event)

    return Refuses


class Stageless(LifecycleSession):
    """A correct session that does not report its stage."""

    stage = None  # type: ignore[assignment]


# --------------------------------------------------------------------------------------------------
# The reference and the contract
# --------------------------------------------------------------------------------------------------


def test_the_watching_cases_cover_every_lifecycle_requirement() -> None:
    assert {c.primary for c in WATCHING} == {"LIFE-DONTACK", "LIFE-RELEASE", "LIFE-BASE-S2C", "LIFE-BASE-C2S",
                                             "LIFE-COMPLETE", "LIFE-OK-ZERO", "LIFE-TOTAL"}


@pytest.mark.parametrize("case", WATCHING, ids=[c.id for c in WATCHING])
def test_reference_passes(case: Case) -> None:
    r = run_case(ReferenceAdapter(), case, "reference")
    assert r.verdict is Verdict.PASS, (r.reason, [d.line() for d in r.diffs])
    assert r.checked > 0 and r.steps


@pytest.mark.parametrize("case", WATCHING, ids=[c.id for c in WATCHING])
def test_the_proxys_own_tcp_traffic_is_allowed(case: Case) -> None:
    """Its own ACKs and written bytes before the splice are not the splice's: still PASS."""
    r = run_case(WrongIut(OwnTcpTraffic), case, "own-tcp")
    assert r.verdict is Verdict.PASS, [d.line() for d in r.diffs]


class Spy(LifecycleSession):
    """A correct session that notes every (stage, event type) it is asked to handle."""

    asked: ClassVar[set[tuple[Stage, EventType]]] = set()

    def event(self, event: Event) -> Observation:
        Spy.asked.add((self.machine.stage, event.type))
        return super().event(event)

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        Spy.asked.add((self.machine.stage, E.SERVER_SEGMENT if self._from_server(segment) else E.CLIENT_SEGMENT))
        return super().inject(segment, raw=raw, expect=expect)


@pytest.mark.req("LIFE-TOTAL")
def test_every_stage_event_pair_is_walked() -> None:
    Spy.asked = set()
    r = verdict(WrongIut(Spy), "LIFE-TOTAL/every-stage-event-pair")
    assert r.verdict is Verdict.PASS and r.checked > 77 * 3
    assert Spy.asked == set(itertools.product(Stage, EventType))  # all 77


def test_open_unspliced_session_before_and_after_the_splice() -> None:
    adapter = ReferenceAdapter()
    assert isinstance(adapter, LifecycleAdapter)
    sc = BY_ID["LIFE-RELEASE/at-presplice-without-ok-message"].scenario
    with open_unspliced(adapter, sc) as s:
        assert session_stage(s) is Stage.UNSPLICED
        with pytest.raises(NotSplicedError):
            _ = s.state
        with pytest.raises(RefusedError, match="INTEND_SPLICE first"):
            s.event(Event(E.PRESPLICE, 0))
        s.event(Event(E.SERVER_CONNECTED, socket=handshake_sockets(sc)[1]))
        s.event(Event(E.INTEND_SPLICE))
        assert s.event(Event(E.PRESPLICE, 0)) == Observation()  # nothing held: nothing released
        assert session_stage(s) is Stage.COMPLETE  # no OK message: complete at once (LIFE-OK-ZERO)
        assert s.state == reference_state(sc)  # the same splice open() makes


def test_without_open_unspliced_or_lifecycle_the_cases_are_unsupported_never_error() -> None:
    class NoLifecycle(ReferenceAdapter):
        unsupported = frozenset({Feature.LIFECYCLE})

    class Opaque:  # claims every feature, has no open_unspliced (like the mutant adapter)
        name = "opaque"
        unsupported: frozenset[Feature] = frozenset()

        def info(self) -> object:
            return None

        def open(self, scenario: Scenario) -> object:
            return ReferenceAdapter().open(scenario)

        def close(self) -> None:
            pass

    for case in WATCHING:
        assert Feature.LIFECYCLE in case.all_needs(), case.id
        assert verdict(NoLifecycle(), case.id).verdict is Verdict.UNSUPPORTED
        r = verdict(Opaque(), case.id)
        assert r.verdict is Verdict.UNSUPPORTED and "open_unspliced" in r.reason, (case.id, r.reason)


def test_the_live_adapters_are_unsupported() -> None:
    for adapter in (SynproxyAdapter(), SeqadjFtpAdapter()):
        for case in WATCHING:
            r = run_case(adapter, case, adapter.name)
            assert r.verdict is Verdict.UNSUPPORTED and "lifecycle" in r.reason, (adapter.name, case.id, r.reason)


def test_completion_needs_a_session_that_reports_its_stage() -> None:
    adapter = WrongIut(Stageless)
    for case in WATCHING:
        r = verdict(adapter, case.id)
        if case.primary in ("LIFE-COMPLETE", "LIFE-OK-ZERO"):
            assert r.verdict is Verdict.UNSUPPORTED and "stage" in r.reason
        else:
            assert r.verdict is Verdict.PASS, (case.id, r.reason)


# --------------------------------------------------------------------------------------------------
# Each wrong IUT is caught by its case, on its requirement
# --------------------------------------------------------------------------------------------------


@pytest.mark.req("LIFE-BASE-S2C")
def test_bases_taken_at_presplice_are_caught() -> None:
    adapter = WrongIut(BasesAtPresplice)
    r = verdict(adapter, "LIFE-BASE-S2C/banner-between-intend-and-presplice")
    assert r.verdict is Verdict.FAIL and "LIFE-BASE-S2C" in failing(r)
    (base,) = [d for d in r.diffs if d.field.startswith("state.server.splice_irs")]
    assert base.actual - base.expected == 40  # the banner counted in: the base 40 bytes too far
    assert any(d.field.startswith("to_client[0]") and d.req == "LIFE-BASE-S2C" for d in r.diffs)  # banner lost
    # where no server byte arrives between INTEND_SPLICE and PRESPLICE the wrong rule gives the right base
    assert verdict(adapter, "LIFE-BASE-C2S/client-data-before-splice").verdict is Verdict.PASS


@pytest.mark.req("LIFE-BASE-C2S")
def test_client_base_taken_when_the_splice_is_made_is_caught() -> None:
    adapter = WrongIut(ClientBaseAtSplice)
    for cid in ("LIFE-BASE-C2S/client-data-before-splice", "LIFE-BASE-C2S/client-data-across-wrap"):
        r = verdict(adapter, cid)
        assert r.verdict is Verdict.FAIL and "LIFE-BASE-C2S" in failing(r), cid
        (base,) = [d for d in r.diffs if d.field.startswith("state.client.splice_irs")]
        assert (base.actual - base.expected) % (1 << 32) == 18
    assert verdict(adapter, "LIFE-BASE-S2C/banner-between-intend-and-presplice").verdict is Verdict.PASS


@pytest.mark.req("LIFE-DONTACK")
def test_held_data_delivered_to_the_application_is_caught() -> None:
    r = verdict(WrongIut(DeliversHeldData), "LIFE-DONTACK/held-after-intend-splice")
    assert r.verdict is Verdict.FAIL and failing(r) == {"LIFE-DONTACK"}
    (d,) = r.targeted
    assert (d.field, d.expected, d.actual) == ("lifecycle[connected, app-recv-server]", "refused", "accepted")


@pytest.mark.req("LIFE-DONTACK")
@pytest.mark.parametrize("session_cls", [RelaysHeldData, AcksHeldData])
def test_held_data_relayed_or_acked_is_caught(session_cls: type[LifecycleSession]) -> None:
    leg = "to_client" if session_cls is RelaysHeldData else "to_server"
    for cid in ("LIFE-DONTACK/held-after-intend-splice", "LIFE-DONTACK/banner-after-connect"):
        r = verdict(WrongIut(session_cls), cid)
        assert r.verdict is Verdict.FAIL and failing(r) == {"LIFE-DONTACK"}, cid
        assert {d.field for d in r.targeted} == {f"{leg}.count"} and all(d.expected == 0 for d in r.targeted)


@pytest.mark.req("LIFE-RELEASE")
def test_a_skipped_release_is_caught() -> None:
    adapter = WrongIut(SkipsRelease)
    r = verdict(adapter, "LIFE-RELEASE/on-last-byte-of-ok-message")
    assert r.verdict is grade("LIFE-RELEASE") and "LIFE-RELEASE" in failing(r)
    # one check per held segment, on the step that writes the OK message's last byte
    (step,) = {d.step for d in r.targeted}
    assert r.steps[step].summary_input == "lifecycle event app-send-client(3)"
    assert sorted((d.field, d.expected, d.actual) for d in r.targeted) == \
        [("to_client.count", 1, 0)] * 3 + [("to_server.count", 1, 0)]
    r = verdict(adapter, "LIFE-RELEASE/at-presplice-without-ok-message")
    assert r.verdict is grade("LIFE-RELEASE")
    assert [(d.field, d.expected, d.actual) for d in r.targeted] == [("to_client.count", 1, 0)] * 2


@pytest.mark.req("LIFE-COMPLETE")
def test_completion_on_a_partial_ack_is_caught() -> None:
    r = verdict(WrongIut(CompletesOnPartialAck), "LIFE-COMPLETE/stage-on-ack-of-whole-ok-message")
    assert r.verdict is Verdict.FAIL and failing(r) == {"LIFE-COMPLETE"}
    first = min(r.targeted, key=lambda d: d.step)
    assert (first.field, first.expected, first.actual) == ("stage", "spliced", "complete")


@pytest.mark.req("LIFE-COMPLETE")
def test_completion_by_plain_comparison_is_caught_across_the_wrap() -> None:
    adapter = WrongIut(CompletesByPlainComparison)
    assert verdict(adapter, "LIFE-COMPLETE/stage-on-ack-of-whole-ok-message").verdict is Verdict.PASS
    r = verdict(adapter, "LIFE-COMPLETE/stage-across-ok-message-wrap")
    assert r.verdict is Verdict.FAIL and failing(r) == {"LIFE-COMPLETE"}


@pytest.mark.req("LIFE-TOTAL")
@pytest.mark.parametrize(("stage", "etype"), [(Stage.INTENDED, E.PRESPLICE), (Stage.CONNECTED, E.APP_RECV_SERVER),
                                              (Stage.SPLICED, E.APP_SEND_CLIENT), (Stage.CLOSED, E.INTEND_SPLICE),
                                              (Stage.INTENDED, E.SERVER_SEGMENT)])
def test_an_event_accepted_where_the_table_refuses_it_is_caught(stage: Stage, etype: EventType) -> None:
    r = verdict(WrongIut(accepting(stage, etype)), "LIFE-TOTAL/every-stage-event-pair")
    assert r.verdict is grade("LIFE-TOTAL") and failing(r) == {"LIFE-TOTAL"}
    pair = f"[{stage.value}, {etype.value}]"
    assert {d.field for d in r.targeted} == {f"lifecycle{pair}", f"stage in TRANSITIONS{pair} []"}


@pytest.mark.req("LIFE-TOTAL")
@pytest.mark.parametrize(("stage", "etype"), [(Stage.CONNECTED, E.APP_SEND_SERVER),
                                              (Stage.PRESPLICED, E.APP_SEND_CLIENT),
                                              (Stage.UNSPLICED, E.SERVER_CONNECTED)])
def test_an_event_refused_where_the_table_allows_it_is_caught(stage: Stage, etype: EventType) -> None:
    r = verdict(WrongIut(refusing(stage, etype)), "LIFE-TOTAL/every-stage-event-pair")
    assert r.verdict is grade("LIFE-TOTAL") and failing(r) == {"LIFE-TOTAL"}
    pair = f"lifecycle[{stage.value}, {etype.value}]"
    assert {(d.field, d.expected, d.actual) for d in r.targeted if d.field == pair} == {(pair, "accepted", "refused")}


def test_wrong_iuts_pass_the_cases_about_other_rules() -> None:
    """Each broken rule is pinned on its own requirement: the cases about unrelated rules still pass."""
    assert verdict(WrongIut(SkipsRelease), "LIFE-COMPLETE/stage-across-ok-message-wrap").verdict is Verdict.PASS
    assert verdict(WrongIut(CompletesOnPartialAck), "LIFE-RELEASE/on-last-byte-of-ok-message").verdict is Verdict.PASS
    assert verdict(WrongIut(DeliversHeldData), "LIFE-BASE-C2S/client-data-across-wrap").verdict is Verdict.PASS
    assert verdict(WrongIut(accepting(Stage.INTENDED, E.PRESPLICE)),
                   "LIFE-DONTACK/held-after-intend-splice").verdict is Verdict.PASS


def test_reference_session_refusals_are_the_contracts() -> None:
    with ReferenceAdapter().open(Scenario()) as s:
        assert isinstance(s, ReferenceSession)
        with pytest.raises(RefusedError) as err:
            s.event(Event(E.PRESPLICE, 0))
        # Scenario() has no OK message, so its splice is complete as soon as it is made (LIFE-OK-ZERO)
        assert err.value.reason and err.value.state == "complete" and err.value.event == "presplice"
