"""The relay: what a correct splice emits for one segment (paper §3.3–§3.4).

``relay(state, segment, now)`` is pure. ``state`` holds the two legs' splice constants, fixed when the
splice is made (see :mod:`splicecheck.reference.lifecycle` for how they are chosen). The per-field
arithmetic lives in :mod:`splicecheck.reference.mapping`; this module only composes it, decides what
happens to options, and keeps the checksums right.

Order of work for a segment arriving on leg ``in`` and leaving on leg ``out``:

1. direction: the segment must come from ``in``'s peer to ``in``'s local socket (DIR-ONLY);
2. hop limit: TTL/hop limit ≤ 1 → dropped, else decremented by one (TTL-DEC, TTL-EXPIRE);
3. trim: sequence numbers below ``in.splice_irs`` chopped off the front (TRIM-*), the urgent pointer
   carried along (URG-*); a segment with nothing left becomes a pure ACK at the base or is dropped;
4. MSS: an oversized segment with DF set is answered with an ICMP error and not relayed (MSS-ICMP);
5. map seq, ack (only with ACK set), window, TCP options; rewrite addresses and ports; drop IPv4
   options (SEQ-MAP, ACK-MAP, ACK-NOACK, WS-*, TS-*, SACK-*, ADDR-*, IPOPT-STRIP);
6. checksums by RFC 1624 eqn. 3 over the words that changed, which keeps a corrupt input corrupt
   (TCPCSUM-VALID, IPCSUM-VALID, CSUM-FAILSAFE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

from .checksum import ones_sum, pseudo_header
from .codec import _TCP, encode, ipv4_header_bytes, push_options, tcp_header_bytes
from .icmp import PacketTooBig
from .mapping import (
    map_ack,
    map_sack_block,
    map_seq,
    map_tsecr,
    map_tsval,
    map_urgent,
    relay_window,
    split_trim,
    trim_count,
)
from .segment import (
    ACK,
    FIN,
    NOP,
    PSH,
    RST,
    SYN,
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
)
from .seqspace import before

_M = 0xFFFF  # arithmetic modulo 2^16 - 1 is one's complement arithmetic (RFC 1071 §2)


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

    def __post_init__(self) -> None:
        for name in ("splice_irs", "splice_iss", "lastrecv_ts", "lastsent_ts"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFFFF_FFFF:
                raise ValueError(f"{name} must be a 32-bit value: {v}")
        for name in ("peer_wscale", "local_wscale"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 14:
                raise ValueError(f"{name} must be 0..14 (RFC 7323 §2.3): {v}")
        if not 1 <= self.peer_mss <= 0xFFFF:
            raise ValueError(f"peer_mss must be 1..65535: {self.peer_mss}")
        if len(self.peer.addr) != len(self.local.addr):
            raise ValueError("a leg's two ends must be of one address family")

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


@dataclass(frozen=True, slots=True)
class SpliceState:
    """The constants of a made splice: leg C faces the client, leg D the server."""

    client: Leg
    server: Leg
    strip_style: StripStyle = StripStyle.NOP

    def __post_init__(self) -> None:
        if len(self.client.peer.addr) != len(self.server.peer.addr):
            raise ValueError("both legs must be of one address family (cross-family splices are not modelled)")

    def legs(self, direction: Direction) -> tuple[Leg, Leg]:
        """``(in, out)`` for a direction."""
        return (self.client, self.server) if direction is Direction.C2S else (self.server, self.client)


Emitted = Segment | PacketTooBig


@dataclass(frozen=True, slots=True)
class RelayResult:
    """What the splice emits for one input: zero or more packets, and why anything changed."""

    direction: Direction | None
    emitted: tuple[Emitted, ...]
    notes: tuple[Note, ...] = ()
    at: float = 0.0
    trimmed: int = field(default=0)

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(e for e in self.emitted if isinstance(e, Segment))


def direction_of(state: SpliceState, seg: Segment) -> Direction | None:
    t = seg.tcp
    for d in Direction:
        leg = state.legs(d)[0]
        if (seg.ip.src == leg.peer.addr and t.sport == leg.peer.port
                and seg.ip.dst == leg.local.addr and t.dport == leg.local.port):
            return d
    return None


def relay(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Everything the splice emits for ``seg`` arriving at time ``now`` (seconds; stamped on the result)."""
    direction = direction_of(state, seg)
    if direction is None:
        return RelayResult(None, (), (Note.NOT_THIS_SPLICE,), now)
    leg_in, leg_out = state.legs(direction)
    notes: list[Note] = []
    ip, t = seg.ip, seg.tcp
    if ip.hop_limit <= 1:
        return RelayResult(direction, (), (Note.TTL_EXPIRED,), now)

    # --- 3. trimming below splice_irs (§3.3) -------------------------------------------------------
    flags, payload, urgent = t.flags, seg.payload, t.urgent
    syn, fin = bool(flags & SYN), bool(flags & FIN)
    seg_len = len(payload) + syn + fin
    trimmed: int = trim_count(t.seq, seg_len, leg_in.splice_irs)
    seq = t.seq
    cut = 0
    if trimmed:
        notes.append(Note.TRIMMED)
        syn_kept, cut, fin_kept = split_trim(trimmed, syn, len(payload), fin)
        payload = payload[cut:]
        urg_kept, urgent = map_urgent(bool(flags & URG), urgent, trimmed)
        if flags & URG and not urg_kept:
            notes.append(Note.URG_CLEARED)
        flags &= ~((0 if syn_kept else SYN) | (0 if fin_kept else FIN) | (0 if urg_kept else URG))
        seq = leg_in.splice_irs  # the remainder starts at the base (TRIM-REST, TRIM-BELOW)
        if trimmed == seg_len:
            if flags & RST or not flags & ACK:
                return RelayResult(direction, (), (*notes, Note.BELOW_BASE_DROPPED), now, trimmed)
            flags &= ~(PSH | URG)
            urgent = 0
            notes.append(Note.BELOW_BASE_PURE_ACK)

    # --- 4. MSS (§3.4.4) ---------------------------------------------------------------------------
    if len(payload) > leg_out.peer_mss and ip.df:
        overhead = 40 if ip.version == 4 else 60
        icmp = PacketTooBig(leg_in.local.addr, leg_in.peer.addr, leg_out.peer_mss + overhead, encode(seg))
        return RelayResult(direction, (icmp,), (*notes, Note.MSS_EXCEEDED), now, trimmed)

    # --- 5. the rewrite (§3.3, §3.4) ---------------------------------------------------------------
    seq_out: int = map_seq(seq, leg_in.splice_irs, leg_out.splice_iss)
    ack_out: int = map_ack(t.ack, leg_in.splice_iss, leg_out.splice_irs) if flags & ACK else t.ack
    window: int = relay_window(t.window, leg_in.recv_shift, leg_out.send_shift)
    if window != t.window:
        notes.append(Note.WINDOW_RESCALED)
    options = _map_options(t.options, leg_in, leg_out, state.strip_style, notes)
    if isinstance(ip, IPv4Header):
        if ip.options:
            notes.append(Note.IP_OPTIONS_REMOVED)
        ip_out: IPv4Header | IPv6Header = IPv4Header(
            leg_out.local.addr, leg_out.peer.addr, ip.tos, ip.ident, ip.flags, 0, ip.ttl - 1, None, b"")
    else:
        ip_out = IPv6Header(leg_out.local.addr, leg_out.peer.addr, ip.traffic_class, ip.flow_label,
                            ip.hop_limit - 1)
    opts_raw = push_options(options) if options else b""
    head_out = _TCP.pack(leg_out.local.port, leg_out.peer.port, seq_out, ack_out,
                         ((20 + len(opts_raw)) << 10) | (t.reserved << 9) | flags, window, 0, urgent) + opts_raw

    # --- 6. checksums: RFC 1624 eqn. 3 over the changed words -------------------------------------
    checksum = _tcp_checksum(seg, ip_out, head_out, cut, len(payload))
    tcp_out = TcpHeader(leg_out.local.port, leg_out.peer.port, seq_out, ack_out, flags, window, urgent,
                        options, checksum, t.reserved)
    if isinstance(ip, IPv4Header) and isinstance(ip_out, IPv4Header):
        ip_out = _with_ip_checksum(ip, t.header_length + len(seg.payload), ip_out, len(head_out) + len(payload))
    out = Segment(ip_out, tcp_out, payload)
    return RelayResult(direction, (out,), tuple(notes), now, trimmed)


