"""``splicecheck trace`` end to end: captures of the reference adapter pass, captures of broken relays fail
on the right requirement, and every kind of awkward capture gets an answer."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest
from splicecheck.conformance.contract import PeerPlan
from splicecheck.conformance.results import CaseResult, Verdict, grade
from splicecheck.conformance.trace.capture import PcapWriter, UnknownLinkType, open_capture
from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine
from splicecheck.conformance.trace.link import LINKTYPE_ETHERNET, LINKTYPE_RAW, frame
from splicecheck.reference.relay import relay
from trace_synth import (
    ConnPlan,
    default_scenario,
    drop_every,
    duplicate_every,
    mss_ignored,
    no_trim,
    seq_off_by_one,
    synth_pair,
    ttl_kept,
)

DATA = Path(__file__).parent / "data" / "trace"


def trace(c: Path, s: Path, **kw: object) -> list[CaseResult]:
    return TraceEngine(c, s, TraceConfig(**kw)).run()  # type: ignore[arg-type]


def conns(results: list[CaseResult]) -> list[CaseResult]:
    return [r for r in results if not r.case.startswith(("trace/capture", "trace/client-leg-only",
                                                         "trace/server-leg-only"))]


def reqs_failing(r: CaseResult) -> set[str]:
    return {d.req for d in r.diffs}


# -- the committed fixtures ---------------------------------------------------------------------------------


def test_reference_fixture_passes() -> None:
    (r,) = trace(DATA / "reference-client.pcap", DATA / "reference-server.pcapng")
    assert r.verdict is Verdict.PASS and r.kind == "trace" and not r.diffs
    assert r.checked > 500 and "SEQ-MAP" in r.reqs and "TS-VAL" in r.reqs and "WS-EXACT" in r.reqs
    assert "33 segment(s) judged" in r.description


def test_seq_off_by_one_fixture_fails_seq_map() -> None:
    (r,) = trace(DATA / "seq-off-by-one-client.pcap", DATA / "seq-off-by-one-server.pcap")
    assert r.verdict is Verdict.FAIL
    assert reqs_failing(r) == {"SEQ-MAP"}
    assert all(d.field.endswith("tcp.seq") and d.actual == (d.expected + 1) & 0xFFFF_FFFF for d in r.diffs)
    assert "SEQ-MAP ×33" in r.reason
    assert r.steps and r.steps[0].input and r.steps[0].actual_to_server + r.steps[0].actual_to_client


def test_socks_fixture_with_presplice_vlan_and_sll2_passes() -> None:
    (r,) = trace(DATA / "socks-client.pcapng", DATA / "socks-server.pcap")
    assert r.verdict is Verdict.PASS, r.reason
    assert "pre-splice exchange" in r.expectation


# -- reference captures pass, mutants fail on their requirement ---------------------------------------------


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("linktype", [LINKTYPE_RAW, LINKTYPE_ETHERNET])
@pytest.mark.parametrize("formats", [("pcap", "pcapng"), ("pcapng-be", "pcap-ns")])
def test_reference_captures_pass(tmp_path: Path, family: int, linktype: int, formats: tuple[str, str]) -> None:
    c, s = tmp_path / "c", tmp_path / "s"
    synth_pair(c, s, [ConnPlan(default_scenario(family=family, ok_len=3), segments=80)], seed=family,
               linktype=linktype, formats=formats)
    (r,) = trace(c, s, match_timeout=0.001)
    assert r.verdict is Verdict.PASS, r.reason


MUTANTS = {
    "seq-off-by-one": (seq_off_by_one, Verdict.FAIL, {"SEQ-MAP"}),
    "drops": (drop_every(9), Verdict.FAIL, {"PAYLOAD-KEEP", "ACK-MAP"}),
    "duplicates": (duplicate_every(9), Verdict.FAIL, {"DIR-ONLY"}),
    "ttl-kept": (ttl_kept, grade("TTL-DEC"), {"TTL-DEC"}),
}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutants_fail_on_their_requirement(tmp_path: Path, name: str) -> None:
    fn, verdict, reqs = MUTANTS[name]
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), segments=100)], relay_fn=fn, seed=2)
    (r,) = trace(c, s, match_timeout=0.001)
    assert r.verdict is verdict
    assert reqs_failing(r) <= reqs and reqs_failing(r), r.reason
    if name == "drops":
        assert "dropped by the box" in r.reason
    if name == "duplicates":
        assert "emitted without an input" in r.reason


def test_trimming_is_judged(tmp_path: Path) -> None:
    """Client retransmissions of pre-splice bytes: trimmed by the model (and the reference); a box that
    does not trim relays bytes from before the base (TRIM-SOUND)."""
    plan = [ConnPlan(default_scenario(client_presplice=40, ok_len=4), segments=30, below_base=4)]
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, plan, seed=3)
    (good,) = trace(c, s, match_timeout=0.001)
    assert good.verdict is Verdict.PASS, good.reason
    assert {"TRIM-REST", "TRIM-BELOW"} & set(good.reqs)
    synth_pair(c, s, plan, seed=3, relay_fn=no_trim)
    (bad,) = trace(c, s, match_timeout=0.001)
    assert bad.verdict is Verdict.FAIL and reqs_failing(bad) & {"TRIM-SOUND", "TRIM-REST", "TRIM-BELOW"}


def test_mss_icmp_is_judged(tmp_path: Path) -> None:
    """Oversized segments with DF: the model answers with ICMP on the in leg, which the trace pairs with the
    input it quotes; a box forwarding them instead fails MSS-ICMP."""
    sc = default_scenario(server=PeerPlan(isn=5, mss=300, wscale=2, sack_permitted=True, tsval=1))
    plan = [ConnPlan(sc, segments=60, oversize=0.3, max_payload=200)]
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, plan, seed=8)
    (good,) = trace(c, s, match_timeout=0.001)
    assert good.verdict is Verdict.PASS, good.reason
    assert "MSS-ICMP" in good.reqs
    synth_pair(c, s, plan, seed=8, relay_fn=mss_ignored)
    (bad,) = trace(c, s, match_timeout=0.001)
    assert bad.verdict is grade("MSS-ICMP") and "MSS-ICMP" in reqs_failing(bad)


# -- pairing --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transparent", [False, True])
def test_concurrent_connections_are_paired(tmp_path: Path, transparent: bool) -> None:
    plans = [ConnPlan(default_scenario(client=PeerPlan(isn=1000 * i + 1, tsval=i)), client_port=43000 + i,
                      segments=25, transparent=transparent) for i in range(12)]
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, plans, seed=5, concurrent=5)
    results = conns(trace(c, s, match_timeout=0.001))
    assert len(results) == 12
    assert Counter(r.verdict for r in results) == {Verdict.PASS: 12}


def test_one_sided_flows_are_info(tmp_path: Path) -> None:
    """A connection the server-leg capture lacks, and one only on the server leg: INFO, not judged. (Not
    at the same time: two such flows open together would look like one connection.)"""
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), client_port=44000 + i, segments=10, transparent=True)
                      for i in range(3)], seed=1, gap_us=1000)
    only_c, only_s = tmp_path / "oc.pcap", tmp_path / "os.pcap"
    with open_capture(c) as r, PcapWriter(only_c, LINKTYPE_RAW) as w:  # the client leg without port 44001
        for ts, _lt, ip, _o in r:
            if 44001 not in struct.unpack_from("!HH", ip, 20):
                w.write(ts, ip)
    with open_capture(s) as r, PcapWriter(only_s, LINKTYPE_RAW) as w:  # the server leg without port 44002
        for ts, _lt, ip, _o in r:
            if 44002 not in struct.unpack_from("!HH", ip, 20):
                w.write(ts, ip)
    results = trace(only_c, only_s, match_timeout=0.001)
    by = {r.case: r for r in results}
    one_sided = [r for r in results if "leg-only" in r.case]
    assert len(one_sided) == 2 and all(r.verdict is Verdict.INFO and "one-sided" in r.reason for r in one_sided)
    assert Counter(r.verdict for r in conns(results)) == {Verdict.PASS: 1}
    assert any(k.startswith("trace/client-leg-only/198.18.0.2:44002") for k in by)
    assert any(k.startswith("trace/server-leg-only/198.19.0.2:80>198.18.0.2:44001") for k in by)


# -- awkward captures -------------------------------------------------------------------------------------------


def _with_noise(src: Path, dst: Path) -> None:
    udp = bytes.fromhex("4500001c000100004011f7d8c0000201c000020200350035000800000000")[:28]
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28
    icmp_echo = bytes.fromhex("45000054000000004001f6a6c0000201c0000202") + b"\x08\x00" + b"\x00" * 62
    with open_capture(src) as r, PcapWriter(dst, LINKTYPE_ETHERNET) as w:
        for i, (ts, _lt, ip, _o) in enumerate(r):
            w.write(ts, frame(LINKTYPE_ETHERNET, ip))
            if i % 5 == 0:
                w.write(ts, frame(LINKTYPE_ETHERNET, udp))
                w.write(ts, arp)
                w.write(ts, frame(LINKTYPE_ETHERNET, icmp_echo))


def test_non_tcp_traffic_is_counted_not_judged(tmp_path: Path) -> None:
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), segments=40)], seed=1)
    nc, ns = tmp_path / "nc.pcap", tmp_path / "ns.pcap"
    _with_noise(c, nc)
    _with_noise(s, ns)
    results = trace(nc, ns, match_timeout=0.001)
    assert [r.verdict for r in conns(results)] == [Verdict.PASS]
    (cap,) = [r for r in results if r.case == "trace/capture"]
    assert cap.verdict is Verdict.INFO and "non-IP frames" in cap.reason and "non-TCP IP packets" in cap.reason


def test_truncated_capture_is_judged_up_to_its_end(tmp_path: Path) -> None:
    """A capture cut mid-record: everything up to the cut is judged, nothing after it is blamed on the box."""
    results = trace(DATA / "truncated-client.pcap", DATA / "reference-server.pcapng", match_timeout=0.001)
    (cap,) = [r for r in results if r.case == "trace/capture"]
    assert "truncated after" in cap.reason and "ends first" in cap.reason
    (conn,) = conns(results)
    assert conn.verdict is Verdict.PASS, conn.reason
    assert "after the end of a capture" in conn.reason


def test_snaplen_cut_packets_are_matched_not_judged(tmp_path: Path) -> None:
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), segments=40, max_payload=500)], seed=1)
    cut_c, cut_s = tmp_path / "cc.pcap", tmp_path / "cs.pcap"
    for src, dst in ((c, cut_c), (s, cut_s)):
        with open_capture(src) as r, PcapWriter(dst, LINKTYPE_RAW, snaplen=96) as w:
            for ts, _lt, ip, _o in r:
                w.write(ts, ip)
    (conn, cap) = trace(cut_c, cut_s, match_timeout=0.001)
    assert conn.verdict is not Verdict.FAIL, conn.reason
    assert "snap length" in conn.reason and "snap length" in cap.reason


def test_unknown_link_type_is_a_named_error(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    with PcapWriter(p, 147) as w:
        w.write(0, b"\x00" * 40)
    with pytest.raises(UnknownLinkType):
        TraceEngine(p, DATA / "reference-server.pcapng")


def test_clock_skew_between_the_captures(tmp_path: Path) -> None:
    """The server leg's clock 150 µs behind, more than the box takes to relay (40 µs): the relayed copies
    of client segments are stamped before the segments; they still pair (--skew)."""
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), segments=60)], seed=4, gap_us=3000)
    skewed = tmp_path / "skewed.pcap"
    with open_capture(s) as r, PcapWriter(skewed, LINKTYPE_RAW, nanos=True) as w:
        for ts, _lt, ip, _o in r:
            w.write(ts - 150_000, ip)
    (r,) = trace(c, skewed, match_timeout=0.5, skew=0.0002)
    assert r.verdict is Verdict.PASS, r.reason
    (strict,) = trace(c, skewed, match_timeout=0.5, skew=0.0)
    assert strict.verdict is Verdict.FAIL  # without the tolerance, every client segment looks dropped


def test_memory_follows_the_open_connections(tmp_path: Path) -> None:
    """200 connections one after another, each closed by FINs: the engine never holds more than a few."""
    plans = [ConnPlan(default_scenario(), client_port=20000 + i, segments=8) for i in range(200)]
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, plans, seed=1, concurrent=3, gap_us=20_000)
    sizes: list[tuple[int, int, int]] = []
    eng: TraceEngine

    def on_result(result: CaseResult) -> None:
        sizes.append((len(eng.splices), len(eng.loose), len(eng.tables[0]) + len(eng.tables[1])))

    eng = TraceEngine(c, s, TraceConfig(match_timeout=0.01, linger=0.05, tombstone=0.5), on_result=on_result)
    results = eng.run()
    assert Counter(r.verdict for r in conns(results)) == {Verdict.PASS: 200}
    assert max(x[0] for x in sizes) <= 12
    assert max(x[2] for x in sizes) < 120  # tombstones are forgotten too, not only the judges
    assert relay  # the reference relay produced these captures


def test_fast_path_off_gives_the_same_results(tmp_path: Path) -> None:
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), segments=60)], relay_fn=seq_off_by_one, seed=1)
    a = trace(c, s, match_timeout=0.001)
    b = trace(c, s, match_timeout=0.001, fast=False)
    assert [(r.verdict, r.checked, r.diffs) for r in a] == [(r.verdict, r.checked, r.diffs) for r in b]
