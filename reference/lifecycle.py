"""The splice lifecycle (paper §3, figures 3, 4, 6, 7) as one transition table.

Theory of operation (after h11's ``_state.py``)
-----------------------------------------------
The proxy holds two sockets: C, connected to the client, and D, to the server. A SOCKS-like proxy
(figure 3) does::

    ioctl(D, INTEND_SPLICE, C)   # D gets DONT_ACK: server data is held, not acked, for the splice
    connect(D)                   # D's handshake
    ioctl(C, PRESPLICE, {D, n})  # base points fixed; the next n bytes written on C are the OK message
    send(C, OK message)          # after n bytes the splice is made: held data is relayed
    ...                          # the client's ACK covering the OK message completes the splice

Stages and events are enums; ``TRANSITIONS`` maps every ``(stage, event)`` pair to either the stages
it may lead to or the reason it is refused, so the table is total (LIFE-TOTAL) and documentation and
tests are generated from it. ``SpliceMachine.handle`` applies one event and returns what the splice
emits; the base points are chosen exactly as in figures 6 and 7 (LIFE-BASE-S2C, LIFE-BASE-C2S):

- server → client: ``splice_irs`` = D's ``rcv_nxt`` when DONT_ACK took effect (at INTEND_SPLICE, or
  when D connects if that comes later); ``splice_iss`` = C's ``snd_nxt`` at PRESPLICE plus ``n``;
- client → server: ``splice_irs`` = C's ``rcv_nxt`` at PRESPLICE; ``splice_iss`` = D's ``snd_nxt`` then.

The timestamps that the §3.4.1 equations subtract are the last ones sent and received on each socket
when the splice is made, i.e. after the OK message (its TSval is the last the client saw from the
proxy), so that mapped server timestamps continue the client's PAWS order.

Segments the proxy's own TCP handles (before the splice, or pure ACKs while it is being made) are
"absorbed": the splice emits nothing for them.

After the splice (figure 3's last lines and what follows them):

- ``APP_CLOSE`` is figure 3's ``close(s); close(c)``: the application lets go of both spliced sockets.
  The splice sends nothing for it and keeps relaying (LIFE-CLOSE-SILENT); before the splice is made a
  close is the proxy's own TCP close (a FIN), which this table does not model, so it is refused there.
- ``TIMER`` is the proxy's timers running out: its retransmission timer and, once both FINs are
  acknowledged, the splice's linger (a live adapter waits them out, or shortens them in its lab). Until
  the client has acknowledged the whole OK message the proxy still owns it and retransmits its
  unacknowledged bytes (LIFE-OK-RETRANSMIT): :meth:`SpliceMachine.ok_outstanding`. After completion a
  timer emits nothing (LIFE-SILENT).
- FINs are relayed like any segment (SEQ-CTL). Once each direction's FIN has been relayed and
  acknowledged by the other end host, the splice lingers as a TCP end point in TIME-WAIT would (a
  retransmitted FIN still needs its ACK relayed, RFC 9293 §3.6) and ends on the next ``TIMER``
  (LIFE-TEARDOWN): stage CLOSED, as after a relayed RST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from .codec import decode, encode
from .errors import SpliceStateError
from .mapping import behind_base
from .relay import Direction, Endpoint, Leg, RelayResult, SpliceState, StripStyle, relay
from .segment import ACK, FIN, IP_DF, NOP, PSH, RST, IPv4Header, IPv6Header, Segment, TcpHeader, Timestamps, pad_options
from .seqspace import before, seq_add, seq_sub


class Stage(Enum):
    UNSPLICED = "unspliced"  # two ordinary sockets
    INTENDED = "intended"  # INTEND_SPLICE done, D not yet connected
    CONNECTED = "connected"  # D connected, DONT_ACK in force: server data held
    PRESPLICED = "prespliced"  # base points fixed, OK message being written
    SPLICED = "spliced"  # OK message written, relaying, waiting for its ACK
    COMPLETE = "complete"  # ACK of the OK message seen
    CLOSED = "closed"  # a RST was relayed, or both FINs were acknowledged and a TIMER ran out


class EventType(Enum):
    INTEND_SPLICE = "intend-splice"
    SERVER_CONNECTED = "server-connected"
    APP_RECV_CLIENT = "app-recv-client"  # the proxy application read bytes from C
    APP_SEND_CLIENT = "app-send-client"  # ... wrote bytes to C (in PRESPLICED: the OK message)
    APP_RECV_SERVER = "app-recv-server"
    APP_SEND_SERVER = "app-send-server"
    PRESPLICE = "presplice"
    CLIENT_SEGMENT = "client-segment"  # a segment from the client arrives at C
    SERVER_SEGMENT = "server-segment"  # a segment from the server arrives at D
    APP_CLOSE = "app-close"  # the application closes C and D (figure 3's close(s); close(c))
    TIMER = "timer"  # the proxy's timers run out (retransmission; the linger after both FINs)


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


S, E = Stage, EventType
_A = frozenset  # allowed next stages
_R = Refused
_SPLICED_APP = _R("the socket is spliced: the application no longer reads or writes it")
_D_DOWN = _R("D is not connected")
_HELD = _R("DONT_ACK is in force: server data is held for the splice, not read by the application")
_OK_PENDING = _R("only the OK message may be written between PRESPLICE and the splice")
_AGAIN = _R("INTEND_SPLICE was already issued")
_D_UP = _R("D is already connected")
_PRESPLICE_AGAIN = _R("PRESPLICE was already issued")
_OWN_CLOSE = _R("before the splice is made a close is the proxy's own TCP close (a FIN), not a splice event")

#: The whole lifecycle: stage → event → allowed next stages, or the reason the event is refused.
TRANSITIONS: dict[Stage, dict[EventType, frozenset[Stage] | Refused]] = {
    S.UNSPLICED: {
        E.INTEND_SPLICE: _A({S.INTENDED, S.CONNECTED}),
        E.SERVER_CONNECTED: _A({S.UNSPLICED}),  # refused at run time if D is up already
        E.APP_RECV_CLIENT: _A({S.UNSPLICED}), E.APP_SEND_CLIENT: _A({S.UNSPLICED}),
        E.APP_RECV_SERVER: _A({S.UNSPLICED}), E.APP_SEND_SERVER: _A({S.UNSPLICED}),
        E.PRESPLICE: _R("PRESPLICE needs INTEND_SPLICE first (figure 3)"),
        E.CLIENT_SEGMENT: _A({S.UNSPLICED}), E.SERVER_SEGMENT: _A({S.UNSPLICED}),
        E.APP_CLOSE: _OWN_CLOSE, E.TIMER: _A({S.UNSPLICED}),
    },
    S.INTENDED: {
        E.INTEND_SPLICE: _AGAIN, E.SERVER_CONNECTED: _A({S.CONNECTED}),
        E.APP_RECV_CLIENT: _A({S.INTENDED}), E.APP_SEND_CLIENT: _A({S.INTENDED}),
        E.APP_RECV_SERVER: _D_DOWN, E.APP_SEND_SERVER: _D_DOWN,
        E.PRESPLICE: _R("PRESPLICE needs D connected: splice_iss of client→server is D's snd_nxt"),
        E.CLIENT_SEGMENT: _A({S.INTENDED}), E.SERVER_SEGMENT: _D_DOWN,
        E.APP_CLOSE: _OWN_CLOSE, E.TIMER: _A({S.INTENDED}),
    },
    S.CONNECTED: {
        E.INTEND_SPLICE: _AGAIN, E.SERVER_CONNECTED: _D_UP,
        E.APP_RECV_CLIENT: _A({S.CONNECTED}), E.APP_SEND_CLIENT: _A({S.CONNECTED}),
        E.APP_RECV_SERVER: _HELD, E.APP_SEND_SERVER: _A({S.CONNECTED}),
        # n == 0 splices at once; the held segments then relayed may complete (an ACK covering the whole,
        # here empty, OK message) or close (a RST) the splice in the same step
        E.PRESPLICE: _A({S.PRESPLICED, S.SPLICED, S.COMPLETE, S.CLOSED}),
        E.CLIENT_SEGMENT: _A({S.CONNECTED}), E.SERVER_SEGMENT: _A({S.CONNECTED}),
        E.APP_CLOSE: _OWN_CLOSE, E.TIMER: _A({S.CONNECTED}),
    },
    S.PRESPLICED: {
        E.INTEND_SPLICE: _AGAIN, E.SERVER_CONNECTED: _D_UP,
        # the last byte of the OK message makes the splice; held segments released then may complete
        # or close it at once (a held client ACK already covering the OK message, a held RST)
        E.APP_RECV_CLIENT: _OK_PENDING, E.APP_SEND_CLIENT: _A({S.PRESPLICED, S.SPLICED, S.COMPLETE, S.CLOSED}),
        E.APP_RECV_SERVER: _HELD, E.APP_SEND_SERVER: _OK_PENDING,
        E.PRESPLICE: _PRESPLICE_AGAIN,
        E.CLIENT_SEGMENT: _A({S.PRESPLICED}), E.SERVER_SEGMENT: _A({S.PRESPLICED}),
        E.APP_CLOSE: _OK_PENDING, E.TIMER: _A({S.PRESPLICED}),
    },
    S.SPLICED: {
        E.INTEND_SPLICE: _AGAIN, E.SERVER_CONNECTED: _D_UP,
        E.APP_RECV_CLIENT: _SPLICED_APP, E.APP_SEND_CLIENT: _SPLICED_APP,
        E.APP_RECV_SERVER: _SPLICED_APP, E.APP_SEND_SERVER: _SPLICED_APP,
        E.PRESPLICE: _PRESPLICE_AGAIN,
        E.CLIENT_SEGMENT: _A({S.SPLICED, S.COMPLETE, S.CLOSED}),
        E.SERVER_SEGMENT: _A({S.SPLICED, S.CLOSED}),
        # figure 3 closes both sockets right after the OK message: nothing sent, the splice stays
        E.APP_CLOSE: _A({S.SPLICED}), E.TIMER: _A({S.SPLICED}),  # the timer retransmits the OK message
    },
    S.COMPLETE: {
        E.INTEND_SPLICE: _AGAIN, E.SERVER_CONNECTED: _D_UP,
        E.APP_RECV_CLIENT: _SPLICED_APP, E.APP_SEND_CLIENT: _SPLICED_APP,
        E.APP_RECV_SERVER: _SPLICED_APP, E.APP_SEND_SERVER: _SPLICED_APP,
        E.PRESPLICE: _PRESPLICE_AGAIN,
        E.CLIENT_SEGMENT: _A({S.COMPLETE, S.CLOSED}), E.SERVER_SEGMENT: _A({S.COMPLETE, S.CLOSED}),
        E.APP_CLOSE: _A({S.COMPLETE}),
        E.TIMER: _A({S.COMPLETE, S.CLOSED}),  # CLOSED: both FINs acknowledged, the lingering ends
    },
    S.CLOSED: {
        **{e: _R("the splice was closed by a RST") for e in EventType},
        E.CLIENT_SEGMENT: _A({S.CLOSED}), E.SERVER_SEGMENT: _A({S.CLOSED}),  # not relayed any more
        E.TIMER: _A({S.CLOSED}),  # time passes whatever the stage
    },
}


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Socket:
    """One of the proxy's connections after its handshake (all numbers as the proxy sees them)."""

    peer: Endpoint
    local: Endpoint
    peer_isn: int
    local_isn: int
    timestamps: bool = False
    peer_tsval: int = 0  # last TSval received from the peer
    local_tsval: int = 0  # last TSval sent to the peer
    sack: bool = False
    peer_wscale: int | None = None
    local_wscale: int | None = None
    peer_mss: int = 536


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    nbytes: int = 0  # APP_* byte counts; PRESPLICE's n (the OK message length)
    tsval: int | None = None  # APP_*: the TSval carried by the proxy's/peer's segment
    socket: Socket | None = None  # SERVER_CONNECTED
    segment: Segment | None = None  # *_SEGMENT

    def __post_init__(self) -> None:
        if self.nbytes < 0:
            raise ValueError("byte counts are non-negative")
        if (self.type is EventType.SERVER_CONNECTED) != (self.socket is not None):
            raise ValueError("SERVER_CONNECTED, and only it, carries the connected socket")
        if (self.type in (EventType.CLIENT_SEGMENT, EventType.SERVER_SEGMENT)) != (self.segment is not None):
            raise ValueError("segment events, and only they, carry a segment")


