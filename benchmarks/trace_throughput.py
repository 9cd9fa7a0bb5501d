"""``splicecheck trace`` throughput: segments judged per second on a synthetic capture pair, and peak memory.

    .venv/bin/python benchmarks/trace_throughput.py                  # 1,000,000 segments
    .venv/bin/python benchmarks/trace_throughput.py --segments 200000 --keep /tmp/trace-bench

The capture pair is made by the reference adapter (``tests/trace_synth``: 100 connections, 20 open at
once, data of 1 to 1400 bytes, pure ACKs, timestamps, SACK blocks, now and then URG, FINs), in a
child process so that its memory does not count; ``--keep DIR`` keeps it for the next run. Then the
trace checker judges it in this process, single-threaded, and the script prints:

* segments judged per second, on CPU time (this process's, ``time.process_time``: what one core
  does, whatever else the machine runs) and on wall-clock time;
* how the segments were judged: by the fast path's precomputed rewrite, by the model's bytes, or
  field by field (``diff_step``), and how many verdicts of each kind the connections got (all PASS:
  the captures are the reference's);
* peak resident memory (``getrusage`` maxrss) next to the memory after the imports, and the capture's
  size on disk: memory follows the open connections, not the capture;
* side by side, the same checker with the fast path off (``--no-fast-path``) on the first connections
  (``--compare N`` segments), and the ratio.

The target is 100,000 segments per second on one core.
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine  # imported before the memory baseline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # trace_synth: a test generator

TARGET = 100_000


def generate(out: Path, segments: int, connections: int, concurrent: int) -> None:
    # imported here, in the generating child process only: the generator's modules must not count in the
    # memory the checker is measured with
    from splicecheck.conformance.contract import PeerPlan
    from trace_synth import ConnPlan, default_scenario, synth_pair

    per = max(1, segments // connections)
    plans = [ConnPlan(default_scenario(client=PeerPlan(isn=(0xFFFF_0000 + 7919 * i) & 0xFFFF_FFFF, wscale=7,
                                                       sack_permitted=True, tsval=i * 1000)),
                      client_port=30000 + i, segments=per) for i in range(connections)]
    t0 = time.perf_counter()
    r = synth_pair(out / "client.pcap", out / "server.pcap", plans, seed=2024, concurrent=concurrent,
                   gap_us=20)
    print(f"generated {r.inputs:,} segments ({r.outputs:,} relayed) in {time.perf_counter() - t0:.0f} s with the "
          "reference adapter", flush=True)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check(client: Path, server: Path, **kw: object) -> tuple[float, float, object]:
    engine = TraceEngine(client, server, TraceConfig(**kw))  # type: ignore[arg-type]
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    engine.run()
    return time.process_time() - cpu0, time.perf_counter() - wall0, engine


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--segments", type=int, default=1_000_000)
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--concurrent", type=int, default=20)
    p.add_argument("--keep", type=Path, default=None, help="where to keep (and find) the capture pair")
    p.add_argument("--compare", type=int, default=100_000,
                   help="segments of the fast-path-off comparison (0: none)")
    p.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    tmp = None
    if args.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="trace-bench-")
        where = Path(tmp.name)
    else:
        where = args.keep
        where.mkdir(parents=True, exist_ok=True)
    if args.generate_only:
        generate(where, args.segments, args.connections, args.concurrent)
        return 0
    client, server = where / "client.pcap", where / "server.pcap"
    if not client.exists() or not server.exists():
        subprocess.run([sys.executable, __file__, "--generate-only", "--keep", str(where), "--segments",
                        str(args.segments), "--connections", str(args.connections), "--concurrent",
                        str(args.concurrent)], check=True)
    base = rss_mib()
    size = (client.stat().st_size + server.stat().st_size) / 2**20
    cpu, wall, engine = check(client, server)
    sh = engine.shared  # type: ignore[attr-defined]
    judged = sh.fast + sh.model + sh.full
    verdicts = Counter(r.verdict.value for r in engine.results)  # type: ignore[attr-defined]
    print(f"capture pair: {size:,.0f} MiB, {engine.segments:,} TCP packets, "  # type: ignore[attr-defined]
          f"{engine.stats.pairs} connections")  # type: ignore[attr-defined]
    print(f"judged {judged:,} segments: {sh.fast:,} by the fast path, {sh.model:,} by the model's bytes, "
          f"{sh.full:,} field by field; disagreements of the fast path with the model: {sh.disagreements}")
    print(f"verdicts: {dict(verdicts)}")
    print(f"throughput: {judged / cpu:,.0f} segments/s on CPU time ({cpu:.1f} s), {judged / wall:,.0f}/s on wall "
          f"time ({wall:.1f} s); target {TARGET:,}/s on one core: "
          f"{'met' if judged / cpu >= TARGET else 'NOT met'}")
    print(f"peak memory: {rss_mib():,.0f} MiB resident (after imports: {base:,.0f} MiB) for a {size:,.0f} MiB "
          "capture pair")
    if args.compare:
        small = where / "compare"
        small.mkdir(exist_ok=True)
        sc, ss = small / "client.pcap", small / "server.pcap"
        if not sc.exists() or not ss.exists():
            subprocess.run([sys.executable, __file__, "--generate-only", "--keep", str(small), "--segments",
                            str(args.compare), "--connections", str(max(1, args.connections // 10)),
                            "--concurrent", str(max(1, args.concurrent // 10))], check=True, stdout=subprocess.DEVNULL)
        fast_cpu, _w, fast_eng = check(sc, ss)
        slow_cpu, _w, slow_eng = check(sc, ss, fast=False)
        f_n = fast_eng.shared.fast + fast_eng.shared.model + fast_eng.shared.full  # type: ignore[attr-defined]
        s_n = slow_eng.shared.fast + slow_eng.shared.model + slow_eng.shared.full  # type: ignore[attr-defined]
        same = [(r.case, r.verdict, r.checked, r.reqs) for r in fast_eng.results] == [  # type: ignore[attr-defined]
            (r.case, r.verdict, r.checked, r.reqs) for r in slow_eng.results]  # type: ignore[attr-defined]
        ratio = (f_n / fast_cpu) / (s_n / slow_cpu)
        print(f"side by side on a {f_n:,}-segment pair: fast path on {f_n / fast_cpu:,.0f}/s, off (the model relays "
              f"every segment) {s_n / slow_cpu:,.0f}/s: {ratio:.1f}x; same results (verdicts, checks, "
              f"requirements): {same}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
