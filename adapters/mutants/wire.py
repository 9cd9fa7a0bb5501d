"""Mutants that get the splice's own packets wrong: the ICMP error it sends (checksum, quoted datagram,
outer header), which segments it takes for its own (the 5-tuple), and a checksum on one rare path."""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from ...reference.checksum import internet_checksum
from ...reference.codec import encode
from ...reference.icmp import IPV4_QUOTE_EXTRA, PacketTooBig, encode_icmp
from ...reference.mapping import map_ack
from ...reference.relay import Leg, Note, RelayResult, SpliceState, direction_of, relay
from ...reference.segment import Segment
from .base import CraftedIcmp, _mutant, _patched, _reseal, _swapped

# --------------------------------------------------------------------------------------------------
# ICMP errors (MSS-ICMP): the checksum, the quote, the outer header
# --------------------------------------------------------------------------------------------------


def _icmp_replaced(result: RelayResult, make: type[PacketTooBig] | None = None, **change: object) -> RelayResult:
    """``result`` with every ICMP error it emits rebuilt as ``make`` (default: the same class) with ``change``."""
    def redo(e: object) -> object:
        if not isinstance(e, PacketTooBig):
            return e
        fields = {"src": e.src, "dst": e.dst, "mtu": e.mtu, "quoted": e.quoted, "ttl": e.ttl, **change}
        return (make or type(e))(**fields)  # type: ignore[arg-type]

    return replace(result, emitted=tuple(redo(e) for e in result.emitted))  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class _NoPseudoHeader(CraftedIcmp):
    def wire(self) -> bytes:
        raw = bytearray(encode_icmp(self))
        if self.version == 6:  # ICMPv6 summed like ICMPv4: the message alone
            raw[42:44] = b"\x00\x00"
            raw[42:44] = struct.pack("!H", internet_checksum(bytes(raw[40:])))
        return bytes(raw)