@dataclass(slots=True)
class _Counters:
    sock: Socket
    snd_nxt: int
    rcv_nxt: int
    lastsent_ts: int
    lastrecv_ts: int

    @classmethod
    def of(cls, sock: Socket) -> _Counters:
        return cls(sock, seq_add(sock.local_isn, 1), seq_add(sock.peer_isn, 1), sock.local_tsval, sock.peer_tsval)

    def leg(self, splice_irs: int, splice_iss: int) -> Leg:
        s = self.sock
        return Leg(s.peer, s.local, splice_irs, splice_iss, s.timestamps, self.lastrecv_ts, self.lastsent_ts,
                   s.sack, s.peer_wscale, s.local_wscale, s.peer_mss)


@dataclass(slots=True)
class SpliceMachine:
    """The proxy's view of one splice, driven by :class:`Event`\\ s (mutable, like h11's ConnectionState)."""

    client: Socket
    server: Socket | None = None
    strip_style: StripStyle = StripStyle.NOP
    stage: Stage = Stage.UNSPLICED
    c: _Counters = field(init=False)
    d: _Counters | None = field(init=False, default=None)
    s2c_irs: int | None = None  # fixed when DONT_ACK takes effect
    c2s_irs: int | None = None  # fixed at PRESPLICE
    c2s_iss: int | None = None
    s2c_iss: int | None = None
    ok_remaining: int = 0
    ok_len: int = 0  # PRESPLICE's n
    ok_una: int | None = None  # the OK message's first byte the client has not acknowledged (once spliced)
    app_closed: bool = False  # APP_CLOSE done (LIFE-CLOSE-SILENT)
    reset: bool = False  # CLOSED by a RST the splice relayed (LIFE-AFTER-RST), not by the lingering's end
    fin_end: dict[Direction, int] = field(default_factory=dict)  # per direction: relayed FIN's end, out space
    fin_acked: set[Direction] = field(default_factory=set)  # directions whose FIN the other end acknowledged
    held: list[Segment] = field(default_factory=list)
    splice: SpliceState | None = None
    history: list[tuple[Stage, EventType, Stage]] = field(default_factory=list)
    #: the relay function applied once spliced (the conformance suite's mutants substitute their own)
    relay_fn: Callable[[SpliceState, Segment, float], RelayResult] = relay

    def __post_init__(self) -> None:
        self.c = _Counters.of(self.client)
        if self.server is not None:
            self.d = _Counters.of(self.server)

    @classmethod
    def spliced(cls, splice: SpliceState) -> SpliceMachine:
        """A machine whose splice is already made with the given constants (stage SPLICED): for IUTs
        that make their splices some other way and whose constants were learnt from the wire."""

        def sock(leg: Leg) -> Socket:
            return Socket(leg.peer, leg.local, seq_add(leg.splice_irs, -1), seq_add(leg.splice_iss, -1),
                          leg.timestamps, leg.lastrecv_ts, leg.lastsent_ts, leg.sack, leg.peer_wscale,
                          leg.local_wscale, leg.peer_mss)

        m = cls(sock(splice.client), sock(splice.server), splice.strip_style)
        m.s2c_irs, m.c2s_irs = splice.server.splice_irs, splice.client.splice_irs
        m.c2s_iss, m.s2c_iss = splice.server.splice_iss, splice.client.splice_iss
        m.splice, m.stage = splice, Stage.SPLICED
        return m

    # -- the one entry point -------------------------------------------------------------------------
    def handle(self, event: Event, now: float = 0.0) -> list[RelayResult]:
        """Apply ``event``; return what the splice emits (empty unless segments are relayed)."""
        rule = TRANSITIONS[self.stage][event.type]
        if isinstance(rule, Refused):
            raise SpliceStateError(self.stage.value, event.type.value, rule.reason)
        before_stage = self.stage
        out = self._apply(event, now)
        if self.stage not in rule:  # the handlers and the table must agree (tested exhaustively)
            raise AssertionError(f"{before_stage} --{event.type}--> {self.stage} is not in TRANSITIONS")
        self.history.append((before_stage, event.type, self.stage))
        return out

    # -- handlers -----------------------------------------------------------------------------------
    def _apply(self, ev: Event, now: float) -> list[RelayResult]:
        t = ev.type
        if t is EventType.INTEND_SPLICE:
            if self.d is None:
                self.stage = Stage.INTENDED
            else:
                self.s2c_irs = self.d.rcv_nxt  # figure 6: what D next expected when DONT_ACK was set
                self.stage = Stage.CONNECTED
        elif t is EventType.SERVER_CONNECTED:
            if self.d is not None:
                raise SpliceStateError(self.stage.value, t.value, "D is already connected")
            assert ev.socket is not None
            self.server = ev.socket
            self.d = _Counters.of(ev.socket)
            if self.stage is Stage.INTENDED:
                self.s2c_irs = self.d.rcv_nxt  # DONT_ACK was set before D connected
                self.stage = Stage.CONNECTED
        elif t in (EventType.APP_RECV_CLIENT, EventType.APP_SEND_CLIENT, EventType.APP_RECV_SERVER,
                   EventType.APP_SEND_SERVER):
            self._app_io(ev)
            if t is EventType.APP_SEND_CLIENT and self.stage is Stage.PRESPLICED:
                if ev.nbytes > self.ok_remaining:
                    raise SpliceStateError(self.stage.value, t.value,
                                           f"{ev.nbytes} bytes written but only {self.ok_remaining} of the "
                                           "OK message remain")
                self.ok_remaining -= ev.nbytes
                if self.ok_remaining == 0:
                    return self._make_splice(now)
        elif t is EventType.PRESPLICE:
            assert self.d is not None and self.s2c_irs is not None
            self.c2s_irs = self.c.rcv_nxt  # figure 7: the client's next byte ...
            self.c2s_iss = self.d.snd_nxt  # ... becomes the next byte the server expects
            self.s2c_iss = seq_add(self.c.snd_nxt, ev.nbytes)  # figure 6: right after the OK message
            self.ok_remaining = self.ok_len = ev.nbytes
            self.stage = Stage.PRESPLICED
            if ev.nbytes == 0:
                return self._make_splice(now, complete=True)
        elif t is EventType.APP_CLOSE:
            self.app_closed = True  # figure 3's close(s); close(c): the splice sends nothing, relays on
        elif t is EventType.TIMER:
            return self._timer(now)
        else:
            assert ev.segment is not None
            return self._segment(ev.type, ev.segment, now)
        return []

    # -- after the splice: the OK message's retransmission, teardown ----------------------------------
    def ok_outstanding(self) -> tuple[int, int] | None:
        """(first sequence number, byte count) of the OK message the client has not acknowledged yet,
        while the splice waits for that ACK (stage SPLICED); None otherwise (LIFE-OK-RETRANSMIT)."""
        if self.stage is not Stage.SPLICED or self.ok_una is None or self.s2c_iss is None:
            return None
        left = seq_sub(self.s2c_iss, self.ok_una)
        return (self.ok_una, left) if left else None

    def fins_done(self) -> bool:
        """Both directions' FINs relayed and acknowledged (LIFE-TEARDOWN)."""
        return len(self.fin_acked) == 2

    def _timer(self, now: float) -> list[RelayResult]:
        due = self.ok_outstanding()
        if due is not None:
            return [self._ok_retransmission(*due, now)]
        if self.stage is Stage.COMPLETE and self.fins_done():
            self.stage = Stage.CLOSED  # the lingering after both FINs is over
        return []

    def _ok_retransmission(self, seq: int, count: int, now: float) -> RelayResult:
        """The proxy's own retransmission of the unacknowledged OK message on C (LIFE-OK-RETRANSMIT): its
        bytes from ``seq``, as many as the client's MSS allows, acknowledging C's ``splice_irs`` (the proxy
        acknowledges no client byte of the splice's), timestamps as last sent and received on C. The model
        does not know what the application wrote, so the bytes are zeros; the cases judge the sequence
        range, not the content."""
        assert self.splice is not None
        leg = self.splice.client
        n = min(count, leg.peer_mss)
        if len(leg.local.addr) == 4:
            ip: IPv4Header | IPv6Header = IPv4Header(leg.local.addr, leg.peer.addr, flags=IP_DF)
        else:
            ip = IPv6Header(leg.local.addr, leg.peer.addr)
        opts = pad_options((NOP, NOP, Timestamps(leg.lastsent_ts, leg.lastrecv_ts))) if leg.timestamps else ()
        tcp = TcpHeader(leg.local.port, leg.peer.port, seq, leg.splice_irs, ACK | PSH, 0xFFFF, 0, opts)
        seg = decode(encode(Segment(ip, tcp, bytes(n))))
        return RelayResult(Direction.S2C, (seg,), (), now)

    def _track_close(self, seg: Segment, result: RelayResult) -> None:
        """FINs relayed and their acknowledgments, per direction, in the out space of the FIN's direction."""
        if result.direction is None:
            return
        other = Direction.S2C if result.direction is Direction.C2S else Direction.C2S
        end = self.fin_end.get(other)
        if seg.tcp.flags & ACK and end is not None and not before(seg.tcp.ack, end):
            self.fin_acked.add(other)  # this segment's ack covers the other direction's FIN
        out = result.segments
        if seg.tcp.flags & FIN and out and out[0].tcp.flags & FIN:
            o = out[0]
            self.fin_end[result.direction] = seq_add(o.tcp.seq, len(o.payload) + 1)

    def _app_io(self, ev: Event) -> None:
        if ev.type in (EventType.APP_RECV_SERVER, EventType.APP_SEND_SERVER) and self.d is None:
            raise SpliceStateError(self.stage.value, ev.type.value, "D is not connected")
        ctr = self.c if ev.type in (EventType.APP_RECV_CLIENT, EventType.APP_SEND_CLIENT) else self.d
        assert ctr is not None
        if ev.type in (EventType.APP_RECV_CLIENT, EventType.APP_RECV_SERVER):
            ctr.rcv_nxt = seq_add(ctr.rcv_nxt, ev.nbytes)
            if ev.tsval is not None:
                ctr.lastrecv_ts = ev.tsval
        else:
            ctr.snd_nxt = seq_add(ctr.snd_nxt, ev.nbytes)
            if ev.tsval is not None:
                ctr.lastsent_ts = ev.tsval

    def _make_splice(self, now: float, *, complete: bool = False) -> list[RelayResult]:
        """The OK message is written: fix the relay constants and release held segments (LIFE-RELEASE).
        ``complete``: there was no OK message (n = 0), so the splice is complete at once (LIFE-OK-ZERO;
        paper §3 'in which case the splice is completed immediately')."""
        assert self.d is not None and None not in (self.s2c_irs, self.c2s_irs, self.c2s_iss, self.s2c_iss)
        self.splice = SpliceState(
            client=self.c.leg(splice_irs=self.c2s_irs or 0, splice_iss=self.s2c_iss or 0),
            server=self.d.leg(splice_irs=self.s2c_irs or 0, splice_iss=self.c2s_iss or 0),
            strip_style=self.strip_style,
        )
        self.stage = Stage.COMPLETE if complete else Stage.SPLICED
        self.ok_una = seq_sub(self.s2c_iss or 0, self.ok_len)
        held, self.held = self.held, []
        out: list[RelayResult] = []
        for seg in held:
            out.extend(self._relay(seg, now))
        return out

    def _segment(self, t: EventType, seg: Segment, now: float) -> list[RelayResult]:
        if self.stage in (Stage.SPLICED, Stage.COMPLETE):
            return self._relay(seg, now)
        if self.stage is Stage.CLOSED:
            return []
        if t is EventType.SERVER_SEGMENT and self.d is None:
            raise SpliceStateError(self.stage.value, t.value, "D is not connected")
        held = (self.stage is Stage.PRESPLICED or (self.stage is Stage.CONNECTED and t is EventType.SERVER_SEGMENT))
        if held and seg.seg_len > 0:
            self.held.append(seg)  # DONT_ACK: kept for the splice, not acked (LIFE-DONTACK)
        else:
            ctr = self.c if t is EventType.CLIENT_SEGMENT else self.d
            ts = seg.tcp.option(Timestamps)
            if ctr is not None and isinstance(ts, Timestamps):
                ctr.lastrecv_ts = ts.tsval
        return []

    def _relay(self, seg: Segment, now: float) -> list[RelayResult]:
        """Relay one segment and thread the relay's successor state (the directions' advance)."""
        splice = self.splice
        assert splice is not None
        result = self.relay_fn(splice, seg, now)
        if result.state is not None:
            self.splice = result.state
        self._track_close(seg, result)
        if (result.direction is Direction.C2S and seg.tcp.flags & ACK and self.ok_una is not None
                and self.s2c_iss is not None and before(self.ok_una, seg.tcp.ack)
                and not before(self.s2c_iss, seg.tcp.ack)):
            self.ok_una = seg.tcp.ack  # part of the OK message acknowledged: no longer retransmitted
        if result.segments and result.segments[0].tcp.flags & RST:
            self.stage, self.reset = Stage.CLOSED, True
        elif (self.stage is Stage.SPLICED and seg.tcp.flags & ACK and result.direction is Direction.C2S
              and not behind_base(seg.tcp.ack, splice.client.splice_iss, splice.s2c_advance)):
            # The client acknowledged the whole OK message (LIFE-COMPLETE): its ack does not precede
            # splice_iss in the server→client stream — stream order, as for trimming (mapping).
            self.stage = Stage.COMPLETE
        return [result]
