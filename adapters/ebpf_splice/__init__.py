"""The ``ebpf-splice`` adapter: a TCP splice datapath in eBPF on the proxy's two interfaces.

Theory of operation
-------------------
The IUT is ``splice.bpf.c``, a tc program attached to the clsact ingress of both of the proxy
namespace's veths in one :class:`~splicecheck.adapters.lab.topology.Lab` (built at the first
``open``, torn down by ``close`` and on every exit path the lab covers; the loader and what it
leaves behind: :mod:`.loader`). Its splice state is a BPF hash map keyed by the arriving segment's
4-tuple, one entry per direction, written by the proxy.

Two ways a splice gets into the map:

* ``open`` for a scenario without an OK message or bytes relayed before the splice: the adapter writes
  the splice the reference proxy makes for the scenario (:func:`~splicecheck.conformance.model.reference_state`:
  the model's addresses, which are the lab's, and the scenario's ISNs and TSvals), as a proxy would after
  learning them from its sockets. So the proxy's ISNs and timestamps can be chosen (CHOOSE_PROXY_ISN,
  CHOOSE_PROXY_TS), and what is graded is what the datapath does to each injected segment.
* ``open_unspliced`` (Feature.LIFECYCLE), and ``open`` for a scenario with an OK message or pre-splice
  bytes: the proxy application (:mod:`.proxy`) makes the splice with real sockets and the paper's splice
  API, the adapter playing both end hosts on the wire; the base points come from the kernel's sockets,
  DONT_ACK's held segments are queued by the datapath itself, and the proxy's ISNs are the kernel's,
  reported as ``learnt_sockets`` (the scenario's proxy ISNs and TSvals are ignored there, so OK_MESSAGE
  and PRESPLICE_DATA are ``partial``: random strategies do not draw them). TIMER: before the splice the
  kernel sockets' own timers are waited out; while the OK message is unacknowledged the proxy sends its
  unacknowledged bytes again itself (its kernel socket was given up at the splice); once complete, the
  proxy ends the splice when the datapath has seen both FINs acknowledged (the linger).

The proxy namespace is a proxy host, not a router: forwarding is off, so a segment the datapath
does not claim goes to the proxy's own TCP, as on a real proxy host (a segment for a port without a
socket is answered with a RST by the host's stack).

``open_accepted`` (Feature.ACCEPT, LIFE-ACCEPT): the same proxy application splices a connection the
server opened to its listening socket on the server-side address, DONT_ACK in force from that handshake.
``open_handshaken`` (the HS-* cases): the proxy application makes the splice with its own handshakes and
TCP timestamps on, and the session reports the proxy's SYN-ACK, SYN and ACK as its kernel sent them.

What cannot be configured (declared unsupported, so the suite says so per case): stripping options by
removal (the datapath overwrites them with NOPs, the paper's footnote 2 style). Everything else is graded,
the MSS too: a DF segment larger than the out peer's MSS is turned into the ICMP error (frag-needed,
packet-too-big) its sender gets instead (§3.4.4).
"""

from __future__ import annotations

import dataclasses
import platform
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from ... import __version__
from ...conformance.contract import (
    AdapterNotFound,
    Feature,
    HarnessError,
    IutInfo,
    NotSplicedError,
    Observation,
    Scenario,
    UnsupportedError,
)
from ...conformance.handshake import ProxyHandshake
from ...conformance.model import addresses, offer_in, reference_state, syn_options
from ...reference.codec import decode, encode
from ...reference.errors import MalformedSegment
from ...reference.lifecycle import Event, EventType, Socket, Stage
from ...reference.relay import Endpoint, Leg, SpliceState
from ...reference.segment import ACK, NOP, PSH, RST, SYN, Segment, TcpOption, Timestamps
from ...reference.seqspace import seq_add, seq_sub
from ..lab.fence import LabFenceTimeout
from ..lab.observe import observe
from ..lab.preflight import preflight
from ..lab.rawsock import ETH_P_IP, ETH_P_IPV6
from ..lab.topology import PREFIX, Lab, Side
from . import loader
from .loader import Datapath, DatapathError, Direction
from .proxy import AFTER, HOLD_IFS, OK_BYTE, SpliceProxy, build, first_syn, learnt, silent_close, text, wait_connected

__all__ = ["UNSUPPORTED_REASONS", "EbpfSpliceAdapter", "EbpfSpliceSession", "directions"]

LAB_FEATURES = ("root", "ip", "netns", "veth", "packet")
LAB_MTU = 65535

