"""Reference relay throughput vs scapy, measured side by side in one run (issue 2, item 10).

Workload: realistic data segments — NOP NOP TS, and on every other segment NOP NOP SACK with two blocks,
payloads of 100..1428 bytes (within the out peer's MSS with the options) — relayed through a splice
with timestamps and SACK on both legs, checksums updated incrementally. Three paths, all fed the same
packets in the same order:

- relay: ``relay(state, segment, now)`` on decoded segments (the model's own work per segment);
- wire: ``decode`` + ``relay`` + ``encode``: bytes in, bytes out — the fair comparison with scapy;
- scapy: ``IP(bytes)`` dissect, the same rewrite (addresses, ports, TTL, seq, ack, window, timestamps,
  SACK blocks, through the same ``mapping`` functions), checksums deleted, ``bytes()`` rebuild. Before
  timing, its output is checked to be byte for byte the wire path's, so both do the same job (scapy
  is spared the trim and advance bookkeeping, which only flatters it).

What the relay's time covers: every field of the output computed, its bytes packed (``encode`` returns
them), the output's header objects, the successor state and the result built. The option values of the
usual layouts (NOP NOP TS, NOP NOP SACK) are kept as bytes and parsed when first read (``segment.UNPARSED``),
which neither the relay nor the wire path does; the row "relay, output options read" measures the relay
with that read added, for what a caller that inspects the output pays.

Every call starts from the splice's initial state, so every segment moves its direction's advance and
the relay builds a successor state each time — the cost a splice pays for every in-order segment of
its first 2 GiB (``RelayResult.state``); past that, or for a retransmission, it is cheaper.

Method: the process's CPU time (other load on the machine skews it less than wall time); one untimed
warm-up pass per path; then ``--repeat`` rounds, each timing every path in turn (interleaved, so a
burst of load hits all three alike) for at least ``--seconds`` and whole passes over the packets; the
median round of each path is reported. Also the per-stage cost — decode, relay, encode — in µs per
segment, and the targets beside the measured rates and ratios: relay ≥150,000 seg/s, wire ≥50× scapy.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from scapy.layers.inet import IP, TCP
from splice_fixtures import seg, state
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.mapping import map_ack, map_sack_block, map_seq, map_tsecr, map_tsval, relay_window
from splicecheck.reference.relay import SpliceState, relay
from splicecheck.reference.segment import ACK, PSH, NoOperation, Sack, Segment, Timestamps, addr_text

RELAY_TARGET = 150_000  # segments/s
WIRE_RATIO_TARGET = 50.0  # × scapy


def workload(n: int, seed: int) -> tuple[SpliceState, list[bytes]]:
    rng = random.Random(seed)
    st = state(c_irs=0xFFFF_0000, c_iss=0xFFFF_F000, s_irs=12345, s_iss=0xFFFF_FF00, ts=True, sack=True,
               c_lastrecv_ts=1000, c_lastsent_ts=2000, s_lastrecv_ts=3000, s_lastsent_ts=4000)
    packets = []
    seq = 0xFFFF_0000
    for i in range(n):
        # payload and options (at most 32 bytes) within the out peer's MSS of 1460, as a sender keeps
        # them: a larger segment with DF set is answered with an ICMP error and dropped (MSS-ICMP)
        size = rng.randint(100, 1460 - 32)
        opts: list[Any] = [NoOperation(), NoOperation(), Timestamps(1000 + i, 2000 + i)]
        if i % 2:
            opts += [NoOperation(), NoOperation(), Sack(((0xFFFF_F100, 0xFFFF_F200), (0xFFFF_F300, 0xFFFF_F400)))]
        payload = rng.randbytes(size)
        packets.append(encode(seg(st, seq=seq, ack=0xFFFF_F000 + i, flags=ACK | PSH, payload=payload, options=opts,
                                  window=rng.randint(100, 65535), sealed=False)))
        seq = (seq + size) & 0xFFFF_FFFF
    return st, packets


def scapy_relay(st: SpliceState) -> Callable[[bytes], bytes]:
    """The client → server rewrite done with scapy: the same fields, the same arithmetic."""
    c, s = st.client, st.server
    src, dst = addr_text(s.local.addr), addr_text(s.peer.addr)

    def rewrite(b: bytes) -> bytes:
        p = IP(b)
        t = p[TCP]
        p.src, p.dst = src, dst
        p.ttl -= 1
        t.sport, t.dport = s.local.port, s.peer.port
        t.seq = map_seq(t.seq, c.splice_irs, s.splice_iss)
        t.ack = map_ack(t.ack, c.splice_iss, s.splice_irs)
        t.window = relay_window(t.window, c.recv_shift, s.send_shift)
        options = []
        for name, value in t.options:
            if name == "Timestamp":
                value = (map_tsval(value[0], c.lastrecv_ts, s.lastsent_ts), map_tsecr(value[1], c.lastsent_ts,
                                                                                    s.lastrecv_ts))
            elif name == "SAck":
                edges = []
                for left, right in zip(value[0::2], value[1::2], strict=True):
                    keep, l2, r2 = map_sack_block(left, right, c.splice_iss, s.splice_irs, st.s2c_advance)
                    assert keep, "the workload's SACK blocks are all above the base"
                    edges += (l2, r2)
                value = tuple(edges)
            options.append((name, value))
        t.options = options
        del p.chksum, t.chksum
        return bytes(p)

    return rewrite


def one_round(fn: Callable[[Any], object], items: Sequence[Any], min_time: float) -> float:
    """Segments/s of ``fn`` over whole passes of ``items`` until ``min_time`` seconds of CPU time."""
    done, t0 = 0, time.process_time()
    while True:
        for x in items:
            fn(x)
        done += len(items)
        elapsed = time.process_time() - t0
        if elapsed >= min_time:
            return done / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=0.5, help="minimum CPU time per path per round")
    ap.add_argument("--repeat", type=int, default=5, help="rounds; the median is reported")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    st, packets = workload(args.segments, args.seed)
    decoded = [decode(p) for p in packets]

    def model(s: Segment) -> object:
        return relay(st, s, 0.0)

    def model_read(s: Segment) -> object:
        out = relay(st, s, 0.0).segments[0]
        return out.ip, out.tcp.options

    def wire(b: bytes) -> bytes:
        return b"".join([encode(out) for out in relay(st, decode(b), 0.0).segments])

    scapy_path = scapy_relay(st)
    for p in packets[:200]:  # same job: scapy's bytes are the model's, checksums included
        if scapy_path(p) != wire(p):
            raise SystemExit("scapy and the model disagree on a packet: the comparison would not be fair")
    relayed = [out for s in decoded for out in relay(st, s, 0.0).segments]

    paths: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
        "relay": (model, decoded), "wire": (wire, packets), "scapy": (scapy_path, packets),
        "decode": (decode, packets), "encode": (encode, relayed), "read": (model_read, decoded),
    }
    for fn, items in paths.values():  # warm-up, untimed
        for x in items:
            fn(x)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.repeat):
        for name, (fn, items) in paths.items():
            rates[name].append(one_round(fn, items, args.seconds))
    r = {name: statistics.median(v) for name, v in rates.items()}
    us = {name: 1e6 / v for name, v in r.items()}

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"median of {args.repeat} rounds, CPU time, {len(packets)} segments, same packets for every path")
    print(f"{'path':<34}{'seg/s':>12}{'µs/seg':>10}{'× scapy':>10}   target")
    print(f"{'relay (decoded segments)':<34}{r['relay']:>12,.0f}{us['relay']:>10.2f}{r['relay'] / r['scapy']:>9.1f}x"
          f"   >= {RELAY_TARGET:,} seg/s: {verdict(r['relay'] >= RELAY_TARGET)}")
    print(f"{'decode+relay+encode (wire)':<34}{r['wire']:>12,.0f}{us['wire']:>10.2f}{r['wire'] / r['scapy']:>9.1f}x"
          f"   >= {WIRE_RATIO_TARGET:.0f}x scapy: {verdict(r['wire'] / r['scapy'] >= WIRE_RATIO_TARGET)}")
    print(f"{'scapy dissect+rewrite+rebuild':<34}{r['scapy']:>12,.0f}{us['scapy']:>10.2f}{1:>9.1f}x")
    print(f"{'relay, output options read':<34}{r['read']:>12,.0f}{us['read']:>10.2f}{r['read'] / r['scapy']:>9.1f}x"
          "   (no target: the usual option layouts are parsed when first read)")
    print(f"stages, µs/segment: decode {us['decode']:.2f} + relay {us['relay']:.2f} + encode {us['encode']:.2f}"
          f" = {us['decode'] + us['relay'] + us['encode']:.2f} (wire measured: {us['wire']:.2f});"
          f" wire at {WIRE_RATIO_TARGET:.0f}x scapy needs <= {us['scapy'] / WIRE_RATIO_TARGET:.2f}")
    print("(encode returns the bytes the relay attached to its output: building them is in relay's time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