@_mutant("icmp6-csum-no-pseudo", "MSS-ICMP")
def icmp6_csum_no_pseudo(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The ICMPv6 Packet Too Big's checksum is computed over the ICMPv6 message alone, without the
    IPv6 pseudo-header.

    The error path written for ICMPv4 and extended to IPv6 by changing type, code and MTU width: ICMPv4
    has no pseudo-header, ICMPv6 does (RFC 4443 §2.3). The receiver discards the message as corrupt,
    so the sender never lowers its segment size: the IPv4 errors are right, every IPv6 one is lost."""
    return _icmp_replaced(relay(state, seg, now), _NoPseudoHeader)


@dataclass(frozen=True, slots=True)
class _ChecksumBeforeQuote(CraftedIcmp):
    def wire(self) -> bytes:
        raw = bytearray(encode_icmp(self))
        if self.version == 4:  # checksum of the 8-byte ICMP header, computed before the quote was appended
            ihl = (raw[0] & 0x0F) * 4
            raw[ihl + 2:ihl + 4] = b"\x00\x00"
            raw[ihl + 2:ihl + 4] = struct.pack("!H", internet_checksum(bytes(raw[ihl:ihl + 8])))
        return bytes(raw)


@_mutant("icmp-csum-before-quote", "MSS-ICMP")
def icmp_csum_before_quote(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The ICMPv4 checksum is computed over the ICMP header before the quoted datagram is appended,
    and not updated afterwards.

    The header is filled in (type, code, next-hop MTU, checksum) and the quote copied behind it in a
    second step; the checksum must cover both (RFC 792). The sender drops the error as corrupt and
    path MTU discovery stalls (RFC 2923 §2.1's black hole)."""
    return _icmp_replaced(relay(state, seg, now), _ChecksumBeforeQuote)


def _unlimited(state: SpliceState) -> SpliceState:
    return replace(state, client=replace(state.client, peer_mss=0xFFFF), server=replace(state.server, peer_mss=0xFFFF))


@_mutant("icmp-quotes-relayed", "MSS-ICMP")
def icmp_quotes_relayed(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The ICMP error quotes the segment as rewritten for the out leg, not as the sender sent it.

    The in-place splice: addresses, ports, sequence number and options are rewritten in the packet
    buffer first and the size check comes after, so the error quotes the proxy's leg-D addresses and
    the mapped sequence number. The sender cannot match the quote to any connection of its own
    (RFC 1191 §4 has it look up the quoted addresses and ports) and ignores the error."""
    result = relay(state, seg, now)
    if not any(isinstance(e, PacketTooBig) for e in result.emitted):
        return result
    rewritten = relay(_unlimited(state), seg, now).segments
    if not rewritten:
        return result
    return _icmp_replaced(result, quoted=encode(rewritten[0]))


@dataclass(frozen=True, slots=True)
class _ShortQuote(PacketTooBig):
    def quote(self) -> bytes:
        """RFC 792's rule (IP header plus 64 bits of data) applied to ICMPv6 too."""
        if self.version == 4:
            return PacketTooBig.quote(self)
        return self.quoted[:40 + IPV4_QUOTE_EXTRA]


@_mutant("icmp6-short-quote", "MSS-ICMP")
def icmp6_short_quote(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """An ICMPv6 Packet Too Big quotes only the IPv6 header and 8 bytes of the segment, as ICMPv4 does.

    RFC 4443 §2.4(c) asks for as much of the invoking packet as fits in the minimum MTU; the 8-byte
    rule is ICMPv4's (RFC 792). The sender still finds the ports and sequence number, but the
    error carries less than an IPv6 receiver (and anything between) is entitled to expect."""
    return _icmp_replaced(relay(state, seg, now), _ShortQuote)


@_mutant("icmp-from-out-peer", "MSS-ICMP")
def icmp_from_out_peer(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The ICMP error is sent from the out peer's address (the server, for a client segment) instead of
    the proxy's address on the in leg.

    The source is read from the packet's destination address after the relay has rewritten it (the
    ``saddr = iph->daddr`` of an error path run on the already-rewritten buffer), the rest from the
    copy saved before. A sender that checks the error's source against the connection's peer
    rejects it; one that does not is told of a path it never used."""
    result = relay(state, seg, now)
    if result.direction is None:
        return result
    leg_out = state.legs(result.direction)[1]
    return _icmp_replaced(result, src=leg_out.peer.addr)


@_mutant("icmp-ttl-inherited", "MSS-ICMP")
def icmp_ttl_inherited(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The ICMP error's TTL / hop limit is the offending packet's, decremented, instead of a fresh one.

    An error built from the received packet's header by swapping the addresses keeps the TTL field
    the forwarding path has just decremented; an error sent back to a sender 60 hops away then dies
    on the way (RFC 1812 §4.3.2.2 asks for a fresh TTL)."""
    return _icmp_replaced(relay(state, seg, now), ttl=max(seg.ip.hop_limit - 1, 1))


# --------------------------------------------------------------------------------------------------
# Which segments are the splice's (DIR-ONLY)
# --------------------------------------------------------------------------------------------------


def _arrives_any_local_addr(leg: Leg, seg: Segment) -> bool:
    t, ip = seg.tcp, seg.ip
    return t.sport == leg.peer.port and t.dport == leg.local.port and ip.src == leg.peer.addr


@_mutant("dir-any-local-addr", "DIR-ONLY")
def dir_any_local_addr(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """A segment is taken for the splice's whatever its destination address, if the other three elements
    of the leg's 4-tuple match.

    The splice looked up by the listening socket's key: a proxy that listens on the wildcard address
    (``0.0.0.0:port``) matches the local port only, so data for another address of the host (or
    routed to it) from the client's address and port is spliced into the connection — and relayed
    exactly as if it had been sent to the leg's own address (its checksums updated from the address
    it did carry)."""
    if direction_of(state, seg) is None:
        for leg in (state.client, state.server):
            if _arrives_any_local_addr(leg, seg):
                seg = _reseal(seg, Segment(replace(seg.ip, dst=leg.local.addr), seg.tcp, seg.payload))
                break
    return relay(state, seg, now)


# --------------------------------------------------------------------------------------------------
# A checksum wrong on one path only
# --------------------------------------------------------------------------------------------------


def _unclipped_block(left: int, right: int, in_splice_iss: int, out_splice_irs: int, *_: int) -> tuple[bool, int, int]:
    return True, map_ack(left, in_splice_iss, out_splice_irs), map_ack(right, in_splice_iss, out_splice_irs)


@_mutant("csum-clip-stale", "TCPCSUM-VALID")
def csum_clip_stale(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """When a SACK block is clipped at the base, the TCP checksum is the one for the unclipped block.

    The checksum is updated incrementally as each SACK edge is mapped; clipping was added later as a
    separate pass over the blocks that rewrites the left edge (or NOPs out a block) without another
    update. Every segment is right except the rare SACK reaching below the base — where the receiver
    drops the ACK as corrupt."""
    result = relay(state, seg, now)
    if Note.SACK_CLIPPED not in result.notes or direction_of(state, seg) is None:
        return result
    with _swapped(map_sack_block=_unclipped_block):
        stale = relay(state, seg, now).segments
    if len(stale) != 1:
        return result
    stale_seg = stale[0]

    def keep_stale(out: Segment) -> Segment:
        if out.tcp.header_length != stale_seg.tcp.header_length or out.payload != stale_seg.payload:
            return out
        return replace(out, tcp=replace(out.tcp, checksum=stale_seg.tcp.checksum))

    return _patched(result, keep_stale, reseal=False)

