"""Inferring splice parameters from captures, and the ``--params`` file that overrides them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from splicecheck.conformance.contract import Observation, PeerPlan, Scenario
from splicecheck.conformance.diff import diff_step
from splicecheck.conformance.model import Model
from splicecheck.conformance.trace.capture import PcapWriter, open_capture
from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine
from splicecheck.conformance.trace.link import LINKTYPE_RAW
from splicecheck.conformance.trace.params import (
    ParamsDump,
    ParamsError,
    load_params,
    parse_endpoint,
    parse_params,
    state_entry,
)
from splicecheck.reference.arith import MASK32
from splicecheck.reference.codec import decode
from splicecheck.reference.errors import MalformedSegment, SpliceCheckError
from splicecheck.reference.relay import Endpoint, Leg, RelayResult, SpliceState, StripStyle, direction_of
from splicecheck.reference.segment import addr
from trace_synth import ConnPlan, default_scenario, synth_pair

DATA = Path(__file__).parent / "data" / "trace"


def inferred(c: Path, s: Path, tmp: Path, **kw: object) -> list[dict[str, object]]:
    dump = ParamsDump(tmp / "params.json")
    TraceEngine(c, s, TraceConfig(**kw), dump=dump).run()  # type: ignore[arg-type]
    dump.close()
    return list(json.loads((tmp / "params.json").read_text())["connections"])


def truth(st: SpliceState) -> dict[str, object]:
    e = state_entry(st)
    return {"client_leg": e["client_leg"], "server_leg": e["server_leg"], "strip_style": e["strip_style"]}


def meaningful(entry: dict[str, object]) -> dict[str, object]:
    """A params entry without what the model never reads: a leg's timestamps when it does not use them."""
    out = dict(entry)
    out.pop("notes", None)
    for name in ("client_leg", "server_leg"):
        leg = dict(out[name])  # type: ignore[call-overload]
        if not leg["timestamps"]:
            leg.pop("lastrecv_ts")
            leg.pop("lastsent_ts")
        out[name] = leg
    return out


