"""The catalogue: IDs are unique and well formed, every requirement has a basis and a rationale, SPEC.md
matches it, and every covered requirement is cited by a test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance.catalog import all_cases
from splicecheck.conformance.results import Verdict
from splicecheck.conformance.runner import run_case
from splicecheck.spec.render import SPEC_PATH, render
from splicecheck.spec.requirements import BY_ID, LEVEL_RULE, REQUIREMENTS, Basis, Level, Requirement

TESTS = Path(__file__).parent


def test_ids_unique_and_well_formed():
    assert len(BY_ID) == len(REQUIREMENTS)
    for r in REQUIREMENTS:
        assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", r.id), r.id
        assert isinstance(r.level, Level) and r.source and r.text.endswith(".")


def test_every_requirement_has_a_basis_and_a_rationale():
    for r in REQUIREMENTS:
        assert r.basis in (Basis.FAITHFUL, Basis.EXTENSION, Basis.UPDATED), r.id
        assert len(r.rationale) > 40 and r.rationale.endswith((".", ")")), r.id
        if r.basis is Basis.FAITHFUL:  # the paper says so: the rationale names where
            assert re.search(r"§\d|[Ff]igure \d|[Ff]ootnote", r.rationale), r.id
        else:  # an RFC fills the gap or overrides the paper: the source names it
            assert "RFC" in r.source or r.source.startswith("splicecheck"), r.id
        if r.basis is Basis.UPDATED:  # the paper's rule, the RFC's, and what the suite requires
            assert "RFC" in r.rationale and ("paper" in r.rationale or "§3" in r.rationale), r.id


def test_positional_five_argument_requirements_still_construct():
    """Other branches append ``Requirement(id, level, group, source, text)``: that call must keep working
    (and the basis test above then asks for the missing basis)."""
    r = Requirement("X-Y", Level.MAY, "g", "paper §3", "Text.")
    assert r.basis is Basis.UNSET and r.rationale == "" and r.covered


def test_spec_md_is_generated_from_the_catalogue():
    assert SPEC_PATH.read_text(encoding="utf-8") == render(), "run: python -m splicecheck.spec.render"


def test_spec_md_states_the_level_rule_and_the_overrides():
    text = render()
    assert LEVEL_RULE in text.split("## Basis")[0]  # the rule comes first
    overrides = text.split("## Where later RFCs override the paper")[1].split("\n## ")[0]
    for r in REQUIREMENTS:
        assert (f"`{r.id}`" in overrides) == (r.basis is Basis.UPDATED), r.id


def cited_ids() -> set[str]:
    ids: set[str] = set()
    for path in TESTS.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "req"
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark"):
                ids.update(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return ids


def test_every_requirement_is_cited_by_a_test():
    cited = cited_ids()
    covered = {r.id for r in REQUIREMENTS if r.covered}
    assert cited - set(BY_ID) == set(), "tests cite unknown IDs"
    assert covered - cited == set(), "requirements no test cites"
    assert cited & (set(BY_ID) - covered) == set(), "a cited requirement is marked not covered"


NEW_CASES = [c for c in all_cases() if c.primary in ("LIFE-SILENT", "ECN-PASS", "CSUM-CORRUPT-RELAY", "LIFE-OK-ZERO",
                                                     "SPLICE-REFUSE", "TRIM-WINDOW")]


@pytest.mark.req("LIFE-SILENT", "ECN-PASS", "CSUM-CORRUPT-RELAY", "LIFE-OK-ZERO", "SPLICE-REFUSE", "TRIM-WINDOW")
@pytest.mark.parametrize("case", NEW_CASES, ids=[c.id for c in NEW_CASES])
def test_the_reference_passes_the_cases_of_the_new_requirements(case):
    assert run_case(ReferenceAdapter(), case, "reference").verdict is Verdict.PASS
