"""Inferring a splice's parameters from the first packets of a connection captured on both legs.

Theory of operation
-------------------
The reference model needs, per leg, the constants of :class:`~splicecheck.reference.relay.Leg`. A
trace shows only packets, so they are inferred from the first packets of each paired connection (the
*learning window*, kept until both directions showed relayed data or the window is full), under
rules that follow the paper's definitions (§3.2: ``splice_irs`` is the first byte from the peer that
the splice relays, ``splice_iss`` the first byte the out peer receives through it; §3.4.1:
``lastrecv_TS``/``lastsent_TS`` are the last timestamps received/sent before the splice). Every
value carries a note saying where it came from; ``--params`` overrides any of them.

1. **Handshakes.** On the client leg the client's SYN and the proxy's SYN-ACK, on the server leg the
   proxy's SYN and the server's SYN-ACK, give the four ISNs and the options each side offered. What
   is in effect follows RFC 7323 §2.2/§3.2 and RFC 2018 §2 (:func:`~splicecheck.reference.handshake.negotiate`):
   timestamps, SACK and window scaling only if both SYNs carried them; the MSS a peer announced
   (536 without the option). A handshake packet is never judged as a relayed segment: the handshakes
   are the proxy's own. What the proxy announced in them is checked against WS-ZERO, WS-PROPAGATE,
   MSS-536 and the HS-* requirements, the echo in its ACK completing the server-side handshake
   included (:func:`handshake_checks`).
2. **Relayed data.** A data segment the proxy sends on the out leg whose payload is the payload (or
   the tail of the payload) of a data segment the peer sent on the in leg is a relayed copy; its
   sequence offset ``δ = seq_out − seq_in`` is the same for every copy, so the offset most copies
   agree on is taken and coincidences are outvoted.
3. **Pre-splice bytes.** A proxy that sends data of its own (a SOCKS reply, an OK message, a request
   it rewrote) exchanged bytes before the splice: then ``splice_irs`` is the acknowledgment number of
   the proxy's last segment to the peer up to its last own bytes (its TCP acknowledged exactly what
   its application consumed: ``rcv_nxt``, figure 7) — else the first relayed byte, else the end of
   what the peer sent — and ``splice_iss`` the end of the proxy's own bytes on the out leg. A proxy
   that sends no data of its own (SYNPROXY, an L4
   splicer) made the splice at the handshakes: ``splice_irs = peer ISN + 1``, ``splice_iss = proxy
   ISN + 1`` — whatever the box's first relayed copy says, so that a constant error in the box's
   mapping shows as an error instead of being learnt as a parameter.
4. **The splice point.** Without a pre-splice exchange, every peer segment after both handshakes is
   judged. With one, every peer segment after the proxy's last bytes of its own (the OK message:
   the splice is made when it is written, figure 3), and any earlier one whose payload the box
   relayed (data the client pipelined, held for the splice); what came before is the exchange.
5. **Timestamps.** ``lastrecv_ts``: the TSval of the last segment the peer sent before the splice
   point; ``lastsent_ts``: of the last segment the proxy sent the peer before it. On Linux SYNPROXY
   these are the client's handshake ACK, the proxy's window update, the server's SYN-ACK and the
   proxy's ACK to the server (``tests/test_trace_infer.py`` checks them against the kernel report's
   own derivation, :func:`splicecheck.kernel_report.synproxy_state`).

Without a handshake (a capture started mid-connection) the values come from the box's first relayed
copy in each direction (sequence and timestamp offsets), the MSS is unknown (no MSS-ICMP check) and
window scaling is assumed absent; the notes say so, since a constant error of the box cannot be seen
then. A direction with neither a handshake nor a relayed copy cannot be judged.
"""

from __future__ import annotations

import contextlib
import struct
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from ...reference.codec import pull_options
from ...reference.errors import MalformedSegment
from ...reference.handshake import MIN_MSS, SynOptions, negotiate
from ...reference.relay import Endpoint, Leg, SpliceState, StripStyle, leg_in_range
from ...reference.segment import (
    ACK,
    FIN,
    RST,
    SYN,
    MaxSegmentSize,
    NoOperation,
    Sack,
    SackPermitted,
    Timestamps,
    WindowScale,
)
from ...reference.seqspace import HALF, seq_add, seq_sub
from ..handshake import Seen, seen_diffs
from ..model import Addresses, offer_in
from ..results import FieldDiff
from .params import LEG_FIELDS, ConnParams, endpoint_text

