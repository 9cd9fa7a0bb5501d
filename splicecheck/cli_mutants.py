"""``splicecheck mutants``: the suite against every mutant of the zoo — which case kills which bug.

    splicecheck mutants                      # every mutant, every case, first killer of each
    splicecheck mutants --only plain-lt --all
    splicecheck mutants --req TRIM-SOUND --budget 200

For each mutant of :data:`~splicecheck.adapters.mutants.MUTANTS` the selected cases run in catalogue
order until one *kills* it: the case's verdict is FAIL, NON-STRICT, INFO (the mutant broke a MUST, a
SHOULD or a MAY the case targets) or ERROR (the mutant crashed the run). ``--all`` runs every case and
reports every killer. A kill counts only if the reference model passes the same case (the *control*,
run once per killing case): a case the model itself fails says nothing about a mutant.

For property and stateful cases the table gives the number of Hypothesis examples run up to and
including the first failing one (the case result's ``first_failure``); a named case needs one.
Mutants run in parallel processes (``--jobs``). Exit code: 0 when every mutant is killed, 1 when one
survives, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from tabulate import tabulate

from .adapters.mutants import MUTANTS, MutantAdapter
from .adapters.reference import ReferenceAdapter
from .conformance.case import Case
from .conformance.catalog import UnknownCase, all_cases, select
from .conformance.results import CaseKind, CaseResult, Verdict
from .conformance.runner import run_case

#: Verdicts that show the suite told the mutant from the model.
KILLING = frozenset({Verdict.FAIL, Verdict.NON_STRICT, Verdict.INFO, Verdict.ERROR})
#: Case kinds that run many Hypothesis examples.
EXAMPLE_KINDS = frozenset({CaseKind.PROPERTY, CaseKind.STATEFUL})


@dataclass(frozen=True, slots=True)
class Kill:
    """One case that killed a mutant."""

    case: str
    reqs: tuple[str, ...]  # the targeted requirements whose checks failed (the case's primary on ERROR)
    verdict: str
    examples: int | None  # Hypothesis examples up to the first failure; 1 for a named case; None: unknown
    seconds: float  # time from the mutant's first case to this kill


@dataclass(frozen=True, slots=True)
class Outcome:
    """One mutant against the selected cases."""

    mutant: str
    kills: tuple[Kill, ...]
    cases_run: int
    seconds: float
    ignored: tuple[str, ...] = field(default=())  # cases that "killed" it but fail on the model too

    @property
    def killed(self) -> bool:
        return bool(self.kills)


# --------------------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------------------


@contextmanager
def examples_budget(budget: int | None) -> Iterator[None]:
    """Examples per property case while the block runs: ``SPLICECHECK_EXAMPLES``, which each property
    case reads as it starts (:class:`~splicecheck.conformance.properties.Budget`); ``None`` keeps the
    cases' default."""
    if budget is None:
        yield
        return
    # hypothesis (0.15 s): loaded by the property cases anyway, not by every start-up of the command
    from .conformance.properties import ENV_EXAMPLES

    saved = os.environ.get(ENV_EXAMPLES)
    os.environ[ENV_EXAMPLES] = str(budget)
    try:
        yield
    finally:
        if saved is None:
            del os.environ[ENV_EXAMPLES]
        else:
            os.environ[ENV_EXAMPLES] = saved


# --------------------------------------------------------------------------------------------------
# Hunting
# --------------------------------------------------------------------------------------------------


def killer_reqs(result: CaseResult) -> tuple[str, ...]:
    reqs = sorted({d.req for d in result.targeted if not d.ok})
    return tuple(reqs) if reqs else tuple(result.reqs[:1])


