"""``splicecheck trace``'s engine: two captures of a splice box, merged in time, judged connection by connection.

Why one module of ~700 lines: it is one class, :class:`TraceEngine`, whose methods share the merge loop's
state (open flows, pairs, tombstones, the fast path's counters) on the hot path of every packet; what can
stand apart does: reading captures (:mod:`.capture`), flows (:mod:`.flows`), inferring a connection's
parameters (:mod:`.infer`), judging it (:mod:`.judge`), the fast path (:mod:`.fast`).

Theory of operation
-------------------
The client leg (client ⇄ proxy) and the server leg (proxy ⇄ server) are captured separately. Both
files are read as streams (:mod:`splicecheck.conformance.trace.capture`) and merged by timestamp, so a
packet is seen after everything captured before it on either leg; memory holds only the open
connections.

1. **Flows.** A TCP 4-tuple on one leg is a *flow*. Its end host (the *peer*) and the proxy's socket
   (*local*) are told apart by the handshake — the client opens the client leg, the proxy opens the
   server leg — or, without one, by ``--proxy`` addresses, or by a listening endpoint an earlier
   handshake on that leg showed, or else by ports (the end with the lower port is the server side).
2. **Pairing** joins a client-leg flow with the server-leg flow the proxy opened for it. A params
   file may pin pairs. A transparent box (SYNPROXY) keeps the 4-tuple: the pair is exact. Otherwise
   the candidates are scored: the server-leg flow's source is the client (+50) or its destination is
   the client-leg destination (+40), same client port (+10), same server port (+5), and the server-leg
   SYN no earlier than the client-leg SYN (+20, required when both were captured; a flow whose
   handshake was captured never pairs with one whose handshake was not); the best score of at
   least 20 wins; on a tie the client flow whose SYN came closest before the server-leg SYN (a proxy
   connects upstream once it accepted a client), else the oldest.
   A flow with no partner within ``pair_window`` is *one-sided*: an INFO result, nothing judged.
3. **Learning.** A pair buffers its first packets until its parameters can be inferred
   (:mod:`splicecheck.conformance.trace.infer`): both handshakes seen and relayed data in both
   directions, or ``learn_packets`` packets, ``learn_time`` seconds, a FIN/RST or the end of the
   capture. Then a :class:`~splicecheck.conformance.trace.judge.Judge` replays the buffer and judges
   everything after it as it streams in.
4. **Closing.** A pair whose two end hosts both sent FIN, or that saw a RST, lingers ``linger``
   seconds for the last outputs and is finished: its result is emitted and its state freed. So is a
   pair idle for ``idle_timeout`` seconds. Its 4-tuples are remembered 10 s more (stragglers are
   counted, not judged); a SYN on them starts a new connection, and so does an opening SYN with a new
   ISN on a quiet 4-tuple (a reused port). Memory follows the open connections.
5. **Timers** run on capture time: a pending input expires ``match_timeout`` after it was captured
   (checked when its direction's next input comes, and by a sweep every second), an unclaimed
   output ``skew`` after. When one capture ends, the other is not read further: past
   that point nothing could be paired.

Non-TCP packets, fragments, packets the codec would refuse and what the link layer could not use
are counted (:class:`TraceStats`) and reported as one INFO result, ``trace/capture``, never a crash.

Why one module of some 700 lines: it is one state machine over the open connections — flows, pairs,
learning, judged, closing, tombstones — whose tables every step reads and changes together; reading
(capture, link), parsing and inference (infer), judging (judge), flow records (flows) and the shortcuts are
modules of their own.
"""

from __future__ import annotations

import gc
import heapq
import ipaddress
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path

from ...reference.icmp import quoted_tcp
from ...reference.relay import Direction, Endpoint
from ...reference.segment import ACK, FIN, RST, SYN
from ..results import CaseKind, CaseResult, Verdict
from .capture import CaptureReader, TraceError, TruncatedCapture, UnknownLinkType, open_capture
from .config import LEG_NAMES, NS, TraceConfig, TraceStats, summary_text
from .flows import CaseIds, Flow, Splice, pair_score, reverse_key, sender_is_peer
from .infer import CLIENT_LEG, SERVER_LEG, Pkt, describe, infer, parse_pkt
from .judge import Judge
from .link import Packet, ip_batches, supported
from .merge import TimeMerge
from .params import ConnParams, ParamsDump, endpoint_text
from .shortcuts import FastShared
from .tally import ends_text


