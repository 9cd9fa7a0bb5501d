"""Mutants that get TCP options, the window, the MSS and the IP header wrong."""

from __future__ import annotations

import struct
from dataclasses import replace

from ...reference.arith import MASK16
from ...reference.icmp import PacketTooBig
from ...reference.mapping import map_ack
from ...reference.relay import RelayResult, SpliceState, direction_of, relay
from ...reference.segment import (
    AE,
    IPv4Header,
    NoOperation,
    Sack,
    Segment,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
)
from .base import _mutant, _opaque, _patched, _swapped, _with_options

# --------------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------------


@_mutant("sack-unmapped", "SACK-MAP", "SACK-CLIP")
def sack_unmapped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """SACK blocks are relayed as they came: neither mapped nor clipped.

    The ISN-randomising firewall bug (Cisco PIX/ASA sequence-number randomisation and others): the
    seq and ack fields are offset, the SACK edges are not, so the receiver gets blocks from another
    sequence space and — worse than useless — may discard or retransmit the wrong data."""
    with _swapped(map_sack_block=lambda left, right, *_: (True, left, right)):
        return relay(state, seg, now)


def _lt_map_sack_block(left: int, right: int, in_splice_iss: int, out_splice_irs: int,
                       *_: int) -> tuple[bool, int, int]:
    keep = right > in_splice_iss
    clipped_left = in_splice_iss if left < in_splice_iss else left
    return keep, map_ack(clipped_left, in_splice_iss, out_splice_irs), map_ack(right, in_splice_iss, out_splice_irs)


