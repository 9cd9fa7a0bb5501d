"""Synthetic capture pairs: the reference adapter (or a mutant of it) recorded on both legs.

For validating ``splicecheck trace`` without a live box, and for its benchmark. Each connection is a
:class:`~splicecheck.adapters.reference.ReferenceSession` made for a :class:`~splicecheck.conformance.contract.Scenario`
(the model's SOCKS-like proxy, figure 3; or, with ``transparent``, one that keeps the end hosts'
addresses like SYNPROXY). The capture shows what a real box's would:

* the handshakes on both legs, with the options :mod:`splicecheck.reference.handshake` makes each
  side offer and the ISNs and timestamps of the scenario, so that the trace checker has to infer the
  very constants the session holds (:attr:`SynthConn.state` is kept to compare);
* the pre-splice exchange, when the scenario has one: the client's bytes, the proxy's rewritten copy
  of them to the server, the server's bytes, the proxy's copy of those and its OK message;
* then traffic from both end hosts — data of random sizes, pure ACKs, timestamps that advance and
  echo what each host last received, SACK blocks, now and then URG — each segment written on its
  in leg, injected into the session, and whatever the session emits written on the out leg
  ``latency`` later (an ICMP error back on the in leg);
* FINs from both sides at the end.

``relay_fn`` replaces the model's relay (the mutants below), so a capture of a buggy box is one
argument away. Everything is deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from splicecheck.adapters.reference import RelayFn
from splicecheck.conformance.case import from_client, from_server
from splicecheck.conformance.contract import Observation, PeerPlan, Scenario
from splicecheck.conformance.diff import observation
from splicecheck.conformance.model import (
    DEFAULT_PROXY_TSVAL,
    Addresses,
    OptionLayout,
    offer_of,
    reference_machine,
    syn_options,
    wire_options,
)
from splicecheck.conformance.trace.capture import PcapngWriter, PcapWriter
from splicecheck.conformance.trace.link import LINKTYPE_RAW, frame
from splicecheck.reference.codec import decode, encode, serialise
from splicecheck.reference.handshake import MIN_MSS, ProxyConfig, answer_client, offer_server
from splicecheck.reference.lifecycle import Event, EventType, SpliceMachine
from splicecheck.reference.relay import Endpoint, RelayResult, SpliceState, relay
from splicecheck.reference.segment import (
    ACK,
    FIN,
    IP_DF,
    NOP,
    PSH,
    SYN,
    URG,
    IPv4Header,
    IPv6Header,
    Sack,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    addr,
    pad_options,
)
from splicecheck.reference.seqspace import seq_add

PLAIN = OptionLayout.PLAIN  # the synthetic hosts' option layout
US = 1000


class _Writer(Protocol):
    def write(self, ts_ns: int, frame: bytes) -> None: ...
    def close(self) -> None: ...


class _NgWriter:
    def __init__(self, path: Path, linktype: int, big: bool, tsresol: int) -> None:
        self.w = PcapngWriter(path, big=big)
        self.w.interface(linktype, tsresol=tsresol)

    def write(self, ts_ns: int, frame: bytes) -> None:
        self.w.write(ts_ns, frame)

    def close(self) -> None:
        self.w.close()


def open_writer(path: Path | str, linktype: int = LINKTYPE_RAW, fmt: str = "pcap") -> _Writer:
    """``fmt``: ``pcap``, ``pcap-ns``, ``pcap-be``, ``pcapng``, ``pcapng-ns``, ``pcapng-be``."""
    p = Path(path)
    if fmt.startswith("pcapng"):
        return _NgWriter(p, linktype, fmt.endswith("-be"), 9 if fmt.endswith("-ns") else 6)
    return PcapWriter(p, linktype, nanos=fmt.endswith("-ns"), big=fmt.endswith("-be"))


@dataclass(frozen=True, slots=True)
class ConnPlan:
    """One connection of a synthetic capture."""

    scenario: Scenario = field(default_factory=Scenario)
    client_port: int = 40000
    transparent: bool = False  # the proxy keeps the end hosts' addresses (SYNPROXY-like)
    segments: int = 50  # traffic segments after the handshakes (FINs not counted)
    fin: bool = True
    max_payload: int = 1400
    urgent: bool = True  # now and then an URG segment
    sack: bool = True  # SACK blocks in ACKs when both legs use SACK
    below_base: int = 0  # first, this many client retransmissions reaching before C.splice_irs (trimmed)
    oversize: float = 0.0  # the share of data segments of 1.5 × the out peer's MSS (MSS-ICMP)


@dataclass(slots=True)
class SynthConn:
    """One generated connection: the truth to compare inference with."""

    plan: ConnPlan
    where: Addresses
    state: SpliceState
    inputs: int = 0
    outputs: int = 0


def addresses_for(plan: ConnPlan, index: int) -> Addresses:
    v4 = plan.scenario.family == 4

    def a(v4_text: str, v6_text: str) -> bytes:
        return addr(v4_text if v4 else v6_text)

    client = Endpoint(a("198.18.0.2", "2001:db8:0:1::2"), plan.client_port)
    server = Endpoint(a("198.19.0.2", "2001:db8:0:2::2"), 80)
    if plan.transparent:
        return Addresses(client, server, client, server)
    return Addresses(client, Endpoint(a("198.18.0.1", "2001:db8:0:1::1"), 1080),
                     Endpoint(a("198.19.0.1", "2001:db8:0:2::1"), 50000 + index % 10000), server)


def _packet(src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int, *, options: tuple[TcpOption, ...] = (),
            payload: bytes = b"", window: int = 65535, df: bool = True, ident: int = 1) -> bytes:
    ip: IPv4Header | IPv6Header
    if len(src.addr) == 4:
        ip = IPv4Header(src.addr, dst.addr, ident=ident, flags=IP_DF if df else 0)
    else:
        ip = IPv6Header(src.addr, dst.addr, flow_label=0x12345)
    return encode(Segment(ip, TcpHeader(src.port, dst.port, seq & 0xFFFF_FFFF, ack & 0xFFFF_FFFF, flags, window, 0,
                                        pad_options(options)), payload))


def _ts(tsval: int | None, tsecr: int | None) -> tuple[TcpOption, ...]:
    return (NOP, NOP, Timestamps(tsval, tsecr or 0)) if tsval is not None else ()


def _pattern(tag: bytes, n: int, salt: int) -> bytes:
    base = tag + salt.to_bytes(4, "big")
    return (base * (n // len(base) + 1))[:n]


class _Traffic:
    """One connection's generator state."""

    def __init__(self, index: int, plan: ConnPlan, relay_fn: RelayFn, rng: random.Random) -> None:
        self.index, self.plan, self.rng = index, plan, rng
        self.where = addresses_for(plan, index)
        self.machine: SpliceMachine = reference_machine(plan.scenario, self.where)
        self.machine.relay_fn = relay_fn
        st = self.machine.splice
        assert st is not None
        self.state = st
        self.truth = SynthConn(plan, self.where, st)
        s = plan.scenario
        self.c_off = self.s_off = 0  # bytes each host sent past its splice_irs
        self.c_tsval = s.client.tsval
        self.s_tsval = s.server.tsval
        self.c_ecr = st.client.lastsent_ts  # the last TSval each host got from the proxy
        self.s_ecr = st.server.lastsent_ts
        self.left = plan.segments
        self.below_base = plan.below_base
        self.finished = False
        self.fins = 0

    # -- the handshakes and the pre-splice exchange, written directly (the proxy's own packets) ---------
    def opening(self, t: int, put: Callable[[int, int, bytes], None]) -> int:
        s, w, st = self.plan.scenario, self.where, self.state
        cfg = ProxyConfig()
        c_syn = offer_of(s.client)
        to_client = answer_client(c_syn, s.client.df, cfg)
        to_server = offer_server(c_syn, cfg)
        c_isn, pc_isn = s.client.isn, seq_add(st.client.splice_iss, -1 - s.server_presplice - s.ok_len)
        pd_isn, s_isn = seq_add(st.server.splice_iss, -1 - s.client_presplice), s.server.isn
        ts_c, ts_d = st.client.lastsent_ts, st.server.lastsent_ts
        c_ts = s.client.tsval if st.client.timestamps else None
        s_ts = s.server.tsval if st.server.timestamps else None
        pcts = ts_c if st.client.timestamps else None
        pdts = ts_d if st.server.timestamps else None
        step = 200 * US
        put(t, 0, _packet(w.client, w.proxy_c, c_isn, 0, SYN, options=syn_options(s.client, layout=PLAIN),
                          df=s.client.df))
        put(t + step, 0, _packet(w.proxy_c, w.client, pc_isn, c_isn + 1, SYN | ACK,
                                 options=wire_options(to_client, ts_c, s.client.tsval or 0, PLAIN)))
        put(t + 2 * step, 0, _packet(w.client, w.proxy_c, c_isn + 1, pc_isn + 1, ACK, options=_ts(c_ts, pcts)))
        t += 3 * step
        c_pre, s_pre = s.client_presplice, s.server_presplice
        if c_pre:
            put(t, 0, _packet(w.client, w.proxy_c, c_isn + 1, pc_isn + 1, ACK | PSH, options=_ts(c_ts, pcts),
                              payload=_pattern(b"REQ", c_pre, self.index)))
            put(t + step, 0, _packet(w.proxy_c, w.client, pc_isn + 1, c_isn + 1 + c_pre, ACK, options=_ts(pcts, c_ts)))
            t += 2 * step
        put(t, 1, _packet(w.proxy_d, w.server, pd_isn, 0, SYN, options=wire_options(to_server, ts_d, 0, PLAIN)))
        put(t + step, 1, _packet(w.server, w.proxy_d, s_isn, pd_isn + 1, SYN | ACK,
                                 options=syn_options(s.server, answer_to=to_server, tsecr=ts_d,
                                                                     layout=PLAIN)))
        put(t + 2 * step, 1, _packet(w.proxy_d, w.server, pd_isn + 1, s_isn + 1, ACK, options=_ts(pdts, s_ts)))
        t += 3 * step
        if c_pre:  # the proxy application's own copy (a rewritten request: other bytes, same length)
            put(t, 1, _packet(w.proxy_d, w.server, pd_isn + 1, s_isn + 1, ACK | PSH, options=_ts(pdts, s_ts),
                              payload=_pattern(b"FWD", c_pre, self.index)))
            put(t + step, 1, _packet(w.server, w.proxy_d, s_isn + 1, pd_isn + 1 + c_pre, ACK, options=_ts(s_ts, pdts)))
            t += 2 * step
        if s_pre:
            put(t, 1, _packet(w.server, w.proxy_d, s_isn + 1, pd_isn + 1 + c_pre, ACK | PSH, options=_ts(s_ts, pdts),
                              payload=_pattern(b"BANNER", s_pre, self.index)))
            put(t + step, 1, _packet(w.proxy_d, w.server, pd_isn + 1 + c_pre, s_isn + 1 + s_pre, ACK,
                                     options=_ts(pdts, s_ts)))
            put(t + 2 * step, 0, _packet(w.proxy_c, w.client, pc_isn + 1, c_isn + 1 + c_pre, ACK | PSH,
                                         options=_ts(pcts, c_ts), payload=_pattern(b"COPY", s_pre, self.index)))
            t += 3 * step
        if s.ok_len:
            put(t, 0, _packet(w.proxy_c, w.client, pc_isn + 1 + s_pre, c_isn + 1 + c_pre, ACK | PSH,
                              options=_ts(pcts, c_ts), payload=_pattern(b"OK", s.ok_len, self.index)))
            t += step
        return t

    # -- traffic --------------------------------------------------------------------------------------
    def next_input(self) -> Segment | None:
        """The next segment an end host sends (None when the connection is over)."""
        st, rng, plan = self.state, self.rng, self.plan
        if self.left <= 0:
            if not plan.fin or self.fins >= 3:
                self.finished = True
                return None
            self.fins += 1
            from_c = self.fins != 2
            flags = ACK | (FIN if self.fins < 3 else 0)
            seg = self._segment(from_c, b"", flags, 8192)
            if self.fins < 3:
                if from_c:
                    self.c_off += 1
                else:
                    self.s_off += 1
            return seg
        self.left -= 1
        if self.below_base > 0:  # a retransmission of pre-splice bytes, straddling or wholly below the base
            self.below_base -= 1
            back = 1 + self.below_base * 3
            payload = _pattern(b"R", back + (self.below_base % 2) * 4, self.index)
            return self._segment(True, payload, ACK | PSH, 4000, off=-back)
        from_c = rng.random() < 0.5
        kind = rng.random()
        window = rng.randrange(1000, 65536)
        opts: list[TcpOption] = []
        if kind < 0.55:
            size = rng.randrange(1, plan.max_payload + 1)
            if rng.random() < plan.oversize:
                # 1.5 × the out peer's MSS, but never above the MSS the proxy told the sender: a sender never
                # puts more on the wire (RFC 9293 §3.7.1; the checker takes more for a TSO/GRO super-segment)
                told = ProxyConfig().mss if not from_c or plan.scenario.client.df else MIN_MSS
                size = min((st.server if from_c else st.client).peer_mss * 3 // 2, told - 12)
            payload = _pattern(b"C" if from_c else b"S", size, rng.randrange(1 << 30))
            flags = ACK | PSH
            urgent = 0
            if plan.urgent and rng.random() < 0.03:
                flags |= URG
                urgent = rng.randrange(1, len(payload) + 1)
            seg = self._segment(from_c, payload, flags, window, urgent=urgent)
            if from_c:
                self.c_off += len(payload)
            else:
                self.s_off += len(payload)
            return seg
        leg_in, leg_out = (st.client, st.server) if from_c else (st.server, st.client)
        if plan.sack and leg_in.sack and leg_out.sack and rng.random() < 0.2:
            got = self.s_off if from_c else self.c_off
            if got > 200:
                base = leg_in.splice_iss
                opts.append(Sack(((seq_add(base, got - 100), seq_add(base, got)),)))
                return self._segment(from_c, b"", ACK, window, extra=opts, ack_back=200)
        return self._segment(from_c, b"", ACK, window)

    def _segment(self, from_c: bool, payload: bytes, flags: int, window: int, *, urgent: int = 0,
                 extra: Sequence[TcpOption] = (), ack_back: int = 0, off: int | None = None) -> Segment:
        st = self.state
        leg = st.client if from_c else st.server
        opts: list[TcpOption] = list(extra)
        if leg.timestamps:
            if from_c:
                self.c_tsval = seq_add(self.c_tsval or 0, 1)
                opts = [NOP, NOP, Timestamps(self.c_tsval, self.c_ecr), *opts]
            else:
                self.s_tsval = seq_add(self.s_tsval or 0, 1)
                opts = [NOP, NOP, Timestamps(self.s_tsval, self.s_ecr), *opts]
        if off is None:
            off = self.c_off if from_c else self.s_off
        ack_off = max(0, (self.s_off if from_c else self.c_off) - ack_back)
        build = from_client if from_c else from_server
        return build(st, off, ack_off=ack_off, flags=flags, payload=payload, window=window, urgent=urgent,
                     options=opts, ts=False, ident=(self.truth.inputs * 7 + 1) & 0xFFFF)

    def inject(self, seg: Segment, now: float) -> tuple[Observation, list[RelayResult]]:
        from_server = seg.ip.src == self.state.server.peer.addr and seg.tcp.sport == self.state.server.peer.port
        kind = EventType.SERVER_SEGMENT if from_server else EventType.CLIENT_SEGMENT
        results = self.machine.handle(Event(kind, segment=seg), now)
        for r in results:
            for out in r.segments:
                ts = out.tcp.option(Timestamps)
                if isinstance(ts, Timestamps):
                    if from_server:
                        self.c_ecr = ts.tsval
                    else:
                        self.s_ecr = ts.tsval
        return observation(results), results


@dataclass(slots=True)
class SynthResult:
    conns: list[SynthConn]
    inputs: int = 0
    outputs: int = 0


def synth_pair(client_path: Path | str, server_path: Path | str, plans: Sequence[ConnPlan], *,
               relay_fn: RelayFn = relay, seed: int = 0, linktype: int = LINKTYPE_RAW,
               formats: tuple[str, str] = ("pcap", "pcap"), latency_us: int = 40, gap_us: int = 100,
               concurrent: int = 1, start_ns: int = 1_700_000_000 * 1_000_000_000) -> SynthResult:
    """Write a client-leg and a server-leg capture of ``plans`` relayed by ``relay_fn``.

    ``concurrent``: how many connections are open at once (their segments interleave)."""
    rng = random.Random(seed)
    writers = (open_writer(client_path, linktype, formats[0]), open_writer(server_path, linktype, formats[1]))
    out = SynthResult([])
    t = start_ns
    lat, gap = latency_us * US, gap_us * US

    def put(ts: int, leg: int, ip: bytes) -> None:
        writers[leg].write(ts, frame(linktype, ip, outgoing=False))

    try:
        queue = list(enumerate(plans))
        live: list[_Traffic] = []
        while queue or live:
            while queue and len(live) < concurrent:
                i, plan = queue.pop(0)
                tr = _Traffic(i, plan, relay_fn, random.Random(rng.randrange(1 << 30)))
                t = tr.opening(t, put)
                live.append(tr)
                out.conns.append(tr.truth)
            tr = live[rng.randrange(len(live))] if len(live) > 1 else live[0]
            seg = tr.next_input()
            if seg is None:
                live.remove(tr)
                continue
            from_server = seg.ip.src == tr.state.server.peer.addr and seg.tcp.sport == tr.state.server.peer.port
            in_leg = 1 if from_server else 0
            put(t, in_leg, encode(seg))
            obs, _results = tr.inject(seg, t / 1e9)
            tr.truth.inputs += 1
            out.inputs += 1
            for ip in obs.to_client:
                put(t + lat, 0, ip)
            for ip in obs.to_server:
                put(t + lat, 1, ip)
            n = len(obs.to_client) + len(obs.to_server)
            tr.truth.outputs += n
            out.outputs += n
            t += gap
    finally:
        for w in writers:
            w.close()
    return out


# --------------------------------------------------------------------------------------------------
# Mutants: a box with one bug, checksums recomputed so that only the bug shows
# --------------------------------------------------------------------------------------------------


def _rewrite(result: RelayResult, change: Callable[[Segment], Segment | None]) -> RelayResult:
    emitted = []
    for e in result.emitted:
        if isinstance(e, Segment):
            new = change(e)
            if new is None:
                continue
            ip = replace(new.ip, checksum=None) if isinstance(new.ip, IPv4Header) else new.ip
            e = decode(serialise(Segment(ip, replace(new.tcp, checksum=None), new.payload)))
        emitted.append(e)
    return replace(result, emitted=tuple(emitted))


def seq_off_by_one(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Every relayed segment's sequence number one too high (checksums recomputed)."""
    return _rewrite(relay(state, seg, now), lambda s: replace(s, tcp=replace(s.tcp, seq=(s.tcp.seq + 1) & 0xFFFF_FFFF)))


def drop_every(n: int) -> RelayFn:
    """A relay that loses every ``n``-th segment it should emit."""
    count = [0]

    def fn(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        def change(s: Segment) -> Segment | None:
            count[0] += 1
            return None if count[0] % n == 0 else s
        return _rewrite(relay(state, seg, now), change)
    return fn


def duplicate_every(n: int) -> RelayFn:
    """A relay that emits every ``n``-th segment twice."""
    count = [0]

    def fn(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        r = relay(state, seg, now)
        segs = r.segments
        if segs:
            count[0] += 1
            if count[0] % n == 0:
                return replace(r, emitted=(*r.emitted, segs[0]))
        return r
    return fn


def no_trim(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """A relay that never trims: its bases sit 1 MiB earlier than the splice's, with the same offsets."""
    back = 1 << 20
    c, s = state.client, state.server
    moved = replace(state, client=replace(c, splice_irs=seq_add(c.splice_irs, -back), splice_iss=seq_add(
        c.splice_iss, -back)), server=replace(s, splice_irs=seq_add(s.splice_irs, -back),
                                              splice_iss=seq_add(s.splice_iss, -back)))
    r = relay(moved, seg, now)
    return replace(r, state=state)


def mss_ignored(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """A relay that forwards oversized segments instead of answering with ICMP (MSS-ICMP)."""
    big = replace(state, client=replace(state.client, peer_mss=65535), server=replace(state.server, peer_mss=65535))
    return replace(relay(big, seg, now), state=state)


def ttl_kept(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """A relay that forgets to decrement the TTL (a SHOULD: NON-STRICT)."""
    def change(s: Segment) -> Segment:
        if isinstance(s.ip, IPv4Header):
            return replace(s, ip=replace(s.ip, ttl=min(255, s.ip.ttl + 1)))
        return replace(s, ip=replace(s.ip, hop_limit=min(255, s.ip.hop_limit + 1)))
    return _rewrite(relay(state, seg, now), change)


MUTANTS: dict[str, RelayFn] = {"seq-off-by-one": seq_off_by_one, "ttl-kept": ttl_kept, "no-trim": no_trim,
                               "mss-ignored": mss_ignored}


def default_scenario(**kw: object) -> Scenario:
    """A scenario with every option on both legs, ISNs and timestamps near the 2^32 wrap."""
    client = PeerPlan(isn=0xFFFF_FF00, mss=1460, wscale=7, sack_permitted=True, tsval=0xFFFF_FFF0)
    server = PeerPlan(isn=0xFFFF_0000, mss=1400, wscale=2, sack_permitted=True, tsval=12345)
    args: dict[str, object] = {"client": client, "server": server, "proxy_tsval_c": DEFAULT_PROXY_TSVAL}
    args.update(kw)
    return Scenario(**args)  # type: ignore[arg-type]
