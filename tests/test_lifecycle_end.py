"""The end of the lifecycle (issue 17): closing the spliced sockets, the OK message's retransmission,
teardown, and the accept direction — the model's table and machine, the cases, the adapters without
these capabilities, and a mutant per requirement that the cases kill."""

from __future__ import annotations

import dataclasses

import pytest
from splicecheck.adapters.mutants import MutantAdapter
from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance import catalog
from splicecheck.conformance.case import from_client, from_server
from splicecheck.conformance.contract import Feature, PeerPlan, Scenario, UnsupportedError, open_accepted
from splicecheck.conformance.findings import findings
from splicecheck.conformance.model import accepted_machine, reference_machine
from splicecheck.conformance.results import Verdict, contributions
from splicecheck.conformance.runner import run_case
from splicecheck.reference.codec import decode
from splicecheck.reference.errors import SpliceStateError
from splicecheck.reference.lifecycle import TRANSITIONS, Event, EventType, Refused, Stage
from splicecheck.reference.segment import ACK, FIN, Segment
from splicecheck.reference.seqspace import seq_add, seq_sub

E = EventType
OK12 = Scenario(client=PeerPlan(isn=1_000_000, tsval=10), server=PeerPlan(isn=9_000_000, tsval=20),
                proxy_isn_c=0x5000_0000, proxy_isn_d=0x7000_0000, ok_len=12)


def seg_event(seg: Segment, server: bool = False) -> Event:
    return Event(E.SERVER_SEGMENT if server else E.CLIENT_SEGMENT, segment=seg)


# -- the table --------------------------------------------------------------------------------------


def test_close_and_timer_in_the_table() -> None:
    for stage in (Stage.UNSPLICED, Stage.INTENDED, Stage.CONNECTED, Stage.PRESPLICED, Stage.CLOSED):
        assert isinstance(TRANSITIONS[stage][E.APP_CLOSE], Refused), stage
    assert TRANSITIONS[Stage.SPLICED][E.APP_CLOSE] == frozenset({Stage.SPLICED})
    assert TRANSITIONS[Stage.COMPLETE][E.APP_CLOSE] == frozenset({Stage.COMPLETE})
    assert all(not isinstance(TRANSITIONS[s][E.TIMER], Refused) for s in Stage)  # time cannot be refused


# -- LIFE-OK-RETRANSMIT -----------------------------------------------------------------------------


@pytest.mark.req("LIFE-OK-RETRANSMIT")
def test_the_ok_message_is_retransmitted_from_the_first_unacknowledged_byte() -> None:
    m = reference_machine(OK12)
    st = m.splice
    assert st is not None and m.stage is Stage.SPLICED
    start = seq_sub(st.client.splice_iss, 12)
    assert m.ok_outstanding() == (start, 12)
    (r,) = m.handle(Event(E.TIMER))
    (seg,) = r.segments
    assert (seg.tcp.seq, len(seg.payload), seg.ip.dst, seg.tcp.dport) == (start, 12, st.client.peer.addr,
                                                                          st.client.peer.port)
    assert not seg.tcp.flags & FIN and seg.tcp.ack == st.client.splice_irs
    m.handle(seg_event(from_client(st, 0, ack_off=-7)))  # 5 of 12 acknowledged
    assert m.ok_outstanding() == (seq_add(start, 5), 7)
    m.handle(seg_event(from_client(st, 0, ack_off=-9)))  # an older ACK moves nothing back
    assert m.ok_outstanding() == (seq_add(start, 5), 7)
    m.handle(seg_event(from_client(st, 0)))
    assert m.stage is Stage.COMPLETE and m.ok_outstanding() is None and m.handle(Event(E.TIMER)) == []


@pytest.mark.req("LIFE-OK-RETRANSMIT")
def test_a_splice_without_ok_message_retransmits_nothing() -> None:
    m = reference_machine(Scenario())
    assert m.stage is Stage.COMPLETE and m.handle(Event(E.TIMER)) == []


# -- LIFE-CLOSE-SILENT ------------------------------------------------------------------------------


