"""Named cases for the Timestamps option (paper §3.4.1): TSval and TSecr mapped "in the same fashion as
sequence numbers" when both legs use timestamps, stripped when only one (or neither) does.

The mapping constants are the last timestamps each leg saw before the splice: the end hosts' are
under the scenario's control (their SYN TSvals), the proxy's need CHOOSE_PROXY_TS. Builders express
timestamps relative to them (``conformance.case.ts_option``).

Legs that disagree on timestamps have three legitimate outcomes (SPEC.md, "When the legs disagree"):
the paper's strip (the model), timestamps supplied towards the leg that uses them
(``alternatives.SUPPLY_TS``), and refusal (``SpliceRefused``). Every case here whose scenario has one
leg with timestamps and one without declares the supply alternative (:data:`CASES`' last line).
"""

from __future__ import annotations

from dataclasses import replace

from ..reference.arith import MASK32
from ..reference.relay import SpliceState
from ..reference.segment import ACK, NOP, Sack, Segment, Timestamps
from ..reference.seqspace import HALF
from .alternatives import TS_DISAGREE
from .case import Case, from_client, from_server, ts_option
from .cases_common import FULL, spliced_at
from .contract import Feature

F = Feature

CLIENT_TS_ONLY = spliced_at(server_ts=False)
SERVER_TS_ONLY = spliced_at(client_ts=False)
NO_TS = spliced_at(ts=False)
TSVAL_WRAPS = spliced_at(client_tsval=0xFFFF_FFF0, server_tsval=MASK32)
MAPPED_TO_ZERO = spliced_at(proxy_tsval_d=0xFFFF_FFF0, proxy_tsval_c=0xFFFF_FFF0)
ECR_WRAPS = spliced_at(proxy_tsval_c=0xFFFF_FFFE, proxy_tsval_d=MASK32)
V6 = spliced_at(family=6)


def two_ts(st: SpliceState, from_server_side: bool = False) -> list[Segment]:
    leg = st.server if from_server_side else st.client
    opts = [ts_option(leg, 5, 0), ts_option(leg, 6, 1)]
    make = from_server if from_server_side else from_client
    return [make(st, 0, payload=b"two timestamps", options=opts)]


def unsolicited_ts(st: SpliceState) -> list[Segment]:
    """A Timestamps option on a leg that did not negotiate timestamps (the builder adds none there)."""
    return [from_client(st, 0, payload=b"ts anyway", options=[Timestamps(12345, 0)])]


