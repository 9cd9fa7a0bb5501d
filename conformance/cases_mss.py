"""Named cases for the MSS (paper §3.4.4): a proxy that does not resegment answers a DF segment larger
than the out peer's MSS with ICMP "fragmentation needed" (IPv6: "packet too big"), so that the sender's
segment size drops to what the out peer accepts; a client without path MTU discovery is told 536.
The data and the TCP options that would leave count against the MSS (RFC 6691 §2): with timestamps on
both legs, 12 option bytes travel with every segment. Over IPv6 no Packet Too Big below 1280 is sent
(RFC 8201 §4 has the receiver ignore it); such a segment is relayed.

MSS-536 is about the proxy's SYN-ACK to the client. The splice state records the MSS each *end host*
announced (``Leg.peer_mss``), not the one the proxy announced, so MSS-536's case here checks the relay
behaviour the 536 tier stands for (see its description); the advertisement itself is checked on the
proxy's handshake packets by ``cases_handshake`` (MSS-536/proxy-advertises-536).
"""

from __future__ import annotations

import time
from dataclasses import replace

from .case import Case, from_client, from_server
from .cases_common import payload, result, spliced_at
from .contract import Adapter, Feature
from .results import CaseResult, FieldDiff
from .runner import execute

BLACKHOLE = "MSS-NO-BLACKHOLE"


