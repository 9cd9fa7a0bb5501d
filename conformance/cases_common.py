"""What the named case modules (``cases_<group>.py``) share: scenarios placed in sequence space,
segment tweaks the builders do not offer, and the custom executes a few cases need.

Scenarios. :func:`spliced_at` asks for a splice whose base points sit where a case wants them —
``0xFFFFFFFF``, ``0``, across the wrap — by choosing the end hosts' ISNs (always under the scenario's
control) and, for the *send* bases, the proxy's ISNs (which needs ``CHOOSE_PROXY_ISN``, added by
``Scenario.needs()`` automatically). The arithmetic is that of paper figures 6 and 7 with no bytes
in flight; ``tests/test_cases.py`` checks it against the lifecycle machine, so a slip here would be
caught rather than silently testing another base.

Custom executes. The diff engine attributes each compared field to the requirement the field
evidences (``diff.py``); a few requirements are about *why* a field has its value rather than about a
field — the 2^31 distance (SEQ-ORDER-HALF, TRIM-HALF), SYN/FIN sequence space (SEQ-CTL), the
lifecycle's base points (LIFE-*). :func:`focused` runs a case as the runner would and credits the
differences in the fields the case is about to its primary requirement, so that a failure counts
against the requirement the case was written for (``results.requirement_verdicts``). Differences in
other fields stay collateral, as everywhere else.

Lifecycle lockstep. :class:`Lockstep` drives a session from ``Adapter.open_unspliced`` (Feature.LIFECYCLE)
and a model :class:`~splicecheck.reference.lifecycle.SpliceMachine` with the same events and segments
and compares every step as the contract's "Before the splice" says; :func:`lockstep` makes a case's
execute of a script of such steps.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..reference.checksum import tcp_checksum
from ..reference.codec import decode, encode
from ..reference.errors import MalformedSegment, SpliceStateError
from ..reference.lifecycle import TRANSITIONS, Event, EventType, Refused, SpliceMachine, Stage
from ..reference.relay import RelayResult, SpliceState, StripStyle
from ..reference.segment import ACK, FIN, PSH, RST, SYN, IPv4Header, Segment
from ..reference.seqspace import seq_add, seq_sub
from .case import Case, Injection, from_client, from_server
from .contract import (
    Adapter,
    NotSplicedError,
    Observation,
    PeerPlan,
    Scenario,
    Session,
    UnsupportedError,
    open_unspliced,
    session_sockets,
    session_stage,
)
from .diff import diff_step, distance, geometry, split_observation, summary, tcp_valid
from .model import Model, addresses, handshake_sockets, provisional_state, unspliced_machine
from .results import CaseResult, FieldDiff, Geometry, StepRecord, case_verdict
from .runner import Executed, execute, run_injections

Execute = Callable[[Adapter, Case, int | None], CaseResult]

#: Timestamps and SACK on both legs, no window scaling: the splice most cases want.
FULL = Scenario(client=PeerPlan(isn=1_000_000, tsval=1_000, sack_permitted=True),
                server=PeerPlan(isn=9_000_000, tsval=77_000, sack_permitted=True))
#: No options beyond MSS on either leg.
PLAIN = Scenario()


def spliced_at(c2s_irs: int = 1_000_001, s2c_irs: int = 9_000_001, *, c2s_iss: int | None = None,
               s2c_iss: int | None = None, ts: bool = True, sack: bool = True, client_ts: bool | None = None,
               server_ts: bool | None = None, client_sack: bool | None = None, server_sack: bool | None = None,
               client_tsval: int = 1_000, server_tsval: int = 77_000,
               client_wscale: int | None = None, server_wscale: int | None = None, client_mss: int = 1460,
               server_mss: int = 1460, client_df: bool = True, ok_len: int = 0, client_presplice: int = 0,
               server_presplice: int = 0, proxy_tsval_c: int | None = None, proxy_tsval_d: int | None = None,
               strip_style: StripStyle = StripStyle.NOP, family: int = 4) -> Scenario:
    """A scenario whose splice has ``C.splice_irs = c2s_irs`` (the client's first relayed byte),
    ``D.splice_irs = s2c_irs`` (the server's), and, when given, ``D.splice_iss = c2s_iss`` and
    ``C.splice_iss = s2c_iss`` (the proxy's sides; these need CHOOSE_PROXY_ISN)."""
    c_ts = ts if client_ts is None else client_ts
    s_ts = ts if server_ts is None else server_ts
    c_sack = sack if client_sack is None else client_sack
    s_sack = sack if server_sack is None else server_sack
    client = PeerPlan(isn=seq_sub(c2s_irs, 1 + client_presplice), mss=client_mss, wscale=client_wscale,
                      sack_permitted=c_sack, tsval=client_tsval if c_ts else None, df=client_df)
    server = PeerPlan(isn=seq_sub(s2c_irs, 1 + server_presplice), mss=server_mss, wscale=server_wscale,
                      sack_permitted=s_sack, tsval=server_tsval if s_ts else None)
    return Scenario(
        client=client, server=server, family=family,
        proxy_isn_d=None if c2s_iss is None else seq_sub(c2s_iss, 1 + client_presplice),
        proxy_isn_c=None if s2c_iss is None else seq_sub(s2c_iss, 1 + server_presplice + ok_len),
        proxy_tsval_c=proxy_tsval_c, proxy_tsval_d=proxy_tsval_d, ok_len=ok_len,
        client_presplice=client_presplice, server_presplice=server_presplice, strip_style=strip_style)


# --------------------------------------------------------------------------------------------------
# Segment tweaks (the result is sealed: decoded from its encoding, checksums as on the wire)
# --------------------------------------------------------------------------------------------------


def seal(seg: Segment) -> Segment:
    return decode(encode(seg))


def with_tcp(seg: Segment, **changes: object) -> Segment:
    """``seg`` with TCP header fields changed and its checksum recomputed."""
    return seal(replace(seg, tcp=replace(seg.tcp, checksum=None, **changes)))  # type: ignore[arg-type]


def with_ip(seg: Segment, **changes: object) -> Segment:
    """``seg`` with IP header fields changed (addresses included) and both checksums recomputed."""
    ip = replace(seg.ip, **changes)  # type: ignore[arg-type]
    if isinstance(ip, IPv4Header):
        ip = replace(ip, checksum=None)
    return seal(replace(seg, ip=ip, tcp=replace(seg.tcp, checksum=None)))


def corrupt_ip_checksum(seg: Segment) -> Injection:
    """The segment with its IPv4 header checksum off by one (CSUM-FAILSAFE on the IP header)."""
    raw = bytearray(encode(seg))
    raw[11] ^= 0x01
    return Injection(decode(bytes(raw)), bytes(raw))


def malformed(seg: Segment, mutate: Callable[[bytearray, int], None]) -> Injection:
    """``seg`` on the wire with its bytes changed by ``mutate(raw, tcp_offset)``; the change must make
    the packet undecodable (checked here, so a case cannot silently send a well-formed packet)."""
    raw = bytearray(encode(seg))
    mutate(raw, seg.ip.header_length)
    try:
        decode(bytes(raw))
    except MalformedSegment:
        return Injection(seg, bytes(raw))
    raise ValueError("the mutation left a well-formed segment")


def fresh_tcp_checksum(raw: bytearray, tcp_at: int) -> None:
    """Recompute the TCP checksum of ``raw`` in place (a malformed option area is still checksummed
    correctly, so that only the malformation is under test)."""
    raw[tcp_at + 16:tcp_at + 18] = b"\x00\x00"
    if raw[0] >> 4 == 4:
        src, dst = bytes(raw[12:16]), bytes(raw[16:20])
    else:
        src, dst = bytes(raw[8:24]), bytes(raw[24:40])
    raw[tcp_at + 16:tcp_at + 18] = tcp_checksum(src, dst, bytes(raw[tcp_at:])).to_bytes(2, "big")


#: One step of an advancing stream: within a window (RFC 7323 §2.3: at most 2^30), so every step moves
#: the direction's furthest point (TRIM-2GIB, reference.mapping.advance_to).
STEP = (1 << 30) - (1 << 20)


def stream(st: SpliceState, upto: int, *, server: bool = False) -> list[Segment]:
    """One-byte segments from the client (or the server) moving that direction's furthest point to
    ``upto`` past its base (saturating at 2^31), each ending at most STEP beyond the previous one."""
    make = from_server if server else from_client
    out: list[Segment] = []
    reached = 0
    while reached < upto:
        reached = min(reached + STEP, upto)
        out.append(make(st, reached - 1, payload=b"+"))
    return out


def payload(n: int, seed: int = 0) -> bytes:
    """``n`` recognisable data bytes (a counter, so a shifted or chopped payload shows in a diff)."""
    return bytes((seed + i) & 0xFF for i in range(n))


# --------------------------------------------------------------------------------------------------
# Custom executes
# --------------------------------------------------------------------------------------------------


def result(case: Case, diffs: Sequence[FieldDiff], steps: list[StepRecord], geo: list[Geometry], t0: float,
           seed: int | None) -> CaseResult:
    """A case's result from all its checks, graded like the runner grades (results.case_verdict)."""
    bad = [d for d in diffs if not d.ok]
    return CaseResult(case=case.id, reqs=list(case.reqs), verdict=case_verdict(list(case.reqs), bad),
                      description=case.description, expectation=case.expectation, diffs=bad, checked=len(diffs),
                      steps=steps, geometry=geo, duration=time.perf_counter() - t0, seed=seed, kind=case.kind)


def focused(*about: str) -> Execute:
    """An execute that runs the case as the runner does and credits differences attributed to any of
    ``about`` to the case's primary requirement (module docstring)."""
    credited = frozenset(about)

    def run(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
        t0 = time.perf_counter()
        ex = execute(adapter, case)
        diffs = [replace(d, req=case.primary) if d.req in credited else d for d in ex.diffs]
        return result(case, diffs, ex.steps, ex.geometry, t0, seed)

    return run


StateCheck = Callable[[SpliceState, Scenario], list[FieldDiff]]


def state_diff(field: str, expected: object, actual: object, req: str) -> FieldDiff:
    """A check of the splice itself rather than of a relayed packet (step and packet -1)."""
    return FieldDiff(-1, -1, field, expected, actual, req)


def state_checked(check: StateCheck) -> Execute:
    """An execute that checks the session's splice state with ``check`` (what the IUT announced or
    chose: window scales, base points) and then runs the case's injections as the runner would."""

    def run(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
        t0 = time.perf_counter()
        with adapter.open(case.scenario) as session:
            checks = check(session.state, case.scenario)
            ex = run_injections(session, Model(session.state), case.build(session.state), case.primary)
        return result(case, checks + ex.diffs, ex.steps, ex.geometry, t0, seed)

    return run


# --------------------------------------------------------------------------------------------------
# Lifecycle lockstep (Feature.LIFECYCLE): a session before the splice and the model, step by step
# --------------------------------------------------------------------------------------------------

Credit = Callable[[str, str], str]  # (leg_in "client"/"server", field) -> requirement

#: Requirements the diff engine credits for fields that, in lifecycle cases, evidence a base point or a
#: release rather than the relay's own arithmetic.
WIRE_FIELDS = frozenset({"SEQ-MAP", "ACK-MAP", "TRIM-REST", "TRIM-BELOW", "TRIM-SOUND", "TRIM-COMPLETE",
                         "PAYLOAD-KEEP", "FLAGS-KEEP", "SACK-MAP", "SACK-CLIP"})

#: (leg, field, requirement, what the paper takes) of the base points checked when the splice is made.
BASES = (("client", "splice_irs", "LIFE-BASE-C2S", "C.rcv_nxt at PRESPLICE"),
         ("server", "splice_iss", "LIFE-BASE-C2S", "D.snd_nxt at PRESPLICE"),
         ("server", "splice_irs", "LIFE-BASE-S2C", "D.rcv_nxt when DONT_ACK took effect"),
         ("client", "splice_iss", "LIFE-BASE-S2C", "C.snd_nxt at PRESPLICE + n"))


class Diverged(Exception):
    """The IUT accepted a step the model refused or the other way round: the walk cannot go on."""


def _outcome(ok: bool) -> str:
    return "accepted" if ok else "refused"


class Lockstep:
    """A session from ``open_unspliced`` and a model machine at stage UNSPLICED, driven by the same
    steps (the contract's "Before the splice"). Each step is applied to both and compared: accepted or
    refused (``refusal_req``), the packets emitted (held data neither relayed nor acknowledged, the
    held segments relayed on the step that makes the splice), the stage where the session reports
    one, and on the step that makes the splice the IUT's base points. The proxy's own TCP traffic
    before the splice is set aside first (:meth:`own_tcp`). Segments are built from the model's
    :func:`provisional_state`, after the splice from the model's constants."""

    def __init__(self, session: Session, scenario: Scenario, primary: str, credit: Credit | None = None,
                 trail: Executed | None = None) -> None:
        self.session = session
        self.where = addresses(scenario.family)
        self.server_socket = handshake_sockets(scenario, self.where)[1]
        #: a live IUT's own ISNs and TSvals, learnt from the wire (the contract's optional ``learnt_sockets``)
        self.learnt = session_sockets(session) is not None
        learnt_c = session_sockets(session)
        self.model = (SpliceMachine(learnt_c[0], strip_style=scenario.strip_style) if learnt_c and learnt_c[0]
                      else unspliced_machine(scenario, self.where))
        self.primary = primary
        self.credit = credit
        #: where the checks go: a fresh record, or ``trail``'s (several sessions in one case)
        self.trail = trail if trail is not None else Executed([], [], [])
        self.diffs, self.steps, self.geometry = self.trail.diffs, self.trail.steps, self.trail.geometry
        self.reports_stage = session_stage(session) is not None
        self._check_stage(-1, None, None)

    # -- what the cases build from --------------------------------------------------------------------
    @property
    def stage(self) -> Stage:
        return self.model.stage

    def provisional(self) -> SpliceState:
        return provisional_state(self.model, self.where)

    # -- steps ----------------------------------------------------------------------------------------
    def event(self, ev: Event, *, refusal_req: str = "LIFE-TOTAL") -> bool:
        """Apply a socket-level event to both; True if both took it."""
        return self._step(ev, lambda: self.session.event(ev), None, refusal_req)

    def connect(self) -> bool:
        """SERVER_CONNECTED with D's socket from the model's handshake, or, for a session that learns its
        sockets from the wire, with the one it learnt once it connected (the IUT's step first)."""
        ev = Event(EventType.SERVER_CONNECTED, socket=self.server_socket)
        if not self.learnt:
            return self.event(ev)

        def learnt_event() -> Event:
            sockets = session_sockets(self.session)
            d = sockets[1] if sockets is not None else None
            return Event(EventType.SERVER_CONNECTED, socket=d) if d is not None else ev

        return self._step(ev, lambda: self.session.event(ev), None, "LIFE-TOTAL", learnt_event)

    def app(self, etype: EventType, n: int, *, refusal_req: str = "LIFE-TOTAL") -> bool:
        return self.event(Event(etype, n), refusal_req=refusal_req)

    def inject(self, seg: Segment, *, refusal_req: str = "LIFE-TOTAL") -> bool:
        """Send ``seg`` from the end host its addresses name to both; True if both took it."""
        srv = self.where.server
        kind = EventType.SERVER_SEGMENT if (seg.ip.src, seg.tcp.sport) == (srv.addr, srv.port) \
            else EventType.CLIENT_SEGMENT
        return self._step(Event(kind, segment=seg), lambda: self.session.inject(seg), seg, refusal_req)

    def client(self, off: int = 0, *, payload: bytes = b"", ack_off: int | None = None, flags: int | None = None,
               refusal_req: str = "LIFE-TOTAL") -> bool:
        """A segment from the client at ``off`` past C's (provisional) splice_irs, acknowledging
        ``ack_off`` past its splice_iss (default: all the proxy has written, the unwritten part of the
        OK message excepted)."""
        f = (ACK | PSH if payload else ACK) if flags is None else flags
        a = -self.model.ok_remaining if ack_off is None else ack_off
        return self.inject(from_client(self.provisional(), off, ack_off=a, payload=payload, flags=f),
                           refusal_req=refusal_req)

    def server(self, off: int = 0, *, payload: bytes = b"", ack_off: int = 0, flags: int | None = None,
               refusal_req: str = "LIFE-TOTAL") -> bool:
        """A segment from the server at ``off`` past D's (provisional) splice_irs, acknowledging
        ``ack_off`` past its splice_iss."""
        f = (ACK | PSH if payload else ACK) if flags is None else flags
        return self.inject(from_server(self.provisional(), off, ack_off=ack_off, payload=payload, flags=f),
                           refusal_req=refusal_req)

    # -- the comparison -------------------------------------------------------------------------------
    def _step(self, ev: Event, iut: Callable[[], Observation], seg: Segment | None, refusal_req: str,
              model_event: Callable[[], Event] | None = None) -> bool:
        """One step to both; ``model_event``: the IUT goes first and the model's event is made after it
        (a connect whose socket the IUT's kernel numbered)."""
        m = self.model
        before, held, was_made = m.stage, list(m.held), m.splice is not None

        def model_step(e: Event) -> tuple[list[RelayResult], bool]:
            try:
                return m.handle(e), True
            except SpliceStateError:
                return [], False

        if model_event is None:
            results, model_ok = model_step(ev)
        try:
            observed, iut_ok, why = iut(), True, ""
        except SpliceStateError as exc:  # the contract's RefusedError is one
            observed, iut_ok, why = Observation(), False, str(exc)
        if model_event is not None:
            ev = model_event()
            results, model_ok = model_step(ev)
        step = len(self.steps)
        raw = encode(seg) if seg is not None else b""
        what = summary(raw) if seg is not None else f"lifecycle event {ev.type.value}" + (
            f"({ev.nbytes})" if ev.nbytes else "")
        self.steps.append(StepRecord(
            leg_in="server" if ev.type is EventType.SERVER_SEGMENT else "client", input=raw.hex(),
            actual_to_client=[x.hex() for x in observed.to_client],
            actual_to_server=[x.hex() for x in observed.to_server],
            summary_input=what + (f" [refused by the IUT: {why}]" if why else ""),
            summary_actual=[summary(x) for x in observed.to_client + observed.to_server]))
        self.diffs.append(FieldDiff(step, -1, f"lifecycle[{before.value}, {ev.type.value}]", _outcome(model_ok),
                                    _outcome(iut_ok), refusal_req))
        if model_ok != iut_ok:
            if iut_ok:  # the stage it answers cannot be one the table lists for a refused event
                self._check_stage(step, before, ev.type)
            raise Diverged(f"step {step}: {what} {_outcome(model_ok)} by the model, {_outcome(iut_ok)} by the IUT")
        if not model_ok:
            self._check_stage(step, None, None)
            return False
        if not was_made:
            observed = Observation(tuple(p for p in observed.to_client if not self.own_tcp(p, to_client=True)),
                                   tuple(p for p in observed.to_server if not self.own_tcp(p, to_client=False)),
                                   observed.elapsed)
        if ev.type is EventType.TIMER:
            self._judge_timer(step, results, observed, was_made)
        elif results:
            inputs = [seg] * len(results) if seg is not None else held[:len(results)]
            self._compare(step, results, inputs, observed, self.primary if seg is not None else "LIFE-RELEASE")
        else:
            if len(m.held) > len(held):  # held: not relayed, not acknowledged (LIFE-DONTACK / -RELEASE)
                idle = "LIFE-DONTACK" if ev.type is EventType.SERVER_SEGMENT else "LIFE-RELEASE"
            elif m.held and seg is None:  # an event before the OK message is complete: nothing released yet
                idle = "LIFE-RELEASE"
            else:
                idle = self.primary if was_made else "LIFE-TOTAL"
            for leg, actual in (("to_client", observed.to_client), ("to_server", observed.to_server)):
                self.diffs.append(FieldDiff(step, -1, f"{leg}.count", 0, len(actual), idle))
        self._check_stage(step, before, ev.type)
        if not was_made and m.splice is not None:
            self._check_bases(step, m.splice)
        return True

    def _judge_timer(self, step: int, results: list[RelayResult], observed: Observation, was_made: bool) -> None:
        """A TIMER step (contract: "After the splice"). The model's only emission is the OK message's
        retransmission (LIFE-OK-RETRANSMIT), whose window, IP ID, TSval and content are the IUT's own
        choice, so it is judged by what matters: at least one packet on C from the proxy's socket, without
        SYN/FIN/RST, with a valid checksum, carrying OK-message bytes from the first one the client has not
        acknowledged (``ok_outstanding`` before the step) and none past the OK message's end. Anything
        else on either leg is a packet of the proxy's own after the splice (LIFE-SILENT)."""
        due = [x for r in results for x in r.segments]
        rec = self.steps[step]
        rec.expected_to_client.extend(encode(x).hex() for x in due)
        rec.summary_expected.extend(summary(encode(x)) for x in due)
        idle = "LIFE-SILENT" if was_made else "LIFE-TOTAL"
        self.diffs.append(FieldDiff(step, -1, "to_server.count", 0, len(observed.to_server), idle))
        if not due:
            self.diffs.append(FieldDiff(step, -1, "to_client.count", 0, len(observed.to_client),
                                        self.primary if was_made else "LIFE-TOTAL"))
            return
        first, left = due[0].tcp.seq, seq_sub(self.model.s2c_iss or 0, due[0].tcp.seq)
        good = [p for p in observed.to_client if self.ok_retransmission(p, first, left)]
        self.diffs.append(FieldDiff(step, 0, f"to_client: OK message retransmitted from seq {first} ({left} bytes "
                                             "unacknowledged)", True, bool(good), "LIFE-OK-RETRANSMIT"))
        self.diffs.append(FieldDiff(step, -1, "to_client.count (besides the OK message's retransmissions)", 0,
                                    len(observed.to_client) - len(good), "LIFE-SILENT"))

    def ok_retransmission(self, raw: bytes, first: int, left: int) -> bool:
        """Whether ``raw`` retransmits the OK message from ``first`` (``left`` bytes unacknowledged)."""
        try:
            seg = decode(raw)
        except MalformedSegment:
            return False
        sock, t = self.model.c.sock, seg.tcp
        return ((seg.ip.src, t.sport, seg.ip.dst, t.dport) == (sock.local.addr, sock.local.port, sock.peer.addr,
                                                               sock.peer.port)
                and not t.flags & (SYN | FIN | RST) and t.seq == first and 1 <= len(seg.payload) <= left
                and tcp_valid(seg, raw))

    def own_tcp(self, raw: bytes, *, to_client: bool) -> bool:
        """Whether ``raw`` is the proxy's own TCP at work before the splice (contract docstring): from
        the proxy's socket to its peer, no SYN/FIN/RST, only bytes the application wrote on that socket,
        and acknowledging nothing held."""
        m = self.model
        ctr = m.c if to_client else m.d
        try:
            seg = decode(raw)
        except MalformedSegment:
            return False
        if ctr is None:
            return False
        sock, t = ctr.sock, seg.tcp
        if (seg.ip.src, t.sport, seg.ip.dst, t.dport) != (sock.local.addr, sock.local.port, sock.peer.addr,
                                                          sock.peer.port) or t.flags & (SYN | FIN | RST):
            return False
        first = seq_add(sock.local_isn, 1)
        written = seq_sub(ctr.snd_nxt, first)
        if seq_sub(t.seq, first) > written or seq_sub(t.seq, first) + len(seg.payload) > written:
            return False
        limit = m.c2s_irs if to_client else m.s2c_irs
        return not (t.flags & ACK and limit is not None and distance(t.ack, limit) > 0)

    def _compare(self, step: int, results: list[RelayResult], inputs: Sequence[Segment], observed: Observation,
                 primary: str) -> None:
        """Diff the model's results against the IUT's packets, split among the results in order per leg."""
        state = self.model.splice
        assert state is not None
        rec = self.steps[step]
        for r, seg, part in zip(results, inputs, split_observation(results, observed), strict=True):
            step_diffs, record = diff_step(step, state, seg, encode(seg), r, part, primary)
            leg_in = record.leg_in
            for d in step_diffs:
                if self.credit is not None and d.req in WIRE_FIELDS:
                    d = replace(d, req=self.credit(leg_in, d.field))
                self.diffs.append(d)
            rec.expected_to_client.extend(record.expected_to_client)
            rec.expected_to_server.extend(record.expected_to_server)
            rec.summary_expected.extend(record.summary_expected)
            g = geometry(state, seg, r, step)
            if g is not None:
                self.geometry.append(g)

    def _check_stage(self, step: int, before: Stage | None, etype: EventType | None) -> None:
        iut = session_stage(self.session)
        if iut is None:
            return
        model = self.model.stage
        req = "LIFE-COMPLETE" if Stage.COMPLETE in (model, iut) else "LIFE-TOTAL"
        self.diffs.append(FieldDiff(step, -1, "stage", model.value, iut.value, req))
        if before is not None and etype is not None:
            rule = TRANSITIONS[before][etype]
            allowed = sorted(s.value for s in rule) if not isinstance(rule, Refused) else []
            self.diffs.append(FieldDiff(step, -1, f"stage in TRANSITIONS[{before.value}, {etype.value}] {allowed}",
                                        True, iut.value in allowed, "LIFE-TOTAL"))

    def _check_bases(self, step: int, made: SpliceState) -> None:
        """The IUT's base points when the model has made the splice (figures 6 and 7)."""
        try:
            iut = self.session.state
        except NotSplicedError:
            self.diffs.append(FieldDiff(step, -1, "splice made (session.state)", True, False, "LIFE-TOTAL"))
            return
        for leg, name, req, paper in BASES:
            self.diffs.append(FieldDiff(step, -1, f"state.{leg}.{name} ({paper})", getattr(getattr(made, leg), name),
                                        getattr(getattr(iut, leg), name), req))


Script = Callable[[Lockstep], None]


def lockstep(script: Script, credit: Credit | None = None, *, needs_stage: bool = False) -> Execute:
    """An execute running ``script`` on a :class:`Lockstep` over ``open_unspliced(case.scenario)``;
    ``needs_stage``: UNSUPPORTED for sessions that do not report their stage (completion is not on
    the wire). A walk that diverges (:class:`Diverged`) ends there, its checks kept."""

    def run(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
        t0 = time.perf_counter()
        with open_unspliced(adapter, case.scenario) as session:
            lock = Lockstep(session, case.scenario, case.primary, credit)
            if needs_stage and not lock.reports_stage:
                raise UnsupportedError("the session does not report its stage, and completion (LIFE-COMPLETE) "
                                       "changes nothing on the wire")
            with contextlib.suppress(Diverged):
                script(lock)
        return result(case, lock.diffs, lock.steps, lock.geometry, t0, seed)

    return run
