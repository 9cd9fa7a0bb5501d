"""The main job's time (``make report`` once the packages are there), per part, one part at a time vs side by side.

    .venv/bin/python benchmarks/main_job.py                 # --jobs 1 and the default, one after the other
    .venv/bin/python benchmarks/main_job.py --jobs 1 2 3 4

Runs ``splicecheck report-kernel --out <tmp> -q --jobs N`` for each N, reads each adapter's time from the
job's summary and the proofs' from its progress lines, and prints them side by side with the job's wall
clock and its ratio to the first N. Needs what the main job needs (root and the lab for the live adapters;
without them their parts are SKIPPED and quick, which the table shows).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
TARGET = 60.0  # seconds: "about a minute" (issue 16)


def one(jobs: int) -> tuple[float, dict[str, float], int]:
    """The job's wall-clock seconds, each part's seconds, its exit status."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "splicecheck", "report-kernel", "--out", tmp, "-q",
                               "--jobs", str(jobs)], cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - t0
    parts = {m[1]: float(m[2]) for m in re.finditer(r"^\s+\[\s*\d+ s\] (.+) ended \((\d+) s\)$", proc.stdout, re.M)}
    if proc.returncode not in (0, 1):
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
    return wall, parts, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 3], help="values of --jobs to compare (default 1 3)")
    args = ap.parse_args()
    runs = []
    for n in args.jobs:
        print(f"report-kernel --jobs {n} ...", file=sys.stderr, flush=True)
        runs.append((n, *one(n)))
    names = list(dict.fromkeys(name for _, _, parts, _ in runs for name in parts))
    rows = [[name, *(f"{parts.get(name, float('nan')):.0f}" for _, _, parts, _ in runs)] for name in names]
    base = runs[0][1]
    rows.append(["the job (wall clock)", *(f"{wall:.0f}" for _, wall, _, _ in runs)])
    rows.append([f"speed-up vs --jobs {runs[0][0]}", *(f"{base / wall:.2f}x" for _, wall, _, _ in runs)])
    rows.append(["exit status", *(str(rc) for _, _, _, rc in runs)])
    print(tabulate(rows, headers=["seconds", *(f"--jobs {n}" for n, *_ in runs)], disable_numparse=True))
    best = min(wall for _, wall, _, _ in runs)
    print(f"\nfastest job: {best:.0f} s (target about {TARGET:.0f} s: {'met' if best <= TARGET * 1.1 else 'not met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