_TCP = struct.Struct("!HHIIHHHH")
_TS_VALUES = struct.Struct("!II")
_NOP_NOP_TS = bytes((1, 1, 8, 10))  # NOP, NOP, kind 8 length 10 (RFC 7323 Appendix A)
CLIENT_LEG, SERVER_LEG = 0, 1


@dataclass(slots=True)
class Pkt:
    """One packet of the learning window, parsed once (its TCP options when first asked for: most packets'
    are never read)."""

    idx: int
    ts: int
    leg: int  # CLIENT_LEG or SERVER_LEG (which capture)
    from_peer: bool  # sent by the end host (an input) or by the proxy (an output)
    ip: bytes
    ihl: int
    truncated: bool
    seq: int = 0
    ack: int = 0
    flags: int = 0
    window: int = 0
    plen: int = 0
    payload: bytes = b""
    doff: int = 20  # the TCP header's length
    parsed: tuple[Any, ...] | None = None  # the options, once parsed
    offer: SynOptions | None = None  # what they offer, once asked

    @property
    def options(self) -> tuple[Any, ...]:
        if self.parsed is None:
            ip, ihl, doff = self.ip, self.ihl, self.doff
            self.parsed = ()
            if doff > 20 and len(ip) >= ihl + doff:
                with contextlib.suppress(MalformedSegment):  # options the codec refuses: none
                    self.parsed = pull_options(ip[ihl + 20:ihl + doff])
        return self.parsed

    @property
    def tsval(self) -> int | None:
        ts = self._timestamps()
        return ts[0] if ts is not None else None

    @property
    def tsecr(self) -> int | None:
        ts = self._timestamps()
        return ts[1] if ts is not None else None

    def _timestamps(self) -> tuple[int, int] | None:
        """(TSval, TSecr) of the first Timestamps option. An option area of exactly NOP, NOP, Timestamps
        (nearly every non-SYN segment's) is read in place: pull_options would give those three options."""
        ip, ihl = self.ip, self.ihl
        if self.parsed is None and self.doff == 32 and len(ip) >= ihl + 32 and ip[ihl + 20:ihl + 24] == _NOP_NOP_TS:
            pair: tuple[int, int] = _TS_VALUES.unpack_from(ip, ihl + 24)
            return pair
        if self.parsed is None and self.doff == 40:
            syn = self._linux_syn()
            if syn is not None:
                return (syn[2], syn[3])
        for o in self.options:
            if type(o) is Timestamps:
                return (int(o.tsval), int(o.tsecr))
        return None

    def _linux_syn(self) -> tuple[int, int, int, int] | None:
        """(MSS, shift, TSval, TSecr) when the option area is Linux's SYN area with every option on, byte for
        byte (what the codec reads as MSS, SACK-permitted, Timestamps, NOP, window scale: ``pull_options``'
        fast path, whose values it takes as they are), else None. Read in place: a SYN's options are
        needed for its offer and its timestamps only."""
        ip, ihl = self.ip, self.ihl
        if self.doff != 40 or len(ip) < ihl + 40:
            return None
        mss_head, mss, middle, tsval, tsecr, tail, shift = _SYN_AREA.unpack_from(ip, ihl + 20)
        if mss_head != _SYN_MSS_HEAD or middle != _SYN_MIDDLE or tail != _SYN_TAIL:
            return None
        return mss, shift, tsval, tsecr

    @property
    def syn_options(self) -> SynOptions:
        if self.offer is None:
            # Linux's area (read in place, or parsed already): one option of each kind, so what offer_in
            # would say, without its scans
            syn = self._linux_syn() if self.parsed is None else None
            key: tuple[int, int] | None = (syn[0], syn[1]) if syn is not None else None
            o = self.options if syn is None else ()
            if key is None and tuple(map(type, o)) == _LINUX_SYN:
                key = (o[0].value, o[4].shift)
            if key is not None:
                offer = _OFFERS.get(key)
                if offer is None:
                    offer = SynOptions(mss=key[0], wscale=key[1], sack_permitted=True, timestamps=True)
                    if len(_OFFERS) < 4096:
                        _OFFERS[key] = offer
                self.offer = offer
            else:
                self.offer = offer_in(o)
        return self.offer


