"""The ``splicecheck`` command.

Subcommands:
  spec            the requirement catalogue as a table
  prove           the Z3 proofs of the model's wraparound invariants (exit 1 on any failure)
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
    from .adapters import lab

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
    s = sub.add_parser("lab", help="the Linux network-namespace lab")
    s.add_argument("action", choices=["clean", "check"])
    s.set_defaults(func=cmd_lab)
    s = sub.add_parser("report-kernel", help=f"report on this machine's Linux ({platform.release()}) splices")
    s.add_argument("--out", default="reports/kernel", help="where to write the report")
    s.set_defaults(func=cmd_report_kernel)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["prove"]:  # its own option parser (cli_prove); argparse REMAINDER drops leading options
        from . import cli_prove

        return cli_prove.main(argv[1:])
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
