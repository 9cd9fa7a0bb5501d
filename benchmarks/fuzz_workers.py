"""Campaign speed with 1 and with N worker processes on this machine (issue 16): examples/s side by side.

Each configuration runs ``splicecheck fuzz``'s worker loop (:func:`splicecheck.conformance.campaign.work`)
in N fresh processes for ``--time`` seconds each, all against one shared directory example database
(as a campaign's workers share theirs), and counts the examples (stateful programs count as examples,
as on the campaign's progress line) the workers report. Each worker times itself from its first
search, so process start-up and imports are not counted. The speed-up is the N-worker rate divided by
the 1-worker rate; it cannot exceed the CPUs free for the run, so the CPU count and the load average
before each configuration are printed beside it.

Run from the repository: ``.venv/bin/python benchmarks/fuzz_workers.py [--adapter reference] [--time 30]
[--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from splicecheck.conformance.campaign import Progress, open_database, work
from splicecheck.conformance.contract import load_adapter


def one_worker(spec: str, worker: int, seconds: float, db_path: str, seed: int) -> tuple[int, float, float]:
    """Examples one worker ran in ``seconds``, the seconds it actually ran and the CPU seconds it got."""
    adapter = load_adapter(spec)
    adapter.spec = spec  # type: ignore[attr-defined]
    examples = 0

    def report(p: Progress) -> None:
        nonlocal examples
        examples += p.examples

    started, cpu = time.monotonic(), time.process_time()
    try:
        found = work(adapter, worker, started + seconds, open_database(db_path), report, seed + worker)
    finally:
        adapter.close()
    if found is not None:
        raise SystemExit(f"{spec} failed {found.case}: pick an adapter that passes (the campaign would stop)")
    return examples, time.monotonic() - started, time.process_time() - cpu


def measure(spec: str, workers: int, seconds: float, seed: int) -> tuple[float, float]:
    """Examples per second of ``workers`` processes together, and the CPUs they got on average."""
    with tempfile.TemporaryDirectory(prefix="fuzz-workers-") as db, ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(one_worker, spec, w, seconds, db, seed) for w in range(workers)]
        results = [f.result() for f in futures]
    return sum(n / t for n, t, _ in results), sum(c / t for _, t, c in results)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adapter", default="reference")
    p.add_argument("--time", type=float, default=30.0, help="seconds each configuration runs")
    p.add_argument("--workers", type=int, default=2, help="the N compared with 1")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    print(f"adapter {args.adapter}; {args.time:g} s per configuration; {os.cpu_count()} CPUs on this machine")
    rates: dict[int, float] = {}
    cpus: dict[int, float] = {}
    for n in (1, args.workers):
        load = os.getloadavg()[0]
        rates[n], cpus[n] = measure(args.adapter, n, args.time, args.seed)
        print(f"{n} worker{'s' if n > 1 else ' '}: {rates[n]:8.1f} examples/s on {cpus[n]:.2f} CPUs "
              f"({rates[n] / cpus[n]:.1f} per CPU-second; load average before: {load:.2f})", flush=True)
    if not rates[1]:
        raise SystemExit("no example ran (every target left the rotation): nothing to compare")
    print(f"speed-up 1 → {args.workers} workers: {rates[args.workers] / rates[1]:.2f}× "
          f"(the workers got {cpus[args.workers] / cpus[1]:.2f}× the CPU; "
          f"ideal {min(args.workers, os.cpu_count() or 1)}× with every CPU free)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