CASES: list[Case] = [
    # -- TS-VAL ---------------------------------------------------------------------------------------
    Case("TS-VAL/c2s", ("TS-VAL", "TS-ECR"),
         "Client data with TSval one tick after the last the proxy received from it.",
         "TSval mapped as TSval - C.lastrecv_TS + D.lastsent_TS: one tick after the last TSval the server saw "
         "from the proxy (paper §3.4.1; RFC 7323 §3).",
         lambda st: [from_client(st, 0, payload=b"tsval")], FULL),
    Case("TS-VAL/s2c", ("TS-VAL", "TS-ECR"),
         "Server data with TSval 1000 ticks after the last the proxy received from it.",
         "TSval mapped as TSval - D.lastrecv_TS + C.lastsent_TS (paper §3.4.1).",
         lambda st: [from_server(st, 0, payload=b"tsval", options=[ts_option(st.server, 1000, 0)])], FULL),
    Case("TS-VAL/tsval-wraps-in", ("TS-VAL",),
         "The client's clock was at 0xFFFFFFF0 before the splice; it sends TSval 0x10 (32 ticks later).",
         "Mapped to D.lastsent_TS + 32: the mapping is modulo 2^32 (paper §3.4.1; RFC 7323 §5.2).",
         lambda st: [from_client(st, 0, payload=b"wrapped", options=[ts_option(st.client, 0x20, 0)])], TSVAL_WRAPS),
    Case("TS-VAL/mapped-wraps-to-zero", ("TS-VAL",),
         "The proxy's last TSval to the server was 0xFFFFFFF0; the client's TSval is 16 ticks after its last.",
         "Mapped to 0 (paper §3.4.1).",
         lambda st: [from_client(st, 0, payload=b"to zero", options=[ts_option(st.client, 16, 0)])], MAPPED_TO_ZERO),
    Case("TS-VAL/two-ts-options-c2s", ("TS-VAL", "TS-ECR"),
         "Known bug: client data with two Timestamps options. Linux SYNPROXY's synproxy_tstamp_adjust() "
         "(net/netfilter/nf_synproxy_core.c) returns after adjusting the first Timestamps option it finds, so a "
         "second one leaves unmapped and echoes a foreign clock to the other end.",
         "Every Timestamps option is mapped, the second as well as the first (paper §3.4.1; RFC 7323 §3).",
         two_ts, FULL),
    Case("TS-VAL/two-ts-options-s2c", ("TS-VAL", "TS-ECR"),
         "Server data with two Timestamps options (the same bug seen from the other direction).",
         "Both options mapped (paper §3.4.1).",
         lambda st: two_ts(st, True), FULL),
    Case("TS-VAL/far-behind", ("TS-VAL",),
         "Client data whose TSval is 2^31 - 1 ticks behind the last the proxy received (an old segment).",
         "Mapped by the same equation; PAWS at the receiver decides what it is worth (paper §3.4.1; RFC 7323 "
         "§5.3).",
         lambda st: [from_client(st, 0, payload=b"old", options=[ts_option(st.client, -(HALF - 1), 0)])], FULL),
    Case("TS-VAL/ipv6", ("TS-VAL", "TS-ECR"),
         "IPv6 client data with a Timestamps option.",
         "Mapped as over IPv4 (paper §3.4.1).",
         lambda st: [from_client(st, 0, payload=b"six")], V6),
    # -- TS-ECR ---------------------------------------------------------------------------------------
    Case("TS-ECR/c2s", ("TS-ECR", "TS-VAL"),
         "Client ACK echoing the last TSval the proxy sent it (C.lastsent_TS).",
         "TSecr mapped as TSecr - C.lastsent_TS + D.lastrecv_TS: the server gets its own last TSval back "
         "(paper §3.4.1).",
         lambda st: [from_client(st, 0)], FULL),
    Case("TS-ECR/s2c", ("TS-ECR", "TS-VAL"),
         "Server data echoing D.lastsent_TS + 3.",
         "TSecr mapped to C.lastrecv_TS + 3 (paper §3.4.1).",
         lambda st: [from_server(st, 0, payload=b"echo", options=[ts_option(st.server, 1, 3)])], FULL),
    Case("TS-ECR/ecr-wraps", ("TS-ECR",),
         "The proxy's last TSval to the client was 0xFFFFFFFE; the client echoes 5 ticks later (TSecr 3).",
         "Mapped to D.lastrecv_TS + 5 (paper §3.4.1).",
         lambda st: [from_client(st, 0, options=[ts_option(st.client, 1, 5)])], ECR_WRAPS),
    Case("TS-ECR/ecr-zero", ("TS-ECR",),
         "Client ACK whose TSecr is 0 (RFC 7323 §3.2: a TSecr that may not be meaningful).",
         "Mapped by the same equation: the splice does not judge it (paper §3.4.1).",
         lambda st: [from_client(st, 0, options=[Timestamps(st.client.lastrecv_ts, 0)])], FULL),
    # -- SPLICE-REFUSE: legs that disagree may be left unspliced (paper §3.4's first solution) ----------
    Case("SPLICE-REFUSE/timestamps-one-leg", ("SPLICE-REFUSE", "TS-STRIP"),
         "Only the client leg uses timestamps; client data with a Timestamps option, then server data.",
         "The model splices and strips; an IUT that declines to splice such legs (SpliceRefused from open) "
         "is graded INFO, not FAIL or UNSUPPORTED (paper §3.4: 'we can simply not splice together connections "
         "that have negotiated incompatible options').",
         lambda st: [from_client(st, 0, payload=b"refuse me?"), from_server(st, 0, payload=b"or splice")],
         CLIENT_TS_ONLY),
    # -- TS-STRIP -------------------------------------------------------------------------------------
    Case("TS-STRIP/client-only-c2s", ("TS-STRIP",),
         "Only the client leg uses timestamps: client data with a Timestamps option.",
         "The option is stripped on the way to the server, which never agreed to timestamps (paper §3.4.1: "
         "'it can simply strip the Timestamp option from all packets').",
         lambda st: [from_client(st, 0, payload=b"strip me")], CLIENT_TS_ONLY),
    Case("TS-STRIP/server-only-s2c", ("TS-STRIP",),
         "Only the server leg uses timestamps: server data with a Timestamps option.",
         "Stripped on the way to the client (paper §3.4.1).",
         lambda st: [from_server(st, 0, payload=b"strip me")], SERVER_TS_ONLY),
    Case("TS-STRIP/neither-leg-unsolicited", ("TS-STRIP",),
         "Neither leg negotiated timestamps; the client sends a Timestamps option anyway.",
         "Stripped (paper §3.4.1).",
         unsolicited_ts, NO_TS),
    Case("TS-STRIP/client-only-two-options", ("TS-STRIP",),
         "Only the client leg uses timestamps: client data with two Timestamps options.",
         "Both stripped (paper §3.4.1).",
         two_ts, CLIENT_TS_ONLY),
    Case("TS-STRIP/towards-timestamp-leg", ("TS-STRIP",),
         "Only the client leg uses timestamps: server data (no Timestamps option) to the client, then the "
         "client's ACK with one.",
         "Three legitimate outcomes, each a PASS: relayed as it came, without timestamps (the paper's strip, "
         "the model; a strict RFC 7323 §3.2 client may drop it), relayed with a Timestamps option the splice "
         "supplies (TSval and TSecr at or after the last the proxy sent and received on C: supply-timestamps), "
         "or not spliced at all (refuse). The client's option is stripped on the way to the server.",
         lambda st: [from_server(st, 0, payload=b"to the ts leg"), from_client(st, 0, ack_off=13)],
         CLIENT_TS_ONLY),
    Case("TS-STRIP/strip-keeps-sack", ("TS-STRIP", "SACK-MAP"),
         "Only the client leg uses timestamps, both use SACK: a client ACK with Timestamps and a SACK block.",
         "Timestamps stripped, the SACK block mapped (paper §3.4.1, §3.4.3).",
         lambda st: [from_client(st, 0, ack=st.client.splice_iss, flags=ACK,
                                 options=[Sack((((st.client.splice_iss + 10) & MASK32,
                                                 (st.client.splice_iss + 20) & MASK32),))])], CLIENT_TS_ONLY),
    # -- appended (issue 12): cases a mutant showed missing ------------------------------------------
    Case("TS-ECR/aligned-layout-c2s", ("TS-ECR", "TS-VAL"),
         "Client data whose only options are NOP, NOP, Timestamps — the aligned layout of RFC 7323 "
         "Appendix A that most stacks send (the other cases append the option unaligned).",
         "TSval and TSecr both mapped, exactly as in any other layout (paper §3.4.1; RFC 7323 §3): a fast "
         "path for the common layout must map what the general path maps.",
         lambda st: [from_client(st, 0, payload=b"aligned", options=[NOP, NOP, ts_option(st.client, 1, 3)])],
         FULL),
]


def _ts_disagree(c: Case) -> bool:
    return (c.scenario.client.tsval is None) != (c.scenario.server.tsval is None) and c.execute is None


CASES = [replace(c, alternatives=TS_DISAGREE) if _ts_disagree(c) else c for c in CASES]
