"""Named cases for the splice lifecycle after the splice (paper §3, figures 3, 4, 6, 7).

The lifecycle is checked two ways in: by watching it step by step (Feature.LIFECYCLE, the cases of
:mod:`~splicecheck.conformance.cases_lifecycle_watch`, which run first), and here, on a splice already
made, by its consequences, with the base-point grading both share (:func:`based`, also used by the
boundary-vector cases).

**After the splice** (any adapter). ``Adapter.open(scenario)`` hands over a splice that is already made,
so only consequences can be checked there, and these older cases stay for IUTs without the lifecycle:

* the base points a scenario implies are computed by the reference lifecycle machine itself
  (``model.reference_state``), and the ones the scenario determines — both ``splice_irs`` always, the
  ``splice_iss`` of a leg when the scenario chose the proxy's ISN on it — are compared with the
  session's, *and* segments built from the implied constants are relayed and judged against a model
  holding them (:func:`based`);
* the server's bytes from the first one DONT_ACK kept back are relayed right behind the OK message,
  the bytes the application read before INTEND_SPLICE are trimmed, the proxy acknowledges nothing on
  its own; an ACK of the whole OK message reaches the server as D.splice_irs, a partial one as less;
* LIFE-TOTAL/reachable-stages walks the 33 pairs of SPLICED, COMPLETE and CLOSED on such a session.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from ..reference.arith import MASK32
from ..reference.errors import SpliceStateError
from ..reference.lifecycle import TRANSITIONS, Event, EventType, Refused, Socket
from ..reference.relay import SpliceState
from ..reference.segment import ACK, PSH, RST, Segment
from ..reference.seqspace import seq_sub
from .case import Case, Injection, from_client, from_server
from .cases_common import FULL, WIRE_FIELDS, Credit, result
from .contract import Adapter, Feature, PeerPlan, Scenario, UnsupportedError, session_sockets
from .model import Model, reference_state
from .results import CaseResult, FieldDiff, Geometry, StepRecord
from .runner import run_injections

F = Feature
C2S_BASE, S2C_BASE = "LIFE-BASE-C2S", "LIFE-BASE-S2C"


def implied_state(observed: SpliceState, scenario: Scenario) -> SpliceState:
    """``observed`` with the base points the scenario determines replaced by the reference lifecycle's
    (module docstring); everything else — endpoints, timestamps, options — is the IUT's."""
    ref = reference_state(scenario)
    client = replace(observed.client, splice_irs=ref.client.splice_irs,
                     splice_iss=ref.client.splice_iss if scenario.proxy_isn_c is not None
                     else observed.client.splice_iss)
    server = replace(observed.server, splice_irs=ref.server.splice_irs,
                     splice_iss=ref.server.splice_iss if scenario.proxy_isn_d is not None
                     else observed.server.splice_iss)
    return replace(observed, client=client, server=server)


def learnt_scenario(session: object, scenario: Scenario) -> Scenario:
    """``scenario`` with the proxy's ISNs the IUT's kernel picked, for a session that learnt them from the
    wire (contract, "Learnt numbers"): the base points are then implied from those ISNs and the
    scenario's events, and both ``splice_iss`` are compared too. Unchanged for other sessions."""
    c, d = session_sockets(session) or (None, None)
    if c is None or d is None:
        return scenario
    return replace(scenario, proxy_isn_c=c.local_isn, proxy_isn_d=d.local_isn, proxy_tsval_c=None,
                   proxy_tsval_d=None)


def base_diffs(observed: SpliceState, implied: SpliceState, scenario: Scenario) -> list[FieldDiff]:
    """The session's base points against the implied ones, each credited to its direction."""
    out = [FieldDiff(-1, -1, "state.client.splice_irs (C.rcv_nxt at PRESPLICE)", implied.client.splice_irs,
                     observed.client.splice_irs, C2S_BASE),
           FieldDiff(-1, -1, "state.server.splice_irs (D.rcv_nxt at DONT_ACK)", implied.server.splice_irs,
                     observed.server.splice_irs, S2C_BASE)]
    if scenario.proxy_isn_d is not None:
        out.append(FieldDiff(-1, -1, "state.server.splice_iss (D.snd_nxt at PRESPLICE)", implied.server.splice_iss,
                             observed.server.splice_iss, C2S_BASE))
    if scenario.proxy_isn_c is not None:
        out.append(FieldDiff(-1, -1, "state.client.splice_iss (C.snd_nxt at PRESPLICE + OK length)",
                             implied.client.splice_iss, observed.client.splice_iss, S2C_BASE))
    return out


