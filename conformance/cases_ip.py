"""Named cases for the IP header (paper §3.3 "Alter IP header"): addresses, options, header checksum,
the fields a forwarding path keeps, and TTL / hop limit.

Every segment is built relative to the splice's bases (``conformance.case``); the expectation of each
injection is the reference model's relay output, never a number written here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..reference.relay import SpliceState, relay
from ..reference.segment import ACK, PSH, RST, IPv4Header, Segment
from .case import Case, from_client, from_server
from .cases_common import FULL, spliced_at
from .contract import Feature

F = Feature
V6 = spliced_at(family=6)

#: Record Route (RFC 791 §3.1, type 7): length 11, pointer 4, room for two addresses; then EOL.
RECORD_ROUTE = bytes([7, 11, 4]) + bytes(8) + b"\x00"
#: Internet Timestamp (RFC 791 §3.1, type 68): length 12, pointer 5, two empty slots.
IP_TIMESTAMP = bytes([68, 12, 5, 0]) + bytes(8)
#: Router Alert (RFC 2113, type 148): length 4, value 0.
ROUTER_ALERT = bytes([148, 4, 0, 0])
#: The largest option area: Record Route with nine slots (length 39) and an EOL — 40 bytes.
RECORD_ROUTE_MAX = bytes([7, 39, 4]) + bytes(36) + b"\x00"


def ip_checksum_corner(st: SpliceState) -> Sequence[Segment]:
    """A client segment whose IP ID is chosen so that the *relayed* header's checksum is 0x0000:
    the one's complement corner where an RFC 1141-style update gives 0xFFFF (RFC 1624 §3). The model
    relays the segment once with ID 0 to learn the sum of the other header words; the ID passes
    through unchanged, so ID = 0xFFFF - sum makes the outgoing sum all ones."""
    probe = from_client(st, 0, payload=b"corner", flags=ACK | PSH, ident=0)
    out = relay(st, probe, 0.0).segments[0]
    assert isinstance(out.ip, IPv4Header) and out.ip.checksum is not None
    rest = (~out.ip.checksum) & 0xFFFF
    return [from_client(st, 0, payload=b"corner", flags=ACK | PSH, ident=(0xFFFF - rest) or 0xFFFF)]


CASES: list[Case] = [
    # -- ADDR-REWRITE ---------------------------------------------------------------------------------
    Case("ADDR-REWRITE/c2s-data", ("ADDR-REWRITE",),
         "20 bytes from the client to the proxy's leg-C address.",
         "Relayed from the proxy's leg-D address to the server's (paper §3.3, Alter IP header).",
         lambda st: [from_client(st, 0, payload=b"a" * 20, flags=ACK | PSH)], FULL),
    Case("ADDR-REWRITE/s2c-data", ("ADDR-REWRITE",),
         "20 bytes from the server to the proxy's leg-D address.",
         "Relayed from the proxy's leg-C address to the client's (paper §3.3).",
         lambda st: [from_server(st, 0, payload=b"b" * 20, flags=ACK | PSH)], FULL),
    Case("ADDR-REWRITE/s2c-rst", ("ADDR-REWRITE", "PORT-REWRITE"),
         "A RST|ACK from the server at D.splice_irs.",
         "A RST is a segment like any other: relayed to the client with leg C's addresses (paper §3.3).",
         lambda st: [from_server(st, 0, flags=RST | ACK)], FULL),
    Case("ADDR-REWRITE/ipv6-both-ways", ("ADDR-REWRITE",),
         "IPv6 splice: 10 bytes from the client, then 10 bytes from the server.",
         "Each is relayed with the outgoing leg's IPv6 addresses (paper §3.3; RFC 8200 §3).",
         lambda st: [from_client(st, 0, payload=b"c" * 10), from_server(st, 0, payload=b"s" * 10)], V6),
    # -- IPOPT-STRIP ----------------------------------------------------------------------------------
    Case("IPOPT-STRIP/record-route-c2s", ("IPOPT-STRIP", "IPCSUM-VALID"),
         "Client data in an IPv4 packet carrying a Record Route option (12 option bytes, IHL 8).",
         "Relayed without IP options: IHL 5, total length reduced by 12, header checksum valid (paper §3.3 "
         "'Remove IP options'; RFC 791 §3.1).",
         lambda st: [from_client(st, 0, payload=b"rr" * 8, ip_options=RECORD_ROUTE)], FULL, frozenset({F.IP_OPTIONS})),
    Case("IPOPT-STRIP/timestamp-option-s2c", ("IPOPT-STRIP", "IPCSUM-VALID"),
         "Server data carrying an IPv4 Internet Timestamp option (12 bytes).",
         "Relayed to the client without IP options, lengths and checksum fixed (paper §3.3; RFC 791 §3.1).",
         lambda st: [from_server(st, 0, payload=b"ts" * 8, ip_options=IP_TIMESTAMP)], FULL,
         frozenset({F.IP_OPTIONS})),
    Case("IPOPT-STRIP/max-40-bytes", ("IPOPT-STRIP", "IPCSUM-VALID"),
         "Client data with the largest IPv4 option area, 40 bytes (IHL 15).",
         "Relayed with IHL 5 and total length reduced by 40 (paper §3.3; RFC 791 §3.1).",
         lambda st: [from_client(st, 0, payload=b"m" * 30, ip_options=RECORD_ROUTE_MAX)], FULL,
         frozenset({F.IP_OPTIONS})),
    Case("IPOPT-STRIP/router-alert-pure-ack", ("IPOPT-STRIP",),
         "A pure ACK from the server carrying a Router Alert option (RFC 2113).",
         "Relayed without IP options, even one that asks routers to look at the packet (paper §3.3).",
         lambda st: [from_server(st, 0, ip_options=ROUTER_ALERT)], FULL, frozenset({F.IP_OPTIONS})),
    Case("IPOPT-STRIP/with-trim", ("IPOPT-STRIP", "TRIM-REST", "IPCSUM-VALID"),
         "Client segment with a Record Route option whose 16 data bytes start 6 before C.splice_irs.",
         "Options removed and the prefix chopped: total length shrinks by both, header checksum valid "
         "(paper §3.3).",
         lambda st: [from_client(st, -6, payload=b"0123456789abcdef", ip_options=RECORD_ROUTE)], FULL,
         frozenset({F.IP_OPTIONS, F.BELOW_BASE})),
    # -- IPCSUM-VALID ---------------------------------------------------------------------------------
    Case("IPCSUM-VALID/c2s-data", ("IPCSUM-VALID",),
         "Client data with a valid IPv4 header checksum.",
         "The relayed header (new addresses, TTL - 1) has a valid checksum (paper §3.3 'Update IP header "
         "checksum').",
         lambda st: [from_client(st, 0, payload=b"x" * 33)], FULL),
    Case("IPCSUM-VALID/s2c-extreme-fields", ("IPCSUM-VALID",),
         "Server data with IP ID 0xFFFF, TOS 0xFF and TTL 255.",
         "The relayed header's checksum is valid whatever the field values (paper §3.3; RFC 1624).",
         lambda st: [from_server(st, 0, payload=b"y" * 7, ident=0xFFFF, tos=0xFF, ttl=255)], FULL),
    Case("IPCSUM-VALID/checksum-zero-corner", ("IPCSUM-VALID",),
         "Client data whose IP ID is chosen so that the relayed header's checksum is 0x0000.",
         "The relayed checksum is exactly 0x0000, the value full recomputation gives; an RFC 1141 update "
         "would give 0xFFFF (RFC 1624 §3).",
         ip_checksum_corner, FULL),
    # -- IP-PRESERVE ----------------------------------------------------------------------------------
    Case("IP-PRESERVE/tos-ecn-ce-c2s", ("IP-PRESERVE",),
         "Client data with TOS 0xBB: DSCP EF and ECN CE (congestion experienced).",
         "TOS relayed unchanged, ECN field included: a CE mark must reach the receiver (RFC 3168 §5).",
         lambda st: [from_client(st, 0, payload=b"e" * 10, tos=0xBB)], FULL),
    Case("IP-PRESERVE/tos-ect0-s2c", ("IP-PRESERVE",),
         "Server data with TOS 0x2A: DSCP AF11 and ECT(0).",
         "TOS relayed unchanged (RFC 3168 §5).",
         lambda st: [from_server(st, 0, payload=b"e" * 10, tos=0x2A)], FULL),
    Case("IP-PRESERVE/df-clear", ("IP-PRESERVE",),
         "Client data without DF.",
         "DF stays clear: the splice does not take path MTU discovery on itself (splicecheck; RFC 1191).",
         lambda st: [from_client(st, 0, payload=b"d" * 10, df=False)], FULL),
    Case("IP-PRESERVE/ip-id", ("IP-PRESERVE",),
         "Server data with IP ID 0xBEEF.",
         "The IP ID is relayed unchanged, as on a router's forwarding path (splicecheck).",
         lambda st: [from_server(st, 0, payload=b"i" * 10, ident=0xBEEF)], FULL),
    Case("IP-PRESERVE/ipv6-traffic-class-flow-label", ("IP-PRESERVE",),
         "IPv6 client data with traffic class 0xBB and flow label 0x12345.",
         "Traffic class and flow label relayed unchanged (RFC 3168 §5; RFC 6437 §4).",
         lambda st: [from_client(st, 0, payload=b"f" * 10, tos=0xBB)], V6),
    # -- TTL-DEC --------------------------------------------------------------------------------------
    Case("TTL-DEC/c2s-64", ("TTL-DEC",),
         "Client data with TTL 64.",
         "Relayed with TTL 63 (RFC 1812 §5.3.1).",
         lambda st: [from_client(st, 0, payload=b"t" * 5)], FULL, frozenset({F.TTL})),
    Case("TTL-DEC/s2c-2", ("TTL-DEC",),
         "Server data with TTL 2, the smallest that may be forwarded.",
         "Relayed with TTL 1 (RFC 1812 §5.3.1).",
         lambda st: [from_server(st, 0, payload=b"t" * 5, ttl=2)], FULL, frozenset({F.TTL})),
    Case("TTL-DEC/ttl-255", ("TTL-DEC", "IPCSUM-VALID"),
         "Client data with TTL 255.",
         "Relayed with TTL 254 and a valid header checksum (RFC 1812 §5.3.1).",
         lambda st: [from_client(st, 0, payload=b"t" * 5, ttl=255)], FULL, frozenset({F.TTL})),
    Case("TTL-DEC/ipv6-hop-limit", ("TTL-DEC",),
         "IPv6 server data with hop limit 64.",
         "Relayed with hop limit 63 (RFC 8200 §3).",
         lambda st: [from_server(st, 0, payload=b"h" * 5)], V6, frozenset({F.TTL})),
    # -- TTL-EXPIRE -----------------------------------------------------------------------------------
    Case("TTL-EXPIRE/ttl-1-c2s", ("TTL-EXPIRE",),
         "Client data with TTL 1.",
         "Not relayed: its TTL would reach 0 (RFC 1812 §5.3.1).",
         lambda st: [from_client(st, 0, payload=b"x" * 5, ttl=1)], FULL, frozenset({F.TTL})),
    Case("TTL-EXPIRE/ttl-0-s2c", ("TTL-EXPIRE",),
         "Server data with TTL 0.",
         "Not relayed (RFC 1812 §5.3.1).",
         lambda st: [from_server(st, 0, payload=b"x" * 5, ttl=0)], FULL, frozenset({F.TTL})),
    Case("TTL-EXPIRE/ipv6-hop-limit-1", ("TTL-EXPIRE",),
         "IPv6 client data with hop limit 1.",
         "Not relayed (RFC 8200 §3; RFC 1812 §5.3.1).",
         lambda st: [from_client(st, 0, payload=b"x" * 5, ttl=1)], V6, frozenset({F.TTL})),
    Case("TTL-EXPIRE/expired-rst-does-not-close", ("TTL-EXPIRE", "ADDR-REWRITE"),
         "A RST|ACK from the server with TTL 1, then server data with TTL 64.",
         "The expired RST is not relayed, so the splice is still open and the data is relayed "
         "(RFC 1812 §5.3.1).",
         lambda st: [from_server(st, 0, flags=RST | ACK, ttl=1), from_server(st, 0, payload=b"alive")], FULL,
         frozenset({F.TTL})),
]
