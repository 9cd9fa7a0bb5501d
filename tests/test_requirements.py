"""The catalogue: IDs are unique and well formed, SPEC.md matches it, and every requirement is cited by a test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from splicecheck.spec.render import SPEC_PATH, render
from splicecheck.spec.requirements import BY_ID, REQUIREMENTS, Level

TESTS = Path(__file__).parent


def test_ids_unique_and_well_formed():
    assert len(BY_ID) == len(REQUIREMENTS)
    for r in REQUIREMENTS:
        assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", r.id), r.id
        assert isinstance(r.level, Level) and r.source and r.text.endswith(".")


def test_spec_md_is_generated_from_the_catalogue():
    assert SPEC_PATH.read_text(encoding="utf-8") == render(), "run: python -m splicecheck.spec.render"


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
    assert cited - set(BY_ID) == set(), "tests cite unknown IDs"
    assert set(BY_ID) - cited == set(), "requirements no test cites"
