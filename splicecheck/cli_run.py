"""``splicecheck run``: the conformance suite against one adapter, with streamed results and reports.

    splicecheck run --adapter reference
    splicecheck run --adapter mutant:plain-lt --case TRIM-REST --seed 7
    splicecheck run --adapter synproxy --out reports/synproxy

Results stream to ``OUT/results.jsonl`` (one line per case, flushed as it completes, so an
interrupted run keeps what finished); at the end the reports are rendered from that file into OUT
(default ``reports/<adapter>/``). Exit code: 0 with no FAIL and no ERROR, 1 otherwise, 2 on usage
errors (unknown adapter or case, bad options).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from .conformance.case import Case
from .conformance.catalog import UnknownCase, coverage, select
from .conformance.contract import Adapter, AdapterNotFound, load_adapter
from .conformance.results import CaseResult
from .conformance.runner import JsonlSink, exit_code, run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="splicecheck run", description="run the conformance suite against an adapter")
    p.add_argument("--adapter", required=True, metavar="NAME",
                   help="reference, mutant:NAME, synproxy[:OPTS], seqadj-ftp, or package.module:Class[:ARG]")
    p.add_argument("--case", action="append", default=[], metavar="ID",
                   help="run this case, or every case under this ID prefix (repeatable)")
    p.add_argument("--req", action="append", default=[], metavar="REQ-ID",
                   help="run the cases targeting this requirement (repeatable)")
    p.add_argument("--kind", action="append", default=[], choices=["named", "vector", "property", "stateful"],
                   help="only cases of this kind (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="seed of the property and stateful cases")
    p.add_argument("--out", type=Path, default=None, help="report directory (default reports/<adapter>)")
    p.add_argument("--no-render", action="store_true", help="write results.jsonl only")
    p.add_argument("--evidence", choices=["failing", "all"], default="failing",
                   help="whose packets results.jsonl keeps: cases that did not pass (default), or all")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-case progress")
    return p


def default_out(adapter_spec: str) -> Path:
    return Path("reports") / re.sub(r"[^A-Za-z0-9_.-]+", "-", adapter_spec).strip("-")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
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
    try:
        adapter = load_adapter(args.adapter)
    except AdapterNotFound as exc:
        print(f"splicecheck run: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out or default_out(args.adapter)
    try:
        results, written = run_and_render(adapter, args.adapter, cases, out, seed=args.seed,
                                          argv=["run", *(argv if argv is not None else sys.argv[2:])],
                                          evidence=args.evidence, quiet=args.quiet, render=not args.no_render)
    except KeyboardInterrupt:
        results_path = out / "results.jsonl"
        print(f"\ninterrupted: the finished cases are in {results_path}; "
              f"re-render with: splicecheck report {results_path}", file=sys.stderr)
        return 130
    if written:
        print(f"reports: {', '.join(str(p) for p in written.values())}")
    return exit_code(results)


def run_and_render(adapter: Adapter, spec: str, cases: Sequence[Case], out: Path, *, seed: int | None,
                   argv: list[str], evidence: str = "failing", quiet: bool = False,
                   render: bool = True) -> tuple[list[CaseResult], dict[str, Path]]:
    """Run ``cases`` against ``adapter`` (closed at the end), streaming to ``out/results.jsonl`` and
    the terminal; then print the terminal report and render the reports into ``out`` from that file.
    Returns the results and the report files written."""
    from .reports.load import load_run
    from .reports.terminal import TerminalReporter

    results_path = out / "results.jsonl"
    sink = JsonlSink(results_path, evidence)
    reporter = TerminalReporter(sys.stdout, progress="off" if quiet else "auto")
    try:
        results = run(adapter, cases, adapter_spec=spec, sink=sink, reporter=reporter, seed=seed, argv=argv)
    finally:
        sink.close()
        adapter.close()
    finished = load_run(results_path)
    reporter.finish(finished)
    if not render:
        return results, {}
    from .reports.render import render_all

    return results, render_all(finished, out)
