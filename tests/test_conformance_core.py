"""The conformance engine's core: contract, runner, diff and grading, on the reference adapter."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance.case import Case, corrupt_tcp_checksum, from_client, from_server
from splicecheck.conformance.contract import AdapterNotFound, Feature, PeerPlan, Scenario, load_adapter
from splicecheck.conformance.results import CaseResult, Verdict, requirement_verdicts
from splicecheck.conformance.runner import JsonlSink, exit_code, run, run_case
from splicecheck.reference.relay import RelayResult, SpliceState, relay
from splicecheck.reference.segment import ACK, FIN, PSH, RST, Segment, TcpHeader

WRAP = Scenario(client=PeerPlan(isn=0xFFFF_FFF0, tsval=5, sack_permitted=True, wscale=7),
                server=PeerPlan(isn=0xFFFF_FFFE, tsval=9, sack_permitted=True, wscale=2), ok_len=5,
                client_presplice=20)


def data_case(off: int = 3) -> Case:
    return Case("SEQ-MAP-t", ("SEQ-MAP",), "data from the client", "seq mapped",
                lambda st: [from_client(st, off, payload=b"hello", flags=ACK | PSH)], WRAP)


def seq_off_by_one(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    r = relay(state, seg, now)
    out = tuple(dataclasses.replace(s, tcp=dataclasses.replace(s.tcp, seq=(s.tcp.seq + 1) & 0xFFFF_FFFF))
                if isinstance(s, Segment) else s for s in r.emitted)
    return dataclasses.replace(r, emitted=out)


def test_reference_passes_with_every_field_checked() -> None:
    cases = [data_case(), data_case(-3),
             Case("CSUM-t", ("CSUM-FAILSAFE",), "bad checksum", "stays bad",
                  lambda st: [corrupt_tcp_checksum(from_server(st, 0, payload=b"x" * 7))], WRAP),
             Case("RST-t", ("ACK-NOACK",), "bare RST", "ack unchanged",
                  lambda st: [from_server(st, 0, flags=RST, ack=12345)], WRAP)]
    results = run(ReferenceAdapter(), cases, adapter_spec="reference")
    assert [r.verdict for r in results] == [Verdict.PASS] * 4
    assert all(r.checked > 20 for r in results)
    assert exit_code(results) == 0


def test_a_broken_seq_fails_with_a_packetdrill_line() -> None:
    r = run_case(ReferenceAdapter(relay_fn=seq_off_by_one), data_case(), "x")
    assert r.verdict is Verdict.FAIL
    (d,) = r.targeted
    assert d.field == "to_server[0].tcp.seq"
    assert d.actual == (d.expected + 1) & 0xFFFF_FFFF
    assert d.line().startswith(f"SEQ-MAP field to_server[0].tcp.seq: expected {d.expected} ({d.expected:#x})")
    assert exit_code([r]) == 1


def test_collateral_must_fails_the_case_that_saw_it_and_names_it() -> None:
    case = Case("TS-t", ("TS-VAL",), "x", "y", lambda st: [from_client(st, 0, payload=b"a")], WRAP)
    r = run_case(ReferenceAdapter(relay_fn=seq_off_by_one), case, "x")
    # the hand-made bug also leaves the checksum stale: both are collateral to a TS case, both MUSTs seen
    # broken first-hand, so the case fails and names them (a MUST is never lost to the case's aim)
    assert not r.targeted and [d.req for d in r.collateral] == ["SEQ-MAP", "TCPCSUM-VALID"]
    assert r.verdict is Verdict.FAIL and r.collateral_failures == ["SEQ-MAP", "TCPCSUM-VALID"]
    assert requirement_verdicts([r])["SEQ-MAP"] is Verdict.FAIL and exit_code([r]) == 1


def ip_id_changed(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Breaks IP-PRESERVE only (a SHOULD): the relayed IPv4 header gets another identification."""
    r = relay(state, seg, now)
    out = tuple(dataclasses.replace(s, ip=dataclasses.replace(s.ip, ident=s.ip.ident ^ 1, checksum=None))
                if isinstance(s, Segment) else s for s in r.emitted)
    return dataclasses.replace(r, emitted=out)


def test_collateral_should_leaves_the_case_alone_but_strict_fails_the_run() -> None:
    r = run_case(ReferenceAdapter(relay_fn=ip_id_changed), data_case(), "x")
    assert r.verdict is Verdict.PASS and not r.collateral_failures
    assert [d.req for d in r.collateral] == ["IP-PRESERVE"]
    assert requirement_verdicts([r])["IP-PRESERVE"] is Verdict.NON_STRICT
    assert exit_code([r]) == 0 and exit_code([r], strict=True) == 1  # the table and the exit code agree