#: Linux's SYN options with every option on (the codec's fast path), and the offers seen in them by
#: (MSS, shift): a frozen value shared by every SYN that offers the same
_LINUX_SYN = (MaxSegmentSize, SackPermitted, Timestamps, NoOperation, WindowScale)
_OFFERS: dict[tuple[int, int], SynOptions] = {}
#: that area's bytes: kind 2 length 4 MSS; SACK-permitted (4, 2) and Timestamps (8, 10) TSval TSecr; NOP and
#: window scale (3, 3) shift
_SYN_AREA = struct.Struct("!2sH4sII3sB")
_SYN_MSS_HEAD, _SYN_MIDDLE, _SYN_TAIL = bytes((2, 4)), bytes((4, 2, 8, 10)), bytes((1, 3, 3))


def parse_pkt(idx: int, ts: int, leg: int, from_peer: bool, ip: bytes, ihl: int, truncated: bool) -> Pkt:
    _sp, _dp, seq, ack, offfl, window, _c, _u = _TCP.unpack_from(ip, ihl)
    doff = (offfl >> 12) << 2
    total = ((ip[2] << 8) | ip[3]) if ip[0] >> 4 == 4 else ((ip[4] << 8) | ip[5]) + 40
    return Pkt(idx, ts, leg, from_peer, ip, ihl, truncated, seq, ack, offfl & 0x1FF, window,
               max(0, total - ihl - doff), ip[ihl + doff:total] if not truncated else b"", doff)


@dataclass(slots=True)
class Handshake:
    """What one leg's handshake showed (``None``: not captured)."""

    peer_isn: int | None = None
    local_isn: int | None = None
    peer_syn: Pkt | None = None  # the peer's SYN (client leg) or SYN-ACK (server leg)
    local_syn: Pkt | None = None  # the proxy's SYN-ACK (client leg) or SYN (server leg)
    done_idx: int = -1  # index of the packet completing it (the ACK of the SYN-ACK), or of the SYN-ACK
    opener_ack: Pkt | None = None  # that ACK, when captured (server leg: the proxy's own, HS-SERVER-ACK-TSECR)
    indices: set[int] = field(default_factory=set)  # packets that belong to it (never judged)

    @property
    def complete(self) -> bool:
        return self.peer_isn is not None and self.local_isn is not None


def handshake(pkts: list[Pkt], leg: int) -> Handshake:
    """The handshake of ``leg``: the client (peer) opens the client leg, the proxy (local) the server leg."""
    h = Handshake()
    opener_is_peer = leg == CLIENT_LEG
    syns = [p for p in pkts if p.leg == leg and p.flags & SYN]
    syn = synack = None
    for p in syns:  # the first SYN and the first SYN-ACK
        if p.flags & ACK:
            if synack is None:
                synack = p
        elif syn is None:
            syn = p
    for p in syns:  # the handshake's SYN and SYN-ACK and their retransmissions; any other SYN is judged
        for x in (syn, synack):
            if x is not None and p.seq == x.seq and p.flags == x.flags and p.plen == x.plen \
                    and p.from_peer == x.from_peer:
                h.indices.add(p.idx)
                break
    if syn is not None:
        if opener_is_peer:
            h.peer_isn, h.peer_syn = syn.seq, syn
        else:
            h.local_isn, h.local_syn = syn.seq, syn
    if synack is not None:
        if opener_is_peer:
            h.local_isn, h.local_syn = synack.seq, synack
            if h.peer_isn is None:
                h.peer_isn = seq_add(synack.ack, -1)
        else:
            h.peer_isn, h.peer_syn = synack.seq, synack
            if h.local_isn is None:
                h.local_isn = seq_add(synack.ack, -1)
        h.done_idx = synack.idx
        want = seq_add(synack.seq, 1)
        for p in pkts:  # the opener's ACK of the SYN-ACK completes it
            if (p.leg == leg and p.idx > synack.idx and p.from_peer == opener_is_peer and p.flags & ACK
                    and not p.flags & (SYN | RST) and p.ack == want):
                h.done_idx, h.opener_ack = p.idx, p
                if not p.plen:
                    h.indices.add(p.idx)
                break
    return h


