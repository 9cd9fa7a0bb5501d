"""The ``ebpf-splice`` adapter: a TCP splice datapath in eBPF on the proxy's two interfaces.

Why one module of ~900 lines: the adapter, its two sessions and their helpers share one lab, one map writer
and the proxy application's real sockets, and the lifecycle session (about 400 lines) is one concept, the
paper's sequence of socket calls driven step by step against the live datapath. What stands apart already
is: the loader and what it leaves behind (:mod:`.loader`), the proxy application (:mod:`.proxy`), the
datapath itself (``splice.bpf.c``).

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
  kernel sockets' own timers are waited for (each socket that owes a retransmission, until it has sent
  again); while the OK message is unacknowledged the proxy sends its
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

Why one module of some 870 lines: the adapter and its session are one contract over one lab, one loaded
datapath and one proxy application (open, open_unspliced, open_accepted, open_handshaken, event, inject
share them); the datapath's loading is :mod:`.loader`, the proxy application :mod:`.proxy`.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import select
import socket
import time
from collections.abc import Callable, Iterator
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
from ..lab.fence import LabFenceTimeout, is_fence_reply, this_cpu
from ..lab.observe import observe
from ..lab.preflight import preflight
from ..lab.rawsock import ETH_P_IP, ETH_P_IPV6
from ..lab.topology import PREFIX, Lab, Side
from . import loader
from .loader import Datapath, DatapathError, Direction
from .proxy import (
    AFTER,
    HOLD_IFS,
    OK_BYTE,
    SpliceProxy,
    build,
    first_syn,
    learnt,
    silent_close,
    tcp_counts,
    text,
    wait_connected,
)

__all__ = ["UNSUPPORTED_REASONS", "EbpfSpliceAdapter", "EbpfSpliceSession", "directions"]

LAB_FEATURES = ("root", "ip", "netns", "veth", "packet")
LAB_MTU = 65535

SLOT_C2S, SLOT_S2C = 0, 1  # advance slots: one splice in the map at a time
TIMESTAMPS = "net.ipv4.tcp_timestamps"
TIMER_MARGIN = 0.05  # seconds a TIMER waits beyond a socket's current retransmission timeout for its timer to send
#: The proxy namespace's routes to the two legs get ``quickack 1`` (RTAX_QUICKACK): the proxy's own TCP acknowledges
#: each segment while it processes it, never from the delayed-ACK timer, so whatever its sockets send in answer to an
#: injected segment is sent before the fence's reply (lab configuration, not the IUT: the splice's semantics do not
#: depend on when the proxy's TCP acknowledges the bytes it reads before the splice).
ROUTE_METRICS = ("quickack", "1")

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


def tune_routes(lab: Lab) -> None:
    """Give the proxy namespace's routes to the two legs (both families) :data:`ROUTE_METRICS`, keeping
    everything else of each route as the kernel made it."""
    for ifname in (lab.names.proxy_client_if, lab.names.proxy_server_if):
        for fam in ("-4", "-6"):
            for r in json.loads(lab.run(["ip", "-j", fam, "route", "show", "dev", ifname]) or "[]"):
                if r.get("type", "unicast") != "unicast":
                    continue
                argv = ["ip", fam, "route", "replace", r["dst"], "dev", ifname, "proto", r.get("protocol", "kernel")]
                argv += ["scope", r["scope"]] if "scope" in r else []
                argv += ["src", r["prefsrc"]] if "prefsrc" in r else []
                argv += ["metric", str(r["metric"])] if "metric" in r else []
                lab.run([*argv, *ROUTE_METRICS])


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


@dataclasses.dataclass(frozen=True)
class Mark:
    """What the proxy had sent when its application was about to make a socket call: the CPU the call
    runs on, each live socket's tcpi_segs_out (with its leg), and the datapath's packets out so far."""

    cpu: int
    sockets: tuple[tuple[Side, socket.socket, int], ...]
    dp: int


class ProxyTx:
    """The proxy application's two packet sockets, opened in the proxy namespace once per lab and kept
    (closing a packet socket waits for an RCU grace period, ~10 ms, in packet_release): ``hold`` on one
    end of the release veth pair, whose other end's ingress runs the program (held frames are sent into
    the datapath through it: the proxy's half of LIFE-RELEASE); ``client`` on the proxy's client-side
    interface (the OK message's retransmission). Usable from any thread once open."""

    def __init__(self, lab: Lab) -> None:
        def make() -> tuple[socket.socket, socket.socket]:
            hold = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            try:
                hold.bind((HOLD_IFS[0], 0))
                client = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            except BaseException:
                hold.close()
                raise
            try:
                client.bind((lab.names.proxy_client_if, 0))
            except BaseException:
                hold.close()
                client.close()
                raise
            return hold, client

        self.hold, self.client = lab.call(make)

    def send_held(self, frames: list[bytes]) -> None:
        for f in frames:
            self.hold.send(f)

    def close(self) -> None:
        self.hold.close()
        self.client.close()


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
    def _mark(self) -> Mark:
        """What the proxy has sent so far (:class:`Mark`), taken before a socket call of its application."""
        p = self.proxy
        socks = tuple((side, sock, tcp_counts(sock).segs_out) for side, sock in ((Side.CLIENT, p.c), (Side.SERVER, p.d))
                      if sock is not None)
        return Mark(this_cpu(), socks, self._dp_out())

    def _dp_out(self) -> int:
        """Packets the datapath has sent out of a leg so far: segments relayed and ICMP errors made."""
        counts = self.dp.counters()
        return counts.get("relayed", 0) + counts.get("mss icmp", 0)

    def _settle(self, mark: Mark, send: Callable[[], None] | None = None, direct: int = 0) -> Observation:
        """Everything the proxy sent since ``mark`` (the socket calls its application made meanwhile, and
        ``send``, run here: frames the proxy sends itself on its :class:`ProxyTx`, ``direct`` of them straight
        out of its client-side interface), captured on both legs on evidence instead of after a quiet period.
        A fence (an ICMP echo on the client leg) is sent after the calls from the thread and CPU that made
        them: its reply is queued behind every packet they queued on that CPU
        (:meth:`~splicecheck.adapters.lab.topology.Lab.exchange_fenced` says why). And the kernel says how
        many packets to wait for: the segments the proxy's sockets handed to IP since ``mark`` (TCP_INFO's
        tcpi_segs_out, pure ACKs included, on their sockets' legs) and those the datapath relayed or turned
        into ICMP errors (its counters), besides the ``direct`` ones. Once the fence is back and those counts
        are met, capture goes on for the adapter's grace; when they are not (or the thread changed CPU, so
        the fence orders nothing), until they are, for at most AFTER. No timer of the proxy's can send in
        between unless a TIMER is being applied (:meth:`_await_timers`): the routes make every ACK immediate
        (ROUTE_METRICS), and a retransmission timer sends only after an RTO (at least 200 ms)."""
        lab, o = self.lab, self.adapter
        legs = lab.legs
        fence, seq = lab.fence(Side.CLIENT)
        t0 = time.monotonic()

        if send is not None:
            send()
        legs[Side.CLIENT].send(fence)
        moved = this_cpu() != mark.cpu  # the socket calls since the mark were made by this thread too
        p = self.proxy
        want = {Side.CLIENT: direct, Side.SERVER: 0}
        for side, sock, before in mark.sockets:  # a socket given up since the mark sends nothing more
            if sock is p.c or sock is p.d:
                want[side] += tcp_counts(sock).segs_out - before
        out: dict[Side, list[bytes]] = {Side.CLIENT: [], Side.SERVER: []}
        deadline = t0 + o.timeout
        total: int | None = None  # packets expected on the two legs together, known once the fence is back
        stop: float | None = None
        while True:
            back = False
            for side, rx in legs.items():
                for c in rx.read_ready():
                    if is_fence_reply(c.data):
                        back = back or (side is Side.CLIENT and is_fence_reply(c.data, seq))
                        continue
                    out[side].append(c.data)
            now = time.monotonic()
            if back and total is None:
                total = sum(want.values()) + self._dp_out() - mark.dp
                stop = now + (o.grace if self._met(out, want, total) and not moved else AFTER)
                continue  # one more read pass
            if total is not None and stop is not None:
                met = self._met(out, want, total)
                if met:
                    stop = min(stop, now + o.grace)
                if now >= stop:
                    break
                if met:
                    continue  # a grace that short is polled (a sleep that short oversleeps on a busy machine)
                limit = stop
            elif now >= deadline:
                raise HarnessError(f"lab {lab.names.tag}: no reply to fence {seq} on the client leg within "
                                   f"{o.timeout} s")
            else:
                limit = deadline
            select.select([rx for rx in legs.values()], [], [], max(limit - now, 0.0))
        return Observation(tuple(out[Side.CLIENT]), tuple(out[Side.SERVER]), time.monotonic() - t0)

    @staticmethod
    def _met(out: dict[Side, list[bytes]], want: dict[Side, int], total: int) -> bool:
        return all(len(out[side]) >= n for side, n in want.items()) and sum(map(len, out.values())) >= total

    def _await_timers(self) -> None:
        """TIMER before the splice: the proxy's sockets' own timers. Each socket that owes something (bytes
        unacknowledged or unsent: its retransmission, loss-probe or window-probe timer is armed) is waited
        for until it has sent again (tcpi_segs_out grew), for at most its current retransmission timeout
        (backoff included) and TIMER_MARGIN; a socket that owes nothing has no timer that sends (no
        keepalive; no delayed ACK, ROUTE_METRICS), so there is nothing to wait for."""
        p = self.proxy
        owing = [(sock, c) for sock in (p.c, p.d) if sock is not None and (c := tcp_counts(sock)).owes]
        if not owing:
            return
        deadline = time.monotonic() + max(c.rto_us for _, c in owing) / 1e6 + TIMER_MARGIN
        while time.monotonic() < deadline:
            if all(tcp_counts(sock).segs_out > c.segs_out for sock, c in owing):
                return
            time.sleep(0.002)

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
        self._settle(self._mark())  # nothing is due: what the handshake left behind is not the next step's

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
        try:  # fenced: the proxy's ACK of the SYN-ACK (the handshake's, not the splice's) is sent in answer to it
            seen = self.lab.exchange_fenced(Side.SERVER, encode(synack), {Side.SERVER: 1},
                                            timeout=self.adapter.timeout, grace=self.adapter.grace,
                                            short_grace=self.adapter.short_grace)
        except LabFenceTimeout as exc:
            raise HarnessError(str(exc)) from exc
        wait_connected(p.d)
        p.d_sock = learnt(syn, synack, proxy_is_answer=False, peer=w.server, local=w.proxy_d)
        self._server_hs = (syn, synack, handshake_ack(tuple(c.data for c in seen[Side.SERVER]), w.proxy_d,
                                                      seq_add(syn.tcp.seq, 1)))
        if p.stage is Stage.INTENDED:
            p.dont_ack()

    def _make(self, mark: Mark) -> Observation:
        """The splice is made: the map written, the holds lifted, the sockets given up, the held frames
        released into the datapath in arrival order. ``mark``: taken before the socket call that made it."""
        p, dp = self.proxy, self.dp
        state = p.make()
        c2s, s2c = directions(state, self.lab, dp.ifindex)
        c2s = dataclasses.replace(c2s, watch_ok=p.ok_total > 0, ok_una=seq_sub(p.s2c_iss, p.ok_total))
        dp.add(c2s, 0)
        dp.add(s2c, 0)
        p.entries = (c2s, s2c)
        p.release_holds()
        before = self._settle(mark)  # the OK message's last bytes, still the socket's
        for sock in (p.c, p.d):
            if sock is not None:
                silent_close(sock)
        p.c = p.d = None
        frames = dp.take_held()
        p.held_frames += len(frames)
        tx = self.adapter.tx
        assert tx is not None
        after = self._settle(self._mark(), (lambda: tx.send_held(frames)) if frames else None)
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
        d = p.d_sock
        assert d is not None
        if self._client_presplice(s):
            self.event(Event(EventType.APP_SEND_SERVER, s.client_presplice))
        if s.server_presplice:
            self._data(Side.SERVER, w.server, w.proxy_d, seq_add(d.peer_isn, 1),
                       seq_add(d.local_isn, 1 + s.client_presplice), s.server_presplice)
            self.event(Event(EventType.APP_RECV_SERVER, s.server_presplice))
            self.event(Event(EventType.APP_SEND_CLIENT, s.server_presplice))
        self.event(Event(EventType.INTEND_SPLICE))
        self._presplice_ok(s)

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
        mark = self._mark()
        p.dont_ack()  # D's rcv_nxt: the server's ISN + 1, whatever it sent meanwhile
        self._settle(mark)
        self._client_presplice(s)
        self._presplice_ok(s)

    def _client_presplice(self, s: Scenario) -> bool:
        """The client's ``client_presplice`` bytes sent and read by the proxy application (True if any)."""
        if not s.client_presplice:
            return False
        c, w = self.proxy.c_sock, self.where
        assert c is not None
        self._data(Side.CLIENT, w.client, w.proxy_c, seq_add(c.peer_isn, 1), seq_add(c.local_isn, 1),
                   s.client_presplice)
        self.event(Event(EventType.APP_RECV_CLIENT, s.client_presplice))
        return True

    def _presplice_ok(self, s: Scenario) -> None:
        """PRESPLICE(ok_len) and the OK message; the splice must then exist."""
        self.event(Event(EventType.PRESPLICE, s.ok_len))
        if s.ok_len:
            self.event(Event(EventType.APP_SEND_CLIENT, s.ok_len))
        if self.proxy.splice is None:
            raise HarnessError("the proxy application did not make the splice")

    def _retransmit_ok(self) -> Callable[[], None] | None:
        """The proxy's retransmission timer while the client has not acknowledged the whole OK message
        (paper §3: the proxy still owns it): the unacknowledged bytes, from the first the datapath saw
        no ACK for, sent again from C's address and port, acknowledging nothing past C's splice_irs. The
        kernel's socket was given up at the splice, so the proxy builds the segment itself and sends it
        out of its client-side interface (a packet socket): a departure, documented. Returns the send
        (:meth:`_settle` runs it), or None when nothing is unacknowledged."""
        p, w = self.proxy, self.where
        if not p.entries or p.splice is None:
            return None
        una = self.dp.entry(p.entries[0]).ok_una
        left = seq_sub(p.s2c_iss, una)
        if not 0 < left <= p.ok_total:
            return None
        seg = build(self.scenario.family, w.proxy_c, w.client, una, p.c2s_irs, ACK | PSH)
        wire = encode(dataclasses.replace(seg, payload=OK_BYTE * left))
        a, tx = self.lab.addr, self.adapter.tx
        assert tx is not None
        frame = (_mac(a.client_mac) + _mac(a.proxy_client_mac)
                 + (ETH_P_IPV6 if self.scenario.family == 6 else ETH_P_IP).to_bytes(2, "big") + wire)

        def send() -> None:
            tx.client.send(frame)

        return send

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
            # before the splice the timers are the kernel's own sockets' (a retransmission of what the
            # application wrote, say): waited for until they have sent. Once the splice is made the sockets
            # are gone and the proxy's timers are its own: the OK message's retransmission while it is
            # unacknowledged; once complete the linger, after which the splice ends if the datapath has seen
            # both FINs acknowledged (it goes on relaying until then, as a retransmitted FIN still needs its
            # ACK relayed). Report all that is sent.
            mark = self._mark()
            if stage is Stage.SPLICED:
                send = self._retransmit_ok()
                observed = self._settle(mark, send, 0 if send is None else 1)
            else:
                self._await_timers()
                observed = self._settle(mark)
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
        mark = self._mark()
        if t is EventType.INTEND_SPLICE:
            p.intend()
            return self._settle(mark)
        if t is EventType.PRESPLICE:
            p.presplice(event.nbytes)
            p.ok_total = event.nbytes
            return self._make(mark) if event.nbytes == 0 else self._settle(mark)
        which = "c" if t in (EventType.APP_RECV_CLIENT, EventType.APP_SEND_CLIENT) else "d"
        if t in (EventType.APP_RECV_CLIENT, EventType.APP_RECV_SERVER):
            p.recv(which, event.nbytes)
            return self._settle(mark)
        p.send(which, event.nbytes)
        if p.stage is Stage.PRESPLICED and p.ok_left == 0:
            return self._make(mark)
        return self._settle(mark)

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        p, w = self.proxy, self.where
        from_server = (segment.ip.src, segment.tcp.sport) == (w.server.addr, w.server.port)
        if from_server and p.d is None and p.splice is None:
            raise p.refuse(EventType.SERVER_SEGMENT, "D is not connected")
        wire = raw if raw is not None else encode(segment)
        leg = Side.SERVER if from_server else Side.CLIENT
        o = self.adapter
        return observe(self.lab, leg, segment, wire, expect, timeout=o.timeout, grace=o.grace,
                       short_grace=o.short_grace)


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
        self.tx: ProxyTx | None = None
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
                       f"{self.short_grace * 1e3:g} ms when packets are missing, timeout {self.timeout:g} s; after "
                       "the proxy application's socket calls, fenced and counted (TCP_INFO segs_out, the "
                       "datapath's counters)",
            "routes (proxy namespace)": f"{' '.join(ROUTE_METRICS)} on the routes to both legs: the proxy's own "
                                        "TCP acknowledges at once, never from the delayed-ACK timer",
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
                tune_routes(lab)
                h0, h1 = HOLD_IFS
                lab.run(["ip", "link", "add", h0, "mtu", str(LAB_MTU), "type", "veth", "peer", "name", h1,
                         "mtu", str(LAB_MTU)])
                for h in HOLD_IFS:
                    lab.run(["ip", "link", "set", h, "up"])
                dp = Datapath((lab.names.proxy_client_if, lab.names.proxy_server_if, h1), lab.call)
                dp.open()
                self.prog_ids += dp.prog_ids
                try:
                    tx = ProxyTx(lab)
                except BaseException:
                    dp.close()
                    raise
            except BaseException:
                lab.close()
                raise
            self.lab, self.datapath, self.tx = lab, dp, tx
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
        """Send held frames into the datapath (:meth:`ProxyTx.send_held`)."""
        assert self.tx is not None
        self.tx.send_held(frames)

    def counters(self) -> dict[str, int]:
        return self.datapath.counters() if self.datapath is not None else {}

    def close(self) -> None:
        """Detach and unload the datapath, tear the lab down (idempotent)."""
        dp, self.datapath = self.datapath, None
        lab, self.lab = self.lab, None
        tx, self.tx = self.tx, None
        try:
            if tx is not None:
                tx.close()
            if dp is not None:
                dp.close()
        finally:
            if lab is not None:
                lab.close()

