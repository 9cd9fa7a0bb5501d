"""Findings: departures grouped by root cause (conformance/findings.py), on synthetic results."""

from __future__ import annotations

from reports_fixtures import _hex, _out, _step, _tweak
from splice_fixtures import CLIENT, PROXY_C, PROXY_D, SERVER, seg, state
from splicecheck.conformance.findings import finding_id, findings
from splicecheck.conformance.results import CaseResult, FieldDiff, Geometry, StepRecord, Verdict, case_verdict
from splicecheck.reference.codec import encode
from splicecheck.reference.icmp import PacketTooBig, encode_icmp
from splicecheck.reference.segment import ACK, PSH, RST, SYN, UnknownOption

ST = state()


def _window_case(k: int) -> CaseResult:
    """The window relayed as it came (not rescaled): the same root cause, another case and window each time."""
    inp = seg(ST, seq=1000 + k, ack=70000, window=100 + k)
    exp = _out(PROXY_D, SERVER, 90000 + k, 5000, flags=ACK)
    steps = [_step(inp, exp, _tweak(exp, window=100 + k))] * (k % 3 + 1)
    diffs = [FieldDiff(0, 0, "to_server[0].tcp.window", 25 + k, 100 + k, "WS-EXACT"),
             FieldDiff(0, 0, "to_server[0].tcp.window believed <= real", True, False, "WS-SAFE")]
    reqs = ["WS-EXACT"] if k % 2 else ["WS-SAFE"]
    return CaseResult(f"WS/case-{k}", reqs, case_verdict(reqs, diffs), diffs=diffs, steps=steps,
                      repro=f"splicecheck run --case WS/case-{k}")


def _ttl_case(k: int) -> CaseResult:
    inp = seg(ST, seq=1000, ack=70000, ttl=64)
    exp = _out(PROXY_D, SERVER, 90000, 5000)
    diffs = [FieldDiff(0, 0, "to_server[0].ip.ttl", 63, 64, "TTL-DEC")]
    return CaseResult(f"TTL/case-{k}", ["TTL-DEC"], case_verdict(["TTL-DEC"], diffs), diffs=diffs,
                      steps=[_step(inp, exp, exp)], repro=f"splicecheck run --case TTL/case-{k}")


def _dropped_rst_case(k: int) -> CaseResult:
    """A RST the IUT does not relay (step 0); every later difference is its consequence."""
    rst = seg(ST, seq=1000, ack=70000, flags=RST | ACK)
    exp_rst = _out(PROXY_D, SERVER, 90000, 5000, flags=RST | ACK)
    data = seg(ST, seq=1000, ack=70000, flags=PSH | ACK, payload=b"x")
    exp = _out(PROXY_D, SERVER, 90000, 5000, b"x", flags=PSH | ACK)
    steps = [_step(rst, exp_rst, None), _step(data, None, exp)]
    diffs = [FieldDiff(0, -1, "to_server.count", 1, 0, "FLAGS-KEEP"),
             FieldDiff(1, -1, "to_server.count", 0, 1, "SEQ-MAP"),
             FieldDiff(1, 0, "to_server[0].tcp.seq", 1, 2 + k, "SEQ-MAP")]
    return CaseResult(f"RST/case-{k}", ["FLAGS-KEEP"], case_verdict(["FLAGS-KEEP"], diffs), diffs=diffs,
                      steps=steps, repro=f"splicecheck run --case RST/case-{k}")


def test_one_root_cause_over_many_cases_and_fields_is_one_finding() -> None:
    found = findings([_window_case(k) for k in range(6)])
    assert len(found) == 1
    f = found[0]
    assert f.cases == [f"WS/case-{k}" for k in range(6)]
    assert f.reqs == ["WS-SAFE", "WS-EXACT"] and f.level == "MUST" and f.verdict == "FAIL"
    assert f.signature["relation"] == "unchanged"
    assert "window" in f.title and "passed through unchanged" in f.title
    assert f.smallest == "WS/case-0" and f.repro == "splicecheck run --case WS/case-0"  # one step: the fewest
    assert f.id == finding_id(f.signature) and f.id.startswith("F-")


