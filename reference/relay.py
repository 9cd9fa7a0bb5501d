"""The relay: what a correct splice emits for one segment (paper §3.3–§3.4).

``relay(state, segment, now)`` is pure. ``state`` holds the two legs' splice constants, fixed when the
splice is made (see :mod:`splicecheck.reference.lifecycle` for how they are chosen), and, per direction,
how far the stream has advanced past its base. The result carries the successor state
(``RelayResult.state``), which the caller passes to the next call; it is the very same object when
nothing changed. The per-field arithmetic lives in :mod:`splicecheck.reference.mapping`; this module
only composes it, decides what happens to options, and keeps the checksums right.

Order of work for a segment arriving on leg ``in`` and leaving on leg ``out``:

1. direction: the segment must come from ``in``'s peer to ``in``'s local socket (DIR-ONLY);
2. hop limit: TTL/hop limit ≤ 1 → dropped, else decremented by one (TTL-DEC, TTL-EXPIRE);
3. trim: sequence numbers preceding ``in.splice_irs`` in the stream chopped off the front (TRIM-*,
   judged against how far the direction has advanced, see ``mapping``), the urgent pointer carried
   along (URG-*); a segment with nothing left becomes a pure ACK at the base or is dropped;
4. map seq, ack (only with ACK set), window, TCP options; rewrite addresses and ports; drop IPv4
   options (SEQ-MAP, ACK-MAP, ACK-NOACK, WS-*, TS-*, SACK-*, ADDR-*, IPOPT-STRIP);
5. MSS: a segment with DF set whose data plus outgoing TCP options (RFC 6691 §2) exceed the out peer's
   MSS is answered with an ICMP error and not relayed (MSS-ICMP) — over IPv6 only when the MTU it
   would report is at least 1280 (RFC 8201 §4), otherwise it is relayed;
6. checksums by RFC 1624 eqn. 3 over the words that changed, which keeps a corrupt input corrupt
   (TCPCSUM-VALID, IPCSUM-VALID, CSUM-FAILSAFE);
7. advance: a relayed segment ending ahead of the furthest point so far moves it (TRIM-2GIB).

Speed: the arithmetic runs as ``mapping.concrete`` compiled it for ints (the proved functions' own source,
the generic helpers' calls replaced by their int branches; ``tests/test_concrete.py``). The relay reads
the received headers' words from the bytes the segment was decoded from
(``encode(seg)`` returns them), sums the output's TCP header from its fields (a 32-bit field is
congruent to the sum of its two words modulo 0xFFFF), packs the output's headers once, for the wire
form it attaches to the output, and builds its outputs with the unchecked constructors of
:mod:`~splicecheck.reference.segment` — every field is a masked word or a part of the already-valid
input. The two option layouts of nearly every data segment take a fast path (``_map_options``) that
calls the same mapping helpers as the general loop, reading and writing the option area as bytes: a
decoded header keeps them (``codec.lazy_layout``), and the output's header is given its bytes, its option
values parsed from them when first read (``segment.UNPARSED``). ``benchmarks/relay_throughput.py``
measures the result; ``tests/test_relay.py`` holds the fast paths to the general ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

from .arith import MASK32
from .checksum import rfc1624_update
from .codec import (
    _IPV4_TCP,
    _IPV6_TCP,
    ALIGNED_AREAS,
    PROTO_TCP,
    encode,
    push_option,
    push_options,
    push_sack_edges,
    push_timestamps,
)
from .icmp import PacketTooBig
from .mapping import ADVANCE_LIMIT
from .mapping import concrete as _on_ints
from .segment import (
    ACK,
    FIN,
    NOP,
    PSH,
    RST,
    SYN,
    UNPARSED,
    URG,
    EndOfOptionList,
    IPv4Header,
    IPv6Header,
    NoOperation,
    Sack,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    WindowScale,
    pad_options,
    unchecked,
    unchecked_ipv4,
    unchecked_ipv6,
    unchecked_sack,
    unchecked_segment,
    unchecked_tcp,
    unchecked_timestamps,
)

#: The per-field arithmetic, as :mod:`~splicecheck.reference.mapping` compiled it for ints (``mapping.concrete``:
#: the proved source, its generic helpers' calls replaced by their int branches). Looked up here at call
#: time, so the mutant zoo can replace any of them.
map_seq = _on_ints.map_seq
map_ack = _on_ints.map_ack
trim_count = _on_ints.trim_count
trimmed_seq = _on_ints.trimmed_seq
split_trim = _on_ints.split_trim
map_urgent = _on_ints.map_urgent
map_tsval = _on_ints.map_tsval
map_tsecr = _on_ints.map_tsecr
map_sack_block = _on_ints.map_sack_block
relay_window = _on_ints.relay_window
advance_to = _on_ints.advance_to

IPV6_MIN_MTU = 1280  # RFC 8200 §5; RFC 8201 §4: a Packet Too Big below it does not lower the path MTU

#: the sequence numbers SYN and FIN occupy (RFC 9293 §3.4), indexed by ``flags & (SYN | FIN)``
_CTL_LEN = (0, 1, 1, 2)
_M = 0xFFFF  # arithmetic modulo 2^16 - 1 is one's complement arithmetic (RFC 1071 §2)
_NOP_BYTE = b"\x01"


#: ``_words(data)``: a number congruent modulo 0xFFFF to the one's complement sum of the 16-bit words of
#: ``data`` (even length). ``2^16 ≡ 1``, so the big-endian integer of the bytes is itself such a number
#: (RFC 1071 §2); the checksums add these unreduced and reduce once, in ``checksum.rfc1624_update``.
_words = int.from_bytes  # byteorder "big" is the default (Python ≥ 3.11)


class Direction(StrEnum):
    C2S = "c2s"  # client → proxy (leg C) → server (leg D)
    S2C = "s2c"  # server → proxy (leg D) → client (leg C)


class StripStyle(StrEnum):
    """How an option is stripped (paper §3.4.1, footnote 2)."""

    NOP = "nop"  # overwrite its bytes with NOPs: header length unchanged
    REMOVE = "remove"  # delete it (and the NOPs that aligned it) and re-pad with EOL


class Note(Enum):
    """Why the relay dropped or changed something, beyond the plain rewrite."""

    NOT_THIS_SPLICE = "segment is on neither leg of the splice"
    TTL_EXPIRED = "TTL/hop limit would reach 0"
    TRIMMED = "sequence numbers below splice_irs trimmed"
    BELOW_BASE_PURE_ACK = "nothing left above splice_irs: relayed as a pure ACK"
    BELOW_BASE_DROPPED = "nothing left above splice_irs and no ACK to carry (or RST): dropped"
    URG_CLEARED = "urgent octet was trimmed: URG cleared"
    MSS_EXCEEDED = "payload exceeds the out peer's MSS with DF set: ICMP sent, segment dropped"
    TS_MAPPED = "timestamps mapped"
    TS_STRIPPED = "timestamps stripped (not in use on both legs)"
    SACK_CLIPPED = "SACK blocks clipped or dropped below the base"
    SACK_STRIPPED = "SACK stripped (not in use on both legs, or no block left)"
    WS_STRIPPED = "window scale option stripped from a non-SYN segment"
    WINDOW_RESCALED = "window field rescaled between the legs' shifts"
    IP_OPTIONS_REMOVED = "IPv4 options removed"
    SPLICE_RESET = "the splice was closed by a RST it relayed: not relayed"


@dataclass(frozen=True, slots=True)
class Endpoint:
    addr: bytes
    port: int

    def __post_init__(self) -> None:
        if len(self.addr) not in (4, 16) or not 0 <= self.port <= 0xFFFF:
            raise ValueError(f"bad endpoint {self.addr!r}:{self.port}")


@dataclass(frozen=True, slots=True)
class Leg:
    """One of the proxy's two connections as the relay needs it (paper §3.2–§3.4).

    ``peer`` is the end host, ``local`` the proxy's socket. ``splice_irs``: the sequence number of
    the first byte from the peer that is relayed; ``splice_iss``: the sequence number of the first
    relayed byte sent to the peer. ``lastrecv_ts``/``lastsent_ts``: the last TSval received from /
    sent to the peer before the splice (§3.4.1). ``peer_wscale``/``local_wscale``: the shifts the
    peer and the proxy announced; scaling is in effect only when both are set (RFC 7323 §2.2).
    ``peer_mss``: the MSS the peer announced, the largest segment it accepts (§3.4.4).
    """

    peer: Endpoint
    local: Endpoint
    splice_irs: int
    splice_iss: int
    timestamps: bool = False
    lastrecv_ts: int = 0
    lastsent_ts: int = 0
    sack: bool = False
    peer_wscale: int | None = None
    local_wscale: int | None = None
    peer_mss: int = 536
    #: private, derived in ``__post_init__`` for the relay's hot path: the one's complement sum of both
    #: addresses — the pseudo-header words that do not change from segment to segment, the same either
    #: way round, so for what arrives and what leaves —, the sum of the two port words of the TCP
    #: headers the proxy sends the peer, and ``(recv_shift, send_shift)``
    _addr_sum: int = field(default=0, init=False, repr=False, compare=False)
    _ports_sum: int = field(default=0, init=False, repr=False, compare=False)
    _shifts: tuple[int, int] = field(default=(0, 0), init=False, repr=False, compare=False)
    #: and ``(sport, dport, src, dst)`` of a segment from the peer to the proxy's socket
    _arrival: tuple[int, int, bytes, bytes] = field(default=(0, 0, b"", b""), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("splice_irs", "splice_iss", "lastrecv_ts", "lastsent_ts"):
            v = getattr(self, name)
            if not 0 <= v <= MASK32:
                raise ValueError(f"{name} must be a 32-bit value: {v}")
        for name in ("peer_wscale", "local_wscale"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 14:
                raise ValueError(f"{name} must be 0..14 (RFC 7323 §2.3): {v}")
        if not 1 <= self.peer_mss <= 0xFFFF:
            raise ValueError(f"peer_mss must be 1..65535: {self.peer_mss}")
        if len(self.peer.addr) != len(self.local.addr):
            raise ValueError("a leg's two ends must be of one address family")
        derived = _leg_derived(self.peer, self.local, self.peer_wscale, self.local_wscale)
        for name, value in zip(("_addr_sum", "_ports_sum", "_shifts", "_arrival"), derived, strict=True):
            object.__setattr__(self, name, value)

    @property
    def scaling(self) -> bool:
        return self.peer_wscale is not None and self.local_wscale is not None

    @property
    def recv_shift(self) -> int:
        """Shift to apply to window fields received from the peer."""
        return self.peer_wscale if self.scaling and self.peer_wscale is not None else 0

    @property
    def send_shift(self) -> int:
        """Shift the peer applies to window fields the proxy sends it."""
        return self.local_wscale if self.scaling and self.local_wscale is not None else 0


def _leg_derived(peer: Endpoint, local: Endpoint, peer_wscale: int | None,
                 local_wscale: int | None) -> tuple[int, int, tuple[int, int], tuple[int, int, bytes, bytes]]:
    """A leg's private derived fields (see :class:`Leg`): address sum, ports sum, shifts, arrival."""
    shifts = (peer_wscale, local_wscale) if peer_wscale is not None and local_wscale is not None else (0, 0)
    return (_words(peer.addr + local.addr) % _M, local.port + peer.port, shifts,
            (peer.port, local.port, peer.addr, local.addr))


