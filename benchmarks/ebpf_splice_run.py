"""The ``ebpf-splice`` adapter's run time per case group, and whether repeated runs agree on every verdict.

    .venv/bin/python benchmarks/ebpf_splice_run.py                       # 3 runs of --seed 1, one at a time
    .venv/bin/python benchmarks/ebpf_splice_run.py --runs 2 --parallel 2 # two at once (the machine loaded)
    .venv/bin/python benchmarks/ebpf_splice_run.py --against OLD/results.jsonl

Runs ``splicecheck run --adapter ebpf-splice --seed S -q --expect expectations/ebpf-splice.toml`` ``--runs``
times, ``--parallel`` at a time, and prints each case group's seconds (the case durations the results
record; a group is a requirement's cases, or one property or state-machine case) per run side by side,
with an earlier run's results (``--against``, e.g. one of the commit before a change) and the ratio of
its time to the runs' median. Then the verdicts: every case's verdict in every run compared with the
first run's (and with ``--against``'s): the adapter's timing must not change what it reports. Needs root
and what the adapter needs (else every case is SKIPPED, which the table shows).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent


def group(case: str) -> str:
    return case if case.startswith(("state/", "prop/")) else case.split("/")[0]


def read(path: Path) -> tuple[dict[str, float], dict[str, str], float]:
    """Seconds per group, verdict per case, and the run's own duration, from a results.jsonl."""
    secs: dict[str, float] = defaultdict(float)
    verdicts: dict[str, str] = {}
    total = float("nan")
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("type") == "case":
            secs[group(row["case"])] += float(row["duration"])
            verdicts[row["case"]] = row["verdict"]
        elif row.get("type") == "footer":
            total = float(row["duration"])
    return dict(secs), verdicts, total


def one(seed: int, out: Path) -> tuple[float, int]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "splicecheck", "run", "--adapter", "ebpf-splice", "--seed", str(seed),
                           "-q", "--out", str(out), "--expect", "expectations/ebpf-splice.toml"],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
    return time.monotonic() - t0, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=1, help="runs at once (default 1)")
    ap.add_argument("--against", type=Path, help="an earlier run's results.jsonl to compare with")
    args = ap.parse_args()
    if args.runs < 1 or args.parallel < 1:
        print("ebpf_splice_run: --runs and --parallel must be positive", file=sys.stderr)
        return 2
    if args.against is not None and not args.against.is_file():
        print(f"ebpf_splice_run: --against {args.against}: no such file", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"run{i}" for i in range(args.runs)]
        print(f"{args.runs} run(s) of ebpf-splice --seed {args.seed}, {args.parallel} at a time ...", file=sys.stderr)
        with ThreadPoolExecutor(args.parallel) as pool:
            walls = list(pool.map(lambda out: one(args.seed, out), outs))
        runs = [read(out / "results.jsonl") for out in outs]
    against = read(args.against) if args.against is not None else None
    cols = ([against] if against else []) + runs
    names = sorted({g for secs, _, _ in cols for g in secs}, key=lambda g: -max(c[0].get(g, 0.0) for c in cols))
    rows = []
    for name in names:
        mine = [secs.get(name, 0.0) for secs, _, _ in runs]
        row = [name, *(f"{c[0].get(name, 0.0):.2f}" for c in cols)]
        if against:
            med = statistics.median(mine)
            row.append(f"{against[0].get(name, 0.0) / med:.1f}x" if med > 0 else "-")
        rows.append(row)
    total = ["the run (its footer)", *(f"{c[2]:.1f}" for c in cols)]
    wall = ["the run (wall clock)", *([""] if against else []), *(f"{w:.1f}" for w, _ in walls)]
    if against:
        med = statistics.median(c[2] for c in runs)
        total.append(f"{against[2] / med:.1f}x")
        wall.append("")
    rows += [total, wall, ["exit status", *([""] if against else []), *(str(rc) for _, rc in walls)]]
    headers = ["seconds", *(["against"] if against else []), *(f"run {i + 1}" for i in range(len(runs))),
               *(["against/median"] if against else [])]
    print(tabulate(rows, headers=headers, disable_numparse=True))
    first = runs[0][1]
    refs = [("run 1", first)] + ([("against", against[1])] if against else [])
    differ = 0
    for label, ref in refs:
        for i, (_, verdicts, _) in enumerate(runs):
            diff = sorted(c for c in set(ref) | set(verdicts) if ref.get(c) != verdicts.get(c))
            differ += len(diff)
            for case in diff[:10]:
                print(f"verdict differs: {case}: {label} {ref.get(case)}, run {i + 1} {verdicts.get(case)}")
    print(f"\nverdicts: {len(first)} cases, {'identical in every run' if not differ else f'{differ} differences'}"
          + (" and against the earlier run" if against and not differ else ""))
    return 0 if not differ else 1


if __name__ == "__main__":
    sys.exit(main())