@pytest.mark.req("LIFE-CLOSE-SILENT")
def test_close_emits_nothing_and_the_splice_relays_on() -> None:
    m = reference_machine(OK12)
    st = m.splice
    assert st is not None
    assert m.handle(Event(E.APP_CLOSE)) == [] and m.app_closed and m.stage is Stage.SPLICED
    (r,) = m.handle(seg_event(from_server(st, 0, payload=b"after close"), server=True))
    assert r.segments and r.segments[0].payload == b"after close"
    assert m.handle(Event(E.TIMER))[0].segments  # the closed socket still owns the OK message


# -- LIFE-TEARDOWN ----------------------------------------------------------------------------------


@pytest.mark.req("LIFE-TEARDOWN")
def test_the_splice_ends_on_the_timer_after_both_fins_are_acknowledged() -> None:
    m = reference_machine(Scenario(ok_len=0))
    st = m.splice
    assert st is not None
    m.handle(seg_event(from_client(st, 0, payload=b"q", flags=ACK | FIN)))
    m.handle(Event(E.TIMER))
    assert m.stage is Stage.COMPLETE  # one FIN, not acknowledged: nothing ends
    m.handle(seg_event(from_server(st, 0, ack_off=2, payload=b"r", flags=ACK | FIN), server=True))
    m.handle(Event(E.TIMER))
    assert m.stage is Stage.COMPLETE and not m.fins_done()  # the server's FIN is not acknowledged yet
    (r,) = m.handle(seg_event(from_client(st, 2, ack_off=2)))
    assert m.fins_done() and r.segments  # the final ACK is relayed
    (again,) = m.handle(seg_event(from_server(st, 1, ack_off=2, flags=ACK | FIN), server=True))
    assert again.segments  # lingering: a retransmitted FIN still passes
    m.handle(Event(E.TIMER))
    assert m.stage is Stage.CLOSED
    assert m.handle(seg_event(from_client(st, 2, ack_off=2, payload=b"late"))) == []


# -- LIFE-ACCEPT ------------------------------------------------------------------------------------


@pytest.mark.req("LIFE-ACCEPT")
def test_accept_direction_bases() -> None:
    sc = Scenario(client=PeerPlan(isn=100, tsval=None), server=PeerPlan(isn=5000, tsval=9), proxy_isn_c=700,
                  proxy_isn_d=900, client_presplice=9, server_presplice=40, ok_len=3)
    st = accepted_machine(sc).splice
    assert st is not None
    assert st.server.splice_irs == 5001  # DONT_ACK from the handshake: the 40 early bytes are not below it
    assert st.server.splice_iss == 901  # the client's request was not forwarded
    assert st.client.splice_irs == 110 and st.client.splice_iss == 704
    assert not st.server.timestamps  # the proxy's SYN-ACK declines what leg C cannot carry


def test_adapters_without_the_accept_direction_are_unsupported() -> None:
    class NoAccept:
        name = "no-accept"
    with pytest.raises(UnsupportedError, match="accept direction"):
        open_accepted(NoAccept(), Scenario())  # type: ignore[arg-type]


def test_the_cases_are_unsupported_without_lifecycle_or_accept() -> None:
    class Limited(ReferenceAdapter):
        name = "limited"
        unsupported = frozenset({Feature.LIFECYCLE, Feature.ACCEPT})
    for case in catalog.select(reqs=["LIFE-CLOSE-SILENT", "LIFE-OK-RETRANSMIT", "LIFE-ACCEPT"]):
        r = run_case(Limited(), case, "limited")
        assert r.verdict is Verdict.UNSUPPORTED and ("lifecycle" in r.reason or "accept" in r.reason), case.id


def test_the_refused_close_before_the_splice() -> None:
    m = accepted_machine(OK12)
    m2 = reference_machine(OK12)
    assert m.stage is m2.stage is Stage.SPLICED
    from splicecheck.conformance.model import unspliced_machine
    with pytest.raises(SpliceStateError, match="own TCP close"):
        unspliced_machine(OK12).handle(Event(E.APP_CLOSE))


# -- each requirement's mutant, killed by its cases; the reference passes them --------------------------

