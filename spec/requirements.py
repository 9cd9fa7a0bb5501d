"""The requirement catalogue: every normative statement the reference model implements.

Each requirement has a stable ID (never renumbered; test262 learned why), a level (RFC 2119 MUST,
SHOULD, MAY), its source (paper section, RFC section, or "splicecheck" where the paper is silent and
this project decided), its group and one sentence. ``spec/SPEC.md`` is generated from this table
(``python -m splicecheck.spec.render``) and a test fails when the two disagree.

Levels drive verdicts: a missed MUST is FAIL, a missed SHOULD is NON-STRICT, a missed MAY is INFO.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    level: Level
    group: str
    source: str
    text: str


M, S, Y = Level.MUST, Level.SHOULD, Level.MAY

REQUIREMENTS: tuple[Requirement, ...] = (
    # -- IP header (§3.3 "Alter IP header") ----------------------------------------------------------
    Requirement("ADDR-REWRITE", M, "ip", "paper §3.3",
                "The source and destination addresses of a relayed segment are those of the outgoing connection."),
    Requirement("IPOPT-STRIP", M, "ip", "paper §3.3; RFC 791 §3.1",
                "IPv4 options are removed from a relayed packet, with IHL and total length fixed accordingly."),
    Requirement("IPCSUM-VALID", M, "ip", "paper §3.3; RFC 791 §3.1",
                "A relayed IPv4 packet whose header checksum was valid on arrival leaves with a valid header "
                "checksum."),
    Requirement("IP-PRESERVE", S, "ip", "splicecheck; RFC 3168 §5; RFC 6437 §4",
                "TOS/traffic class (including the ECN field), DF, IP ID and flow label are relayed unchanged."),
    Requirement("TTL-DEC", S, "ip", "splicecheck; RFC 1812 §5.3.1",
                "TTL or hop limit is decremented by one, as on a router's forwarding path."),
    Requirement("TTL-EXPIRE", S, "ip", "splicecheck; RFC 1812 §5.3.1",
                "A packet that arrives with TTL or hop limit of 0 or 1 is not relayed."),
    # -- TCP header (§3.3 "Alter TCP header") ---------------------------------------------------------
    Requirement("PORT-REWRITE", M, "tcp", "paper §3.3",
                "The source and destination ports of a relayed segment are those of the outgoing connection."),
    Requirement("DIR-ONLY", M, "tcp", "paper §3.3",
                "A segment that does not arrive on either leg of the splice is not relayed by it."),
    Requirement("SEQ-MAP", M, "seq", "paper §3.2, §3.3",
                "The sequence number is mapped as seq - in.splice_irs + out.splice_iss, modulo 2^32."),
    Requirement("ACK-MAP", M, "seq", "paper §3.3",
                "With ACK set, the acknowledgment number is mapped as ack - in.splice_iss + out.splice_irs, "
                "modulo 2^32."),
    Requirement("ACK-NOACK", M, "seq", "RFC 9293 §3.1; splicecheck",
                "The acknowledgment field of a segment without ACK (a bare RST, say) is relayed unchanged."),
    Requirement("SEQ-CTL", M, "seq", "RFC 9293 §3.4; paper §3.2",
                "SYN and FIN each occupy one sequence number through the mapping: a relayed FIN's sequence "
                "number is the mapped sequence number plus the data length."),
    Requirement("SEQ-ORDER-HALF", M, "seq", "RFC 1982 §3.2; Linux include/net/tcp.h before()",
                "At a distance of exactly 2^31 the serial order is undefined: before() holds both ways, "
                "RFC 1982 < and > hold neither way."),
    Requirement("FLAGS-KEEP", M, "tcp", "paper §3.3",
                "Flags other than those a trim removes (SYN, FIN, URG, PSH) are relayed unchanged, ECE, CWR, "
                "AE and the reserved bits included."),
    Requirement("PAYLOAD-KEEP", M, "tcp", "paper §3.3",
                "Data at or after in.splice_irs is relayed byte for byte."),
    Requirement("TCPCSUM-VALID", M, "tcp", "paper §3.3; RFC 9293 §3.1; RFC 1624",
                "A segment whose TCP checksum was valid on arrival leaves with a valid checksum over the "
                "outgoing pseudo-header."),
    Requirement("CSUM-FAILSAFE", S, "tcp", "paper §3.3; RFC 1624 §1",
                "A segment whose checksum was wrong on arrival leaves with a wrong checksum: the update is "
                "incremental, never a recomputation that would hide the corruption."),
    # -- trimming (§3.3) -------------------------------------------------------------------------------
    Requirement("TRIM-SOUND", M, "trim", "paper §3.3; RFC 9293 §3.4; RFC 1982 §3.2",
                "No data byte that precedes in.splice_irs in the stream (a retransmission of data the proxy "
                "received before the splice) is relayed; stream order places a sequence number by comparing it "
                "with the furthest point the direction has reached, within 2^31 of it."),
    Requirement("TRIM-COMPLETE", M, "trim", "paper §3.3; RFC 9293 §3.4",
                "No data byte at or after in.splice_irs in the stream is dropped by trimming, however far past "
                "in.splice_irs the direction has got."),
    Requirement("TRIM-REST", M, "trim", "paper §3.3",
                "A segment straddling in.splice_irs is relayed with its prefix chopped, starting exactly at "
                "in.splice_irs (out.splice_iss after mapping)."),
    Requirement("TRIM-BELOW", S, "trim", "paper §3.3; splicecheck",
                "A segment whose sequence space wholly precedes in.splice_irs is relayed as a pure ACK at "
                "in.splice_irs when it carries ACK and no RST, and dropped otherwise."),
    Requirement("TRIM-HALF", M, "trim", "splicecheck; RFC 1982 §3.2; Linux include/net/tcp.h before()",
                "A sequence number exactly 2^31 behind the furthest point a direction has reached counts as "
                "behind it (Linux before()): before anything past in.splice_irs is relayed, a segment starting "
                "exactly 2^31 from in.splice_irs is trimmed whole."),
    Requirement("TRIM-2GIB", M, "trim", "paper §3.3; RFC 9293 §3.4; RFC 7323 §2.3; splicecheck",
                "A direction that has carried 2^31 bytes or more past in.splice_irs keeps relaying untrimmed: "
                "its furthest point advances with every relayed segment ending 1 to 2^30 (a window) beyond it, "
                "and once it is 2^31 past in.splice_irs nothing is trimmed any more."),
    # -- urgent pointer (§3.3) ------------------------------------------------------------------------
    Requirement("URG-KEEP", M, "urgent", "paper §3.3",
                "When nothing is trimmed the urgent pointer is relayed unchanged."),
    Requirement("URG-SHIFT", M, "urgent", "paper §3.3; RFC 6093 §2",
                "When a prefix is trimmed the urgent pointer is reduced by the trimmed amount, so it designates "
                "the same octet."),
    Requirement("URG-CLEAR", M, "urgent", "paper §3.3; RFC 6093 §2",
                "When the urgent octet itself was trimmed, URG is cleared and the urgent pointer set to 0."),
    # -- timestamps (§3.4.1) --------------------------------------------------------------------------
    Requirement("TS-VAL", M, "timestamps", "paper §3.4.1; RFC 7323 §3",
                "Every Timestamps option's TSval is mapped as TSval - in.lastrecv_TS + out.lastsent_TS "
                "when both legs use timestamps."),
    Requirement("TS-ECR", M, "timestamps", "paper §3.4.1; RFC 7323 §3",
                "Every Timestamps option's TSecr is mapped as TSecr - in.lastsent_TS + out.lastrecv_TS "
                "when both legs use timestamps."),
    Requirement("TS-STRIP", M, "timestamps", "paper §3.4.1",
                "Timestamps options are stripped when only one leg, or neither, uses timestamps."),
    Requirement("STRIP-STYLE", Y, "options", "paper §3.4.1 footnote 2",
                "An option is stripped either by overwriting it with NOPs or by removing it (with the NOPs "
                "that aligned it) and re-padding the option list."),
    # -- SACK (§3.4.3) --------------------------------------------------------------------------------
    Requirement("SACK-MAP", M, "sack", "paper §3.4.3; RFC 2018 §3",
                "SACK block edges are mapped like the acknowledgment number when both legs use SACK."),
    Requirement("SACK-CLIP", M, "sack", "paper §3.3, §3.4.3; splicecheck",
                "A SACK block reaching before in.splice_iss is clipped to start there; a block wholly before it "
                "is dropped, and the option with it when no block remains; before means stream order, as for "
                "trimming, in the direction whose data the block acknowledges."),
    Requirement("SACK-STRIP", M, "sack", "paper §3.4.3",
                "SACK options are stripped when only one leg, or neither, uses SACK."),
    # -- window scale (§3.4.2) ------------------------------------------------------------------------
    Requirement("WS-ZERO", S, "window", "paper §3.4.2",
                "The proxy advertises a window scale of 0 to a client that offers window scaling."),
    Requirement("WS-PROPAGATE", S, "window", "paper §3.4.2",
                "The proxy's SYN to the server proposes the client's window scale."),
    Requirement("WS-SAFE", M, "window", "paper §3.4.2; RFC 7323 §2.3",
                "A relayed window never promises more than the sender's real window and never exceeds 16 bits."),
    Requirement("WS-EXACT", S, "window", "paper §3.4.2; RFC 7323 §2.3",
                "The relayed window is the sender's real window rescaled to the receiver's shift, rounded down "
                "and clamped to 65535."),
    Requirement("WS-STRIP", M, "window", "paper §3.4.2; RFC 7323 §2.2",
                "Window Scale options are stripped from relayed segments."),
    # -- MSS (§3.4.4) ---------------------------------------------------------------------------------
    Requirement("MSS-ICMP", M, "mss", "paper §3.4.4; RFC 1191 §4; RFC 4443 §3.2",
                "A segment with DF set whose payload exceeds the outgoing peer's MSS is not relayed; its sender "
                "gets ICMP fragmentation-needed (ICMPv6 packet-too-big) with next-hop MTU = MSS + 40 (IPv6: + 60)."),
    Requirement("MSS-536", S, "mss", "paper §3.4.4",
                "A client whose SYN lacks DF (no path MTU discovery) is advertised an MSS of 536."),
    Requirement("OPT-PASS", S, "options", "paper §3.4",
                "Options the splice neither maps nor strips (MSS, SACK-permitted, unknown kinds) are relayed "
                "unchanged."),
    # -- lifecycle (§3, figures 3, 4, 6, 7) -----------------------------------------------------------
    Requirement("LIFE-DONTACK", M, "lifecycle", "paper §3, figure 4",
                "After INTEND_SPLICE, server data arriving at D is held for the splice, not delivered to the "
                "proxy application."),
    Requirement("LIFE-BASE-S2C", M, "lifecycle", "paper §3.2, figure 6",
                "Server to client: splice_irs is D's rcv_nxt when DONT_ACK took effect; splice_iss is C's "
                "snd_nxt at PRESPLICE plus the OK message length."),
    Requirement("LIFE-BASE-C2S", M, "lifecycle", "paper §3.2, figure 7",
                "Client to server: splice_irs is C's rcv_nxt and splice_iss is D's snd_nxt at PRESPLICE."),
    Requirement("LIFE-RELEASE", M, "lifecycle", "paper §3",
                "Segments held before the splice is made are relayed once the OK message has been written."),
    Requirement("LIFE-COMPLETE", M, "lifecycle", "paper §3",
                "The splice is complete when an ACK covering the whole OK message arrives from the client."),
    Requirement("LIFE-TOTAL", M, "lifecycle", "splicecheck",
                "Every (stage, event) pair of the lifecycle answers a next stage or a defined error."),
    # -- catch-alls of the exhaustive comparison (conformance/diff.py): bits no other rule reads ----------
    Requirement("IP-OTHER", M, "ip", "splicecheck; RFC 791 §3.1; RFC 8200 §3",
                "The bits of a relayed IP header that no other requirement covers (IPv4: the reserved flag, MF, "
                "fragment offset, protocol; IPv6: next header) are relayed as the model relays them."),
    Requirement("ICMP-OTHER", Y, "mss", "splicecheck; RFC 792; RFC 1812 §4.3.2.5; RFC 4443 §2.4",
                "The bits of an ICMP error its receiver does not act on (outer TOS or traffic class, flow label, "
                "IP ID, the reserved and DF flags, IP options, the unused field) may differ from the model's."),
)

BY_ID: dict[str, Requirement] = {r.id: r for r in REQUIREMENTS}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(r.group for r in REQUIREMENTS))


def get(req_id: str) -> Requirement:
    try:
        return BY_ID[req_id]
    except KeyError:
        raise KeyError(f"unknown requirement ID {req_id!r}") from None
