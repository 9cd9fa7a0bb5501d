"""``splicecheck run``: the conformance suite against one adapter, with streamed results and reports.

    splicecheck run --adapter reference
    splicecheck run --adapter mutant:plain-lt --case TRIM-REST --seed 7
    splicecheck run --adapter synproxy --out /tmp/synproxy

Results stream to ``OUT/results.jsonl`` (one line per case, flushed as it completes, so an
interrupted run keeps what finished); at the end the reports are rendered from that file into OUT
(default ``out/<adapter>/``, git-ignored). Exit code: 0 with no FAIL and no ERROR, 1 otherwise, 2 on usage
errors (unknown adapter or case, bad options, an unusable ``--expect`` file).

``--expect FILE`` (``conformance.expectations``) compares the run's findings with the IUT's known ones and
prints expected, unexpected and unexpectedly passing after the report; the exit code is then 0 exactly
when nothing unexpected happened (``--strict`` has no effect then: the file says what is known).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .cli_options import OUT
from .conformance import expectations as expect_mod
from .conformance import interrupts
from .conformance.case import Case
from .conformance.catalog import UnknownCase, coverage, select
from .conformance.contract import Adapter, AdapterNotFound, load_adapter
from .conformance.results import CaseResult
from .conformance.runner import AdapterFault, JsonlSink, adapter_call, exit_code, fault_reason, run
from .reports.load import load_run
from .reports.render import judge_run, render_all, safe_name
from .reports.terminal import TerminalReporter


def default_out(adapter_spec: str) -> Path:
    return OUT / safe_name(adapter_spec)


def cmd_run(args: argparse.Namespace) -> int:
    try:
        cases = select(args.case, args.req, args.kind)
    except UnknownCase as exc:
        print(f"splicecheck run: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.list:
        for c in cases:
            print(f"{c.id:<44} {c.kind:<9} {' '.join(c.reqs)}")
        uncovered = [r for r, ids in coverage().items() if not ids]
        print(f"\n{len(cases)} cases; requirements without a case: {', '.join(uncovered) or 'none'}")
        return 0
    known: list[expect_mod.Expectation] | None = None
    if getattr(args, "expect", None) is not None:
        try:
            known = expect_mod.load(args.expect)
        except expect_mod.ExpectationsError as exc:
            print(f"splicecheck run: --expect: {exc}", file=sys.stderr)
            return 2
    try:
        adapter = load_adapter(args.adapter)
    except AdapterNotFound as exc:
        print(f"splicecheck run: {exc}", file=sys.stderr)
        return 2
    except (Exception, SystemExit) as exc:  # the module's import or the adapter's __init__ failed
        if interrupts.interruption(exc) is not None:
            raise
        print(f"splicecheck run: adapter {args.adapter!r} could not be loaded: {fault_reason(exc)}", file=sys.stderr)
        return 2
    out: Path = args.out or default_out(args.adapter)
    try:
        results, written, outcome = run_and_render(
            adapter, args.adapter, cases, out, seed=args.seed, argv=args.argv, evidence=args.evidence,
            quiet=args.quiet, render=not args.no_render, known=None if known is None else (args.expect.name, known))
    except (KeyboardInterrupt, SystemExit) as exc:
        if interrupts.interruption(exc) is None:
            raise
        results_path = out / "results.jsonl"
        print(f"\ninterrupted ({interrupts.interruption(exc)}): the finished cases are in {results_path}; "
              f"re-render with: splicecheck report {results_path}", file=sys.stderr)
        return interrupts.exit_status(exc)
    if written:
        print(f"reports: {', '.join(str(p) for p in written.values())}")
    if outcome is not None:
        for line in outcome.lines():
            print(line)
        return 0 if outcome.ok else 1
    return exit_code(results, strict=args.strict)


def run_and_render(adapter: Adapter, spec: str, cases: Sequence[Case], out: Path, *, seed: int | None,
                   argv: list[str], evidence: str = "failing", quiet: bool = False,
                   render: bool = True, known: tuple[str, list[expect_mod.Expectation]] | None = None,
                   ) -> tuple[list[CaseResult], dict[str, Path], expect_mod.Outcome | None]:
    """Run ``cases`` against ``adapter`` (closed at the end), streaming to ``out/results.jsonl`` and
    the terminal; then print the terminal report and render the reports into ``out`` from that file.
    Returns the results, the report files written and, with ``known`` (an expectations file's name and
    entries), the run's outcome against them."""
    results_path = out / "results.jsonl"
    sink = JsonlSink(results_path, evidence)
    reporter = TerminalReporter(sys.stdout, progress="off" if quiet else "auto")
    fault: AdapterFault | None = None
    try:
        results = run(adapter, cases, adapter_spec=spec, sink=sink, reporter=reporter, seed=seed, argv=argv)
    except AdapterFault as exc:  # info() or missing() failed: render what exists, then say so (exit 2)
        fault, results = exc, []
    finally:
        sink.close()
        try:
            adapter_call("close()", adapter.close)
        except AdapterFault as exc:
            fault = fault or exc
    if fault is not None and (not results_path.exists() or results_path.stat().st_size == 0):
        raise fault  # info() failed: there is no run to render
    finished = load_run(results_path)
    reporter.finish(finished)
    outcome = None if known is None else judge_run(finished, known[1])
    named = None if known is None or outcome is None else (known[0], outcome)
    written = render_all(finished, out, outcome=named) if render else {}
    if fault is not None:
        if written:
            print(f"reports: {', '.join(str(p) for p in written.values())}")
        raise fault
    return results, written, outcome
