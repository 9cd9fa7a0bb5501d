"""Wrap coverage (conformance/coverage.py): regions classified from hand-placed segments, and counted
by a property search."""

from __future__ import annotations

import dataclasses
import json

from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance.case import from_client, from_server
from splicecheck.conformance.contract import PeerPlan, Scenario
from splicecheck.conformance.coverage import CROSSES, FURTHEST, REGIONS, WINDOW, Coverage, regions
from splicecheck.conformance.model import reference_machine
from splicecheck.conformance.properties import BY_SLUG, Budget, search
from splicecheck.conformance.stateful import CASES as STATEFUL
from splicecheck.conformance.stateful import RelayAgreement, search_machine
from splicecheck.reference.relay import SpliceState
from splicecheck.reference.segment import ACK, NOP, URG, Sack, Timestamps

H31, M32 = 1 << 31, 0xFFFF_FFFF


def state(client_isn: int, server_isn: int = 1000) -> SpliceState:
    sc = Scenario(client=PeerPlan(isn=client_isn, sack_permitted=True, tsval=5),
                  server=PeerPlan(isn=server_isn, sack_permitted=True, tsval=9))
    st = reference_machine(sc).splice
    assert st is not None
    return st


def test_a_segment_across_the_wrap_at_its_base() -> None:
    st = state(M32 - 10)  # C.splice_irs = 2^32 - 10
    got = set(regions(st, from_client(st, 0, payload=b"x" * 20)))
    assert {"seq@2^32-1", "seq@splice_irs", CROSSES} <= got
    assert "seq@0" not in got and "seq@2^31" not in got


def test_a_segment_ending_exactly_at_2_32_does_not_cross() -> None:
    st = state(M32 - 10)
    assert CROSSES not in set(regions(st, from_client(st, 0, payload=b"x" * 10)))
    assert CROSSES in set(regions(st, from_client(st, 0, payload=b"x" * 11)))


def test_far_from_every_boundary_nothing_is_reached() -> None:
    st = state(0x1000_0000, 0x2000_0000)
    seg = from_client(st, 5 * WINDOW, ack_off=5 * WINDOW, payload=b"x", ts=False)
    assert "seq@splice_irs" not in set(regions(st, seg))
    assert list(regions(st, seg)) == []


def test_ack_sack_urgent_and_timestamps() -> None:
    st = state(H31 - 3)  # C.splice_irs = 2^31 - 2
    iss = st.client.splice_iss
    seg = from_client(st, 0, payload=b"abcdef", flags=ACK | URG, urgent=4, ts=False, ack=3,
                      options=[NOP, NOP, Sack(((iss, (iss + 8) & M32),)), Timestamps(M32 - 1, H31)])
    got = set(regions(st, seg))
    assert {"seq@2^31", "urg-end@2^31", "ack@0", "sack@splice_iss", "tsval@2^32-1", "tsecr@2^31"} <= got
    bare = dataclasses.replace(seg, tcp=dataclasses.replace(seg.tcp, flags=0))  # no ACK, no URG
    assert not {"ack@0", "urg-end@2^31"} & set(regions(st, bare))


def test_two_to_the_31_from_the_furthest_point() -> None:
    st = state(1000)
    assert FURTHEST in set(regions(st, from_client(st, H31 + 7, payload=b"x")))
    moved = dataclasses.replace(st, c2s_advance=1 << 20)  # the stream went 1 MiB past its base
    assert FURTHEST not in set(regions(moved, from_client(moved, H31 + 7, payload=b"x")))
    assert FURTHEST in set(regions(moved, from_client(moved, H31 + (1 << 20), payload=b"x")))


def test_segments_on_no_leg_reach_nothing_and_server_segments_use_their_leg() -> None:
    st = state(1000, M32 - 3)
    assert "seq@splice_irs" in set(regions(st, from_server(st, 2, payload=b"y")))
    other = dataclasses.replace(from_client(st, 0), tcp=dataclasses.replace(from_client(st, 0).tcp, sport=1))
    assert list(regions(st, other)) == []


def test_a_search_counts_regions_and_reaches_the_wrap() -> None:
    prop = BY_SLUG["trim"]
    tally = search(ReferenceAdapter(), prop.case(), prop.strategy(), 7, Budget(examples=60))
    cov = tally.coverage
    assert cov.segments >= tally.examples
    assert {"seq@2^32-1", "seq@0", "seq@splice_irs", CROSSES} <= set(cov.reached)
    assert set(cov.as_dict()) == set(REGIONS)
    total = Coverage()
    total.merge(cov)
    total.merge(cov.as_dict())
    assert total.hits["seq@splice_irs"] == 2 * cov.hits["seq@splice_irs"]


def test_a_stateful_search_counts_regions() -> None:
    tally, _ = search_machine(ReferenceAdapter(), STATEFUL[0], RelayAgreement, 3, Budget(programs=5, steps=10))
    assert tally.coverage.segments > 0
    assert tally.coverage.reached


def test_a_property_result_carries_its_coverage_and_old_lines_still_load() -> None:
    import time

    from splicecheck.conformance.properties import conclude
    from splicecheck.conformance.results import CaseResult

    prop, adapter = BY_SLUG["trim"], ReferenceAdapter()
    tally = search(adapter, prop.case(), prop.strategy(), 7, Budget(examples=40))
    result = conclude(prop.case(), adapter, tally, 7, 40, time.perf_counter())
    assert result.coverage is not None and list(result.coverage) == list(REGIONS)
    assert result.coverage[CROSSES] > 0  # the trim searches' segments cross the wrap
    line = json.loads(result.to_json())
    assert line["coverage"] == result.coverage
    assert CaseResult.from_dict(line).coverage == result.coverage
    del line["coverage"]  # a line written before the field existed
    assert CaseResult.from_dict(line).coverage is None
    assert "coverage" not in json.loads(CaseResult.from_dict(line).to_json())
