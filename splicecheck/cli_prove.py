"""``splicecheck prove``: run the Z3 proofs of the model's wraparound invariants.

Prints the table (property, requirement IDs, premises (sat), result, time), then every counterexample —
failures and the expected refutation of RFC 1141's update — with the values of each variable in hex and
decimal. Exit status 1 when any property fails (a counterexample, an unknown, vacuous premises, a
boundary case the premises exclude, or an expected refutation that turned into a proof).

The options are defined in ``splicecheck.cli``; :func:`cmd_prove` handles the parsed ones.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """``splicecheck prove ARGV...`` (for tests and scripts): the same parse and handler as the command."""
    from .cli import main as cli_main  # a real cycle: splicecheck.cli imports this module's handler

    return cli_main(["prove", *(sys.argv[1:] if argv is None else argv)])


def cmd_prove(args: argparse.Namespace) -> int:
    from .spec import proofs  # z3: only the commands that prove load it (0.1 s of every start-up otherwise)

    if args.list:
        for prop in proofs.PROPERTIES:
            print(f"{prop.id}  [{' '.join(prop.requirements)}]  expected: {prop.expect.value}")
            print("    " + prop.doc.replace("\n", "\n    ") + "\n")
        return 0
    try:
        timeout_ms = args.timeout_ms or proofs.DEFAULT_TIMEOUT_MS
        results = proofs.run_proofs(timeout_ms=timeout_ms, regressions_dir=args.regressions or None,
                                    only=args.only)
    except KeyError as e:
        print(f"splicecheck prove: {e.args[0]}", file=sys.stderr)
        return 2
    print(proofs.render_table(results))
    details = proofs.render_details(results)
    if details and not args.quiet:
        print("\n" + details)
    if args.vectors:
        path = proofs.write_boundary_vectors(args.vectors, timeout_ms=timeout_ms, only=args.only)
        print(f"\nboundary vectors written to {path}")
    return 0 if all(r.ok for r in results) else 1
