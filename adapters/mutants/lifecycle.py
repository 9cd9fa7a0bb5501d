"""Mutants of the lifecycle after the splice and of the accept direction (issue 17): each a
:class:`~splicecheck.reference.lifecycle.SpliceMachine` subclass (or, for the accept direction, wrong
constants), registered with the requirement it breaks."""

from __future__ import annotations

from dataclasses import replace

from ...conformance.contract import Scenario
from ...reference.codec import decode, encode
from ...reference.lifecycle import Event, EventType, SpliceMachine, Stage
from ...reference.relay import Direction, Leg, RelayResult, SpliceState, relay
from ...reference.segment import ACK, FIN, IP_DF, IPv4Header, IPv6Header, Segment, TcpHeader
from ...reference.seqspace import seq_add
from .base import MUTANTS, Mutant


def _own_fin(leg: Leg, seq: int, ack: int) -> Segment:
    """A FIN of the proxy's own socket on ``leg`` (no options), sealed."""
    if len(leg.local.addr) == 4:
        ip: IPv4Header | IPv6Header = IPv4Header(leg.local.addr, leg.peer.addr, flags=IP_DF)
    else:
        ip = IPv6Header(leg.local.addr, leg.peer.addr)
    return decode(encode(Segment(ip, TcpHeader(leg.local.port, leg.peer.port, seq, ack, FIN | ACK, 0xFFFF), b"")))


class CloseSendsFin(SpliceMachine):
    """close(s); close(c) after the splice closes the sockets as ordinary ones: a FIN on each leg.

    A splice built on a socket layer that keeps the normal close path (tcp_close sending a FIN when the
    application drops its last reference) instead of handing the connection over to the splice: the end
    hosts see the proxy close both connections while the splice still relays (paper figure 3)."""

    def _apply(self, ev: Event, now: float) -> list[RelayResult]:
        out: list[RelayResult] = SpliceMachine._apply(self, ev, now)
        st = self.splice
        if ev.type is EventType.APP_CLOSE and st is not None:
            c, d = st.client, st.server
            out = [*out, RelayResult(Direction.S2C, (_own_fin(c, c.splice_iss, c.splice_irs),), (), now),
                   RelayResult(Direction.C2S, (_own_fin(d, d.splice_iss, d.splice_irs),), (), now)]
        return out


class OkForgotten(SpliceMachine):
    """The OK message leaves C's send queue when the splice is made, so it is never retransmitted.

    A splice that moves C out of the TCP stack's hands at PRESPLICE + n bytes (its retransmission queue
    purged with it), treating 'written' as 'delivered': a lost OK message then stalls the client, which
    waits for bytes nobody will send again (paper §3: the splice completes only on their ACK)."""

    def ok_outstanding(self) -> tuple[int, int] | None:
        return None


class FinEndsSplice(SpliceMachine):
    """The splice is torn down as soon as it relays a FIN, in either direction.

    Treating a FIN like a RST — an easy simplification for a splice that keeps one state per
    connection pair: the half-closed direction's later data (an HTTP/1.0 reply after the request's FIN,
    RFC 9293 §3.6) is no longer relayed."""

    def _relay(self, seg: Segment, now: float) -> list[RelayResult]:
        out: list[RelayResult] = SpliceMachine._relay(self, seg, now)
        if seg.tcp.flags & FIN and out and out[0].segments:
            self.stage = Stage.CLOSED
        return out


def accept_dontack_not_inherited(scenario: Scenario, correct: SpliceState) -> SpliceState:
    """In the accept direction DONT_ACK is set on the accepted socket, not inherited from the listener.

    Socket options set on a listening socket and not copied to the sockets accept() returns are a
    classic bug class. Bytes the server sent before the application accepted the connection (an FTP
    server in active mode sends the file at once) are then acknowledged and queued for the
    application, and D.splice_irs lies past them: they are trimmed as pre-splice data and never reach
    the client."""
    s = correct.server
    return replace(correct, server=replace(s, splice_irs=seq_add(s.splice_irs, scenario.server_presplice)))


for _name, _cls, _req in (("close-sends-fin", CloseSendsFin, "LIFE-CLOSE-SILENT"),
                          ("ok-not-retransmitted", OkForgotten, "LIFE-OK-RETRANSMIT"),
                          ("fin-ends-splice", FinEndsSplice, "LIFE-TEARDOWN")):
    MUTANTS[_name] = Mutant(_name, relay, (_req,), machine_cls=_cls)
MUTANTS["accept-dontack-not-inherited"] = Mutant("accept-dontack-not-inherited", relay, ("LIFE-ACCEPT",),
                                                 accept_fn=accept_dontack_not_inherited)
