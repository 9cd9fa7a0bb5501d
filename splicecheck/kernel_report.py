"""The main job (``make report``): this machine's Linux kernel splices judged against the reference model.

The property and stateful cases are seeded (``--seed``, default 1) so that the committed reports can
be reproduced exactly; every case's repro command carries the seed.

1. The Z3 proofs of the model (``spec/proofs``): the oracle must be right before it judges anyone.
2. The whole conformance suite against each adapter — ``reference`` (the baseline: it must pass
   everything), ``synproxy`` (netfilter SYNPROXY, a splice with an empty OK message) and
   ``seqadj-ftp`` (the FTP NAT helper's sequence adjustment) — with results streamed to
   ``OUT/<adapter>/results.jsonl`` and rendered beside it (index.json, report.md, report.html,
   junit.xml, pcapng evidence per failing case).
3. The IUT × requirement matrix of those runs (``OUT/matrix/``).

On a machine that lacks what the live lab needs (root, nft, network namespaces) the live adapters'
cases are SKIPPED with the reason, never passed. Exit status 0 when the report was produced — the
kernel's departures from the specification are findings, shown as FAIL / NON-STRICT / INFO, not a
failure of the job — and 1 when a proof failed, the reference model failed its own suite, or any
case ended in ERROR (the harness, not the IUT).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from tabulate import tabulate

from . import __version__
from .conformance.catalog import all_cases
from .conformance.contract import load_adapter
from .conformance.results import Verdict

ADAPTERS = ("reference", "synproxy", "seqadj-ftp")


def _proofs() -> bool:
    from .spec import proofs

    results = proofs.run_proofs()
    print("Z3 proofs of the reference model:")
    print(proofs.render_table(results), "\n")
    return all(r.ok for r in results)


def run_adapter(spec: str, out: Path, seed: int | None = 1) -> tuple[list[Verdict], Path]:
    """The suite against one adapter; returns the case verdicts and the report folder."""
    from .cli_run import run_and_render

    folder = out / spec
    results, _ = run_and_render(load_adapter(spec), spec, all_cases(), folder, seed=seed, argv=["report-kernel"])
    return [r.verdict for r in results], folder


def main(args: argparse.Namespace) -> int:
    out = Path(args.out)
    adapters = tuple(args.adapter) if getattr(args, "adapter", None) else ADAPTERS
    print(f"splicecheck {__version__} — report on Linux {platform.release()} ({time.strftime('%Y-%m-%d')})\n")
    ok = _proofs()
    rows = []
    folders = []
    for spec in adapters:
        print(f"\n=== {spec} " + "=" * (72 - len(spec)))
        verdicts, folder = run_adapter(spec, out, args.seed)
        folders.append(folder)
        counts = {v: verdicts.count(v) for v in Verdict}
        rows.append((spec, *(counts[v] for v in (Verdict.PASS, Verdict.FAIL, Verdict.NON_STRICT, Verdict.INFO,
                                                   Verdict.UNSUPPORTED, Verdict.SKIPPED, Verdict.ERROR)),
                     str(folder / "report.html")))
        ok &= counts[Verdict.ERROR] == 0
        if spec == "reference":
            ok &= counts[Verdict.FAIL] == 0 and counts[Verdict.NON_STRICT] == 0
    from .reports.matrix import write_matrix

    written = write_matrix(folders, out / "matrix")
    print("\nSummary (cases):")
    print(tabulate(rows, headers=["adapter", "PASS", "FAIL", "NON-STRICT", "INFO", "UNSUPPORTED", "SKIPPED", "ERROR",
                                  "report"]))
    print(f"\nmatrix: {', '.join(str(p) for p in written.values())}")
    if not ok:
        print("\nthe job itself failed: a proof failed, the reference model failed its own suite, or a case "
              "ended in ERROR (see above)")
    return 0 if ok else 1
