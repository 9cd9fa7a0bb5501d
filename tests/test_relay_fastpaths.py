"""The relay's fast paths held to the readable code they stand for: the option areas mapped from their bytes
(``_map_options``) against the general option loop, a decoded segment against its hand-built twin, and the
trace checker's unvalidated leg constructor against ``Leg(...)``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from splice_fixtures import CLIENT, PROXY_C, checksums_valid, seg, state, with_advance
from splicecheck.reference.arith import MASK32
from splicecheck.reference.codec import encode, lazy_layout, pull_options, push_options, serialise
from splicecheck.reference.relay import (
    Endpoint,
    Leg,
    Note,
    StripStyle,
    _map_options,
    _map_options_loop,
    leg_in_range,
    relay,
)
from splicecheck.reference.segment import (
    NOP,
    UNPARSED,
    MaxSegmentSize,
    NoOperation,
    Sack,
    SackPermitted,
    TcpHeader,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    pad_options,
)
from splicecheck.reference.seqspace import HALF

u32 = st.integers(0, MASK32)


# --- the option fast path: held to the general loop -----------------------------------------------


@st.composite
def option_lists(draw: st.DrawFn) -> tuple[TcpOption, ...]:
    """Option lists at and around the relay's fast layouts — NOP NOP TS, optionally NOP NOP SACK — with
    the shared ``NOP`` (as decoded) or fresh ``NoOperation()`` values (as built by hand), SACK edges
    near the base (clipped, dropped) or anywhere, and now and then another layout."""
    nop = draw(st.sampled_from([NOP, NOP, NOP, NoOperation()]))
    edge = st.one_of(u32, st.integers(5000 - 40, 5000 + 40))  # 5000: the client leg's splice_iss below
    opts: list[TcpOption] = [nop, nop, Timestamps(draw(u32), draw(u32))]
    other_layout = draw(st.integers(0, 4)) == 0
    k = draw(st.integers(0, 2 if other_layout else 3))  # leave room for one more option in 40 bytes
    if k:
        opts += [nop, nop, Sack(tuple(draw(st.tuples(edge, edge)) for _ in range(k)))]
    if other_layout and draw(st.booleans()):  # an option moved, replaced or added
        i = draw(st.integers(0, len(opts) - 1))
        other = draw(st.sampled_from([WindowScale(7), MaxSegmentSize(1460), UnknownOption(30, b"ab"), NOP]))
        opts[i:i + draw(st.integers(0, 1))] = [other]
        opts = list(pad_options(opts))
    elif other_layout:  # a NOP pair replaced by two options of 6 bytes: the fast layouts' shape, other kinds
        i = draw(st.sampled_from([0, 3] if k else [0]))
        opts[i:i + 2] = draw(st.sampled_from([[SackPermitted(), MaxSegmentSize(1460)],
                                              [UnknownOption(30, b"ab"), SackPermitted()]]))
    return tuple(opts)


both_legs_mostly = st.sampled_from([(True, True)] * 5 + [(True, False), (False, True), (False, False)])


@pytest.mark.req("TS-VAL", "TS-ECR", "SACK-MAP", "SACK-CLIP", "SACK-STRIP", "TS-STRIP", "OPT-PASS")
@settings(max_examples=1000, deadline=None)
@given(opts=option_lists(), ts=both_legs_mostly, sack=both_legs_mostly,
       advance=st.sampled_from([0, 1, 30, 1 << 30, HALF]), style=st.sampled_from(list(StripStyle)),
       lastrecv=u32, lastsent=u32)
def test_option_fast_path_agrees_with_the_loop(opts, ts, sack, advance, style, lastrecv, lastsent):
    """``_map_options`` (fast path where it applies) and ``_map_options_loop`` give the same options, the
    same bytes and the same notes, in the same order; the bytes are the options' encoding. The fast path
    is taken from the option values (a header built by hand) and from the option bytes (a decoded header
    that kept them, ``UNPARSED``); where it answers ``UNPARSED`` its options are its bytes, parsed."""
    st_ = state(c_iss=5000, s_irs=90000, c_timestamps=ts[0], s_timestamps=ts[1], c_sack=sack[0], s_sack=sack[1],
                c_lastrecv_ts=lastrecv, s_lastsent_ts=lastsent)
    slow_notes: list[Note] = []
    slow = _map_options_loop(opts, st_.client, st_.server, advance, style, slow_notes)
    built = TcpHeader(1, 2, options=opts)
    decoded = seg(st_, options=opts).tcp
    assert (decoded._options_wire is not None) == lazy_layout(push_options(opts))  # kept as bytes iff the layout
    for header in (built, decoded):
        fast_notes: list[Note] = []
        options, wire = _map_options(header, st_.client, st_.server, advance, style, fast_notes)
        if options is UNPARSED:
            options = pull_options(wire)
        assert (options, wire) == slow and fast_notes == slow_notes
        assert [type(o) for o in options] == [type(o) for o in slow[0]]
        assert push_options(options) == wire and len(wire) % 4 == 0


@pytest.mark.req("TS-VAL", "SACK-MAP", "SACK-CLIP", "TCPCSUM-VALID", "IPCSUM-VALID")
@settings(max_examples=300, deadline=None)
@given(opts=option_lists(), v6=st.booleans(), off=st.integers(-20, 20), n=st.integers(0, 40), advance=u32,
       style=st.sampled_from(list(StripStyle)))
def test_relay_of_decoded_and_hand_built_segments_agree(opts, v6, off, n, advance, style):
    """A decoded segment (wire bytes, shared NOPs: the fast paths) and its hand-built twin (no bytes,
    fresh NOPs: the general paths) are relayed to equal results; every output's attached bytes are
    its fields' encoding, with valid checksums."""
    st_ = with_advance(state(c_iss=5000, s_irs=90000, v6=v6, ts=True, sack=True, style=style), s2c=advance % (HALF + 1))
    fresh = tuple(NoOperation() if isinstance(o, NoOperation) else o for o in opts)
    args = {"seq": (1000 + off) & MASK32, "ack": 5000, "payload": bytes(range(n))}
    decoded = seg(st_, options=opts, **args)
    hand = seg(st_, options=fresh, sealed=False, **args)
    assert decoded._wire is not None and hand._wire is None
    result = relay(st_, decoded, 0.0)
    assert relay(st_, hand, 0.0) == result
    for out in result.segments:
        assert encode(out) == serialise(out) and checksums_valid(out)


