"""The proxy's own packets while a splice is set up (paper §3.4), and the checks on them.

Theory of operation
-------------------
Before there is a splice the proxy takes part in two handshakes: it answers the client's SYN with a
SYN-ACK of its own, opens the server connection with a SYN of its own and completes it with an ACK of its
own. None of these is relayed, so the diff engine never sees them; what they carry decides what the splice
can later map (§3.4: "the proxy must either negotiate compatible options on both connections, or have a way
to convert between the options both nodes accept"). A :class:`ProxyHandshake` holds the five packets
(the end hosts' two as they were sent, the proxy's three as it emitted them) and
:func:`handshake_diffs` checks them, one :class:`~splicecheck.conformance.results.FieldDiff` per rule
(step and packet -1, as the splice-state checks of ``cases_common.state_diff``):

* HS-CLIENT-ADVERT: the SYN-ACK offers window scaling, SACK-permitted and timestamps only where the client's
  SYN did (RFC 7323 §2.2, §3.2; RFC 2018 §2);
* HS-SYNACK-TSECR: its Timestamps option echoes the client SYN's TSval (RFC 7323 §3.2, §4.3);
* HS-SYN-OPTIONS: the SYN to the server offers timestamps and SACK-permitted whenever the client's SYN did
  (§3.4, §3.4.1, §3.4.3; window scale is WS-PROPAGATE);
* HS-SERVER-ACK-TSECR: the ACK completing the server-side handshake echoes the server SYN-ACK's TSval
  (RFC 7323 §4.3: TSecr is TS.Recent, the TSval most recently received);
* MSS-536 (when the client's DF bit is known): a client whose SYN lacks DF is offered MSS 536 (§3.4.4).

The checks take option lists, not segments, so that the offline trace checker (which holds parsed
options) runs the very same function.

Who supplies the packets: a session may expose ``proxy_handshake`` (:func:`session_handshake`). Live
adapters record what the proxy emitted (SYNPROXY); the reference adapter gives :func:`model_handshake`,
the handshakes of the model's proxy (:mod:`splicecheck.reference.handshake`) for the scenario, which is
also what the splice state of :func:`~splicecheck.conformance.model.handshake_sockets` is made of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..reference.codec import encode
from ..reference.handshake import MIN_MSS, ProxyConfig, SynOptions, answer_client, negotiate, offer_server
from ..reference.relay import Endpoint
from ..reference.segment import (
    ACK,
    IP_DF,
    NOP,
    SYN,
    IPv4Header,
    IPv6Header,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
)
from ..reference.seqspace import seq_add
from .contract import Observation, Scenario
from .diff import summary
from .model import (
    DEFAULT_PROXY_ISN_C,
    DEFAULT_PROXY_ISN_D,
    DEFAULT_PROXY_TSVAL,
    Addresses,
    addresses,
    offer_in,
    offer_of,
    syn_options,
    wire_options,
)
from .results import FieldDiff, StepRecord

#: The requirements :func:`handshake_diffs` checks (MSS-536 only when the client's DF bit is given).
HANDSHAKE_REQS = ("HS-CLIENT-ADVERT", "HS-SYNACK-TSECR", "HS-SYN-OPTIONS", "HS-SERVER-ACK-TSECR")
HANDSHAKE_WINDOW = 65535

Options = Sequence[TcpOption]


@dataclass(frozen=True, slots=True)
class ProxyHandshake:
    """The two handshakes a proxy took part in: the end hosts' packets and the proxy's own."""

    client_syn: Segment  # client → proxy
    proxy_synack: Segment  # proxy → client
    proxy_syn: Segment  # proxy → server
    server_synack: Segment  # server → proxy
    proxy_ack: Segment | None  # proxy → server, completing its handshake (None: not sent or not seen)

    @property
    def observation(self) -> Observation:
        """The proxy's own packets per leg, as an adapter's observation would hold them."""
        to_server = (encode(self.proxy_syn),) + ((encode(self.proxy_ack),) if self.proxy_ack is not None else ())
        return Observation((encode(self.proxy_synack),), to_server)

    def evidence(self) -> list[StepRecord]:
        """The two handshakes as evidence records, appended after a case's injections (so that the step
        numbers of its differences keep pointing at the injections): what each end host sent and what the
        proxy emitted of its own in answer. No expected packets: the checks are :meth:`diffs`."""
        def rec(leg: str, sent: Segment, to_client: tuple[Segment, ...], to_server: tuple[Segment, ...]) -> StepRecord:
            out = [encode(x) for x in (*to_client, *to_server)]
            return StepRecord(leg, encode(sent).hex(), actual_to_client=[encode(x).hex() for x in to_client],
                              actual_to_server=[encode(x).hex() for x in to_server],
                              summary_input=f"handshake (not an injection): {summary(encode(sent))}",
                              summary_actual=[summary(x) for x in out])
        ack = (self.proxy_ack,) if self.proxy_ack is not None else ()
        return [rec("client", self.client_syn, (self.proxy_synack,), (self.proxy_syn,)),
                rec("server", self.server_synack, (), ack)]

    def diffs(self) -> list[FieldDiff]:
        c = self.client_syn
        df = bool(c.ip.flags & IP_DF) if isinstance(c.ip, IPv4Header) else None
        return handshake_diffs(c.tcp.options, self.proxy_synack.tcp.options, self.proxy_syn.tcp.options,
                               self.server_synack.tcp.options,
                               self.proxy_ack.tcp.options if self.proxy_ack is not None else None, client_df=df)


def session_handshake(session: object) -> ProxyHandshake | None:
    """The session's ``proxy_handshake`` (optional in the adapter contract), or None if it has none."""
    hs = getattr(session, "proxy_handshake", None)
    return hs if isinstance(hs, ProxyHandshake) else None


