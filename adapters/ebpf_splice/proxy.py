"""The proxy application over the eBPF datapath: real sockets in the proxy namespace and the paper's
splice API (§3, figures 3 and 4), driven step by step by the ``ebpf-splice`` adapter's lifecycle sessions.

What the proxy does, per session (:class:`SpliceProxy`):

* **accept**: a listening TCP socket on the proxy's client-side address; the adapter, playing the client,
  injects the client's SYN and ACK, and the kernel answers with the ISN and options it picked. The
  session learns them from the SYN-ACK on the wire (``learnt_sockets``), never from the scenario.
* **connect(D)** (SERVER_CONNECTED): a TCP socket bound to the proxy's server-side address connects to
  the server; the adapter, playing the server, answers the kernel's SYN with the scenario's server ISN.
* **reads and writes** (APP_*): ``recv``/``send`` on the real sockets. A read asks for bytes the socket
  has (``MSG_PEEK`` first): held data never reached the socket, so reading it fails for real.
* **INTEND_SPLICE** (DONT_ACK): D's 4-tuple is written into the datapath's ``holds`` map (at once, or
  when D connects); from then on the datapath queues D's segments that occupy sequence space in its
  ``held`` queue map and drops them: not delivered to the socket, not acknowledged. D's ``rcv_nxt`` is
  read from the kernel then (TCP_REPAIR + TCP_QUEUE_SEQ): the server→client ``splice_irs``.
* **PRESPLICE(n)**: C's ``rcv_nxt`` and both ``write_seq`` values are read from the kernel the same
  way (client→server ``splice_irs`` and ``splice_iss``; server→client ``splice_iss`` = C's ``write_seq``
  + n), and C's 4-tuple is held too.
* **the OK message** (APP_SEND_CLIENT in PRESPLICED): written on C; with its last byte (or at
  PRESPLICE when n = 0) the splice is made: both directions are written into the ``splices`` map, the
  holds lifted, both sockets put in repair mode and closed (a socket in repair mode sends nothing and
  is discarded silently on close), and the held frames are taken from the queue, in arrival order, and
  sent into the datapath through a veth pair inside the proxy namespace whose far end runs the program.
* **completion**: the datapath sets the client→server entry's ``complete`` flag on the client's ACK
  covering the whole OK message; the session's ``stage`` reads it.

Departures from the paper (documented in docs/LAB.md): the proxy gives its kernel sockets up when the
splice is made, so an unacknowledged OK message is retransmitted on TIMER by the proxy itself (a segment
it builds from C's numbers and the datapath's ``ok_una``, sent from a packet socket); the proxy's
sockets run without TCP timestamps (``net.ipv4.tcp_timestamps=0`` in the proxy namespace), because the
TSval a kernel puts on its own segments after the handshake cannot be learnt before they are sent;
held frames larger than 2048 bytes are dropped and counted (``hold lost``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import select
import socket
import struct

from ...conformance.contract import HarnessError, RefusedError
from ...conformance.model import Addresses
from ...reference.codec import decode
from ...reference.errors import MalformedSegment
from ...reference.lifecycle import EventType, Socket, Stage
from ...reference.relay import Endpoint, Leg, SpliceState, StripStyle
from ...reference.segment import (
    IP_DF,
    SYN,
    IPv4Header,
    IPv6Header,
    MaxSegmentSize,
    SackPermitted,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    WindowScale,
)
from ...reference.seqspace import seq_add
from ..lab.topology import Lab
from .loader import Datapath, Direction

E, S = EventType, Stage
TCP_INFO, TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, TCP_TIMESTAMP = 11, 19, 20, 21, 24
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2
TCP_REPAIR_ON, TCP_REPAIR_OFF_NO_WP = 1, -1
HOLD_IFS = ("schold0", "schold1")  # the release veth pair in the proxy namespace (frames sent on 0 enter 1)
CLIENT_WINDOW = 65535
OK_BYTE = b"K"  # the OK message's bytes (its retransmission carries the same)
AFTER = 0.03  # seconds at most to wait for segments the kernel says it sent but the capture has not seen yet


def text(addr: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(addr) == 16 else socket.AF_INET, addr)


def queue_seqs(sock: socket.socket) -> tuple[int, int]:
    """(rcv_nxt, write_seq) of a connected socket, from the kernel: TCP_REPAIR on, TCP_QUEUE_SEQ of each
    queue, repair off without the window probe leaving repair mode otherwise sends."""
    sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
        rcv = struct.unpack("=I", sock.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
        snd = struct.unpack("=I", sock.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    finally:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP)
    return int(rcv), int(snd)


@dataclasses.dataclass(frozen=True)
class TcpCounts:
    """What a socket's ``struct tcp_info`` (linux/tcp.h) says about what it sent and what it still owes."""

    segs_out: int  # segments the socket handed to IP (tcpi_segs_out: every one, pure ACKs and RSTs included)
    unacked: int  # segments sent and not acknowledged (tcpi_unacked): the retransmission timer runs
    notsent: int  # bytes written and not sent yet (tcpi_notsent_bytes): window probes, or the timer again
    rto_us: int  # the current retransmission timeout, backoff included (tcpi_rto)

    @property
    def owes(self) -> bool:
        """Whether a timer of the socket's can still send something (keepalive is never set here, and the
        adapter's routes make every ACK immediate: no delayed-ACK timer, ``ROUTE_METRICS`` in the package)."""
        return self.unacked > 0 or self.notsent > 0