_unchecked_leg = unchecked(Leg)


def leg_in_range(peer: Endpoint, local: Endpoint, splice_irs: int, splice_iss: int, timestamps: bool,
                 lastrecv_ts: int, lastsent_ts: int, sack: bool, peer_wscale: int | None, local_wscale: int | None,
                 peer_mss: int) -> Leg:
    """``Leg(...)`` (positional, every field) without the range checks that cannot fail for its callers'
    values, for the trace checker, which builds two legs per connection from a capture.

    The invariant the caller keeps: ``splice_irs``, ``splice_iss``, ``lastrecv_ts`` and ``lastsent_ts`` are
    32-bit words (read from a TCP header or option, or results of ``seq_add``/``seq_sub``); each window
    shift is None or 0..14 (``handshake.negotiate`` caps the announced shifts at 14); ``peer`` and
    ``local`` are one packet's two ends (one address family). The MSS is still checked: a peer's MSS option
    may say 0. Every other construction of a leg — the tests, the params file, ``replace`` — validates."""
    if not 1 <= peer_mss <= 0xFFFF:
        raise ValueError(f"peer_mss must be 1..65535: {peer_mss}")
    return _unchecked_leg(peer, local, splice_irs, splice_iss, timestamps, lastrecv_ts, lastsent_ts, sack,
                          peer_wscale, local_wscale, peer_mss,
                          *_leg_derived(peer, local, peer_wscale, local_wscale))