def test_later_steps_are_consequences_of_the_first_divergence() -> None:
    from splicecheck.conformance.results import FieldDiff, case_verdict

    # a bare segment wholly below the base relayed (a SHOULD: one packet too many) moves the receiver's state;
    # the next segment is lost
    first = FieldDiff(0, -1, "to_server.count", 0, 1, "TRIM-BELOW")
    later = FieldDiff(1, 0, "to_server[0].tcp.options.TS.tsval", 5, None, "TS-VAL")  # a MUST
    r = CaseResult(case="TS-VAL/x", reqs=["TS-VAL"], verdict=case_verdict(["TS-VAL"], [first, later]),
                   diffs=[first, later])
    lead, cons = r.diffs
    assert lead.consequence_of is None and cons.consequence_of == "TRIM-BELOW" and cons.charged == "TRIM-BELOW"
    assert cons.verdict is Verdict.NON_STRICT and "after TRIM-BELOW diverged" in cons.line()
    assert r.verdict is Verdict.PASS and not r.targeted  # never graded stricter than the cause
    table = requirement_verdicts([r])
    assert table["TRIM-BELOW"] is Verdict.NON_STRICT and table["TS-VAL"] is Verdict.PASS
    # a per-packet field (a TTL not decremented) changes no state: a MUST broken after it is first-hand
    ttl = FieldDiff(0, 0, "to_server[0].ip.ttl", 63, 64, "TTL-DEC")
    assert case_verdict(["TS-VAL"], [ttl, later]) is Verdict.FAIL
    assert CaseResult(case="TS-VAL/x", reqs=["TS-VAL"], verdict=Verdict.FAIL, diffs=[ttl, later]).diffs == [ttl, later]
    # an old results line (no consequence_of, no collateral_failures) loads and grades alike
    old = json.loads(r.to_json())
    for d in old["diffs"]:
        del d["consequence_of"]
    del old["collateral_failures"]
    assert CaseResult.from_dict(old) == r
    # a MUST in the first divergent step itself is first-hand, outside the case's targets too
    same_step = FieldDiff(0, 0, "to_server[0].tcp.seq", 1, 2, "SEQ-MAP")
    assert case_verdict(["TS-VAL"], [first, same_step, later]) is Verdict.FAIL


def test_unsupported_and_error() -> None:
    class NoV6(ReferenceAdapter):
        unsupported = frozenset({Feature.IPV6})

    v6 = Case("V6-t", ("SEQ-MAP",), "x", "y", lambda st: [from_client(st, 0)], Scenario(family=6))
    assert run_case(NoV6(), v6, "x").verdict is Verdict.UNSUPPORTED
    assert run_case(ReferenceAdapter(), v6, "x").verdict is Verdict.PASS

    def boom(st: SpliceState) -> list[Segment]:
        raise RuntimeError("harness bug")

    r = run_case(ReferenceAdapter(), Case("E-t", ("SEQ-MAP",), "x", "y", boom), "x")
    assert r.verdict is Verdict.ERROR and "harness bug" in r.reason


def test_missing_output_is_a_count_difference() -> None:
    def swallow(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        return dataclasses.replace(relay(state, seg, now), emitted=())

    r = run_case(ReferenceAdapter(relay_fn=swallow), data_case(), "x")
    assert r.verdict is Verdict.FAIL
    assert [(d.field, d.expected, d.actual) for d in r.diffs] == [("to_server.count", 1, 0)]


def test_jsonl_stream_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    sink = JsonlSink(path)
    results = run(ReferenceAdapter(relay_fn=seq_off_by_one), [data_case()], adapter_spec="m", sink=sink)
    sink.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["type"] for x in lines] == ["header", "case", "footer"]
    assert CaseResult.from_dict(lines[1]) == results[0]


def test_load_adapter() -> None:
    assert load_adapter("reference").name == "reference"
    assert load_adapter("splicecheck.adapters.reference:ReferenceAdapter").name == "reference"
    for bad in ("nope", "no.such.module:X", "splicecheck.adapters.reference:Nope"):
        with pytest.raises(AdapterNotFound):
            load_adapter(bad)


def test_scenario_validation() -> None:
    with pytest.raises(ValueError):
        PeerPlan(isn=1 << 32)
    with pytest.raises(ValueError):
        Scenario(family=5)
    with pytest.raises(ValueError):
        Case("X", ("NOPE",), "", "", lambda st: [])
    assert Scenario(ok_len=3).needs() == {Feature.OK_MESSAGE}
    assert TcpHeader(1, 2).flags == ACK


@pytest.mark.req("TTL-EXPIRE")
def test_time_exceeded_back_to_the_sender_is_allowed_but_relaying_is_not() -> None:
    import struct

    from splicecheck.conformance.contract import Observation
    from splicecheck.conformance.diff import diff_step
    from splicecheck.conformance.model import Model, reference_state
    from splicecheck.reference.codec import encode

    st = reference_state(WRAP)
    seg = from_client(st, 0, payload=b"x", ttl=1)
    expected = Model(st).relay(seg, 0.0)
    icmp = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 56, 0, 0, 64, 1, 0, st.client.local.addr, st.client.peer.addr)
    icmp += struct.pack("!BBHI", 11, 0, 0, 0) + encode(seg)[:28]
    ok, _ = diff_step(0, st, seg, encode(seg), expected, Observation(to_client=(icmp,)), "TTL-EXPIRE")
    assert all(d.ok for d in ok) and any("time-exceeded" in d.field for d in ok)
    relayed = Observation(to_server=(encode(seg),))
    bad, _ = diff_step(0, st, seg, encode(seg), expected, relayed, "TTL-EXPIRE")
    assert [(d.field, d.req) for d in bad if not d.ok] == [("to_server.count", "TTL-EXPIRE")]


