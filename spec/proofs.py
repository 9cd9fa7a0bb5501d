"""Z3 proofs of the splice model's wraparound invariants — the public face of ``spec/proofs_*.py``.

The properties are proved on the reference model's own functions (docs/ARCHITECTURE.md, principle 1): each builder
calls ``splicecheck.reference.mapping``/``seqspace``/``checksum`` on z3 bit-vectors. The engine
(premises, vacuity, smallest failing conjunct, counterexamples, regression vectors) is in
:mod:`splicecheck.spec.proofs_core`; the properties are grouped by concept in
:mod:`~splicecheck.spec.proofs_seq` (mappings, order, round trips, timestamps, SACK),
:mod:`~splicecheck.spec.proofs_trim` (trimming, SYN/FIN, urgent pointer, splitting) and
:mod:`~splicecheck.spec.proofs_words` (checksums, window, width closure).

Entry points: :func:`run_proofs` (what ``splicecheck prove`` runs), :func:`render_table`,
:func:`boundary_vectors` (Z3 as a test generator) and :func:`write_boundary_vectors`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

from . import proofs_seq, proofs_trim, proofs_words
from .proofs_core import (
    Counterexample,
    Expect,
    Goal,
    ProofResult,
    Property,
    Status,
    boundary_cases,
    check,
)

PROPERTIES: tuple[Property, ...] = (*proofs_seq.PROPERTIES, *proofs_trim.PROPERTIES, *proofs_words.PROPERTIES)
BY_ID: dict[str, Property] = {p.id: p for p in PROPERTIES}

#: Per solver query. The checksum proofs take up to ~10 s a query on a loaded 2-core machine; a timeout turns a
#: proof into UNKNOWN (a failure of the main job), so the bound is generous: it costs nothing when not reached.
DEFAULT_TIMEOUT_MS = 60_000

__all__ = [
    "BY_ID",
    "PROPERTIES",
    "Counterexample",
    "Expect",
    "Goal",
    "ProofResult",
    "Property",
    "Status",
    "boundary_vectors",
    "render_table",
    "run_proofs",
    "write_boundary_vectors",
]


def _select(only: list[str] | None) -> tuple[Property, ...]:
    if not only:
        return PROPERTIES
    unknown = [i for i in only if i not in BY_ID]
    if unknown:
        raise KeyError(f"unknown proof ID(s): {', '.join(unknown)}")
    return tuple(BY_ID[i] for i in only)


def run_proofs(timeout_ms: int = DEFAULT_TIMEOUT_MS, regressions_dir: Path | str | None = None,
               only: list[str] | None = None) -> list[ProofResult]:
    """Check every property (or those in ``only``). With ``regressions_dir``, each counterexample — a
    failure, or an expected refutation — is written there as ``<property>.json``."""
    where = Path(regressions_dir) if regressions_dir is not None else None
    return [check(p, timeout_ms, where) for p in _select(only)]


def _premises_cell(r: ProofResult) -> str:
    cell = r.premises if r.premises != "unsat" else "UNSAT (vacuous)"
    if r.boundaries_total:
        cell += f", {r.boundaries_sat}/{r.boundaries_total} boundaries"
    return cell


def render_table(results: list[ProofResult]) -> str:
    """A terminal table: property, requirement IDs, premises (sat), result, time; then a total line."""
    rows = [(r.property_id, " ".join(r.requirements), _premises_cell(r),
             r.status.value if r.ok else f"FAIL: {r.status.value}", f"{r.seconds:.2f} s") for r in results]
    table = tabulate(rows, headers=("property", "requirement IDs", "premises (sat)", "result", "time"),
                     tablefmt="simple")
    failed = sum(not r.ok for r in results)
    total = sum(r.seconds for r in results)
    noun = "property" if len(results) == 1 else "properties"
    return f"{table}\n\n{len(results)} {noun}, {failed} failed, {total:.2f} s"


def render_details(results: list[ProofResult]) -> str:
    """Counterexamples (failures and expected refutations) and uncovered boundary cases, for humans."""
    out: list[str] = []
    for r in results:
        if r.uncovered:
            out.append(f"{r.property_id}: premises exclude boundary case(s): {', '.join(r.uncovered)}")
        if r.counterexample is not None:
            head = "refuted as expected" if r.status is Status.REFUTED_AS_EXPECTED else "COUNTEREXAMPLE"
            out.append(f"{r.property_id}: {head}\n{r.counterexample.format()}")
            if r.regression_path is not None:
                out.append(f"  regression vector written to {r.regression_path}")
    return "\n\n".join(out)


def boundary_vectors(timeout_ms: int = DEFAULT_TIMEOUT_MS, only: list[str] | None = None
                     ) -> dict[str, list[dict[str, int]]]:
    """Z3 as a test generator: per property, one vector (variable → value, Bools 0/1) per boundary case
    — a model of the premises plus the case's constraint (wrap at 0xFFFFFFFF, splice_irs at the wrap,
    distance 2^31, zero-length segments, maximum window, …)."""
    return {p.id: [v for _, v in boundary_cases(p, timeout_ms)] for p in _select(only)}


def write_boundary_vectors(path: Path | str, timeout_ms: int = DEFAULT_TIMEOUT_MS,
                           only: list[str] | None = None) -> Path:
    """Write the boundary vectors as JSON, each with its case name and the property's requirement IDs."""
    doc: dict[str, Any] = {}
    for p in _select(only):
        doc[p.id] = {
            "requirements": list(p.requirements),
            "vectors": [{"case": name, "values": v} for name, v in boundary_cases(p, timeout_ms)],
        }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out