KILLERS = {
    "close-sends-fin": ("LIFE-CLOSE-SILENT", "LIFE-CLOSE-SILENT/close-after-ok-message"),
    "ok-not-retransmitted": ("LIFE-OK-RETRANSMIT", "LIFE-OK-RETRANSMIT/ok-message-lost"),
    "fin-ends-splice": ("LIFE-TEARDOWN", "LIFE-TEARDOWN/half-close"),
    "accept-dontack-not-inherited": ("LIFE-ACCEPT", "LIFE-ACCEPT/ftp-active-early-data"),
}


@pytest.mark.parametrize("mutant", list(KILLERS))
def test_each_new_requirement_has_a_mutant_its_case_kills(mutant: str) -> None:
    req, case_id = KILLERS[mutant]
    (case,) = catalog.select(ids=[case_id])
    assert run_case(ReferenceAdapter(), case, "reference").verdict is Verdict.PASS
    r = run_case(MutantAdapter(mutant), case, f"mutant:{mutant}")
    assert r.verdict in (Verdict.FAIL, Verdict.NON_STRICT), (r.verdict, r.reason)
    assert any(d.charged == req for d in r.diffs), [d.line() for d in r.diffs]


def test_the_reference_passes_every_new_case() -> None:
    cases = catalog.select(reqs=["LIFE-CLOSE-SILENT", "LIFE-OK-RETRANSMIT", "LIFE-TEARDOWN", "LIFE-ACCEPT"])
    assert len(cases) == 10
    for case in cases:
        r = run_case(ReferenceAdapter(), case, "reference")
        assert r.verdict is Verdict.PASS and r.checked > 20, (case.id, r.reason, [d.line() for d in r.diffs])


def test_a_retransmission_is_judged_by_its_range() -> None:
    """An IUT retransmitting the OK message from the wrong byte fails LIFE-OK-RETRANSMIT."""
    from splicecheck.conformance.cases_common import Lockstep
    from splicecheck.conformance.cases_lifecycle_watch import LC
    with ReferenceAdapter().open_unspliced(LC) as session:
        lock = Lockstep(session, LC, "LIFE-OK-RETRANSMIT")
        lock.event(Event(E.INTEND_SPLICE))
        lock.connect()
        lock.event(Event(E.PRESPLICE, 12))
        lock.app(E.APP_SEND_CLIENT, 12)
        due = lock.model.ok_outstanding()
        assert due is not None
        (raw,) = session.event(Event(E.TIMER)).to_client
        assert lock.ok_retransmission(raw, due[0], due[1])
        assert not lock.ok_retransmission(raw, seq_add(due[0], 1), due[1] - 1)  # one byte too early
        assert not lock.ok_retransmission(raw, due[0], due[1] - 1)  # one byte past the unacknowledged end
        assert decode(raw).payload == bytes(12)


def test_an_adapter_without_open_accepted_is_told_accept_is_missing() -> None:
    """An adapter written before the accept direction cannot declare it: the runner names it missing."""
    class Old:
        name = "old"
        unsupported: frozenset[Feature] = frozenset()

        def __init__(self) -> None:
            self.inner = ReferenceAdapter()

        def info(self):  # type: ignore[no-untyped-def]
            return self.inner.info()

        def open(self, scenario: Scenario):  # type: ignore[no-untyped-def]
            return self.inner.open(scenario)

        def close(self) -> None:
            pass

    (c,) = catalog.select(ids=["LIFE-ACCEPT/ftp-active-early-data"])
    r = run_case(Old(), c, "old")  # type: ignore[arg-type]
    assert r.verdict is Verdict.UNSUPPORTED and r.reason == "the IUT cannot: accept"
    assert run_case(ReferenceAdapter(), c, "reference").verdict is Verdict.PASS


