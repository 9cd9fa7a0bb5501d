"""Named cases for the urgent pointer (paper §3.3): an offset from the segment's sequence number, so it
"is not changed during the mapping procedure" — until a trim moves the segment's start. The pointer
designates the octet after the urgent data (RFC 6093 §2): after a trim of t numbers it is reduced by
t (URG-SHIFT), and if the urgent octet itself was chopped URG is cleared and the pointer zeroed
(URG-CLEAR).
"""

from __future__ import annotations

from ..reference.arith import MASK32
from ..reference.segment import ACK, PSH, URG
from .case import Case, from_client, from_server
from .cases_common import FULL, spliced_at
from .contract import Feature

F = Feature
BELOW = frozenset({F.BELOW_BASE})
URGENT = URG | ACK

IRS_TOP = spliced_at(c2s_irs=MASK32, s2c_irs=MASK32)
IRS_ZERO = spliced_at(c2s_irs=0, s2c_irs=0)
OUT_TOP = spliced_at(c2s_iss=MASK32, s2c_iss=MASK32)

CASES: list[Case] = [
    # -- URG-KEEP -------------------------------------------------------------------------------------
    Case("URG-KEEP/c2s-at-base", ("URG-KEEP",),
         "URG|ACK with 10 client bytes at C.splice_irs, urgent pointer 4.",
         "Relayed with URG and pointer 4: it is an offset from seq, which the mapping moves with the data "
         "(paper §3.3).",
         lambda st: [from_client(st, 0, flags=URGENT, urgent=4, payload=b"0123456789")], FULL),
    Case("URG-KEEP/s2c-pointer-65535", ("URG-KEEP",),
         "URG|ACK with 10 server bytes, urgent pointer 65535 (urgent data ends in a later segment).",
         "Relayed with pointer 65535 (paper §3.3; RFC 6093 §2).",
         lambda st: [from_server(st, 50, flags=URGENT, urgent=0xFFFF, payload=b"0123456789")], FULL),
    Case("URG-KEEP/no-urg-nonzero-field", ("URG-KEEP",),
         "Client data without URG whose urgent field holds 0x1234.",
         "The field carries no meaning without URG and is relayed unchanged (paper §3.3; RFC 9293 §3.1).",
         lambda st: [from_client(st, 0, urgent=0x1234, payload=b"no urg")], FULL),
    Case("URG-KEEP/irs-top-nothing-trimmed", ("URG-KEEP",),
         "C.splice_irs = 0xFFFFFFFF: URG|ACK with 6 client bytes at 0xFFFFFFFF, urgent pointer 3 (the urgent "
         "octet lies past the wrap, at 1).",
         "Nothing trimmed: relayed with pointer 3 (paper §3.3).",
         lambda st: [from_client(st, 0, flags=URGENT, urgent=3, payload=b"abcdef")], IRS_TOP),
    Case("URG-KEEP/output-at-top", ("URG-KEEP",),
         "C.splice_iss = 0xFFFFFFFF: URG|PSH|ACK with 4 server bytes at D.splice_irs, urgent pointer 2.",
         "Relayed at 0xFFFFFFFF with pointer 2 (paper §3.3).",
         lambda st: [from_server(st, 0, flags=URGENT | PSH, urgent=2, payload=b"wxyz")], OUT_TOP),
    Case("URG-KEEP/urg-pointer-zero", ("URG-KEEP",),
         "URG|ACK with 5 client bytes, urgent pointer 0 (RFC 6093 §2: no urgent data in this segment).",
         "Nothing trimmed: relayed as it is, URG and 0 (paper §3.3).",
         lambda st: [from_client(st, 10, flags=URGENT, urgent=0, payload=b"zero!")], FULL),
    # -- URG-SHIFT ------------------------------------------------------------------------------------
    Case("URG-SHIFT/straddle-c2s", ("URG-SHIFT", "TRIM-REST"),
         "URG|ACK with 10 client bytes starting 4 before C.splice_irs, urgent pointer 8 (urgent octet at "
         "C.splice_irs + 3).",
         "4 bytes chopped: relayed at D.splice_iss with pointer 4, designating the same octet (paper §3.3; "
         "RFC 6093 §2).",
         lambda st: [from_client(st, -4, flags=URGENT, urgent=8, payload=b"0123456789")], FULL, BELOW),
    Case("URG-SHIFT/first-kept-octet", ("URG-SHIFT", "TRIM-REST"),
         "URG|ACK with 10 server bytes starting 5 before D.splice_irs, urgent pointer 6: the urgent octet is "
         "the first one kept.",
         "Relayed with URG and pointer 1 (paper §3.3; RFC 6093 §2).",
         lambda st: [from_server(st, -5, flags=URGENT, urgent=6, payload=b"0123456789")], FULL, BELOW),
    Case("URG-SHIFT/pointer-65535-across-wrap", ("URG-SHIFT", "TRIM-REST"),
         "D.splice_irs = 0: URG|ACK with 12 server bytes from 0xFFFFFFFA, urgent pointer 65535.",
         "6 numbers chopped: relayed at C.splice_iss with pointer 65529 (paper §3.3).",
         lambda st: [from_server(st, -6, flags=URGENT, urgent=0xFFFF, payload=b"abcdefghijkl")], IRS_ZERO, BELOW),
    Case("URG-SHIFT/irs-top", ("URG-SHIFT", "TRIM-REST"),
         "C.splice_irs = 0xFFFFFFFF: URG|ACK with 8 client bytes from 0xFFFFFFFD, urgent pointer 7.",
         "2 bytes chopped: relayed with pointer 5 (paper §3.3).",
         lambda st: [from_client(st, -2, flags=URGENT, urgent=7, payload=b"abcdefgh")], IRS_TOP, BELOW),
    # -- URG-CLEAR ------------------------------------------------------------------------------------
    Case("URG-CLEAR/urgent-octet-last-trimmed", ("URG-CLEAR", "TRIM-REST"),
         "URG|ACK with 10 client bytes starting 5 before C.splice_irs, urgent pointer 5: the urgent octet "
         "is the last one chopped.",
         "The rest is relayed at D.splice_iss without URG, pointer 0: the urgent data was before the splice "
         "(paper §3.3; RFC 6093 §2).",
         lambda st: [from_client(st, -5, flags=URGENT, urgent=5, payload=b"0123456789")], FULL, BELOW),
    Case("URG-CLEAR/pointer-zero-trimmed", ("URG-CLEAR", "TRIM-REST"),
         "URG|ACK with urgent pointer 0 and 10 server bytes starting 3 before D.splice_irs.",
         "Relayed without URG, pointer 0 (RFC 6093 §2).",
         lambda st: [from_server(st, -3, flags=URGENT, urgent=0, payload=b"0123456789")], FULL, BELOW),
    Case("URG-CLEAR/urgent-octet-well-below", ("URG-CLEAR", "TRIM-REST"),
         "URG|PSH|ACK with 200 client bytes starting 100 before C.splice_irs, urgent pointer 10.",
         "100 bytes relayed without URG, pointer 0, PSH kept (paper §3.3).",
         lambda st: [from_client(st, -100, flags=URGENT | PSH, urgent=10, payload=bytes(200))], FULL, BELOW),
    Case("URG-CLEAR/irs-zero-across-wrap", ("URG-CLEAR", "TRIM-REST"),
         "C.splice_irs = 0: URG|ACK with 12 client bytes from 0xFFFFFFFA, urgent pointer 3 (urgent octet at "
         "0xFFFFFFFC).",
         "Relayed without URG, pointer 0 (paper §3.3).",
         lambda st: [from_client(st, -6, flags=URGENT, urgent=3, payload=b"abcdefghijkl")], IRS_ZERO, BELOW),
]