_TCP_INFO = struct.Struct("=8xI12xI108xI4xI")  # tcpi_rto @8, tcpi_unacked @24, tcpi_segs_out @136, notsent @144


def tcp_counts(sock: socket.socket) -> TcpCounts:
    """The socket's :class:`TcpCounts`, read with getsockopt(TCP_INFO) (synchronous: the kernel's own counts)."""
    rto, unacked, segs_out, notsent = _TCP_INFO.unpack_from(
        sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _TCP_INFO.size))
    return TcpCounts(int(segs_out), int(unacked), int(notsent), int(rto))


def tsval_now(sock: socket.socket) -> int:
    """No less than the TSval the socket would put on a segment it sent now, so no less than any TSval it
    has sent: getsockopt TCP_TIMESTAMP (the kernel's TCP clock plus the connection's random offset) with
    bit 0 set. Since Linux 6.7 the kernel reports the clock's resolution in bit 0 (clear: milliseconds),
    so a millisecond clock reads 1 low whenever it is odd: measured here, right after a segment was sent,
    the read was 1 below its TSval in half of 300 connections, and never lower. ``| 1`` gives the clock or
    1 more (a TSval 1 ms ahead of the socket's clock, harmless: the socket is given up at the splice)."""
    return int(struct.unpack("=I", sock.getsockopt(socket.IPPROTO_TCP, TCP_TIMESTAMP, 4))[0]) | 1