SCENARIOS = {
    "all-options-near-wrap": default_scenario(),
    "presplice-and-ok-message": default_scenario(client_presplice=30, server_presplice=11, ok_len=7),
    "ok-message-only": default_scenario(ok_len=2),
    "ipv6": default_scenario(family=6, client_presplice=3),
    "no-timestamps-on-server": default_scenario(server=PeerPlan(isn=77, mss=1200, wscale=4, sack_permitted=True)),
    "no-options-client": Scenario(client=PeerPlan(isn=MASK32, mss=None), server=PeerPlan(isn=0, tsval=5)),
    "client-without-df": default_scenario(client=PeerPlan(isn=5, df=False, tsval=9)),
    "proxy-isn-chosen": default_scenario(proxy_isn_c=MASK32, proxy_isn_d=0, proxy_tsval_c=MASK32, proxy_tsval_d=1),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("transparent", [False, True])
def test_inferred_parameters_are_the_sessions(tmp_path: Path, name: str, transparent: bool) -> None:
    """The reference adapter's session holds the constants; the trace must find exactly those."""
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    out = synth_pair(c, s, [ConnPlan(SCENARIOS[name], segments=40, transparent=transparent)], seed=4)
    (got,) = inferred(c, s, tmp_path)
    assert meaningful(got) == meaningful(truth(out.conns[0].state)), got["notes"]


def test_many_connections_each_their_own(tmp_path: Path) -> None:
    plans = [ConnPlan(default_scenario(client=PeerPlan(isn=i * 1_000_003, tsval=i * 7), ok_len=i % 3),
                      client_port=42000 + i, segments=15) for i in range(8)]
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    out = synth_pair(c, s, plans, seed=9, concurrent=4)
    got = {g["client_leg"]["peer"]: g for g in inferred(c, s, tmp_path)}  # type: ignore[index]
    for conn in out.conns:
        want = truth(conn.state)
        assert meaningful(got[want["client_leg"]["peer"]]) == meaningful(want)  # type: ignore[index]


def test_synproxy_recording_is_judged_as_it_was_live() -> None:
    """The live recording of Linux SYNPROXY (tests/data/trace): the trace checker, inferring everything
    from the pcaps, finds for every connection the differences that the live judgement finds — the
    model on the adapter's own splice state, diff_step on what the kernel emitted — step by step."""
    live = json.loads((DATA / "synproxy-live.json").read_text())
    results = {r.case: r for r in TraceEngine(DATA / "synproxy-client.pcap", DATA / "synproxy-server.pcap",
                                              TraceConfig(idle_timeout=0.5)).run()}

    def state_of(entry: dict[str, dict[str, object]]) -> SpliceState:
        legs = []
        for name in ("client_leg", "server_leg"):
            v = dict(entry[name])
            peer, local = parse_endpoint(str(v.pop("peer"))), parse_endpoint(str(v.pop("local")))
            legs.append(Leg(Endpoint(peer.addr, peer.port), Endpoint(local.addr, local.port), **v))  # type: ignore[arg-type]
        return SpliceState(legs[0], legs[1])

    for s in live["sessions"]:
        model = Model(state_of(s["state"]))
        expected = []
        for i, step in enumerate(s["steps"]):
            raw = bytes.fromhex(step["input"])
            before = model.state
            try:
                seg = decode(raw)
            except MalformedSegment:
                continue
            result = model.relay(seg, 0.0) if direction_of(before, seg) else RelayResult(None, ())
            obs = Observation(tuple(bytes.fromhex(x) for x in step["to_client"]),
                              tuple(bytes.fromhex(x) for x in step["to_server"]))
            diffs, _record = diff_step(i, before, seg, raw, result, obs, "SEQ-MAP")
            expected += [[d.step, d.field] for d in diffs if not d.ok]
        (r,) = [r for cid, r in results.items() if cid.startswith(f"trace/{s['client']}>")]
        got = sorted([d.step, d.field] for d in r.diffs if d.step >= 0)
        assert got == sorted(expected), (s["case"], r.reason)


def _without_handshakes(tmp_path: Path, transparent: bool, wscale: int | None = None) -> tuple[Path, Path]:
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    sc = default_scenario(client=PeerPlan(isn=MASK32 - 9, wscale=wscale, sack_permitted=True, tsval=MASK32),
                          server=PeerPlan(isn=1234, wscale=wscale, sack_permitted=True, tsval=99))
    synth_pair(c, s, [ConnPlan(sc, segments=60, sack=False, transparent=transparent)], seed=6)
    cut_c, cut_s = tmp_path / "cc.pcap", tmp_path / "cs.pcap"
    for src, dst in ((c, cut_c), (s, cut_s)):
        with open_capture(src) as r, PcapWriter(dst, LINKTYPE_RAW) as w:
            for i, (ts, _lt, ip, _o) in enumerate(r):
                if i >= 3:  # the three packets of each leg's handshake
                    w.write(ts, ip)
    return cut_c, cut_s


def test_midstream_capture_learns_from_the_first_copies(tmp_path: Path) -> None:
    """Without handshakes the offsets come from the box's first relayed copies, and the notes say so."""
    results = TraceEngine(*_without_handshakes(tmp_path, True), TraceConfig(match_timeout=0.001)).run()
    (conn,) = [r for r in results if r.case.startswith("trace/198.18.0.2:40000>")]
    assert "no complete handshake" in conn.expectation
    assert conn.verdict.value == "PASS", conn.reason
    assert conn.checked > 1000


def test_midstream_window_scales_come_from_the_params_file(tmp_path: Path) -> None:
    """Window scales are announced only in SYNs: without them windows cannot be judged (WS-* differ) until
    the params file says what the handshakes did."""
    c, s = _without_handshakes(tmp_path, True, wscale=5)
    (conn,) = [r for r in TraceEngine(c, s, TraceConfig(match_timeout=0.001)).run() if r.case.startswith("trace/1")]
    assert {d.req for d in conn.diffs} <= {"WS-EXACT", "WS-SAFE"} and conn.diffs
    scales = parse_params({"defaults": {"client_leg": {"peer_wscale": 5, "local_wscale": 0},
                                        "server_leg": {"peer_wscale": 5, "local_wscale": 5}}})
    (conn,) = [r for r in TraceEngine(c, s, TraceConfig(match_timeout=0.001, params=scales)).run()
               if r.case.startswith("trace/1")]
    assert conn.verdict.value == "PASS", conn.reason


def test_midstream_nat_capture_is_paired_by_the_params_file(tmp_path: Path) -> None:
    """Across a NAT without handshakes nothing says which flows belong together: one-sided flows (INFO),
    until the params file pins the pair."""
    c, s = _without_handshakes(tmp_path, False)
    alone = TraceEngine(c, s, TraceConfig(match_timeout=0.001)).run()
    assert {r.verdict.value for r in alone} == {"INFO"} and any("one-sided" in r.reason for r in alone)
    pin = parse_params({"connections": [{"client_leg": {"peer": "198.18.0.2:40000"},
                                         "server_leg": {"peer": "198.19.0.2:80", "local": "198.19.0.1:50000"}}]})
    (conn,) = [r for r in TraceEngine(c, s, TraceConfig(match_timeout=0.001, params=pin)).run()
               if r.case.startswith("trace/198.18.0.2:40000>")]
    assert conn.verdict.value == "PASS", conn.reason


# -- the params file ------------------------------------------------------------------------------------


def test_params_override_and_pin(tmp_path: Path) -> None:
    """A params file that lies about one constant makes the trace fail on what it governs."""
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    out = synth_pair(c, s, [ConnPlan(default_scenario(), segments=40)], seed=4)
    st = out.conns[0].state
    entry = state_entry(st)
    entry["client_leg"]["lastrecv_ts"] = (st.client.lastrecv_ts + 1) & MASK32  # type: ignore[index]
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"splicecheck-trace-params": 1, "connections": [entry]}))
    (r,) = TraceEngine(c, s, TraceConfig(params=load_params(p))).run()
    assert r.verdict.value == "FAIL"
    assert {d.req for d in r.diffs} == {"TS-VAL", "TS-ECR"}  # client TSvals out, and their echoes back
    assert "from --params" in r.expectation


