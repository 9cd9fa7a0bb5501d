"""Named cases for trimming below the base (paper §3.3): "the data up to splice_irs is simply chopped
out of the segment and the remainder of the segment relayed", because it "would overwrite the OK
message". Soundness (nothing below the base leaks), completeness (nothing at or after it is lost),
where the remainder starts, what becomes of a segment with nothing left, and the 2^31 distance.

Every case here sends segments below ``splice_irs`` and so needs BELOW_BASE (a stateful firewall in
front of a splice may drop them first), except the TRIM-COMPLETE cases whose segments start at the
base.
"""

from __future__ import annotations

from ..reference.arith import MASK32
from ..reference.segment import ACK, FIN, PSH, RST, SYN, URG
from ..reference.seqspace import HALF
from .case import Case, from_client, from_server
from .cases_common import FULL, focused, payload, spliced_at, stream
from .contract import Feature

F = Feature
BELOW = frozenset({F.BELOW_BASE})

IRS_TOP = spliced_at(c2s_irs=MASK32, s2c_irs=MASK32)
IRS_ZERO = spliced_at(c2s_irs=0, s2c_irs=0)
INPUT_WRAPS = spliced_at(c2s_irs=0xFFFF_FFF0, s2c_irs=0xFFFF_FFF8)
OUT_TOP = spliced_at(c2s_iss=MASK32, s2c_iss=MASK32)
PRESPLICE = spliced_at(client_presplice=20, server_presplice=30, ok_len=10)
V6 = spliced_at(family=6)

#: TRIM-COMPLETE and TRIM-HALF are about why data is (not) trimmed; a difference in these fields is
#: the evidence (see cases_common.focused).
TRIM_FIELDS = ("SEQ-MAP", "PAYLOAD-KEEP", "FLAGS-KEEP", "TRIM-REST", "TRIM-BELOW", "TRIM-SOUND", "TRIM-COMPLETE")
COMPLETE = focused(*TRIM_FIELDS)
AT_HALF = focused(*TRIM_FIELDS)
PAST_2GIB = focused(*TRIM_FIELDS)

