"""The main job (``make report``): this machine's Linux kernel splices judged against the reference model.

The property and stateful cases are seeded (``--seed``, default 1) so that the committed reports can
be reproduced exactly; every case's repro command carries the seed.

1. The Z3 proofs of the model (``spec/proofs``): the oracle must be right before it judges anyone.
2. The whole conformance suite against each adapter — ``reference`` (the baseline: it must pass
   everything), ``synproxy`` (netfilter SYNPROXY, a splice with an empty OK message) and
   ``seqadj-ftp`` (the FTP NAT helper's sequence adjustment) and ``ebpf-splice`` (this project's eBPF
   datapath of the paper's design, adapters/ebpf_splice) — with results streamed to
   ``<adapter folder>/results.jsonl`` and rendered beside it (index.json, report.md, report.html,
   junit.xml, pcapng evidence per failing case).
3. The IUT × requirement matrix of those runs (the matrix folder).

Where: by default under the git-ignored ``out/kernel/`` (``out/kernel/<adapter>/``, ``out/kernel/matrix/``);
with ``--out DIR`` under ``DIR/<adapter>/`` and ``DIR/matrix/``; with ``--publish`` into the committed
``reports/published/``: the model's runs (``reference``, ``mutant:*``) under ``model/<adapter>/``, the
kernel's under ``linux-<version>/<adapter>/`` with their matrix in ``linux-<version>/matrix/``, where
``<version>`` is the kernel release up to its first ``-`` (``6.18.44`` of ``6.18.44-fc-v657``).

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
from .cli_options import OUT, PUBLISHED, UsageError
from .cli_run import run_and_render
from .conformance import expectations as expect_mod
from .conformance.case import Case
from .conformance.catalog import UnknownCase, select
from .conformance.contract import load_adapter
from .conformance.findings import findings
from .conformance.results import Verdict
from .reports.matrix import write_matrix
from .reports.render import safe_name

ADAPTERS = ("reference", "synproxy", "seqadj-ftp", "ebpf-splice")
#: Each live adapter's known findings, classified (``expectations/<adapter>.toml``, README "Findings and
#: expected findings"): the reports show each finding's class and whether it was expected. The job's exit
#: status does not depend on them (a kernel's departures are findings, not a failure of the job).
EXPECTATIONS = Path("expectations")
#: Adapters that test the model, not this machine: published apart from the kernel's runs.
MODEL_ADAPTERS = ("reference", "mutant:")
COLUMNS = (Verdict.PASS, Verdict.FAIL, Verdict.NON_STRICT, Verdict.INFO, Verdict.UNSUPPORTED, Verdict.SKIPPED,
           Verdict.ERROR)


def kernel_version(release: str | None = None) -> str:
    """``linux-<version>``: this kernel's release up to its first ``-`` (the build suffix varies)."""
    return "linux-" + (release or platform.release()).split("-")[0]


def folders(adapters: tuple[str, ...], out: Path | None, publish: bool) -> tuple[dict[str, Path], Path]:
    """Each adapter's report folder and the matrix folder (module docstring: where)."""
    if not publish:
        root = out or OUT / "kernel"
        return {a: root / safe_name(a) for a in adapters}, root / "matrix"
    kernel = PUBLISHED / kernel_version()
    return ({a: (PUBLISHED / "model" if a.startswith(MODEL_ADAPTERS) else kernel) / safe_name(a) for a in adapters},
            kernel / "matrix")


def _proofs() -> bool:
    from .spec import proofs  # z3: loaded by the job, not by every start-up of the command

    results = proofs.run_proofs()
    print("Z3 proofs of the reference model:")
    print(proofs.render_table(results), "\n")
    return all(r.ok for r in results)


def known_findings(spec: str) -> tuple[str, list[expect_mod.Expectation]] | None:
    """The committed expectations of adapter ``spec`` (run from the repository), if it has a file."""
    path = EXPECTATIONS / f"{safe_name(spec)}.toml"
    if not path.is_file():
        return None
    try:
        return path.name, expect_mod.load(path)
    except expect_mod.ExpectationsError as exc:
        raise UsageError(f"{path}: {exc}") from None


def run_adapter(spec: str, cases: list[Case], folder: Path, args: argparse.Namespace) -> list[Verdict]:
    """The selected cases against one adapter, reported into ``folder`` (with its committed expectations,
    where it has some); returns the case verdicts."""
    known = known_findings(spec)
    results, _ = run_and_render(load_adapter(spec), spec, cases, folder, seed=args.seed, argv=["report-kernel"],
                                evidence=args.evidence, quiet=args.quiet, render=not args.no_render, known=known)
    if known is not None:
        outcome = expect_mod.judge(findings(results), results, known[1])
        print(f"({known[0]})", *outcome.lines(), sep="\n")
    return [r.verdict for r in results]


def cmd_report_kernel(args: argparse.Namespace) -> int:
    if args.publish and args.out is not None:
        raise UsageError("--publish writes into reports/published/; it does not take --out")
    adapters = tuple(args.adapter) if args.adapter else ADAPTERS
    try:
        cases = select(args.case, args.req, args.kind)
    except UnknownCase as exc:
        raise UsageError(exc.args[0]) from None
    where, matrix = folders(adapters, args.out, args.publish)
    print(f"splicecheck {__version__} — report on Linux {platform.release()} ({time.strftime('%Y-%m-%d')})\n")
    ok = _proofs()
    rows = []
    for spec in adapters:
        print(f"\n=== {spec} " + "=" * (72 - len(spec)))
        verdicts = run_adapter(spec, cases, where[spec], args)
        counts = {v: verdicts.count(v) for v in Verdict}
        rows.append((spec, *(counts[v] for v in COLUMNS), str(where[spec] / "report.html")))
        ok &= counts[Verdict.ERROR] == 0
        if spec == "reference":
            ok &= counts[Verdict.FAIL] == 0 and counts[Verdict.NON_STRICT] == 0
    print("\nSummary (cases):")
    print(tabulate(rows, headers=["adapter", *COLUMNS, "report"]))
    if not args.no_render:
        written = write_matrix(list(where.values()), matrix)
        print(f"\nmatrix: {', '.join(str(p) for p in written.values())}")
    if not ok:
        print("\nthe job itself failed: a proof failed, the reference model failed its own suite, or a case "
              "ended in ERROR (see above)")
    return 0 if ok else 1