def no_blackhole(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
    """Run the case as the runner does and add, per step where the model emits anything (the segment
    relayed, or the ICMP error to its sender), whether the IUT emitted anything at all: an oversized DF
    segment dropped in silence is a path-MTU black hole (MSS-NO-BLACKHOLE; RFC 2923 §2.1). What it
    emitted is judged field by field as usual (MSS-ICMP and the rest)."""
    t0 = time.perf_counter()
    ex = execute(adapter, case)
    checks = [FieldDiff(i, -1, "oversized segment relayed or signalled (not dropped in silence)", True,
                        bool(s.actual_to_client or s.actual_to_server), BLACKHOLE)
              for i, s in enumerate(ex.steps) if s.expected_to_client or s.expected_to_server]
    return result(case, ex.diffs + checks, ex.steps, ex.geometry, t0, seed)


def guarded(c: Case) -> Case:
    """``c`` also targeting MSS-NO-BLACKHOLE, run by :func:`no_blackhole`."""
    return replace(c, reqs=(*c.reqs, BLACKHOLE), execute=no_blackhole)

F = Feature
ICMP = frozenset({F.MSS_ICMP})

SERVER_536 = spliced_at(server_mss=536)
CLIENT_536 = spliced_at(client_mss=536)
SERVER_536_V6 = spliced_at(server_mss=536, family=6)
SERVER_1300_V6 = spliced_at(server_mss=1300, family=6)
TS_OPTION = 12  # NOP NOP Timestamps, on every segment when both legs use timestamps
NO_PMTUD = spliced_at(client_df=False, server_mss=536)

MSS_ICMP_CASES: list[Case] = [
    # -- MSS-ICMP -------------------------------------------------------------------------------------
    Case("MSS-ICMP/c2s-over-server-mss", ("MSS-ICMP",),
         "The server announced MSS 536; the client sends 1000 bytes with DF.",
         "Not relayed; the client gets ICMP fragmentation-needed with next-hop MTU 576 = 536 + 40 "
         "(paper §3.4.4; RFC 1191 §4).",
         lambda st: [from_client(st, 0, payload=payload(1000))], SERVER_536, ICMP),
    Case("MSS-ICMP/s2c-over-client-mss", ("MSS-ICMP",),
         "The client announced MSS 536; the server sends 1000 bytes with DF.",
         "Not relayed; the server gets ICMP fragmentation-needed with MTU 576 (paper §3.4.4).",
         lambda st: [from_server(st, 0, payload=payload(1000))], CLIENT_536, ICMP),
    Case("MSS-ICMP/exactly-mss", ("MSS-ICMP", "PAYLOAD-KEEP"),
         "The server announced MSS 536; the client sends 524 bytes with DF and a Timestamps option "
         "(12 bytes): data plus options exactly 536.",
         "Relayed: the segment fits (paper §3.4.4; RFC 6691 §2 counts the options).",
         lambda st: [from_client(st, 0, payload=payload(536 - TS_OPTION))], SERVER_536, ICMP),
    Case("MSS-ICMP/one-over-mss", ("MSS-ICMP",),
         "The server announced MSS 536; the client sends 525 bytes with DF and a Timestamps option.",
         "Not relayed; ICMP fragmentation-needed, MTU 576 (paper §3.4.4; RFC 6691 §2).",
         lambda st: [from_client(st, 0, payload=payload(537 - TS_OPTION))], SERVER_536, ICMP),
    Case("MSS-ICMP/options-count", ("MSS-ICMP",),
         "The server announced MSS 536; the client sends 530 bytes with DF and a Timestamps option: the data "
         "alone fits, data plus options (542) does not.",
         "Not relayed; ICMP fragmentation-needed, MTU 576: the options count against the MSS (RFC 6691 §2).",
         lambda st: [from_client(st, 0, payload=payload(530))], SERVER_536, ICMP),
    Case("MSS-ICMP/ipv6-packet-too-big", ("MSS-ICMP",),
         "IPv6: the server announced MSS 1300; the client sends 1400 bytes.",
         "Not relayed; the client gets ICMPv6 packet-too-big with MTU 1360 = 1300 + 60 (paper §3.4.4; "
         "RFC 4443 §3.2).",
         lambda st: [from_client(st, 0, payload=payload(1400))], SERVER_1300_V6, ICMP),
    Case("MSS-ICMP/ipv6-below-1280-relayed", ("MSS-ICMP", "PAYLOAD-KEEP"),
         "IPv6: the server announced MSS 536; the client sends 1000 bytes.",
         "Relayed whole, no ICMPv6: a packet-too-big of MTU 596 would be ignored by the client (RFC 8201 "
         "§4: below the IPv6 minimum of 1280), and dropping the segment would black-hole the flow.",
         lambda st: [from_client(st, 0, payload=payload(1000))], SERVER_536_V6, ICMP),
    Case("MSS-ICMP/df-clear-relayed", ("MSS-ICMP", "PAYLOAD-KEEP"),
         "The server announced MSS 536; the client sends 1000 bytes without DF.",
         "Relayed whole: without DF the sender does not do path MTU discovery and ICMP would not help "
         "(paper §3.4.4; RFC 1191).",
         lambda st: [from_client(st, 0, payload=payload(1000), df=False)], SERVER_536, ICMP),
    Case("MSS-ICMP/trimmed-to-fit", ("MSS-ICMP", "TRIM-REST"),
         "The client announced MSS 536; the server sends 600 bytes with DF starting 100 before D.splice_irs.",
         "After the trim 500 bytes (512 with the Timestamps option) remain, which fit: relayed at "
         "C.splice_iss, no ICMP (paper §3.3, §3.4.4).",
         lambda st: [from_server(st, -100, payload=payload(600))], CLIENT_536, ICMP | {F.BELOW_BASE}),
    Case("MSS-ICMP/trimmed-still-too-big", ("MSS-ICMP",),
         "The client announced MSS 536; the server sends 700 bytes with DF starting 100 before D.splice_irs.",
         "600 bytes would remain: not relayed, ICMP to the server (paper §3.4.4).",
         lambda st: [from_server(st, -100, payload=payload(700))], CLIENT_536, ICMP | {F.BELOW_BASE}),
]

CASES: list[Case] = [
    *(guarded(c) for c in MSS_ICMP_CASES),
    # -- MSS-NO-BLACKHOLE -----------------------------------------------------------------------------
    Case("MSS-NO-BLACKHOLE/retransmitted-oversized", (BLACKHOLE, "MSS-ICMP"),
         "The server announced MSS 536; the client sends a 1000-byte DF segment and retransmits it twice, as a "
         "sender that is never told does; then 500 bytes, which fit.",
         "Each oversized copy answered with ICMP fragmentation-needed, MTU 576 (or, at worst, relayed) — never "
         "dropped in silence, the path-MTU black hole of RFC 2923 §2.1 — and the 500 bytes relayed (paper "
         "§3.4.4).",
         lambda st: [from_client(st, 0, payload=payload(1000)) for _ in range(3)]
         + [from_client(st, 0, payload=payload(500))], SERVER_536, ICMP, execute=no_blackhole),
    # -- MSS-536 --------------------------------------------------------------------------------------
    Case("MSS-536/no-pmtud-client-relayed-whole", ("MSS-536",),
         "A client whose SYN lacked DF (no path MTU discovery), a server that announced MSS 536; the client "
         "sends 1000 bytes without DF. Not observable here: the MSS of 536 the proxy should have advertised to "
         "this client (the splice state does not record the proxy's own MSS announcement).",
         "Relayed whole, with no ICMP: for a client without path MTU discovery the proxy relies on the 536 "
         "advertisement, not on ICMP (paper §3.4.4, second tier).",
         lambda st: [from_client(st, 0, payload=payload(1000), df=False)], NO_PMTUD),
]
