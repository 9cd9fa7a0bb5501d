"""ICMP "fragmentation needed" / ICMPv6 "packet too big" — the splice's answer to an oversized
segment with DF set (paper §3.4.4; RFC 1191 §4; RFC 4443 §3.2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .checksum import internet_checksum, ipv4_header_checksum, ones_add, ones_sum

ICMP_DEST_UNREACH = 3
ICMP_FRAG_NEEDED = 4
ICMP6_PACKET_TOO_BIG = 2
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
        from .segment import addr_text

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