# --- options --------------------------------------------------------------------------------------


def _map_options(options: tuple[TcpOption, ...], leg_in: Leg, leg_out: Leg, style: StripStyle,
                 notes: list[Note]) -> tuple[TcpOption, ...]:
    if not options:
        return options
    out: list[TcpOption] = []
    removed = False

    def strip(opt: TcpOption, note: Note) -> None:
        nonlocal removed
        if note not in notes:
            notes.append(note)
        if style is StripStyle.NOP:
            out.extend([NOP] * opt.size)
            return
        removed = True
        while out and isinstance(out[-1], NoOperation):  # the NOPs that aligned it go too
            out.pop()

    for opt in options:
        if isinstance(opt, Timestamps):
            if leg_in.timestamps and leg_out.timestamps:
                if Note.TS_MAPPED not in notes:
                    notes.append(Note.TS_MAPPED)
                out.append(Timestamps(map_tsval(opt.tsval, leg_in.lastrecv_ts, leg_out.lastsent_ts),
                                      map_tsecr(opt.tsecr, leg_in.lastsent_ts, leg_out.lastrecv_ts)))
            else:
                strip(opt, Note.TS_STRIPPED)
        elif isinstance(opt, Sack):
            if not (leg_in.sack and leg_out.sack):
                strip(opt, Note.SACK_STRIPPED)
                continue
            blocks = []
            clipped = False
            for left, right in opt.blocks:
                keep, l2, r2 = map_sack_block(left, right, leg_in.splice_iss, leg_out.splice_irs)
                if keep:
                    blocks.append((l2, r2))
                clipped = clipped or not keep or before(left, leg_in.splice_iss)
            if clipped:
                notes.append(Note.SACK_CLIPPED)
            if not blocks:
                strip(opt, Note.SACK_STRIPPED)
                continue
            mapped = Sack(tuple(blocks))
            out.append(mapped)
            if style is StripStyle.NOP:
                out.extend([NOP] * (opt.size - mapped.size))
            else:
                removed = removed or mapped.size != opt.size
        elif isinstance(opt, WindowScale):
            strip(opt, Note.WS_STRIPPED)  # WS belongs in SYNs only (§3.4.2; RFC 7323 §2.2)
        else:
            out.append(opt)
    if removed:
        while out and isinstance(out[-1], EndOfOptionList):
            out.pop()
        return pad_options(out)
    return tuple(out)


