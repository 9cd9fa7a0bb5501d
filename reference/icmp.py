"""ICMP and ICMPv6 on the wire: the one encoder and decoder of the suite (pure, ``struct``-based).

* :class:`PacketTooBig` / :func:`encode_icmp`: ICMP "fragmentation needed" / ICMPv6 "packet too big",
  the splice's answer to an oversized segment with DF set (paper §3.4.4; RFC 1191 §4; RFC 4443 §3.2).
* :func:`parse_icmp`, :func:`is_time_exceeded`: an ICMP(v6) message's fields, as the diff engine
  compares them; :func:`quoted_tcp`: the TCP segment an ICMP(v6) error quotes, as the trace checker
  files it.
* :func:`encode_echo`, :func:`is_echo_reply`: the lab's echo requests (readiness probes, fences) and
  the proxy's replies (RFC 792, RFC 4443 §4).

The parsers are total: any byte string, however short or malformed, gives a value or None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .checksum import internet_checksum, ipv4_header_checksum, ones_add, ones_sum
from .segment import addr_text

ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_FRAG_NEEDED = 4
ICMP_ECHO_REQUEST = 8
ICMP6_PACKET_TOO_BIG = 2
ICMP6_ECHO_REQUEST = 128
#: the error types that quote the offending packet
ICMP4_ERRORS = frozenset({3, 11, 12})  # destination unreachable (incl. fragmentation needed), time exceeded, ...
ICMP6_ERRORS = frozenset({1, 2, 3, 4})  # unreachable, packet too big, time exceeded, parameter problem
#: ICMPv6 types that are link housekeeping: MLD query/report/done (130-132), router/neighbour discovery
#: and redirect (133-137), MLDv2 report (143)
ICMP6_HOUSEKEEPING = frozenset({130, 131, 132, 133, 134, 135, 136, 137, 143})
ICMP_TIME_EXCEEDED = {4: 11, 6: 3}  # by IP version: RFC 792 type 11; RFC 4443 §3.3 type 3
PROTO_TCP = 6
PROTO_ICMP = 1
PROTO_ICMPV6 = 58
IPV4_QUOTE_EXTRA = 8  # RFC 792: the original IP header plus the first 64 bits of its data
IPV6_MIN_MTU = 1280  # RFC 4443 §2.4(c): an ICMPv6 error must not exceed the minimum MTU


@dataclass(frozen=True, slots=True)
class PacketTooBig:
    """An ICMP error sent by the proxy to the sender of an oversized segment.

    ``mtu`` is the next-hop MTU: the out peer's MSS plus 40 (IPv4 and TCP headers without options)
    or plus 60 for IPv6, so that the sender's resulting MSS equals the one the out peer accepts
    (requirement MSS-ICMP). ``quoted`` is the offending packet as received.
    """

    src: bytes
    dst: bytes
    mtu: int
    quoted: bytes
    ttl: int = 64

    @property
    def version(self) -> int:
        return 4 if len(self.src) == 4 else 6

    def quote(self) -> bytes:
        """The part of the offending packet that the message carries."""
        if self.version == 4:
            ihl = (self.quoted[0] & 0x0F) * 4 if self.quoted else 0
            return self.quoted[:ihl + IPV4_QUOTE_EXTRA]
        return self.quoted[:IPV6_MIN_MTU - 40 - 8]

    def summary(self) -> str:
        kind = "ICMP frag-needed" if self.version == 4 else "ICMPv6 packet-too-big"
        return f"{addr_text(self.src)} > {addr_text(self.dst)} {kind} mtu {self.mtu}"


def encode_icmp(msg: PacketTooBig) -> bytes:
    """Serialise with valid checksums."""
    quote = msg.quote()
    if msg.version == 4:
        body = struct.pack("!BBHHH", ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0, 0, msg.mtu) + quote
        body = body[:2] + struct.pack("!H", internet_checksum(body)) + body[4:]
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, msg.ttl, PROTO_ICMP, 0,
                           msg.src, msg.dst)
        head = head[:10] + struct.pack("!H", ipv4_header_checksum(head)) + head[12:]
        return head + body
    body = struct.pack("!BBHI", ICMP6_PACKET_TOO_BIG, 0, 0, msg.mtu) + quote
    pseudo = msg.src + msg.dst + struct.pack("!IxxxB", len(body), PROTO_ICMPV6)
    csum = (~ones_add(ones_sum(pseudo), ones_sum(body))) & 0xFFFF
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    head = struct.pack("!IHBB16s16s", 6 << 28, len(body), PROTO_ICMPV6, msg.ttl, msg.src, msg.dst)
    return head + body


# -- decoding ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Icmp:
    """The fields of an ICMP(v6) message that MSS-ICMP is about (``mtu``: the next-hop MTU field of a
    frag-needed / packet-too-big, whatever the bytes say for other types)."""

    src: str
    dst: str
    type: int
    code: int
    mtu: int


def parse_icmp(raw: bytes) -> Icmp | None:
    """An ICMP(v6) message's fields, or None if ``raw`` is not an (untruncated) ICMP packet."""
    if len(raw) >= 28 and raw[0] >> 4 == 4 and raw[9] == PROTO_ICMP:
        ihl = (raw[0] & 0x0F) * 4
        if len(raw) >= ihl + 8:
            return Icmp(addr_text(raw[12:16]), addr_text(raw[16:20]), raw[ihl], raw[ihl + 1],
                        struct.unpack_from("!H", raw, ihl + 6)[0])
    if len(raw) >= 48 and raw[0] >> 4 == 6 and raw[6] == PROTO_ICMPV6:
        return Icmp(addr_text(raw[8:24]), addr_text(raw[24:40]), raw[40], raw[41],
                    struct.unpack_from("!I", raw, 44)[0])
    return None


