"""Signal trials: SIGINT/SIGTERM/SIGHUP at random moments of a live ``splicecheck run --adapter synproxy``.

    python benchmarks/signal_trials.py                # 20 trials; needs root and the lab (splicecheck lab check)
    python benchmarks/signal_trials.py --trials 30 --max-delay 8 --seed 1

Each trial starts a run (in its own output folder under a temporary directory), sends one signal after a
random delay, and checks what issue 14 promises: the process ends within a second with exit status
128 + signal (130/143/129), the results file ends with a footer saying it was interrupted by that
signal, and no namespace named after the run's pid is left in /run/netns (nor a lock file). A run that
finished before the signal (exit 0 or 1, a plain footer) counts as "finished first", not as a failure.
Prints one line per trial and a summary; exit status 1 if any trial broke a promise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def leftovers(pid: int) -> list[str]:
    names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    locks = os.listdir("/run/splicecheck") if os.path.isdir("/run/splicecheck") else []
    return [n for n in names + locks if f"-{pid}-" in f"-{n}"]


def footer(path: Path) -> dict[str, object] | None:
    try:
        last = path.read_text().splitlines()[-1]
        obj = json.loads(last)
    except (OSError, IndexError, ValueError):
        return None
    return obj if isinstance(obj, dict) and obj.get("type") == "footer" else None


def trial(n: int, signum: int, delay: float, work: Path, argv: list[str]) -> tuple[str, bool]:
    out = work / f"t{n}"
    cmd = [sys.executable, "-m", "splicecheck", "run", "--adapter", "synproxy", "--out", str(out), "-q",
           "--no-render", *argv]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    sent = time.monotonic()
    finished_first = child.poll() is not None
    if not finished_first:
        child.send_signal(signum)
    try:
        _, err = child.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return f"trial {n}: {signal.Signals(signum).name} after {delay:.2f}s: did not stop within 10 s", False
    took = time.monotonic() - sent
    left = leftovers(child.pid)
    foot = footer(out / "results.jsonl")
    name = signal.Signals(signum).name
    problems = []
    if finished_first or (child.returncode in (0, 1) and foot is not None and "interrupted" not in foot):
        verdict = "finished first"
        if child.returncode not in (0, 1):
            problems.append(f"exit {child.returncode}")
    else:
        verdict = f"exit {child.returncode} in {took:.2f}s"
        if child.returncode != 128 + signum:
            problems.append(f"exit {child.returncode}, wanted {128 + signum}")
        if took > 1.0:
            problems.append(f"took {took:.2f}s to stop")
        if foot is None and (out / "results.jsonl").exists():
            problems.append("results file without a footer")
        elif foot is not None and foot.get("interrupted") != name:
            problems.append(f"footer says interrupted={foot.get('interrupted')!r}")
        if "Traceback" in err:
            problems.append("traceback on stderr:\n" + err)
    if left:
        problems.append(f"left behind: {', '.join(left)}")
    ok = not problems
    return (f"trial {n:3}: {name:7} after {delay:5.2f}s: {verdict}; "
            f"{'ok' if ok else 'BROKEN: ' + '; '.join(problems)}"), ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--min-delay", type=float, default=0.2)
    p.add_argument("--max-delay", type=float, default=6.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--only", action="append", default=[], metavar="SIGNAME", help="only this signal (repeatable)")
    p.add_argument("run_args", nargs="*", help="extra arguments of splicecheck run (after --)")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    ok_count = 0
    with tempfile.TemporaryDirectory(prefix="sc-signal-trials-") as tmp:
        for n in range(1, args.trials + 1):
            signum = rng.choice([s for s in SIGNALS if not args.only or s.name in args.only])
            delay = rng.uniform(args.min_delay, args.max_delay)
            line, ok = trial(n, signum, delay, Path(tmp), args.run_args)
            ok_count += ok
            print(line, flush=True)
    print(f"{ok_count}/{args.trials} trials kept every promise")
    return 0 if ok_count == args.trials else 1


if __name__ == "__main__":
    raise SystemExit(main())