@pytest.mark.req("DIR-ONLY")
@pytest.mark.parametrize("ttl, allowed", [(0, True), (1, True), (2, False), (64, False)])
def test_time_exceeded_for_a_foreign_segment_expiring_at_the_proxy_is_allowed(ttl: int, allowed: bool) -> None:
    """A segment of no leg with TTL 0 or 1 from the client: a proxy host that routes it on (SYNPROXY does)
    may answer with time-exceeded, as for the splice's own packets; with a TTL left, the error is extra."""
    import struct

    from splicecheck.conformance.cases_tcp import foreign
    from splicecheck.conformance.contract import Observation
    from splicecheck.conformance.diff import diff_step
    from splicecheck.conformance.model import Model, reference_state
    from splicecheck.reference.checksum import internet_checksum
    from splicecheck.reference.codec import decode, encode

    st = reference_state(WRAP)
    raw = bytearray(encode(foreign(st, sport=st.client.peer.port ^ 1)))
    raw[8] = ttl
    raw[10:12] = b"\0\0"
    raw[10:12] = struct.pack("!H", internet_checksum(bytes(raw[:20])))
    seg = decode(bytes(raw))
    expected = Model(st).relay(seg, 0.0)
    assert expected.direction is None
    icmp = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 56, 0, 0, 64, 1, 0, seg.ip.dst, seg.ip.src)
    icmp += struct.pack("!BBHI", 11, 0, 0, 0) + bytes(raw[:28])
    diffs, _ = diff_step(0, st, seg, bytes(raw), expected, Observation(to_client=(icmp,)), "DIR-ONLY")
    failing = [(d.field, d.req) for d in diffs if not d.ok]
    assert failing == ([] if allowed else [("to_client.count", "DIR-ONLY")])
    assert any("time-exceeded" in d.field for d in diffs) is allowed
    # towards the other end host it is not the sender's error: never allowed there
    other, _ = diff_step(0, st, seg, bytes(raw), expected, Observation(to_server=(icmp,)), "DIR-ONLY")
    assert [(d.field, d.req) for d in other if not d.ok] == [("to_server.count", "DIR-ONLY")]


@pytest.mark.req("ACK-NOACK")
@pytest.mark.parametrize("flags, req", [(PSH, "ACK-NOACK"), (FIN, "ACK-NOACK"), (0, "ACK-NOACK"),
                                        (ACK | PSH, "SEQ-MAP"), (FIN | ACK, "SEQ-MAP"), (RST, "SEQ-MAP")])
def test_a_segment_its_receiver_would_drop_unprocessed_is_ack_noacks_when_not_relayed(flags: int, req: str) -> None:
    """Not relaying a segment with none of SYN, RST and ACK is charged to ACK-NOACK (MAY: the receiver drops
    it at its ACK check, RFC 9293 3.10.7.4) in any case, not to the case's own requirement; a RST without
    ACK is acted on by its receiver, and a segment with ACK is processed: those stay the case's."""
    from splicecheck.conformance.contract import Observation
    from splicecheck.conformance.diff import diff_step
    from splicecheck.conformance.model import Model, reference_state
    from splicecheck.reference.codec import encode

    st = reference_state(WRAP)
    seg = from_client(st, 0, payload=b"" if flags & RST else b"data", flags=flags)
    expected = Model(st).relay(seg, 0.0)
    assert len(expected.emitted) == 1
    diffs, _ = diff_step(0, st, seg, encode(seg), expected, Observation(), "SEQ-MAP")
    assert [(d.field, d.req) for d in diffs if not d.ok] == [("to_server.count", req)]


def test_results_file_keeps_packets_of_cases_that_did_not_pass(tmp_path: Path) -> None:
    cases = [data_case(), Case("TTL-t", ("TTL-EXPIRE",), "x", "y",
                               lambda st: [from_client(st, 0, payload=b"a", ttl=1)], WRAP)]  # nothing relayed
    for evidence, kept in (("failing", [True, False]), ("all", [True, True])):
        path = tmp_path / f"{evidence}.jsonl"
        sink = JsonlSink(path, evidence)
        results = run(ReferenceAdapter(relay_fn=seq_off_by_one), cases, adapter_spec="m", sink=sink)
        sink.close()
        assert [r.verdict for r in results] == [Verdict.FAIL, Verdict.PASS]
        lines = [json.loads(x) for x in path.read_text().splitlines()][1:-1]
        assert [bool(x["steps"]) for x in lines] == kept
        assert lines[0]["checked"] > 20 and lines[1]["checked"] > 0  # the checks are counted either way
    with pytest.raises(ValueError):
        JsonlSink(None, "some")