class TraceEngine:
    """Judges the splice seen in two captures; results are handed to ``on_result`` as they complete."""

    def __init__(self, client_capture: Path | str, server_capture: Path | str, config: TraceConfig | None = None,
                 on_result: Callable[[CaseResult], None] | None = None, dump: ParamsDump | None = None,
                 keep_results: bool = True) -> None:
        """``keep_results``: also collect every result in ``results`` (what :meth:`run` returns); off, a
        result is only handed to ``on_result`` and memory follows the open connections alone."""
        self.config = config or TraceConfig()
        self.paths = (Path(client_capture), Path(server_capture))
        self.on_result = on_result or (lambda r: None)
        self.dump = dump
        self.readers: tuple[CaptureReader, CaptureReader] = (open_capture(self.paths[0]), open_capture(self.paths[1]))
        for r in self.readers:
            if r.info.format == "pcap" and not supported(r.info.linktypes[0]):
                for x in self.readers:
                    x.close()
                raise UnknownLinkType(r.info.linktypes[0], r.path)
        self.stats = TraceStats(checksums=self.config.checksums)
        self.shared = FastShared(self.config.fast, self.config.verify_every)
        self.tables: tuple[dict[bytes, tuple[Flow, bool]], dict[bytes, tuple[Flow, bool]]] = ({}, {})
        self.awaiting: tuple[dict[int, Flow], dict[int, Flow]] = ({}, {})  # flows without a partner, by id
        self.splices: dict[int, Splice] = {}  # every open pair
        self.learning: dict[int, Splice] = {}  # pairs still learning
        self.closing: dict[int, Splice] = {}  # pairs that saw FIN from both ends, or RST
        self.loose: dict[int, Flow] = {}  # one-sided and ignored flows, kept to count stragglers
        # finished connections' flows (tombstones), soonest forgotten first. They are entombed as capture time
        # goes, under the deadline ``now + life``: nearly always in deadline order, so a queue holds them,
        # (deadline, flow); those re-filed under a later deadline (a straggler came) and any entombed out of
        # order go to a heap, (deadline, arrival, flow). Either way the ones due are those past their deadline.
        self.tombstones: deque[tuple[int, Flow]] = deque()
        self.refiled: list[tuple[int, int, Flow]] = []
        self._filed = itertools.count()  # the re-filed tombstones' order among equal deadlines
        # per leg: listening endpoints seen in handshakes → is it the peer (server leg) or local (client leg)
        self.roles: tuple[dict[Endpoint, bool], dict[Endpoint, bool]] = ({}, {})
        self._next_idle = 0
        self.timers: deque[tuple[int, int, Judge, object]] = deque()
        self.case_ids = CaseIds()
        self.results: list[CaseResult] = []
        self.keep_results = keep_results
        self.counts: dict[str, int] = {}
        self.arrivals = 0
        self.now = 0
        self.wall = 0.0
        self.segments = 0  # TCP packets processed
        self._timeout = int(self.config.match_timeout * NS)
        self._skew = int(self.config.skew * NS)
        self._learn_ns = self.config.learn_time * NS
        self._only = self.config.only
        self._life = self._tombstone_life()
        self.merge = TimeMerge((self._stream(0), self._stream(1)), self._timeout)

    # -- the stream ---------------------------------------------------------------------------------------
    @property
    def cutoff(self) -> int | None:
        """When the capture that ended first ended (None while both are read)."""
        return self.merge.cutoff

    def _stream(self, leg: int) -> Iterator[list[Packet]]:
        try:
            yield from ip_batches(self.readers[leg].batches(), leg, self.stats.link[leg])
        except TruncatedCapture as exc:
            self.stats.truncated_files.append(f"{LEG_NAMES[leg]} leg: {exc}; the rest is ignored")

    def run(self) -> list[CaseResult]:
        """Read both captures to the end; returns every result (also handed to ``on_result`` as it came;
        none when ``keep_results`` is off)."""
        t0 = time.perf_counter()
        # Every pending segment is a small container: at the default threshold (700) the cyclic
        # collector runs every few hundred segments and costs a fifth of the run. The engine makes almost no
        # cyclic garbage (a flow and its pair are unlinked when the pair finishes: 84 objects collected in
        # a run of 20,000 connections), so the collector only walks the live connections over and over; at
        # 50,000 that still took 7 % of such a run, at 200,000 not 1 %, with the same peak memory. The
        # threshold counts tracked objects made less those freed: once the open connections are as many as
        # they will be, it hardly grows. At 200,000 a 20,000-connection run still made one collection, of the
        # young live connections (~0.1 s, 1.3 % of a data run, 4 % of a SYN-only one); at 1,000,000 none.
        threshold = gc.get_threshold()
        gc.set_threshold(max(threshold[0], 1_000_000), *threshold[1:])
        try:
            self._run()
        finally:
            gc.set_threshold(*threshold)
            for r in self.readers:
                r.close()
        self.wall = time.perf_counter() - t0
        return self.results

    def _run(self) -> None:
        tables = self.tables
        timers = self.timers
        stats = self.stats
        skew = self._skew
        sweep_every = NS
        next_sweep = 0
        tcp = [0, 0]
        now = 0
        for batch in self.merge:
            for ts, leg, ip, cut in batch:
                if ts > now:
                    now = self.now = ts
                    if timers and timers[0][0] <= ts:
                        self._expire(ts)
                    if ts >= next_sweep:
                        if next_sweep:
                            self._sweep(ts)
                        next_sweep = ts + sweep_every
                n = len(ip)
                if ip[0] >> 4 == 4:
                    if n < 20:
                        stats.unusable[leg] += 1
                        continue
                    if ip[9] != 6:
                        self._other(leg, ts, ip)
                        continue
                    if ip[6] & 0x3F or ip[7]:
                        stats.fragments[leg] += 1
                        continue
                    ihl = (ip[0] & 15) << 2
                    if n < ihl + 20 or ihl < 20:
                        stats.unusable[leg] += 1
                        continue
                    key = ip[12:20] + ip[ihl:ihl + 4]
                else:
                    if n < 40 or ip[0] >> 4 != 6:
                        stats.unusable[leg] += 1
                        continue
                    nh = ip[6]
                    if nh != 6:
                        if nh == 58:
                            self._other(leg, ts, ip)
                        elif nh in (0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254):
                            stats.ipv6_extensions[leg] += 1
                        else:
                            stats.non_tcp[leg] += 1
                        continue
                    ihl = 40
                    if n < 60:
                        stats.unusable[leg] += 1
                        continue
                    key = ip[8:40] + ip[40:44]
                tcp[leg] += 1
                hit = tables[leg].get(key)
                if hit is None or (ip[ihl + 13] & SYN and self._reopened(hit[0], ip, ihl, ts)):
                    hit = self._new_flow(leg, ts, ip, ihl, key)
                flow, from_peer = hit
                sp = flow.splice
                if sp is not None and sp.judge is not None:  # the hot path: a judged pair
                    sp.last_ts = ts
                    judge = sp.judge
                    if ip[ihl + 13] & 5:  # FIN, RST
                        self._fin_rst(sp, leg, from_peer, ip[ihl + 13], ts)
                    if from_peer:
                        judge.input(leg, ts, ip, ihl, cut)  # expires its direction's old inputs itself
                    else:
                        o = judge.output(1 - leg, ts, ip, ihl, cut)
                        if o is not None:
                            timers.append((ts + skew, 1, judge, o))
                else:
                    self._slow(flow, from_peer, leg, ts, ip, ihl, cut)
        stats.tcp = tcp
        stats.ended_first = self.merge.ended_first
        self.segments = tcp[0] + tcp[1]
        self._expire(self.now)
        self._finish_all()

    def _reopened(self, flow: Flow, ip: bytes, ihl: int, ts: int) -> bool:
        """A SYN on a known 4-tuple: a new connection if the old one is over, or if it is an opening SYN
        with another ISN than the one that opened the flow, after the flow was quiet for longer than the
        match timeout (a reused port, RFC 9293 §3.10.7.4 — not a box answering an input with a SYN)."""
        if flow.closed:
            return True
        if ip[ihl + 13] & ACK or flow.isn is None:
            return False
        last = flow.splice.last_ts if flow.splice is not None else flow.last_ts
        return int.from_bytes(ip[ihl + 4:ihl + 8], "big") != flow.isn and ts - last > self._timeout

    # -- flows and pairing ------------------------------------------------------------------------------
    def _new_flow(self, leg: int, ts: int, ip: bytes, ihl: int, key: bytes) -> tuple[Flow, bool]:
        v4 = ip[0] >> 4 == 4
        src, dst = (ip[12:16], ip[16:20]) if v4 else (ip[8:24], ip[24:40])
        flags = ip[ihl + 13]
        a = Endpoint(src, (ip[ihl] << 8) | ip[ihl + 1])  # a sent this packet to b
        b = Endpoint(dst, (ip[ihl + 2] << 8) | ip[ihl + 3])
        a_is_peer = sender_is_peer(leg, a, b, flags, self.config.proxies, self.roles[leg])
        peer, local = (a, b) if a_is_peer else (b, a)
        flow = Flow(leg, peer, local, ts, flags & (SYN | ACK) == SYN)
        if flags & (SYN | ACK) == SYN:
            flow.isn = int.from_bytes(ip[ihl + 4:ihl + 8], "big")
        back = reverse_key(key)
        k_in, k_out = (key, back) if a_is_peer else (back, key)
        flow.keys = (k_in, k_out)
        table = self.tables[leg]
        old = table.get(k_in)
        if old is not None:
            self._retire(old[0])
        table[k_in] = (flow, True)
        table[k_out] = (flow, False)
        self.stats.connections += 1
        if self._only and leg == CLIENT_LEG and peer not in self._only:
            flow.ignored = True
            flow.buffer = None
            self.loose[id(flow)] = flow
        else:
            self.awaiting[leg][id(flow)] = flow
            self._pair(flow)
        return (flow, a_is_peer)

    def _pair(self, flow: Flow) -> None:
        other = 1 - flow.leg
        client, server = (flow, None) if flow.leg == CLIENT_LEG else (None, flow)
        best: Flow | None = None
        best_key = (19, 0)
        backwards = False
        for cand in self.awaiting[other].values():
            if cand.ignored or cand.closed:
                continue
            c, s = (client, cand) if client is not None else (cand, server)
            assert c is not None and s is not None
            score = pair_score(c, s, self.config.params, self._skew)
            if score < 0 and c.syn_ts is not None and s.syn_ts is not None and s.syn_ts + self._skew < c.syn_ts \
                    and (s.local == c.peer or s.peer == c.local):
                backwards = True  # would pair but for the order of the SYNs
            # on a tie, the client flow that opened closest before the server-leg one (the proxy connects
            # upstream once it accepted a client), else the oldest
            gap = -abs(s.syn_ts - c.syn_ts) if c.syn_ts is not None and s.syn_ts is not None else 0
            if (score, gap) > best_key and score > 19:
                best, best_key = cand, (score, gap)
        if best is None:
            if backwards:
                self.stats.reversed_opens += 1
            return
        c, s = (flow, best) if flow.leg == CLIENT_LEG else (best, flow)
        if c.syn_ts is not None and s.syn_ts is not None and s.syn_ts < c.syn_ts:
            # a transparent pair (one 4-tuple) opened on the server leg first: within the skew it is paired,
            # but a proxy connects upstream after its client connected; many such pairs hint at swapped legs
            self.stats.reversed_opens += 1
        self._join(c, s)

    def _join(self, c: Flow, s: Flow) -> None:
        del self.awaiting[CLIENT_LEG][id(c)]
        del self.awaiting[SERVER_LEG][id(s)]
        names = (endpoint_text(c.peer), endpoint_text(s.peer))
        sp = Splice(self.case_ids.next(f"trace/{names[0]}>{names[1]}"), c, s)
        sp.names = names
        self.stats.pairs += 1
        sp.buffer = sorted((c.buffer or []) + (s.buffer or []))
        c.buffer = s.buffer = None
        c.splice = s.splice = sp
        self.splices[id(sp)] = sp
        self.learning[id(sp)] = sp
        sp.syns = all(ihl >= 0 and ip[ihl + 13] & (SYN | ACK) == SYN for _n, _ts, _lg, _p, ip, ihl, _c in sp.buffer)
        for item in list(sp.buffer):
            _n, ts, leg, peer, ip, ihl, _cut = item
            self._evidence(sp, leg, peer, ip, ihl)
            f = ip[ihl + 13]
            if f & (FIN | RST):
                self._fin_rst(sp, leg, peer, f, ts)
        self._maybe_settle(sp, self.now)

    # -- learning -------------------------------------------------------------------------------------
    def _slow(self, flow: Flow, from_peer: bool, leg: int, ts: int, ip: bytes, ihl: int, cut: bool) -> None:
        flow.last_ts = ts
        flow.packets += 1
        if flow.ignored:
            self.stats.ignored[leg] += 1
            return
        self.arrivals += 1
        item = (self.arrivals, ts, leg, from_peer, ip, ihl, cut)
        sp = flow.splice
        if sp is None:  # waiting for its partner
            if flow.buffer is not None:
                flow.buffer.append(item)
                if len(flow.buffer) > self.config.learn_packets:
                    self._one_sided(flow)  # waited too long
            return
        sp.last_ts = ts
        sp.buffer.append(item)
        f = ip[ihl + 13]
        if f & (SYN | ACK) != SYN:
            sp.syns = False
        self._evidence(sp, leg, from_peer, ip, ihl)
        if f & (FIN | RST):
            self._fin_rst(sp, leg, from_peer, f, ts)
        self._maybe_settle(sp, ts)

    def _evidence(self, sp: Splice, leg: int, from_peer: bool, ip: bytes, ihl: int) -> None:
        doff = (ip[ihl + 12] >> 4) << 2
        payload = ip[ihl + doff:]
        payloads = sp.payloads
        if not payload or ip[ihl + 13] & SYN or payloads is None:  # (None: judged, no evidence needed)
            return
        if from_peer:
            payloads[leg].add(payload)
        elif payload in payloads[1 - leg]:
            sp.evidence[1 - leg] = True

    @staticmethod
    def _syns_only(sp: Splice) -> bool:
        """Whether the pair holds nothing but opening SYNs (a scan, a server that never answered): nothing
        to infer, no handshake of the proxy's to check, no segment to judge. (Kept as its packets are
        buffered: _join, _slow, _other.)"""
        return sp.syns

    def _maybe_settle(self, sp: Splice, now: int, force: bool = False) -> None:
        cfg = self.config
        if not force and not (len(sp.buffer) >= cfg.learn_packets or now - sp.first_ts > self._learn_ns
                              or sp.rst or sp.fin[0] or sp.fin[1] or (sp.evidence[0] and sp.evidence[1])):
            return
        if len(sp.buffer) < cfg.learn_packets and self._syns_only(sp):
            return  # learning on: an answer may come; else it is finished as not judged (_finish)
        pkts: list[Pkt] = []
        icmps: list[tuple[int, int, int, bytes]] = []  # (after this many packets, ts, leg, ip)
        for _n, ts, leg, peer, ip, ihl, cut in sp.buffer:
            if ihl < 0:
                icmps.append((len(pkts), ts, leg, ip))
            else:
                pkts.append(parse_pkt(len(pkts), ts, leg, peer, ip, ihl, cut))
        ends = sp.ends
        given: ConnParams = cfg.params.lookup(ends.client, ends.proxy_c)
        try:
            inf = infer(pkts, ends, given, self._skew)
        except ValueError as exc:  # parameters no splice can have (an MSS option of 0): named, not judged
            self._unmodelled(sp, now, str(exc))
            return
        repro = f"{cfg.repro} --conn {endpoint_text(ends.client)}" if cfg.repro else ""
        judge = Judge(sp.case_id, inf.state, judged=inf.judged, shared=self.shared, repro=repro,
                      timeout=cfg.match_timeout, skew=cfg.skew, checksums=cfg.checksums,
                      announced_mss=inf.announced_mss,
                      description=ends_text(inf.state))
        state, notes = inf.state, inf.notes
        judge.explain = lambda: "splice parameters: " + describe(state) + ". " + "; ".join(notes)
        judge.first_ts = sp.first_ts
        judge.last_ts = sp.last_ts
        if self.dump is not None:
            self.dump.add(inf.state, inf.notes)
        sp.judge = judge
        sp.payloads = None  # the learning's evidence: not needed once judged
        self.learning.pop(id(sp), None)
        judge.handshake(inf.checks)
        sp.buffer = []
        self._replay(sp, judge, pkts, icmps, inf.start, inf.handshake)
        if sp.close_at is not None:  # it closed while learning: lingers with only what may still be matched
            judge.prune()

    def _replay(self, sp: Splice, judge: Judge, pkts: list[Pkt], icmps: list[tuple[int, int, int, bytes]],
                start: int, handshake: set[int]) -> None:
        timers = self.timers
        pending_icmps = list(icmps)
        for p in pkts:
            while pending_icmps and pending_icmps[0][0] <= p.idx:
                _after, ts, leg, ip = pending_icmps.pop(0)
                q = quoted_tcp(ip)
                if q is not None:
                    judge.icmp(leg, ts, ip, q[1])
            if p.idx in handshake and p.idx < start:  # later, a handshake packet answers an input
                judge.counts.handshake += 1
                continue
            if p.idx < start:
                judge.counts.presplice += 1
                continue
            if p.from_peer:
                judge.input(p.leg, p.ts, p.ip, p.ihl, p.truncated)
            else:
                o = judge.output(1 - p.leg, p.ts, p.ip, p.ihl, p.truncated)
                if o is not None:
                    timers.append((p.ts + self._skew, 1, judge, o))
        for _after, ts, leg, ip in pending_icmps:
            q = quoted_tcp(ip)
            if q is not None:
                judge.icmp(leg, ts, ip, q[1])

    def _fin_rst(self, sp: Splice, leg: int, from_peer: bool, flags: int, ts: int) -> None:
        if flags & RST:
            sp.rst = True
        elif from_peer:
            sp.fin[leg] = True
        if sp.close_at is None and (sp.rst or (sp.fin[0] and sp.fin[1])):
            sp.close_at = ts + int(self.config.linger * NS)
            self.closing[id(sp)] = sp
        if sp.judge is not None and sp.close_at is not None:
            sp.judge.prune()  # lingering for the last outputs: what was matched is not needed any more

    # -- timers, sweeps, the end ----------------------------------------------------------------------
    def _expire(self, now: int) -> None:
        timers = self.timers
        due = []
        while timers and timers[0][0] <= now:
            due.append(timers.popleft())
        if len(due) > 1:  # a replayed learning window appends timers out of order: earliest first
            due.sort(key=itemgetter(0, 1))
        for _deadline, kind, judge, obj in due:
            if kind == 0:
                judge.expire(obj)  # type: ignore[arg-type]
            elif self.cutoff is not None and obj.ts > self.cutoff:  # type: ignore[attr-defined]
                judge.cut_orphan(obj)  # type: ignore[arg-type]  # its input was on the capture that ended
            else:
                later = judge.expire_orphan(obj)  # type: ignore[arg-type]
                if later is not None:
                    timers.append((later, 1, judge, obj))

    def _sweep(self, now: int) -> None:
        """Once a second of capture time: settle slow learners, finish closed pairs, give up on partners;
        every tenth of the idle timeout, finish idle pairs and forget idle loose flows."""
        cfg = self.config
        for sp in list(self.learning.values()):
            if now - sp.first_ts > cfg.learn_time * NS:
                self._maybe_settle(sp, now, force=True)
                # unsettled, it holds opening SYNs only: its next packet settles it (_slow), the sweep need not
                # look again
                self.learning.pop(id(sp), None)
        for sp in list(self.closing.values()):
            if sp.close_at is not None and now >= sp.close_at:
                self._finish(sp, now)
        for sp in self.splices.values():  # inputs of directions that got nothing since: dropped
            if sp.judge is not None:
                sp.judge.expire_due(now)
        window = int(cfg.pair_window * NS)
        for leg in (CLIENT_LEG, SERVER_LEG):
            for flow in list(self.awaiting[leg].values()):
                if now - flow.first_ts > window:
                    self._one_sided(flow)
        self._sweep_tombstones(now)
        if now < self._next_idle:
            return
        idle = int(cfg.idle_timeout * NS)
        self._next_idle = now + max(NS, idle // 10)
        for sp in list(self.splices.values()):
            if now - sp.last_ts > idle:
                self._finish(sp, now)
        for flow in list(self.loose.values()):
            if now - flow.last_ts > idle:
                self._forget(flow)

    def _tombstone_life(self) -> int:
        return int(min(self.config.tombstone, self.config.idle_timeout) * NS)

    def _sweep_tombstones(self, now: int) -> None:
        """Finished connections' flows are kept ``tombstone`` seconds after their last packet, to count
        stragglers, then forgotten: memory follows the open connections, not all the connections of the
        capture. Each tombstone waits under the deadline its last packet gave it (the queue, or the heap:
        __init__); one whose straggler came since is filed again, on the heap, under its later deadline."""
        fifo, heap = self.tombstones, self.refiled
        life = self._life
        tables = self.tables
        while (fifo and fifo[0][0] < now) or (heap and heap[0][0] < now):
            flow = fifo.popleft()[1] if fifo and fifo[0][0] < now else heapq.heappop(heap)[2]
            table = tables[flow.leg]
            # only the table entries that still hold it are its own (else its 4-tuple was reused since)
            if now - flow.last_ts > life:  # forgotten (a tombstone is never a loose flow: _forget's table part)
                for k in flow.keys:
                    hit = table.get(k)
                    if hit is not None and hit[0] is flow:
                        del table[k]
            elif any((hit := table.get(k)) is not None and hit[0] is flow for k in flow.keys):
                heapq.heappush(heap, (flow.last_ts + life, next(self._filed), flow))

    def _forget(self, flow: Flow) -> None:
        """Drop a loose flow's table entries."""
        self.loose.pop(id(flow), None)
        table = self.tables[flow.leg]
        for k in flow.keys:
            if table.get(k, (None,))[0] is flow:
                del table[k]

    def _retire(self, flow: Flow) -> None:
        """A new connection reuses ``flow``'s 4-tuple: finish whatever ``flow`` was part of."""
        if flow.splice is not None:
            self._finish(flow.splice, self.now)
        elif id(flow) in self.awaiting[flow.leg]:
            self._one_sided(flow)
        self._forget(flow)

    def _finish(self, sp: Splice, now: int, capture_end: bool = False) -> None:
        if id(sp) not in self.splices:
            return
        if sp.judge is None:
            self._maybe_settle(sp, now, force=True)
            if id(sp) not in self.splices:  # parameters no splice can have: reported by _unmodelled
                return
        self._drop(sp)
        if sp.judge is None:  # opening SYNs only
            result = self._syns_result(sp)
        else:
            sp.judge.last_ts = sp.last_ts
            sp.judge.cutoff = self.cutoff
            result = sp.judge.finish(now, capture_end=capture_end)
            c, st = sp.judge.counts, self.stats
            st.csum_completed[0] += c.csum_in
            st.csum_completed[1] += c.csum_out
            st.oversize += c.oversize
            st.resegmented += c.resegmented
        self._entomb(sp, now)
        self._emit(result)

    def _drop(self, sp: Splice) -> None:
        """``sp`` leaves the open, closing and learning sets (it is being finished)."""
        del self.splices[id(sp)]
        self.closing.pop(id(sp), None)
        self.learning.pop(id(sp), None)

    def _entomb(self, sp: Splice, now: int) -> None:
        """A finished connection's flows become tombstones: stragglers are counted, a SYN starts anew."""
        sp.buffer = []
        deadline = now + self._life
        fifo = self.tombstones
        for f in (sp.client, sp.server):
            f.closed = f.ignored = True
            f.splice = None
            f.last_ts = now
            if not fifo or fifo[-1][0] <= deadline:
                fifo.append((deadline, f))
            else:  # (entombed at an earlier time than the last: kept in deadline order by the heap)
                heapq.heappush(self.refiled, (deadline, next(self._filed), f))

    def _unmodelled(self, sp: Splice, now: int, why: str) -> None:
        """A connection whose handshakes give parameters no splice can have (the model's own values refuse
        them, e.g. an MSS option of 0): reported as not judged with the reason, the rest of its packets
        counted, never a crash."""
        self._drop(sp)
        self.stats.unmodelled += 1
        packets = len(sp.buffer)
        self._entomb(sp, now)
        self._emit(CaseResult(
            case=sp.case_id, reqs=["DIR-ONLY"], verdict=Verdict.INFO, kind=CaseKind.TRACE,
            description=f"client {endpoint_text(sp.client.peer)} ⇄ proxy {endpoint_text(sp.client.local)}: "
                        "parameters no splice can have",
            reason=f"not judged: its handshakes give splice parameters the model cannot hold ({why}); "
                   f"{packets} packet(s) counted",
            duration=max(0, sp.last_ts - sp.first_ts) / 1e9))

    def _syns_result(self, sp: Splice) -> CaseResult:
        self.stats.syns_only += 1
        c, s = sp.client, sp.server
        return CaseResult(
            case=sp.case_id, reqs=["DIR-ONLY"], verdict=Verdict.INFO, kind=CaseKind.TRACE,
            description=f"client {sp.names[0]} ⇄ proxy {endpoint_text(c.local)} | proxy "
                        f"{endpoint_text(s.local)} ⇄ server {sp.names[1]}: opening SYN(s) only",
            reason=f"no relayed segment was judged: only the opening SYN(s) were captured ({len(sp.buffer)} "
                   "packet(s); no answer on either leg)",
            duration=max(0, sp.last_ts - sp.first_ts) / 1e9)

    def _one_sided(self, flow: Flow) -> None:
        if self.awaiting[flow.leg].pop(id(flow), None) is None:
            return
        flow.buffer = None
        flow.ignored = True  # counted, never judged
        self.loose[id(flow)] = flow
        if self._only and flow.leg == SERVER_LEG:
            return
        self.stats.one_sided += 1
        leg = LEG_NAMES[flow.leg]
        other = LEG_NAMES[1 - flow.leg]
        cid = f"trace/{leg}-leg-only/{endpoint_text(flow.peer)}>{endpoint_text(flow.local)}"
        why = ("the box opened no server-side connection for it" if flow.leg == CLIENT_LEG
               else "it belongs to no client-side connection (the box's own, or its client leg was not captured)")
        self._emit(CaseResult(
            case=self.case_ids.next(cid), reqs=["DIR-ONLY"], verdict=Verdict.INFO,
            description=f"{leg} {endpoint_text(flow.peer)} ⇄ proxy {endpoint_text(flow.local)}: seen on the {leg} "
                        f"leg only",
            reason=f"one-sided flow: no {other}-leg partner within {self.config.pair_window:g} s ({why}, or the "
                   f"{other}-leg capture missed it); not judged",
            kind=CaseKind.TRACE))

    def _other(self, leg: int, ts: int, ip: bytes) -> None:
        """A non-TCP packet: an ICMP error quoting a segment an end host sent the proxy is the proxy's
        answer to that input (MSS-ICMP's packet-too-big, or a time-exceeded the model would not send)
        and is judged with it; the rest is counted."""
        quote = quoted_tcp(ip)
        hit = self.tables[leg].get(quote[0]) if quote is not None else None
        if quote is None or hit is None or not hit[1] or hit[0].splice is None:
            self.stats.non_tcp[leg] += 1
            return
        sp = hit[0].splice
        if sp.judge is None:  # still learning: replayed in its place
            self.arrivals += 1
            sp.buffer.append((self.arrivals, ts, leg, True, ip, -1, False))
            sp.syns = False
            self.learning[id(sp)] = sp  # no longer opening SYNs only: the sweep settles it when its time is up
            return
        sp.judge.icmp(leg, ts, ip, quote[1])

    def _finish_all(self) -> None:
        for sp in list(self.splices.values()):
            if sp.judge is None and not (len(sp.buffer) < self.config.learn_packets and self._syns_only(sp)):
                self._maybe_settle(sp, self.now, force=True)
        self._expire(self.now)
        for sp in list(self.splices.values()):
            self._finish(sp, self.now, capture_end=True)
        for leg in (CLIENT_LEG, SERVER_LEG):
            for flow in list(self.awaiting[leg].values()):
                self._one_sided(flow)
        # the captures are read: the tombstones, flow tables and case-ID digests are not needed any more (a
        # capture's last seconds of connections, freed before the reports are rendered)
        self.loose.clear()
        self.tombstones.clear()
        self.refiled.clear()
        for table in self.tables:
            table.clear()
        self.timers.clear()
        self.case_ids = CaseIds()
        anomalies = self.stats.anomalies()
        if anomalies:
            self._emit(CaseResult(case="trace/capture", reqs=["DIR-ONLY"], verdict=Verdict.INFO,
                                  description=f"{self.paths[0].name} + {self.paths[1].name}: packets not "
                                              "judged, capture artifacts",
                                  reason="; ".join(anomalies), kind=CaseKind.TRACE))

    def _emit(self, result: CaseResult) -> None:
        if self.keep_results:
            self.results.append(result)
        self.counts[result.verdict.value] = self.counts.get(result.verdict.value, 0) + 1
        self.on_result(result)

    def summary(self) -> str:
        return summary_text(self.stats, self.shared, self.wall)

    @property
    def judged(self) -> int:
        """Segments judged so far (by any path): zero means the captures held nothing to judge."""
        return self.shared.fast + self.shared.model + self.shared.full

def capture_details(engine: TraceEngine) -> dict[str, str]:
    """What the run header records about the captures."""
    out = {}
    for leg, r in zip(LEG_NAMES, engine.readers, strict=True):
        i = r.info
        lts = ",".join(str(v) for v in sorted(set(i.linktypes.values()))) or "-"
        out[f"{leg}_capture"] = (f"{i.path} ({i.format}{', gzip' if i.compressed else ''}, {i.byte_order}-endian, "
                                 f"timestamps {i.resolution}, link type {lts})")
    if engine.config.proxies:
        out["proxy"] = ", ".join(sorted(str(ipaddress.ip_address(a)) for a in engine.config.proxies))
    return out


__all__ = ["Direction", "TraceConfig", "TraceEngine", "TraceError", "TraceStats", "capture_details"]