class Control:
    """Whether the reference model passes a case (with the run's seed); each case runs at most once."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self.adapter = ReferenceAdapter()
        self.verdicts: dict[str, Verdict] = {}

    def passes(self, case: Case) -> bool:
        if case.id not in self.verdicts:
            self.verdicts[case.id] = run_case(self.adapter, case, "reference", self.seed).verdict
        return self.verdicts[case.id] not in KILLING


#: A worker process's controls, by seed: shared by the mutants the process runs one after the other.
_WORKER_CONTROLS: dict[int | None, Control] = {}


def hunt(name: str, cases: Sequence[Case], *, stop_first: bool = True, seed: int | None = 0,
         control: Control | None = None) -> Outcome:
    """Run ``cases`` against mutant ``name`` in order; stop at the first kill unless ``stop_first`` is off."""
    adapter = MutantAdapter(name)
    spec = adapter.name
    kills: list[Kill] = []
    ignored: list[str] = []
    t0 = time.perf_counter()
    run = 0
    for case in cases:
        result = run_case(adapter, case, spec, seed)
        run += 1
        if result.verdict not in KILLING:
            continue
        if control is not None and not control.passes(case):
            ignored.append(case.id)
            continue
        examples = result.first_failure if case.kind in EXAMPLE_KINDS else 1
        kills.append(Kill(case.id, killer_reqs(result), result.verdict.value, examples, time.perf_counter() - t0))
        if stop_first:
            break
    adapter.close()
    return Outcome(name, tuple(kills), run, time.perf_counter() - t0, tuple(ignored))


def _hunt_in_worker(name: str, case_ids: tuple[str, ...], stop_first: bool, seed: int | None, control: bool,
                    budget: int | None) -> Outcome:
    """One mutant in a worker process: cases are found again by ID (they hold closures, not picklable)."""
    by_id = {c.id: c for c in all_cases()}
    cases = [by_id[i] for i in case_ids]
    ctl = _WORKER_CONTROLS.setdefault(seed, Control(seed)) if control else None
    with examples_budget(budget):
        return hunt(name, cases, stop_first=stop_first, seed=seed, control=ctl)


def hunt_all(names: Sequence[str], cases: Sequence[Case], *, stop_first: bool = True, seed: int | None = 0,
             control: bool = True, budget: int | None = None, jobs: int = 1) -> list[Outcome]:
    """Every mutant of ``names`` against ``cases``; ``jobs`` > 1 runs one process per mutant at a time.

    With ``jobs`` 1 everything runs in this process, and ``cases`` may be any cases; worker processes
    find theirs again by ID in the catalogue."""
    if jobs <= 1 or len(names) <= 1:
        ctl = Control(seed) if control else None
        with examples_budget(budget):
            return [hunt(n, cases, stop_first=stop_first, seed=seed, control=ctl) for n in names]
    ids = tuple(c.id for c in cases)
    # spawn, not fork: the parent may have threads (pytest-xdist's, say), and a forked child would
    # inherit their locks; a worker imports the catalogue afresh in well under a second.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(names)), mp_context=context, initializer=_quiet_worker)
    try:
        futures = [pool.submit(_hunt_in_worker, n, ids, stop_first, seed, control, budget) for n in names]
        return [f.result() for f in futures]
    except BaseException:  # a signal (or a worker's failure): stop the workers now, not after their mutants
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _quiet_worker() -> None:
    """In a worker: a terminal's Ctrl-C reaches the whole process group, and the parent stops the workers
    itself; without this each worker would print its own KeyboardInterrupt traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def _kill_text(k: Kill) -> str:
    return f"{k.case} ({', '.join(k.reqs)})"


def table(outcomes: Sequence[Outcome], fmt: str = "simple") -> str:
    """mutant | killed by (case and requirement) | verdict | examples | time — one row per mutant, one
    line per killer in a cell (``--all``); the time is the mutant's time until that kill."""
    rows = []
    for o in outcomes:
        if o.killed:
            rows.append([o.mutant, "\n".join(_kill_text(k) for k in o.kills), "\n".join(k.verdict for k in o.kills),
                         "\n".join("?" if k.examples is None else str(k.examples) for k in o.kills),
                         "\n".join(f"{k.seconds:.2f} s" for k in o.kills)])
        else:
            rows.append([o.mutant, f"SURVIVED ({o.cases_run} cases)", "", "", f"{o.seconds:.2f} s"])
    return tabulate(rows, headers=["mutant", "killed by (case, requirement)", "verdict", "examples", "time"],
                    tablefmt=fmt)


def score(outcomes: Sequence[Outcome]) -> str:
    k, n = sum(o.killed for o in outcomes), len(outcomes)
    return f"killed {k}/{n} ({100 * k / n if n else 0:.0f}%)"


def main(argv: Sequence[str] | None = None) -> int:
    """``splicecheck mutants ARGV...`` (for tests and scripts): the same parse and handler as the command."""
    from .cli import main as cli_main  # a real cycle: splicecheck.cli imports this module's handler

    return cli_main(["mutants", *(sys.argv[1:] if argv is None else argv)])


def cmd_mutants(args: argparse.Namespace) -> int:
    if args.list:
        print(tabulate([(m.name, ", ".join(m.violates), m.summary) for m in MUTANTS.values()],
                       headers=["mutant", "violates", "bug"], tablefmt=args.format, maxcolwidths=[None, 24, 80]))
        return 0
    unknown = [n for n in args.only if n not in MUTANTS]
    if unknown:
        print(f"splicecheck mutants: unknown mutant(s) {', '.join(unknown)}; known: {', '.join(MUTANTS)}",
              file=sys.stderr)
        return 2
    if args.budget is not None and args.budget < 1:
        print("splicecheck mutants: --budget must be at least 1", file=sys.stderr)
        return 2
    try:
        cases = select(args.case, args.req, args.kind)
    except UnknownCase as exc:
        print(f"splicecheck mutants: {exc.args[0]}", file=sys.stderr)
        return 2
    if not cases:
        print("splicecheck mutants: no cases selected (is the catalogue empty?)", file=sys.stderr)
        return 2
    names = args.only or list(MUTANTS)
    t0 = time.perf_counter()
    outcomes = hunt_all(names, cases, stop_first=not args.all, seed=args.seed, control=not args.no_control,
                        budget=args.budget, jobs=args.jobs)
    elapsed = time.perf_counter() - t0
    print(table(outcomes, args.format))
    print()
    print(f"{score(outcomes)} with {len(cases)} cases in {elapsed:.1f} s")
    for o in outcomes:
        if o.ignored:
            print(f"note: {o.mutant}: ignored {', '.join(o.ignored)} (the reference model fails them too)")
    survivors = [o.mutant for o in outcomes if not o.killed]
    if survivors:
        print(f"survived: {', '.join(survivors)}")
    return 1 if survivors else 0