@dataclass(slots=True)
class Inference:
    """The parameters of one splice and how the learning window divides."""

    state: SpliceState
    start: int  # index of the first judged input (earlier inputs are the pre-splice exchange)
    handshake: set[int]  # indices of handshake packets: never judged
    notes: list[str]
    judged: tuple[bool, bool] = (True, True)  # per direction (C2S, S2C): whether its parameters are known
    presplice: bool = False  # the proxy sent bytes of its own
    checks: list[FieldDiff] = field(default_factory=list)  # of the proxy's own handshake packets
    #: the MSS the proxy announced on the client and the server leg (None: its SYN-ACK/SYN not captured;
    #: 536 when it carried no MSS option, RFC 9293 §3.7.1): the largest segment each end host may send it
    announced_mss: tuple[int | None, int | None] = (None, None)


def _seen(p: Pkt | None, syn: bool = True) -> Seen | None:
    """A handshake packet as :func:`~splicecheck.conformance.handshake.seen_diffs` reads it, from what the packet
    decoded once (its offer, its timestamps: the first option of each kind, as ``handshake_diffs`` reads
    them). Of an ACK (``syn`` False) the checks read only the timestamps: its offer is left empty."""
    if p is None:
        return None
    return Seen(p.syn_options if syn else _NO_OFFER, p._timestamps())


_NO_OFFER = SynOptions()


def handshake_checks(hs: list[Handshake]) -> list[FieldDiff]:
    """The requirements on the proxy's own handshake packets (§3.4), as the conformance cases check them
    (same fields, step and packet -1):

    * WS-ZERO: a client that offered window scaling is told scale 0;
    * WS-PROPAGATE: the proxy's SYN to the server proposes the client's scale (capped at 14);
    * MSS-536: a client whose SYN lacks DF (no path MTU discovery) is told MSS 536;
    * HS-CLIENT-ADVERT, HS-SYNACK-TSECR, HS-SYN-OPTIONS, HS-SERVER-ACK-TSECR: the checks of
      :func:`splicecheck.conformance.handshake.handshake_diffs` (the checks the live cases run; here
      ``seen_diffs``, on the options already decoded) on the client's SYN, the proxy's SYN-ACK, the proxy's
      SYN, the server's SYN-ACK and the proxy's ACK completing the server-side handshake, whichever of them
      were captured."""
    out: list[FieldDiff] = []
    c, d = hs[CLIENT_LEG], hs[SERVER_LEG]
    ack = d.opener_ack
    out += seen_diffs(_seen(c.peer_syn), _seen(c.local_syn), _seen(d.local_syn), _seen(d.peer_syn), _seen(ack, False))
    if c.peer_syn is None or c.local_syn is None:
        return out
    client = c.peer_syn.syn_options
    synack = c.local_syn.syn_options
    if client.wscale is not None:
        out.append(FieldDiff(-1, -1, "state.client.local_wscale (proxy's SYN-ACK)", 0, synack.wscale, "WS-ZERO"))
        if d.local_syn is not None:
            out.append(FieldDiff(-1, -1, "state.server.local_wscale (proxy's SYN)", min(client.wscale, 14),
                                 d.local_syn.syn_options.wscale, "WS-PROPAGATE"))
    ip = c.peer_syn.ip
    if ip[0] >> 4 == 4 and not ip[6] & 0x40:
        out.append(FieldDiff(-1, -1, "proxy's SYN-ACK MSS (client SYN without DF)", 536, synack.mss, "MSS-536"))
    return out


def _data(pkts: list[Pkt], leg: int, from_peer: bool, after: int) -> list[Pkt]:
    return [p for p in pkts if p.leg == leg and p.from_peer == from_peer and p.plen and not p.truncated
            and not p.flags & SYN and p.idx > after]


