"""From a scenario to the reference model's splice: the splice a correct proxy makes for it.

The proxy of the model is a SOCKS-like relay (paper figure 3) with its own addresses on each leg. Its
handshakes follow :mod:`splicecheck.reference.handshake` (§3.4), and the splice is made by driving
:class:`~splicecheck.reference.lifecycle.SpliceMachine` through the figure-3 sequence:

    D connected; client's pre-splice bytes read and forwarded; server's pre-splice bytes read and
    forwarded; INTEND_SPLICE; PRESPLICE(ok_len); the OK message written.

So the constants come out of the lifecycle table itself (LIFE-BASE-S2C, LIFE-BASE-C2S), never from
a second formula. Adapters that make the splice some other way (SYNPROXY) learn their constants
instead and do not use this module.

Before the splice (``Adapter.open_unspliced``, Feature.LIFECYCLE) the model is a machine at stage
UNSPLICED holding only C (:func:`unspliced_machine`); D's socket, the same :func:`handshake_sockets`
gives, arrives with the SERVER_CONNECTED event. :func:`provisional_state` gives such a machine's legs
as a :class:`SpliceState` — the bases fixed so far, the running counters for the rest — so that cases
can build segments before there is a splice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from ..reference.handshake import ProxyConfig, SynOptions, answer_client, negotiate, offer_server
from ..reference.lifecycle import Event, EventType, Socket, SpliceMachine
from ..reference.relay import Endpoint, Leg, Note, RelayResult, SpliceState, direction_of
from ..reference.segment import (
    NOP,
    MaxSegmentSize,
    SackPermitted,
    Segment,
    TcpOption,
    Timestamps,
    WindowScale,
    addr,
    pad_options,
)
from ..reference.seqspace import seq_add
from .contract import PeerPlan, Scenario

DEFAULT_PROXY_ISN_C = 0x5000_0000
DEFAULT_PROXY_ISN_D = 0x7000_0000
DEFAULT_PROXY_TSVAL = 0x0100_0000


@dataclass(frozen=True, slots=True)
class Addresses:
    """The four endpoints of a splice (lab-only ranges: RFC 2544's 198.18.0.0/15, RFC 3849's 2001:db8::/32)."""

    client: Endpoint
    proxy_c: Endpoint
    proxy_d: Endpoint
    server: Endpoint


def addresses(family: int, client_port: int = 40000) -> Addresses:
    if family == 4:
        return Addresses(Endpoint(addr("198.18.0.2"), client_port), Endpoint(addr("198.18.0.1"), 1080),
                         Endpoint(addr("198.19.0.1"), 50000), Endpoint(addr("198.19.0.2"), 80))
    return Addresses(Endpoint(addr("2001:db8:0:1::2"), client_port), Endpoint(addr("2001:db8:0:1::1"), 1080),
                     Endpoint(addr("2001:db8:0:2::1"), 50000), Endpoint(addr("2001:db8:0:2::2"), 80))


# -- SYN options: the one builder of a handshake's options -----------------------------------------------


class OptionLayout(StrEnum):
    """How a SYN's options are laid out on the wire (the values are the same whatever the layout)."""

    #: Linux's tcp_options_write: MSS; SACK-permitted and timestamps sharing 12 bytes, or either alone
    #: behind two NOPs; NOP and window scale.
    LINUX = "linux"
    #: MSS, SACK-permitted, timestamps, NOP and window scale, unaligned (then padded at the end).
    PLAIN = "plain"


def offer_of(p: PeerPlan) -> SynOptions:
    """What an end host's SYN offers, by its plan."""
    return SynOptions(mss=p.mss, wscale=p.wscale, sack_permitted=p.sack_permitted, timestamps=p.tsval is not None)


