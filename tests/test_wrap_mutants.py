"""The wrap-only mutants (adapters/mutants/wrap.py) are the model away from the wrap.

Each one's witness (tests/test_mutants.py) shows it differs from the model near 2^32; the same witness
with every number of the scenario moved by 2^31 — the same geometry, far from the wrap — must see
the model's bytes exactly, or the mutant would not be wrap-only and the power benchmark would
measure something else.
"""

from __future__ import annotations

import dataclasses

import pytest
from splicecheck.adapters.mutants import MUTANTS, MutantAdapter
from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance.case import from_client
from splicecheck.conformance.contract import PeerPlan, Scenario
from splicecheck.conformance.strategies import crossing_offset, wrap_block, wrap_straddle
from splicecheck.reference.segment import NOP, Timestamps
from test_mutants import WITNESSES, observe, wire, witness

H31, M32 = 1 << 31, 0xFFFF_FFFF
WRAP_NAMES = ["wrap-cross-dropped", "wrap-trim-end", "wrap-urg-end", "wrap-sack-edge", "wrap-tsecr", "wrap-seq-base"]


def _far(x: int | None) -> int | None:
    return None if x is None else (x + H31) & M32


def moved(sc: Scenario) -> Scenario:
    """``sc`` with every ISN and timestamp moved by 2^31."""
    def peer(p: PeerPlan) -> PeerPlan:
        return dataclasses.replace(p, isn=_far(p.isn), tsval=_far(p.tsval))

    return dataclasses.replace(sc, client=peer(sc.client), server=peer(sc.server), proxy_isn_c=_far(sc.proxy_isn_c),
                               proxy_isn_d=_far(sc.proxy_isn_d), proxy_tsval_c=_far(sc.proxy_tsval_c),
                               proxy_tsval_d=_far(sc.proxy_tsval_d))


def test_the_zoo_has_the_wrap_mutants() -> None:
    assert set(WRAP_NAMES) == {m for m in MUTANTS if m.startswith("wrap-")}


@pytest.mark.parametrize("name", WRAP_NAMES)
def test_wrap_mutant_is_the_model_far_from_the_wrap(name: str) -> None:
    case = WITNESSES[name]
    assert wire(observe(MutantAdapter(name), case)) != wire(observe(ReferenceAdapter(), case))
    far = dataclasses.replace(case, scenario=moved(case.scenario))
    if name == "wrap-tsecr":  # its witness echoes an absolute TSecr just below 2^32: move that one too
        far = dataclasses.replace(witness(name, ("TS-ECR",), lambda st: [from_client(
            st, 0, payload=b"t", options=[NOP, NOP, Timestamps(7, H31 - 0xFF)])]), scenario=far.scenario)
    assert wire(observe(MutantAdapter(name), far)) == wire(observe(ReferenceAdapter(), far))


@pytest.mark.parametrize(("base", "seg_len"), [(M32 - 5, 100), (3, 100), (0, 10), (H31, 100), (M32, 2)])
def test_crossing_offsets_cross_the_wrap_and_straddle_a_base_near_it(base: int, seg_len: int) -> None:
    lo, hi = wrap_straddle(base, seg_len)
    assert 1 <= lo <= hi <= seg_len - 1
    for before_wrap in range(lo, hi + 1):
        off = crossing_offset(base, seg_len, before_wrap, True, 12345)
        seq = (base + off) & M32
        assert seq == (1 << 32) - before_wrap  # starts below 2^32 ...
        assert seq + seg_len > 1 << 32  # ... and ends past it
        if min((-base) & M32, base) < seg_len - 1:  # a base near the wrap lies inside the segment too
            assert 0 < (base - seq) & M32 < seg_len
    assert crossing_offset(H31 - 200, 100, 50, False, 12345) == 12345  # 2^31 - 150 below the base: not without below


@pytest.mark.parametrize(("iss", "below_wrap", "length"), [(M32 - 100, 0, 50), (M32 - 100, 64, 3000), (H31 + 7, 3, 1),
                                                           (5, 10, 20), (0, 0, 1)])
def test_wrap_blocks_end_just_below_2_32(iss: int, below_wrap: int, length: int) -> None:
    left, right = wrap_block(iss, below_wrap, length)
    assert (iss + right) & M32 == (1 << 32) - below_wrap & M32  # the right edge's absolute number
    assert right - left == length
    assert -H31 < right <= H31  # a signed distance from iss