Copy = tuple[Pkt, int, Pkt, int]  # (input, cut, output, δ): see _copies


def _copies(ins: list[Pkt], outs: list[Pkt], skew: int) -> list[Copy]:
    """Every (input, cut, output, δ) where the output's payload is the input's payload from ``cut`` on (a
    copy, trimmed or not), or where one payload begins with the other (``cut`` 0): the box cut a sender's
    super-segment (TSO at the sending host's capture) into segments, whose first is the input's first part
    whether or not the learning window holds its last; or the receiving host's capture shows relayed segments
    merged (GRO), the first of which begins the output. The output captured after the input, or at most
    ``skew`` ns before it (the captures' clocks)."""
    found = []
    for o in outs:
        for i in ins:
            if i.ts > o.ts + skew:
                break
            cut = len(i.payload) - len(o.payload)
            if cut >= 0 and i.payload.endswith(o.payload):
                found.append((i, cut, o, seq_sub(o.seq, seq_add(i.seq, cut))))
            elif (cut > 0 and i.payload.startswith(o.payload)) or (cut < 0 and o.payload.startswith(i.payload)):
                found.append((i, 0, o, seq_sub(o.seq, i.seq)))
    return found


def _covering(o: Pkt, ins: list[Pkt], delta: int) -> list[Pkt]:
    """The inputs whose bytes make up output ``o``'s payload at offset ``delta`` (every byte of it, each
    overlap equal), when the two captures cut the stream at other places (TSO at a sending host's
    capture, GRO at a receiving one); [] when some byte is not covered or differs."""
    start = seq_sub(o.seq, delta)
    n = len(o.payload)
    covered = 0
    under = []
    for i in ins:
        off = seq_sub(i.seq, start)  # where the input starts within the output
        if off >= HALF:
            off -= 1 << 32
        lo, hi = max(0, off), min(n, off + len(i.payload))
        if lo >= hi:
            continue
        if o.payload[lo:hi] != i.payload[lo - off:hi - off]:
            return []
        under.append(i)
        covered = max(covered, hi) if lo <= covered else covered
    return under if covered >= n else []


def _end(p: Pkt) -> int:
    end: int = seq_add(p.seq, p.plen + (1 if p.flags & FIN else 0))
    return end


def _furthest(base: int, pkts: list[Pkt]) -> int:
    """The furthest sequence number ``pkts`` reach, measured from ``base`` (serial order)."""
    best = base
    for p in pkts:
        end = _end(p)
        if seq_sub(end, base) < HALF and seq_sub(end, base) > seq_sub(best, base):
            best = end
    return best


@dataclass(slots=True)
class _Relayed:
    """Per direction (in leg = d, out leg = 1 - d): the box's relayed copies and the proxy's own data."""

    deltas: list[int | None] = field(default_factory=lambda: [None, None])  # the copies' common seq offset
    first_copy: list[Copy | None] = field(default_factory=lambda: [None, None])
    own: list[list[Pkt]] = field(default_factory=lambda: [[], []])  # the proxy's own data on the out leg
    consumed: list[list[Pkt]] = field(default_factory=lambda: [[], []])  # the peer's data not relayed

    @property
    def last_own(self) -> int:
        return max((o.idx for d in (0, 1) for o in self.own[d]), default=-1)


def _relayed(pkts: list[Pkt], hs: list[Handshake], skew: int) -> _Relayed:
    r = _Relayed()
    legs = (CLIENT_LEG, SERVER_LEG)
    for d in (0, 1):
        leg_in, leg_out = legs[d], legs[1 - d]
        ins = _data(pkts, leg_in, True, hs[leg_in].done_idx)
        outs = _data(pkts, leg_out, False, -1)
        copies = _copies(ins, outs, skew)
        if not copies:
            r.own[d], r.consumed[d] = outs, ins
            continue
        delta = copies[0][3]
        if any(c[3] != delta for c in copies):  # (else every copy agrees: the commonest is the first's)
            delta, _n = Counter(c[3] for c in copies).most_common(1)[0]
        agreeing = [c for c in copies if c[3] == delta]
        r.deltas[d] = delta
        ref = seq_add(agreeing[0][0].seq, -(1 << 30))  # earliest byte in stream order, within 2^30
        r.first_copy[d] = min(agreeing, key=lambda c: seq_sub(seq_add(c[0].seq, c[1]), ref))
        relayed_out = {c[2].idx for c in agreeing}
        relayed_in = {c[0].idx for c in agreeing}
        for o in outs:  # cut otherwise by segmentation offload (TSO/GRO): same bytes, other boundaries
            if o.idx not in relayed_out:
                under = _covering(o, ins, delta)
                if under:
                    relayed_out.add(o.idx)
                    relayed_in.update(i.idx for i in under)
        r.own[d] = [o for o in outs if o.idx not in relayed_out]
        r.consumed[d] = [i for i in ins if i.idx not in relayed_in]
    return r


