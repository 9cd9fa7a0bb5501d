"""Named cases for the sequence space (paper §3.2–§3.3): seq and ack mapping, the ack field of
segments without ACK, SYN/FIN sequence space, and the distance of exactly 2^31.

Wrap-heavy: the bases sit at 0xFFFFFFFF and 0, segments straddle the wrap on the way in and on the
way out. The in-leg bases (``splice_irs``) are placed through the end hosts' ISNs, which every
scenario controls; the out-leg bases (``splice_iss``) through the proxy's ISNs, which needs
CHOOSE_PROXY_ISN (``Scenario.needs`` adds it).
"""

from __future__ import annotations

from ..reference.arith import MASK32
from ..reference.segment import ACK, FIN, PSH, RST, SYN, Sack
from ..reference.seqspace import HALF
from .case import Case, from_client, from_server
from .cases_common import FULL, focused, payload, spliced_at
from .contract import Feature

F = Feature
BELOW = frozenset({F.BELOW_BASE})

IRS_TOP = spliced_at(c2s_irs=MASK32, s2c_irs=MASK32)  # both in-bases at 0xFFFFFFFF
IRS_ZERO = spliced_at(c2s_irs=0, s2c_irs=0)  # both in-bases at 0
INPUT_WRAPS = spliced_at(c2s_irs=0xFFFF_FFF0, s2c_irs=0xFFFF_FFF8)
OUTPUT_WRAPS = spliced_at(c2s_iss=0xFFFF_FFF8, s2c_iss=MASK32)
CROSSED = spliced_at(c2s_irs=MASK32, c2s_iss=0, s2c_irs=0, s2c_iss=MASK32)  # irs at the top, iss at 0, and back
OK10 = spliced_at(ok_len=10, server_presplice=5, client_presplice=7)
V6 = spliced_at(family=6)

#: Fields whose differences a SEQ-CTL or SEQ-ORDER-HALF case is about (see cases_common.focused).
SEQ_FIELDS = ("SEQ-MAP", "ACK-MAP", "FLAGS-KEEP", "TRIM-REST", "TRIM-BELOW", "TRIM-SOUND", "TRIM-COMPLETE",
              "TRIM-HALF", "PAYLOAD-KEEP")

SEQ_CTL = focused(*SEQ_FIELDS)
HALF_ORDER = focused(*SEQ_FIELDS, "SACK-MAP", "SACK-CLIP")

