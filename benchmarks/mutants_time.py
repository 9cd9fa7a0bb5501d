"""Time of the full mutant run against the default reference run, side by side in one run (issue 4).

- mutants: what ``splicecheck mutants`` does by default — every mutant of the zoo against the whole
  catalogue, each stopping at its first killer, the reference control run on every killing case,
  one process per mutant at a time (``--jobs``, default: CPUs). Target ≤120 s.
- reference: what ``splicecheck run --adapter reference`` does by default — every case of the
  catalogue against the model, in this process, no reports rendered. Target ≤60 s.

Prints both times, their targets and the mutant score; exit 1 if a target is missed or a mutant
survives.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from splicecheck.adapters.mutants import MUTANTS
from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance.catalog import all_cases
from splicecheck.conformance.runner import exit_code, run
from tabulate import tabulate

from splicecheck.cli_mutants import hunt_all, score, table

MUTANTS_TARGET = 120.0
REFERENCE_TARGET = 60.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--budget", type=int, default=None, help="Hypothesis examples per property case")
    p.add_argument("--table", action="store_true", help="also print the kill table")
    args = p.parse_args()
    cases = all_cases()
    if not cases:
        print("the case catalogue is empty: nothing to time", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    outcomes = hunt_all(list(MUTANTS), cases, budget=args.budget, jobs=args.jobs)
    t_mutants = time.perf_counter() - t0

    t0 = time.perf_counter()
    results = run(ReferenceAdapter(), cases, adapter_spec="reference", argv=[])
    t_reference = time.perf_counter() - t0

    if args.table:
        print(table(outcomes))
        print()
    rows = [["mutants", f"{len(MUTANTS)} mutants x {len(cases)} cases, {args.jobs} jobs", f"{t_mutants:.1f} s",
             f"<= {MUTANTS_TARGET:.0f} s", "ok" if t_mutants <= MUTANTS_TARGET else "MISSED"],
            ["reference", f"{len(cases)} cases", f"{t_reference:.1f} s", f"<= {REFERENCE_TARGET:.0f} s",
             "ok" if t_reference <= REFERENCE_TARGET else "MISSED"]]
    print(tabulate(rows, headers=["run", "work", "time", "target", ""]))
    print(f"\nratio mutants/reference: {t_mutants / t_reference:.2f}x; {score(outcomes)}; "
          f"reference run exit code {exit_code(results)}")
    ok = (t_mutants <= MUTANTS_TARGET and t_reference <= REFERENCE_TARGET and all(o.killed for o in outcomes)
          and exit_code(results) == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