@dataclass(frozen=True, slots=True)
class SpliceState:
    """A made splice: leg C faces the client, leg D the server; and how far each direction has got.

    ``c2s_advance``/``s2c_advance``: how many sequence numbers past its base (``client.splice_irs``,
    ``server.splice_irs``) the furthest relayed segment of that direction reached, saturating at 2^31
    (:mod:`splicecheck.reference.mapping`, "Stream order and the advance"). Both are 0 when the splice
    is made; ``relay`` returns the updated state and the caller threads it into the next call. The
    same number measures the stream on the out leg too (past ``out.splice_iss``), since the mapping
    is a translation — which is what SACK clipping on the other direction uses.
    """

    client: Leg
    server: Leg
    strip_style: StripStyle = StripStyle.NOP
    c2s_advance: int = 0
    s2c_advance: int = 0

    def __post_init__(self) -> None:
        if len(self.client.peer.addr) != len(self.server.peer.addr):
            raise ValueError("both legs must be of one address family (cross-family splices are not modelled)")
        for name in ("c2s_advance", "s2c_advance"):
            v = getattr(self, name)
            if not 0 <= v <= ADVANCE_LIMIT:
                raise ValueError(f"{name} must be 0..2^31: {v}")

    def legs(self, direction: Direction) -> tuple[Leg, Leg]:
        """``(in, out)`` for a direction."""
        return (self.client, self.server) if direction is Direction.C2S else (self.server, self.client)

    def advance(self, direction: Direction) -> int:
        """How far ``direction``'s stream has advanced past its base (0 .. 2^31)."""
        return self.c2s_advance if direction is Direction.C2S else self.s2c_advance