def offer_in(options: Iterable[TcpOption]) -> SynOptions:
    """What a SYN (or SYN-ACK) with these options offers (the first of each kind counts)."""
    opts = tuple(options)
    mss = next((o.value for o in opts if type(o) is MaxSegmentSize), None)
    ws = next((o.shift for o in opts if type(o) is WindowScale), None)
    return SynOptions(mss=mss, wscale=ws, sack_permitted=any(type(o) is SackPermitted for o in opts),
                      timestamps=any(type(o) is Timestamps for o in opts))


def answer_of(p: PeerPlan, offer: SynOptions) -> SynOptions:
    """What ``p``'s SYN-ACK to a SYN offering ``offer`` carries: its MSS, and every other option only
    if it is in effect once both SYNs are out (:func:`~splicecheck.reference.handshake.negotiate`)."""
    n = negotiate(offer, offer_of(p))
    return SynOptions(mss=p.mss, wscale=p.wscale if n.local_wscale is not None else None, sack_permitted=n.sack,
                      timestamps=n.timestamps)


def wire_options(o: SynOptions, tsval: int | None, tsecr: int = 0,
                 layout: OptionLayout = OptionLayout.LINUX) -> tuple[TcpOption, ...]:
    """``o`` as a SYN's wire options, padded (timestamps only when there is a ``tsval`` to send)."""
    ts = o.timestamps and tsval is not None
    opts: list[TcpOption] = [MaxSegmentSize(o.mss)] if o.mss is not None else []
    if layout is OptionLayout.PLAIN:
        opts += [SackPermitted()] if o.sack_permitted else []
        opts += [Timestamps(tsval, tsecr)] if ts and tsval is not None else []
    elif o.sack_permitted:
        opts += [SackPermitted(), Timestamps(tsval, tsecr)] if ts and tsval is not None else [NOP, NOP, SackPermitted()]
    elif ts and tsval is not None:
        opts += [NOP, NOP, Timestamps(tsval, tsecr)]
    if o.wscale is not None:
        opts += [NOP, WindowScale(o.wscale)]
    return pad_options(opts)


def syn_options(p: PeerPlan, *, answer_to: SynOptions | None = None, tsecr: int = 0,
                layout: OptionLayout = OptionLayout.LINUX) -> tuple[TcpOption, ...]:
    """An end host's SYN (or, with ``answer_to``, its SYN-ACK) options on the wire, by its plan."""
    carried = offer_of(p) if answer_to is None else answer_of(p, answer_to)
    return wire_options(carried, p.tsval, tsecr, layout)


def handshake_sockets(scenario: Scenario, where: Addresses | None = None,
                      config: ProxyConfig | None = None) -> tuple[Socket, Socket]:
    """C's and D's sockets after the reference proxy's handshakes for ``scenario`` (§3.4): the
    scenario's ISNs and TSvals, the model's defaults where the scenario leaves the proxy's open."""
    s = scenario
    where = where or addresses(s.family)
    cfg = config or ProxyConfig()
    c_syn = offer_of(s.client)
    to_client = answer_client(c_syn, s.client.df, cfg)
    to_server = offer_server(c_syn, cfg)
    leg_c = negotiate(c_syn, to_client)
    leg_d = negotiate(offer_of(s.server), to_server)
    ts_c = s.proxy_tsval_c if s.proxy_tsval_c is not None else DEFAULT_PROXY_TSVAL
    ts_d = s.proxy_tsval_d if s.proxy_tsval_d is not None else DEFAULT_PROXY_TSVAL
    sock_c = Socket(where.client, where.proxy_c, s.client.isn,
                    s.proxy_isn_c if s.proxy_isn_c is not None else DEFAULT_PROXY_ISN_C,
                    leg_c.timestamps, s.client.tsval or 0, ts_c, leg_c.sack, leg_c.peer_wscale, leg_c.local_wscale,
                    leg_c.peer_mss)
    sock_d = Socket(where.server, where.proxy_d, s.server.isn,
                    s.proxy_isn_d if s.proxy_isn_d is not None else DEFAULT_PROXY_ISN_D,
                    leg_d.timestamps, s.server.tsval or 0, ts_d, leg_d.sack, leg_d.peer_wscale, leg_d.local_wscale,
                    leg_d.peer_mss)
    return sock_c, sock_d


