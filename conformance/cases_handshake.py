"""Named cases for the proxy's own packets during set-up (paper §3.4): its SYN-ACK to the client, its SYN to
the server and its ACK completing the server-side handshake (the rules are in :mod:`.handshake`).

These packets are not relayed, so no injection shows them: each case opens a session, takes the handshake
the adapter recorded (``Session.proxy_handshake``, from :func:`~.contract.open_handshaken`; an adapter
that records none cannot make the case's precondition observable and is UNSUPPORTED) and checks every
handshake rule on it — the case's own requirement first, the others as collateral, like any observed
difference. Then one data segment each way checks that the splice made from those handshakes relays. The
handshake packets follow the injections in the case's evidence (its pcapng too), marked as such.
"""

from __future__ import annotations

import time

from ..reference.relay import SpliceState
from ..reference.segment import ACK, PSH, Segment
from .case import Case, from_client, from_server
from .cases_common import result, spliced_at
from .contract import Adapter, UnsupportedError, open_handshaken
from .handshake import session_handshake
from .model import Model
from .results import CaseResult
from .runner import run_injections

#: Why a case is UNSUPPORTED on an adapter whose sessions do not report the proxy's handshake packets.
NO_HANDSHAKE = "the adapter reports no handshake packets of the proxy's own (Session.proxy_handshake)"


def data_both_ways(st: SpliceState) -> list[Segment]:
    return [from_client(st, 0, payload=b"hello", flags=ACK | PSH), from_server(st, 0, ack_off=5, payload=b"world",
                                                                               flags=ACK | PSH)]


def handshake_checked(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
    """Check the proxy's handshake packets (every rule of :func:`~.handshake.handshake_diffs`), then run the
    case's injections as the runner would."""
    t0 = time.perf_counter()
    with open_handshaken(adapter, case.scenario) as session:
        hs = session_handshake(session)
        if hs is None:
            raise UnsupportedError(NO_HANDSHAKE)
        checks = hs.diffs()
        ex = run_injections(session, Model(session.state), case.build(session.state), case.primary)
    return result(case, checks + ex.diffs, ex.steps + hs.evidence(), ex.geometry, t0, seed)


def _case(cid: str, reqs: tuple[str, ...], description: str, expectation: str, **scenario: object) -> Case:
    return Case(cid, reqs, description, expectation, data_both_ways, spliced_at(**scenario),  # type: ignore[arg-type]
                execute=handshake_checked)


CASES: list[Case] = [
    # -- HS-SERVER-ACK-TSECR ----------------------------------------------------------------------------
    _case("HS-SERVER-ACK-TSECR/both-timestamps", ("HS-SERVER-ACK-TSECR",),
          "Client and server use timestamps (server SYN-ACK TSval 77000).",
          "The proxy's ACK to the server echoes TSecr 77000, the TSval of the server's SYN-ACK (RFC 7323 §4.3).",
          client_tsval=1_000, server_tsval=77_000),
    _case("HS-SERVER-ACK-TSECR/server-tsval-at-wrap", ("HS-SERVER-ACK-TSECR",),
          "Both use timestamps; the server SYN-ACK's TSval is 0xFFFFFFFF, the client's 0x80000000.",
          "The ACK echoes 0xFFFFFFFF exactly (RFC 7323 §4.3): no arithmetic on the echo.",
          client_tsval=0x8000_0000, server_tsval=0xFFFF_FFFF),
    _case("HS-SERVER-ACK-TSECR/client-without-timestamps", ("HS-SERVER-ACK-TSECR", "HS-CLIENT-ADVERT"),
          "The client offers no timestamps; the server answers whatever the proxy's SYN offered.",
          "If the proxy offered the server timestamps and the server answered with them, the ACK echoes its TSval; "
          "the client is offered no timestamps (RFC 7323 §3.2).",
          client_ts=False),
    # -- HS-SYNACK-TSECR --------------------------------------------------------------------------------
    _case("HS-SYNACK-TSECR/client-tsval", ("HS-SYNACK-TSECR",),
          "The client's SYN carries TSval 1000.",
          "The proxy's SYN-ACK echoes TSecr 1000 (RFC 7323 §4.3).",
          client_tsval=1_000),
    _case("HS-SYNACK-TSECR/client-tsval-at-wrap", ("HS-SYNACK-TSECR",),
          "The client's SYN carries TSval 0xFFFFFFFF.",
          "The proxy's SYN-ACK echoes TSecr 0xFFFFFFFF (RFC 7323 §4.3).",
          client_tsval=0xFFFF_FFFF),
    # -- HS-SYN-OPTIONS ---------------------------------------------------------------------------------
    _case("HS-SYN-OPTIONS/client-ts-and-sack", ("HS-SYN-OPTIONS",),
          "The client offers timestamps and SACK-permitted (the server too).",
          "The proxy's SYN to the server offers both (paper §3.4.1, §3.4.3), so the splice can map them."),
    _case("HS-SYN-OPTIONS/client-sack-without-timestamps", ("HS-SYN-OPTIONS", "HS-CLIENT-ADVERT"),
          "The client offers SACK-permitted but no timestamps (the server offers both).",
          "The proxy's SYN to the server offers SACK-permitted (paper §3.4.3); the client is offered no timestamps.",
          client_ts=False),
    _case("HS-SYN-OPTIONS/client-timestamps-without-sack", ("HS-SYN-OPTIONS", "HS-CLIENT-ADVERT"),
          "The client offers timestamps but not SACK-permitted.",
          "The proxy's SYN to the server offers timestamps (paper §3.4.1); the client is offered no SACK.",
          client_sack=False),
    # -- HS-CLIENT-ADVERT -------------------------------------------------------------------------------
    _case("HS-CLIENT-ADVERT/client-offers-mss-only", ("HS-CLIENT-ADVERT",),
          "The client's SYN offers only an MSS (no window scaling, SACK-permitted or timestamps).",
          "The proxy's SYN-ACK offers none of them (RFC 7323 §2.2, §3.2; RFC 2018 §2).",
          ts=False, sack=False),
    _case("HS-CLIENT-ADVERT/client-without-window-scale", ("HS-CLIENT-ADVERT",),
          "The client offers timestamps and SACK-permitted but no window scale; the server offers scale 7.",
          "The proxy's SYN-ACK carries no Window Scale option (RFC 7323 §2.2).",
          server_wscale=7),
    _case("HS-CLIENT-ADVERT/ipv6-client-offers-mss-only", ("HS-CLIENT-ADVERT",),
          "IPv6: the client's SYN offers only an MSS.",
          "The proxy's SYN-ACK offers no other option (RFC 7323 §2.2, §3.2; RFC 2018 §2).",
          ts=False, sack=False, family=6),
    # -- MSS-536 (the advertisement itself, which the relay cases cannot see) ------------------------------
    _case("MSS-536/proxy-advertises-536", ("MSS-536",),
          "The client's SYN lacks DF (no path MTU discovery).",
          "The proxy's SYN-ACK offers MSS 536 (paper §3.4.4).",
          client_df=False),
]