def _bases(pkts: list[Pkt], hs: list[Handshake], r: _Relayed, presplice: bool,
           notes: list[str]) -> tuple[list[int], list[int], list[bool]]:
    """Per direction: the in leg's splice_irs, the out leg's splice_iss, and whether it can be judged."""
    irs, iss, judged = [0, 0], [0, 0], [True, True]
    legs = (CLIENT_LEG, SERVER_LEG)
    for d in (0, 1):
        leg_in, leg_out = legs[d], legs[1 - d]
        name = "client→server" if d == 0 else "server→client"
        peer_isn, local_isn = hs[leg_in].peer_isn, hs[leg_out].local_isn
        fc = r.first_copy[d]
        if peer_isn is not None and local_isn is not None:
            if not presplice:
                irs[d], iss[d] = seq_add(peer_isn, 1), seq_add(local_isn, 1)
                notes.append(f"{name}: bases from the handshakes (ISN + 1 on both legs)")
                if r.deltas[d] is not None and r.deltas[d] != seq_sub(iss[d], irs[d]):
                    notes.append(f"{name}: the box's relayed copies are offset by {r.deltas[d]}, the handshakes "
                                 f"say {seq_sub(iss[d], irs[d])}")
                continue
            acks = [p for p in pkts if p.leg == leg_in and not p.from_peer and p.flags & ACK
                    and not p.flags & SYN and p.idx <= r.last_own]
            if acks:  # its TCP acknowledged exactly the bytes its application consumed
                irs[d] = acks[-1].ack
                note = "the proxy's last acknowledgment to the peer before its last own bytes"
            elif fc is not None:
                irs[d] = seq_add(fc[0].seq, fc[1])
                note = "first relayed byte"
            else:
                irs[d] = _furthest(seq_add(peer_isn, 1), r.consumed[d])
                note = "end of the peer's pre-splice bytes"
            iss[d] = _furthest(seq_add(local_isn, 1), r.own[d])
            notes.append(f"{name}: splice_irs = {note}, splice_iss = end of the proxy's own bytes")
        elif fc is not None:
            irs[d], iss[d] = seq_add(fc[0].seq, fc[1]), fc[2].seq
            notes.append(f"{name}: no complete handshake captured: bases from the box's first relayed copy "
                         "(a constant offset error of the box cannot be seen)")
        else:
            judged[d] = False
            notes.append(f"{name}: no handshake and no relayed data: not judged")
    return irs, iss, judged


def _splice_point(pkts: list[Pkt], hs: list[Handshake], r: _Relayed, presplice: bool) -> int:
    """Index of the first judged packet. Without a pre-splice exchange: the first peer segment after both
    handshakes. With one: the first peer segment after the proxy's last bytes of its own (the OK message:
    the lifecycle makes the splice when it is written), or an earlier one whose payload the box relayed
    (data the client pipelined, held and relayed at the splice). Headers alone prove nothing here: a
    pre-splice pure ACK and a relayed one can carry the very same numbers."""
    hs_done = max(hs[0].done_idx, hs[1].done_idx)
    in_handshake = hs[0].indices | hs[1].indices
    copied_in = [c[0].idx for c in r.first_copy if c is not None]
    after = max(hs_done, r.last_own) if presplice else hs_done
    start = next((p.idx for p in pkts if p.from_peer and p.idx > after and p.idx not in in_handshake), len(pkts))
    if presplice and copied_in:
        start = min(start, *copied_in)
    return start