def unspliced_machine(scenario: Scenario, where: Addresses | None = None) -> SpliceMachine:
    """The lifecycle machine right after the client's handshake: stage UNSPLICED, D not connected."""
    return SpliceMachine(handshake_sockets(scenario, where)[0], strip_style=scenario.strip_style)


def provisional_state(m: SpliceMachine, where: Addresses) -> SpliceState:
    """``m``'s splice if made; before that, its legs with the base points fixed so far and the running
    counters for the others (what a segment sent now is numbered from). Before D is connected the
    server leg is a stand-in with the scenario's addresses and zero counters."""
    if m.splice is not None:
        return m.splice
    c, d = m.c, m.d
    client = c.leg(c.rcv_nxt if m.c2s_irs is None else m.c2s_irs, c.snd_nxt if m.s2c_iss is None else m.s2c_iss)
    if d is None:
        return SpliceState(client, Leg(where.server, where.proxy_d, 0, 0), m.strip_style)
    server = d.leg(d.rcv_nxt if m.s2c_irs is None else m.s2c_irs, d.snd_nxt if m.c2s_iss is None else m.c2s_iss)
    return SpliceState(client, server, m.strip_style)


def reference_machine(scenario: Scenario, where: Addresses | None = None,
                      config: ProxyConfig | None = None, machine: type[SpliceMachine] = SpliceMachine) -> SpliceMachine:
    """A lifecycle machine that has made the scenario's splice (stage SPLICED); ``machine``: the class
    (the mutant zoo substitutes subclasses with a lifecycle bug)."""
    s = scenario
    sock_c, sock_d = handshake_sockets(s, where, config)
    m = machine(sock_c, strip_style=s.strip_style)
    m.handle(Event(EventType.SERVER_CONNECTED, socket=sock_d))
    if s.client_presplice:
        m.handle(Event(EventType.APP_RECV_CLIENT, s.client_presplice))
        m.handle(Event(EventType.APP_SEND_SERVER, s.client_presplice))
    if s.server_presplice:
        m.handle(Event(EventType.APP_RECV_SERVER, s.server_presplice))
        m.handle(Event(EventType.APP_SEND_CLIENT, s.server_presplice))
    m.handle(Event(EventType.INTEND_SPLICE))
    m.handle(Event(EventType.PRESPLICE, s.ok_len))
    if s.ok_len:
        m.handle(Event(EventType.APP_SEND_CLIENT, s.ok_len))
    assert m.splice is not None
    return m


def accepted_sockets(scenario: Scenario, where: Addresses | None = None,
                     config: ProxyConfig | None = None) -> tuple[Socket, Socket]:
    """C's and D's sockets in the accept direction (LIFE-ACCEPT; paper §3 'clients accepting
    connections': FTP active mode, SOCKS BIND): C as in the connect direction; D is the connection the
    server opened to the proxy, whose SYN-ACK the proxy answers knowing leg C already, so it agrees only
    to what the splice can carry unchanged — timestamps and SACK-permitted only if leg C has them, the
    client's window scale if the server offered scaling (§3.4.1–§3.4.3 mutatis mutandis)."""
    s = scenario
    where = where or addresses(s.family)
    cfg = config or ProxyConfig()
    sock_c, _ = handshake_sockets(s, where, cfg)
    c_syn = offer_of(s.client)
    server_syn = offer_of(s.server)
    answer = SynOptions(mss=cfg.mss, wscale=c_syn.wscale if server_syn.wscale is not None else None,
                        sack_permitted=sock_c.sack and server_syn.sack_permitted,
                        timestamps=sock_c.timestamps and server_syn.timestamps)
    leg_d = negotiate(server_syn, answer)
    ts_d = s.proxy_tsval_d if s.proxy_tsval_d is not None else DEFAULT_PROXY_TSVAL
    sock_d = Socket(where.server, where.proxy_d, s.server.isn,
                    s.proxy_isn_d if s.proxy_isn_d is not None else DEFAULT_PROXY_ISN_D,
                    leg_d.timestamps, s.server.tsval or 0, ts_d, leg_d.sack, leg_d.peer_wscale, leg_d.local_wscale,
                    leg_d.peer_mss)
    return sock_c, sock_d


