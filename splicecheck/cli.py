"""The ``splicecheck`` command.

Subcommands:
  spec            the requirement catalogue as a table
  prove           the Z3 proofs of the model's wraparound invariants (exit 1 on any failure)
  run             the conformance suite against an adapter (exit 1 on FAIL or ERROR, 2 on usage errors)
  mutants         the suite against every mutant of the zoo: which case kills which bug
  report          re-render a run's reports from its results.jsonl; --matrix across runs
  trace           judge two captured legs of any splice box offline
  lab clean       remove what a killed lab run left behind (namespaces, veths named sc-*)
  report-kernel   the main job: a report on this machine's Linux kernel splices
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence

from tabulate import tabulate

from . import __version__


def cmd_spec(args: argparse.Namespace) -> int:
    from .spec.requirements import REQUIREMENTS

    rows = [(r.id, r.level.value, r.group, r.source, r.text) for r in REQUIREMENTS]
    print(tabulate(rows, headers=["ID", "level", "group", "source", "requirement"], tablefmt=args.format,
                   maxcolwidths=[None, None, None, 28, 70]))
    return 0


def cmd_prove(args: argparse.Namespace) -> int:
    from . import cli_prove

    return cli_prove.main(args.rest)


def cmd_lab(args: argparse.Namespace) -> int:
    from .adapters.lab import topology as lab

    if args.action == "clean":
        removed = lab.clean_stale()
        print(f"removed {len(removed)} leftover lab object(s)" + (": " + ", ".join(removed) if removed else ""))
        return 0
    problems = lab.preflight()
    for p in problems:
        print(f"missing: {p}")
    print("lab ready" if not problems else "lab not available")
    return 1 if problems else 0


def cmd_report_kernel(args: argparse.Namespace) -> int:
    from .kernel_report import main as kernel_main

    return kernel_main(args)


#: Subcommands with their own option parser: name → module of this package with ``main(argv) -> int``.
OWN_PARSERS = {"prove": "cli_prove", "run": "cli_run", "mutants": "cli_mutants", "report": "cli_report",
               "trace": "cli_trace"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="splicecheck", description="TCP Splice specification and conformance suite")
    p.add_argument("--version", action="version", version=f"splicecheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("spec", help="print the requirement catalogue")
    s.add_argument("--format", default="simple", help="tabulate table format (simple, github, ...)")
    s.set_defaults(func=cmd_spec)
    s = sub.add_parser("prove", help="run the Z3 proofs of the model (exit 1 on any failure)", add_help=False)
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_prove)
    for name, text in (("run", "run the conformance suite against an adapter (see: splicecheck run -h)"),
                       ("mutants", "measure the suite's power on the mutant zoo (see: splicecheck mutants -h)"),
                       ("report", "re-render reports from a results.jsonl, or a matrix of runs"),
                       ("trace", "check captured traffic of a splice box offline (two pcaps)")):
        s = sub.add_parser(name, help=text, add_help=False)
        s.add_argument("rest", nargs=argparse.REMAINDER)
    s = sub.add_parser("lab", help="the Linux network-namespace lab")
    s.add_argument("action", choices=["clean", "check"])
    s.set_defaults(func=cmd_lab)
    s = sub.add_parser("report-kernel", help=f"report on this machine's Linux ({platform.release()}) splices")
    s.add_argument("--out", default="reports", help="where to write the reports (one folder per adapter)")
    s.add_argument("--adapter", action="append", default=None, metavar="NAME",
                   help="only this adapter (repeatable; default: reference, synproxy, seqadj-ftp)")
    s.add_argument("--seed", type=int, default=1, help="seed of the property and stateful cases (default 1)")
    s.set_defaults(func=cmd_report_kernel)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in OWN_PARSERS:  # argparse REMAINDER would drop their leading options
        import importlib

        module = importlib.import_module(f"{__package__}.{OWN_PARSERS[argv[0]]}")
        try:
            rc_sub: int = module.main(argv[1:])
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        return rc_sub
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