class Seen(NamedTuple):
    """One handshake packet as the checks read it: what its options offer
    (:func:`~splicecheck.conformance.model.offer_in`) and its first Timestamps option's (TSval, TSecr), None
    without one."""

    offer: SynOptions
    ts: tuple[int, int] | None


_NOTHING_OFFERED = SynOptions()


def seen(options: Options) -> Seen:
    """The view of a packet with these TCP options."""
    ts = next((o for o in options if type(o) is Timestamps), None)
    return Seen(offer_in(options), (ts.tsval, ts.tsecr) if ts is not None else None)


def _check(field: str, expected: object, actual: object, req: str) -> FieldDiff:
    return FieldDiff(-1, -1, field, expected, actual, req)


def handshake_diffs(client_syn: Options | None, synack: Options | None, syn: Options | None,
                    server_synack: Options | None, ack: Options | None, *,
                    client_df: bool | None = None) -> list[FieldDiff]:
    """Every check of the module docstring that the given packets allow (None: that packet was not seen;
    without the client's SYN only the echo in the proxy's ACK to the server can be checked)."""
    return seen_diffs(*(seen(o) if o is not None else None for o in (client_syn, synack, syn, server_synack, ack)),
                      client_df=client_df)


def seen_diffs(client_syn: Seen | None, synack: Seen | None, syn: Seen | None, server_synack: Seen | None,
               ack: Seen | None, *, client_df: bool | None = None) -> list[FieldDiff]:
    """:func:`handshake_diffs` on packets whose options were read already (the trace checker decodes each
    handshake packet's options once, for the splice's parameters too)."""
    out: list[FieldDiff] = []
    offered = client_syn.offer if client_syn is not None else _NOTHING_OFFERED
    client_ts = client_syn.ts if client_syn is not None else None
    if synack is not None and client_syn is not None:
        answer = synack.offer
        for name, client_has, proxy_has in (("window scale", offered.wscale is not None, answer.wscale is not None),
                                            ("SACK-permitted", offered.sack_permitted, answer.sack_permitted),
                                            ("timestamps", offered.timestamps, answer.timestamps)):
            if not client_has:
                out.append(_check(f"proxy's SYN-ACK offers {name} (the client's SYN did not)", False, proxy_has,
                                  "HS-CLIENT-ADVERT"))
        synack_ts = synack.ts
        if client_ts is not None and synack_ts is not None:
            out.append(_check("proxy's SYN-ACK TSecr (the client SYN's TSval)", client_ts[0], synack_ts[1],
                              "HS-SYNACK-TSECR"))
        if client_df is False:
            out.append(_check("proxy's SYN-ACK MSS (client SYN without DF)", MIN_MSS, answer.mss, "MSS-536"))
    if syn is not None:
        proposed = syn.offer
        if offered.timestamps:  # (False without the client's SYN)
            out.append(_check("proxy's SYN to the server offers timestamps (the client's SYN did)", True,
                              proposed.timestamps, "HS-SYN-OPTIONS"))
        if offered.sack_permitted:
            out.append(_check("proxy's SYN to the server offers SACK-permitted (the client's SYN did)", True,
                              proposed.sack_permitted, "HS-SYN-OPTIONS"))
        server_ts = server_synack.ts if server_synack is not None else None
        if ack is not None and server_ts is not None and proposed.timestamps:
            out.append(_check("proxy's ACK to the server TSecr (the server SYN-ACK's TSval)", server_ts[0],
                              ack.ts[1] if ack.ts is not None else None, "HS-SERVER-ACK-TSECR"))
    return out


