"""The conformance suite as pytest tests (collected by the plugin when ``--splice-adapter`` is given).

This module's imports are absolute, unlike the rest of the package: pytest collects it by file path, as a
top-level module, where relative imports cannot resolve.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from splicecheck.conformance.case import Case
from splicecheck.conformance.catalog import select
from splicecheck.conformance.contract import Adapter, load_adapter
from splicecheck.conformance.diff import lines
from splicecheck.conformance.results import Verdict
from splicecheck.conformance.runner import run_case


class SpliceVerdictWarning(UserWarning):
    """A NON-STRICT (SHOULD missed) or INFO verdict: not a failure, but worth seeing."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "splice_case" in metafunc.fixturenames:
        cfg = metafunc.config
        cases = select(cfg.getoption("--splice-case"), cfg.getoption("--splice-req"))
        metafunc.parametrize("splice_case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def splice_adapter(request: pytest.FixtureRequest) -> Iterator[Adapter]:
    adapter = load_adapter(request.config.getoption("--splice-adapter"))
    missing_fn = getattr(adapter, "missing", None)
    missing = list(missing_fn()) if callable(missing_fn) else []
    if missing:
        adapter.close()
        pytest.skip("; ".join(missing))
    yield adapter
    adapter.close()


def test_case(splice_adapter: Adapter, splice_case: object, request: pytest.FixtureRequest) -> None:
    assert isinstance(splice_case, Case)
    spec = request.config.getoption("--splice-adapter")
    r = run_case(splice_adapter, splice_case, spec, request.config.getoption("--splice-seed"))
    also = f"; also broken first-hand: {', '.join(r.collateral_failures)}" if r.collateral_failures else ""
    detail = "\n".join([f"{r.verdict} {r.case} [{', '.join(r.reqs)}]{also}", *lines(r.diffs), r.reason,
                        f"reproduce: {r.repro}"])
    if r.verdict in (Verdict.UNSUPPORTED, Verdict.SKIPPED):
        pytest.skip(f"{r.verdict}: {r.reason}")
    strict = request.config.getoption("--splice-strict")
    if r.verdict is Verdict.INFO or (r.verdict is Verdict.NON_STRICT and not strict):
        warnings.warn(detail, SpliceVerdictWarning, stacklevel=1)
    if r.verdict.bad or (strict and r.verdict is Verdict.NON_STRICT):
        pytest.fail(detail, pytrace=False)
