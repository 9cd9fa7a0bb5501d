"""``splicecheck report``: render a results file again, or the matrix of several runs.

    splicecheck report RESULTS.jsonl [--out DIR] [--formats json,md,html,junit,pcapng]
    splicecheck report --matrix DIR [DIR ...] [--out DIR]

The first re-renders any run, a partial one too (its reports say so), into ``--out`` (default
the results file's folder) and prints the files it wrote. The second writes matrix.md and matrix.html
(default folder ``reports/matrix/``) from report folders (with an index.json) or results files.

Exit status: 0 when the reports were written (whatever the verdicts: the run's own exit status
said that), 1 when an input cannot be read (the message names the file and the problem), 2 on a
usage error. ``splicecheck.cli`` dispatches here: ``return cli_report.main(argv)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .reference.errors import SpliceCheckError
from .reports.render import FORMATS

PROG = "splicecheck report"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Render a splicecheck results file into reports, or a matrix of several runs.",
        epilog="exit status: 0 reports written, 1 unreadable input, 2 usage error")
    p.add_argument("results", nargs="?", metavar="RESULTS.jsonl", help="the results file of a run (partial or not)")
    p.add_argument("--matrix", nargs="+", metavar="DIR",
                   help="report folders (index.json) or results files: write the IUT x requirement matrix")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: the results file's folder, or reports/matrix/)")
    p.add_argument("--formats", nargs="+", metavar="FORMAT",
                   help=f"formats to write, space- or comma-separated (default all: {','.join(FORMATS)})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2): a status, not an exception, for our caller
        return e.code if isinstance(e.code, int) else 2
    if args.matrix and args.results:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: give either RESULTS.jsonl or --matrix, not both", file=sys.stderr)
        return 2
    if not args.matrix and not args.results:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: give a results file, or --matrix with report folders", file=sys.stderr)
        return 2
    if args.matrix and args.formats:
        print(f"{PROG}: error: --formats applies to a single run, not to --matrix (always md and html)",
              file=sys.stderr)
        return 2
    try:
        if args.matrix:
            return _matrix(args.matrix, args.out)
        return _single(args.results, args.out, args.formats)
    except ValueError as e:  # an unknown format name
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except SpliceCheckError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{PROG}: error: cannot write the reports: {e}", file=sys.stderr)
        return 1


def _single(results: str, out: str | None, formats: list[str] | None) -> int:
    from .reports.load import load_run
    from .reports.render import render_all
    from .reports.summary import count

    run = load_run(results)
    out_dir = Path(out) if out else Path(results).parent  # next to the results, where the run wrote them
    written = render_all(run, out_dir, formats)
    for w in run.warnings:
        print(f"warning: {w}", file=sys.stderr)
    state = "partial run (interrupted)" if run.partial else "complete run"
    print(f"{run.header.iut} {run.header.iut_version}: {state}, {count(run.results).line()}")
    for name, path in written.items():
        print(f"  {name:6} {path}")
    return 0


def _matrix(paths: list[str], out: str | None) -> int:
    from .reports.matrix import write_matrix

    written = write_matrix(paths, Path(out) if out else Path("reports") / "matrix")
    print(f"matrix of {len(paths)} input(s):")
    for name, path in written.items():
        print(f"  {name:6} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