_splice_state = unchecked(SpliceState)  # the relay's successor states: legs and style reused as they are


Emitted = Segment | PacketTooBig

# Reading an enum member off its class goes through the enum metaclass (~0.1 µs a time in CPython 3.11);
# the per-segment path reads these module-level names instead.
_C2S, _S2C = Direction.C2S, Direction.S2C
_TS_MAPPED, _SACK_CLIPPED = Note.TS_MAPPED, Note.SACK_CLIPPED
_NOP_STYLE = StripStyle.NOP


@dataclass(frozen=True, slots=True)
class RelayResult:
    """What the splice emits for one input: zero or more packets, and why anything changed.

    ``state`` is the splice's successor state, to be passed to the next ``relay`` call: the input
    state itself when nothing changed. ``relay`` always sets it; it is ``None`` only in results built
    elsewhere (a harness's "nothing emitted" placeholder), where callers keep their current state.
    """

    direction: Direction | None
    emitted: tuple[Emitted, ...]
    notes: tuple[Note, ...] = ()
    at: float = 0.0
    trimmed: int = field(default=0)
    state: SpliceState | None = None

    @property
    def segments(self) -> tuple[Segment, ...]:
        emitted = self.emitted
        for e in emitted:
            if not isinstance(e, Segment):
                return tuple([e for e in emitted if isinstance(e, Segment)])
        return emitted  # type: ignore[return-value]  # nothing but segments (checked above): the usual case


_result = unchecked(RelayResult)


def _arrives_on(leg: Leg, seg: Segment) -> bool:
    t, ip = seg.tcp, seg.ip
    return (t.sport, t.dport, ip.src, ip.dst) == leg._arrival


def direction_of(state: SpliceState, seg: Segment) -> Direction | None:
    if _arrives_on(state.client, seg):
        return _C2S
    if _arrives_on(state.server, seg):
        return _S2C
    return None


