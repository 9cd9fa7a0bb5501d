"""The requirement catalogue: every normative statement the reference model implements.

Each requirement has a stable ID (never renumbered; test262 learned why), a level (RFC 2119 MUST,
SHOULD, MAY), its source (paper section, RFC section, or "splicecheck" where the paper is silent and
this project decided), its group and one sentence; then its basis — FAITHFUL (the paper says so),
EXTENSION (the paper is silent and an RFC fills the gap) or UPDATED (a later RFC overrides the paper) —
with a rationale that justifies the basis and the level. ``covered`` is False for a requirement no case
tests yet (it is reported NOT-COVERED). ``spec/SPEC.md`` is generated from this table
(``python -m splicecheck.spec.render``) and a test fails when the two disagree.

Levels drive verdicts: a missed MUST is FAIL, a missed SHOULD is NON-STRICT, a missed MAY is INFO. They
are assigned by one rule, :data:`LEVEL_RULE`, stated at the top of SPEC.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


class Basis(StrEnum):
    """Where a requirement comes from (SPEC.md explains each)."""

    FAITHFUL = "FAITHFUL"  # the paper states it (the rationale names the section)
    EXTENSION = "EXTENSION"  # the paper is silent; an RFC (named, with why) fills the gap
    UPDATED = "UPDATED"  # a later RFC overrides the paper: the paper's rule, the RFC's, what the suite requires
    UNSET = ""  # default for positional 5-argument calls; tests reject it in the catalogue


LEVEL_RULE = (
    "MUST only where the paper or an RFC requires the behaviour and a departure from it breaks a connection "
    "(a stall, a reset, a black hole) or corrupts the data the end hosts exchange; SHOULD where a departure "
    "only degrades (performance, congestion signalling, path MTU discovery, diagnostics); MAY where the end "
    "hosts cannot tell a departure apart, where several outcomes are legitimate and the model picks one, or "
    "where the state is unreachable by a legitimate sender."
)


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    level: Level
    group: str
    source: str
    text: str
    basis: Basis = Basis.UNSET
    rationale: str = ""
    covered: bool = True


M, S, Y = Level.MUST, Level.SHOULD, Level.MAY
F, X, U = Basis.FAITHFUL, Basis.EXTENSION, Basis.UPDATED

REQUIREMENTS: tuple[Requirement, ...] = (
    # -- IP header (§3.3 "Alter IP header") ----------------------------------------------------------
    Requirement("ADDR-REWRITE", M, "ip", "paper §3.3",
                "The source and destination addresses of a relayed segment are those of the outgoing connection.",
                F, "§3.3 lists it first under 'Alter IP header'; a packet with the old addresses never reaches "
                "the other end host's connection."),
    Requirement("IPOPT-STRIP", S, "ip", "paper §3.3; RFC 791 §3.1; RFC 7126 §4",
                "IPv4 options are removed from a relayed packet, with IHL and total length fixed accordingly.",
                F, "§3.3 says to remove IP options. SHOULD, not MUST: an option carried across does not break "
                "the connection, though packets with options take slow paths and are often filtered (RFC 7126 "
                "§4); a malformed header after removal is caught by IPCSUM-VALID and the decoder."),
    Requirement("IPCSUM-VALID", M, "ip", "paper §3.3; RFC 791 §3.1",
                "A relayed IPv4 packet whose header checksum was valid on arrival leaves with a valid header "
                "checksum.",
                F, "§3.3 'Update IP header checksum'; a receiver discards a packet whose header checksum is "
                "wrong, so every relayed packet would be lost."),
    Requirement("IP-PRESERVE", S, "ip", "splicecheck; RFC 6437 §4; RFC 1191 §3",
                "TOS/traffic class outside the ECN field, DF, IP ID and flow label are relayed unchanged.",
                X, "The paper alters only addresses, options and checksum, so the rest is relayed as it came. "
                "Changing DF disturbs path MTU discovery (RFC 1191 §3), changing DSCP or the flow label "
                "disturbs QoS and ECMP (RFC 6437 §4): degradation, hence SHOULD. The ECN bits are ECN-PASS."),
    Requirement("TTL-DEC", Y, "ip", "splicecheck; RFC 1812 §5.3.1; RFC 1122 §3.2.1.7",
                "TTL or hop limit is decremented by one, as on a router's forwarding path.",
                X, "The paper is silent. Both legs' packets are addressed to the proxy, which is their end "
                "point, not a router (RFC 1812 §5.3.1 applies to forwarded packets); a splice that sends with "
                "its own TTL, as a host does (RFC 1122 §3.2.1.7), or keeps the arriving one is equally "
                "legitimate and the end hosts cannot tell. The model decrements; MAY."),
    Requirement("TTL-EXPIRE", Y, "ip", "splicecheck; RFC 1812 §5.3.1",
                "A packet that arrives with TTL or hop limit of 0 or 1 is not relayed.",
                X, "Same reasoning as TTL-DEC: a packet addressed to the proxy with TTL 1 has arrived at its "
                "destination, so relaying it is as legitimate as the router-like drop the model chooses "
                "(a time-exceeded back is accepted). The drop only matters to traceroute-like tools; MAY."),
    Requirement("ECN-PASS", Y, "ip", "splicecheck; RFC 3168 §5, §6.1.1; RFC 9768",
                "The ECN field and the ECE and CWR flags are relayed unchanged.",
                X, "The paper predates ECN. ECN is negotiated in the SYN exchange like the §3.4 options (RFC "
                "3168 §6.1.1), so the legs can disagree: relaying unchanged is right when both negotiated "
                "it, clearing ECT/ECE/CWR towards a leg that did not negotiate it is right too (RFC 3168 "
                "§6.1.1 forbids ECT on such a connection). The scenarios' end hosts never negotiate ECN, so "
                "the ECN cases accept both outcomes as PASS (the alternative clear-ecn); anything else (a "
                "half-cleared mark, a CE invented) only disturbs congestion signalling on a connection that "
                "did not ask for it and the end hosts' data is untouched: MAY (INFO)."),
    # -- TCP header (§3.3 "Alter TCP header") ---------------------------------------------------------
    Requirement("PORT-REWRITE", M, "tcp", "paper §3.3",
                "The source and destination ports of a relayed segment are those of the outgoing connection.",
                F, "§3.3 'Change source and destination port numbers'; with the old ports the segment belongs "
                "to no connection of the receiving host."),
    Requirement("DIR-ONLY", M, "tcp", "paper §3.3",
                "A segment that does not arrive on either leg of the splice is not relayed by it.",
                F, "§3.3 relays segments 'received at a spliced socket'; relaying a foreign segment would "
                "inject data into another connection. Such a segment is then the proxy host's, and a host "
                "whose own TCP answers it with a RST (RFC 9293 §3.10.7.1, a segment for no connection) "
                "relays nothing: the cases accept that RST, exactly as RFC 9293 builds it, as the alternative "
                "'host-reset'."),
    Requirement("SEQ-MAP", M, "seq", "paper §3.2, §3.3",
                "The sequence number is mapped as seq - in.splice_irs + out.splice_iss, modulo 2^32.",
                F, "§3.3's first equation (§3.2 chooses the bases); any other value places data at the wrong "
                "stream offset."),
    Requirement("ACK-MAP", M, "seq", "paper §3.3",
                "With ACK set, the acknowledgment number is mapped as ack - in.splice_iss + out.splice_irs, "
                "modulo 2^32.",
                F, "§3.3's second equation; a wrong ack acknowledges data never received (loss) or stalls."),
    Requirement("RST-FIELDS", Y, "tcp", "paper §3.3, §3.4.1-§3.4.2; RFC 9293 §3.10.7.4; RFC 5961 §3; "
                "RFC 7323 §5.2",
                "The acknowledgment number and window of a relayed RST, and the values of its Timestamps and "
                "SACK options, are mapped as any segment's (ACK-MAP, WS-EXACT, WS-SAFE, TS-VAL, TS-ECR, "
                "SACK-MAP).",
                X, "The paper maps every segment's, and the model does; but in the synchronized states a splice "
                "joins, the receiver of a RST acts on its sequence number alone — it resets, or challenges a RST "
                "that is not exactly at RCV.NXT — before any acknowledgment, window or SACK block is read (RFC "
                "9293 §3.10.7.4, second check; RFC 5961 §3), and a RST is acceptable whatever its timestamps "
                "(RFC 7323 §5.2: PAWS rule R1 exempts a RST), so a departure in any of them cannot stall or corrupt "
                "anything and the end hosts cannot tell it apart: MAY. Whether the RST is relayed at all, its "
                "sequence number, and whether an option is stripped or kept, are the other rules' (SEQ-MAP, the "
                "*-STRIP rules and the case's own)."),
    Requirement("ACK-NOACK", Y, "seq", "paper §3.3; RFC 9293 §3.1",
                "The acknowledgment field of a segment without ACK (a bare RST, say) is relayed unchanged.",
                X, "The paper maps the ack field unconditionally (§3.3); RFC 9293 §3.1 gives the field a "
                "meaning only with ACK set, so the receiver ignores it. Mapping it (the paper) and copying it "
                "(the model) are both legitimate and the end hosts cannot tell: MAY."),
    Requirement("SEQ-CTL", M, "seq", "RFC 9293 §3.4; paper §3.2",
                "SYN and FIN each occupy one sequence number through the mapping: a relayed FIN's sequence "
                "number is the mapped sequence number plus the data length.",
                X, "The paper maps data bytes (§3.2); RFC 9293 §3.4 counts SYN and FIN in sequence space. A "
                "FIN placed elsewhere is not accepted or truncates the stream."),
    Requirement("SEQ-ORDER-HALF", Y, "seq", "RFC 1982 §3.2; RFC 7323 §2.3; Linux include/net/tcp.h before()",
                "At a distance of exactly 2^31 the serial order is undefined: before() holds both ways, "
                "RFC 1982 < and > hold neither way.",
                X, "The paper does not discuss wrap-around. RFC 1982 §3.2 leaves this order undefined, and a "
                "legitimate sender never has a segment 2^31 away from the stream's front (windows are at most "
                "2^30, RFC 7323 §2.3): unreachable, so MAY. The model follows Linux before()."),
    Requirement("FLAGS-KEEP", M, "tcp", "paper §3.3",
                "Flags other than those a trim removes (SYN, FIN, URG, PSH) and the ECN flags (ECN-PASS) are "
                "relayed unchanged, AE and the reserved bits included.",
                F, "§3.3 alters only addresses, ports, numbers, options and checksums, so the flags cross "
                "untouched; a changed ACK, RST, SYN or FIN breaks or corrupts the connection."),
    Requirement("PAYLOAD-KEEP", M, "tcp", "paper §3.3",
                "Data at or after in.splice_irs is relayed byte for byte.",
                F, "§3.3 relays the segment with altered headers only; changed data is corrupt data."),
    Requirement("TCPCSUM-VALID", M, "tcp", "paper §3.3; RFC 9293 §3.1; RFC 1624",
                "A segment whose TCP checksum was valid on arrival leaves with a valid checksum over the "
                "outgoing pseudo-header.",
                F, "§3.3 'Update TCP header checksum'; a receiver drops every segment with a wrong checksum "
                "(RFC 9293 §3.1)."),
    Requirement("CSUM-FAILSAFE", M, "tcp", "paper §3.3; RFC 1624 §1; RFC 9293 §3.1",
                "A segment whose checksum was wrong on arrival is never relayed with a valid checksum.",
                F, "§3.3 names two ways, both legitimate: the authors' implementation verifies and recomputes "
                "(a corrupt segment is dropped), the fail-safe incremental update of RFC 1624 carries the error "
                "along. What neither does, and what corrupts data, is to recompute over a corrupt segment and "
                "relay it valid: MUST. Whether it is dropped or relayed is CSUM-CORRUPT-RELAY."),
    Requirement("CSUM-CORRUPT-RELAY", Y, "tcp", "paper §3.3; RFC 1624 §1",
                "A segment whose checksum was wrong on arrival is relayed, with a still-wrong checksum, rather "
                "than dropped.",
                F, "§3.3 offers the incremental update (relays, error kept) and describes the authors' verify-"
                "and-recompute (drops); the receiver drops the corrupt segment either way, so the end hosts "
                "cannot tell: MAY. The model updates incrementally."),
    # -- trimming (§3.3) -------------------------------------------------------------------------------
    Requirement("TRIM-SOUND", M, "trim", "paper §3.3; RFC 9293 §3.4; RFC 1982 §3.2",
                "No data byte that precedes in.splice_irs in the stream (a retransmission of data the proxy "
                "received before the splice) is relayed; stream order places a sequence number by comparing it "
                "with the furthest point the direction has reached, within 2^31 of it.",
                F, "§3.3: data before splice_irs would overwrite the OK message and confuse the client; "
                "corruption, MUST. Stream order (RFC 1982) is how 'before' is read across the wrap."),
    Requirement("TRIM-COMPLETE", M, "trim", "paper §3.3; RFC 9293 §3.4",
                "No data byte at or after in.splice_irs in the stream is dropped by trimming, however far past "
                "in.splice_irs the direction has got.",
                F, "§3.3 chops only 'the data up to splice_irs' and relays 'the remainder'; dropping more "
                "stalls the connection."),
    Requirement("TRIM-REST", M, "trim", "paper §3.3",
                "A segment straddling in.splice_irs is relayed with its prefix chopped, starting exactly at "
                "in.splice_irs (out.splice_iss after mapping).",
                F, "§3.3 'the data up to splice_irs is simply chopped out of the segment and the remainder "
                "of the segment relayed'."),
    Requirement("TRIM-BELOW", S, "trim", "paper §3.3; RFC 9293 §3.10.7.4",
                "A segment whose sequence space wholly precedes in.splice_irs is relayed as a pure ACK at "
                "in.splice_irs when it carries ACK and no RST, and dropped otherwise.",
                X, "§3.3 chops the data; with nothing left the paper is silent. Keeping the acknowledgment "
                "(RFC 9293 §3.10.7.4 processes ACK on any acceptable segment) saves a retransmission; dropping "
                "the whole segment only delays it: SHOULD."),
    Requirement("TRIM-HALF", Y, "trim", "splicecheck; RFC 1982 §3.2; RFC 7323 §2.3; Linux include/net/tcp.h "
                "before()",
                "A sequence number exactly 2^31 behind the furthest point a direction has reached counts as "
                "behind it (Linux before()): before anything past in.splice_irs is relayed, a segment starting "
                "exactly 2^31 from in.splice_irs is trimmed whole.",
                X, "An order RFC 1982 §3.2 leaves undefined, at a distance no legitimate sender reaches "
                "(windows are at most 2^30, RFC 7323 §2.3): unreachable, MAY. The model's choice is Linux's."),
    Requirement("TRIM-2GIB", M, "trim", "paper §3.3; RFC 9293 §3.4; RFC 7323 §2.3",
                "A direction that has carried 2^31 bytes or more past in.splice_irs keeps relaying its new "
                "data untrimmed: the splice never stalls because of the distance from in.splice_irs.",
                X, "The paper's test 'less than splice_irs' is meaningless modulo 2^32 once 2^31 bytes have "
                "passed; a splice that then trims new data stalls the connection, so MUST. This grades the "
                "outcome on a legitimate sender's stream (in-window steps, pre-splice retransmissions still "
                "trimmed); how the model tracks the stream's front is TRIM-WINDOW."),
    Requirement("TRIM-WINDOW", Y, "trim", "splicecheck; RFC 7323 §2.3",
                "The furthest point a direction has reached advances only with relayed segments that end 1 to "
                "2^30 (a maximum window) beyond it; a segment ending further ahead is relayed without moving it.",
                X, "The model's mechanism behind TRIM-2GIB, not the paper's: other mechanisms reach the same "
                "outcome. A segment further ahead than any window (RFC 7323 §2.3) comes from no legitimate "
                "sender, so how a splice treats it is unreachable in practice: MAY."),
    # -- urgent pointer (§3.3) ------------------------------------------------------------------------
    Requirement("URG-KEEP", M, "urgent", "paper §3.3",
                "When nothing is trimmed the urgent pointer is relayed unchanged.",
                F, "§3.3: the pointer is an offset from the sequence number and is not changed by the mapping; "
                "a changed pointer marks the wrong octet urgent (corrupted out-of-band data)."),
    Requirement("URG-SHIFT", M, "urgent", "paper §3.3; RFC 6093 §2",
                "When a prefix is trimmed the urgent pointer is reduced by the trimmed amount, so it designates "
                "the same octet.",
                X, "§3.3 promises 'the complete semantics' of urgent data but does not treat the trimmed "
                "case; as the pointer is an offset from the (now later) sequence number, it must shrink by the "
                "chopped length or it designates another octet (corruption)."),
    Requirement("URG-CLEAR", S, "urgent", "paper §3.3; RFC 6093 §2; RFC 1122 §4.2.2.4",
                "When the urgent octet itself was trimmed, URG is cleared and the urgent pointer set to 0.",
                X, "The paper is silent. Which octet is 'the urgent octet' depends on the reading (RFC 6093 "
                "§2 and RFC 793: the octet before the pointer; RFC 1122 §4.2.2.4: the pointed one), so the "
                "boundary has two legitimate answers, and the pointer of a segment without URG is ignored, so "
                "zeroing it is invisible. A spurious urgent mark degrades a stream that RFC 6093 §4 already "
                "advises against using: SHOULD."),
    # -- timestamps (§3.4.1) --------------------------------------------------------------------------
    Requirement("TS-VAL", M, "timestamps", "paper §3.4.1; RFC 7323 §3",
                "Every Timestamps option's TSval is mapped as TSval - in.lastrecv_TS + out.lastsent_TS "
                "when both legs use timestamps.",
                F, "§3.4.1's first equation; an unmapped TSval jumps backwards for the receiver, whose PAWS "
                "check (RFC 7323 §5) then drops the segments."),
    Requirement("TS-ECR", M, "timestamps", "paper §3.4.1; RFC 7323 §3",
                "Every Timestamps option's TSecr is mapped as TSecr - in.lastsent_TS + out.lastrecv_TS "
                "when both legs use timestamps.",
                F, "§3.4.1's second equation; an end system echoed timestamps it never sent 'could seriously "
                "confuse the round trip time estimator'."),
    Requirement("TS-STRIP", Y, "timestamps", "paper §3.4.1; RFC 7323 §3.2",
                "Timestamps options are stripped when only one leg, or neither, uses timestamps.",
                U, "The paper, written against RFC 1323, strips timestamps when one leg lacks them (§3.4.1). "
                "RFC 7323 §3.2 "
                "(2014): once negotiated, TSopt MUST be sent in every non-RST segment and a receiver SHOULD "
                "drop segments without it, so stripping towards the leg that uses timestamps black-holes a "
                "strict stack. The suite therefore accepts three outcomes, each graded PASS and named in the "
                "evidence: the paper's strip (the model), timestamps supplied towards the leg that uses them "
                "(supply-timestamps, the splice's own clock at or after the last TSval it sent), or refusing "
                "to splice such legs (§3.4's first solution, SPLICE-REFUSE). Other departures concern "
                "options sent to a host that never negotiated timestamps, which RFC 7323 §3.2 has it ignore: "
                "MAY."),
    Requirement("STRIP-STYLE", Y, "options", "paper §3.4.1 footnote 2",
                "An option is stripped either by overwriting it with NOPs or by removing it (with the NOPs "
                "that aligned it) and re-padding the option list.",
                F, "Footnote 2 offers both and calls the choice a trade-off; the end hosts cannot tell: MAY."),
    # -- SACK (§3.4.3) --------------------------------------------------------------------------------
    Requirement("SACK-MAP", M, "sack", "paper §3.4.3; RFC 2018 §3",
                "SACK block edges are mapped like the acknowledgment number when both legs use SACK.",
                F, "§3.4.3 maps the edges 'in the same way as the segment's cumulative ACK field'; unmapped "
                "edges tell the sender that data it never sent arrived, or hide what did."),
    Requirement("SACK-CLIP", S, "sack", "paper §3.4.3; RFC 2883 §4; splicecheck",
                "A SACK block reaching before in.splice_iss is clipped to start there; a block wholly before it "
                "is dropped, and the option with it when no block remains; before means stream order, as for "
                "trimming, in the direction whose data the block acknowledges.",
                X, "The paper maps every edge (§3.4.3) and says nothing of edges before the base. Mapped "
                "as-is, such a block reports data below the receiver's cumulative ack, which RFC 2883 §4 reads "
                "as a duplicate (D-SACK) and may use to undo a congestion response: degradation, not breakage, "
                "so SHOULD; the paper's unclipped mapping is the departure this grades."),
    Requirement("SACK-STRIP", S, "sack", "paper §3.4.3; RFC 2018 §2",
                "SACK options are stripped when only one leg, or neither, uses SACK.",
                F, "§3.4.3 strips SACK when one leg lacks it. Unlike timestamps, a SACK-using receiver loses "
                "nothing when SACK is absent from some segments, and a host that did not negotiate SACK "
                "ignores a stray option (RFC 2018 §2 forbids only sending it): the departure degrades at "
                "most, SHOULD. Refusing to splice (SPLICE-REFUSE) is also legitimate."),
    # -- window scale (§3.4.2) ------------------------------------------------------------------------
    Requirement("WS-ZERO", S, "window", "paper §3.4.2",
                "The proxy advertises a window scale of 0 to a client that offers window scaling.",
                F, "§3.4.2's choice; another shift works if the relay rescales (WS-SAFE, WS-EXACT), so a "
                "departure costs at most window size: SHOULD."),
    Requirement("WS-PROPAGATE", S, "window", "paper §3.4.2",
                "The proxy's SYN to the server proposes the client's window scale.",
                F, "§3.4.2's choice; without it the server cannot use the client's large window: "
                "throughput, SHOULD."),
    Requirement("WS-SAFE", M, "window", "paper §3.4.2; RFC 7323 §2.3",
                "A relayed window never promises more than the sender's real window and never exceeds 16 bits.",
                F, "§3.4.2 'the proxy must unscale'; a window larger than the receiver's real one lets the "
                "sender overrun it (data dropped, RFC 7323 §2.3)."),
    Requirement("WS-EXACT", M, "window", "paper §3.4.2; RFC 7323 §2.3",
                "The relayed window is the sender's real window rescaled to the receiver's shift, rounded down "
                "and clamped to 65535; the window of a SYN is neither scaled by its sender nor read scaled by "
                "its receiver.",
                F, "§3.4.2 says the proxy 'must unscale'. Rounding down and clamping is the only value that "
                "is safe (WS-SAFE) and does not shrink the offer; a shortcut such as keeping the low 16 bits "
                "can advertise a zero window for an open one and stall the connection: MUST. A segment with "
                "SYN carries its window unscaled both ways (RFC 7323 §2.2)."),
    Requirement("WS-STRIP", Y, "window", "paper §3.4.2; RFC 7323 §2.2",
                "Window Scale options are stripped from relayed segments.",
                F, "§3.4.2 says the proxy 'must strip' a later Window Scale option, yet RFC 7323 §2.2 has a "
                "receiver ignore one outside a SYN (and forbids sending it), so the end hosts cannot tell: MAY."),
    # -- MSS (§3.4.4) ---------------------------------------------------------------------------------
    Requirement("MSS-ICMP", S, "mss", "paper §3.4.4; RFC 1191 §4; RFC 4443 §3.2; RFC 8201 §4; RFC 6691 §2",
                "A segment with DF set whose payload plus TCP options exceeds the outgoing peer's MSS is not "
                "relayed; its sender gets ICMP fragmentation-needed (ICMPv6 packet-too-big) with next-hop MTU "
                "= MSS + 40 (IPv6: + 60) — except over IPv6 when that MTU is below 1280, where it is relayed.",
                U, "§3.4.4 says the proxy 'can' send the ICMP error: a permission, and a relayed oversized "
                "segment usually still arrives, so SHOULD. Two later RFCs refine it: RFC 6691 §2 counts TCP "
                "options against the MSS, and RFC 8201 §4 has IPv6 hosts ignore a Packet Too Big below "
                "1280, so the model sends none there and relays instead (a drop would black-hole). Dropping "
                "the segment without the ICMP error is not a lesser departure from this one but a black hole, "
                "graded MUST by MSS-NO-BLACKHOLE."),
    Requirement("MSS-NO-BLACKHOLE", M, "mss", "paper §3.4.4; RFC 2923 §2.1; RFC 1191 §4; RFC 8201 §4",
                "A DF segment that exceeds the outgoing peer's MSS is either relayed or answered with the ICMP "
                "error of MSS-ICMP: it is never dropped in silence.",
                X, "§3.4.4 has the proxy tell the sender with ICMP; it does not consider dropping without it. A "
                "silent drop is the path-MTU black hole of RFC 2923 §2.1: the sender, never told, retransmits the "
                "same oversized segment until it gives up, so the connection stalls. By the level rule a stall "
                "is a break: MUST, where relaying the segment unannounced (MSS-ICMP's departure) only risks "
                "fragmentation or a drop further on, which a router's own ICMP reports: SHOULD. Graded on every "
                "MSS-ICMP case: a step whose oversized input the model relays or answers, and after which the "
                "IUT emitted nothing on either leg, is a black hole."),
    Requirement("MSS-536", S, "mss", "paper §3.4.4; RFC 9293 §3.7.1",
                "A client whose SYN lacks DF (no path MTU discovery) is advertised an MSS of 536.",
                F, "§3.4.4's fallback, the default of RFC 9293 §3.7.1; a larger MSS without PMTUD risks "
                "fragmentation: degradation, SHOULD. Checked on the proxy's SYN-ACK where the adapter reports its "
                "handshake packets (MSS-536/proxy-advertises-536, and the trace checker on every connection)."),
    Requirement("OPT-PASS", S, "options", "paper §3.4",
                "Options the splice neither maps nor strips (MSS, SACK-permitted, unknown kinds) are relayed "
                "unchanged.",
                F, "§3.4 maps or strips the options it knows and is silent on the rest; relaying them is "
                "end-to-end. An unknown option is ignored by the receiver, so loss degrades at most: SHOULD."),
    Requirement("SPLICE-REFUSE", Y, "options", "paper §3.4",
                "A splice may decline to splice legs that negotiated incompatible options (timestamps, SACK, "
                "ECN, window scale), leaving the proxy to relay through application space.",
                F, "§3.4's first solution; the end hosts see an ordinary proxy, so MAY. An adapter reports a "
                "refusal by raising SpliceRefused from open: on legs that disagree on timestamps, SACK or window "
                "scaling it is the legitimate alternative 'refuse' (PASS, named in the evidence), on legs that "
                "agree it is graded against the case's primary requirement."),
    # -- the proxy's own handshake packets (§3.4) -----------------------------------------------------
    Requirement("HS-SYN-OPTIONS", S, "handshake", "paper §3.4, §3.4.1, §3.4.3; RFC 7323 §3.2; RFC 2018 §2",
                "The proxy's SYN to the server offers timestamps and SACK-permitted whenever the client's SYN "
                "offered them.",
                F, "§3.4: the proxy 'must either negotiate compatible options on both connections, or have a way to "
                "convert'; §3.4.1 'can safely negotiate to use the Timestamp option on any connections it creates' "
                "and §3.4.3 treats SACK alike, so proposing them to the server lets the splice map them (window "
                "scale is WS-PROPAGATE). A SYN without them leaves the legs disagreeing, and the splice must strip "
                "(TS-STRIP, SACK-STRIP) or refuse (SPLICE-REFUSE): degraded, not broken, so SHOULD."),
    Requirement("HS-CLIENT-ADVERT", S, "handshake", "paper §3.4; RFC 7323 §2.2, §3.2; RFC 2018 §2",
                "The proxy's SYN-ACK to the client offers window scaling, SACK-permitted and timestamps only where "
                "the client's SYN offered them.",
                X, "§3.4 has the proxy negotiate the client's options before it knows the server, promising only "
                "what it can map later; the paper does not spell out the answer's rules, which RFC 7323 §2.2, §3.2 "
                "and RFC 2018 §2 give: an option is in effect only if both SYNs carried it, and a SYN-ACK carries "
                "Window Scale or Timestamps only in answer to the client's. A stack that acts on an unsolicited "
                "window scale reads the proxy's windows at the wrong scale and overruns it (drops and "
                "retransmissions); most ignore the extra option: degraded at worst, SHOULD."),
    Requirement("HS-SYNACK-TSECR", M, "handshake", "RFC 7323 §3.2, §4.3; paper §3.4.1",
                "When the client's SYN carries timestamps and the proxy's SYN-ACK answers with a Timestamps option, "
                "its TSecr is the client SYN's TSval.",
                X, "The paper maps timestamps from the last ones 'sent and received by the proxy before the splice' "
                "(§3.4.1) and is silent on the proxy's own echoes; RFC 7323 §4.3 echoes TS.Recent, the TSval just "
                "received. A client checks the echo of its SYN (Linux tcp_rcv_synsent_state_process: a TSecr outside "
                "the times it sent its SYN is PAWSActiveRejected and answered with a reset), so a wrong echo fails "
                "every connection attempt: MUST."),
    Requirement("HS-SERVER-ACK-TSECR", S, "handshake", "RFC 7323 §4.3; paper §3.4.1",
                "When the server's SYN-ACK carries timestamps in answer to the proxy's SYN, the proxy's ACK completing "
                "the server-side handshake carries a Timestamps option whose TSecr is that SYN-ACK's TSval.",
                X, "The paper is silent on the proxy's own ACK; RFC 7323 §4.3 sets TSecr to TS.Recent, which the "
                "SYN-ACK's TSval has just set. A Linux server drops an ACK whose TSecr it never sent "
                "(TcpExtTSEcrRejected) and stays in SYN-RECEIVED until the client's next segment or its "
                "retransmitted SYN-ACK, relayed to the client and acknowledged by it, completes the handshake: a "
                "server that speaks first waits one retransmission timeout (1 s, RFC 6298 §2). A delay, not a "
                "break: SHOULD."),
    # -- lifecycle (§3, figures 3, 4, 6, 7) -----------------------------------------------------------
    Requirement("LIFE-DONTACK", M, "lifecycle", "paper §3, figure 4",
                "After INTEND_SPLICE, server data arriving at D is held for the splice, not delivered to the "
                "proxy application.",
                F, "§3: data sent by the server after DONT_ACK is 'queued at the proxy for relay to the "
                "client'; delivered to the application it is lost to the client (corruption)."),
    Requirement("LIFE-BASE-S2C", M, "lifecycle", "paper §3.2, figure 6",
                "Server to client: splice_irs is D's rcv_nxt when DONT_ACK took effect; splice_iss is C's "
                "snd_nxt at PRESPLICE plus the OK message length.",
                F, "§3.2 and figure 6; any other base shifts the whole stream (corruption)."),
    Requirement("LIFE-BASE-C2S", M, "lifecycle", "paper §3.2, figure 7",
                "Client to server: splice_irs is C's rcv_nxt and splice_iss is D's snd_nxt at PRESPLICE.",
                F, "§3.2 and figure 7; any other base shifts the whole stream (corruption)."),
    Requirement("LIFE-RELEASE", S, "lifecycle", "paper §3",
                "Segments held before the splice is made are relayed once the OK message has been written.",
                F, "§3 'the splice code relays any queued packets from the server'. Held segments were never "
                "acknowledged (DONT_ACK), so a splice that drops them costs a retransmission, not data: SHOULD."),
    Requirement("LIFE-COMPLETE", M, "lifecycle", "paper §3",
                "The splice is complete when an ACK covering the whole OK message arrives from the client.",
                F, "§3 'When an ACK of the OK message arrives at the proxy, the splice is complete'; before "
                "that the proxy must still be able to retransmit the OK message (LIFE-OK-RETRANSMIT)."),
    Requirement("LIFE-OK-ZERO", M, "lifecycle", "paper §3",
                "With an OK message of length 0 the splice is complete as soon as it is made (PRESPLICE).",
                F, "§3 'Its length can be 0 if desired, in which case the splice is completed immediately'; "
                "there is nothing to wait for, and a splice that waited for an ACK of nothing could hold "
                "proxy state for ever."),
    Requirement("LIFE-SILENT", M, "lifecycle", "paper §5, §6",
                "After the splice is made the proxy sends no segment of its own (no ACK, no retransmission, no "
                "window update) on either leg; everything it emits there is a relayed segment — except the OK "
                "message's retransmission until the client acknowledges it (LIFE-OK-RETRANSMIT).",
                F, "§5 'the proxy does not send retransmissions' and §6 'segments and ACKs are exchanged "
                "end-to-end'; a proxy ACK acknowledges data the other end host may never get (loss). The OK "
                "message is the proxy's own data, below C's splice_iss, so its retransmission is not relayed "
                "traffic and is graded apart."),
    Requirement("LIFE-CLOSE-SILENT", M, "lifecycle", "paper §3, figure 3",
                "Closing the spliced sockets (figure 3's close(s); close(c)) sends nothing on either leg and "
                "keeps the splice relaying.",
                F, "Figure 3 closes both sockets right after the OK message, so the splice must outlive the "
                "application's descriptors; a FIN or RST from them would end the end hosts' connection (a "
                "break), hence MUST. Checked with the APP_CLOSE event on a made splice."),
    Requirement("LIFE-OK-RETRANSMIT", M, "lifecycle", "paper §3; RFC 9293 §3.8.1",
                "Until the splice is complete the OK message is kept and its unacknowledged bytes are "
                "retransmitted when the retransmission timer runs out; once acknowledged, never again.",
                X, "The paper completes the splice only on the ACK of the OK message (§3), which implies the "
                "message stays in C's send queue; RFC 9293 §3.8.1 makes retransmission of unacknowledged data "
                "the sender's duty, from the first unacknowledged byte. Without it a lost OK message stalls "
                "the client for ever (a break): MUST. Checked with the TIMER event: the range and flags of the "
                "retransmission, not the proxy's window, TSval or bytes, which are its own."),
    Requirement("LIFE-TEARDOWN", M, "lifecycle", "paper §3.3; RFC 9293 §3.6",
                "FINs are relayed through the splice like any segment, each closing one direction only (data "
                "still flows the other way); once both FINs are acknowledged the splice lingers, still relaying "
                "a retransmitted FIN and its ACK, and ends when its timer runs out; after that nothing is "
                "relayed.",
                X, "The paper relays every segment (§3.3) and is silent on teardown; closing is then end to "
                "end (RFC 9293 §3.6). A splice that ends at the first FIN loses the half-closed direction's "
                "data (corruption), and one that ends at the last ACK strands a peer whose FIN must be "
                "retransmitted (TIME-WAIT, RFC 9293 §3.6): MUST. The linger's length is the IUT's (the model "
                "ends on the next TIMER)."),
    Requirement("LIFE-AFTER-RST", Y, "lifecycle", "RFC 9293 §3.10.7.1; splicecheck",
                "Once the splice has relayed a RST it relays nothing more of the connection; a splice that goes "
                "on relaying the connection's segments after it, mapped as before, is an equally legitimate "
                "outcome.",
                X, "The paper is silent on resets. After a RST both end hosts' connections are CLOSED, where a "
                "segment is discarded or answered with a RST (RFC 9293 §3.10.7.1) whether it comes relayed or "
                "not, and the proxy host's own TCP answers one the splice no longer relays the same way: the end "
                "hosts cannot tell the outcomes apart, and the model picks one (relaying nothing): MAY. "
                "Stateful boxes keep a reset connection's entry for a while and pass its segments (Linux "
                "conntrack's CLOSE state). A new connection on the same 5-tuple is LIFE-BASE-C2S's concern."),
    Requirement("LIFE-ACCEPT", S, "lifecycle", "paper §3",
                "The accept direction (FTP active mode, SOCKS BIND), where the server connects to the proxy, "
                "is spliced with the same base points: DONT_ACK in force from D's handshake (INTEND_SPLICE on "
                "the listening socket), so D.splice_irs is the server's ISN + 1, and D.splice_iss and the "
                "client side as in figures 6 and 7.",
                F, "§3 says SOCKS and TCP Splice 'also support clients accepting connections'. The "
                "consequences of a wrong base are those of LIFE-BASE-*, but the direction is an optional "
                "feature of a splice (a proxy without it relays accepted connections in user space): SHOULD. "
                "Cases run on adapters with open_accepted (Feature.ACCEPT)."),
    Requirement("LIFE-TOTAL", Y, "lifecycle", "splicecheck",
                "Every (stage, event) pair of the lifecycle answers a next stage or a defined error.",
                X, "A property of the model (its table is total), not of the paper: which calls a kernel "
                "refuses in which stage is this project's choice and the end hosts cannot tell: MAY."),
    # -- catch-alls of the exhaustive comparison (conformance/diff.py): bits no other rule reads ----------
    Requirement("IP-OTHER", M, "ip", "splicecheck; RFC 791 §3.1; RFC 8200 §3",
                "The bits of a relayed IP header that no other requirement covers (IPv4: the reserved flag, MF, "
                "fragment offset, protocol; IPv6: next header) are relayed as the model relays them.",
                X, "The paper alters addresses, options and checksums only (§3.3), so every other header bit "
                "passes as it came; a changed protocol, fragment offset or MF flag makes the receiver "
                "misdeliver, drop or reassemble the packet (RFC 791 §3.1, RFC 8200 §3): a broken connection, "
                "hence MUST."),
    Requirement("ICMP-OTHER", Y, "mss", "splicecheck; RFC 792; RFC 1812 §4.3.2.5; RFC 4443 §2.4",
                "The bits of an ICMP error its receiver does not act on (outer TOS or traffic class, flow label, "
                "IP ID, the reserved and DF flags, IP options, the unused field) may differ from the model's.",
                X, "The sender of an ICMP error chooses these bits and its receiver ignores them (RFC 1812 "
                "§4.3.2.5 even asks for a precedence the model does not set), so the end hosts cannot tell: "
                "reported, never equal by omission, at MAY."),
)

BY_ID: dict[str, Requirement] = {r.id: r for r in REQUIREMENTS}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(r.group for r in REQUIREMENTS))


def get(req_id: str) -> Requirement:
    try:
        return BY_ID[req_id]
    except KeyError:
        raise KeyError(f"unknown requirement ID {req_id!r}") from None