def is_time_exceeded(raw: bytes) -> bool:
    """An ICMP(v6) time-exceeded message (what a router sends back for an expired TTL, RFC 1812 §5.3.1)."""
    icmp = parse_icmp(raw)
    return icmp is not None and icmp.type == ICMP_TIME_EXCEEDED[raw[0] >> 4]


def quoted_tcp(ip: bytes) -> tuple[bytes, int] | None:
    """The TCP segment an ICMP(v6) error quotes, as (source and destination address and port, packed
    like the trace checker's 4-tuple keys; sequence number); None when ``ip`` is no such error."""
    if not ip:
        return None
    inner = b""
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) << 2
        if ihl >= 20 and len(ip) >= ihl + 8 and ip[9] == PROTO_ICMP and ip[ihl] in ICMP4_ERRORS:
            inner = ip[ihl + 8:]
    elif len(ip) >= 48 and ip[0] >> 4 == 6 and ip[6] == PROTO_ICMPV6 and ip[40] in ICMP6_ERRORS:
        inner = ip[48:]
    if len(inner) >= 28 and inner[0] >> 4 == 4 and inner[9] == PROTO_TCP:
        iihl = (inner[0] & 15) << 2
        if len(inner) >= iihl + 8:
            return inner[12:20] + inner[iihl:iihl + 4], int.from_bytes(inner[iihl + 4:iihl + 8], "big")
    elif len(inner) >= 48 and inner[0] >> 4 == 6 and inner[6] == PROTO_TCP:
        return inner[8:40] + inner[40:44], int.from_bytes(inner[44:48], "big")
    return None


# -- echo (the lab's probes and fences) ---------------------------------------------------------------

ECHO_PAYLOAD = b"splicecheck"


def encode_echo(src: bytes, dst: bytes, ident: int, seq: int = 1, ttl: int = 64) -> bytes:
    """A bare ICMP (IPv4, IP ID = ``ident``) or ICMPv6 echo request, by the length of ``src``."""
    if len(src) == 4:
        icmp = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq) + ECHO_PAYLOAD
        icmp = icmp[:2] + struct.pack("!H", internet_checksum(icmp)) + icmp[4:]
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), ident, 0, ttl, PROTO_ICMP, 0, src, dst)
        return hdr[:10] + struct.pack("!H", internet_checksum(hdr)) + hdr[12:] + icmp
    icmp = struct.pack("!BBHHH", ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + ECHO_PAYLOAD
    pseudo = src + dst + struct.pack("!IxxxB", len(icmp), PROTO_ICMPV6)  # RFC 8200 §8.1
    icmp = icmp[:2] + struct.pack("!H", internet_checksum(pseudo + icmp)) + icmp[4:]
    return struct.pack("!IHBB", 6 << 28, len(icmp), PROTO_ICMPV6, ttl) + src + dst + icmp


def is_echo_reply(data: bytes, ident: int, seq: int | None = None) -> bool:
    """Whether ``data`` is an ICMP (IPv4) echo reply with identifier ``ident`` (and sequence ``seq``,
    else any) behind a 20-byte IPv4 header (the one a Linux kernel answers with: no IP options)."""
    return (len(data) >= 28 and data[0] == 0x45 and data[9] == PROTO_ICMP and data[20] == ICMP_ECHO_REPLY
            and data[24:26] == struct.pack("!H", ident) and (seq is None or data[26:28] == struct.pack("!H", seq)))
