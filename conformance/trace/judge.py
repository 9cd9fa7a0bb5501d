"""Judging one spliced connection of a trace: every relayed segment against the model.

Why one module of ~800 lines: :class:`Judge` and the capture-artifact tests it makes on each output
(partial checksums, super-segments, payloads cut by the snap length) are one concept — pairing outputs
with inputs and deciding what of each pair can be judged — and run on the hot path of every segment;
inference (:mod:`.infer`) and the fast path (:mod:`.fast`) stand apart.

Theory of operation
-------------------
A :class:`Judge` is made for a paired connection once its parameters are known
(:mod:`splicecheck.conformance.trace.infer`). It sees, in capture order, the *inputs* (segments an end
host sent to the proxy: the client's on the client leg, the server's on the server leg) and the
*outputs* (segments the proxy sent to an end host), and pairs each output with the input it relays.

* **At an input** the model's expectation is computed at once, because the model's state threads
  through the inputs in order (each direction's *advance*, TRIM-2GIB; a relayed RST closes the
  splice). A plain segment gets the fast path's expected bytes (:mod:`splicecheck.conformance.trace.fast`),
  any other the full model's :class:`~splicecheck.reference.relay.RelayResult`. Either way the input
  is *pending*, filed under the (seq, ack, length, flags) its output must carry.
* **At an output** the pending input filed under the output's own (seq, ack, length, flags) is its
  input (among inputs alike in those four, the one whose expected bytes it equals, else the oldest).
  If there is none it waits ``skew`` seconds for one (the two captures' clocks may differ; it is
  claimed then only by an input whose expected packet it is exactly); then — the box got a field
  wrong — the pending input of that direction it most plausibly relays is taken: one whose payload
  it carries (all of it before a tail), else, for an empty output, one whose expected sequence or
  acknowledgment number it carries with the same SYN/FIN/RST flags; among equals the one whose
  expected numbers it has, then the oldest. So a difference is reported field by field rather than
  as a drop plus a stray. An output with no candidate is held while an older input of its direction
  is pending (it may be that input's answer, whatever it looks like), then is an output *emitted
  without input* (DIR-ONLY) — on the step of the peer's last input when it went back to that peer —
  unless it is the proxy's own pre-splice data sent late.
* **A pending input** that no output claimed within ``timeout`` seconds (checked as its direction's
  later inputs come, and by the engine's sweep) takes the likeliest output still waiting after it,
  else was *dropped by the box*: it is judged with nothing observed, which is a difference wherever
  the model emits something. ICMP errors the proxy sent back (the model's MSS-ICMP, or a time
  exceeded) are paired with the input they quote.

Judging is the conformance suite's own: ``diff_step`` on the model's result and the observed
packets, every comparison attributed to a requirement — or a shortcut that stands for that whole
set of comparisons when the box's packet is byte for byte the expected one (the fast path's, or the
model's own output; :class:`FastShared`). The proxy's own handshake packets are checked too
(WS-ZERO, WS-PROPAGATE, MSS-536 and the HS-* requirements: step -1). A connection yields one
:class:`~splicecheck.conformance.results.CaseResult` (``kind="trace"``) whose requirements are every
requirement its checks bore on; its differences and evidence steps are capped (the first of every
requirement is always kept, so requirement verdicts are exact), with counts in ``reason``.

Why one module of some 750 lines: the pairing above is one algorithm over one data structure, the pending
inputs of a direction (their list of fields, ``P_*``, is read on every packet). Its parts — matching,
the fallback, orphans, timeouts and the capture artifacts (partial checksums, super-segments) — each
read and write those entries and the direction's state, so splitting them would spread one invariant
over several files. What stands on its own is elsewhere: the parameters (``infer``), the fast path
(``fast``), the counts (``tally``), the result lines (``serial``).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ...reference.arith import MASK32
from ...reference.checksum import tcp_checksum
from ...reference.codec import decode, encode
from ...reference.errors import MalformedSegment
from ...reference.icmp import PacketTooBig
from ...reference.relay import Direction, RelayResult, SpliceState, relay
from ...reference.segment import FIN, RST, SYN, Segment
from ...reference.seqspace import HALF, seq_add, seq_sub
from ..contract import Observation
from ..diff import diff_step, geometry, observation, summary
from ..results import CaseResult, FieldDiff, StepRecord
from .fast import SEQ_ACK_OFF, FastTransform, fast_equal, output_key, seg_key
from .shortcuts import FastShared, model_shape, primary_req
from .tally import ConnectionTally

_DIRS = (Direction.C2S, Direction.S2C)


# A pending input is a list, not an object: one is made per segment, and a 13-slot object costs six
# times what a list does. Indices:
P_DONE, P_KEY, P_IP, P_IHL, P_STEP, P_TS, P_D, P_HEAD, P_HLEN, P_SHAPE, P_ADV0, P_ADV1, P_FULL, P_OFF = range(14)
Pending = list[Any]  # [done, key (int | None), ip, ihl, step, ts, direction, expected header (fast path) | None,
#                  its length, shape, c2s advance before, s2c advance before, Full | None, checksum completed?]

#: a fast-path shape bit of its own for steps whose TCP checksum is not graded (offloaded at the capture
#: point): their checks are counted apart from those of the same shape with a graded checksum
SHAPE_CSUM_NA = 1 << 20
CHECKSUM_MODES = ("auto", "verify", "ignore")
_CSUM_FIELD = "tcp.checksum valid"


class Full:
    """What a pending input judged by the full model carries (and the marks of the unjudgeable)."""

    __slots__ = ("icmp", "malformed", "oversize", "relayed", "result", "seg", "state", "truncated")

    def __init__(self, result: RelayResult | None = None, seg: Segment | None = None,
                 state: SpliceState | None = None, *, truncated: bool = False, malformed: bool = False,
                 oversize: bool = False, relayed: RelayResult | None = None) -> None:
        self.result = result
        self.seg = seg
        self.state = state
        self.icmp: int | None = None  # the seq an ICMP error answering it would quote
        self.truncated = truncated
        self.malformed = malformed
        self.oversize = oversize  # larger than its sender may send: a TSO/GRO super-segment
        #: an input whose option area cannot be walked: ``result`` is the model's (dropped), this the
        #: alternative relay-unwalkable's (relayed, the area from the fault on as it came), which an output
        #: is judged against
        self.relayed = relayed


_TRUNCATED = Full(truncated=True)
_MALFORMED = Full(malformed=True)


class _Dups(list):  # type: ignore[type-arg]
    """Pending inputs filed under one key (a list of pending lists)."""


@dataclass(slots=True)
class Orphan:
    """An output no pending input claimed (yet)."""

    ts: int
    d: int
    ip: bytes
    ihl: int
    truncated: bool
    done: bool = False
    offloaded: bool = False  # its TCP checksum was completed (offloaded at the capture point): not graded


@dataclass(slots=True)
class _Dir:
    xf: FastTransform | None  # None: fast path off
    keyer: FastTransform  # for the keys of inputs the capture cut
    judged: bool
    pending: dict[int, Any] = field(default_factory=dict)  # key → pending input, or _Dups of them
    order: deque[Any] = field(default_factory=deque)  # pending inputs, oldest first (done ones linger)
    icmp: dict[int, Any] = field(default_factory=dict)
    orphans: list[Orphan] = field(default_factory=list)
    last_input: tuple[int, int, bytes] | None = None  # (ts, step, ip) of the latest input
    # the partial checksum of this direction's inputs and outputs is the folded pseudo-header sum: the
    # constant part (addresses, protocol) modulo 0xFFFF, per leg; the largest segment its sender may send
    psum_in: int = 0
    psum_out: int = 0
    limit: int = 0xFFFF
    out_limit: int = 0xFFFF
    # expected-sequence ranges of recent super-segments (inputs larger than their sender may send, or
    # outputs larger than their receiver takes): outputs cut otherwise on the other capture fall in them
    reseg: deque[tuple[int, int, int]] | None = None  # (start, length, ts); made when first needed


_WORDS = {8: struct.Struct("!4H"), 32: struct.Struct("!16H")}  # two IPv4 or two IPv6 addresses


def _addr_words(data: bytes) -> int:
    words = _WORDS.get(len(data))
    if words is not None:
        return sum(words.unpack(data))
    return sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))


def _likeness(e: Pending, ip: bytes, ihl: int) -> tuple[int, int]:
    """How plausibly ``ip`` (an output) relays the pending input ``e``: (what of its payload it carries —
    2 all, 1 a tail, 0 none or no data —, how many of the expected seq and ack it has). An output without
    data must carry the expected seq or ack and the same SYN/FIN/RST flags; (0, 0) is no candidate."""
    doff = (ip[ihl + 12] >> 4) << 2
    payload = ip[ihl + doff:]
    seq = int.from_bytes(ip[ihl + 4:ihl + 8], "big")
    ack = int.from_bytes(ip[ihl + 8:ihl + 12], "big")
    inp, eihl = e[P_IP], e[P_IHL]
    key = e[P_KEY]
    fields = 0 if key is None else ((key >> 57) == seq) + (((key >> 25) & MASK32) == ack)
    if payload:
        in_payload = inp[eihl + ((inp[eihl + 12] >> 4) << 2):]
        if not in_payload.endswith(payload):
            return (0, 0)
        return (2 if len(in_payload) == len(payload) else 1, fields)
    if fields and (inp[eihl + 13] & (SYN | FIN | RST)) == ip[ihl + 13] & (SYN | FIN | RST):
        return (1, fields)
    return (0, 0)


def _partial(ip: bytes, ihl: int, psum: int) -> bool:
    """Whether the TCP checksum of ``ip`` is the *partial* one a sender with checksum offload leaves for its
    NIC to complete (Linux ``CHECKSUM_PARTIAL``): the folded pseudo-header sum (RFC 9293 §3.1) of the
    packet, not its complement over the whole segment. ``psum``: the addresses and protocol, modulo 0xFFFF."""
    return ((ip[ihl + 16] << 8) | ip[ihl + 17]) % 0xFFFF == (psum + len(ip) - ihl) % 0xFFFF


def _tcp_checksum_of(ip: bytes, ihl: int) -> int:
    """The TCP checksum of the segment in IP packet ``ip`` (header length ``ihl``), computed over it."""
    src, dst = (ip[12:16], ip[16:20]) if ip[0] >> 4 == 4 else (ip[8:24], ip[24:40])
    return tcp_checksum(src, dst, ip[ihl:])


def completed(ip: bytes, ihl: int) -> bytes:
    """``ip`` with its TCP checksum computed over the segment (what the NIC would have put there)."""
    return ip[:ihl + 16] + _tcp_checksum_of(ip, ihl).to_bytes(2, "big") + ip[ihl + 18:]


def _super_segment(ip: bytes, ihl: int, off: bool, mode: int) -> bool:
    """Whether an input larger than its sender's MSS is a capture's super-segment (TSO/GRO), judged as the wire
    segments it stands for, rather than a segment really sent that large (which MSS-ICMP and MSS-NO-BLACKHOLE
    judge). A super-segment carries the offload's mark: captured at a sender with TSO it has the partial
    checksum (TSO implies checksum offload; ``off``: it was completed), merged by GRO at a receiver its
    checksum field is the first segment's and does not verify. A segment with a valid checksum really was
    that large on the wire. ``mode`` (the ``--checksums`` choice): 0 auto decides so, 1 verify treats none as
    a super-segment (everything graded as captured), 2 ignore treats every one so (checksums tell nothing)."""
    if mode != 0:
        return mode == 2
    if off:
        return True
    return _tcp_checksum_of(ip, ihl) != (ip[ihl + 16] << 8) | ip[ihl + 17]


def _oversize(ip: bytes, ihl: int, limit: int) -> bool:
    """Payload and options above ``limit`` (an MSS; RFC 6691 counts options)."""
    return len(ip) - ihl - 20 > limit


def _is_expected(e: Pending, ip: bytes) -> bool:
    """Whether ``ip`` is exactly the packet the model expects for the pending input ``e``."""
    head, full = e[P_HEAD], e[P_FULL]
    if head is not None:
        return fast_equal(head, e[P_HLEN], e[P_IP], ip)
    segs: tuple[Segment, ...] = full.result.segments if full is not None and full.result is not None else ()
    return bool(segs) and encode(segs[0]) == ip


def _within(seq: int, n: int, start: int, length: int) -> bool:
    """Whether [seq, seq + n) lies within [start, start + length) on the 32-bit circle."""
    return (seq - start) & MASK32 < length and ((seq - start) & MASK32) + n <= length


def _without_mss(st: SpliceState, d: Direction) -> SpliceState:
    """``st`` with no MSS limit on ``d``'s out leg (a super-segment is judged as the segments it stands for)."""
    if d is Direction.C2S:
        return replace(st, server=replace(st.server, peer_mss=0xFFFF))
    return replace(st, client=replace(st.client, peer_mss=0xFFFF))