def silent_close(sock: socket.socket) -> None:
    """Close without a FIN or RST: in repair mode the kernel discards the socket silently."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON)
    sock.close()


def learnt(syn: Segment, answer: Segment, *, proxy_is_answer: bool, peer: Endpoint, local: Endpoint) -> Socket:
    """The proxy's socket as the two SYNs on the wire show it (``proxy_is_answer``: the proxy sent the
    SYN-ACK, i.e. leg C)."""
    mine, theirs = (answer, syn) if proxy_is_answer else (syn, answer)
    mo, to = mine.tcp.options, theirs.tcp.options
    m_ts, t_ts = next((o for o in mo if isinstance(o, Timestamps)), None), next(
        (o for o in to if isinstance(o, Timestamps)), None)
    m_ws = next((o.shift for o in mo if isinstance(o, WindowScale)), None)
    t_ws = next((o.shift for o in to if isinstance(o, WindowScale)), None)
    both_ws = m_ws is not None and t_ws is not None
    mss = next((o.value for o in to if isinstance(o, MaxSegmentSize)), 536)
    return Socket(peer, local, theirs.tcp.seq, mine.tcp.seq, m_ts is not None and t_ts is not None,
                  t_ts.tsval if t_ts else 0, m_ts.tsval if m_ts else 0,
                  any(isinstance(o, SackPermitted) for o in mo) and any(isinstance(o, SackPermitted) for o in to),
                  t_ws if both_ws else None, m_ws if both_ws else None, mss)


class SpliceProxy:
    """One proxied connection in the proxy namespace (module docstring): the sockets, the splice API's
    stage, the base points read from the kernel, and the splice once made."""

    def __init__(self, lab: Lab, dp: Datapath, where: Addresses, family: int, strip: StripStyle) -> None:
        self.lab, self.dp, self.where, self.family, self.strip = lab, dp, where, family, strip
        self.af = socket.AF_INET6 if family == 6 else socket.AF_INET
        self.stage = S.UNSPLICED
        self.c: socket.socket | None = None
        self.d: socket.socket | None = None
        self.listener: socket.socket | None = None
        self.c_sock: Socket | None = None
        self.d_sock: Socket | None = None
        self.s2c_irs: int | None = None
        self.c2s_irs = self.c2s_iss = self.s2c_iss = 0
        self.ok_left = 0
        self.ok_total = 0
        self.c_tsval: int | None = None  # the sockets' TSval clocks when the splice is made (timestamps only)
        self.d_tsval: int | None = None
        self.splice: SpliceState | None = None
        self.entries: tuple[Direction, ...] = ()
        self.held_frames = 0

    # -- sockets ------------------------------------------------------------------------------------
    def listen(self) -> None:
        def make() -> socket.socket:
            s = socket.socket(self.af, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((text(self.where.proxy_c.addr), self.where.proxy_c.port))
            s.listen(1)
            s.setblocking(False)
            return s
        self.listener = self.lab.call(make)

    def accept(self, timeout: float = 1.0) -> socket.socket:
        """The listening socket's one connection (the client's; in the accept direction the server's); the
        listener is closed."""
        assert self.listener is not None
        r, _, _ = select.select([self.listener], [], [], timeout)
        if not r:
            raise HarnessError("the proxy's listening socket accepted no connection after the peer's handshake")
        conn, _ = self.listener.accept()
        conn.setblocking(False)
        self.listener.close()
        self.listener = None
        return conn

    def close(self) -> None:
        for s in (self.c, self.d):
            if s is not None:
                silent_close(s)
        if self.listener is not None:
            self.listener.close()
        self.c = self.d = self.listener = None
        self.release_holds()
        for entry in self.entries:
            self.dp.remove(entry)
        self.entries = ()
        self.dp.take_held()  # anything still queued belongs to this session only

    def hold_c(self, on: bool) -> None:
        w = self.where
        self.dp.hold(w.client.addr, w.proxy_c.addr, w.client.port, w.proxy_c.port, on)

    def hold_d(self, on: bool) -> None:
        w = self.where
        self.dp.hold(w.server.addr, w.proxy_d.addr, w.server.port, w.proxy_d.port, on)

    def release_holds(self) -> None:
        self.hold_c(False)
        self.hold_d(False)

    # -- the splice API -----------------------------------------------------------------------------
    def refuse(self, ev: EventType, why: str) -> RefusedError:
        return RefusedError(self.stage.value, ev.value, why)

    def recv(self, which: str, n: int) -> None:
        sock = self.c if which == "c" else self.d
        etype = E.APP_RECV_CLIENT if which == "c" else E.APP_RECV_SERVER
        if sock is None:
            raise self.refuse(etype, "no socket: D is not connected" if which == "d" else "no socket")
        if self.stage is S.PRESPLICED:
            raise self.refuse(etype, "the OK message is being written: the sockets belong to the splice")
        try:
            have = len(sock.recv(n, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            have = 0
        if have < n:
            raise self.refuse(etype, f"the socket has {have} of the {n} bytes asked for"
                              + (" (held data is not delivered)" if which == "d" and self.s2c_irs is not None else ""))
        sock.recv(n)

    def send(self, which: str, n: int) -> None:
        sock = self.c if which == "c" else self.d
        etype = E.APP_SEND_CLIENT if which == "c" else E.APP_SEND_SERVER
        if sock is None:
            raise self.refuse(etype, "no socket: D is not connected" if which == "d" else "no socket")
        if self.stage is S.PRESPLICED:
            if which == "d":
                raise self.refuse(etype, "the OK message is being written")
            if n > self.ok_left:
                raise self.refuse(etype, f"{n} bytes exceed the {self.ok_left} left of the OK message")
        sent = sock.send(OK_BYTE * n if self.stage is S.PRESPLICED else b"a" * n)
        if sent != n:
            raise HarnessError(f"the proxy's socket took {sent} of {n} bytes")
        if self.stage is S.PRESPLICED:
            self.ok_left -= n

    def intend(self) -> None:
        if self.stage is not S.UNSPLICED:
            raise self.refuse(E.INTEND_SPLICE, "INTEND_SPLICE was done already")
        if self.d is None:
            self.stage = S.INTENDED
        else:
            self.dont_ack()

    def dont_ack(self) -> None:
        """D's segments held from now on; D's rcv_nxt from the kernel is the server→client splice_irs."""
        assert self.d is not None
        self.hold_d(True)
        self.s2c_irs = queue_seqs(self.d)[0]
        self.stage = S.CONNECTED

    def presplice(self, n: int) -> None:
        if self.stage is S.UNSPLICED or self.stage is S.INTENDED:
            raise self.refuse(E.PRESPLICE, "PRESPLICE needs INTEND_SPLICE and D connected")
        if self.stage is not S.CONNECTED:
            raise self.refuse(E.PRESPLICE, "PRESPLICE was done already")
        assert self.c is not None and self.d is not None
        self.hold_c(True)
        c_rcv, c_snd = queue_seqs(self.c)
        d_snd = queue_seqs(self.d)[1]
        self.c2s_irs, self.c2s_iss, self.s2c_iss = c_rcv, d_snd, seq_add(c_snd, n)
        self.ok_left = n
        self.stage = S.PRESPLICED

    def make(self) -> SpliceState:
        """Write the splice into the datapath, lift the holds, give the sockets up silently."""
        assert self.c_sock is not None and self.d_sock is not None and self.s2c_irs is not None
        # with timestamps, the splice goes on from each socket's own clock (§3.4.1: the TSval the proxy last
        # sent on the leg), read after the OK message was written and before the sockets are given up: at
        # least every TSval they sent, so no mapped TSval runs behind one the end host has seen (RFC 7323 §5)
        if self.c is not None and self.c_sock.timestamps:
            self.c_tsval = tsval_now(self.c)
        if self.d is not None and self.d_sock.timestamps:
            self.d_tsval = tsval_now(self.d)

        def leg(s: Socket, irs: int, iss: int, tsval: int | None) -> Leg:
            return Leg(s.peer, s.local, irs, iss, s.timestamps, s.peer_tsval,
                       s.local_tsval if tsval is None else tsval, s.sack, s.peer_wscale, s.local_wscale, s.peer_mss)

        self.splice = SpliceState(leg(self.c_sock, self.c2s_irs, self.s2c_iss, self.c_tsval),
                                  leg(self.d_sock, self.s2c_irs, self.c2s_iss, self.d_tsval), self.strip)
        return self.splice


def build(family: int, src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int,
          options: tuple[TcpOption, ...] = (), df: bool = True) -> Segment:
    """One handshake segment an end host sends (the adapter plays both end hosts)."""
    ip: IPv4Header | IPv6Header = IPv6Header(src.addr, dst.addr) if family == 6 else \
        IPv4Header(src.addr, dst.addr, flags=IP_DF if df else 0)
    return Segment(ip, TcpHeader(src.port, dst.port, seq, ack, flags, CLIENT_WINDOW, options=options))


def first_syn(packets: list[bytes], src: Endpoint) -> Segment | None:
    for raw in packets:
        try:
            seg = decode(raw)
        except MalformedSegment:
            continue
        if seg.ip.src == src.addr and seg.tcp.sport == src.port and seg.tcp.flags & SYN:
            return seg
    return None


def wait_connected(sock: socket.socket, timeout: float = 1.0) -> None:
    _, w, _ = select.select([], [sock], [], timeout)
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if not w or err:
        raise HarnessError(f"the proxy's connect to the server did not complete: {errno.errorcode.get(err, err)}")


__all__ = ["AFTER", "HOLD_IFS", "OK_BYTE", "SpliceProxy", "TcpCounts", "build", "first_syn", "learnt", "queue_seqs",
           "silent_close", "tcp_counts", "text", "wait_connected"]
