"""Named cases for selective acknowledgments (paper §3.4.3): block edges mapped "in the same way as the
segment's cumulative ACK field" when both legs use SACK, clipped at the base (the OK message and what
came before it was never relayed, so the other end must not hear of it), stripped otherwise.

A block's edges are acknowledgment numbers of data the proxy sent on the SACK's own leg, so they are
written relative to that leg's ``splice_iss``. D.splice_irs (where client SACK edges land) is the
server's ISN + 1 and under the scenario's control; C.splice_iss needs CHOOSE_PROXY_ISN.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..reference.arith import MASK32
from ..reference.relay import SpliceState
from ..reference.segment import NOP, Sack, Segment
from ..reference.seqspace import HALF
from .case import Build, Case, from_client, from_server
from .cases_common import FULL, spliced_at, stream

CLIENT_SACK_ONLY = spliced_at(server_sack=False)
SERVER_SACK_ONLY = spliced_at(client_sack=False)
NO_SACK = spliced_at(sack=False)
NO_TS = spliced_at(ts=False)
OUT_WRAPS = spliced_at(s2c_irs=0xFFFF_FFF0, c2s_irs=0xFFFF_FFF4)  # client SACK edges land across the wrap
IN_WRAPS = spliced_at(s2c_iss=0xFFFF_FFF8, c2s_iss=0xFFFF_FFFC)  # the SACK's own edges wrap
ISS_TWO = spliced_at(s2c_iss=2)  # C.splice_iss = 2: a block from 0xFFFFFFFD straddles wrap and base
ISS_TOP = spliced_at(s2c_iss=MASK32)
OK10 = spliced_at(ok_len=10)


def blocks(base: int, *edges: tuple[int, int]) -> Sack:
    """A SACK option with blocks at the given offsets from ``base``."""
    return Sack(tuple(((base + left) & MASK32, (base + right) & MASK32) for left, right in edges))


def client_sack(*edges: tuple[int, int], ts: bool = True) -> Build:
    def build(st: SpliceState) -> Sequence[Segment]:
        return [from_client(st, 0, options=[blocks(st.client.splice_iss, *edges)], ts=ts)]

    return build


def server_sack(*edges: tuple[int, int], ts: bool = True) -> Build:
    def build(st: SpliceState) -> Sequence[Segment]:
        return [from_server(st, 0, options=[blocks(st.server.splice_iss, *edges)], ts=ts)]

    return build


CASES: list[Case] = [
    # -- SACK-MAP -------------------------------------------------------------------------------------
    Case("SACK-MAP/c2s-one-block", ("SACK-MAP",),
         "Client ACK with SACK block [C.splice_iss + 100, + 200).",
         "Relayed with block [D.splice_irs + 100, + 200): edges mapped like the ack (paper §3.4.3; RFC 2018 §3).",
         client_sack((100, 200)), FULL),
    Case("SACK-MAP/s2c-three-blocks", ("SACK-MAP",),
         "Server ACK with three SACK blocks and Timestamps (the most that fit beside them).",
         "All three blocks mapped to the client's sequence space (paper §3.4.3).",
         server_sack((10, 20), (30, 40), (50, 60)), FULL),
    Case("SACK-MAP/four-blocks", ("SACK-MAP",),
         "No timestamps: client ACK with four SACK blocks (34 option bytes).",
         "All four blocks mapped (paper §3.4.3; RFC 2018 §3).",
         client_sack((10, 20), (30, 40), (50, 60), (70, 80), ts=False), NO_TS),
    Case("SACK-MAP/edges-wrap-out", ("SACK-MAP",),
         "D.splice_irs = 0xFFFFFFF0: client block [C.splice_iss + 8, + 0x20).",
         "Relayed as [0xFFFFFFF8, 0x10): the mapped edges wrap (paper §3.4.3).",
         client_sack((8, 0x20)), OUT_WRAPS),
    Case("SACK-MAP/edges-wrap-in", ("SACK-MAP",),
         "C.splice_iss = 0xFFFFFFF8: client block [C.splice_iss + 4, + 12), i.e. [0xFFFFFFFC, 4).",
         "Relayed as [D.splice_irs + 4, + 12) (paper §3.4.3).",
         client_sack((4, 12)), IN_WRAPS),
    Case("SACK-MAP/block-at-base", ("SACK-MAP", "SACK-CLIP"),
         "Server block starting exactly at D.splice_iss: [D.splice_iss, + 50).",
         "Nothing to clip: relayed as [C.splice_irs, + 50) (paper §3.4.3).",
         server_sack((0, 50)), FULL),
    # -- SACK-CLIP ------------------------------------------------------------------------------------
    Case("SACK-CLIP/straddles-base", ("SACK-CLIP",),
         "Client block [C.splice_iss - 10, + 10): its first half covers bytes the proxy sent before the "
         "splice.",
         "Clipped to [D.splice_irs, + 10): the server never sent what lies below (paper §3.3, §3.4.3).",
         client_sack((-10, 10)), FULL),
    Case("SACK-CLIP/wholly-below-option-dropped", ("SACK-CLIP",),
         "Client ACK whose only SACK block, [C.splice_iss - 30, - 20), lies wholly below the base.",
         "The block is dropped and the option with it (paper §3.4.3; splicecheck).",
         client_sack((-30, -20)), FULL),
    Case("SACK-CLIP/one-of-two-below", ("SACK-CLIP", "SACK-MAP"),
         "Server ACK with blocks [D.splice_iss - 30, - 20) and [D.splice_iss + 5, + 15).",
         "The first is dropped, the second mapped; the option shrinks to one block (paper §3.4.3).",
         server_sack((-30, -20), (5, 15)), FULL),
    Case("SACK-CLIP/ends-at-base", ("SACK-CLIP",),
         "Client block [C.splice_iss - 10, C.splice_iss): ends exactly at the base.",
         "Dropped, and the option with it (paper §3.4.3).",
         client_sack((-10, 0)), FULL),
    Case("SACK-CLIP/ok-message-sacked", ("SACK-CLIP",),
         "Splice with a 10-byte OK message: the client SACKs bytes 2..8 of it, [C.splice_iss - 8, - 2).",
         "Dropped: the OK message came from the proxy, and the server must not hear of it (paper §3, §3.4.3).",
         client_sack((-8, -2)), OK10),
    Case("SACK-CLIP/straddles-wrap-and-base", ("SACK-CLIP",),
         "C.splice_iss = 2: client block [0xFFFFFFFD, 7), crossing both the wrap and the base.",
         "Clipped to [D.splice_irs, + 5) (paper §3.4.3).",
         client_sack((-5, 5)), ISS_TWO),
    Case("SACK-CLIP/iss-top-straddle", ("SACK-CLIP",),
         "C.splice_iss = 0xFFFFFFFF: client block [C.splice_iss - 3, + 3).",
         "Clipped to [D.splice_irs, + 3) (paper §3.4.3).",
         client_sack((-3, 3)), ISS_TOP),
    Case("SACK-CLIP/server-stream-past-2gib", ("SACK-CLIP", "SACK-MAP"),
         "The server stream advances 2^31 past D.splice_irs (so the client has received that much); then a "
         "client block [C.splice_iss + 2^31 + 100, + 200).",
         "Not clipped: 'before the base' is stream order in the direction whose data the block acknowledges, "
         "and that stream is past 2^31 — the block is mapped like the ack (paper §3.4.3; splicecheck).",
         lambda st: [*stream(st, HALF, server=True), *client_sack((HALF + 100, HALF + 200))(st)], FULL),
    Case("SACK-CLIP/stream-advanced-block-before-base", ("SACK-CLIP",),
         "The server stream advances 2^30 past D.splice_irs; then a client block [C.splice_iss - 20, + 20).",
         "Clipped to start at D.splice_irs: the bytes before C.splice_iss still precede it in the stream "
         "(paper §3.4.3).",
         lambda st: [*stream(st, 1 << 30, server=True), *client_sack((-20, 20))(st)], FULL),
    # -- SACK-STRIP -----------------------------------------------------------------------------------
    Case("SACK-STRIP/client-only-c2s", ("SACK-STRIP",),
         "Only the client leg uses SACK: client ACK with a SACK block.",
         "The option is stripped on the way to the server (paper §3.4.3: 'the splice simply strips all SACK "
         "options').",
         client_sack((10, 20)), CLIENT_SACK_ONLY),
    Case("SACK-STRIP/server-only-s2c", ("SACK-STRIP",),
         "Only the server leg uses SACK: server ACK with a SACK block.",
         "Stripped on the way to the client (paper §3.4.3).",
         server_sack((10, 20)), SERVER_SACK_ONLY),
    Case("SACK-STRIP/neither-leg-unsolicited", ("SACK-STRIP",),
         "Neither leg negotiated SACK; the client sends a SACK block anyway.",
         "Stripped (paper §3.4.3).",
         client_sack((10, 20)), NO_SACK),
    Case("SACK-STRIP/client-only-with-timestamps", ("SACK-STRIP", "TS-VAL"),
         "Only the client leg uses SACK, both use timestamps: client ACK with a SACK block and Timestamps.",
         "SACK stripped, Timestamps mapped (paper §3.4.1, §3.4.3).",
         client_sack((10, 20), (30, 40)), CLIENT_SACK_ONLY),
    # -- appended (issue 12): cases a mutant showed missing ------------------------------------------
    Case("SACK-MAP/two-sack-options", ("SACK-MAP",),
         "Client ACK with two SACK options in one segment, one block each ([C.splice_iss + 10, + 20) and "
         "[+ 30, + 40)), and Timestamps.",
         "Both options relayed with their blocks mapped (paper §3.4.3; RFC 2018 §3): every instance of the "
         "option is rewritten, not only the first one found.",
         lambda st: [from_client(st, 0, options=[NOP, NOP, blocks(st.client.splice_iss, (10, 20)),
                                                 NOP, NOP, blocks(st.client.splice_iss, (30, 40))])], FULL),
]