def model_handshake(scenario: Scenario, where: Addresses | None = None,
                    config: ProxyConfig | None = None) -> ProxyHandshake:
    """The handshakes of the model's proxy for ``scenario`` (:func:`~splicecheck.conformance.model.handshake_sockets`
    has the same numbers): its SYN-ACK answers the client (``answer_client``), its SYN offers
    ``offer_server``, the server answers what was offered, and the proxy's ACK echoes the server's TSval."""
    s = scenario
    where = where or addresses(s.family)
    cfg = config or ProxyConfig()
    c, srv = s.client, s.server
    to_client = answer_client(offer_of(c), c.df, cfg)
    to_server = offer_server(offer_of(c), cfg)
    isn_c = s.proxy_isn_c if s.proxy_isn_c is not None else DEFAULT_PROXY_ISN_C
    isn_d = s.proxy_isn_d if s.proxy_isn_d is not None else DEFAULT_PROXY_ISN_D
    ts_c = s.proxy_tsval_c if s.proxy_tsval_c is not None else DEFAULT_PROXY_TSVAL
    ts_d = s.proxy_tsval_d if s.proxy_tsval_d is not None else DEFAULT_PROXY_TSVAL

    def seg(src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int, options: tuple[TcpOption, ...],
            df: bool = True) -> Segment:
        ip: IPv4Header | IPv6Header = IPv6Header(src.addr, dst.addr) if s.family == 6 else \
            IPv4Header(src.addr, dst.addr, flags=IP_DF if df else 0)
        return Segment(ip, TcpHeader(src.port, dst.port, seq, ack, flags, HANDSHAKE_WINDOW, options=options))

    client_syn = seg(where.client, where.proxy_c, c.isn, 0, SYN, syn_options(c), c.df)
    synack = seg(where.proxy_c, where.client, isn_c, seq_add(c.isn, 1), SYN | ACK,
                 wire_options(to_client, ts_c, c.tsval or 0))
    syn = seg(where.proxy_d, where.server, isn_d, 0, SYN, wire_options(to_server, ts_d))
    server_synack = seg(where.server, where.proxy_d, srv.isn, seq_add(isn_d, 1), SYN | ACK,
                        syn_options(srv, answer_to=to_server, tsecr=ts_d))
    leg_d = negotiate(offer_of(srv), to_server)
    ack_opts: tuple[TcpOption, ...] = (NOP, NOP, Timestamps(ts_d, srv.tsval or 0)) if leg_d.timestamps else ()
    ack = seg(where.proxy_d, where.server, seq_add(isn_d, 1), seq_add(srv.isn, 1), ACK, ack_opts)
    return ProxyHandshake(client_syn, synack, syn, server_synack, ack)