def test_two_distinct_departures_are_two_findings_strongest_first() -> None:
    found = findings([_ttl_case(1), _window_case(1), _ttl_case(2), _window_case(2)])
    assert [len(f.cases) for f in found] == [2, 2]
    assert found[0].verdict == "FAIL" and found[1].reqs == ["TTL-DEC"]
    assert "TTL" in found[1].title and "unchanged" in found[1].title
    assert findings([_ttl_case(2), _window_case(2)])[0].id == found[0].id  # stable, order-independent


def test_consequences_fold_into_the_first_divergence() -> None:
    cases = [_dropped_rst_case(k) for k in range(3)]
    assert all(d.consequence_of == "FLAGS-KEEP" for d in cases[0].diffs if d.step == 1)
    found = findings(cases)
    assert len(found) == 1
    f = found[0]
    assert f.signature == {"kind": "dropped", "flags": "RA"} and f.legs == ["to_server"]
    assert f.title.startswith("RST+ACK segment not relayed to the server")
    assert f.reqs == ["FLAGS-KEEP"] and f.consequence_reqs == ["SEQ-MAP"]


def test_offset_constant_kept_only_when_the_same_everywhere() -> None:
    def case(k: int, delta: int) -> CaseResult:
        inp = seg(ST, seq=1000, ack=70000)
        exp = _out(PROXY_D, SERVER, 90000, 5000)
        diffs = [FieldDiff(0, 0, "to_server[0].tcp.seq", 90000, (90000 + delta) % 2**32, "SEQ-MAP")]
        return CaseResult(f"SEQ/{k}", ["SEQ-MAP"], Verdict.FAIL, diffs=diffs, steps=[_step(inp, exp, exp)])

    same = findings([case(k, -1) for k in range(3)])
    assert len(same) == 1 and same[0].constant == -1 and "off by -1" in same[0].title
    varying = findings([case(0, -1), case(1, 5)])
    assert len(varying) == 1 and varying[0].constant is None and "varying amount" in varying[0].title


def test_extra_packet_and_passing_cases() -> None:
    inp = seg(ST, seq=1000, ack=70000)
    exp = _out(PROXY_D, SERVER, 90000, 5000)
    rec = StepRecord("client", _hex(inp), expected_to_server=[_hex(exp)], actual_to_server=[_hex(exp), _hex(exp)])
    diffs = [FieldDiff(0, -1, "to_server.count", 1, 2, "SEQ-MAP")]
    extra = CaseResult("X/1", ["SEQ-MAP"], Verdict.FAIL, diffs=diffs, steps=[rec])
    found = findings([extra, CaseResult("P/1", ["SEQ-MAP"], Verdict.PASS)])
    assert [f.signature for f in found] == [{"kind": "extra", "flags": "A"}]
    assert found[0].title.startswith("extra ACK segment sent to the server")


def test_an_extra_packet_where_the_model_emits_none_for_what_the_input_is_is_its_own_finding() -> None:
    """Relaying an ACK the model drops as foreign (DIR-ONLY), one it answers with an ICMP error as too big
    (MSS-ICMP) and one it is silent for after the connection closed are three behaviours (a NAT router routing
    another 4-tuple, a box enforcing no MSS, conntrack passing an ACK after a RST), not one "extra ACK"."""
    inp = seg(ST, seq=1000, ack=70000)
    exp = _out(PROXY_D, SERVER, 90000, 5000)

    def case(name: str, req: str) -> CaseResult:
        rec = StepRecord("client", _hex(inp), actual_to_server=[_hex(exp)])
        diffs = [FieldDiff(0, -1, "to_server.count", 0, 1, req)]
        return CaseResult(name, [req], Verdict.FAIL, diffs=diffs, steps=[rec])

    found = findings([case("F/1", "DIR-ONLY"), case("M/1", "MSS-ICMP"), case("C/1", "SEQ-MAP"),
                      case("F/2", "DIR-ONLY")])
    by_case = {f.cases[0]: f for f in found}
    assert len(found) == 3 and by_case["F/1"].cases == ["F/1", "F/2"]
    assert by_case["F/1"].signature == {"kind": "extra", "flags": "*", "input": "DIR-ONLY"}
    assert by_case["M/1"].signature == {"kind": "extra", "flags": "*", "input": "MSS-ICMP"}
    assert by_case["C/1"].signature == {"kind": "extra", "flags": "A"}
    assert "another 4-tuple" in by_case["F/1"].title and "ICMP error" in by_case["M/1"].title
    assert "(the model emits none)" in by_case["C/1"].title