def _last_timestamps(pkts: list[Pkt], start: int) -> dict[tuple[int, bool], tuple[int, int]]:
    """(leg, from the peer?) → the last (TSval, TSecr) before the splice point."""
    last: dict[tuple[int, bool], tuple[int, int]] = {}
    # a learning window's packets are numbered by their place in it (parse_pkt's idx): those before the
    # splice point are pkts[:start]
    for i in range(min(start, len(pkts)) - 1, -1, -1):  # from the splice point back: the first found of
        p = pkts[i]  # each sender is its last
        key = (p.leg, p.from_peer)
        if key in last:
            continue
        ts = p._timestamps()  # (TSval, TSecr) of one option: read once
        if ts is not None:
            last[key] = ts
            if len(last) == 4:
                break
    return last


def _leg(lg: int, peer: Endpoint, local: Endpoint, pkts: list[Pkt], h: Handshake, bases: tuple[int, int],
         last: dict[tuple[int, bool], tuple[int, int]], notes: list[str]) -> Leg:
    """Leg ``lg`` of the splice: ``bases`` (its splice_irs, splice_iss), the options in effect (by its
    handshake, else guessed from its segments), the last timestamps before the splice point."""
    if h.peer_syn is not None and h.local_syn is not None:
        n = negotiate(h.peer_syn.syn_options, h.local_syn.syn_options)
        timestamps, sack, peer_ws, local_ws, mss = n.timestamps, n.sack, n.peer_wscale, n.local_wscale, n.peer_mss
    else:
        side = [p for p in pkts if p.leg == lg]
        timestamps = all(any(p.tsval is not None for p in side if p.from_peer == fp) for fp in (True, False))
        sack = any(type(o) is Sack for p in side for o in p.options)
        peer_ws, local_ws, mss = None, None, 0xFFFF
        notes.append(f"{'client' if lg == CLIENT_LEG else 'server'} leg: no handshake: window scaling assumed "
                     "off, MSS unknown (MSS-ICMP not checked)")
    recv, sent = last.get((lg, True)), last.get((lg, False))
    # (Leg's defaults, 0, without a complete handshake and without timestamps before the splice point)
    lastrecv = recv[0] if recv else 0
    lastsent = sent[0] if sent else 0
    # every value is in Leg's ranges by construction (32-bit words from headers and seq_add, shifts capped by
    # negotiate, one packet's two ends): built without its range checks, the MSS (an option may say 0) checked
    return leg_in_range(peer, local, bases[0], bases[1], timestamps, lastrecv, lastsent, sack, peer_ws, local_ws, mss)


def infer(pkts: list[Pkt], ends: Addresses, given: ConnParams | None = None, skew: int = 0) -> Inference:
    """The splice's parameters from its learning window ``pkts`` (in capture order, numbered by their place:
    ``pkts[i].idx == i``, as :func:`parse_pkt` is called), ``given`` over them; ``skew``: how many ns the two
    captures' clocks may disagree."""
    given = given or ConnParams()
    notes: list[str] = []
    hs = [handshake(pkts, CLIENT_LEG), handshake(pkts, SERVER_LEG)]
    r = _relayed(pkts, hs, skew)
    presplice = bool(r.own[0] or r.own[1])
    if presplice:
        notes.append(f"the proxy sent data of its own ({sum(o.plen for o in r.own[0] + r.own[1])} bytes): "
                     "pre-splice exchange; bases after it")
    irs, iss, judged = _bases(pkts, hs, r, presplice, notes)
    start = _splice_point(pkts, hs, r, presplice)
    last = _last_timestamps(pkts, start)
    # leg C: direction 0's in leg (its splice_irs) and direction 1's out leg (its splice_iss); leg D the reverse
    client = _leg(CLIENT_LEG, ends.client, ends.proxy_c, pkts, hs[CLIENT_LEG], (irs[0], iss[1]), last, notes)
    server = _leg(SERVER_LEG, ends.server, ends.proxy_d, pkts, hs[SERVER_LEG], (irs[1], iss[0]), last, notes)
    client, server = _ts_without_handshake(client, server, hs, r.first_copy, notes)
    state = apply_given(SpliceState(client, server, StripStyle.NOP), given, notes)
    return Inference(state, start, hs[0].indices | hs[1].indices, notes, (judged[0], judged[1]), presplice,
                     handshake_checks(hs), (_announced(hs[CLIENT_LEG]), _announced(hs[SERVER_LEG])))