@settings(max_examples=200, deadline=None)
@given(irs=st.integers(0, MASK32), iss=st.integers(0, MASK32), recv=st.integers(0, MASK32),
       sent=st.integers(0, MASK32), ts=st.booleans(), sack=st.booleans(),
       pws=st.none() | st.integers(0, 14), lws=st.none() | st.integers(0, 14), mss=st.integers(1, 0xFFFF),
       v6=st.booleans())
def test_leg_in_range_is_the_validated_leg(irs: int, iss: int, recv: int, sent: int, ts: bool, sack: bool,
                                           pws: int | None, lws: int | None, mss: int, v6: bool) -> None:
    """The trace checker's leg constructor without range checks builds the very leg ``Leg(...)`` does, its
    private derived fields (what the relay's hot path reads) included."""
    peer = Endpoint(bytes(range(1, 17)) if v6 else bytes([198, 18, 0, 2]), 40000)
    local = Endpoint(bytes(range(17, 33)) if v6 else bytes([198, 18, 0, 1]), 1080)
    args = (peer, local, irs, iss, ts, recv, sent, sack, pws, lws, mss)
    fast, checked = leg_in_range(*args), Leg(*args)
    assert fast == checked and type(fast) is Leg
    for name in Leg.__slots__:
        assert getattr(fast, name) == getattr(checked, name), name


def test_leg_in_range_still_checks_the_mss() -> None:
    """An MSS option may say 0: that is refused as ``Leg(...)`` refuses it."""
    args = (CLIENT, PROXY_C, 1, 2, True, 3, 4, True, 7, 0, 0)
    with pytest.raises(ValueError, match="peer_mss"):
        Leg(*args)
    with pytest.raises(ValueError, match="peer_mss"):
        leg_in_range(*args)
