"""Time the Z3 proof suite (issue 3, item 7): total and per-property, target ≤ 30 s on two cores.

Runs :func:`splicecheck.spec.proofs.run_proofs` ``--repeat`` times and prints, per property, the best
and mean wall time and the result, slowest first, then the total of the best run against the target.
Each property's time covers everything :func:`check` does: building the formulas from the reference
model, the vacuity check, the boundary coverage checks and one Z3 query per conjunct. Separately it
times :func:`boundary_vectors` (Z3 as a test generator), which ``splicecheck prove --vectors`` adds.

Exit status 1 when a property fails or the best total exceeds ``--target`` seconds. Usage::

    .venv/bin/python benchmarks/proofs_time.py --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from splicecheck.spec import proofs
from tabulate import tabulate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs of the whole suite (default 1)")
    ap.add_argument("--timeout-ms", type=int, default=proofs.DEFAULT_TIMEOUT_MS)
    ap.add_argument("--target", type=float, default=30.0, help="seconds allowed for the suite (default 30)")
    args = ap.parse_args(argv)

    times: dict[str, list[float]] = {p.id: [] for p in proofs.PROPERTIES}
    status: dict[str, str] = {}
    totals: list[float] = []
    ok = True
    for _ in range(args.repeat):
        start = time.perf_counter()
        results = proofs.run_proofs(timeout_ms=args.timeout_ms)
        totals.append(time.perf_counter() - start)
        for r in results:
            times[r.property_id].append(r.seconds)
            status[r.property_id] = r.status.value if r.ok else f"FAIL: {r.status.value}"
            ok = ok and r.ok

    rows = sorted(((pid, min(ts), statistics.fmean(ts), status[pid]) for pid, ts in times.items()),
                  key=lambda row: -row[1])
    print(tabulate([(pid, f"{best:.2f}", f"{mean:.2f}", st) for pid, best, mean, st in rows],
                   headers=("property", "best s", "mean s", "result"), tablefmt="simple"))
    best = min(totals)
    print(f"\ntotal: best {best:.2f} s, mean {statistics.fmean(totals):.2f} s over {args.repeat} run(s); "
          f"target {args.target:.0f} s: {'met' if best <= args.target else 'MISSED'}")

    start = time.perf_counter()
    vectors = proofs.boundary_vectors(timeout_ms=args.timeout_ms)
    n = sum(len(v) for v in vectors.values())
    print(f"boundary vectors: {n} for {len(vectors)} properties in {time.perf_counter() - start:.2f} s")
    return 0 if ok and best <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
