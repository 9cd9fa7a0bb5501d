"""Named cases for the catch-all requirements of the exhaustive comparison (``conformance/diff.py``): the
bits of a relayed IP header that no other requirement covers (IP-OTHER), and of an ICMP error its
receiver does not act on (ICMP-OTHER). Every other case checks these bits too, as collateral.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..reference.relay import SpliceState
from ..reference.segment import ACK, PSH, IPv4Header, Segment
from .case import Case, from_client, from_server
from .cases_common import FULL, payload, spliced_at
from .contract import Feature

#: RFC 791 §3.1: bit 0 of the flags is reserved (must be zero); the model relays the flags as received.
IP_RESERVED_FLAG = 0b100


def reserved_flag(st: SpliceState) -> Sequence[Segment]:
    seg = from_client(st, 0, payload=b"evil" * 4, flags=ACK | PSH)
    assert isinstance(seg.ip, IPv4Header)
    return [replace(seg, ip=replace(seg.ip, flags=seg.ip.flags | IP_RESERVED_FLAG, checksum=None))]


CASES: list[Case] = [
    Case("IP-OTHER/c2s-data", ("IP-OTHER",),
         "16 bytes from the client in a plain IPv4 packet.",
         "Relayed not fragmented (MF 0, offset 0), protocol TCP, reserved flag 0 (RFC 791 §3.1).",
         lambda st: [from_client(st, 0, payload=b"o" * 16, flags=ACK | PSH)], FULL),
    Case("IP-OTHER/s2c-ipv6", ("IP-OTHER",),
         "IPv6: 16 bytes from the server.",
         "Relayed with next header TCP and no extension header (RFC 8200 §3).",
         lambda st: [from_server(st, 0, payload=b"o" * 16, flags=ACK | PSH)], spliced_at(family=6)),
    Case("IP-OTHER/reserved-flag-c2s", ("IP-OTHER",),
         "16 bytes from the client with the IPv4 reserved flag set (RFC 791 §3.1).",
         "Relayed with the flags as received: a splice rewrites addresses, not the flags (paper §3.3).",
         reserved_flag, FULL),
    Case("ICMP-OTHER/frag-needed", ("ICMP-OTHER", "MSS-ICMP"),
         "The server announced MSS 536; the client sends 1000 bytes with DF.",
         "ICMP fragmentation-needed to the client; its TOS, IP ID, flags and unused field as the model's "
         "(RFC 792; RFC 1191 §4) or, being the originator's choice, reported as INFO.",
         lambda st: [from_client(st, 0, payload=payload(1000))], spliced_at(server_mss=536),
         frozenset({Feature.MSS_ICMP})),
    Case("ICMP-OTHER/packet-too-big-v6", ("ICMP-OTHER", "MSS-ICMP"),
         "IPv6: the server announced MSS 536; the client sends 1000 bytes.",
         "ICMPv6 packet-too-big to the client; traffic class and flow label as the model's (RFC 4443 §3.2) "
         "or reported as INFO.",
         lambda st: [from_client(st, 0, payload=payload(1000))], spliced_at(server_mss=536, family=6),
         frozenset({Feature.MSS_ICMP})),
]