class Judge(ConnectionTally):
    """One spliced connection's checks (module docstring)."""

    def __init__(self, case_id: str, state: SpliceState, *, judged: tuple[bool, bool] = (True, True),
                 shared: FastShared | None = None, repro: str = "", description: str = "",
                 expectation: str = "", timeout: float = 1.0, skew: float = 0.005, checksums: str = "auto",
                 announced_mss: tuple[int | None, int | None] = (None, None)) -> None:
        """``checksums``: ``verify`` grades every TCP checksum as captured; ``auto`` completes the partial
        checksums of offloading senders (:func:`_partial`) and grades none of the steps they are in;
        ``ignore`` completes and grades none. ``announced_mss``: the MSS the proxy announced on the client
        and the server leg (None: not captured), the largest segment each end host may send it."""
        if checksums not in CHECKSUM_MODES:
            raise ValueError(f"checksums must be one of {CHECKSUM_MODES}: {checksums!r}")
        self.checksums = checksums
        self._csum = CHECKSUM_MODES.index(checksums)  # 0 auto, 1 verify, 2 ignore: compared per packet
        self.timeout_ns = int(timeout * 1e9)
        self.skew_ns = int(skew * 1e9)
        super().__init__(case_id, shared or FastShared(), repro=repro, description=description,
                         expectation=expectation)
        self.state = state
        # The model's state threads through the inputs as in the lifecycle's SPLICED stage
        # (SpliceMachine._relay): the relay's successor state (the advances), and CLOSED once a RST was
        # relayed. Called directly, not through a SpliceMachine, whose history would grow per segment.
        self.current = state
        fast = self.shared.enabled
        self.dirs = []
        peers_mss = max(state.client.peer_mss, state.server.peer_mss)
        for i, d in enumerate(_DIRS):
            xf = FastTransform(state, d)
            ds = _Dir(xf if fast and judged[i] else None, xf, judged[i])
            leg_in, leg_out = state.legs(d)
            ds.psum_in = (_addr_words(leg_in.peer.addr + leg_in.local.addr) + 6) % 0xFFFF
            ds.psum_out = (_addr_words(leg_out.peer.addr + leg_out.local.addr) + 6) % 0xFFFF
            # a sender never puts more than the MSS it was told on the wire (RFC 9293 §3.7.1); when the
            # proxy's SYN-ACK/SYN was not captured, the larger of the two end hosts' MSS stands in
            ann = announced_mss[i]
            ds.limit = ann if ann is not None else peers_mss
            ds.out_limit = leg_out.peer_mss
            self.dirs.append(ds)
        self.adv = [0, 0]
        self.closed = False
        self.finished = False
        self.steps = 0
        self.cutoff: int | None = None  # set when one capture ended before the other

    # -- inputs ---------------------------------------------------------------------------------------
    def input(self, d: int, ts: int, ip: bytes, ihl: int, truncated: bool) -> Pending | None:
        """A segment from the in peer of direction ``d``; returns it pending (None if not judged at all)."""
        ds = self.dirs[d]
        if not ds.judged:
            self.counts.unknown_params += 1
            return None
        step = self.steps
        self.steps = step + 1
        order = ds.order
        while order:  # the oldest pending: done ones leave, timed-out ones were dropped by the box
            head = order[0]
            if head[P_DONE]:
                order.popleft()
            elif head[P_TS] + self.timeout_ns <= ts:
                self.expire(head)
            else:
                break
        xf = ds.xf
        adv = self.adv
        e: Pending
        off = False
        mode = self._csum
        if mode != 1 and not truncated and (mode == 2 or ((ip[ihl + 16] << 8) | ip[ihl + 17]) % 0xFFFF
                                            == (ds.psum_in + len(ip) - ihl) % 0xFFFF):  # _partial, inlined
            ip, off = completed(ip, ihl), True
            self.counts.csum_in += 1
        if truncated:
            e = [False, ds.keyer.key_only(ip, ihl), ip, ihl, step, ts, d, None, 0, 0, adv[0], adv[1], _TRUNCATED,
                 off]
        elif len(ip) - ihl - 20 > ds.limit and _super_segment(ip, ihl, off, mode):  # _oversize, inlined
            e = self._full_input(d, ts, ip, ihl, step, off, oversize=True)
        elif xf is not None and not self.closed:
            exp = xf.expect(ip, adv[d], adv[1 - d])
            if exp is not None:
                e = [False, exp[0], ip, ihl, step, ts, d, exp[1], exp[2], exp[3], adv[0], adv[1], None, off]
                adv[d] = exp[4]
            else:
                e = self._full_input(d, ts, ip, ihl, step, off)
        else:
            e = self._full_input(d, ts, ip, ihl, step, off)
        key: int | None = e[P_KEY]
        if key is not None:
            pend = ds.pending
            old = pend.get(key)
            if old is None:
                pend[key] = e
            elif type(old) is _Dups:
                old.append(e)
            else:
                pend[key] = _Dups((old, e))
        order.append(e)
        ds.last_input = (ts, step, ip)
        if ds.orphans:
            self._claim_orphans(ds, e)
        return e

    def _full_input(self, d: int, ts: int, ip: bytes, ihl: int, step: int, off: bool, *,
                    oversize: bool = False) -> Pending:
        adv = self.adv
        e: Pending = [False, None, ip, ihl, step, ts, d, None, 0, 0, adv[0], adv[1], _MALFORMED, off]
        try:
            seg = decode(ip)
        except MalformedSegment:
            return self._unwalkable_input(e, ip)
        st = plain = self._state_now()
        if oversize:
            # A super-segment (TSO at the sending host's capture, GRO at a receiving one) stands for wire
            # segments that each fit the MSS: judged as their concatenation, with no MSS to exceed
            self.counts.oversize += 1
            st = _without_mss(st, _DIRS[d])
        if self.closed:  # the lifecycle's CLOSED stage: nothing is relayed after a RST was
            result = RelayResult(_DIRS[d], (), (), ts / 1e9, 0, st)
        else:
            result = relay(st, seg, ts / 1e9)
        after = result.state or st
        if oversize:
            after = replace(plain, c2s_advance=after.c2s_advance, s2c_advance=after.s2c_advance)
        self.current = after
        adv[0], adv[1] = after.c2s_advance, after.s2c_advance
        if result.segments and result.segments[0].tcp.flags & RST:
            self.closed = True
        full = e[P_FULL] = Full(result, seg, st, oversize=oversize)
        for out in result.emitted:
            if isinstance(out, PacketTooBig):
                full.icmp = seg.tcp.seq
                self.dirs[d].icmp[seg.tcp.seq] = e
            else:
                t = out.tcp
                e[P_KEY] = seg_key(t.seq, t.ack, len(out.payload), t.flags)
                if oversize and out.payload:
                    ds = self.dirs[d]
                    if ds.reseg is None:
                        ds.reseg = deque()
                    ds.reseg.append((t.seq, len(out.payload), ts))
        return e

    def _unwalkable_input(self, e: Pending, ip: bytes) -> Pending:
        """An input the codec refuses. One whose headers are read and whose option area cannot be walked is
        judged as a run judges it (``alternatives.RELAY_UNWALKABLE``): dropped, the model's outcome, or relayed
        with the area from the fault on as it came; its output is matched by that relay's numbers. The model
        drops it, so the state threads on as if it had not come. Any other is matched like any input (so its
        output is not a stray) and never judged."""
        try:
            seg = decode(ip, keep_rest=True)
        except MalformedSegment:
            self.counts.malformed += 1
            return e
        self.counts.unwalkable += 1
        st = self._state_now()
        now = e[P_TS] / 1e9
        dropped = RelayResult(_DIRS[e[P_D]], (), (), now, 0, st)
        relayed = dropped if self.closed else relay(st, seg, now)
        e[P_FULL] = Full(dropped, seg, st, relayed=relayed)
        if relayed.segments:
            out = relayed.segments[0]
            e[P_KEY] = seg_key(out.tcp.seq, out.tcp.ack, len(out.payload), out.tcp.flags)
        return e

    def _state_now(self) -> SpliceState:
        """The model's state as the next input finds it: ``current`` with the two directions' advances so far."""
        st, adv = self.current, self.adv
        if st.c2s_advance != adv[0] or st.s2c_advance != adv[1]:
            st = replace(st, c2s_advance=adv[0], s2c_advance=adv[1])
        return st

    # -- outputs --------------------------------------------------------------------------------------
    def output(self, d: int, ts: int, ip: bytes, ihl: int, truncated: bool) -> Orphan | None:
        """A segment the proxy sent towards direction ``d``'s out peer; an :class:`Orphan` if no input
        claims it (the caller times it out with :meth:`expire_orphan`)."""
        ds = self.dirs[d]
        if not ds.judged:
            self.counts.unknown_params += 1
            return None
        off = False
        mode = self._csum
        if mode != 1 and not truncated and (mode == 2 or ((ip[ihl + 16] << 8) | ip[ihl + 17]) % 0xFFFF
                                            == (ds.psum_out + len(ip) - ihl) % 0xFFFF):  # _partial, inlined
            ip, off = completed(ip, ihl), True
            self.counts.csum_out += 1
        seq, ack, offfl = SEQ_ACK_OFF.unpack_from(ip, ihl + 4)
        total = ((ip[2] << 8) | ip[3]) if ip[0] < 0x60 else ((ip[4] << 8) | ip[5]) + 40
        key = (seq << 57) | (ack << 25) | ((total - ihl - ((offfl >> 12) << 2)) << 9) | (offfl & 0x1FF)
        e = ds.pending.pop(key, None)
        if e is not None:
            if type(e) is _Dups:  # inputs alike in (seq, ack, length, flags): the one it equals, else the oldest
                i = next((j for j, c in enumerate(e) if _is_expected(c, ip)), 0)
                first = e.pop(i)
                if e:
                    ds.pending[key] = e[0] if len(e) == 1 else e
                e = first
            e[P_DONE] = True
            head = e[P_HEAD]
            off = off or e[P_OFF]
            if head is not None and not truncated:
                inp = e[P_IP]
                hlen = e[P_HLEN]
                shared = self.shared
                shape = e[P_SHAPE] | SHAPE_CSUM_NA if off else e[P_SHAPE]
                if len(ip) == len(inp) and ip.startswith(head) and ip[hlen:] == inp[hlen:] \
                        and shape not in shared.unsafe:
                    if shape in shared.shapes:
                        shared.tick += 1
                        if shared.tick < shared.verify_every or not shared.verify_every:
                            fast = self.fast_by_shape
                            fast[shape] = fast.get(shape, 0) + 1  # checks and counts added up at the end
                            return None
                        shared.tick = 0
                    self._judge(e, [ip], [], truncated, fast_pass=True, out_off=off, shape=shape)
                    return None
            self._judge(e, [ip], [], truncated, out_off=off)
            return None
        o = Orphan(ts, d, ip, ihl, truncated, offloaded=off)  # its input may come yet (clock skew): fallbacks at expiry
        ds.orphans.append(o)
        return o

    def _unfile(self, ds: _Dir, e: Pending) -> None:
        e[P_DONE] = True
        key = e[P_KEY]
        if key is not None:
            v = ds.pending.get(key)
            if v is e:
                del ds.pending[key]
            elif type(v) is _Dups:
                for j, c in enumerate(v):
                    if c is e:
                        del v[j]
                        break
                if not v:
                    del ds.pending[key]
                elif len(v) == 1:
                    ds.pending[key] = v[0]
        full = e[P_FULL]
        if full is not None and full.icmp is not None and ds.icmp.get(full.icmp) is e:
            del ds.icmp[full.icmp]

    def _fallback(self, ds: _Dir, ip: bytes, ihl: int, truncated: bool) -> Pending | None:
        """The oldest pending input this output most plausibly relays (module docstring)."""
        if truncated:
            return None
        best, best_score, n = None, (0, 0), 0
        for e in ds.order:
            if e[P_DONE] or e[P_FULL] is _TRUNCATED or (e[P_FULL] is not None and e[P_FULL].oversize):
                continue  # a super-segment's output is its own copy or pieces of it (_absorbed)
            n += 1
            if n > 256:
                break
            score = _likeness(e, ip, ihl)
            if score > best_score:
                best, best_score = e, score
                if score == (2, 2):
                    break
        if best is not None:
            self._unfile(ds, best)
        return best

    def _claim_orphans(self, ds: _Dir, e: Pending) -> None:
        """An input arriving after an output that waits for one (the captures' clocks differ): the output
        is claimed only if it is exactly the packet expected (a stray copy of an earlier output is not)."""
        key = e[P_KEY]
        for o in ds.orphans:
            if o.done or key is None or output_key(o.ip, o.ihl) != key:
                continue
            if _is_expected(e, o.ip):
                o.done = True
                self._unfile(ds, e)
                self._judge(e, [o.ip], [], o.truncated, out_off=o.offloaded)
                break
        ds.orphans = [o for o in ds.orphans if not o.done]

    def icmp(self, d: int, ts: int, ip: bytes, quoted_seq: int) -> bool:
        """An ICMP error the proxy sent back to direction ``d``'s in peer, quoting ``quoted_seq``: paired
        with the input the model answers with one, else with a pending input it quotes; without either
        it is an output emitted without input (attributed to MSS-ICMP, the one ICMP the model sends)."""
        ds = self.dirs[d]
        e = ds.icmp.get(quoted_seq)
        if e is None:
            quoted = quoted_seq.to_bytes(4, "big")
            for cand in ds.order:  # the box answered a segment the model relays
                if not cand[P_DONE] and cand[P_IP][cand[P_IHL] + 4:cand[P_IHL] + 8] == quoted:
                    e = cand
                    break
        if e is None:
            self._stray(d, ip, "MSS-ICMP", in_leg=True)
            return False
        self._unfile(ds, e)
        self._judge(e, [], [ip], False)
        return True

    def _absorbed(self, ds: _Dir, o: Orphan) -> bool:
        """Segmentation offload cuts a stream differently on the two captures: an output that falls within
        the expected range of a super-segment input (TSO at the sender's capture), or a super-segment
        output (GRO at the receiver's capture) covering pending inputs, stands for the same bytes cut
        otherwise. Neither is judged (counted ``resegmented``); never a drop, a stray or an MSS failure. An
        output larger than the MSS counts as a super-segment only with the offload's mark (:func:`_super_segment`):
        an untrimmed or oversized segment the box really sent is judged, not absorbed."""
        if o.truncated:
            return False
        ip, ihl = o.ip, o.ihl
        seq = int.from_bytes(ip[ihl + 4:ihl + 8], "big")
        plen = len(ip) - ihl - ((ip[ihl + 12] >> 4) << 2)
        if plen <= 0:
            return False
        big = _oversize(ip, ihl, ds.out_limit) and _super_segment(ip, ihl, o.offloaded, self._csum)
        if ds.reseg is None:
            if not big:
                return False  # the common case: no super-segment in this direction
            ds.reseg = deque()
        horizon = o.ts - 2 * self.timeout_ns
        while ds.reseg and ds.reseg[0][2] < horizon:
            ds.reseg.popleft()
        inside = any(_within(seq, plen, start, n) for start, n, _ts in ds.reseg)
        if not inside and not big:
            return False
        # the super-segment input this output is a piece of, or the inputs a super-segment output stands for
        covered = [e for e in ds.order if not e[P_DONE] and e[P_KEY] is not None and (
            (inside and e[P_FULL] is not None and e[P_FULL].oversize
             and _within(seq, plen, e[P_KEY] >> 57, (e[P_KEY] >> 9) & 0xFFFF))
            or (big and _within(e[P_KEY] >> 57, (e[P_KEY] >> 9) & 0xFFFF, seq, plen)))]
        if not inside and not covered:
            return False
        for e in covered:
            self._unfile(ds, e)
            self.counts.resegmented += 1
        if not inside:
            ds.reseg.append((seq, plen, o.ts))
        o.done = True
        self.counts.resegmented += 1
        return True

    def prune(self) -> None:
        """Forget the pending inputs already matched (a closing connection lingers with only what may still
        be matched: memory follows what is open, not what was judged)."""
        for ds in self.dirs:
            order = ds.order
            while order and order[0][P_DONE]:
                order.popleft()
            if any(e[P_DONE] for e in order):
                ds.order = deque(e for e in order if not e[P_DONE])

    # -- timeouts -------------------------------------------------------------------------------------
    def expire_due(self, now: int) -> None:
        """Every pending input older than the match timeout at ``now`` (the engine's sweep, for directions
        that got no input since: :meth:`input` expires the oldest ones itself). Outputs waiting longer than
        the skew first take the input they most plausibly relay."""
        a, b = self.dirs
        if not (a.order or a.orphans or b.order or b.orphans):  # nothing waits (most pairs, once lingering)
            return
        self._place_orphans(lambda o: o.ts + self.skew_ns <= now)
        for ds in self.dirs:
            order = ds.order
            while order:
                head = order[0]
                if head[P_DONE]:
                    order.popleft()
                elif head[P_TS] + self.timeout_ns <= now:
                    self.expire(head)
                else:
                    break

    def _place_orphans(self, which: Callable[[Orphan], bool]) -> None:
        """Waiting outputs (those ``which`` picks) take the input they most plausibly relay, if any."""
        for ds in self.dirs:
            if not ds.orphans:
                continue
            for o in list(ds.orphans):
                if o.done or not which(o):
                    continue
                if self._absorbed(ds, o):
                    continue
                e = self._fallback(ds, o.ip, o.ihl, o.truncated)
                if e is not None:
                    o.done = True
                    self._judge(e, [o.ip], [], o.truncated, out_off=o.offloaded)
            ds.orphans = [x for x in ds.orphans if not x.done]

    def expire(self, e: Pending) -> None:
        """No output claimed ``e`` in time: paired with the first unclaimed output of its direction sent
        after it, if one waits (whatever the box sent instead), else judged with nothing observed."""
        if e[P_DONE] or self.finished:
            return
        ds = self.dirs[e[P_D]]
        full = e[P_FULL]
        if full is not None and full.oversize:  # its output, if any, came cut otherwise: pieces absorbed
            for o in ds.orphans:
                if not o.done:
                    self._absorbed(ds, o)
            ds.orphans = [x for x in ds.orphans if not x.done]
            if e[P_DONE]:
                return
        self._unfile(ds, e)
        waiting = [(_likeness(e, o.ip, o.ihl), -i, o) for i, o in enumerate(ds.orphans)
                   if not o.done and not o.truncated and o.ts >= e[P_TS]]
        if waiting:
            o = max(waiting, key=lambda w: (w[0], w[1]))[2]  # the likeliest; the earliest among equals
            o.done = True
            ds.orphans = [x for x in ds.orphans if not x.done]
            self._judge(e, [o.ip], [], o.truncated, out_off=o.offloaded)
            return
        self._judge(e, [], [], False)

    def cut_orphan(self, o: Orphan) -> None:
        """An output captured after the other capture ended: its input may be the one not captured."""
        if not o.done:
            o.done = True
            self.counts.cut += 1
            ds = self.dirs[o.d]
            ds.orphans = [x for x in ds.orphans if not x.done]

    def expire_orphan(self, o: Orphan) -> int | None:
        """An unclaimed output's time is up. While an older input of its direction is pending it waits on
        (the new deadline is returned: that input may turn out to be the one it answers); then it is
        the proxy's own late pre-splice data, an answer to the peer's last input, or a stray."""
        if o.done or self.finished:
            return None
        ds = self.dirs[o.d]
        if self._absorbed(ds, o):
            ds.orphans = [x for x in ds.orphans if not x.done]
            return None
        e = self._fallback(ds, o.ip, o.ihl, o.truncated)
        if e is not None:
            o.done = True
            ds.orphans = [x for x in ds.orphans if not x.done]
            self._judge(e, [o.ip], [], o.truncated, out_off=o.offloaded)
            return None
        if any(not x[P_DONE] and x[P_TS] <= o.ts for x in ds.order):
            return o.ts + self.timeout_ns + 1
        o.done = True
        ds.orphans = [x for x in ds.orphans if not x.done]
        if o.truncated:
            self.counts.truncated += 1
            return None
        ihl = o.ihl
        seq, plen = int.from_bytes(o.ip[ihl + 4:ihl + 8], "big"), len(o.ip) - ihl - ((o.ip[ihl + 12] >> 4) << 2)
        leg_out = self.state.legs(_DIRS[o.d])[1]
        # the proxy's own bytes before the splice, sent late (data wholly before out.splice_iss)
        if plen and (seq_sub(leg_out.splice_iss, seq_add(seq, plen))) < HALF:
            self.counts.own_late += 1
            return None
        # sent back to a peer that had just sent an input: the box answered that input itself
        last = self.dirs[1 - o.d].last_input
        answered = last if last is not None and 0 <= o.ts - last[0] <= self.timeout_ns else None
        self._stray(o.d, o.ip, "DIR-ONLY", answered=answered)
        return None

    def _stray(self, d: int, ip: bytes, req: str, *, in_leg: bool = False,
               answered: tuple[int, int, bytes] | None = None) -> None:
        """An output emitted without an input: on its own step, or — ``answered`` — on the step of the
        input it answered (one from the peer it was sent to, captured shortly before)."""
        self.counts.unsolicited += 1
        to_client = (d == 0) == in_leg
        leg = "to_client" if to_client else "to_server"
        to_c, to_s = ([ip.hex()], []) if to_client else ([], [ip.hex()])
        if answered is not None:
            step, inp = answered[1], answered[2]
            record = StepRecord(leg_in="server" if to_client == (d == 0) else "client", input=inp.hex(),
                                summary_input=summary(inp), summary_actual=[summary(ip)], actual_to_client=to_c,
                                actual_to_server=to_s)
            self._record([FieldDiff(step, -1, f"{leg}.count", 0, 1, req)], record, None)
            return
        step = self.steps
        self.steps += 1
        self._record([FieldDiff(step, 0, f"{leg}.count", 0, 1, req)], StepRecord(
            leg_in="client" if d == 0 else "server", input="", summary_input="(none captured: the box emitted this "
            "without an input)", summary_actual=[summary(ip)], actual_to_client=to_c, actual_to_server=to_s), None)

    # -- judging --------------------------------------------------------------------------------------
    def _judge(self, e: Pending, outs: list[bytes], icmps: list[bytes], out_truncated: bool, *,
               fast_pass: bool = False, out_off: bool = False, shape: int | None = None) -> None:
        full = e[P_FULL]
        if full is _TRUNCATED or out_truncated:
            self.counts.truncated += 1
            return
        csum_na = out_off or e[P_OFF]
        if full is _MALFORMED:  # an input the codec refused: counted when it came
            return
        ip = e[P_IP]
        if full is None:  # a fast-path input: the model now, in the state it arrived in
            try:
                seg = decode(ip)
            except MalformedSegment:
                self.counts.malformed += 1
                return
            state = replace(self.state, c2s_advance=e[P_ADV0], s2c_advance=e[P_ADV1])
            result = relay(state, seg, e[P_TS] / 1e9)
        else:
            seg, result, state = full.seg, full.result, full.state
            if full.relayed is not None and (outs or icmps):  # relayed: graded against relay-unwalkable
                result = full.relayed
        assert seg is not None and state is not None and result is not None
        c2s = e[P_D] == 0
        obs = Observation(to_client=tuple(icmps if c2s else outs), to_server=tuple(outs if c2s else icmps))
        primary = primary_req(seg.tcp.flags, len(seg.payload))
        shared = self.shared
        model_key = None
        if not fast_pass:
            expected = observation([result])
            if expected.to_client == obs.to_client and expected.to_server == obs.to_server:
                # byte for byte the model's output: no field can differ; count the checks of its shape
                model_key = (*model_shape(seg, ip, result, primary), csum_na)
                known = shared.model_shapes.get(model_key)
                if known is not None and model_key not in shared.unsafe_model and not shared.verify_now():
                    self.counts.judged += 1
                    self.counts.model += 1
                    shared.model += 1
                    self.checked += known[0]
                    self.reqs |= known[1]
                    return
        diffs, record = diff_step(e[P_STEP], state, seg, ip, result, obs, primary)
        if csum_na:  # a checksum completed by us (offloaded at the capture point) says nothing of the box
            diffs = [x for x in diffs if not x.field.endswith(_CSUM_FIELD)]
        self.counts.judged += 1
        shared.full += 1
        bad = any(not x.ok for x in diffs)
        if fast_pass:
            shape = e[P_SHAPE] if shape is None else shape
            if bad:  # the fast path was wrong: never again for this shape
                shared.unsafe.add(shape)
                shared.disagreements += 1
            elif shape not in shared.shapes:
                shared.shapes[shape] = (len(diffs), frozenset(x.req for x in diffs))
        elif model_key is not None:
            if bad:  # equal bytes yet a difference: never shortcut this shape again
                shared.unsafe_model.add(model_key)
                shared.disagreements += 1
            elif model_key not in shared.model_shapes:
                shared.model_shapes[model_key] = (len(diffs), frozenset(x.req for x in diffs))
        if not outs and not icmps and result.emitted:
            self.counts.dropped += 1
        self._record(diffs, record, geometry(state, seg, result, e[P_STEP]))

    # -- the end --------------------------------------------------------------------------------------
    def finish(self, now: int, *, capture_end: bool = False) -> CaseResult:
        """Judge what is left (pending inputs: dropped, or cut by the capture's end) and the result."""
        self._place_orphans(lambda o: self.cutoff is None or o.ts <= self.cutoff)
        for ds in self.dirs:
            for e in list(ds.order):
                if e[P_DONE]:
                    continue
                if capture_end and not any(not o.done and o.ts >= e[P_TS] for o in ds.orphans):
                    self._unfile(ds, e)  # its output may have come after the capture stopped
                    self.counts.cut += 1
                else:
                    self.expire(e)
            for o in list(ds.orphans):
                if self.cutoff is not None and o.ts > self.cutoff:
                    self.cut_orphan(o)
                elif self.expire_orphan(o) is not None:  # its input was cut by the capture's end
                    o.done = True
                    self.counts.cut += 1
        self.finished = True
        self._add_fast()
        return self.result()