def test_a_window_not_rescaled_on_a_rst_is_the_same_finding_as_on_data_but_a_seq_is_not() -> None:
    """A RST's receiver reads no window (RST-FIELDS), so its window passed through is where the window behaviour
    shows; its sequence number it does read, so a RST's seq off is a behaviour of its own."""
    def case(name: str, flags: int, fld: str, exp_v: int, act_v: int, req: str) -> CaseResult:
        inp = seg(ST, seq=1000, ack=70000, flags=flags, window=100)
        exp = _out(PROXY_D, SERVER, 90000, 5000, flags=flags)
        diffs = [FieldDiff(0, 0, f"to_server[0].tcp.{fld}", exp_v, act_v, req)]
        return CaseResult(name, [req], case_verdict([req], diffs), diffs=diffs, steps=[_step(inp, exp, exp)])

    windows = findings([case("W/data", ACK, "window", 25, 100, "WS-EXACT"),
                        case("W/rst", RST | ACK, "window", 25, 100, "RST-FIELDS")])
    assert len(windows) == 1 and windows[0].cases == ["W/data", "W/rst"] and "control" not in windows[0].signature
    seqs = findings([case("S/data", ACK, "seq", 90000, 90001, "SEQ-MAP"),
                     case("S/rst", RST | ACK, "seq", 90000, 90001, "SEQ-MAP")])
    assert sorted(f.signature.get("control", "") for f in seqs) == ["", "R"]


def test_a_number_passed_through_behind_the_base_is_apart_from_one_passed_through_ahead_of_it() -> None:
    """A sequence or acknowledgment number passed through unchanged where it lies behind the in leg's base (an
    old number, which NAT sequence adjustment maps with its offset from before the rewrite) is another behaviour
    than one passed through 2^31 ahead of it (a 32-bit comparison taking a new number for old); a result
    recorded without the ack's base keeps the plain relation."""
    def case(name: str, fld: str, value: int, ack_base: int | None = 70000) -> CaseResult:
        inp = seg(ST, seq=value if fld == "seq" else 1000, ack=value if fld == "ack" else 70000)
        exp = _out(PROXY_D, SERVER, 90000, 5000)
        act = _tweak(exp, **{fld: value})
        diffs = [FieldDiff(0, 0, f"to_server[0].tcp.{fld}", 12345, value, "SEQ-MAP" if fld == "seq" else "ACK-MAP")]
        geo = [Geometry(1000, 90000, inp.tcp.seq, 0, "c2s", ack_base)]
        return CaseResult(name, [diffs[0].req], Verdict.FAIL, diffs=diffs, steps=[_step(inp, exp, act)],
                          geometry=geo)

    found = findings([case("S/behind", "seq", 990), case("S/ahead", "seq", 1000 + 2**31 + 10),
                      case("A/behind", "ack", 69000), case("A/ahead", "ack", 70000 + 2**31),
                      case("A/unknown", "ack", 69000, ack_base=None)])
    by_case = {c: f for f in found for c in f.cases}
    assert by_case["S/behind"].signature["relation"] == "unchanged behind the base"
    assert by_case["A/behind"].signature["relation"] == "unchanged behind the base"
    assert by_case["S/ahead"].signature["relation"] == by_case["A/ahead"].signature["relation"] == "unchanged"
    assert by_case["A/unknown"] is by_case["A/ahead"]
    assert len(found) == 4
    assert by_case["A/behind"].title.startswith("acknowledgment number behind the base passed through unchanged "
                                                "towards the server")


