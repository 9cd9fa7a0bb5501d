"""Named cases in the layouts real stacks put on the wire (issue 12, item 2), so that an IUT with a fast
path for the common layout is tested on that path, and on the layouts next to it.

Option layouts of established-state segments, as the senders' own code writes them:

- NOP,NOP,TS (12 bytes) on every data segment of a connection using timestamps, and NOP,NOP,SACK
  without timestamps — Linux ``tcp_options_write()`` (net/ipv4/tcp_output.c) writes each behind a
  32-bit word ``TCPOPT_NOP << 24 | TCPOPT_NOP << 16 | kind << 8 | len``;
- NOP,NOP,TS,NOP,NOP,SACK when both are sent — Linux, as above (timestamps first, SACK last), and
  FreeBSD ``tcp_addoptions()`` (sys/netinet/tcp_output.c), which walks the options in flag order
  (TOF_TS before TOF_SACK) and pads each with NOPs to ``optlen % 4 == 2`` before it; Apple's XNU
  defines the same ``TCPOPT_SACK_HDR`` (NOP,NOP,SACK) in netinet/tcp.h.
- Other layouts are named by their shape, not by an OS (we do not rely on a claim about Windows'
  exact layout): SACK first (NOP,NOP,SACK,NOP,NOP,TS), and two SACK options in one segment.

Each of these is cut for the relay's fast path (``reference.relay._map_options``) or just beside it:
the model gives the same answer for all of them, and so must the IUT.

Foreign segments (DIR-ONLY) differ from a leg of the splice in exactly one element of the 5-tuple —
the source address, the destination address, the source port or the destination port (the protocol
is TCP throughout) — in each direction, over IPv4 and IPv6: a lookup that compares fewer fields than
all four relays one of them.

A FIN whose own sequence number is exactly ``splice_irs`` (SEQ-CTL, TRIM-*): bare, and after data
that lies wholly before the base (the data is trimmed, the FIN is not).

Zero offsets (SEQ-MAP, ACK-MAP): bases chosen so that one direction's sequence numbers map with
offset 0 (``in.splice_irs == out.splice_iss``) while its ack numbers do not, and the reverse — an
IUT that skips "the" rewrite when "the" offset is zero gets the other field wrong.

Acknowledgments and SACK blocks above the base acknowledge data the other end sent first in the same
case (:func:`lead`): a stateful IUT (conntrack) rightly drops acks of data never sent, and that is not
what these cases are about.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..reference.arith import MASK32
from ..reference.relay import SpliceState
from ..reference.segment import ACK, FIN, NOP, PSH, Sack, Segment, TcpOption
from .alternatives import FOREIGN
from .case import Build, Case, from_client, from_server, ts_option
from .cases_common import FULL, spliced_at, with_ip, with_tcp
from .cases_seq import SEQ_CTL
from .contract import Feature

F = Feature

NO_TS = spliced_at(ts=False)
V6 = spliced_at(family=6)
CLIENT_TS_ONLY = spliced_at(server_ts=False)
CLIENT_SACK_ONLY = spliced_at(server_sack=False)
C2S_IRS_ZERO = spliced_at(c2s_irs=0)  # the client's data before the base lies across the wrap
#: c2s seq maps with offset 0 (C.splice_irs == D.splice_iss), c2s ack does not (C.splice_iss != D.splice_irs,
#: across the wrap); so s2c seq maps with a non-zero offset and s2c ack with offset 0.
SEQ_ZERO = spliced_at(c2s_irs=0x0100_0000, c2s_iss=0x0100_0000, s2c_irs=9_000_001, s2c_iss=0xFFFF_FF00)
#: the mirror: c2s ack maps with offset 0 (C.splice_iss == D.splice_irs), c2s seq does not.
ACK_ZERO = spliced_at(c2s_irs=1_000_001, c2s_iss=0xFFFF_FF00, s2c_irs=0x0200_0000, s2c_iss=0x0200_0000)

NEEDS_FOREIGN = frozenset({F.FOREIGN_SEGMENT})
BELOW = frozenset({F.BELOW_BASE})


def sack(base: int, *edges: tuple[int, int]) -> Sack:
    """A SACK option with blocks at the given offsets from ``base`` (the in leg's splice_iss)."""
    return Sack(tuple(((base + left) & MASK32, (base + right) & MASK32) for left, right in edges))


#: the second SACK option's blocks in the two-option layouts
MORE = ((300, 400),)


def laid_out(st: SpliceState, server: bool, layout: str, edges: Sequence[tuple[int, int]] = ((100, 200),)
             ) -> list[TcpOption]:
    """The options of ``layout`` for a segment from the client (or the server): ``nnt`` NOP,NOP,TS;
    ``nns`` NOP,NOP,SACK; ``nntnns`` NOP,NOP,TS,NOP,NOP,SACK; ``nnsnnt`` SACK first; ``nnsnns`` two SACK
    options; ``nntnnsnns`` timestamps and two SACK options (the second with the blocks :data:`MORE`); ``ns``
    NOP,SACK: the SACK option at an odd offset (byte 21 of the header), its edges 16-bit words straddling
    the checksum's word boundaries."""
    leg = st.server if server else st.client
    ts: list[TcpOption] = [NOP, NOP, ts_option(leg)]
    sk: list[TcpOption] = [NOP, NOP, sack(leg.splice_iss, *edges)]
    sk2: list[TcpOption] = [NOP, NOP, sack(leg.splice_iss, *MORE)]
    return {"nnt": ts, "nns": sk, "nntnns": ts + sk, "nnsnnt": sk + ts, "nnsnns": sk + sk2,
            "nntnnsnns": ts + sk + sk2, "ns": sk[1:]}[layout]


def laid_segment(st: SpliceState, layout: str, *, server: bool = False,
                 edges: Sequence[tuple[int, int]] = ((100, 200),), payload: bytes = b"common layout",
                 ack_off: int = 0) -> Segment:
    """One segment at the in leg's splice_irs in ``layout`` (:func:`laid_out`) from the client or the server."""
    make = from_server if server else from_client
    return make(st, 0, ack_off=ack_off, flags=ACK | PSH if payload else ACK, payload=payload,
                options=laid_out(st, server, layout, edges), ts=False)


def lead(st: SpliceState, size: int, *, server: bool) -> Segment:
    """``size`` bytes of data from the client (server) at its leg's splice_irs, NOP,NOP,TS when that
    leg uses timestamps: what the other end's SACK blocks then acknowledge."""
    leg = st.server if server else st.client
    make = from_server if server else from_client
    return make(st, 0, flags=ACK | PSH, payload=bytes((i * 7) & 0xFF for i in range(size)),
                options=[NOP, NOP, ts_option(leg)] if leg.timestamps else [], ts=False)


def data(layout: str, *, server: bool = False, edges: Sequence[tuple[int, int]] = ((100, 200),),
         payload: bytes = b"common layout") -> Build:
    """A build: one :func:`laid_segment`; when it carries SACK blocks above the base, first the other
    end's data they acknowledge (a stateful IUT drops acks of data never sent), acknowledged up to the
    first block (the hole the blocks report)."""
    tops = [right for _, right in (*edges, *(MORE if layout.count("s") == 2 else ()))] if "s" in layout else []
    size = max((t for t in tops if t > 0), default=0)

    def build(st: SpliceState) -> list[Segment]:
        seg = laid_segment(st, layout, server=server, edges=edges, payload=payload)
        return [lead(st, size, server=not server), seg] if size else [seg]

    return build


# -- foreign segments: exactly one 5-tuple element changed -------------------------------------------


def other_address(a: bytes) -> bytes:
    """Another host of the same family and subnet (the last octet's top bit flipped)."""
    return a[:-1] + bytes((a[-1] ^ 0x80,))


def one_off(element: str, *, server: bool = False) -> Build:
    """A build: data in the common layout from the client (server) with ``element`` — ``src-addr``,
    ``dst-addr``, ``src-port`` or ``dst-port`` — changed, the other three as on the leg."""

    def build(st: SpliceState) -> list[Segment]:
        seg = laid_segment(st, "nnt", server=server, payload=b"not this splice")
        if element == "src-addr":
            return [with_ip(seg, src=other_address(seg.ip.src))]
        if element == "dst-addr":
            return [with_ip(seg, dst=other_address(seg.ip.dst))]
        if element == "src-port":
            return [with_tcp(seg, sport=seg.tcp.sport ^ 1)]
        return [with_tcp(seg, dport=seg.tcp.dport ^ 1)]

    return build


_ELEMENTS = {"src-addr": "source address", "dst-addr": "destination address", "src-port": "source port",
             "dst-port": "destination port"}


def foreign_cases() -> list[Case]:
    out = []
    for family, scenario in ((4, FULL), (6, V6)):
        for server in (False, True):
            d = "s2c" if server else "c2s"
            sender = "server" if server else "client"
            for element, words in _ELEMENTS.items():
                out.append(Case(
                    f"DIR-ONLY/one-off-{element}-{d}-v{family}", ("DIR-ONLY",),
                    f"IPv{family} data (NOP,NOP,TS) as from the {sender} on its leg, but with the {words} changed: "
                    "the other three of address and port pairs are the leg's.",
                    "Not relayed: a connection is identified by all four (RFC 9293 §3.1, paper §3.3 relays only "
                    "segments received at a spliced socket).",
                    one_off(element, server=server), scenario, NEEDS_FOREIGN, alternatives=FOREIGN))
    return out


# -- a FIN at exactly splice_irs --------------------------------------------------------------------


def fin_after_data_below(n: int, *, server: bool = False) -> Build:
    """A build: FIN|ACK with ``n`` bytes starting ``n`` before the in leg's splice_irs, so that the
    FIN's own sequence number is splice_irs."""
    make = from_server if server else from_client

    def build(st: SpliceState) -> list[Segment]:
        leg = st.server if server else st.client
        return [make(st, -n, flags=FIN | ACK, payload=bytes(range(65, 65 + n)), options=[NOP, NOP, ts_option(leg)],
                     ts=False)]

    return build


CASES: list[Case] = [
    # -- TS-VAL / TS-ECR: NOP,NOP,TS ------------------------------------------------------------------
    Case("TS-VAL/nop-nop-ts-c2s", ("TS-VAL", "TS-ECR"),
         "Client data with NOP,NOP,TS — the layout Linux (tcp_options_write) and FreeBSD (tcp_addoptions) "
         "put on every data segment of a connection with timestamps.",
         "TSval and TSecr mapped, the NOPs kept in place (paper §3.4.1; RFC 7323 §3, appendix A).",
         data("nnt"), FULL),
    Case("TS-VAL/nop-nop-ts-s2c", ("TS-VAL", "TS-ECR"),
         "Server data with NOP,NOP,TS.",
         "TSval and TSecr mapped, the NOPs kept in place (paper §3.4.1; RFC 7323 §3).",
         data("nnt", server=True), FULL),
    Case("TS-VAL/nop-nop-ts-pure-ack-c2s", ("TS-VAL", "TS-ECR"),
         "Server data (NOP,NOP,TS), then the client's pure ACK of it with NOP,NOP,TS.",
         "Both relayed with both timestamps mapped (paper §3.4.1; RFC 7323 §3).",
         lambda st: [lead(st, 13, server=True), laid_segment(st, "nnt", payload=b"", ack_off=13)], FULL),
    Case("TS-VAL/nop-nop-ts-ipv6", ("TS-VAL", "TS-ECR"),
         "IPv6 client data with NOP,NOP,TS.",
         "Mapped as over IPv4 (paper §3.4.1; RFC 7323 §3).",
         data("nnt"), V6),
    Case("TS-STRIP/nop-nop-ts-client-only", ("TS-STRIP",),
         "Only the client leg uses timestamps: client data with NOP,NOP,TS.",
         "The Timestamps option is stripped (NOP-overwritten by default), the NOPs before it kept (paper "
         "§3.4.1, footnote 2).",
         data("nnt"), CLIENT_TS_ONLY),
    # -- SACK-MAP: NOP,NOP,SACK and the combinations -----------------------------------------------------
    Case("SACK-MAP/nop-nop-sack-c2s", ("SACK-MAP",),
         "No timestamps: after 200 bytes of server data, a client ACK with NOP,NOP,SACK (one block) — Linux's "
         "layout without timestamps.",
         "The block's edges mapped like the ack (paper §3.4.3; RFC 2018 §3).",
         data("nns", payload=b""), NO_TS),
    Case("SACK-MAP/nop-nop-sack-s2c-four-blocks", ("SACK-MAP",),
         "No timestamps: after client data, a server ACK with NOP,NOP,SACK and four blocks (36 option bytes: "
         "the most that fit).",
         "All four blocks mapped (paper §3.4.3; RFC 2018 §3).",
         data("nns", server=True, payload=b"", edges=((10, 20), (30, 40), (50, 60), (70, 80))), NO_TS),
    Case("SACK-MAP/nop-nop-ts-nop-nop-sack-c2s", ("SACK-MAP", "TS-VAL", "TS-ECR"),
         "After server data, a client ACK with NOP,NOP,TS,NOP,NOP,SACK (one block): what Linux and FreeBSD send when "
         "timestamps and SACK are both in use.",
         "Timestamps and the block mapped, the layout unchanged (paper §3.4.1, §3.4.3; RFC 2018 §3).",
         data("nntnns", payload=b""), FULL),
    Case("SACK-MAP/nop-nop-ts-nop-nop-sack-s2c-three-blocks", ("SACK-MAP", "TS-VAL", "TS-ECR"),
         "After client data, server data with NOP,NOP,TS,NOP,NOP,SACK and three blocks (40 option bytes: full).",
         "Timestamps and the three blocks mapped (paper §3.4.1, §3.4.3).",
         data("nntnns", server=True, edges=((10, 20), (30, 40), (50, 60))), FULL),
    Case("SACK-MAP/nop-nop-sack-nop-nop-ts-c2s", ("SACK-MAP", "TS-VAL", "TS-ECR"),
         "After server data, a client ACK with the SACK option first: NOP,NOP,SACK,NOP,NOP,TS (aligned, the "
         "other order).",
         "Both mapped, each in its place (paper §3.4.1, §3.4.3; RFC 2018 §3).",
         data("nnsnnt", payload=b""), FULL),
    Case("SACK-MAP/two-sack-options-c2s", ("SACK-MAP", "TS-VAL"),
         "After server data, a client ACK with NOP,NOP,TS,NOP,NOP,SACK,NOP,NOP,SACK: two SACK options of one "
         "block each.",
         "Both SACK options mapped, the second as well as the first (paper §3.4.3: every block is mapped "
         "like the ack; splicecheck).",
         data("nntnnsnns", payload=b""), FULL),
    Case("SACK-MAP/two-sack-options-s2c", ("SACK-MAP",),
         "No timestamps: after client data, a server ACK with NOP,NOP,SACK,NOP,NOP,SACK (two blocks, then one).",
         "Both SACK options mapped (paper §3.4.3; splicecheck).",
         data("nnsnns", server=True, payload=b"", edges=((10, 20), (30, 40))), NO_TS),
    Case("SACK-MAP/odd-offset-sack-c2s", ("SACK-MAP", "TCPCSUM-VALID"),
         "No timestamps: after server data, a client ACK with NOP,SACK (one block): the SACK option starts at an "
         "odd offset, so each edge's bytes straddle the 16-bit words of the TCP checksum.",
         "The block mapped and the checksum valid: an incremental update must account for the odd alignment "
         "(RFC 1071 §2(B) byte-order independence holds only word-aligned; RFC 1624 §3; paper §3.3, §3.4.3).",
         data("ns", payload=b""), NO_TS),
    Case("SACK-MAP/odd-offset-sack-s2c", ("SACK-MAP", "TCPCSUM-VALID"),
         "No timestamps: after client data, a server ACK with NOP,SACK (two blocks) at an odd offset.",
         "Both blocks mapped, the checksum valid (RFC 1624 §3; paper §3.3, §3.4.3).",
         data("ns", server=True, payload=b"", edges=((10, 20), (30, 40))), NO_TS),
    Case("SACK-CLIP/nop-nop-ts-nop-nop-sack-straddles", ("SACK-CLIP", "SACK-MAP"),
         "After server data, a client ACK with NOP,NOP,TS,NOP,NOP,SACK whose block [C.splice_iss - 10, + 10) "
         "straddles the base.",
         "The block clipped to [D.splice_irs, + 10), timestamps mapped (paper §3.3, §3.4.3).",
         data("nntnns", payload=b"", edges=((-10, 10),)), FULL),
    Case("SACK-CLIP/nop-nop-ts-nop-nop-sack-one-dropped", ("SACK-CLIP", "SACK-MAP"),
         "After client data, a server ACK with NOP,NOP,TS,NOP,NOP,SACK: blocks [D.splice_iss - 30, - 20) and "
         "[+ 5, + 15).",
         "The first block dropped (its 8 bytes NOP-filled by default), the second mapped (paper §3.4.3).",
         data("nntnns", server=True, payload=b"", edges=((-30, -20), (5, 15))), FULL),
    Case("SACK-STRIP/nop-nop-ts-nop-nop-sack-client-only", ("SACK-STRIP", "TS-VAL"),
         "Only the client leg uses SACK: after server data, a client ACK with NOP,NOP,TS,NOP,NOP,SACK.",
         "SACK stripped, timestamps mapped (paper §3.4.1, §3.4.3).",
         data("nntnns", payload=b""), CLIENT_SACK_ONLY),
    # -- DIR-ONLY: one element of the 5-tuple off -------------------------------------------------------
    *foreign_cases(),
    # -- SEQ-CTL: a FIN at exactly splice_irs ---------------------------------------------------------
    Case("SEQ-CTL/bare-fin-at-base-c2s", ("SEQ-CTL",),
         "A bare FIN|ACK (NOP,NOP,TS) from the client at C.splice_irs: the FIN's own number is the base.",
         "Relayed as a FIN at D.splice_iss: the FIN at the base is the first relayed sequence number, not "
         "before it (RFC 9293 §3.4; paper §3.3).",
         lambda st: [from_client(st, 0, flags=FIN | ACK, options=[NOP, NOP, ts_option(st.client)])], FULL,
         execute=SEQ_CTL),
    Case("SEQ-CTL/bare-fin-at-base-s2c", ("SEQ-CTL",),
         "A bare FIN|ACK from the server at D.splice_irs.",
         "Relayed as a FIN at C.splice_iss (RFC 9293 §3.4; paper §3.3).",
         lambda st: [from_server(st, 0, flags=FIN | ACK, options=[NOP, NOP, ts_option(st.server)])], FULL,
         execute=SEQ_CTL),
    Case("SEQ-CTL/fin-at-base-after-data-below-c2s", ("SEQ-CTL", "TRIM-REST", "TRIM-COMPLETE"),
         "FIN|ACK with 6 client bytes at C.splice_irs - 6: all the data precedes the base, the FIN is at it.",
         "The 6 bytes trimmed, the FIN kept: relayed as a bare FIN at D.splice_iss (paper §3.3; RFC 9293 §3.4).",
         fin_after_data_below(6), FULL, BELOW, execute=SEQ_CTL),
    Case("SEQ-CTL/fin-at-base-after-data-below-s2c", ("SEQ-CTL", "TRIM-REST", "TRIM-COMPLETE"),
         "FIN|ACK with 1 server byte at D.splice_irs - 1: the FIN's own number is D.splice_irs.",
         "The byte trimmed, the FIN relayed at C.splice_iss (paper §3.3; RFC 9293 §3.4).",
         fin_after_data_below(1, server=True), FULL, BELOW, execute=SEQ_CTL),
    Case("SEQ-CTL/fin-at-zero-base-after-data-across-wrap", ("SEQ-CTL", "TRIM-REST", "TRIM-COMPLETE"),
         "C.splice_irs = 0: FIN|ACK with 6 client bytes at 0xFFFFFFFA, so the data ends at the wrap and the "
         "FIN's own number is 0.",
         "The 6 bytes trimmed, the FIN relayed at D.splice_iss (paper §3.3; RFC 9293 §3.4; RFC 1982).",
         fin_after_data_below(6), C2S_IRS_ZERO, BELOW, execute=SEQ_CTL),
    # -- SEQ-MAP / ACK-MAP: one offset zero, the other not ---------------------------------------------
    Case("SEQ-MAP/zero-seq-offset-nonzero-ack-c2s", ("SEQ-MAP", "ACK-MAP"),
         "C.splice_irs = D.splice_iss = 0x01000000 (c2s sequence offset 0), C.splice_iss = 0xFFFFFF00 and "
         "D.splice_irs = 9000001 (c2s ack offset not 0): 7 bytes of server data, then client data at "
         "C.splice_irs acknowledging them (C.splice_iss + 7).",
         "seq unchanged (offset 0), ack mapped to D.splice_irs + 7: each field with its own offset (paper §3.3).",
         lambda st: [lead(st, 7, server=True), laid_segment(st, "nnt", ack_off=7)], SEQ_ZERO),
    Case("ACK-MAP/zero-ack-offset-nonzero-seq-s2c", ("ACK-MAP", "SEQ-MAP"),
         "The same splice seen from the server: D.splice_iss = C.splice_irs (s2c ack offset 0), C.splice_iss "
         "!= D.splice_irs: 7 bytes of client data, then server data acknowledging them (D.splice_iss + 7).",
         "ack unchanged (offset 0), seq mapped from 9000001 to 0xFFFFFF00 (paper §3.3).",
         lambda st: [lead(st, 7, server=False), laid_segment(st, "nnt", server=True, ack_off=7)], SEQ_ZERO),
    Case("ACK-MAP/zero-ack-offset-nonzero-seq-c2s", ("ACK-MAP", "SEQ-MAP"),
         "C.splice_iss = D.splice_irs = 0x02000000 (c2s ack offset 0), C.splice_irs = 1000001 and "
         "D.splice_iss = 0xFFFFFF00 (c2s sequence offset not 0): 7 bytes of server data, then client data "
         "acknowledging them.",
         "ack unchanged (offset 0), seq mapped from 1000001 to 0xFFFFFF00 (paper §3.3).",
         lambda st: [lead(st, 7, server=True), laid_segment(st, "nnt", ack_off=7)], ACK_ZERO),
    Case("SEQ-MAP/zero-seq-offset-nonzero-ack-s2c", ("SEQ-MAP", "ACK-MAP"),
         "The same splice seen from the server: D.splice_irs = C.splice_iss (s2c sequence offset 0), "
         "D.splice_iss != C.splice_irs: 7 bytes of client data, then server data acknowledging them.",
         "seq unchanged (offset 0), ack mapped from D.splice_iss + 7 to C.splice_irs + 7 (paper §3.3).",
         lambda st: [lead(st, 7, server=False), laid_segment(st, "nnt", server=True, ack_off=7)], ACK_ZERO),
]