SLOT_C2S, SLOT_S2C = 0, 1  # advance slots: one splice in the map at a time
TIMESTAMPS = "net.ipv4.tcp_timestamps"
TIMER_WAIT = 0.3  # seconds a TIMER waits: past Linux's minimum retransmission timeout (TCP_RTO_MIN, 200 ms)

UNSUPPORTED_REASONS: dict[Feature, str] = {
    Feature.STRIP_REMOVE: "the datapath strips options by overwriting them with NOPs, never by removal",
}


#: Features the adapter gives only through the proxy application (``partial``: random strategies do not
#: draw them, as the proxy's kernel then picks the ISNs and timestamps a drawn scenario may choose). A
#: scenario with an OK message or bytes relayed before the splice is made by the proxy with real sockets
#: (``open`` runs figure 3 on a lifecycle session), its chosen proxy ISNs and TSvals ignored: the session
#: reports the ones learnt from the wire (``learnt_sockets``). Writing such a splice's map directly would
#: copy the model's base points: a check that cannot fail.
PARTIAL: frozenset[Feature] = frozenset({Feature.OK_MESSAGE, Feature.PRESPLICE_DATA})


def handshake_ack(packets: tuple[bytes, ...], src: Endpoint, seq: int) -> Segment | None:
    """The proxy's ACK completing its handshake with the server among ``packets`` (from ``src``, at
    ``seq``, ACK without SYN or RST), or None if it sent none."""
    for raw in packets:
        try:
            seg = decode(raw)
        except MalformedSegment:
            continue
        t = seg.tcp
        if (seg.ip.src, t.sport, t.seq) == (src.addr, src.port, seq) and t.flags & ACK and not t.flags & (SYN | RST):
            return seg
    return None


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def directions(state: SpliceState, lab: Lab, ifindex: dict[str, int]) -> tuple[Direction, Direction]:
    """The two map entries of a splice: client→server (in on leg C, out on D) and server→client."""
    a, n = lab.addr, lab.names

    def one(leg_in: Leg, leg_out: Leg, out_if: str, out_dmac: str, out_smac: str, slot: int,
            back: int) -> Direction:
        return Direction(
            src=leg_in.peer.addr, dst=leg_in.local.addr, sport=leg_in.peer.port, dport=leg_in.local.port,
            out_dmac=_mac(out_dmac), out_smac=_mac(out_smac), out_ifindex=ifindex[out_if],
            out_src=leg_out.local.addr, out_dst=leg_out.peer.addr,
            out_sport=leg_out.local.port, out_dport=leg_out.peer.port,
            in_irs=leg_in.splice_irs, out_iss=leg_out.splice_iss, in_iss=leg_in.splice_iss,
            out_irs=leg_out.splice_irs,
            in_lastrecv_ts=leg_in.lastrecv_ts, out_lastsent_ts=leg_out.lastsent_ts,
            in_lastsent_ts=leg_in.lastsent_ts, out_lastrecv_ts=leg_out.lastrecv_ts,
            ts_map=leg_in.timestamps and leg_out.timestamps, sack_map=leg_in.sack and leg_out.sack,
            in_shift=leg_in.recv_shift, out_shift=leg_out.send_shift, adv_slot=slot, back_slot=back,
            out_mss=leg_out.peer_mss)

    c2s = one(state.client, state.server, n.proxy_server_if, a.server_mac, a.proxy_server_mac, SLOT_C2S, SLOT_S2C)
    s2c = one(state.server, state.client, n.proxy_client_if, a.client_mac, a.proxy_client_mac, SLOT_S2C, SLOT_C2S)
    return c2s, s2c


class EbpfSpliceSession:
    """One splice written into the datapath's map; segments injected from the raw end hosts."""

    def __init__(self, adapter: EbpfSpliceAdapter, lab: Lab, datapath: Datapath, state: SpliceState) -> None:
        self.adapter = adapter
        self.lab = lab
        self.datapath = datapath
        self._state = state
        self.entries = directions(state, lab, datapath.ifindex)
        datapath.add(self.entries[0], state.c2s_advance)
        datapath.add(self.entries[1], state.s2c_advance)

    @property
    def state(self) -> SpliceState:
        return self._state

    def remove(self) -> None:
        for entry in self.entries:
            self.datapath.remove(entry)

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        """Send on the server leg if ``segment`` comes from the server's address, else on the client
        leg; capture both legs until the fence is back, plus the grace period."""
        wire = raw if raw is not None else encode(segment)
        leg = Side.SERVER if segment.ip.src == self._state.server.peer.addr else Side.CLIENT
        o = self.adapter
        return observe(self.lab, leg, segment, wire, expect, timeout=o.timeout, grace=o.grace,
                       short_grace=o.short_grace)

    def event(self, event: Event) -> Observation:
        raise UnsupportedError(UNSUPPORTED_REASONS[Feature.LIFECYCLE])