# --- checksums ------------------------------------------------------------------------------------


def _fix(total: int) -> int:
    """A sum ≡ 0 (mod 0xFFFF) of data that is not all zero is 0xFFFF in one's complement."""
    total %= _M
    return total if total else 0xFFFF


def _tcp_checksum(seg: Segment, ip_out: IPv4Header | IPv6Header, head_out: bytes, cut: int, new_len: int) -> int:
    """RFC 1624 eqn. 3, ``HC' = ~(~HC + ~m + m')``, with ``m`` every old word that changed and ``m'`` its
    replacement: the pseudo-header, the TCP header, and — when a prefix of ``cut`` bytes is chopped —
    the chopped bytes (``m' = 0``). An odd ``cut`` moves the rest of the payload across a byte
    boundary, which multiplies its sum by 256 (a byte swap, RFC 1071 §2(B)). The payload is never
    summed, so an error in it survives into the new checksum (the fail-safe update of §3.3)."""
    t = seg.tcp
    old_len = t.header_length + len(seg.payload)
    if t.checksum is None:
        data = ones_sum(seg.payload)
    else:
        data = ((~t.checksum & 0xFFFF) - ones_sum(pseudo_header(seg.ip.src, seg.ip.dst, old_len))
                - ones_sum(tcp_header_bytes(t))) % _M
    if cut:
        data = (data - ones_sum(seg.payload[:cut])) % _M
        if cut & 1:
            data = (data * 256) % _M
    total = ones_sum(pseudo_header(ip_out.src, ip_out.dst, len(head_out) + new_len)) + ones_sum(head_out) + data
    return (~_fix(total)) & 0xFFFF


def _with_ip_checksum(ip_in: IPv4Header, in_len: int, ip_out: IPv4Header, out_len: int) -> IPv4Header:
    """Eqn. 3 over the whole IPv4 header: whatever error the input header's checksum carried, the
    output's carries too (a router's incremental TTL update behaves the same, RFC 1624 §1)."""
    old = ipv4_header_bytes(ip_in, in_len)
    err = 0 if ip_in.checksum is None else ((~ip_in.checksum & 0xFFFF) - ones_sum(old)) % _M
    total = ones_sum(ipv4_header_bytes(ip_out, out_len)) + err
    checksum = (~_fix(total)) & 0xFFFF
    return IPv4Header(ip_out.src, ip_out.dst, ip_out.tos, ip_out.ident, ip_out.flags, ip_out.frag_offset,
                      ip_out.ttl, checksum, ip_out.options)