def accepted_machine(scenario: Scenario, where: Addresses | None = None,
                     machine: type[SpliceMachine] = SpliceMachine) -> SpliceMachine:
    """A lifecycle machine that has made the scenario's splice in the accept direction (LIFE-ACCEPT): the
    application issues INTEND_SPLICE on the listening socket, so DONT_ACK is in force on D from its
    handshake and every server byte is held for the splice (``server_presplice`` counts bytes the server
    sent before the application accepted D: held, never read, so D.splice_irs is the server's ISN + 1
    whatever their number); the client's ``client_presplice`` bytes (the BIND request, the PORT command)
    are read by the application and not forwarded; then PRESPLICE(n) and the OK message."""
    s = scenario
    sock_c, sock_d = accepted_sockets(s, where)
    m = machine(sock_c, strip_style=s.strip_style)
    m.handle(Event(EventType.INTEND_SPLICE))  # on the listener, before the server connects
    m.handle(Event(EventType.SERVER_CONNECTED, socket=sock_d))
    if s.client_presplice:
        m.handle(Event(EventType.APP_RECV_CLIENT, s.client_presplice))
    m.handle(Event(EventType.PRESPLICE, s.ok_len))
    if s.ok_len:
        m.handle(Event(EventType.APP_SEND_CLIENT, s.ok_len))
    assert m.splice is not None
    return m


def reference_state(scenario: Scenario, where: Addresses | None = None) -> SpliceState:
    """The splice constants a correct proxy ends up with for ``scenario``."""
    m = reference_machine(scenario, where)
    assert m.splice is not None
    return m.splice


def first_byte(plan: PeerPlan, presplice: int) -> int:
    """Sequence number of an end host's first byte after the pre-splice exchange."""
    return int(seq_add(plan.isn, 1 + presplice))


class Model:
    """The model's side of a session: a lifecycle machine already spliced with the session's constants,
    so that the model's own rules after the splice (a relayed RST closes it; the relay's successor
    state) apply to the expectation exactly as to the reference IUT."""

    def __init__(self, state: SpliceState,
                 relay_fn: Callable[[SpliceState, Segment, float], RelayResult] | None = None) -> None:
        self.machine = SpliceMachine.spliced(state)
        if relay_fn is not None:  # another legitimate outcome's relay (case.Alternative)
            self.machine.relay_fn = relay_fn

    @property
    def state(self) -> SpliceState:
        assert self.machine.splice is not None
        return self.machine.splice

    def relay(self, seg: Segment, now: float) -> RelayResult:
        """What the splice emits for ``seg`` (a RelayResult with nothing emitted once the splice closed)."""
        st = self.state
        if direction_of(st, seg) is None:  # on neither leg: not the splice's, whatever its stage (DIR-ONLY);
            return self.machine.relay_fn(st, seg, now)  # an alternative may still have the host answer it
        from_server = seg.ip.src == st.server.peer.addr and seg.tcp.sport == st.server.peer.port
        kind = EventType.SERVER_SEGMENT if from_server else EventType.CLIENT_SEGMENT
        out = self.machine.handle(Event(kind, segment=seg), now)
        if out:
            return out[0]
        notes = (Note.SPLICE_RESET,) if self.machine.reset else ()  # (reset: CLOSED for good, by a RST)
        return RelayResult(direction_of(st, seg), (), notes, now)
