"""Named cases for the TCP header outside the sequence space (paper §3.3 "Alter TCP header"): ports,
which segments the splice relays at all, flags, payload, and the TCP checksum — valid when it was,
still wrong when it was wrong (the fail-safe update the paper cites, RFC 1624).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from ..reference.relay import SpliceState, StripStyle, relay
from ..reference.segment import ACK, AE, CWR, ECE, FIN, PSH, RST, URG, Segment, addr
from .alternatives import ECN_UNNEGOTIATED, FOREIGN
from .case import Case, corrupt_tcp_checksum, from_client, from_server
from .cases_common import FULL, corrupt_ip_checksum, payload, result, spliced_at, with_ip, with_tcp
from .contract import Adapter, Feature
from .results import CaseResult
from .runner import execute

F = Feature
V6 = spliced_at(family=6)
CLIENT_TS_ONLY = spliced_at(server_ts=False)
REMOVE = spliced_at(client_ts=True, server_ts=False, strip_style=StripStyle.REMOVE)


def tcp_checksum_corner(st: SpliceState) -> Sequence[Segment]:
    """Client data whose first two payload bytes are chosen so that the *relayed* TCP checksum is
    0x0000 (RFC 1624 §3's corner: RFC 1141's update gives 0xFFFF there). The model relays the segment
    once with those bytes zero to learn the sum of every other word; the bytes pass through unchanged
    (nothing is trimmed), so word = 0xFFFF - sum makes the outgoing sum all ones."""
    tail = b"corner case"
    probe = from_client(st, 0, payload=b"\x00\x00" + tail, flags=ACK | PSH)
    out = relay(st, probe, 0.0).segments[0]
    assert out.tcp.checksum is not None
    rest = (~out.tcp.checksum) & 0xFFFF
    word = (0xFFFF - rest) or 0xFFFF
    return [from_client(st, 0, payload=word.to_bytes(2, "big") + tail, flags=ACK | PSH)]


DROP_OK = "CSUM-CORRUPT-RELAY"


def drop_allowed(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
    """Run the case as the runner does, but credit a missing packet (the corrupt segment dropped, as
    the authors' verify-and-recompute implementation does, paper §3.3) to CSUM-CORRUPT-RELAY (MAY)
    rather than to the primary: only a corrupt segment relayed with a *valid* checksum offends
    CSUM-FAILSAFE."""
    t0 = time.perf_counter()
    ex = execute(adapter, case)
    diffs = [replace(d, req=DROP_OK) if (d.field.endswith(".count") and isinstance(d.expected, int)
                                         and isinstance(d.actual, int) and d.actual < d.expected) else d
             for d in ex.diffs]
    return result(case, diffs, ex.steps, ex.geometry, t0, seed)


def foreign(st: SpliceState, **change: object) -> Segment:
    """Client data with one address or port changed so that it belongs to no leg of the splice."""
    seg = from_client(st, 0, payload=b"not yours", flags=ACK | PSH)
    ip_fields = {k: v for k, v in change.items() if k in ("src", "dst")}
    tcp_fields = {k: v for k, v in change.items() if k in ("sport", "dport")}
    if ip_fields:
        seg = with_ip(seg, **ip_fields)
    return with_tcp(seg, **tcp_fields) if tcp_fields else seg


def server_to_leg_c(st: SpliceState) -> Sequence[Segment]:
    seg = from_server(st, 0, payload=b"wrong leg")
    return [with_tcp(with_ip(seg, dst=st.client.local.addr), dport=st.client.local.port)]


NEEDS_FOREIGN = frozenset({F.FOREIGN_SEGMENT})

CASES: list[Case] = [
    # -- PORT-REWRITE ---------------------------------------------------------------------------------
    Case("PORT-REWRITE/c2s-data", ("PORT-REWRITE",),
         "Data from the client's port to the proxy's leg-C port.",
         "Relayed from the proxy's leg-D port to the server's port (paper §3.3, Alter TCP header).",
         lambda st: [from_client(st, 0, payload=b"p" * 12, flags=ACK | PSH)], FULL),
    Case("PORT-REWRITE/s2c-data", ("PORT-REWRITE",),
         "Data from the server's port to the proxy's leg-D port.",
         "Relayed from the proxy's leg-C port to the client's port (paper §3.3).",
         lambda st: [from_server(st, 0, payload=b"p" * 12, flags=ACK | PSH)], FULL),
    Case("PORT-REWRITE/c2s-rst", ("PORT-REWRITE",),
         "A RST|ACK from the client.",
         "Relayed to the server's port from the proxy's leg-D port (paper §3.3).",
         lambda st: [from_client(st, 0, flags=RST | ACK)], FULL),
    # -- DIR-ONLY -------------------------------------------------------------------------------------
    Case("DIR-ONLY/foreign-source-port", ("DIR-ONLY",),
         "Data from the client's address but another source port (another connection) to the proxy's "
         "leg-C socket.",
         "Not relayed: it arrives on neither leg of the splice (paper §3.3: the four addresses and ports "
         "identify a connection, §3.1).",
         lambda st: [foreign(st, sport=st.client.peer.port ^ 1)], FULL, NEEDS_FOREIGN, alternatives=FOREIGN),
    Case("DIR-ONLY/foreign-source-address", ("DIR-ONLY",),
         "Data from an address that is neither end host's (198.18.0.99), ports as the client's.",
         "Not relayed (paper §3.1, §3.3).",
         lambda st: [foreign(st, src=addr("198.18.0.99"))], FULL, NEEDS_FOREIGN, alternatives=FOREIGN),
    Case("DIR-ONLY/wrong-proxy-port", ("DIR-ONLY",),
         "Data from the client to another port of the proxy's leg-C address.",
         "Not relayed: the splice joins two sockets, not addresses (paper §3.3).",
         lambda st: [foreign(st, dport=st.client.local.port ^ 1)], FULL, NEEDS_FOREIGN, alternatives=FOREIGN),
    Case("DIR-ONLY/client-to-leg-d", ("DIR-ONLY",),
         "Data from the client's address and port sent to the proxy's leg-D socket.",
         "Not relayed: a leg is a pair of sockets, and this pair is neither (paper §3.3).",
         lambda st: [foreign(st, dst=st.server.local.addr, dport=st.server.local.port)], FULL, NEEDS_FOREIGN,
         alternatives=FOREIGN),
    Case("DIR-ONLY/server-to-leg-c", ("DIR-ONLY",),
         "Data from the server's address and port sent to the proxy's leg-C socket.",
         "Not relayed (paper §3.3).",
         server_to_leg_c, FULL, NEEDS_FOREIGN, alternatives=FOREIGN),
    Case("DIR-ONLY/foreign-rst-does-not-close", ("DIR-ONLY", "PAYLOAD-KEEP"),
         "A RST|ACK at C.splice_irs from the client's address but another source port, then client data.",
         "The RST is not relayed and does not end the splice: the data that follows is relayed "
         "(paper §3.3).",
         lambda st: [with_tcp(from_client(st, 0, flags=RST | ACK), sport=st.client.peer.port ^ 1),
                     from_client(st, 0, payload=b"still spliced")], FULL, NEEDS_FOREIGN, alternatives=FOREIGN),
    # -- FLAGS-KEEP -----------------------------------------------------------------------------------
    Case("FLAGS-KEEP/ece-cwr-c2s", ("FLAGS-KEEP", "ECN-PASS"),
         "Client data with ACK|PSH|ECE|CWR; no ECN negotiated.",
         "ACK and PSH relayed unchanged (paper §3.3); ECE and CWR relayed (the model: ECN signalling is end to "
         "end, RFC 3168 §6.1) or cleared towards a server that did not negotiate ECN (clear-ecn).",
         lambda st: [from_client(st, 0, payload=b"ecn", flags=ACK | PSH | ECE | CWR)], FULL,
         alternatives=ECN_UNNEGOTIATED),
    Case("FLAGS-KEEP/ae-s2c", ("FLAGS-KEEP",),
         "Server data with ACK|AE (the former NS bit, accurate ECN).",
         "AE relayed unchanged (paper §3.3).",
         lambda st: [from_server(st, 0, payload=b"ae", flags=ACK | AE)], FULL),
    Case("FLAGS-KEEP/reserved-bits", ("FLAGS-KEEP",),
         "Client data with the three reserved header bits set.",
         "The reserved bits are relayed unchanged (paper §3.3: the splice alters only what it must).",
         lambda st: [with_tcp(from_client(st, 0, payload=b"rsv"), reserved=0b111)], FULL),
    Case("FLAGS-KEEP/fin-psh-s2c", ("FLAGS-KEEP", "SEQ-CTL"),
         "Server data with FIN|PSH|ACK.",
         "Flags relayed unchanged, FIN included (paper §3.3).",
         lambda st: [from_server(st, 0, payload=b"bye", flags=FIN | PSH | ACK)], FULL),
    Case("FLAGS-KEEP/urg-untrimmed-c2s", ("FLAGS-KEEP", "URG-KEEP"),
         "Client data with URG|PSH|ACK, urgent pointer 3, starting at C.splice_irs.",
         "Nothing is trimmed, so URG and the pointer are relayed unchanged (paper §3.3).",
         lambda st: [from_client(st, 0, payload=b"urgent", flags=URG | PSH | ACK, urgent=3)], FULL),
    Case("FLAGS-KEEP/rst-ack-c2s", ("FLAGS-KEEP",),
         "A RST|ACK from the client.",
         "Relayed with RST|ACK (paper §3.3).",
         lambda st: [from_client(st, 0, flags=RST | ACK)], FULL),
    # -- PAYLOAD-KEEP ---------------------------------------------------------------------------------
    Case("PAYLOAD-KEEP/c2s-1-byte", ("PAYLOAD-KEEP",),
         "One byte from the client at C.splice_irs.",
         "Relayed byte for byte (paper §3.3).",
         lambda st: [from_client(st, 0, payload=b"\x00")], FULL),
    Case("PAYLOAD-KEEP/s2c-1400", ("PAYLOAD-KEEP",),
         "1400 bytes from the server at D.splice_irs + 100.",
         "Relayed byte for byte (paper §3.3).",
         lambda st: [from_server(st, 100, payload=payload(1400, 7))], FULL),
    Case("PAYLOAD-KEEP/all-byte-values-c2s", ("PAYLOAD-KEEP", "TCPCSUM-VALID"),
         "256 bytes from the client holding every byte value 0x00..0xFF.",
         "Relayed byte for byte with a valid checksum (paper §3.3).",
         lambda st: [from_client(st, 0, payload=bytes(range(256)))], FULL),
    Case("PAYLOAD-KEEP/odd-length-c2s", ("PAYLOAD-KEEP", "TCPCSUM-VALID"),
         "7 bytes from the client (an odd length: the checksum pads the last word).",
         "Relayed byte for byte with a valid checksum (paper §3.3; RFC 1071 §4.1).",
         lambda st: [from_client(st, 3, payload=b"odd len")], FULL),
    Case("PAYLOAD-KEEP/back-to-back-s2c", ("PAYLOAD-KEEP",),
         "Three consecutive 500-byte server segments from D.splice_irs.",
         "Each relayed byte for byte, in order (paper §3.3).",
         lambda st: [from_server(st, 500 * i, payload=payload(500, i)) for i in range(3)], FULL),
    Case("PAYLOAD-KEEP/ipv6-s2c", ("PAYLOAD-KEEP",),
         "1000 bytes from the server over IPv6.",
         "Relayed byte for byte (paper §3.3).",
         lambda st: [from_server(st, 0, payload=payload(1000, 3))], V6),
    # -- TCPCSUM-VALID --------------------------------------------------------------------------------
    Case("TCPCSUM-VALID/c2s-data", ("TCPCSUM-VALID",),
         "Client data with a valid TCP checksum.",
         "The relayed segment's checksum is valid over the outgoing pseudo-header (paper §3.3; RFC 1624).",
         lambda st: [from_client(st, 0, payload=b"checksum" * 4)], FULL),
    Case("TCPCSUM-VALID/s2c-timestamps-mapped", ("TCPCSUM-VALID",),
         "Server data with a Timestamps option (mapped by the splice).",
         "Valid checksum over the mapped option, seq, ack and addresses (paper §3.3, §3.4.1).",
         lambda st: [from_server(st, 0, payload=b"mapped")], FULL),
    Case("TCPCSUM-VALID/option-stripped", ("TCPCSUM-VALID", "TS-STRIP"),
         "Client data with a Timestamps option on a splice whose server leg has no timestamps.",
         "The option is stripped (NOP-overwritten) and the checksum is valid (paper §3.3, §3.4.1).",
         lambda st: [from_client(st, 0, payload=b"stripped")], CLIENT_TS_ONLY),
    Case("TCPCSUM-VALID/option-removed", ("TCPCSUM-VALID", "TS-STRIP"),
         "As option-stripped, with options stripped by removal (the header shrinks by 12 bytes).",
         "Valid checksum over the shorter header and the new length in the pseudo-header (paper §3.4.1 "
         "footnote 2).",
         lambda st: [from_client(st, 0, payload=b"removed")], REMOVE, frozenset({F.STRIP_REMOVE})),
    Case("TCPCSUM-VALID/odd-trim", ("TCPCSUM-VALID", "TRIM-REST"),
         "Client segment of 11 bytes starting 3 before C.splice_irs (an odd number of bytes is chopped).",
         "The rest is relayed with a valid checksum: the chop shifts the payload across a byte boundary "
         "(paper §3.3; RFC 1071 §2(B)).",
         lambda st: [from_client(st, -3, payload=b"0123456789a")], FULL, frozenset({F.BELOW_BASE})),
    Case("TCPCSUM-VALID/ipv6-c2s", ("TCPCSUM-VALID",),
         "Client data over IPv6.",
         "Valid checksum over the IPv6 pseudo-header (RFC 8200 §8.1).",
         lambda st: [from_client(st, 0, payload=b"six" * 5)], V6),
    Case("TCPCSUM-VALID/checksum-zero-corner", ("TCPCSUM-VALID",),
         "Client data whose first payload word is chosen so that the relayed checksum is 0x0000.",
         "The relayed checksum is exactly 0x0000, the value full recomputation gives; RFC 1141's update "
         "would give 0xFFFF (RFC 1624 §3).",
         tcp_checksum_corner, FULL),
    # -- CSUM-FAILSAFE: never relayed with a valid checksum; dropping it is CSUM-CORRUPT-RELAY (MAY) -------
    Case("CSUM-FAILSAFE/corrupt-c2s", ("CSUM-FAILSAFE", DROP_OK),
         "Client data whose TCP checksum is off by one.",
         "Not relayed with a valid checksum: the model's incremental update keeps it wrong (paper §3.3, "
         "citing RFC 1624's fail-safe update); a drop (the authors' verify-and-recompute) is only INFO.",
         lambda st: [corrupt_tcp_checksum(from_client(st, 0, payload=b"corrupt"))], FULL,
         frozenset({F.BAD_CHECKSUM}), execute=drop_allowed),
    Case("CSUM-FAILSAFE/corrupt-s2c", ("CSUM-FAILSAFE", DROP_OK),
         "Server data whose TCP checksum is off by one.",
         "Not relayed with a valid checksum (paper §3.3; RFC 1624 §1); a drop is only INFO.",
         lambda st: [corrupt_tcp_checksum(from_server(st, 0, payload=b"corrupt"))], FULL,
         frozenset({F.BAD_CHECKSUM}), execute=drop_allowed),
    Case("CSUM-FAILSAFE/corrupt-odd-trim", ("CSUM-FAILSAFE", "TRIM-REST", DROP_OK),
         "A corrupt 11-byte client segment starting 3 before C.splice_irs.",
         "The trimmed rest does not leave with a valid checksum: chopping the prefix does not launder the "
         "error (paper §3.3; RFC 1624 §1); a drop is only INFO.",
         lambda st: [corrupt_tcp_checksum(from_client(st, -3, payload=b"0123456789a"))], FULL,
         frozenset({F.BAD_CHECKSUM, F.BELOW_BASE}), execute=drop_allowed),
    Case("CSUM-FAILSAFE/corrupt-ip-header", ("CSUM-FAILSAFE", DROP_OK),
         "Client data whose IPv4 header checksum is off by one (TCP checksum valid).",
         "Not relayed with a valid header checksum, as a router's incremental TTL update keeps it wrong "
         "(RFC 1624 §1); a drop is only INFO.",
         lambda st: [corrupt_ip_checksum(from_client(st, 0, payload=b"hdr"))], FULL, frozenset({F.BAD_CHECKSUM}),
         execute=drop_allowed),
    Case("CSUM-FAILSAFE/corrupt-ipv6", ("CSUM-FAILSAFE", DROP_OK),
         "IPv6 server data whose TCP checksum is off by one.",
         "Not relayed with a valid checksum (RFC 1624 §1); a drop is only INFO.",
         lambda st: [corrupt_tcp_checksum(from_server(st, 0, payload=b"corrupt6"))], V6,
         frozenset({F.BAD_CHECKSUM}), execute=drop_allowed),
    # -- CSUM-CORRUPT-RELAY ---------------------------------------------------------------------------
    Case("CSUM-CORRUPT-RELAY/relayed-c2s", (DROP_OK, "CSUM-FAILSAFE"),
         "Client data whose TCP checksum is off by one.",
         "The model relays it with the error kept (paper §3.3's fail-safe update, RFC 1624 §1); dropping it, "
         "as the authors' implementation does, is equally legitimate (MAY: INFO).",
         lambda st: [corrupt_tcp_checksum(from_client(st, 0, payload=b"relay me"))], FULL,
         frozenset({F.BAD_CHECKSUM})),
    # -- ECN-PASS -------------------------------------------------------------------------------------
    Case("ECN-PASS/ece-cwr-s2c", ("ECN-PASS",),
         "Server data with ACK|ECE|CWR; neither end host's SYN negotiated ECN (the scenario has no ECN setup).",
         "Two legitimate outcomes: ECE and CWR relayed unchanged (the model; RFC 3168 §6.1), or cleared towards "
         "the client, which did not negotiate ECN (RFC 3168 §6.1.1; the alternative clear-ecn). Either PASSes.",
         lambda st: [from_server(st, 0, payload=b"ecn", flags=ACK | ECE | CWR)], FULL,
         alternatives=ECN_UNNEGOTIATED),
    Case("ECN-PASS/ce-mark-c2s", ("ECN-PASS",),
         "Client data with the ECN field CE (TOS 0x03); no ECN negotiated.",
         "The CE mark relayed unchanged (the model; RFC 3168 §5), or the field cleared towards a server that "
         "did not negotiate ECN (clear-ecn, RFC 3168 §6.1.1). Either PASSes.",
         lambda st: [from_client(st, 0, payload=b"ce", tos=0x03)], FULL, alternatives=ECN_UNNEGOTIATED),
    Case("ECN-PASS/ect1-ipv6-s2c", ("ECN-PASS",),
         "IPv6 server data with traffic class ECT(1); no ECN negotiated.",
         "ECT(1) relayed unchanged (the model; RFC 3168 §5), or cleared (clear-ecn, RFC 3168 §6.1.1). Either "
         "PASSes.",
         lambda st: [from_server(st, 0, payload=b"e6", tos=0x01)], V6, alternatives=ECN_UNNEGOTIATED),
    # -- appended (issue 12): cases a mutant showed missing ------------------------------------------
    Case("DIR-ONLY/foreign-destination-address", ("DIR-ONLY",),
         "Data from the client's address and port to the proxy's leg-C port at another address "
         "(198.18.0.98): only the destination address differs from leg C's 4-tuple.",
         "Not relayed: a splice is keyed on both addresses and both ports, not on the listening port "
         "(paper §3.1, §3.3).",
         lambda st: [foreign(st, dst=addr("198.18.0.98"))], FULL, NEEDS_FOREIGN, alternatives=FOREIGN),
]
