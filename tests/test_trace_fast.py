"""The trace checker's shortcuts agree with the full model: byte for byte, advance for advance, result for result.

The fast path (``conformance/trace/fast``) may only claim what the model says: for every segment it takes,
its expected packet must be exactly ``encode(relay(...))``, its key the relayed segment's, and the
direction's advance after it the relay's successor state's. And a whole trace judged with the
shortcuts (fast path, and the model's bytes standing for ``diff_step``) must give the same results
as the same trace judged by ``diff_step`` on every segment.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from splicecheck.conformance.case import from_client, from_server
from splicecheck.conformance.contract import PeerPlan
from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine
from splicecheck.conformance.trace.fast import FastTransform, fast_equal, output_key, seg_key
from splicecheck.reference.arith import MASK32
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.mapping import ADVANCE_LIMIT
from splicecheck.reference.relay import Direction, Endpoint, Leg, SpliceState, relay
from splicecheck.reference.segment import (
    ACK,
    AE,
    CWR,
    ECE,
    FIN,
    NOP,
    PSH,
    RST,
    SYN,
    URG,
    EndOfOptionList,
    MaxSegmentSize,
    Sack,
    Segment,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    addr,
)
from splicecheck.reference.seqspace import seq_add
from trace_synth import (
    ConnPlan,
    default_scenario,
    drop_every,
    duplicate_every,
    seq_off_by_one,
    synth_pair,
    ttl_kept,
)


def _u32(rng: random.Random) -> int:
    return rng.choice([rng.randrange(1 << 32), rng.randrange(16), MASK32 - rng.randrange(16),
                       (1 << 31) + rng.randrange(-8, 8)]) & MASK32


def random_state(rng: random.Random) -> SpliceState:
    v6 = rng.random() < 0.3

    def a(x4: str, x6: str) -> bytes:
        return addr(x6 if v6 else x4)

    def leg(peer: Endpoint, local: Endpoint) -> Leg:
        ws = rng.random() < 0.6
        return Leg(peer, local, _u32(rng), _u32(rng), timestamps=rng.random() < 0.8, lastrecv_ts=_u32(rng),
                   lastsent_ts=_u32(rng), sack=rng.random() < 0.8,
                   peer_wscale=rng.randrange(15) if ws else None, local_wscale=rng.randrange(15) if ws else None,
                   peer_mss=rng.choice([536, 1200, 1460, 65535]))

    client = leg(Endpoint(a("198.18.0.2", "2001:db8:1::2"), 40000), Endpoint(a("198.18.0.1", "2001:db8:1::1"), 1080))
    server = leg(Endpoint(a("198.19.0.2", "2001:db8:2::2"), 80), Endpoint(a("198.19.0.1", "2001:db8:2::1"), 50000))
    adv = [rng.choice([0, 0, rng.randrange(1 << 20), rng.randrange(1 << 31), ADVANCE_LIMIT]) for _ in range(2)]
    return SpliceState(client, server, c2s_advance=adv[0], s2c_advance=adv[1])


def random_options(rng: random.Random, leg: Leg) -> list[TcpOption]:
    def ts() -> Timestamps:
        return Timestamps(_u32(rng), _u32(rng))

    def sack(most: int = 4) -> Sack:
        base = leg.splice_iss
        blocks = []
        for _ in range(rng.randrange(1, most + 1)):
            left = seq_add(base, rng.choice([rng.randrange(1 << 20), -rng.randrange(1, 100), 0]))
            blocks.append((left, seq_add(left, rng.randrange(1, 3000))))
        return Sack(tuple(blocks))

    choice = rng.randrange(10)
    if choice == 0:
        return []
    if choice in (1, 2, 3):
        return [NOP, NOP, ts()]
    if choice == 4:
        return [NOP, NOP, ts(), NOP, NOP, sack(3)]
    if choice == 5:
        return [NOP, NOP, sack()]
    if choice == 6:
        return [ts(), EndOfOptionList(b"\x00")]
    if choice == 7:
        return [MaxSegmentSize(1000), NOP, NOP, ts()]
    if choice == 8:
        return [NOP, WindowScale(3), NOP, NOP, ts()]
    return [UnknownOption(30, b"ab"), NOP, NOP, ts()]


def random_segment(rng: random.Random, st: SpliceState, d: Direction) -> bytes:
    leg = st.client if d is Direction.C2S else st.server
    build = from_client if d is Direction.C2S else from_server
    flags = ACK if rng.random() < 0.9 else 0
    for bit, p in ((PSH, 0.5), (FIN, 0.05), (URG, 0.05), (ECE, 0.05), (CWR, 0.05), (AE, 0.02), (SYN, 0.03),
                   (RST, 0.03)):
        if rng.random() < p:
            flags |= bit
    size = rng.choice([0, 0, rng.randrange(1, 100), rng.randrange(100, 1600)])
    payload = bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1)
    payload = payload[:size]
    off = rng.choice([rng.randrange(1 << 20), rng.randrange(1 << 31), -rng.randrange(1, 50), 0, (1 << 31) - 5])
    urgent = rng.randrange(0, size + 2) if flags & URG else 0
    seg = build(st, off, ack_off=rng.randrange(-5, 1 << 20), flags=flags, payload=payload,
                window=rng.randrange(65536), urgent=urgent, options=random_options(rng, leg), ts=False,
                ttl=rng.choice([1, 2, 64, 255]), df=rng.random() < 0.8, tos=rng.randrange(256),
                ident=rng.randrange(65536))
    raw = bytearray(encode(seg))
    hl = seg.ip.header_length
    r = rng.random()
    if r < 0.05:  # a corrupt TCP checksum (CSUM-FAILSAFE territory)
        raw[hl + 17] ^= 0x01
    elif r < 0.08 and seg.ip.version == 4:  # a corrupt IP header checksum
        raw[11] ^= 0x10
    return bytes(raw)


@pytest.mark.parametrize("seed", range(6))
def test_fast_path_is_the_model_byte_for_byte(seed: int) -> None:
    rng = random.Random(seed)
    taken = 0
    tried = 0
    for _ in range(40):
        st = random_state(rng)
        for d in (Direction.C2S, Direction.S2C):
            xf = FastTransform(st, d)
            for _ in range(40):
                raw = random_segment(rng, st, d)
                tried += 1
                adv = st.advance(d)
                back = st.advance(Direction.S2C if d is Direction.C2S else Direction.C2S)
                exp = xf.expect(raw, adv, back)
                if exp is None:
                    continue
                taken += 1
                key, head, hlen, _shape, adv_after = exp
                result = relay(st, decode(raw), 0.0)
                assert len(result.emitted) == 1 and len(result.segments) == 1, result.notes
                out = encode(result.segments[0])
                assert fast_equal(head, hlen, raw, out), (decode(raw).summary(), result.segments[0].summary())
                t = result.segments[0].tcp
                assert key == seg_key(t.seq, t.ack, len(result.segments[0].payload), t.flags)
                ihl = 20 if raw[0] >> 4 == 4 else 40
                assert output_key(out, ihl) == key
                assert result.state is not None and result.state.advance(d) == adv_after
    assert taken > tried // 6, f"the fast path took only {taken} of {tried}: the test would prove little"


def test_fast_path_declines_what_it_cannot_do() -> None:
    """Trimming, MSS, TTL, SYN/RST, IPv4 options, options to strip: left to the model."""
    rng = random.Random(7)
    st = SpliceState(
        Leg(Endpoint(addr("198.18.0.2"), 1), Endpoint(addr("198.18.0.1"), 2), 1000, 5000, timestamps=True,
            sack=True, peer_mss=1460),
        Leg(Endpoint(addr("198.19.0.2"), 3), Endpoint(addr("198.19.0.1"), 4), 9000, 7000, timestamps=False,
            sack=True, peer_mss=100))
    xf = FastTransform(st, Direction.C2S)
    plain = from_client(st, 10, payload=b"x" * 50, ts=False)
    assert xf.expect(encode(plain), 0, 0) is not None
    for seg in (from_client(st, -5, payload=b"x" * 50, ts=False),  # straddles the base: trim
                from_client(st, 10, payload=b"x" * 101, ts=False),  # exceeds the out peer's MSS with DF
                from_client(st, 10, payload=b"x", ttl=1, ts=False),
                from_client(st, 10, flags=SYN | ACK, ts=False),
                from_client(st, 10, flags=RST, ts=False),
                from_client(st, 10, ip_options=b"\x01\x01\x01\x00", ts=False),
                from_client(st, 10, options=[NOP, NOP, Timestamps(1, 2)], ts=False),  # TS to strip (D has none)
                from_client(st, 10, options=[MaxSegmentSize(100)], ts=False)):
        assert xf.expect(encode(seg), 0, 0) is None, seg.summary()
    del rng


def test_advance_threads_like_the_model_across_2gib() -> None:
    """A long stream, segment after segment: the fast path's advance is the relay's successor state's."""
    st = SpliceState(
        Leg(Endpoint(addr("198.18.0.2"), 1), Endpoint(addr("198.18.0.1"), 2), MASK32 - 1000, 5, peer_mss=65535),
        Leg(Endpoint(addr("198.19.0.2"), 3), Endpoint(addr("198.19.0.1"), 4), 77, 123, peer_mss=65535))
    xf = FastTransform(st, Direction.C2S)
    adv = 0
    model = st
    off = 0
    step = 1 << 26  # 64 MiB jumps (within a window) to cross 2 GiB in a few dozen segments
    n_fast = 0
    while off < (1 << 31) + 4 * step:
        seg = from_client(model, 0, seq=seq_add(st.client.splice_irs, off), payload=b"d" * 100, ts=False)
        raw = encode(seg)
        exp = xf.expect(raw, adv, 0)
        result = relay(model, seg, 0.0)
        assert result.state is not None
        if exp is not None:
            n_fast += 1
            assert exp[4] == result.state.c2s_advance
            adv = exp[4]
        else:
            adv = result.state.c2s_advance
        model = result.state
        off += step
    assert model.c2s_advance == ADVANCE_LIMIT and n_fast > 30