def relay(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Everything the splice emits for ``seg`` arriving at time ``now`` (seconds; stamped on the result),
    and the splice's successor state (``result.state``)."""
    ip, t = seg.ip, seg.tcp
    came = (t.sport, t.dport, ip.src, ip.dst)  # as _arrives_on reads it
    if came == state.client._arrival:
        direction, leg_in, leg_out = _C2S, state.client, state.server
        advance, advance_back = state.c2s_advance, state.s2c_advance
    elif came == state.server._arrival:
        direction, leg_in, leg_out = _S2C, state.server, state.client
        advance, advance_back = state.s2c_advance, state.c2s_advance
    else:
        return _result(None, (), (Note.NOT_THIS_SPLICE,), now, 0, state)
    notes: list[Note] = []
    if isinstance(ip, IPv4Header):
        hop, hl = ip.ttl, 20 + len(ip.options)
    else:
        hop, hl = ip.hop_limit, 40
    if hop <= 1:
        return _result(direction, (), (Note.TTL_EXPIRED,), now, 0, state)

    # --- 3. trimming what precedes splice_irs in the stream (§3.3) ---------------------------------
    flags, payload, urgent, seq = t.flags, seg.payload, t.urgent, t.seq
    seg_len = len(payload) + _CTL_LEN[flags & (SYN | FIN)]
    trimmed: int = trim_count(seq, seg_len, leg_in.splice_irs, advance)
    cut = 0
    if trimmed:
        rest = _trim(t, payload, trimmed, seg_len, leg_in.splice_irs, notes)
        if rest is None:
            return _result(direction, (), tuple(notes), now, trimmed, state)
        flags, payload, urgent, seq, cut = rest

    # --- 4. the rewrite (§3.3, §3.4) ---------------------------------------------------------------
    raw = seg._wire or encode(seg)  # the bytes as received (decoded segments carry them)
    seq_out: int = map_seq(seq, leg_in.splice_irs, leg_out.splice_iss)
    ack_out: int = map_ack(t.ack, leg_in.splice_iss, leg_out.splice_irs) if flags & ACK else t.ack
    # a SYN's window is never scaled (RFC 7323 §2.2): the sender's is its real window as it stands, and a
    # SYN the receiver gets (not trimmed off) is read as it stands
    window: int = relay_window(t.window, 0 if t.flags & SYN else leg_in._shifts[0],
                               0 if flags & SYN else leg_out._shifts[1])
    if window != t.window:
        notes.append(Note.WINDOW_RESCALED)
    options, opts_raw = _map_options(t, leg_in, leg_out, advance_back, state.strip_style, notes)

    # --- 5. MSS (§3.4.4): the data and the TCP options that would leave count against it (RFC 6691 §2);
    # an IPv6 Packet Too Big below 1280 is ignored by its receiver (RFC 8201 §4), so none is sent there
    if len(payload) + len(opts_raw) > leg_out.peer_mss and ip.df:
        mtu = leg_out.peer_mss + (40 if ip.version == 4 else 60)
        if ip.version == 4 or mtu >= IPV6_MIN_MTU:
            icmp = PacketTooBig(leg_in.local.addr, leg_in.peer.addr, mtu, raw)
            return _result(direction, (icmp,), (*notes, Note.MSS_EXCEEDED), now, trimmed, state)
    doff = 20 + len(opts_raw)
    tcp_len = doff + len(payload)
    off_flags = (doff << 10) | (t.reserved << 9) | flags
    sport, dport = leg_out.local.port, leg_out.peer.port

    # --- 6. checksums: RFC 1624 eqn. 3 over the changed words -------------------------------------
    # TCP: ``HC' = ~(~HC + ~m + m')`` with ``m`` every old word that changed and ``m'`` its replacement:
    # the pseudo-header, the TCP header, and the bytes a trim chopped (``_chopped_sum``). The payload is
    # never summed, so an error in it survives into the new checksum (the fail-safe update of §3.3).
    # The old words are summed *with* the received checksum HC in place: ``~HC + HC ≡ 0``, so ``~HC -
    # (header words without HC)`` is just ``-(header words with HC)``, and the received header, at
    # ``raw[hl:]``, need not be re-packed. The new header's words, checksum zero, modulo 0xFFFF: a 32-bit
    # field hi·2^16 + lo ≡ hi + lo, so its words sum to the field itself, and the header sums to the sum
    # of its fields (RFC 1071 §2). The pseudo-headers' address words are the legs' cached sums; protocol
    # and length are added to them (RFC 9293 §3.1, RFC 8200 §8.1).
    old = leg_in._addr_sum + PROTO_TCP + len(raw) - hl + _words(raw[hl:hl + ((raw[hl + 12] >> 4) << 2)])
    if cut:
        old = _chopped_sum(old, seg.payload[:cut])
    head_sum = leg_out._ports_sum + seq_out + ack_out + off_flags + window + urgent + _words(opts_raw)
    checksum: int = rfc1624_update(old, leg_out._addr_sum + PROTO_TCP + tcp_len + head_sum)
    # IP: the TTL/hop limit decremented; IPv4 options removed (IPOPT-STRIP) and the checksum updated by
    # eqn. 3 over the whole header, so whatever error the received checksum carried, the output's carries
    # too (a router's incremental TTL update behaves the same, RFC 1624 §1). The received header's words
    # are summed with their checksum in place, as above; the new header's words, checksum zero, are
    # version/IHL/TOS, total length, ID, flags/fragment offset (0), TTL/protocol, and the addresses (the
    # leg's cached sum).
    hop -= 1
    src, dst = leg_out.local.addr, leg_out.peer.addr
    if isinstance(ip, IPv4Header):
        if ip.options:
            notes.append(Note.IP_OPTIONS_REMOVED)
        ff = ip.flags << 13
        new = (0x4500 | ip.tos) + 20 + tcp_len + ip.ident + ff + (hop << 8 | PROTO_TCP) + leg_out._addr_sum
        ip_sum: int = rfc1624_update(_words(raw[:hl]), new)
        head = _IPV4_TCP.pack(0x45, ip.tos, 20 + tcp_len, ip.ident, ff, hop, PROTO_TCP, ip_sum, src, dst,
                              sport, dport, seq_out, ack_out, off_flags, window, checksum, urgent)
        ip_out: IPv4Header | IPv6Header = unchecked_ipv4(src, dst, ip.tos, ip.ident, ip.flags, 0, hop, ip_sum, b"")
    else:
        head = _IPV6_TCP.pack((6 << 28) | (ip.traffic_class << 20) | ip.flow_label, tcp_len, PROTO_TCP, hop, src,
                              dst, sport, dport, seq_out, ack_out, off_flags, window, checksum, urgent)
        ip_out = unchecked_ipv6(src, dst, ip.traffic_class, ip.flow_label, hop)
    tcp_out = unchecked_tcp(sport, dport, seq_out, ack_out, flags, window, urgent, options, checksum, t.reserved,
                            opts_raw if options is UNPARSED else None)
    out = unchecked_segment(ip_out, tcp_out, payload, b"".join((head, opts_raw, payload)))

    # --- 7. the advance (TRIM-2GIB) -----------------------------------------------------------------
    moved: int = advance_to(advance, leg_in.splice_irs, (t.seq + seg_len) & 0xFFFF_FFFF)  # the segment's end
    if moved != advance:
        c2s, s2c = (moved, state.s2c_advance) if direction is _C2S else (state.c2s_advance, moved)
        state = _splice_state(state.client, state.server, state.strip_style, c2s, s2c)
    return _result(direction, (out,), tuple(notes), now, trimmed, state)


def _trim(t: TcpHeader, payload: bytes, trimmed: int, seg_len: int, splice_irs: int,
          notes: list[Note]) -> tuple[int, bytes, int, int, int] | None:
    """Step 3 of :func:`relay` for a segment with ``trimmed`` > 0 of its ``seg_len`` sequence numbers
    below the base (§3.3): its ``(flags, payload, urgent, seq, data bytes cut)`` after the trim, or None
    when nothing is left to relay (the reason appended to ``notes``)."""
    notes.append(Note.TRIMMED)
    flags = t.flags
    syn_kept, cut, fin_kept = split_trim(trimmed, bool(flags & SYN), len(payload), bool(flags & FIN))
    urg_kept, urgent = map_urgent(bool(flags & URG), t.urgent, trimmed)
    if flags & URG and not urg_kept:
        notes.append(Note.URG_CLEARED)
    flags &= ~((0 if syn_kept else SYN) | (0 if fin_kept else FIN) | (0 if urg_kept else URG))
    if trimmed != seg_len:
        return flags, payload[cut:], urgent, trimmed_seq(t.seq, trimmed), cut  # at the base (TRIM-REST)
    if flags & RST or not flags & ACK:
        notes.append(Note.BELOW_BASE_DROPPED)
        return None
    notes.append(Note.BELOW_BASE_PURE_ACK)
    return flags & ~(PSH | URG), payload[cut:], 0, splice_irs, cut  # a pure ACK at the base (TRIM-BELOW)


# --- options --------------------------------------------------------------------------------------


def _map_options(t: TcpHeader, leg_in: Leg, leg_out: Leg, advance_back: int, style: StripStyle,
                 notes: list[Note]) -> tuple[tuple[TcpOption, ...], bytes]:
    """The relayed option list and its bytes; the list is ``UNPARSED`` when the bytes are the fast path's,
    for the output header to parse on first read (``segment.TcpHeader._options_wire``). ``advance_back``:
    how far the other direction's stream, the one SACK blocks acknowledge, has advanced
    (``mapping.map_sack_block``).

    Fast path: the two layouts nearly every established-state segment carries, NOP NOP TS and NOP NOP TS
    NOP NOP SACK (``codec.ALIGNED_AREAS``), with the options in use on both legs and no SACK block dropped.
    Then nothing is stripped or moved: the area is unpacked in one struct — a decoded header keeps its
    bytes (``codec.lazy_layout``), a header built from values in these layouts is packed first —, the
    values are mapped by the same helpers as in :func:`_map_options_loop`, and the area is packed again
    with its fixed octets as they came. Everything else takes the loop, which gives the same answer for
    these layouts too (``tests/test_relay.py`` holds the two to each other, notes included)."""
    if leg_in.timestamps and leg_out.timestamps:
        wire = t._options_wire
        if wire is None and _aligned(t.options):
            wire = push_options(t.options)
        if wire is not None:
            layout = ALIGNED_AREAS[len(wire)]
            v = layout.unpack(wire)  # the TS option's fixed octets, TSval, TSecr[, the SACK's fixed octets, edges]
            tsval = map_tsval(v[1], leg_in.lastrecv_ts, leg_out.lastsent_ts)  # as _mapped_timestamps, inline
            tsecr = map_tsecr(v[2], leg_in.lastsent_ts, leg_out.lastrecv_ts)
            if len(v) == 3:
                notes.append(_TS_MAPPED)
                return UNPARSED, layout.pack(v[0], tsval, tsecr)
            if leg_in.sack and leg_out.sack:
                edges, clipped = _mapped_sack(v[4:], leg_in, leg_out, advance_back)
                if len(edges) == len(v) - 4:  # no block dropped: the layout stays
                    notes.append(_TS_MAPPED)
                    if clipped:
                        notes.append(_SACK_CLIPPED)
                    return UNPARSED, layout.pack(v[0], tsval, tsecr, v[3], *edges)
    options = t.options
    return _map_options_loop(options, leg_in, leg_out, advance_back, style, notes) if options else (options, b"")


def _aligned(options: tuple[TcpOption, ...]) -> bool:
    """Whether option values are in one of the fast path's layouts, NOP NOP TS and NOP NOP TS NOP NOP SACK."""
    n = len(options)
    return ((n == 3 or n == 6) and type(options[0]) is NoOperation and type(options[1]) is NoOperation
            and type(options[2]) is Timestamps
            and (n == 3 or (type(options[3]) is NoOperation and type(options[4]) is NoOperation
                            and type(options[5]) is Sack)))


def _mapped_timestamps(opt: Timestamps, leg_in: Leg, leg_out: Leg) -> tuple[int, int]:
    """TSval and TSecr through the splice (§3.4.1; TS-VAL, TS-ECR)."""
    return (map_tsval(opt.tsval, leg_in.lastrecv_ts, leg_out.lastsent_ts),
            map_tsecr(opt.tsecr, leg_in.lastsent_ts, leg_out.lastrecv_ts))


def _mapped_sack(edges_in: tuple[int, ...], leg_in: Leg, leg_out: Leg,
                 advance_back: int) -> tuple[list[int], bool]:
    """The edges ``[left1, right1, ...]`` of the SACK blocks kept, mapped (§3.4.3; SACK-MAP, SACK-CLIP), from
    the received ones; and whether any block was clipped or dropped."""
    edges: list[int] = []
    clipped = False
    base, base_out = leg_in.splice_iss, leg_out.splice_irs
    for i in range(0, len(edges_in), 2):
        left = edges_in[i]
        keep, l2, r2 = map_sack_block(left, edges_in[i + 1], base, base_out, advance_back)
        if keep:
            edges.append(l2)
            edges.append(r2)
            # the left edge was clipped iff it now maps from the base itself (the mapping is a bijection)
            if l2 == base_out and left != base:
                clipped = True
        else:
            clipped = True
    return edges, clipped


def _map_options_loop(options: tuple[TcpOption, ...], leg_in: Leg, leg_out: Leg, advance_back: int,
                      style: StripStyle, notes: list[Note]) -> tuple[tuple[TcpOption, ...], bytes]:
    """:func:`_map_options` for any option list, option by option."""
    out: list[TcpOption] = []
    wire: list[bytes] = []  # out's bytes, built alongside (rebuilt from out when something was removed)
    removed = False
    for opt in options:
        if isinstance(opt, NoOperation):
            out.append(opt)
            wire.append(_NOP_BYTE)
        elif isinstance(opt, Timestamps):
            if leg_in.timestamps and leg_out.timestamps:
                if _TS_MAPPED not in notes:
                    notes.append(_TS_MAPPED)
                tsval, tsecr = _mapped_timestamps(opt, leg_in, leg_out)
                out.append(unchecked_timestamps(tsval, tsecr))
                wire.append(push_timestamps(tsval, tsecr))
            else:
                removed |= _strip(opt, Note.TS_STRIPPED, style, out, wire, notes)
        elif isinstance(opt, Sack):
            if not (leg_in.sack and leg_out.sack):
                removed |= _strip(opt, Note.SACK_STRIPPED, style, out, wire, notes)
                continue
            edges, clipped = _mapped_sack(tuple([e for block in opt.blocks for e in block]), leg_in, leg_out,
                                          advance_back)
            if clipped:
                notes.append(_SACK_CLIPPED)
            if not edges:
                removed |= _strip(opt, Note.SACK_STRIPPED, style, out, wire, notes)
                continue
            out.append(unchecked_sack(tuple(zip(edges[0::2], edges[1::2], strict=True))))
            wire.append(push_sack_edges(edges))
            pad = 4 * (2 * len(opt.blocks) - len(edges))  # the dropped blocks' bytes
            if pad and style is _NOP_STYLE:
                out.extend([NOP] * pad)
                wire.append(_NOP_BYTE * pad)
            elif pad:
                removed = True
        elif isinstance(opt, WindowScale):
            removed |= _strip(opt, Note.WS_STRIPPED, style, out, wire, notes)  # SYNs only (§3.4.2; RFC 7323 §2.2)
        else:
            out.append(opt)
            wire.append(push_option(opt))
    if removed:
        while out and isinstance(out[-1], EndOfOptionList):
            out.pop()
        padded = pad_options(out)
        return padded, push_options(padded)
    return tuple(out), b"".join(wire)


def _strip(opt: TcpOption, note: Note, style: StripStyle, out: list[TcpOption], wire: list[bytes],
           notes: list[Note]) -> bool:
    """Strip ``opt`` in ``style`` (paper §3.4.1, footnote 2); True when the option list shrank."""
    if note not in notes:
        notes.append(note)
    if style is _NOP_STYLE:
        out.extend([NOP] * opt.size)
        wire.append(_NOP_BYTE * opt.size)
        return False
    while out and isinstance(out[-1], NoOperation):  # the NOPs that aligned it go too
        out.pop()
    return True


# --- checksums ------------------------------------------------------------------------------------


def _chopped_sum(old: int, chopped: bytes) -> int:
    """The old side of step 6's TCP checksum update (``old``) when a trim ``chopped`` a prefix of the
    payload: the chopped bytes are old words replaced by nothing (``m' = 0``). What is left of the
    payload is congruent to ``-old`` (plus whatever error HC carried); an odd chop moves it across a
    byte boundary, which multiplies its sum by 256 (a byte swap, RFC 1071 §2(B)), so the old side is
    scaled by 256 as well."""
    odd = len(chopped) & 1
    old += _words(chopped + b"\x00" * odd)
    return old * 256 if odd else old