def test_params_defaults_apply_to_every_connection(tmp_path: Path) -> None:
    p = parse_params({"defaults": {"strip_style": "remove", "server_leg": {"peer_mss": 1000}}})
    got = p.lookup(parse_endpoint("192.0.2.1:5"), None)
    assert got.strip_style is StripStyle.REMOVE and got.server_leg.values == {"peer_mss": 1000}


def test_params_dump_round_trip(tmp_path: Path) -> None:
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(ok_len=3), segments=20)], seed=1)
    dump = tmp_path / "dump.json"
    d = ParamsDump(dump)
    first = TraceEngine(c, s, TraceConfig(), dump=d).run()
    d.close()
    again = TraceEngine(c, s, TraceConfig(params=load_params(dump))).run()
    assert [(r.verdict, r.checked) for r in first] == [(r.verdict, r.checked) for r in again]


@pytest.mark.parametrize("obj,where", [
    ([], "JSON object"),
    ({"splicecheck-trace-params": 2}, "version 1"),
    ({"unknown": 1}, "unknown top-level"),
    ({"proxy": "198.18.0.1"}, "list of addresses"),
    ({"proxy": ["not-an-address"]}, "proxy[0]"),
    ({"connections": [{}]}, "client_leg.peer: required"),
    ({"connections": [{"client_leg": {"peer": "1.2.3.4"}}]}, "not addr:port"),
    ({"connections": [{"client_leg": {"peer": "1.2.3.4:5", "splice_irs": -1}}]}, "splice_irs"),
    ({"connections": [{"client_leg": {"peer": "1.2.3.4:5", "peer_wscale": 15}}]}, "peer_wscale"),
    ({"connections": [{"client_leg": {"peer": "1.2.3.4:5", "timestamps": 1}}]}, "true or false"),
    ({"connections": [{"client_leg": {"peer": "1.2.3.4:5", "bogus": 1}}]}, "unknown key 'bogus'"),
    ({"connections": [{"client_leg": {"peer": "1.2.3.4:5"}, "strip_style": "x"}]}, "strip_style"),
    ({"connections": [{"client_leg": {"peer": "1.2.3.4:5", "local": "[2001:db8::1]:1"}}]}, "address families"),
])
def test_params_errors_say_where(obj: object, where: str) -> None:
    with pytest.raises(ParamsError, match=where.replace("[", r"\[").replace("]", r"\]")) as exc:
        parse_params(obj)
    assert isinstance(exc.value, SpliceCheckError)