@_mutant("sack-clip-lt", "SACK-CLIP")
def sack_clip_lt(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """SACK clipping compares block edges with ``splice_iss`` by plain unsigned ``<``/``>``.

    The wrap bug again, in the code path tested least: a block reaching below a base just after the
    wrap is neither clipped nor dropped, and SACKs the OK message's numbers on the other leg."""
    with _swapped(map_sack_block=_lt_map_sack_block):
        return relay(state, seg, now)


@_mutant("sack-not-clipped", "SACK-CLIP")
def sack_not_clipped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """SACK edges are mapped but never clipped: a block reaching below ``splice_iss`` maps below the other
    leg's base and a block wholly below it is relayed.

    The natural first version of SACK support in a splice: map every number that looks like an ack."""
    def map_only(left: int, right: int, in_splice_iss: int, out_splice_irs: int, *_: int) -> tuple[bool, int, int]:
        return True, map_ack(left, in_splice_iss, out_splice_irs), map_ack(right, in_splice_iss, out_splice_irs)

    with _swapped(map_sack_block=map_only):
        return relay(state, seg, now)


@_mutant("tsval-unmapped", "TS-VAL")
def tsval_unmapped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """TSval is relayed unmapped (TSecr is mapped).

    A splice that treats timestamps as the end hosts' business: the receiver sees the other peer's
    clock jump at the splice, and PAWS (RFC 7323 §5) drops the data as old duplicates."""
    with _swapped(map_tsval=lambda tsval, in_lastrecv, out_lastsent: tsval):
        return relay(state, seg, now)


@_mutant("tsecr-unmapped", "TS-ECR")
def tsecr_unmapped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """TSecr is relayed unmapped (TSval is mapped).

    The echo is easy to forget because it is the peer's own value coming back; unmapped, the sender's
    RTT estimate (RFC 7323 §4) is computed from a timestamp it never sent."""
    with _swapped(map_tsecr=lambda tsecr, in_lastsent, out_lastrecv: tsecr):
        return relay(state, seg, now)


@_mutant("ts-first-only", "TS-VAL", "TS-ECR")
def ts_first_only(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Only the first Timestamps option of a segment is mapped; later ones pass through unchanged.

    A real Linux bug, fixed in 2026: the option walk that adjusted timestamps stopped after the first
    one it found. A segment carrying two Timestamps options — legal to send, if odd —
    reaches the receiver with one mapped and one raw value."""
    direction = direction_of(state, seg)
    if direction is None or not all(leg.timestamps for leg in state.legs(direction)):
        return relay(state, seg, now)
    seen = False
    options: list[TcpOption] = []
    for opt in seg.tcp.options:
        if isinstance(opt, Timestamps):
            options.append(_opaque(opt) if seen else opt)
            seen = True
        else:
            options.append(opt)
    return relay(state, _with_options(seg, tuple(options)), now)


@_mutant("sack-first-only", "SACK-MAP", "SACK-CLIP")
def sack_first_only(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Only the first SACK option of a segment is mapped; later ones pass through unchanged.

    The option walk that finds "the" SACK option and stops there (``ts-first-only``'s bug, for SACK):
    a segment carrying two SACK options — legal, if odd — reaches the receiver with the second
    option's blocks in the other leg's sequence space."""
    direction = direction_of(state, seg)
    if direction is None or not all(leg.sack for leg in state.legs(direction)):
        return relay(state, seg, now)
    seen = False
    options: list[TcpOption] = []
    for opt in seg.tcp.options:
        if isinstance(opt, Sack):
            options.append(UnknownOption(5, b"".join(struct.pack("!II", *b) for b in opt.blocks)) if seen else opt)
            seen = True
        else:
            options.append(opt)
    return relay(state, _with_options(seg, tuple(options)), now)


def _aligned_ts(options: tuple[TcpOption, ...]) -> bool:
    """The layouts of the model's fast path: NOP NOP TS, and NOP NOP TS NOP NOP SACK."""
    kinds = [type(o) for o in options]
    return kinds in ([NoOperation, NoOperation, Timestamps],
                     [NoOperation, NoOperation, Timestamps, NoOperation, NoOperation, Sack])


@_mutant("ts-fastpath-ecr", "TS-ECR")
def ts_fastpath_ecr(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """In the aligned layout NOP NOP Timestamps (with or without NOP NOP SACK after it) TSecr is relayed
    unmapped; every other layout is right.

    The hand-optimised fast path for the layout nearly every data segment carries (Linux's
    ``tcp_parse_aligned_timestamp``): it rewrites TSval in place and forgets TSecr, while the general
    option walk maps both. A suite whose segments carry the option in any other layout never sees it."""
    if not _aligned_ts(seg.tcp.options):
        return relay(state, seg, now)
    with _swapped(map_tsecr=lambda tsecr, in_lastsent, out_lastrecv: tsecr):
        return relay(state, seg, now)


@_mutant("ts-not-stripped", "TS-STRIP")
def ts_not_stripped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Timestamps options are relayed unchanged when only one leg uses timestamps.

    A splice that maps timestamps "when it has offsets" and otherwise leaves them alone: the peer
    that never negotiated timestamps receives them anyway (RFC 7323 §3.2 says it must ignore them;
    not all stacks do) with values from the proxy's connection."""
    direction = direction_of(state, seg)
    if direction is None or all(leg.timestamps for leg in state.legs(direction)):
        return relay(state, seg, now)
    opts = tuple(_opaque(o) if isinstance(o, Timestamps) else o for o in seg.tcp.options)
    return relay(state, _with_options(seg, opts), now)


@_mutant("ws-not-stripped", "WS-STRIP")
def ws_not_stripped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Window Scale options on data segments are relayed instead of stripped.

    The "pass unknown-to-us options through" policy applied to an option that is only meaningful in a
    SYN (RFC 7323 §2.2); a receiver that wrongly honours it rescales the window mid-connection."""
    opts = tuple(_opaque(o) if isinstance(o, WindowScale) else o for o in seg.tcp.options)
    return relay(state, _with_options(seg, opts), now)


# --------------------------------------------------------------------------------------------------
# Window, MSS, IP
# --------------------------------------------------------------------------------------------------


@_mutant("window-not-unscaled", "WS-EXACT", "WS-SAFE")
def window_not_unscaled(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The window field is relayed as it came, whatever the two legs' scale factors.

    What Linux SYNPROXY does in the data phase (docs/LAB.md: "data-phase windows are not rescaled"):
    with different shifts on the legs the receiver believes a window 2^k times too small or too
    large."""
    with _swapped(relay_window=lambda window, in_shift, out_shift: window):
        return relay(state, seg, now)


@_mutant("window-truncated", "WS-EXACT")
def window_truncated(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The rescaled window is stored in the 16-bit field by truncation instead of clamping.

    ``th->window = htons(win << in_shift >> out_shift)`` in C: above 65535 the high bits are lost
    and a large window becomes a small (or zero) one — safe (WS-SAFE), but the sender stalls."""
    with _swapped(relay_window=lambda window, in_shift, out_shift: ((window << in_shift) >> out_shift) & MASK16):
        return relay(state, seg, now)


@_mutant("mss-no-icmp", "MSS-ICMP")
def mss_no_icmp(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """No MSS check: a segment larger than the out peer's MSS is relayed as it is.

    Most NATs and splices never look at segment sizes; the oversized segment is fragmented or (with
    DF) dropped further on, and the sender is never told (paper §3.4.4)."""
    unlimited = replace(state, client=replace(state.client, peer_mss=0xFFFF),
                        server=replace(state.server, peer_mss=0xFFFF))
    result = relay(unlimited, seg, now)
    if result.state is None:
        return result
    return replace(result, state=replace(result.state, client=state.client, server=state.server))


@_mutant("mss-silent-drop", "MSS-ICMP", "MSS-NO-BLACKHOLE")
def mss_silent_drop(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """An oversized segment is dropped, but no ICMP "fragmentation needed" is sent.

    The path-MTU black hole (RFC 2923 §2.1): ICMP generation disabled, rate-limited to nothing or
    filtered; the sender retransmits the same oversized segment until it gives up."""
    result = relay(state, seg, now)
    return replace(result, emitted=tuple(e for e in result.emitted if not isinstance(e, PacketTooBig)))


@_mutant("ipopt-kept", "IPOPT-STRIP")
def ipopt_kept(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """IPv4 options are copied to the relayed packet.

    What an address-rewriting NAT does: it edits the header in place and keeps whatever options came
    (source routes and record-route included), though the splice ends the IP path at the proxy."""
    if not isinstance(seg.ip, IPv4Header) or not seg.ip.options:
        return relay(state, seg, now)
    options = seg.ip.options

    def keep(out: Segment) -> Segment:
        return replace(out, ip=replace(out.ip, options=options)) if isinstance(out.ip, IPv4Header) else out

    return _patched(relay(state, seg, now), keep)


@_mutant("ttl-not-decremented", "TTL-DEC")
def ttl_not_decremented(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """TTL / hop limit is relayed unchanged.

    Socket-level relays and many transparent proxies do not behave as a router hop; loops through the
    splice then never expire."""
    ttl = seg.ip.hop_limit

    def keep(out: Segment) -> Segment:
        ip = replace(out.ip, ttl=ttl) if isinstance(out.ip, IPv4Header) else replace(out.ip, hop_limit=ttl)
        return replace(out, ip=ip)

    return _patched(relay(state, seg, now), keep)


@_mutant("reserved-cleared", "FLAGS-KEEP")
def reserved_cleared(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The three reserved bits and AE (the former NS bit) are cleared on relayed segments.

    The middlebox that "normalises" reserved header bits — the deployment problem RFC 3360 describes
    for ECN, and the one Accurate ECN's use of the AE bit has to survive."""
    return _patched(relay(state, seg, now),
                    lambda out: replace(out, tcp=replace(out.tcp, reserved=0, flags=out.tcp.flags & ~AE)))