def by_direction(leg_in: str, fld: str) -> str:
    """Which base a wire field evidences: seq, payload and count that of the segment's own direction;
    ack and SACK edges that of the other one (they map with the other direction's pair, §3.3)."""
    own, other = (C2S_BASE, S2C_BASE) if leg_in == "client" else (S2C_BASE, C2S_BASE)
    return other if (".tcp.ack" in fld or "SACK" in fld) else own


def to(req: str) -> Credit:
    return lambda leg_in, fld: req


def credited(ex_diffs: Iterable[FieldDiff], steps: list[StepRecord], credit: Credit) -> list[FieldDiff]:
    out = []
    for d in ex_diffs:
        if d.req in WIRE_FIELDS and 0 <= d.step < len(steps):
            d = replace(d, req=credit(steps[d.step].leg_in, d.field))
        out.append(d)
    return out


def based(credit: Credit = by_direction, base_credit: Credit | None = None) -> Callable[
        [Adapter, Case, int | None], CaseResult]:
    """An execute judging the case against the base points its scenario implies (module docstring).
    ``credit`` says which requirement a wire difference counts against; ``base_credit`` does the same
    for the base-point comparisons (default: their own LIFE-BASE requirement)."""

    def run(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
        t0 = time.perf_counter()
        with adapter.open(case.scenario) as session:
            observed = session.state
            scenario = learnt_scenario(session, case.scenario)
            implied = implied_state(observed, scenario)
            checks = base_diffs(observed, implied, scenario)
            if base_credit is not None:
                checks = [replace(d, req=base_credit("", d.field)) for d in checks]
            ex = run_injections(session, Model(implied), case.build(implied), case.primary)
        return result(case, checks + credited(ex.diffs, ex.steps, credit), ex.steps, ex.geometry, t0, seed)

    return run


# --------------------------------------------------------------------------------------------------
# A new splice on the 5-tuple of one a RST closed
# --------------------------------------------------------------------------------------------------

FIRST = Scenario(client=PeerPlan(isn=0x1000_0000, tsval=10), server=PeerPlan(isn=0x2000_0000, tsval=20),
                 proxy_isn_c=0x3000_0000, proxy_isn_d=0x4000_0000, ok_len=6)
SECOND = Scenario(client=PeerPlan(isn=0x9000_0000, tsval=30), server=PeerPlan(isn=0xA000_0000, tsval=40),
                  proxy_isn_c=0xB000_0000, proxy_isn_d=0xC000_0000, ok_len=4)


def first_splice(st: SpliceState) -> list[Segment]:
    return [from_client(st, 0, payload=b"old request"), from_server(st, 0, ack_off=11, payload=b"old reply"),
            from_server(st, 9, ack_off=11, flags=RST | ACK), from_client(st, 11, ack_off=9, payload=b"after rst")]


def second_splice(st: SpliceState) -> list[Segment]:
    return [from_client(st, 0, payload=b"new request"), from_server(st, 0, ack_off=11, payload=b"new reply"),
            from_client(st, 11, ack_off=9)]


def reuse_after_rst(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
    """Two splices, one after the other, on the same addresses and ports: the first closed by a RST."""
    t0 = time.perf_counter()
    diffs: list[FieldDiff] = []
    steps: list[StepRecord] = []
    geo: list[Geometry] = []
    endpoints = []
    for n, (scenario, build) in enumerate(((FIRST, first_splice), (case.scenario, second_splice))):
        with adapter.open(scenario) as session:
            observed = session.state
            endpoints.append((observed.client.peer, observed.client.local, observed.server.local,
                              observed.server.peer))
            if n == 1 and endpoints[1] != endpoints[0]:
                raise UnsupportedError("the adapter gave the second splice other addresses or ports than the "
                                       "first, so a reused 5-tuple cannot be tested")
            scenario = learnt_scenario(session, scenario)
            implied = implied_state(observed, scenario)
            diffs += base_diffs(observed, implied, scenario)
            ex = run_injections(session, Model(implied), build(implied), case.primary, len(steps))
            steps += ex.steps
            geo += ex.geometry
            diffs += credited(ex.diffs, steps, by_direction)
    return result(case, diffs, steps, geo, t0, seed)


# --------------------------------------------------------------------------------------------------
# LIFE-TOTAL: the reachable (stage, event) pairs
# --------------------------------------------------------------------------------------------------


def socket_events(st: SpliceState) -> list[Event]:
    """One event of every socket-level type (segment events go through ``Session.inject``)."""
    d = st.server
    sock = Socket(d.peer, d.local, seq_sub(d.splice_irs, 1), seq_sub(d.splice_iss, 1))
    return [Event(EventType.INTEND_SPLICE), Event(EventType.SERVER_CONNECTED, socket=sock),
            Event(EventType.APP_RECV_CLIENT, 1), Event(EventType.APP_SEND_CLIENT, 1),
            Event(EventType.APP_RECV_SERVER, 1), Event(EventType.APP_SEND_SERVER, 1), Event(EventType.PRESPLICE, 0),
            Event(EventType.APP_CLOSE), Event(EventType.TIMER)]


def walk_stages(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
    """SPLICED → (client's ACK of the OK message) → COMPLETE → (RST) → CLOSED; at each stage every event
    type, against a model machine holding the session's splice."""
    t0 = time.perf_counter()
    diffs: list[FieldDiff] = []
    steps: list[StepRecord] = []
    geo: list[Geometry] = []
    with adapter.open(case.scenario) as session:
        model = Model(session.state)

        def inject(built: list[Injection | Segment]) -> None:
            ex = run_injections(session, model, built, case.primary, len(steps))
            steps.extend(ex.steps)
            geo.extend(ex.geometry)
            diffs.extend(ex.diffs)

        for move in ("complete", "close", None):
            stage = model.machine.stage
            st = model.state
            for ev in socket_events(st):
                rule = TRANSITIONS[stage][ev.type]
                expected = "refused" if isinstance(rule, Refused) else "accepted"
                with contextlib.suppress(SpliceStateError):  # the model refuses where the table does
                    model.machine.handle(ev)
                try:
                    session.event(ev)
                    actual = "accepted"
                except SpliceStateError:
                    actual = "refused"
                except UnsupportedError:  # APP_CLOSE or TIMER the adapter cannot apply: not walked
                    if ev.type not in (EventType.APP_CLOSE, EventType.TIMER):
                        raise
                    continue
                diffs.append(FieldDiff(len(steps), -1, f"lifecycle[{stage.value}, {ev.type.value}]", expected, actual,
                                       "LIFE-TOTAL"))
            # the two segment events: data both ways, acknowledging only part of the OK message
            for et, seg in ((EventType.CLIENT_SEGMENT, from_client(st, 0, ack_off=-1, payload=b"c")),
                            (EventType.SERVER_SEGMENT, from_server(st, 0, payload=b"s"))):
                rule = TRANSITIONS[stage][et]
                diffs.append(FieldDiff(len(steps), -1, f"lifecycle[{stage.value}, {et.value}]",
                                       "refused" if isinstance(rule, Refused) else "accepted", "accepted",
                                       "LIFE-TOTAL"))
                inject([seg])
            if move == "complete":
                inject([from_client(st, 1, ack_off=1)])  # acknowledges the OK message and the server's byte
            elif move == "close":
                inject([from_client(st, 1, ack_off=1, flags=RST | ACK)])
    return result(case, diffs, steps, geo, t0, seed)


# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------

#: Figure 3 with everything in it: 9 bytes of client request, 30 bytes of server banner relayed by the
#: application, a 12-byte OK message; the proxy's ISNs chosen so that both send bases can be checked.
SOCKS = Scenario(client=PeerPlan(isn=1_000_000, tsval=100, sack_permitted=True),
                 server=PeerPlan(isn=9_000_000, tsval=9_000, sack_permitted=True),
                 proxy_isn_c=0x5000_0000, proxy_isn_d=0x7000_0000, ok_len=12, client_presplice=9,
                 server_presplice=30)
#: The same with every counter near the wrap (figure 6/7 worked example of tests/test_lifecycle.py):
#: C.rcv_nxt wraps during the client's request, C.snd_nxt + n wraps across the OK message.
SOCKS_WRAP = Scenario(client=PeerPlan(isn=MASK32 - 5, tsval=100), server=PeerPlan(isn=MASK32 - 20, tsval=9_000),
                      proxy_isn_c=MASK32 - 30, proxy_isn_d=MASK32 - 295, ok_len=12, client_presplice=9,
                      server_presplice=25)
#: Only the end hosts' side determined: the proxy picks its own ISNs (what SYNPROXY-like IUTs can do).
IRS_ONLY = Scenario(client=PeerPlan(isn=0xFFFF_FF00, tsval=7), server=PeerPlan(isn=0x8000_0000, tsval=8),
                    client_presplice=0x120, server_presplice=0x40)
#: No OK message (SYNPROXY's case): the splice is made at PRESPLICE itself.
NO_OK = Scenario(client=PeerPlan(isn=4_000_000), server=PeerPlan(isn=5_000_000), proxy_isn_c=6_000_000,
                 proxy_isn_d=7_000_000, server_presplice=3)
#: A 10-byte OK message whose end wraps: C.splice_iss = 4.
OK_WRAPS = Scenario(client=PeerPlan(isn=3_000_000, tsval=1), server=PeerPlan(isn=2_000_000, tsval=2),
                    proxy_isn_c=MASK32 - 5, ok_len=10)

#: A plain splice with a 4-byte OK message, for the stage walk.
WALK = Scenario(client=PeerPlan(isn=1_000_000), server=PeerPlan(isn=9_000_000), ok_len=4)

S2C_CREDIT = based()
DONTACK = based(to("LIFE-DONTACK"))
RELEASE = based(to("LIFE-RELEASE"))
COMPLETE = based(to("LIFE-COMPLETE"))


#: The cases that check the lifecycle's consequences on a splice made by ``open``.
AFTER_SPLICE: list[Case] = [
    # -- LIFE-BASE-S2C --------------------------------------------------------------------------------
    Case("LIFE-BASE-S2C/presplice-and-ok-message", (S2C_BASE, C2S_BASE),
         "SOCKS-like splice (figure 3): 30 server bytes relayed by the application, a 12-byte OK message. The "
         "server's next byte (D.rcv_nxt when DONT_ACK was set) and the client's acknowledgment of it.",
         "splice_irs = D.rcv_nxt at INTEND_SPLICE, splice_iss = C.snd_nxt at PRESPLICE + 12: the server's byte "
         "reaches the client right after the OK message (paper §3.2, figure 6).",
         lambda st: [from_server(st, 0, payload=b"first after OK"), from_client(st, 0, ack_off=14)], SOCKS,
         execute=S2C_CREDIT),
    Case("LIFE-BASE-S2C/ok-message-wraps", (S2C_BASE, C2S_BASE),
         "Counters near the wrap: C.snd_nxt at PRESPLICE is 0xFFFFFFFB and the 12-byte OK message ends past 0.",
         "splice_iss = C.snd_nxt + 12 modulo 2^32 = 7 (paper §3.2, figure 6).",
         lambda st: [from_server(st, 0, payload=b"after wrap"), from_client(st, 0, ack_off=10)], SOCKS_WRAP,
         execute=S2C_CREDIT),
    Case("LIFE-BASE-S2C/no-ok-message", (S2C_BASE, C2S_BASE),
         "No OK message (n = 0, the splice is made at PRESPLICE, as SYNPROXY does); 3 server bytes relayed "
         "by the application first.",
         "splice_iss = C.snd_nxt at PRESPLICE (paper §3: 'Its length can be 0').",
         lambda st: [from_server(st, 0, payload=b"at once"), from_client(st, 0, ack_off=7)], NO_OK,
         execute=S2C_CREDIT),
    Case("LIFE-BASE-S2C/irs-only", (S2C_BASE, C2S_BASE),
         "The proxy picks its own ISNs; 0x40 server bytes and 0x120 client bytes exchanged before the splice. "
         "Data both ways from the first relayed byte.",
         "D.splice_irs = server ISN + 1 + 0x40 and C.splice_irs = client ISN + 1 + 0x120 (wrapped): the "
         "bytes the scenario alone determines (paper §3.2, figures 6 and 7).",
         lambda st: [from_server(st, 0, payload=b"s"), from_client(st, 0, ack_off=1, payload=b"c")], IRS_ONLY,
         execute=S2C_CREDIT),
    # -- LIFE-BASE-C2S --------------------------------------------------------------------------------
    Case("LIFE-BASE-C2S/client-request-relayed", (C2S_BASE, S2C_BASE),
         "SOCKS-like splice: the client's 9-byte request was read by the application and 9 bytes written to "
         "the server. The client's next byte and the server's acknowledgment of it.",
         "splice_irs = C.rcv_nxt, splice_iss = D.snd_nxt at PRESPLICE: the client's byte reaches the server "
         "right after what the application sent it (paper §3.2, figure 7).",
         lambda st: [from_client(st, 0, payload=b"client data"), from_server(st, 0, ack_off=11)], SOCKS,
         execute=S2C_CREDIT),
    Case("LIFE-BASE-C2S/counters-wrap", (C2S_BASE, S2C_BASE),
         "Counters near the wrap: the client's ISN is 0xFFFFFFFA, so C.rcv_nxt after its 9-byte request is 4; "
         "the proxy's ISN on D is 0xFFFFFED8, so D.snd_nxt after relaying those 9 bytes is 0xFFFFFEE2.",
         "splice_irs = C.rcv_nxt = 4, splice_iss = D.snd_nxt = 0xFFFFFEE2 (paper §3.2, figure 7).",
         lambda st: [from_client(st, 0, payload=b"wrapped"), from_server(st, 0, ack_off=7)], SOCKS_WRAP,
         execute=S2C_CREDIT),
    Case("LIFE-BASE-C2S/reuse-5-tuple-after-rst", (C2S_BASE, S2C_BASE),
         "Known bug class: a splice is closed by the server's RST (and a client segment after it is not "
         "relayed); then a new splice is made on the same addresses and ports with other ISNs. A splice whose "
         "per-connection state (Linux conntrack's seqadj and synproxy extensions) outlives the RST maps the new "
         "connection with the old offsets — SYNPROXY resets them on a reopening SYN ('Reopened connection - "
         "reset the sequence number and timestamp adjustments'). Needs an adapter that reuses the 5-tuple; "
         "UNSUPPORTED otherwise.",
         "The first splice relays until its RST and nothing after it; the second uses its own base points "
         "(paper §3.2), whatever the first left behind.",
         second_splice, SECOND, execute=reuse_after_rst),
    # -- LIFE-DONTACK ---------------------------------------------------------------------------------
    Case("LIFE-DONTACK/first-held-byte-follows-ok", ("LIFE-DONTACK", S2C_BASE),
         "SOCKS-like splice. The server sends (again) its bytes from the first one DONT_ACK held back, "
         "D.rcv_nxt at INTEND_SPLICE, in two segments; then retransmits 10 bytes the application read before "
         "INTEND_SPLICE together with 5 of those.",
         "The held bytes reach the client right behind the OK message, the application's 10 are trimmed, and "
         "the proxy acknowledges none of them itself — no packet goes back to the server (paper §3, figure 4: "
         "data after DONT_ACK is 'queued at the proxy for relay to the client').",
         lambda st: [from_server(st, 0, payload=b"held one"), from_server(st, 8, payload=b"held two"),
                     from_server(st, -10, payload=b"0123456789held1")], SOCKS,
         frozenset({F.BELOW_BASE}), execute=DONTACK),
    Case("LIFE-DONTACK/irs-only", ("LIFE-DONTACK", S2C_BASE),
         "The proxy picks its own ISNs; 0x40 server bytes were read by the application. The server sends from "
         "the next one.",
         "Relayed at C.splice_iss, nothing sent back to the server (paper §3, figure 6).",
         lambda st: [from_server(st, 0, payload=b"held")], IRS_ONLY, execute=DONTACK),
    # -- LIFE-RELEASE ---------------------------------------------------------------------------------
    Case("LIFE-RELEASE/in-order", ("LIFE-RELEASE", S2C_BASE),
         "SOCKS-like splice made by open(). Three server segments from D.splice_irs, in order: what a release of "
         "the DONT_ACK queue emits (the release itself is watched by on-last-byte-of-ok-message).",
         "Each relayed behind the OK message at its own offset (paper §3: 'the splice code relays any queued "
         "packets from the server').",
         lambda st: [from_server(st, 100 * i, payload=bytes([65 + i]) * 100) for i in range(3)], SOCKS,
         execute=RELEASE),
    Case("LIFE-RELEASE/out-of-order", ("LIFE-RELEASE", S2C_BASE),
         "As in-order, the segments arriving third, first, second.",
         "Each relayed at its own offset, whatever the order (paper §3.2: 'even if there are data or ACK "
         "packets in flight at the time the splice is made').",
         lambda st: [from_server(st, 100 * i, payload=bytes([65 + i]) * 100) for i in (2, 0, 1)], SOCKS,
         execute=RELEASE),
    # -- LIFE-COMPLETE --------------------------------------------------------------------------------
    Case("LIFE-COMPLETE/ack-of-ok-message", ("LIFE-COMPLETE", S2C_BASE),
         "12-byte OK message: the client acknowledges 8 of its bytes, then all 12, then sends data.",
         "The partial ACK reaches the server as D.splice_irs - 4 (no server data acknowledged), the full one as "
         "D.splice_irs exactly: the point where the splice completes (paper §3: 'When an ACK of the OK message "
         "arrives at the proxy, the splice is complete').",
         lambda st: [from_client(st, 0, ack_off=-4), from_client(st, 0), from_client(st, 0, payload=b"go",
                                                                                        flags=ACK | PSH)],
         SOCKS, execute=COMPLETE),
    Case("LIFE-COMPLETE/ok-message-end-wraps", ("LIFE-COMPLETE", S2C_BASE),
         "A 10-byte OK message from 0xFFFFFFFB: the client acknowledges 7 of its bytes (ack 2), then all (ack 4).",
         "Relayed as D.splice_irs - 3 and D.splice_irs (paper §3).",
         lambda st: [from_client(st, 0, ack_off=-3), from_client(st, 0)], OK_WRAPS, execute=COMPLETE),
    Case("LIFE-COMPLETE/data-before-completion", ("LIFE-COMPLETE", S2C_BASE),
         "The client sends data acknowledging only 2 bytes of the 12-byte OK message, then its full ACK.",
         "The data is relayed before completion, its ack mapped below D.splice_irs (paper §3, figure 4).",
         lambda st: [from_client(st, 0, ack_off=-10, payload=b"eager"), from_client(st, 5)], SOCKS,
         execute=COMPLETE),
    # -- LIFE-SILENT: every packet on either leg is a relayed one (paper §5, §6) ----------------------
    Case("LIFE-SILENT/no-ack-of-relayed-data", ("LIFE-SILENT",),
         "SOCKS-like splice: server data, then client data, each relayed once.",
         "Exactly the relayed segments come out: no ACK from the proxy to the sender of either, no window "
         "update (paper §5: 'the proxy does not send retransmissions'; §6: 'TCP segments and ACKs are "
         "exchanged end-to-end').",
         lambda st: [from_server(st, 0, payload=b"server data", flags=ACK | PSH),
                     from_client(st, 0, ack_off=11, payload=b"client data", flags=ACK | PSH)], SOCKS),
    Case("LIFE-SILENT/no-retransmission-of-trimmed-data", ("LIFE-SILENT", "TRIM-REST"),
         "A server retransmission straddling D.splice_irs (4 bytes the application read, 6 new).",
         "The 6 new bytes are relayed and nothing else: the proxy neither re-acknowledges the old bytes to "
         "the server nor resends anything of its own (paper §3.3, §5).",
         lambda st: [from_server(st, -4, payload=b"old!new!!!", flags=ACK | PSH)], SOCKS),
    # -- LIFE-AFTER-RST -------------------------------------------------------------------------------
    Case("LIFE-AFTER-RST/client-segments-after-server-rst", ("LIFE-AFTER-RST",),
         "The server resets the connection (RST|ACK at its next byte); then the client sends 4 bytes of data "
         "and a pure ACK.",
         "The RST is relayed and the splice ends: the model relays neither client segment (RFC 9293 "
         "§3.10.7.1: both ends are CLOSED). Relaying them, mapped as before, is as legitimate (MAY).",
         lambda st: [from_server(st, 0, flags=RST | ACK), from_client(st, 0, payload=b"late"),
                     from_client(st, 4)], FULL),
    # -- LIFE-TOTAL -----------------------------------------------------------------------------------
    Case("LIFE-TOTAL/reachable-stages", ("LIFE-TOTAL",),
         "Every socket-level event (INTEND_SPLICE, SERVER_CONNECTED, APP_* reads and writes, PRESPLICE, APP_CLOSE, "
         "TIMER) and "
         "client and server data, in each stage the contract can reach: SPLICED, COMPLETE after the client's "
         "ACK of the OK message, CLOSED after a RST — 33 of the table's 77 (stage, event) pairs.",
         "Each event is refused with SpliceStateError exactly where the lifecycle table refuses it (the "
         "application no longer reads or writes a spliced socket; PRESPLICE and INTEND_SPLICE cannot be "
         "repeated), and segments are relayed until the RST and absorbed after it (splicecheck).",
         lambda st: [], WALK, frozenset({F.LIFECYCLE}), execute=walk_stages),
]

CASES: list[Case] = AFTER_SPLICE