CASES: list[Case] = [
    # -- TRIM-REST ------------------------------------------------------------------------------------
    Case("TRIM-REST/straddle-c2s", ("TRIM-REST", "TRIM-SOUND", "TRIM-COMPLETE"),
         "10 client bytes starting 5 before C.splice_irs.",
         "The first 5 are chopped; the other 5 are relayed at D.splice_iss (paper §3.3).",
         lambda st: [from_client(st, -5, payload=b"0123456789")], FULL, BELOW),
    Case("TRIM-REST/straddle-s2c", ("TRIM-REST", "TRIM-SOUND", "TRIM-COMPLETE"),
         "300 server bytes starting 100 before D.splice_irs.",
         "200 bytes relayed at C.splice_iss, right after the OK message (paper §3.3, figure 6).",
         lambda st: [from_server(st, -100, payload=payload(300))], FULL, BELOW),
    Case("TRIM-REST/straddle-by-one", ("TRIM-REST", "TRIM-SOUND", "TRIM-COMPLETE"),
         "10 client bytes starting 1 before C.splice_irs.",
         "9 bytes relayed at D.splice_iss (paper §3.3).",
         lambda st: [from_client(st, -1, payload=b"0123456789")], FULL, BELOW),
    Case("TRIM-REST/leaves-one-byte", ("TRIM-REST", "TRIM-SOUND", "TRIM-COMPLETE"),
         "10 server bytes starting 9 before D.splice_irs.",
         "Only the last byte is relayed, at C.splice_iss (paper §3.3).",
         lambda st: [from_server(st, -9, payload=b"0123456789")], FULL, BELOW),
    Case("TRIM-REST/irs-zero-straddles-wrap", ("TRIM-REST", "TRIM-SOUND", "TRIM-COMPLETE"),
         "C.splice_irs = 0: 12 client bytes from 0xFFFFFFFA, straddling both the wrap and the base.",
         "The 6 bytes before 0 are chopped; 6 are relayed at D.splice_iss (paper §3.3; RFC 9293 §3.4).",
         lambda st: [from_client(st, -6, payload=b"abcdefghijkl")], IRS_ZERO, BELOW),
    Case("TRIM-REST/irs-top-straddle", ("TRIM-REST", "TRIM-SOUND", "TRIM-COMPLETE"),
         "D.splice_irs = 0xFFFFFFFF: 8 server bytes from 0xFFFFFFFC, crossing the wrap after the base.",
         "3 bytes chopped, 5 relayed at C.splice_iss (paper §3.3).",
         lambda st: [from_server(st, -3, payload=b"abcdefgh")], IRS_TOP, BELOW),
    Case("TRIM-REST/output-at-top", ("TRIM-REST", "SEQ-MAP"),
         "D.splice_iss = 0xFFFFFFFF: 6 client bytes starting 2 before C.splice_irs.",
         "4 bytes relayed at 0xFFFFFFFF, the mapped base (paper §3.3).",
         lambda st: [from_client(st, -2, payload=b"abcdef")], OUT_TOP, BELOW),
    Case("TRIM-REST/psh-kept", ("TRIM-REST", "TRIM-SOUND"),
         "PSH|ACK with 8 server bytes starting 3 before D.splice_irs.",
         "The rest is relayed at C.splice_iss with PSH and ACK (paper §3.3).",
         lambda st: [from_server(st, -3, payload=b"pushpush", flags=PSH | ACK)], FULL, BELOW),
    Case("TRIM-REST/ipv6", ("TRIM-REST", "TRIM-SOUND"),
         "IPv6: 10 client bytes starting 4 before C.splice_irs.",
         "6 bytes relayed at D.splice_iss (paper §3.3).",
         lambda st: [from_client(st, -4, payload=b"0123456789")], V6, BELOW),
    # -- TRIM-SOUND -----------------------------------------------------------------------------------
    Case("TRIM-SOUND/retransmit-presplice-c2s", ("TRIM-SOUND", "TRIM-REST"),
         "The client sent 20 bytes to the proxy application before the splice; it retransmits them with 10 new "
         "ones (30 bytes from C.splice_irs - 20).",
         "Only the 10 new bytes reach the server, at D.splice_iss: the 20 were processed by the proxy already "
         "(paper §3.3: 'dropping it is harmless').",
         lambda st: [from_client(st, -20, payload=payload(30))], PRESPLICE, BELOW),
    Case("TRIM-SOUND/ok-message-protected-s2c", ("TRIM-SOUND", "TRIM-REST"),
         "Splice with a 10-byte OK message after 30 server bytes relayed by the application; the server "
         "retransmits those 30 bytes with 5 new ones.",
         "Only the 5 new bytes reach the client, at C.splice_iss, right after the OK message — relaying the 30 "
         "would overwrite the OK message (paper §3.3).",
         lambda st: [from_server(st, -30, payload=payload(35))], PRESPLICE, BELOW),
    Case("TRIM-SOUND/wholly-below", ("TRIM-SOUND", "TRIM-BELOW"),
         "20 client bytes ending 30 before C.splice_irs.",
         "None of them is relayed (paper §3.3).",
         lambda st: [from_client(st, -50, payload=payload(20))], FULL, BELOW),
    Case("TRIM-SOUND/irs-zero-retransmit", ("TRIM-SOUND", "TRIM-REST"),
         "C.splice_irs = 0: 20 client bytes from 0xFFFFFFF0.",
         "The 16 bytes before the wrap are chopped; 4 are relayed at D.splice_iss (paper §3.3).",
         lambda st: [from_client(st, -16, payload=payload(20))], IRS_ZERO, BELOW),
    # -- TRIM-COMPLETE --------------------------------------------------------------------------------
    Case("TRIM-COMPLETE/starts-at-base", ("TRIM-COMPLETE",),
         "1400 client bytes starting exactly at C.splice_irs.",
         "Nothing is trimmed: all 1400 bytes relayed at D.splice_iss (paper §3.3).",
         lambda st: [from_client(st, 0, payload=payload(1400))], FULL, execute=COMPLETE),
    Case("TRIM-COMPLETE/straddle-keeps-every-byte", ("TRIM-COMPLETE", "TRIM-REST"),
         "1400 server bytes starting 1 before D.splice_irs.",
         "Exactly one byte chopped, 1399 relayed (paper §3.3).",
         lambda st: [from_server(st, -1, payload=payload(1400))], FULL, BELOW, execute=COMPLETE),
    Case("TRIM-COMPLETE/irs-top-at-base", ("TRIM-COMPLETE",),
         "C.splice_irs = 0xFFFFFFFF: 5 client bytes at 0xFFFFFFFF (an unsigned comparison would call the "
         "later ones, at 0..3, below the base).",
         "All relayed (paper §3.3; RFC 9293 §3.4).",
         lambda st: [from_client(st, 0, payload=b"12345")], IRS_TOP, execute=COMPLETE),
    Case("TRIM-COMPLETE/irs-zero-at-base", ("TRIM-COMPLETE",),
         "D.splice_irs = 0: 5 server bytes at 0.",
         "All relayed (paper §3.3).",
         lambda st: [from_server(st, 0, payload=b"12345")], IRS_ZERO, execute=COMPLETE),
    Case("TRIM-COMPLETE/input-wraps-after-base", ("TRIM-COMPLETE",),
         "C.splice_irs = 0xFFFFFFF0: 40 client bytes from the base, crossing the wrap.",
         "All 40 relayed (paper §3.3).",
         lambda st: [from_client(st, 0, payload=payload(40))], INPUT_WRAPS, execute=COMPLETE),
    Case("TRIM-COMPLETE/syn-fin-straddle", ("TRIM-COMPLETE", "TRIM-REST"),
         "SYN|FIN|ACK with 8 client bytes at C.splice_irs - 3 (SYN and 2 bytes precede the base).",
         "SYN and 2 bytes trimmed; 6 bytes and the FIN relayed at D.splice_iss (paper §3.3; RFC 9293 §3.4).",
         lambda st: [from_client(st, -3, flags=SYN | FIN | ACK, payload=b"abcdefgh")], FULL, BELOW,
         execute=COMPLETE),
    Case("TRIM-COMPLETE/stream-past-2gib", ("TRIM-COMPLETE",),
         "A client stream that moves past its base in steps of 2^30 - 2^20 until it is 2^31 + 2^30 past it; a "
         "segment at each step.",
         "Fresh data is never trimmed, even once the stream is more than 2^31 past the base: there, lying "
         "'before' the base on the circle means having wrapped, not preceding it (paper §3.3).",
         lambda st: [from_client(st, k * ((1 << 30) - (1 << 20)), payload=b"step") for k in range(4)], FULL,
         execute=COMPLETE),
    # -- TRIM-2GIB ------------------------------------------------------------------------------------
    Case("TRIM-2GIB/saturates-past-2gib", ("TRIM-2GIB",),
         "The client stream advances to 2^31 past C.splice_irs in steps within a window; then client data at "
         "C.splice_irs + 3·2^30 and at C.splice_irs + 2^32 (back on the base after 4 GiB).",
         "Both relayed untrimmed: once a direction has carried 2^31 bytes past its base, nothing precedes the "
         "base any more (splicecheck; RFC 9293 §3.4: old duplicates cannot be 2 GiB old within a window).",
         lambda st: [*stream(st, HALF), from_client(st, 3 << 30, payload=b"3 GiB"),
                     from_client(st, 0, payload=b"4 GiB")], FULL, execute=PAST_2GIB),
    Case("TRIM-2GIB/crossing-2-31", ("TRIM-2GIB",),
         "The server stream advances to 2^31 - 10 past D.splice_irs; then 100 server bytes from there, "
         "crossing 2^31 past the base.",
         "Relayed whole at C.splice_iss + 2^31 - 10 (splicecheck).",
         lambda st: [*stream(st, HALF - 10, server=True), from_server(st, HALF - 10, payload=payload(100))], FULL,
         execute=PAST_2GIB),
    Case("TRIM-WINDOW/jump-beyond-window-does-not-advance", ("TRIM-WINDOW", "TRIM-2GIB"),
         "One client byte 2^30 + 2^20 past C.splice_irs (further ahead than any window), then 10 client bytes "
         "at C.splice_irs + 2^31 + 10.",
         "The first is relayed (it lies ahead) but does not move the furthest point — no receiver could have "
         "allowed it — so the second still precedes the base: a pure ACK at D.splice_iss (splicecheck; "
         "RFC 7323 §2.3).",
         lambda st: [from_client(st, (1 << 30) + (1 << 20), payload=b"!"),
                     from_client(st, HALF + 10, payload=b"0123456789")], FULL, BELOW, execute=PAST_2GIB),
    Case("TRIM-2GIB/retransmission-after-1gib-trimmed", ("TRIM-2GIB",),
         "The client stream advances 2^30 past C.splice_irs; then the client retransmits 50 bytes that end "
         "50 before C.splice_irs (pre-splice data).",
         "Still trimmed: advancing does not make pre-splice data relayable; a pure ACK at D.splice_iss "
         "(paper §3.3; splicecheck).",
         lambda st: [*stream(st, 1 << 30), from_client(st, -100, payload=payload(50))], FULL, BELOW,
         execute=PAST_2GIB),
    Case("TRIM-2GIB/s2c-saturated", ("TRIM-2GIB",),
         "The server stream advances to 2^31 past D.splice_irs; then server data at D.splice_irs + 2^31 + "
         "2^30.",
         "Relayed untrimmed at C.splice_iss + 2^31 + 2^30 (splicecheck).",
         lambda st: [*stream(st, HALF, server=True), from_server(st, HALF + (1 << 30), payload=b"far")], FULL,
         execute=PAST_2GIB),
    # -- TRIM-BELOW -----------------------------------------------------------------------------------
    Case("TRIM-BELOW/wholly-below-ack", ("TRIM-BELOW", "TRIM-SOUND", "ACK-MAP"),
         "ACK with 10 client bytes ending 20 before C.splice_irs, acknowledging C.splice_iss + 7.",
         "Relayed as a pure ACK at D.splice_iss: its ack (D.splice_irs + 7) and window may be news "
         "(paper §3.3; splicecheck).",
         lambda st: [from_client(st, -30, ack_off=7, payload=b"0123456789")], FULL, BELOW),
    Case("TRIM-BELOW/wholly-below-no-ack", ("TRIM-BELOW", "TRIM-SOUND"),
         "PSH without ACK, 10 server bytes ending before D.splice_irs.",
         "Dropped: nothing is left to relay and no ACK to carry (splicecheck).",
         lambda st: [from_server(st, -10, flags=PSH, payload=b"0123456789")], FULL, BELOW),
    Case("TRIM-BELOW/wholly-below-rst", ("TRIM-BELOW", "TRIM-SOUND"),
         "RST|ACK with 4 client bytes below C.splice_irs, then client data at C.splice_irs.",
         "The RST is dropped — a reset from before the splice must not end it — and the data is relayed "
         "(splicecheck).",
         lambda st: [from_client(st, -4, flags=RST | ACK, payload=b"old!"), from_client(st, 0, payload=b"new")],
         FULL, BELOW),
    Case("TRIM-BELOW/ends-exactly-at-base", ("TRIM-BELOW", "TRIM-SOUND"),
         "10 server bytes ending exactly at D.splice_irs.",
         "A pure ACK at C.splice_iss (paper §3.3).",
         lambda st: [from_server(st, -10, payload=b"0123456789")], FULL, BELOW),
    Case("TRIM-BELOW/zero-length-below-mapped", ("TRIM-BELOW", "SEQ-MAP"),
         "A pure ACK from the client with seq C.splice_irs - 100.",
         "It occupies no sequence space, so nothing is trimmed: relayed with seq D.splice_iss - 100 "
         "(RFC 9293 §3.4; splicecheck).",
         lambda st: [from_client(st, -100)], FULL, BELOW),
    Case("TRIM-BELOW/urg-psh-cleared", ("TRIM-BELOW", "URG-CLEAR"),
         "URG|PSH|ACK, urgent pointer 5, 8 client bytes wholly below C.splice_irs.",
         "A pure ACK at D.splice_iss without URG and PSH, urgent pointer 0 (paper §3.3; RFC 6093 §2).",
         lambda st: [from_client(st, -8, flags=URG | PSH | ACK, urgent=5, payload=b"urgently")], FULL, BELOW),
    Case("TRIM-BELOW/irs-zero-below-across-wrap", ("TRIM-BELOW", "TRIM-SOUND"),
         "C.splice_irs = 0: 16 client bytes from 0xFFFFFFF0 to 0xFFFFFFFF.",
         "A pure ACK at D.splice_iss (paper §3.3).",
         lambda st: [from_client(st, -16, payload=payload(16))], IRS_ZERO, BELOW),
    Case("TRIM-BELOW/fin-below-s2c", ("TRIM-BELOW", "TRIM-SOUND"),
         "FIN|ACK with 6 server bytes, FIN included ending exactly at D.splice_irs.",
         "A pure ACK at C.splice_iss without FIN (paper §3.3; RFC 9293 §3.4).",
         lambda st: [from_server(st, -7, flags=FIN | ACK, payload=b"before")], FULL, BELOW),
    # -- TRIM-HALF ------------------------------------------------------------------------------------
    Case("TRIM-HALF/c2s-at-half", ("TRIM-HALF",),
         "10 client bytes at exactly C.splice_irs + 2^31.",
         "None relayed: Linux before() puts them below the base; a pure ACK at D.splice_iss (splicecheck; "
         "RFC 1982 §3.2).",
         lambda st: [from_client(st, HALF, payload=b"0123456789")], FULL, BELOW, execute=AT_HALF),
    Case("TRIM-HALF/s2c-irs-top", ("TRIM-HALF",),
         "D.splice_irs = 0xFFFFFFFF: 10 server bytes at 0x7FFFFFFF.",
         "None relayed; a pure ACK at C.splice_iss (splicecheck; RFC 1982 §3.2).",
         lambda st: [from_server(st, HALF, payload=b"0123456789")], IRS_TOP, BELOW, execute=AT_HALF),
    Case("TRIM-HALF/irs-zero", ("TRIM-HALF",),
         "C.splice_irs = 0: 10 client bytes at 0x80000000.",
         "None relayed; a pure ACK at D.splice_iss (splicecheck).",
         lambda st: [from_client(st, HALF, payload=b"0123456789")], IRS_ZERO, BELOW, execute=AT_HALF),
    Case("TRIM-HALF/one-past-half", ("TRIM-HALF",),
         "10 server bytes at D.splice_irs + 2^31 + 1 (2^31 - 1 before the base).",
         "None relayed; a pure ACK at C.splice_iss (paper §3.3).",
         lambda st: [from_server(st, HALF + 1, payload=b"0123456789")], FULL, BELOW, execute=AT_HALF),
    Case("TRIM-HALF/syn-fin-at-half", ("TRIM-HALF",),
         "SYN|FIN|ACK with 1000 client bytes at C.splice_irs + 2^31.",
         "Everything trimmed, SYN and FIN included: a pure ACK at D.splice_iss (splicecheck; RFC 9293 §3.4).",
         lambda st: [from_client(st, HALF, flags=SYN | FIN | ACK, payload=payload(1000))], FULL, BELOW,
         execute=AT_HALF),
    Case("TRIM-HALF/2-31-behind-furthest-point", ("TRIM-HALF",),
         "The client stream advances 2^30 past C.splice_irs; then 10 client bytes exactly 2^31 behind that "
         "furthest point (2^30 before the base).",
         "They count as behind it (Linux before() at distance 2^31) and so precede the base: none relayed, a "
         "pure ACK at D.splice_iss (splicecheck; RFC 1982 §3.2).",
         lambda st: [*stream(st, 1 << 30), from_client(st, (1 << 30) - HALF, payload=b"0123456789")], FULL,
         BELOW, execute=AT_HALF),
    Case("TRIM-HALF/half-then-base", ("TRIM-HALF",),
         "Client bytes at C.splice_irs + 2^31, then client bytes at C.splice_irs.",
         "The first are not relayed (a pure ACK); the second are, at D.splice_iss (splicecheck).",
         lambda st: [from_client(st, HALF, payload=b"half"), from_client(st, 0, payload=b"base")], FULL, BELOW,
         execute=AT_HALF),
]