class EbpfLifecycleSession:
    """A session over the proxy application (:mod:`.proxy`): the adapter plays both end hosts on the
    wire, the proxy makes the splice with its real sockets and the splice API."""

    def __init__(self, adapter: EbpfSpliceAdapter, lab: Lab, dp: Datapath, scenario: Scenario) -> None:
        self.adapter, self.lab, self.dp, self.scenario = adapter, lab, dp, scenario
        self.where = addresses(scenario.family)
        self.proxy = SpliceProxy(lab, dp, self.where, scenario.family, scenario.strip_style)
        # the two handshakes as they were on the wire (the end hosts' packets as injected, the proxy's
        # kernel's as captured on the legs): ``proxy_handshake`` once both are done
        self._client_hs: tuple[Segment, Segment] | None = None
        self._server_hs: tuple[Segment, Segment, Segment | None] | None = None

    @property
    def proxy_handshake(self) -> ProxyHandshake | None:
        """The proxy's own SYN-ACK to the client, SYN to the server and ACK to the server, as its kernel
        sent them (contract: graded by the HS-* cases); None until D has connected."""
        if self._client_hs is None or self._server_hs is None:
            return None
        (client_syn, synack), (syn, server_synack, ack) = self._client_hs, self._server_hs
        return ProxyHandshake(client_syn, synack, syn, server_synack, ack)

    # -- what the contract reads --------------------------------------------------------------------
    @property
    def learnt_sockets(self) -> tuple[Socket | None, Socket | None]:
        return self.proxy.c_sock, self.proxy.d_sock

    @property
    def state(self) -> SpliceState:
        if self.proxy.splice is None:
            raise NotSplicedError(f"the splice is not made yet (stage {self.proxy.stage.value})")
        return self.proxy.splice

    @property
    def stage(self) -> Stage:
        p = self.proxy
        if p.stage in (Stage.SPLICED, Stage.COMPLETE) and p.entries:
            c2s, s2c = (self.dp.entry(e) for e in p.entries)
            if c2s.closed or s2c.closed:
                p.stage = Stage.CLOSED
            elif c2s.complete:
                p.stage = Stage.COMPLETE
        return p.stage

    # -- the wire -----------------------------------------------------------------------------------
    def _collect(self, wait: float = AFTER) -> Observation:
        got = self.lab.collect({Side.CLIENT: None, Side.SERVER: None}, timeout=wait, quiet=wait)
        return Observation(tuple(c.data for c in got[Side.CLIENT]), tuple(c.data for c in got[Side.SERVER]), wait)

    def _syn_from_proxy(self, side: Side, src: Endpoint) -> Segment:
        got = self.lab.collect({side: 1}, timeout=1.0, quiet=0.01)[side]
        syn = first_syn([c.data for c in got], src)
        if syn is None:
            raise HarnessError(f"the proxy's kernel sent no SYN on the {side} leg")
        return syn

    def start(self) -> None:
        """The client's handshake with the proxy's listening socket (the adapter is the client)."""
        s, w, p = self.scenario, self.where, self.proxy
        p.listen()
        syn = build(s.family, w.client, w.proxy_c, s.client.isn, 0, SYN, syn_options(s.client), s.client.df)
        self.lab.inject(Side.CLIENT, encode(syn))
        synack = self._syn_from_proxy(Side.CLIENT, w.proxy_c)
        ack = build(s.family, w.client, w.proxy_c, seq_add(s.client.isn, 1), seq_add(synack.tcp.seq, 1), ACK,
                    self._ts_echo(s.client.tsval, synack), s.client.df)
        self.lab.inject(Side.CLIENT, encode(ack))
        p.c = p.accept()
        p.c_sock = learnt(syn, synack, proxy_is_answer=True, peer=w.client, local=w.proxy_c)
        self._client_hs = (syn, synack)
        self._collect(0.01)

    @staticmethod
    def _ts_echo(tsval: int | None, seg: Segment) -> tuple[TcpOption, ...]:
        theirs = next((o for o in seg.tcp.options if isinstance(o, Timestamps)), None)
        if tsval is None or theirs is None:
            return ()
        return (NOP, NOP, Timestamps(tsval, theirs.tsval))

    def _connect(self) -> None:
        s, w, p = self.scenario, self.where, self.proxy
        if p.d is not None:
            raise p.refuse(EventType.SERVER_CONNECTED, "D is connected already")
        if p.stage is not Stage.UNSPLICED and p.stage is not Stage.INTENDED:
            raise p.refuse(EventType.SERVER_CONNECTED, "the splice is made")

        def make() -> socket.socket:
            d = socket.socket(p.af, socket.SOCK_STREAM)
            d.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            d.bind((text(w.proxy_d.addr), w.proxy_d.port))
            d.setblocking(False)
            d.connect_ex((text(w.server.addr), w.server.port))
            return d

        p.d = self.lab.call(make)
        syn = self._syn_from_proxy(Side.SERVER, w.proxy_d)
        tsecr = next((o.tsval for o in syn.tcp.options if isinstance(o, Timestamps)), 0)
        synack = build(s.family, w.server, w.proxy_d, s.server.isn, seq_add(syn.tcp.seq, 1), SYN | ACK,
                       syn_options(s.server, answer_to=offer_in(syn.tcp.options), tsecr=tsecr), s.server.df)
        self.lab.inject(Side.SERVER, encode(synack))
        wait_connected(p.d)
        p.d_sock = learnt(syn, synack, proxy_is_answer=False, peer=w.server, local=w.proxy_d)
        seen = self._collect(0.01)  # the proxy's ACK of the SYN-ACK: the handshake's, not the splice's
        self._server_hs = (syn, synack, handshake_ack(seen.to_server, w.proxy_d, seq_add(syn.tcp.seq, 1)))
        if p.stage is Stage.INTENDED:
            p.dont_ack()

    def _make(self) -> Observation:
        """The splice is made: the map written, the holds lifted, the sockets given up, the held frames
        released into the datapath in arrival order."""
        p, dp = self.proxy, self.dp
        state = p.make()
        c2s, s2c = directions(state, self.lab, dp.ifindex)
        c2s = dataclasses.replace(c2s, watch_ok=p.ok_total > 0, ok_una=seq_sub(p.s2c_iss, p.ok_total))
        dp.add(c2s, 0)
        dp.add(s2c, 0)
        p.entries = (c2s, s2c)
        p.release_holds()
        before = self._collect(AFTER)  # the OK message's last bytes, still the socket's
        for sock in (p.c, p.d):
            if sock is not None:
                silent_close(sock)
        p.c = p.d = None
        frames = dp.take_held()
        p.held_frames += len(frames)
        if frames:
            self.adapter.release(frames)
        after = self._collect(AFTER)
        p.stage = Stage.COMPLETE if p.ok_total == 0 else Stage.SPLICED
        return Observation(before.to_client + after.to_client, before.to_server + after.to_server,
                           before.elapsed + after.elapsed)

    def figure3(self, s: Scenario) -> None:
        """Make the scenario's splice the way figure 3 does (the order of the reference lifecycle): connect
        D; the client's ``client_presplice`` bytes read and written to the server; the server's
        ``server_presplice`` bytes read and written to the client; INTEND_SPLICE; PRESPLICE(ok_len); the
        OK message. The end hosts send their bytes and acknowledge nothing; what the IUT emits while the
        splice is being made is not graded here (the lifecycle cases watch it)."""
        w, p = self.where, self.proxy
        connect = Event(EventType.SERVER_CONNECTED, socket=Socket(w.server, w.proxy_d, s.server.isn, 0))
        self.event(connect)
        c, d = p.c_sock, p.d_sock
        assert c is not None and d is not None
        if s.client_presplice:
            self._data(Side.CLIENT, w.client, w.proxy_c, seq_add(c.peer_isn, 1), seq_add(c.local_isn, 1),
                       s.client_presplice)
            self.event(Event(EventType.APP_RECV_CLIENT, s.client_presplice))
            self.event(Event(EventType.APP_SEND_SERVER, s.client_presplice))
        if s.server_presplice:
            self._data(Side.SERVER, w.server, w.proxy_d, seq_add(d.peer_isn, 1),
                       seq_add(d.local_isn, 1 + s.client_presplice), s.server_presplice)
            self.event(Event(EventType.APP_RECV_SERVER, s.server_presplice))
            self.event(Event(EventType.APP_SEND_CLIENT, s.server_presplice))
        self.event(Event(EventType.INTEND_SPLICE))
        self.event(Event(EventType.PRESPLICE, s.ok_len))
        if s.ok_len:
            self.event(Event(EventType.APP_SEND_CLIENT, s.ok_len))
        if self.proxy.splice is None:
            raise HarnessError("the proxy application did not make the splice")

    def accept_direction(self, s: Scenario) -> None:
        """Make the scenario's splice in the accept direction (paper §3, 'clients accepting connections':
        FTP active mode, SOCKS BIND; the contract's ``open_accepted``), as :func:`~splicecheck.conformance.
        model.accepted_machine` orders it: INTEND_SPLICE before the server connects; a listening socket on
        the proxy's server-side address; the server's handshake (the adapter is the server, the kernel
        answers), DONT_ACK in force from then on, so ``server_presplice`` bytes the server sends before the
        application accepts are held by the datapath; accept; the client's ``client_presplice`` bytes read
        by the application and not forwarded; PRESPLICE(ok_len); the OK message."""
        w, p = self.where, self.proxy
        self.event(Event(EventType.INTEND_SPLICE))

        def make() -> socket.socket:
            ls = socket.socket(p.af, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((text(w.proxy_d.addr), w.proxy_d.port))
            ls.listen(1)
            ls.setblocking(False)
            return ls

        p.listener = self.lab.call(make)
        syn = build(s.family, w.server, w.proxy_d, s.server.isn, 0, SYN, syn_options(s.server), s.server.df)
        self.lab.inject(Side.SERVER, encode(syn))
        synack = self._syn_from_proxy(Side.SERVER, w.proxy_d)
        p.hold_d(True)  # DONT_ACK from the handshake on: the SYN itself went to the listener
        ack = build(s.family, w.server, w.proxy_d, seq_add(s.server.isn, 1), seq_add(synack.tcp.seq, 1), ACK,
                    self._ts_echo(s.server.tsval, synack), s.server.df)
        self.lab.inject(Side.SERVER, encode(ack))
        if s.server_presplice:
            self._data(Side.SERVER, w.server, w.proxy_d, seq_add(s.server.isn, 1), seq_add(synack.tcp.seq, 1),
                       s.server_presplice)
        p.d = p.accept()
        p.d_sock = learnt(syn, synack, proxy_is_answer=True, peer=w.server, local=w.proxy_d)
        p.dont_ack()  # D's rcv_nxt: the server's ISN + 1, whatever it sent meanwhile
        self._collect(0.01)
        c = p.c_sock
        assert c is not None
        if s.client_presplice:
            self._data(Side.CLIENT, w.client, w.proxy_c, seq_add(c.peer_isn, 1), seq_add(c.local_isn, 1),
                       s.client_presplice)
            self.event(Event(EventType.APP_RECV_CLIENT, s.client_presplice))
        self.event(Event(EventType.PRESPLICE, s.ok_len))
        if s.ok_len:
            self.event(Event(EventType.APP_SEND_CLIENT, s.ok_len))
        if self.proxy.splice is None:
            raise HarnessError("the proxy application did not make the splice")

    def _retransmit_ok(self) -> None:
        """The proxy's retransmission timer while the client has not acknowledged the whole OK message
        (paper §3: the proxy still owns it): the unacknowledged bytes, from the first the datapath saw
        no ACK for, sent again from C's address and port, acknowledging nothing past C's splice_irs. The
        kernel's socket was given up at the splice, so the proxy builds the segment itself and sends it
        out of its client-side interface (a packet socket): a departure, documented."""
        p, w = self.proxy, self.where
        if not p.entries or p.splice is None:
            return
        una = self.dp.entry(p.entries[0]).ok_una
        left = seq_sub(p.s2c_iss, una)
        if not 0 < left <= p.ok_total:
            return
        seg = build(self.scenario.family, w.proxy_c, w.client, una, p.c2s_irs, ACK | PSH)
        wire = encode(dataclasses.replace(seg, payload=OK_BYTE * left))
        a, lab = self.lab.addr, self.lab
        frame = (_mac(a.client_mac) + _mac(a.proxy_client_mac)
                 + (ETH_P_IPV6 if self.scenario.family == 6 else ETH_P_IP).to_bytes(2, "big") + wire)

        def send() -> None:
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
                s.bind((lab.names.proxy_client_if, 0))
                s.send(frame)

        lab.call(send)

    def _data(self, side: Side, src: Endpoint, dst: Endpoint, seq: int, ack: int, n: int) -> None:
        seg = build(self.scenario.family, src, dst, seq, ack, ACK | PSH)
        try:  # fenced: the proxy's kernel has taken the bytes when this returns
            self.lab.exchange_fenced(side, encode(dataclasses.replace(seg, payload=bytes(n))), None,
                                     timeout=self.adapter.timeout)
        except LabFenceTimeout as exc:
            raise HarnessError(str(exc)) from exc

    def event(self, event: Event) -> Observation:
        p, t = self.proxy, event.type
        stage = self.stage
        if stage is Stage.CLOSED and t is not EventType.TIMER:
            raise p.refuse(t, "the splice was closed")
        if t is EventType.TIMER:
            if stage is Stage.SPLICED:
                self._retransmit_ok()
            # before the splice the timers are the kernel's own sockets' (a retransmission of what the
            # application wrote, say); once complete the proxy's linger: the splice ends on it when the
            # datapath has seen both FINs acknowledged (it goes on relaying until then, as a retransmitted
            # FIN still needs its ACK relayed). Wait, and report all that is sent.
            observed = self._collect(TIMER_WAIT)
            if stage is Stage.COMPLETE and p.entries and all(self.dp.entry(e).fin_acked for e in p.entries):
                for e in p.entries:
                    self.dp.end(e)
                p.stage = Stage.CLOSED
            return observed
        if stage in (Stage.SPLICED, Stage.COMPLETE):
            if t is EventType.APP_CLOSE:
                return Observation()  # figure 3's close(s); close(c): the sockets were given up silently
            if t is EventType.INTEND_SPLICE:
                raise p.refuse(t, "INTEND_SPLICE was done already")
            if t is EventType.PRESPLICE:
                raise p.refuse(t, "PRESPLICE was done already")
            if t is EventType.SERVER_CONNECTED:
                raise p.refuse(t, "D is connected already")
            raise p.refuse(t, "the sockets belong to the splice")
        if t is EventType.APP_CLOSE:
            raise p.refuse(t, "closing before the splice is made is the proxy's own TCP close, not the splice's")
        if t is EventType.SERVER_CONNECTED:
            self._connect()
            return Observation()
        if t is EventType.INTEND_SPLICE:
            p.intend()
            return self._collect(0.005)
        if t is EventType.PRESPLICE:
            p.presplice(event.nbytes)
            p.ok_total = event.nbytes
            return self._make() if event.nbytes == 0 else self._collect(0.005)
        which = "c" if t in (EventType.APP_RECV_CLIENT, EventType.APP_SEND_CLIENT) else "d"
        if t in (EventType.APP_RECV_CLIENT, EventType.APP_RECV_SERVER):
            p.recv(which, event.nbytes)
            return self._collect()
        p.send(which, event.nbytes)
        if p.stage is Stage.PRESPLICED and p.ok_left == 0:
            return self._make()
        return self._collect()

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        p, w = self.proxy, self.where
        from_server = (segment.ip.src, segment.tcp.sport) == (w.server.addr, w.server.port)
        if from_server and p.d is None and p.splice is None:
            raise p.refuse(EventType.SERVER_SEGMENT, "D is not connected")
        wire = raw if raw is not None else encode(segment)
        leg = Side.SERVER if from_server else Side.CLIENT
        o = self.adapter
        return observe(self.lab, leg, segment, wire, expect, timeout=o.timeout, grace=max(o.grace, 0.005),
                       short_grace=max(o.short_grace, 0.01))


class EbpfSpliceAdapter:
    """The eBPF splice datapath: one lab and one loaded program per adapter, one map entry pair per session."""

    name = "ebpf-splice"
    unsupported: frozenset[Feature] = frozenset(UNSUPPORTED_REASONS)
    partial: frozenset[Feature] = PARTIAL

    #: The proxy namespace's sysctls: a proxy host, not a router (forwarding off: only the datapath
    #: carries segments between the legs); ICMP without rate limits and no redirects, as in the
    #: other kernel adapters (lab hygiene, not the IUT).
    SYSCTLS: ClassVar[dict[str, str | int]] = {
        "net.ipv4.ip_forward": 0,
        "net.ipv6.conf.all.forwarding": 0,
        "net.ipv4.icmp_ratelimit": 0,
        "net.ipv4.icmp_msgs_per_sec": 1_000_000,
        "net.ipv4.icmp_msgs_burst": 1_000_000,
        "net.ipv4.conf.all.send_redirects": 0,
        "net.ipv4.conf.default.send_redirects": 0,
        # the lifecycle proxy's own sockets: no TCP timestamps (proxy.py's docstring says why), except in
        # the sessions of ``open_handshaken``
        TIMESTAMPS: 0,
    }

    def __init__(self, arg: str = "", *, prefix: str = PREFIX) -> None:
        if arg:
            raise AdapterNotFound(f"adapter 'ebpf-splice:{arg}': takes no options")
        self.prefix = prefix
        self.timeout = 1.0
        self.grace = 0.0001
        self.short_grace = 0.002
        self.lab: Lab | None = None
        self.datapath: Datapath | None = None
        self.sessions = 0
        self.prog_ids: list[int] = []  # every program this adapter attached (for leftover checks)

    def missing(self) -> list[str]:
        """Why this machine cannot run the adapter (empty: it can): the lab's needs, clang and libbpf."""
        return preflight(*LAB_FEATURES, prefix=self.prefix) + loader.missing()

    def info(self) -> IutInfo:
        details = {
            "kernel": f"{platform.system()} {platform.release()} {platform.version()} {platform.machine()}",
            "datapath": "splice.bpf.c: tc clsact ingress on both proxy veths, clang -O2 -target bpf, "
                        "loaded and attached with libbpf (ctypes), nothing pinned",
            "splice map": "written by the adapter with the reference proxy's constants for a scenario without "
                          "an OK message or pre-splice bytes; otherwise, and in every lifecycle session, by "
                          "the proxy application from its sockets (TCP_REPAIR + TCP_QUEUE_SEQ)",
            "proxy application": "real sockets in the proxy namespace, the kernel's own ISNs (learnt from the "
                                 "wire), no TCP timestamps; DONT_ACK: held segments queued in a BPF queue map "
                                 "and released through a veth pair into the datapath; sockets given up in "
                                 "repair mode when the splice is made; on TIMER the proxy itself resends the "
                                 "unacknowledged OK bytes (packet socket) and ends the splice after both FINs "
                                 "are acknowledged",
            "sysctls (proxy namespace)": ", ".join(f"{k}={v}" for k, v in self.SYSCTLS.items()),
            "links": f"veth, MTU {LAB_MTU}, TX checksum offload off on the proxy's ends",
            "capture": f"fenced (ICMP echo after each injection), grace {self.grace * 1e3:g} ms, "
                       f"{self.short_grace * 1e3:g} ms when packets are missing, timeout {self.timeout:g} s",
            "splicecheck": __version__,
        }
        for feature in sorted(self.unsupported):
            details[f"unsupported {feature.value}"] = UNSUPPORTED_REASONS[feature]
        return IutInfo(self.name, platform.release(),
                       f"eBPF TCP splice datapath (tc, Linux {platform.release()}) in a network namespace, "
                       "with a proxy application making splices through the paper's splice API", details)

    def _lab(self) -> tuple[Lab, Datapath]:
        if self.lab is None or self.datapath is None:
            lab = Lab(prefix=self.prefix, ipv6=True, mtu=LAB_MTU)
            lab.open()
            try:
                per_link = {f"net.ipv4.conf.{ifname}.send_redirects": 0
                            for ifname in (lab.names.proxy_client_if, lab.names.proxy_server_if)}
                lab.sysctl({**self.SYSCTLS, **per_link})
                h0, h1 = HOLD_IFS
                lab.run(["ip", "link", "add", h0, "mtu", str(LAB_MTU), "type", "veth", "peer", "name", h1,
                         "mtu", str(LAB_MTU)])
                for h in HOLD_IFS:
                    lab.run(["ip", "link", "set", h, "up"])
                dp = Datapath((lab.names.proxy_client_if, lab.names.proxy_server_if, h1), lab.call)
                dp.open()
            except BaseException:
                lab.close()
                raise
            self.prog_ids += dp.prog_ids
            self.lab, self.datapath = lab, dp
        return self.lab, self.datapath

    def _ready(self, scenario: Scenario) -> tuple[Lab, Datapath]:
        """The lab and the loaded datapath, emptied for a new session of ``scenario`` (UNSUPPORTED when it
        needs what the adapter lacks; ERROR when the datapath cannot be loaded)."""
        needed = scenario.needs() & self.unsupported
        if needed:
            raise UnsupportedError("; ".join(UNSUPPORTED_REASONS[f] for f in sorted(needed)))
        try:
            lab, dp = self._lab()
        except DatapathError as exc:
            raise HarnessError(str(exc)) from exc
        lab.flush()
        return lab, dp

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[EbpfSpliceSession | EbpfLifecycleSession]:
        """A made splice. Without an OK message or bytes relayed before the splice the adapter writes the
        map itself (the scenario's proxy ISNs and TSvals can be chosen); with them the proxy application
        makes the splice for real (:meth:`EbpfLifecycleSession.figure3`), with the kernel's own ISNs."""
        if scenario.needs() & self.partial:
            with self._open_by_proxy(scenario) as made:
                yield made
            return
        lab, dp = self._ready(scenario)
        try:
            session = EbpfSpliceSession(self, lab, dp, reference_state(scenario))
        except DatapathError as exc:
            raise HarnessError(str(exc)) from exc
        self.sessions += 1
        try:
            yield session
        finally:
            session.remove()

    @contextmanager
    def open_handshaken(self, scenario: Scenario) -> Iterator[EbpfLifecycleSession]:
        """A splice the proxy application makes through its own handshakes (contract ``open_handshaken``,
        the HS-* cases): the proxy's kernel answers the client's SYN and connects to the server, the adapter
        plays both end hosts, and the session reports the five handshake packets (``proxy_handshake``).
        The proxy's sockets speak TCP timestamps for this session (``net.ipv4.tcp_timestamps=1`` while it
        lasts): whether the proxy offers and echoes them is what the cases grade, and the splice it then
        makes maps them from the sockets' own clocks (:meth:`.proxy.SpliceProxy.presplice`). The proxy's
        ISNs and TSvals are its kernel's, so a scenario choosing them cannot be made this way."""
        chosen = scenario.needs() & {Feature.CHOOSE_PROXY_ISN, Feature.CHOOSE_PROXY_TS}
        if chosen:
            raise UnsupportedError("the proxy's handshakes are its kernel's: its ISNs and TSvals cannot be chosen "
                                   f"({', '.join(sorted(f.value for f in chosen))})")
        lab, _ = self._ready(scenario)
        lab.sysctl({TIMESTAMPS: 1})
        try:
            with self._open_by_proxy(scenario) as session:
                yield session
        finally:
            if self.lab is lab:
                lab.sysctl({TIMESTAMPS: 0})

    @contextmanager
    def open_accepted(self, scenario: Scenario) -> Iterator[EbpfLifecycleSession]:
        """A splice in the accept direction made by the proxy application (contract, "The accept
        direction"; :meth:`EbpfLifecycleSession.accept_direction`), with its kernel's ISNs, reported as
        ``learnt_sockets`` as in every lifecycle session."""
        with self.open_unspliced(scenario) as session:
            session.accept_direction(scenario)
            yield session

    @contextmanager
    def _open_by_proxy(self, scenario: Scenario) -> Iterator[EbpfLifecycleSession]:
        s = scenario
        with self.open_unspliced(s) as session:
            session.figure3(s)
            yield session

    @contextmanager
    def open_unspliced(self, scenario: Scenario) -> Iterator[EbpfLifecycleSession]:
        """A session right after the client's handshake with the proxy application's listening socket
        (contract, "Before the splice"); the proxy's ISNs and timestamps are the kernel's, learnt from
        the wire (``learnt_sockets``)."""
        lab, dp = self._ready(scenario)
        dp.take_held()
        session = EbpfLifecycleSession(self, lab, dp, scenario)
        self.sessions += 1
        try:
            session.start()
            yield session
        finally:
            session.proxy.close()

    def release(self, frames: list[bytes]) -> None:
        """Send held frames into the datapath: out of one end of the proxy namespace's release veth pair,
        into the other, whose ingress runs the program (the proxy's half of LIFE-RELEASE)."""
        assert self.lab is not None

        def send() -> None:
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
                s.bind((HOLD_IFS[0], 0))
                for f in frames:
                    s.send(f)

        self.lab.call(send)

    def counters(self) -> dict[str, int]:
        return self.datapath.counters() if self.datapath is not None else {}

    def close(self) -> None:
        """Detach and unload the datapath, tear the lab down (idempotent)."""
        dp, self.datapath = self.datapath, None
        lab, self.lab = self.lab, None
        try:
            if dp is not None:
                dp.close()
        finally:
            if lab is not None:
                lab.close()