def test_an_adapter_that_cannot_apply_close_or_timer_keeps_the_other_pairs() -> None:
    """A LIFECYCLE adapter written before APP_CLOSE and TIMER raises UnsupportedError for them (contract):
    the pair walks skip those pairs and still check every other one; the cases about them are UNSUPPORTED."""
    from splicecheck.adapters.reference import LifecycleSession, ReferenceSession

    def refuse_new(handle):  # type: ignore[no-untyped-def]
        def event(self, ev):  # type: ignore[no-untyped-def]
            if ev.type in (E.APP_CLOSE, E.TIMER):
                raise UnsupportedError("this harness cannot close the sockets or run the timers")
            return handle(self, ev)
        return event

    class OldSession(ReferenceSession):
        event = refuse_new(ReferenceSession.event)

    class OldLifecycleSession(LifecycleSession):
        event = refuse_new(LifecycleSession.event)

    class Old(ReferenceAdapter):
        def open(self, scenario):  # type: ignore[no-untyped-def,override]
            return _wrap(super().open(scenario), OldSession)

        def open_unspliced(self, scenario):  # type: ignore[no-untyped-def,override]
            return _wrap(super().open_unspliced(scenario), OldLifecycleSession)

    for cid in ("LIFE-TOTAL/every-stage-event-pair", "LIFE-TOTAL/reachable-stages"):
        (c,) = catalog.select(ids=[cid])
        r = run_case(Old(), c, "old")
        full = run_case(ReferenceAdapter(), c, "reference")
        assert r.verdict is Verdict.PASS and 0 < r.checked < full.checked, (cid, r.reason)
    (c,) = catalog.select(ids=["LIFE-OK-RETRANSMIT/ok-message-lost"])
    assert run_case(Old(), c, "old").verdict is Verdict.UNSUPPORTED


def _wrap(cm, cls):  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    @contextmanager
    def opened():  # type: ignore[no-untyped-def]
        with cm as session:
            session.__class__ = cls
            yield session
    return opened()


# -- LIFE-AFTER-RST ----------------------------------------------------------------------------------


class _Lingering(ReferenceAdapter):
    """A splice that goes on relaying a reset connection's segments, mapped as before (conntrack's CLOSE
    state)."""

    def open(self, scenario: Scenario):  # type: ignore[no-untyped-def,override]
        cm = super().open(scenario)

        class Wrapped:
            def __enter__(self):  # type: ignore[no-untyped-def]
                session = cm.__enter__()
                handle = session._handle

                def lingering(event):  # type: ignore[no-untyped-def]
                    machine = session.machine
                    if machine.stage is Stage.CLOSED:
                        machine.stage = Stage.COMPLETE  # the entry outlives the RST
                        try:
                            return handle(event)
                        finally:
                            machine.stage = Stage.CLOSED
                    return handle(event)

                session._handle = lingering
                return session

            def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                return cm.__exit__(*exc)

        return Wrapped()


@pytest.mark.req("LIFE-AFTER-RST")
def test_segments_relayed_after_a_relayed_rst_are_an_equally_legitimate_outcome() -> None:
    [case] = catalog.select(ids=["LIFE-AFTER-RST/client-segments-after-server-rst"])
    assert run_case(ReferenceAdapter(), case, "reference").verdict is Verdict.PASS
    lingering = run_case(_Lingering(), case, "lingering")
    # shown, not declared away: both client segments relayed, each charged to the MAY requirement
    assert lingering.verdict is Verdict.INFO
    bad = [d for d in lingering.diffs if not d.ok]
    assert [(d.step, d.field, d.req) for d in bad] == [(1, "to_server.count", "LIFE-AFTER-RST"),
                                                       (2, "to_server.count", "LIFE-AFTER-RST")]
    # whatever case it shows in: the same segments in a case whose primary requirement is a MUST
    # (SEQ-MAP, which the relayed segments keep): that case passes, LIFE-AFTER-RST is graded INFO, and the
    # behaviour is a finding of its own
    mapped = dataclasses.replace(case, id="SEQ-MAP/after-rst", reqs=("SEQ-MAP",))
    r = run_case(_Lingering(), mapped, "lingering")
    assert r.verdict is Verdict.PASS
    assert {(d.field, d.req) for d in r.diffs if not d.ok} == {("to_server.count", "LIFE-AFTER-RST")}
    assert ("LIFE-AFTER-RST", Verdict.INFO) in contributions(r)
    [f] = findings([r])
    assert f.signature == {"kind": "extra", "flags": "*", "input": "LIFE-AFTER-RST"} and f.verdict == "INFO"