def test_params_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="no such params file"):
        load_params(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ParamsError, match="not JSON"):
        load_params(bad)


def test_endpoints() -> None:
    assert parse_endpoint("[2001:db8::1]:443").addr == addr("2001:db8::1")
    assert parse_endpoint("192.0.2.1:80").port == 80
    for bad in ("192.0.2.1", "192.0.2.1:99999", "host:80", 5):
        with pytest.raises(ParamsError):
            parse_endpoint(bad)  # type: ignore[arg-type]


def _syn_bytes(area: bytes) -> bytes:
    """An IPv4 SYN whose TCP option area is ``area`` (a multiple of 4 bytes; checksums left 0)."""
    import struct

    doff = 20 + len(area)
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1234, 0, (doff // 4) << 4, 0x02, 65535, 0, 0) + area
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, bytes(4), bytes(4)) + tcp


def test_linux_syn_area_read_in_place_is_the_codecs_reading() -> None:
    """A SYN whose options are Linux's area (MSS, SACK-permitted, Timestamps, NOP, window scale) has its offer
    and timestamps read from the bytes; they are those the codec's parse gives, whatever the values (a shift
    beyond 14, an MSS of 0), and any other area is parsed as before."""
    import random
    import struct

    from splicecheck.conformance.trace.infer import parse_pkt

    rng = random.Random(5)
    linux = [struct.pack("!BBHBBBBIIBBBB", 2, 4, mss, 4, 2, 8, 10, tsv, tse, 1, 3, 3, shift)
             for mss, shift, tsv, tse in [(1460, 7, 1, 0), (0, 0, 0, 0), (65535, 255, MASK32, MASK32), (536, 15, 9, 9)]
             + [(rng.randrange(1 << 16), rng.randrange(256), rng.randrange(1 << 32), rng.randrange(1 << 32))
                for _ in range(50)]]
    other = [struct.pack("!BBHBBBBBBBBII", 2, 4, 1400, 1, 3, 3, 5, 1, 1, 8, 10, 7, 0),  # MSS, NOP, WS, NOP NOP TS
             struct.pack("!BBIIBBHBBBBBB", 8, 10, 3, 4, 2, 4, 1200, 4, 2, 1, 0, 0, 0),  # TS first; EOL, padding
             struct.pack("!BBHBBBBIIBBBB", 2, 4, 1460, 4, 2, 8, 10, 1, 2, 1, 3, 4, 7),  # WS length 4: malformed
             struct.pack("!BBHBBBB", 2, 4, 1460, 1, 3, 3, 2)]  # no timestamps, 8 bytes
    for area in linux + other:
        ip = _syn_bytes(area)
        fresh, parsed = parse_pkt(0, 0, 0, True, ip, 20, False), parse_pkt(0, 0, 0, True, ip, 20, False)
        parsed.options  # noqa: B018  (parsed by the codec first: the general path)
        assert (fresh.syn_options, fresh._timestamps()) == (parsed.syn_options, parsed._timestamps())
        assert (fresh.parsed is None) == (area in linux)  # Linux's area was read in place, the others parsed