def _announced(h: Handshake) -> int | None:
    if h.local_syn is None:
        return None
    mss = h.local_syn.syn_options.mss
    return 536 if mss is None else mss


def _ts_without_handshake(client: Leg, server: Leg, hs: list[Handshake],
                          first_copy: list[Copy | None], notes: list[str]) -> tuple[Leg, Leg]:
    """Timestamps of a leg X whose handshake was not captured, from the box's first relayed copies.

    Only offsets matter (§3.4.1): X→Y TSvals move by ``Y.lastsent − X.lastrecv`` and Y→X TSvals by
    ``X.lastsent − Y.lastrecv``; with Y's values fixed (its handshake's, or whatever they are), the two
    offsets the copies show give X's two values."""
    legs = [client, server]
    for x in (CLIENT_LEG, SERVER_LEG):
        lx, ly = legs[x], legs[1 - x]
        if hs[x].complete or not (lx.timestamps and ly.timestamps):
            continue
        there, back = first_copy[x], first_copy[1 - x]  # X→Y and Y→X copies: (in, cut, out, δ)
        lr, ls = lx.lastrecv_ts, lx.lastsent_ts
        if there is not None and there[0].tsval is not None and there[2].tsval is not None:
            lr = seq_sub(ly.lastsent_ts, seq_sub(there[2].tsval, there[0].tsval))
        if back is not None and back[0].tsval is not None and back[2].tsval is not None:
            ls = seq_add(ly.lastrecv_ts, seq_sub(back[2].tsval, back[0].tsval))
        elif there is not None and there[0].tsecr is not None and there[2].tsecr is not None:
            ls = seq_sub(ly.lastrecv_ts, seq_sub(there[2].tsecr, there[0].tsecr))
        if (lr, ls) != (lx.lastrecv_ts, lx.lastsent_ts):
            legs[x] = replace(lx, lastrecv_ts=lr, lastsent_ts=ls)
            notes.append(f"{'client' if x == CLIENT_LEG else 'server'} leg: timestamp offsets from the box's first "
                         "relayed copies (no handshake)")
    return legs[0], legs[1]


def apply_given(state: SpliceState, given: ConnParams, notes: list[str]) -> SpliceState:
    """``state`` with the values a params file gives (a params file always wins)."""
    legs = []
    for name, lg, gp in (("client_leg", state.client, given.client_leg), ("server_leg", state.server,
                                                                           given.server_leg)):
        vals = {k: v for k, v in gp.values.items() if k in LEG_FIELDS}
        if vals:
            notes.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in sorted(vals.items())) + " from --params")
            lg = replace(lg, **vals)
        legs.append(lg)
    style = given.strip_style or state.strip_style
    return SpliceState(legs[0], legs[1], style)


def describe(state: SpliceState) -> str:
    """The parameters in one line, for the case's ``expectation``."""
    def leg(name: str, lg: Leg) -> str:
        ts = f"ts {lg.lastrecv_ts}/{lg.lastsent_ts}" if lg.timestamps else "no ts"
        ws = f"ws {lg.peer_wscale}/{lg.local_wscale}" if lg.scaling else "no ws"
        return (f"{name} {endpoint_text(lg.peer)}⇄{endpoint_text(lg.local)}: irs {lg.splice_irs} iss {lg.splice_iss}, "
                f"{ts}, {'sack' if lg.sack else 'no sack'}, {ws}, mss {lg.peer_mss}")
    return f"{leg('C', state.client)}; {leg('D', state.server)}; strip {state.strip_style.value}"


__all__ = [
    "CLIENT_LEG",
    "MIN_MSS",
    "SERVER_LEG",
    "Handshake",
    "Inference",
    "Pkt",
    "apply_given",
    "describe",
    "handshake",
    "infer",
    "parse_pkt",
]
