"""MSS-NO-BLACKHOLE (issue 17): an oversized DF segment dropped without the ICMP error FAILs; relaying it
unannounced stays a SHOULD departure (MSS-ICMP, NON-STRICT)."""

from __future__ import annotations

import pytest
from splicecheck.adapters.mutants import MutantAdapter
from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance import catalog
from splicecheck.conformance.results import Verdict
from splicecheck.conformance.runner import run_case
from splicecheck.spec.requirements import BY_ID, Level


@pytest.mark.req("MSS-NO-BLACKHOLE")
def test_silent_drop_fails_and_unannounced_relay_is_non_strict() -> None:
    assert BY_ID["MSS-NO-BLACKHOLE"].level is Level.MUST and BY_ID["MSS-ICMP"].level is Level.SHOULD
    cases = catalog.select(reqs=["MSS-NO-BLACKHOLE"])
    assert "MSS-NO-BLACKHOLE/retransmitted-oversized" in {c.id for c in cases}
    for case in cases:
        assert run_case(ReferenceAdapter(), case, "reference").verdict is Verdict.PASS, case.id
    (case,) = catalog.select(ids=["MSS-NO-BLACKHOLE/retransmitted-oversized"])
    drop = run_case(MutantAdapter("mss-silent-drop"), case, "mutant:mss-silent-drop")
    assert drop.verdict is Verdict.FAIL
    assert sum(d.req == "MSS-NO-BLACKHOLE" for d in drop.diffs) == 3  # each of the three copies
    relay = run_case(MutantAdapter("mss-no-icmp"), case, "mutant:mss-no-icmp")
    assert relay.verdict is Verdict.NON_STRICT and not [d for d in relay.diffs if d.req == "MSS-NO-BLACKHOLE"]


def test_a_segment_that_fits_is_not_judged_a_black_hole_when_relayed() -> None:
    (case,) = catalog.select(ids=["MSS-ICMP/df-clear-relayed"])
    r = run_case(ReferenceAdapter(), case, "reference")
    assert r.verdict is Verdict.PASS and "MSS-NO-BLACKHOLE" in r.reqs