# -- whole traces: shortcuts on and off --------------------------------------------------------------------


def _run(c: Path, s: Path, **kw: object) -> list[tuple[object, ...]]:
    eng = TraceEngine(c, s, TraceConfig(match_timeout=0.001, **kw))  # type: ignore[arg-type]
    return [(r.case, r.verdict, r.checked, tuple(r.reqs),
             tuple(sorted((d.step, d.packet, d.field, str(d.expected), str(d.actual), d.req) for d in r.diffs)),
             r.reason) for r in eng.run()]


SCENARIOS = {
    "plain": ([ConnPlan(default_scenario(), segments=150)], None),
    "v6-presplice": ([ConnPlan(default_scenario(family=6, client_presplice=9, ok_len=4), segments=120)], None),
    "no-ts-one-leg": ([ConnPlan(default_scenario(server=PeerPlan(isn=5, wscale=3, sack_permitted=True)),
                                segments=120)], None),
    "transparent-concurrent": ([ConnPlan(default_scenario(), segments=60, transparent=True, client_port=41000 + i)
                                for i in range(4)], None),
    "seq-off-by-one": ([ConnPlan(default_scenario(), segments=80)], seq_off_by_one),
    "drops": ([ConnPlan(default_scenario(), segments=80)], "drop"),
    "duplicates": ([ConnPlan(default_scenario(), segments=80)], "dup"),
    "ttl-kept": ([ConnPlan(default_scenario(), segments=80)], ttl_kept),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_shortcuts_agree_with_diff_step_on_whole_traces(tmp_path: Path, name: str) -> None:
    plans, mutant = SCENARIOS[name]
    fn = drop_every(7) if mutant == "drop" else duplicate_every(7) if mutant == "dup" else mutant or relay
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcapng"
    synth_pair(c, s, plans, relay_fn=fn, seed=11, formats=("pcap", "pcapng"), concurrent=2)  # type: ignore[arg-type]
    fast = _run(c, s)
    full = _run(c, s, fast=False, verify_every=1)
    assert fast == full


def test_a_lying_fast_path_is_caught_and_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one way a shortcut could pass a broken box: a fast path with the box's very bug. Make the fast
    path expect what the seq-off-by-one mutant emits: the first fast PASS of each shape is re-judged by
    diff_step, which finds the difference, turns the shape off, and the results are the honest ones."""
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), segments=150)], relay_fn=seq_off_by_one, seed=5)
    honest = _run(c, s, fast=False, verify_every=1)

    states: dict[int, tuple[SpliceState, Direction]] = {}
    real_init, real_expect = FastTransform.__init__, FastTransform.expect

    def init(self: FastTransform, state: SpliceState, d: Direction) -> None:
        real_init(self, state, d)
        states[id(self)] = (state, d)

    def lying(self: FastTransform, ip: bytes, advance: int, advance_back: int = 0):  # type: ignore[no-untyped-def]
        exp = real_expect(self, ip, advance, advance_back)
        if exp is None:
            return None
        st, d = states[id(self)]
        a, b = (advance, advance_back) if d is Direction.C2S else (advance_back, advance)
        out = seq_off_by_one(replace(st, c2s_advance=a, s2c_advance=b), decode(ip), 0.0).segments[0]
        wire = encode(out)
        t = out.tcp
        return seg_key(t.seq, t.ack, len(out.payload), t.flags), wire[:exp[2]], exp[2], exp[3], exp[4]

    monkeypatch.setattr(FastTransform, "__init__", init)
    monkeypatch.setattr(FastTransform, "expect", lying)
    eng = TraceEngine(c, s, TraceConfig(match_timeout=0.001))
    got = [(r.case, r.verdict, r.checked, tuple(r.reqs), tuple(sorted((d.step, d.packet, d.field, str(d.expected),
                                                                         str(d.actual), d.req) for d in r.diffs)),
            r.reason) for r in eng.run()]
    assert got == honest
    assert eng.shared.disagreements >= 1 and eng.shared.unsafe
    assert eng.shared.fast == 0  # never a shortcut PASS for a shape found lying


def test_segment_types_used() -> None:
    """The generator above builds every kind of segment the fast path has to say no to."""
    assert {type(o) for o in random_options(random.Random(1), random_state(random.Random(1)).client)} <= {
        type(NOP), Timestamps, Sack, EndOfOptionList, MaxSegmentSize, WindowScale, UnknownOption}
    assert isinstance(decode(random_segment(random.Random(2), random_state(random.Random(2)), Direction.C2S)),
                      Segment)
