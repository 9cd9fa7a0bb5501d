"""``splicecheck report``: render a results file again, or the matrix of several runs.

    splicecheck report RESULTS.jsonl [--out DIR] [--formats json,md,html,junit,pcapng] [--expect FILE]
    splicecheck report --matrix DIR [DIR ...] [--out DIR]
    splicecheck report --finding ID RESULTS.jsonl [--out DIR]

The third prints one finding as plain text for a kernel maintainer (``reports.upstream``): the IUT and
kernel, the ruleset and sysctls, the smallest case's packets as tcpdump-style lines with the wrong fields
marked, expected against actual with each requirement's paper or RFC section; with ``--out`` it writes
``finding-ID.txt`` there instead.

The first re-renders any run, a partial one too (its reports say so), into ``--out`` (default
the results file's folder) and prints the files it wrote. The second writes matrix.md and matrix.html
(default folder ``out/matrix/``) from report folders (with an index.json) or results files.

``--expect FILE`` judges the run's findings against an expectations file (``conformance.expectations``),
as ``splicecheck run --expect`` does: the reports record the outcome (index.json ``expectations``, each
finding's class) and the command prints it.

Exit status: 0 when the reports were written (whatever the verdicts: the run's own exit status
said that; with ``--expect``: and nothing unexpected happened), 1 when an input cannot be read (the
message names the file and the problem) or, with ``--expect``, something unexpected happened, 2 on a
usage error or an unusable expectations file. The options are defined in ``splicecheck.cli``;
:func:`cmd_report` handles the parsed ones.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .cli_options import OUT, UsageError
from .conformance import expectations as expect_mod
from .reference.errors import SpliceCheckError
from .reports import upstream
from .reports.load import load_run
from .reports.matrix import write_matrix
from .reports.render import judge_run, render_all
from .reports.summary import count

PROG = "splicecheck report"


def main(argv: Sequence[str] | None = None) -> int:
    """``splicecheck report ARGV...`` (for tests and scripts): the same parse and handler as the command."""
    from .cli import main as cli_main  # a real cycle: splicecheck.cli imports this module's handler

    return cli_main(["report", *(sys.argv[1:] if argv is None else argv)])


def cmd_report(args: argparse.Namespace) -> int:
    if args.matrix and args.results:
        raise UsageError("give either RESULTS.jsonl or --matrix, not both")
    if not args.matrix and not args.results:
        raise UsageError("give a results file, or --matrix with report folders")
    if args.matrix and getattr(args, "finding", None):
        raise UsageError("--finding applies to a single run, not to --matrix")
    if args.matrix and getattr(args, "expect", None) is not None:
        raise UsageError("--expect applies to a single run, not to --matrix")
    if args.matrix and args.formats:
        print(f"{PROG}: error: --formats applies to a single run, not to --matrix (always md and html)",
              file=sys.stderr)
        return 2
    try:
        if args.matrix:
            return _matrix(args.matrix, args.out)
        if getattr(args, "finding", None):
            return _finding(args.results, args.finding, args.out)
        known = None
        if getattr(args, "expect", None) is not None:
            try:
                known = (args.expect.name, expect_mod.load(args.expect))
            except expect_mod.ExpectationsError as exc:
                print(f"{PROG}: error: --expect: {exc}", file=sys.stderr)
                return 2
        return _single(args.results, args.out, args.formats, known)
    except ValueError as e:  # an unknown format name
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except SpliceCheckError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{PROG}: error: cannot write the reports: {e}", file=sys.stderr)
        return 1


def _single(results: str, out: Path | None, formats: list[str] | None,
            known: tuple[str, list[expect_mod.Expectation]] | None = None) -> int:
    run = load_run(results)
    out_dir = out or Path(results).parent  # next to the results, where the run wrote them
    outcome = None if known is None else (known[0], judge_run(run, known[1]))
    written = render_all(run, out_dir, formats, outcome=outcome)
    for w in run.warnings:
        print(f"warning: {w}", file=sys.stderr)
    state = "partial run (interrupted)" if run.partial else "complete run"
    print(f"{run.header.iut} {run.header.iut_version}: {state}, {count(run.results).line()}")
    for name, path in written.items():
        print(f"  {name:6} {path}")
    if outcome is not None:
        for line in outcome[1].lines():
            print(line)
        return 0 if outcome[1].ok else 1
    return 0


def _finding(results: str, fid: str, out: Path | None) -> int:
    run = load_run(results)
    try:
        text = upstream.render(run, fid)
    except upstream.UnknownFinding as exc:
        print(f"{PROG}: error: {exc.args[0]}", file=sys.stderr)
        return 1
    if out is None:
        sys.stdout.write(text)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"finding-{fid}.txt"
    path.write_text(text, encoding="utf-8")
    print(f"  text   {path}")
    return 0


def _matrix(paths: list[str], out: Path | None) -> int:
    written = write_matrix(paths, out or OUT / "matrix")
    print(f"matrix of {len(paths)} input(s):")
    for name, path in written.items():
        print(f"  {name:6} {path}")
    return 0