@pytest.mark.parametrize("capture", ["tso-cut", "gro-merged"])
def test_a_stream_cut_elsewhere_on_the_other_capture_is_relayed_data_from_its_first_piece(capture: str) -> None:
    """tso-cut: the server's 4344-byte super-segment (TSO at its capture) reaches the client as three segments,
    and the learning window ends after the first two: those are its first parts, not a suffix of it, yet
    relayed data, not bytes of the proxy's own (found when a loaded machine moved a real capture's window: every
    base was then taken for a pre-splice exchange's, and everything after graded against it). gro-merged: the
    client's capture (GRO) shows the box's three segments as one, which begins with the server's first."""
    from splicecheck.conformance.model import Addresses
    from splicecheck.conformance.trace.infer import CLIENT_LEG, SERVER_LEG, infer, parse_pkt
    from splicecheck.reference.codec import encode
    from splicecheck.reference.segment import ACK, PSH, SYN, IPv4Header, Segment, TcpHeader

    client, proxy_c = Endpoint(addr("198.18.0.2"), 40000), Endpoint(addr("198.18.0.1"), 80)
    proxy_d, server = Endpoint(addr("198.19.0.1"), 50000), Endpoint(addr("198.19.0.2"), 80)
    c_isn, p_isn_c, p_isn_d, s_isn = 1000, 0xFFFF_FF00, 7000, 0x7FFF_FFF0
    data = bytes(range(256)) * 17  # 4352 bytes, no 1448-byte piece repeats another

    def pkt(src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
        return encode(Segment(IPv4Header(src.addr, dst.addr), TcpHeader(src.port, dst.port, seq & MASK32, ack & MASK32,
                                                                         flags), payload))

    # (leg, from the peer?, packet): the two handshakes, then the server's data and the box's pieces of it
    flow = [(CLIENT_LEG, True, pkt(client, proxy_c, c_isn, 0, SYN)),
            (CLIENT_LEG, False, pkt(proxy_c, client, p_isn_c, c_isn + 1, SYN | ACK)),
            (CLIENT_LEG, True, pkt(client, proxy_c, c_isn + 1, p_isn_c + 1, ACK)),
            (SERVER_LEG, False, pkt(proxy_d, server, p_isn_d, 0, SYN)),
            (SERVER_LEG, True, pkt(server, proxy_d, s_isn, p_isn_d + 1, SYN | ACK)),
            (SERVER_LEG, False, pkt(proxy_d, server, p_isn_d + 1, s_isn + 1, ACK))]
    if capture == "tso-cut":
        flow.append((SERVER_LEG, True, pkt(server, proxy_d, s_isn + 1, p_isn_d + 1, PSH | ACK, data[:4344])))
        flow += [(CLIENT_LEG, False, pkt(proxy_c, client, p_isn_c + 1 + k, c_isn + 1, ACK, data[k:k + 1448]))
                 for k in (0, 1448)]
    else:
        flow += [(SERVER_LEG, True, pkt(server, proxy_d, s_isn + 1 + k, p_isn_d + 1, ACK, data[k:k + 1448]))
                 for k in (0, 1448, 2896)]
        flow.append((CLIENT_LEG, False, pkt(proxy_c, client, p_isn_c + 1, c_isn + 1, PSH | ACK, data[:4344])))
    pkts = [parse_pkt(i, 1000 * i, leg, peer, ip, 20, False) for i, (leg, peer, ip) in enumerate(flow)]
    inf = infer(pkts, Addresses(client, proxy_c, proxy_d, server))
    assert not inf.presplice, inf.notes
    assert (inf.state.server.splice_irs, inf.state.client.splice_iss) == ((s_isn + 1) & MASK32, (p_isn_c + 1) & MASK32)
    assert not any("offset by" in n for n in inf.notes), inf.notes  # the pieces agree with the handshakes


def test_a_trace_results_differences_read_their_own_steps_record() -> None:
    """A trace keeps the records of differing steps only, under the step numbers their differences carry: every
    difference on a packet of a leg finds, in its step's record, a packet on that leg (findings, the pcapng
    evidence and the upstream report read a step's record by the difference's step number)."""
    import re

    from splicecheck.conformance.results import step_record

    results = TraceEngine(DATA / "synproxy-client.pcap", DATA / "synproxy-server.pcap",
                          TraceConfig(idle_timeout=0.5)).run()
    checked = 0
    for r in results:
        for d in r.diffs:
            m = re.match(r"(to_client|to_server)\[(\d+)\]\.", d.field)
            rec = step_record(r, d.step) if m and not d.ok else None
            if rec is None or m is None:
                continue
            leg, k = m.group(1), int(m.group(2))
            packets = (rec.expected_to_client + rec.actual_to_client if leg == "to_client"
                       else rec.expected_to_server + rec.actual_to_server)
            assert k < len(packets), (r.case, d.step, d.field, rec.summary_input)
            checked += 1
    assert checked >= 5