def test_a_syn_of_the_box_s_own_in_place_of_the_model_s_icmp_error_is_the_own_syn_finding() -> None:
    """An oversized SYN-bearing segment the model answers with an ICMP error and the box with a SYN-ACK of its
    own (SYNPROXY's cookie reply) on the same leg: the box's own SYN, as when that SYN-ACK comes beside the ICMP
    error, not "ICMP error missing"; an ACK in the ICMP error's place is another kind of packet."""
    inp = seg(ST, seq=1000, ack=70000, flags=ACK, payload=b"x" * 1500)
    icmp = encode_icmp(PacketTooBig(SERVER.addr, CLIENT.addr, 576, encode(inp))).hex()

    def case(name: str, flags: int) -> CaseResult:
        act = _out(PROXY_C, CLIENT, 4127591681, 0, flags=flags)
        rec = StepRecord("client", _hex(inp), expected_to_client=[icmp], actual_to_client=[_hex(act)])
        diffs = [FieldDiff(0, 0, "to_client[0].icmp", [3, 4, 576], None, "MSS-ICMP")]
        return CaseResult(name, ["MSS-ICMP"], Verdict.FAIL, diffs=diffs, steps=[rec])

    found = findings([case("own", SYN | ACK), case("ack", ACK)])
    by_case = {f.cases[0]: f for f in found}
    assert by_case["own"].signature == {"kind": "own SYN", "flags": "SA"}
    assert by_case["ack"].signature == {"kind": "replaced", "expected": "ICMP type 3", "actual": "A"}
    assert by_case["ack"].title.startswith("ACK segment sent to the client in place of the ICMP type 3 error the "
                                           "model sends")


def test_a_step_without_geometry_does_not_hide_the_next_steps_base() -> None:
    """A foreign segment's step has no geometry (no direction); the RST after it relayed at the out leg's
    splice_iss is still "at splice_iss" (the geometry says which step it is), not an offset; results that do
    not say keep the old rule (one geometry per step, or none used)."""
    st = state()
    foreign = seg(st, seq=1000, ack=70000)
    rst = seg(ST, seq=990, ack=70000, flags=RST | ACK)
    exp = _out(PROXY_D, SERVER, 89990, 5000, flags=RST | ACK)
    act = _tweak(exp, seq=90000)

    def case(step_known: bool) -> CaseResult:
        geo = [Geometry(1000, 90000, 990, 0, "c2s", 70000, 1 if step_known else None)]
        diffs = [FieldDiff(1, 0, "to_server[0].tcp.seq", 89990, 90000, "SEQ-MAP")]
        steps = [_step(foreign, None, None), _step(rst, exp, act)]
        return CaseResult("R/1", ["SEQ-MAP"], Verdict.FAIL, diffs=diffs, steps=steps, geometry=geo)

    (known,) = findings([case(True)])
    assert known.signature == {"kind": "field", "family": "tcp.seq", "relation": "at splice_iss", "control": "R"}
    (old,) = findings([case(False)])
    assert old.signature["relation"] == "offset"


def test_a_rst_s_option_values_not_mapped_are_the_mapping_rule_s_finding() -> None:
    """A RST's Timestamps and SACK values are graded RST-FIELDS (no receiver reads them), but a box that leaves
    TSval unmapped does so on every segment: one finding with the data segments' (TS-VAL's), not one per
    grade."""
    def case(name: str, flags: int, req: str) -> CaseResult:
        inp = seg(ST, seq=1000, ack=70000, flags=flags)
        exp = _out(PROXY_D, SERVER, 90000, 5000, flags=flags)
        diffs = [FieldDiff(0, 0, "to_server[0].tcp.options.TS.tsval", 1234, 5678, req)]
        return CaseResult(name, [req], case_verdict([req], diffs), diffs=diffs, steps=[_step(inp, exp, exp)])

    found = findings([case("T/data", ACK, "TS-VAL"), case("T/rst", RST | ACK, "RST-FIELDS")])
    assert len(found) == 1 and found[0].cases == ["T/data", "T/rst"]
    assert found[0].signature["req"] == "TS-VAL" and found[0].signature["field"] == "tsval"


def test_a_packet_whose_option_area_cannot_be_walked_is_labelled_by_its_flags() -> None:
    """Its header is still read (relay-unwalkable relays such packets): a SYN with an option of length 0 is a
    SYN to the findings, not "malformed"; a packet whose headers cannot be read at all still is."""
    from splicecheck.conformance.findings import packet_label

    raw = bytearray(encode(seg(state(), flags=SYN, options=[UnknownOption(253, b"\x00\x00")])))
    raw[-4:-2] = b"\xfd\x00"  # kind 253, length 0: the walk cannot go on
    assert packet_label(bytes(raw).hex()) == "S"
    raw[0] = 0x44  # IHL 4: no IPv4 header
    assert packet_label(bytes(raw).hex()) == "malformed"
