"""``splicecheck prove``: run the Z3 proofs of the model's wraparound invariants.

Prints the table (property, requirement IDs, premises (sat), result, time), then every counterexample —
failures and the expected refutation of RFC 1141's update — with the values of each variable in hex and
decimal. Exit status 1 when any property fails (a counterexample, an unknown, vacuous premises, a
boundary case the premises exclude, or an expected refutation that turned into a proof).

``splicecheck.cli`` may dispatch here: ``return cli_prove.main(argv)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser(prog: str = "splicecheck prove") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Z3 proofs of the TCP Splice model's invariants")
    p.add_argument("--timeout-ms", type=int, default=20_000, help="Z3 timeout per query (default 20000)")
    p.add_argument("--regressions", "--regressions-dir", dest="regressions", default="out/regressions",
                   help="folder for counterexample regression vectors (default out/regressions; '' for none)")
    p.add_argument("--vectors", default=None, metavar="PATH",
                   help="also write Z3-generated boundary vectors for every property as JSON to PATH")
    p.add_argument("--only", action="append", default=None, metavar="PROOF-ID",
                   help="run only this property (repeatable)")
    p.add_argument("--list", action="store_true", help="list the properties with their statements and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="table only, no counterexample details")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .spec import proofs

    if args.list:
        for prop in proofs.PROPERTIES:
            print(f"{prop.id}  [{' '.join(prop.requirements)}]  expected: {prop.expect.value}")
            print("    " + prop.doc.replace("\n", "\n    ") + "\n")
        return 0
    try:
        results = proofs.run_proofs(timeout_ms=args.timeout_ms, regressions_dir=args.regressions or None,
                                    only=args.only)
    except KeyError as e:
        print(f"splicecheck prove: {e.args[0]}", file=sys.stderr)
        return 2
    print(proofs.render_table(results))
    details = proofs.render_details(results)
    if details and not args.quiet:
        print("\n" + details)
    if args.vectors:
        path = proofs.write_boundary_vectors(args.vectors, timeout_ms=args.timeout_ms, only=args.only)
        print(f"\nboundary vectors written to {path}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