CASES: list[Case] = [
    # -- SEQ-MAP --------------------------------------------------------------------------------------
    Case("SEQ-MAP/c2s-at-base", ("SEQ-MAP",),
         "10 bytes from the client at C.splice_irs.",
         "Relayed at D.splice_iss: seq - in.splice_irs + out.splice_iss (paper §3.2, §3.3).",
         lambda st: [from_client(st, 0, payload=b"first byte")], FULL),
    Case("SEQ-MAP/s2c-at-base", ("SEQ-MAP",),
         "10 bytes from the server at D.splice_irs: the first byte after the OK message.",
         "Relayed at C.splice_iss (paper §3.2, figure 6).",
         lambda st: [from_server(st, 0, payload=b"first byte")], FULL),
    Case("SEQ-MAP/c2s-offset-100000", ("SEQ-MAP",),
         "Client data 100000 bytes past C.splice_irs.",
         "Relayed at D.splice_iss + 100000 (paper §3.2: splice_irs + N maps to splice_iss + N).",
         lambda st: [from_client(st, 100_000, payload=b"later")], FULL),
    Case("SEQ-MAP/client-irs-ffffffff", ("SEQ-MAP",),
         "C.splice_irs = 0xFFFFFFFF: one byte at 0xFFFFFFFF, then one at 0 (the input wraps between them).",
         "Relayed at D.splice_iss and D.splice_iss + 1: the mapping is modulo 2^32 (paper §3.3).",
         lambda st: [from_client(st, 0, payload=b"A"), from_client(st, 1, payload=b"B")], IRS_TOP),
    Case("SEQ-MAP/client-irs-zero", ("SEQ-MAP",),
         "C.splice_irs = 0 (the client's ISN is 0xFFFFFFFF): data at seq 0.",
         "Relayed at D.splice_iss (paper §3.3).",
         lambda st: [from_client(st, 0, payload=b"zero")], IRS_ZERO),
    Case("SEQ-MAP/server-irs-ffffffff", ("SEQ-MAP",),
         "D.splice_irs = 0xFFFFFFFF: server bytes at 0xFFFFFFFF and at 0.",
         "Relayed at C.splice_iss and C.splice_iss + 1 (paper §3.3).",
         lambda st: [from_server(st, 0, payload=b"A"), from_server(st, 1, payload=b"B")], IRS_TOP),
    Case("SEQ-MAP/server-irs-zero", ("SEQ-MAP",),
         "D.splice_irs = 0: server data at seq 0.",
         "Relayed at C.splice_iss (paper §3.3).",
         lambda st: [from_server(st, 0, payload=b"zero")], IRS_ZERO),
    Case("SEQ-MAP/input-straddles-wrap", ("SEQ-MAP", "PAYLOAD-KEEP"),
         "C.splice_irs = 0xFFFFFFF0; 20 client bytes at C.splice_irs + 10, i.e. 0xFFFFFFFA..0x0000000D.",
         "Relayed whole at D.splice_iss + 10: a segment crossing the wrap is not below the base "
         "(paper §3.3; RFC 9293 §3.4).",
         lambda st: [from_client(st, 10, payload=payload(20))], INPUT_WRAPS),
    Case("SEQ-MAP/output-wraps-c2s", ("SEQ-MAP",),
         "D.splice_iss = 0xFFFFFFF8: client data at C.splice_irs + 4 (8 bytes) and + 12.",
         "Relayed at 0xFFFFFFFC and 4: the mapped sequence numbers wrap (paper §3.3).",
         lambda st: [from_client(st, 4, payload=b"wrapping"), from_client(st, 12, payload=b"wrapped")], OUTPUT_WRAPS),
    Case("SEQ-MAP/output-wraps-s2c", ("SEQ-MAP",),
         "C.splice_iss = 0xFFFFFFFF: server bytes at D.splice_irs and D.splice_irs + 1.",
         "Relayed at 0xFFFFFFFF and 0 (paper §3.3).",
         lambda st: [from_server(st, 0, payload=b"A"), from_server(st, 1, payload=b"B")], OUTPUT_WRAPS),
    Case("SEQ-MAP/irs-top-iss-zero", ("SEQ-MAP", "ACK-MAP"),
         "C.splice_irs = 0xFFFFFFFF with D.splice_iss = 0, and D.splice_irs = 0 with C.splice_iss = "
         "0xFFFFFFFF: data and acks both ways.",
         "Every seq and ack mapped modulo 2^32 (paper §3.3).",
         lambda st: [from_client(st, 0, ack_off=1, payload=b"c2s"), from_server(st, 0, ack_off=3, payload=b"s2c"),
                     from_client(st, 3, ack_off=3)], CROSSED),
    Case("SEQ-MAP/server-rst-mapped", ("SEQ-MAP", "ACK-MAP"),
         "Known bug: a RST|ACK from the backend server at D.splice_irs. Linux SYNPROXY once forwarded a "
         "backend RST with the server's unadjusted sequence number, so the client ignored it and kept the "
         "connection (fixed by 'netfilter: synproxy: fix rst sequence number mismatch', 2019).",
         "The RST's seq is mapped like any other (paper §3.3): it reaches the client at C.splice_iss, inside "
         "its window, and is effective.",
         lambda st: [from_server(st, 0, flags=RST | ACK)], FULL),
    Case("SEQ-MAP/server-rst-after-data", ("SEQ-MAP", "ACK-MAP"),
         "500 bytes from the server, then its RST|ACK at D.splice_irs + 500.",
         "The RST is relayed at C.splice_iss + 500 (paper §3.3).",
         lambda st: [from_server(st, 0, payload=payload(500)), from_server(st, 500, flags=RST | ACK)], FULL),
    Case("SEQ-MAP/far-ahead", ("SEQ-MAP",),
         "Client data at C.splice_irs + 2^31 - 100: the farthest a stream can be from its base and still lie "
         "ahead of it.",
         "Relayed at D.splice_iss + 2^31 - 100 (paper §3.2; RFC 1982 §3.2).",
         lambda st: [from_client(st, HALF - 100, payload=b"far")], FULL),
    Case("SEQ-MAP/interleaved", ("SEQ-MAP", "ACK-MAP"),
         "Alternating client and server data, each acknowledging the other's.",
         "Every seq and ack mapped (paper §3.2).",
         lambda st: [from_client(st, 0, payload=b"q1"), from_server(st, 0, ack_off=2, payload=b"r1"),
                     from_client(st, 2, ack_off=2, payload=b"q2"), from_server(st, 2, ack_off=4, payload=b"r2")], FULL),
    Case("SEQ-MAP/ipv6", ("SEQ-MAP", "ACK-MAP"),
         "IPv6 client and server data.",
         "Mapped as over IPv4 (paper §3.3).",
         lambda st: [from_client(st, 0, payload=b"v6"), from_server(st, 0, ack_off=2, payload=b"v6")], V6),
    # -- ACK-MAP --------------------------------------------------------------------------------------
    Case("ACK-MAP/c2s-pure-ack", ("ACK-MAP",),
         "A pure ACK from the client acknowledging C.splice_iss (everything the proxy sent it).",
         "Relayed with ack D.splice_irs: ack - in.splice_iss + out.splice_irs (paper §3.3).",
         lambda st: [from_client(st, 0)], FULL),
    Case("ACK-MAP/s2c-pure-ack", ("ACK-MAP",),
         "A pure ACK from the server acknowledging D.splice_iss + 300.",
         "Relayed with ack C.splice_irs + 300 (paper §3.3).",
         lambda st: [from_server(st, 0, ack_off=300)], FULL),
    Case("ACK-MAP/c2s-ack-with-data", ("ACK-MAP",),
         "Client data acknowledging C.splice_iss + 5000.",
         "Relayed with ack D.splice_irs + 5000 (paper §3.3).",
         lambda st: [from_client(st, 0, ack_off=5000, payload=b"piggyback")], FULL),
    Case("ACK-MAP/server-irs-wraps", ("ACK-MAP",),
         "D.splice_irs = 0xFFFFFFF8: the client acknowledges C.splice_iss + 0x20.",
         "Relayed with ack 0x18: the mapped ack wraps (paper §3.3).",
         lambda st: [from_client(st, 0, ack_off=0x20)], INPUT_WRAPS),
    Case("ACK-MAP/client-iss-wraps", ("ACK-MAP",),
         "C.splice_iss = 0xFFFFFFFF: the client acknowledges C.splice_iss + 5 (the input ack wrapped).",
         "Relayed with ack D.splice_irs + 5 (paper §3.3).",
         lambda st: [from_client(st, 0, ack_off=5)], OUTPUT_WRAPS),
    Case("ACK-MAP/s2c-ack-wraps", ("ACK-MAP",),
         "C.splice_irs = 0xFFFFFFFF: the server acknowledges D.splice_iss + 4.",
         "Relayed with ack 3 (paper §3.3).",
         lambda st: [from_server(st, 0, ack_off=4)], IRS_TOP),
    Case("ACK-MAP/partial-ack-of-ok-message", ("ACK-MAP", "LIFE-COMPLETE"),
         "Splice with a 10-byte OK message: the client acknowledges only its first 7 bytes (C.splice_iss - 3).",
         "Relayed with ack D.splice_irs - 3: it acknowledges no server data (paper §3, §3.3).",
         lambda st: [from_client(st, 0, ack_off=-3)], OK10),
    Case("ACK-MAP/rst-ack", ("ACK-MAP", "RST-FIELDS"),
         "A RST|ACK from the client acknowledging C.splice_iss + 9.",
         "Relayed (ACK-MAP: a RST not relayed leaves the server's connection open) with ack D.splice_irs + 9 "
         "(paper §3.3; the ack of a RST is RST-FIELDS': its receiver does not read it).",
         lambda st: [from_client(st, 0, ack_off=9, flags=RST | ACK)], FULL),
    # -- ACK-NOACK ------------------------------------------------------------------------------------
    Case("ACK-NOACK/bare-rst-s2c", ("ACK-NOACK", "SEQ-MAP"),
         "Known bug: a RST without ACK from the server, ack field 0x12345678. Linux's old NAT helper "
         "nf_nat_seq_adjust() (net/ipv4/netfilter/nf_nat_helper.c) rewrote ack_seq whatever the ACK flag; "
         "its successor nf_ct_seq_adjust() in nf_conntrack_seqadj.c skips it when !tcph->ack.",
         "The seq is mapped; the ack field, meaningless without ACK, is relayed unchanged (RFC 9293 §3.1: "
         "'if the ACK control bit is set this field contains ...').",
         lambda st: [from_server(st, 0, flags=RST, ack=0x1234_5678)], FULL),
    Case("ACK-NOACK/bare-rst-c2s-ack-zero", ("ACK-NOACK", "SEQ-MAP"),
         "A RST without ACK from the client, ack field 0.",
         "Relayed with ack 0 (RFC 9293 §3.1).",
         lambda st: [from_client(st, 0, flags=RST, ack=0)], FULL),
    Case("ACK-NOACK/bare-rst-ack-field-splice-iss", ("ACK-NOACK",),
         "A RST without ACK from the client whose ack field happens to equal C.splice_iss.",
         "Relayed with the field unchanged, although mapping it would give a plausible-looking D.splice_irs "
         "(RFC 9293 §3.1).",
         lambda st: [from_client(st, 0, flags=RST, ack=st.client.splice_iss)], FULL),
    Case("ACK-NOACK/data-without-ack", ("ACK-NOACK", "SEQ-MAP"),
         "Client data with PSH but not ACK, ack field 0xFFFFFFFF.",
         "The seq is mapped, the ack field relayed unchanged (RFC 9293 §3.1).",
         lambda st: [from_client(st, 0, flags=PSH, ack=MASK32, payload=b"no ack")], FULL),
    Case("ACK-NOACK/fin-without-ack-s2c", ("ACK-NOACK", "SEQ-MAP"),
         "A FIN without ACK from the server, ack field 0x80000000.",
         "Relayed with the ack field unchanged (RFC 9293 §3.1).",
         lambda st: [from_server(st, 0, flags=FIN, ack=HALF)], FULL),
    # -- SEQ-CTL --------------------------------------------------------------------------------------
    Case("SEQ-CTL/fin-with-data-c2s", ("SEQ-CTL",),
         "FIN|ACK with 10 bytes from the client at C.splice_irs.",
         "Relayed at D.splice_iss with FIN: the FIN occupies D.splice_iss + 10 (RFC 9293 §3.4; paper §3.2).",
         lambda st: [from_client(st, 0, flags=FIN | ACK, payload=b"last bytes")], FULL, execute=SEQ_CTL),
    Case("SEQ-CTL/fin-only-s2c", ("SEQ-CTL",),
         "A bare FIN|ACK from the server at D.splice_irs + 40.",
         "Relayed at C.splice_iss + 40 (RFC 9293 §3.4).",
         lambda st: [from_server(st, 40, flags=FIN | ACK)], FULL, execute=SEQ_CTL),
    Case("SEQ-CTL/fin-acked-round-trip", ("SEQ-CTL",),
         "FIN|ACK with 10 bytes from the client; the server acknowledges the FIN (D.splice_iss + 11).",
         "The server's ACK is relayed with ack C.splice_irs + 11: data and FIN count 11 sequence numbers on "
         "both sides of the splice (RFC 9293 §3.4; paper §3.2).",
         lambda st: [from_client(st, 0, flags=FIN | ACK, payload=b"last bytes"), from_server(st, 0, ack_off=11)],
         FULL, execute=SEQ_CTL),
    Case("SEQ-CTL/fin-mapped-to-ffffffff", ("SEQ-CTL",),
         "D.splice_iss = 0xFFFFFFFF: a bare FIN|ACK from the client at C.splice_irs; the server acknowledges "
         "it with ack 0.",
         "The FIN is relayed at 0xFFFFFFFF and the ack of 0 maps to C.splice_irs + 1 (RFC 9293 §3.4).",
         lambda st: [from_client(st, 0, flags=FIN | ACK), from_server(st, 0, ack_off=1)],
         spliced_at(c2s_iss=MASK32), execute=SEQ_CTL),
    Case("SEQ-CTL/syn-fin-round-trip", ("SEQ-CTL",),
         "A segment with SYN|FIN|ACK and 5 bytes from the client at C.splice_irs (SYN, data and FIN: 7 "
         "sequence numbers); the server acknowledges D.splice_iss + 7.",
         "Relayed unchanged but for the mapping; the ack maps to C.splice_irs + 7 (RFC 9293 §3.4).",
         lambda st: [from_client(st, 0, flags=SYN | FIN | ACK, payload=b"syn+f"), from_server(st, 0, ack_off=7)],
         FULL, execute=SEQ_CTL),
    Case("SEQ-CTL/fin-straddling-base", ("SEQ-CTL",),
         "FIN|ACK with 10 bytes from the client starting 4 before C.splice_irs.",
         "6 bytes relayed at D.splice_iss, FIN kept (it lies past the base) (paper §3.3; RFC 9293 §3.4).",
         lambda st: [from_client(st, -4, flags=FIN | ACK, payload=b"0123456789")], FULL, BELOW, execute=SEQ_CTL),
    Case("SEQ-CTL/fin-alone-below-base", ("SEQ-CTL",),
         "A bare FIN|ACK from the server at D.splice_irs - 1 (its FIN precedes the base).",
         "The FIN is trimmed: relayed as a pure ACK at C.splice_iss without FIN (paper §3.3).",
         lambda st: [from_server(st, -1, flags=FIN | ACK)], FULL, BELOW, execute=SEQ_CTL),
    Case("SEQ-CTL/syn-straddling-base", ("SEQ-CTL",),
         "SYN|ACK with 5 bytes from the server at D.splice_irs - 1 (only the SYN precedes the base).",
         "The SYN is trimmed and its flag cleared; the 5 bytes are relayed at C.splice_iss (paper §3.3; "
         "RFC 9293 §3.4).",
         lambda st: [from_server(st, -1, flags=SYN | ACK, payload=b"after")], FULL, BELOW, execute=SEQ_CTL),
    # -- SEQ-ORDER-HALF -------------------------------------------------------------------------------
    Case("SEQ-ORDER-HALF/ack-at-half-c2s", ("SEQ-ORDER-HALF",),
         "Known bug class: a pure ACK from the client acknowledging C.splice_iss + 2^31, exactly half the "
         "sequence space away (Linux before()/after() hold both ways there; RFC 1982 leaves it undefined).",
         "Relayed with ack D.splice_irs + 2^31: the ack mapping is a translation of the circle and makes no "
         "order decision (paper §3.3; RFC 1982 §3.2).",
         lambda st: [from_client(st, 0, ack_off=HALF)], FULL, execute=HALF_ORDER),
    Case("SEQ-ORDER-HALF/ack-at-half-s2c", ("SEQ-ORDER-HALF",),
         "A pure ACK from the server acknowledging D.splice_iss + 2^31.",
         "Relayed with ack C.splice_irs + 2^31 (paper §3.3).",
         lambda st: [from_server(st, 0, ack_off=HALF)], FULL, execute=HALF_ORDER),
    Case("SEQ-ORDER-HALF/seq-at-half-c2s", ("SEQ-ORDER-HALF",),
         "Known bug class: 10 client bytes at exactly C.splice_irs + 2^31. A splice ordering by RFC 1982 finds "
         "them neither before nor after the base and relays them; Linux's before() finds them before it.",
         "They count as below the base (before() holds): no byte is relayed, the segment becomes a pure ACK "
         "at D.splice_iss (RFC 1982 §3.2; Linux include/net/tcp.h before()).",
         lambda st: [from_client(st, HALF, payload=b"0123456789")], FULL, BELOW, execute=HALF_ORDER),
    Case("SEQ-ORDER-HALF/rst-at-half-s2c", ("SEQ-ORDER-HALF",),
         "A RST|ACK from the server at exactly D.splice_irs + 2^31, carrying 1 byte.",
         "It lies below the base and carries RST: dropped, and the splice stays open for the data that "
         "follows at D.splice_irs (RFC 1982 §3.2).",
         lambda st: [from_server(st, HALF, flags=RST | ACK, payload=b"x"), from_server(st, 0, payload=b"open")],
         FULL, BELOW, execute=HALF_ORDER),
    Case("SEQ-ORDER-HALF/seq-just-before-half", ("SEQ-ORDER-HALF",),
         "One client byte at C.splice_irs + 2^31 - 1 (one short of half the space).",
         "It lies ahead of the base: relayed at D.splice_iss + 2^31 - 1 (RFC 1982 §3.2).",
         lambda st: [from_client(st, HALF - 1, payload=b"!")], FULL, execute=HALF_ORDER),
    Case("SEQ-ORDER-HALF/both-at-half-irs-top", ("SEQ-ORDER-HALF",),
         "C.splice_irs = 0xFFFFFFFF: client data at 0x7FFFFFFF (2^31 from the base) acknowledging "
         "C.splice_iss + 2^31.",
         "Below the base: relayed as a pure ACK at D.splice_iss whose ack is D.splice_irs + 2^31 "
         "(RFC 1982 §3.2).",
         lambda st: [from_client(st, HALF, ack_off=HALF, payload=b"half")], IRS_TOP, BELOW, execute=HALF_ORDER),
    Case("SEQ-ORDER-HALF/pure-ack-seq-at-half", ("SEQ-ORDER-HALF",),
         "A zero-length ACK from the client whose seq is C.splice_irs + 2^31.",
         "It occupies no sequence space, so nothing is trimmed: relayed at D.splice_iss + 2^31 (RFC 9293 §3.4).",
         lambda st: [from_client(st, HALF)], FULL, BELOW, execute=HALF_ORDER),
    Case("SEQ-ORDER-HALF/sack-block-at-half", ("SEQ-ORDER-HALF",),
         "Client ACK with SACK blocks [C.splice_iss + 2^31, + 2^31 + 10) and [C.splice_iss + 10, + 20).",
         "The block at half the space counts as below the base and is dropped; the other is mapped "
         "(paper §3.4.3; RFC 1982 §3.2).",
         lambda st: [from_client(st, 0, options=[Sack((((st.client.splice_iss + HALF) & MASK32,
                                                       (st.client.splice_iss + HALF + 10) & MASK32),
                                                      ((st.client.splice_iss + 10) & MASK32,
                                                       (st.client.splice_iss + 20) & MASK32)))])],
         FULL, execute=HALF_ORDER),
]
