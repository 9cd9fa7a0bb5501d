"""Every Malformation the codec names, and its totality: random bytes and mutations give a Segment or a
MalformedSegment, never a crash; its fast paths agree with the general ones."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from codec_fixtures import CASE, DST4, DST6, EOL0, IP_OPTION_CASES, SRC4, SRC6, scapy_segment
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from splicecheck.reference.codec import decode, encode, pull_options, push_options, serialise
from splicecheck.reference.errors import Malformation, MalformedSegment
from splicecheck.reference.segment import (
    ACK,
    NOP,
    SYN,
    EndOfOptionList,
    IPv4Header,
    IPv6Header,
    MaxSegmentSize,
    OpaqueRest,
    Sack,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    UnknownOption,
    addr,
)

# --------------------------------------------------------------------------------------------------
# Every Malformation
# --------------------------------------------------------------------------------------------------


def _set_total_length(raw: bytes) -> bytes:
    """Make the IP length field agree with the byte count again (after an edit)."""
    b = bytearray(raw)
    if b[0] >> 4 == 4:
        struct.pack_into("!H", b, 2, len(b))
    else:
        struct.pack_into("!H", b, 4, len(b) - 40)
    return bytes(b)


def _with_option_area(area: bytes, version: int = 4) -> bytes:
    """A scapy packet whose TCP option area is exactly ``area`` (carried as Raw after a 20-byte header)."""
    assert len(area) % 4 == 0
    return bytes(scapy_segment(version, tcp={"dataofs": 5 + len(area) // 4}, payload=area))


V4 = bytes(scapy_segment(4, tcp={"options": [("MSS", 1460)]}, payload=b"abcd"))
V6 = bytes(scapy_segment(6, tcp={"options": [("MSS", 1460)]}, payload=b"abcd"))


def _patch(raw: bytes, offset: int, value: int) -> bytes:
    b = bytearray(raw)
    b[offset] = value
    return bytes(b)


MALFORMED: list[tuple[str, bytes, Malformation, int | None]] = [
    ("empty", b"", Malformation.EMPTY, None),
    ("v4-truncated-ip-header", V4[:19], Malformation.TRUNCATED_IP_HEADER, None),
    ("v4-one-byte", b"\x45", Malformation.TRUNCATED_IP_HEADER, None),
    ("v6-truncated-ip-header", V6[:39], Malformation.TRUNCATED_IP_HEADER, None),
    ("v4-ihl-past-end", _patch(V4[:40], 0, 0x4F), Malformation.TRUNCATED_IP_HEADER, None),
    ("bad-version-0", _patch(V4, 0, 0x05), Malformation.BAD_IP_VERSION, 0),
    ("bad-version-5", _patch(V4, 0, 0x55), Malformation.BAD_IP_VERSION, 0),
    ("bad-version-15", _patch(V6, 0, 0xF0), Malformation.BAD_IP_VERSION, 0),
    ("ihl-4", _patch(V4, 0, 0x44), Malformation.BAD_IHL, 0),
    ("ihl-0", _patch(V4, 0, 0x40), Malformation.BAD_IHL, 0),
    ("v4-total-length-too-big", V4[:-1], Malformation.TOTAL_LENGTH_MISMATCH, 2),
    ("v4-total-length-too-small", V4 + b"\x00" * 6, Malformation.TOTAL_LENGTH_MISMATCH, 2),
    ("v6-payload-length-too-big", V6[:-1], Malformation.TOTAL_LENGTH_MISMATCH, 4),
    ("v6-payload-length-too-small", V6 + b"\x00", Malformation.TOTAL_LENGTH_MISMATCH, 4),
    ("v4-more-fragments", bytes(scapy_segment(ip={"flags": "MF"})), Malformation.FRAGMENT, 6),
    ("v4-fragment-offset", bytes(scapy_segment(ip={"frag": 185})), Malformation.FRAGMENT, 6),
    ("v4-fragment-offset-df", bytes(scapy_segment(ip={"frag": 1, "flags": "DF"})), Malformation.FRAGMENT, 6),
    ("v4-udp", _patch(V4, 9, 17), Malformation.NOT_TCP, 9),
    ("v4-icmp", _patch(V4, 9, 1), Malformation.NOT_TCP, 9),
    ("v6-udp", _patch(V6, 6, 17), Malformation.NOT_TCP, 6),
    ("v6-no-next-header", _patch(V6, 6, 59), Malformation.NOT_TCP, 6),
    ("v6-hop-by-hop", bytes(IPv6(src=SRC6, dst=DST6) / IPv6ExtHdrHopByHop() / TCP()),
     Malformation.UNSUPPORTED_IPV6_EXTENSION, 6),
    ("v6-routing", bytes(IPv6(src=SRC6, dst=DST6) / IPv6ExtHdrRouting() / TCP()),
     Malformation.UNSUPPORTED_IPV6_EXTENSION, 6),
    ("v6-fragment", bytes(IPv6(src=SRC6, dst=DST6) / IPv6ExtHdrFragment() / TCP()),
     Malformation.UNSUPPORTED_IPV6_EXTENSION, 6),
    ("v4-truncated-tcp-header", _set_total_length(V4[:20 + 19]), Malformation.TRUNCATED_TCP_HEADER, 20),
    ("v4-no-tcp-header", _set_total_length(V4[:20]), Malformation.TRUNCATED_TCP_HEADER, 20),
    ("v6-truncated-tcp-header", _set_total_length(V6[:40 + 12]), Malformation.TRUNCATED_TCP_HEADER, 40),
    ("data-offset-4", bytes(scapy_segment(tcp={"dataofs": 4})), Malformation.BAD_DATA_OFFSET, 32),
    ("data-offset-0", bytes(scapy_segment(6, tcp={"dataofs": 0}, payload=b"x" * 30)), Malformation.BAD_DATA_OFFSET,
     52),
    ("data-offset-past-end", bytes(scapy_segment(tcp={"dataofs": 6})), Malformation.DATA_OFFSET_PAST_END, 32),
    ("data-offset-15-short", bytes(scapy_segment(6, tcp={"dataofs": 15}, payload=bytes(39))),
     Malformation.DATA_OFFSET_PAST_END, 52),
    ("option-length-0", _with_option_area(b"\x1e\x00\x00\x00"), Malformation.BAD_OPTION_LENGTH, 40),
    ("option-length-1", _with_option_area(b"\x01\x02\x01\x00"), Malformation.BAD_OPTION_LENGTH, 41),
    ("mss-length-0-v6", _with_option_area(b"\x01\x01\x02\x00", 6), Malformation.BAD_OPTION_LENGTH, 62),
    ("option-overrun", _with_option_area(b"\x01\x01\x02\x04"), Malformation.OPTION_OVERRUN, 42),
    ("ts-overrun", _with_option_area(b"\x08\x0a" + bytes(6)), Malformation.OPTION_OVERRUN, 40),
    ("option-overrun-max", _with_option_area(b"\x01\x1e\xfe" + bytes(37)), Malformation.OPTION_OVERRUN, 41),
    ("option-no-length-octet", _with_option_area(b"\x01\x01\x01\x02"), Malformation.OPTION_OVERRUN, 43),
    ("unknown-no-length-octet-v6", _with_option_area(b"\x02\x04\x05\xb4\x01\x01\x01\xfd", 6),
     Malformation.OPTION_OVERRUN, 67),
]


def test_every_malformation_is_covered():
    assert {m[2] for m in MALFORMED} == set(Malformation)


@pytest.mark.parametrize(("raw", "reason", "offset"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformation(raw, reason, offset):
    with pytest.raises(MalformedSegment) as info:
        decode(raw)
    assert info.value.reason is reason
    assert info.value.offset == offset
    assert reason.value in str(info.value)
    assert isinstance(info.value, ValueError)


def test_malformed_inputs_differ_from_a_valid_one_only_in_the_defect():
    """The crafted inputs are near misses: fixing the one defect makes them decode."""
    assert decode(_with_option_area(b"\x1e\x04\x00\x00")).tcp.options == (UnknownOption(30, b"\x00\x00"),)
    assert decode(_with_option_area(b"\x01\x01\x01\x00")).tcp.options == (NOP, NOP, NOP, EOL0)
    assert decode(_patch(V4, 9, 6)).tcp.options[0] == MaxSegmentSize(1460)
    assert decode(bytes(scapy_segment(tcp={"dataofs": 6}, payload=b"\x01\x01\x01\x01"))).payload == b""


@pytest.mark.parametrize(
    ("area", "reason"),
    [(b"\x1e", Malformation.OPTION_OVERRUN), (b"\x02\x00", Malformation.BAD_OPTION_LENGTH),
     (b"\x02\x01", Malformation.BAD_OPTION_LENGTH), (b"\x08\x0a\x00", Malformation.OPTION_OVERRUN)],
)
def test_pull_options_errors(area, reason):
    with pytest.raises(MalformedSegment) as info:
        pull_options(area, base=100)
    assert info.value.reason is reason
    assert info.value.offset == 100


@pytest.mark.parametrize(
    ("area", "walked"),
    [(b"\x1e", ()), (b"\x02\x00", ()), (b"\x01\x01\x02\x01", (NOP, NOP)),
     (b"\x01\x01\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02\x02\x00", (NOP, NOP, Timestamps(1, 2))),
     (b"\x01\x01\x08\x0c\x00\x00\x00\x01\x00\x00\x00\x02", (NOP, NOP))],
)
def test_keep_rest_walks_to_the_fault_and_keeps_the_rest(area, walked):
    """With keep_rest, the options before the first unwalkable one, then the rest from its kind octet as bytes;
    encoding gives the area back byte for byte. Without it, the same area is an error."""
    opts = pull_options(area, 0, keep_rest=True)
    assert opts[:-1] == walked and isinstance(opts[-1], OpaqueRest)
    assert push_options(opts) == area and opts[-1].data == area[len(push_options(walked)):]
    with pytest.raises(MalformedSegment):
        pull_options(area)


@settings(max_examples=800, deadline=None)
@given(st.binary(min_size=1, max_size=40))
def test_keep_rest_is_total_and_round_trips(area):
    """Any option area: keep_rest gives the strict parse when there is one, else options ending in an
    OpaqueRest; either way the bytes come back exactly. A whole segment likewise."""
    kept = pull_options(area, 0, keep_rest=True)
    assert push_options(kept) == area
    try:
        strict = pull_options(area)
    except MalformedSegment as exc:
        assert exc.reason in (Malformation.BAD_OPTION_LENGTH, Malformation.OPTION_OVERRUN)
        assert isinstance(kept[-1], OpaqueRest) and not any(isinstance(o, OpaqueRest) for o in kept[:-1])
    else:
        assert kept == strict
    if len(area) % 4 == 0:
        raw = _with_option_area(area)
        assert encode(decode(raw, keep_rest=True)) == raw


def test_pull_options_stops_at_eol():
    assert pull_options(b"\x00\x02\x00") == (EndOfOptionList(b"\x02\x00"),)
    assert pull_options(b"") == ()


# --------------------------------------------------------------------------------------------------
# Robustness: random bytes and mutations only ever give a Segment or a MalformedSegment
# --------------------------------------------------------------------------------------------------

SEEDS = [
    bytes(scapy_segment(4, ip={"options": IP_OPTION_CASES["record-route-2"]},
                        tcp={"flags": SYN, "options": CASE["linux-syn"][0]})),
    bytes(scapy_segment(6, tcp={"options": [("NOP", None), ("NOP", None), ("Timestamp", (1, 2)), ("NOP", None),
                                            ("NOP", None), ("SAck", (1, 2, 3, 4))]}, payload=b"payload")),
    bytes(scapy_segment(4, tcp={"options": [(30, b"\x01\x02\x03"), ("EOL", None)]}, payload=b"\xff" * 9)),
    bytes(scapy_segment(6, tcp={"options": [("MSS", 1220), ("WScale", 14)]})),
    V4,
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "fixlen"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) * 8 - 1))
            data[i // 8] ^= 1 << (i % 8)
        elif op == "set" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "fixlen" and len(data) >= 40:
            data = bytearray(_set_total_length(bytes(data)))
    return bytes(data)


def _decode_totally(data: bytes) -> Segment | None:
    try:
        seg = decode(data)
    except MalformedSegment as e:
        assert isinstance(e.reason, Malformation)
        assert e.offset is None or 0 <= e.offset <= len(data)
        return None
    assert encode(seg) == data
    assert serialise(seg) == data
    return seg


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=120), mutated(),
                 st.tuples(st.sampled_from([0x45, 0x46, 0x60]), st.binary(max_size=100)).map(
                     lambda t: bytes([t[0]]) + t[1])))
def test_decode_is_total(data):
    _decode_totally(data)


def test_seeds_are_valid_and_mutations_reach_deep_checks():
    for s in SEEDS:
        assert _decode_totally(s) is not None
    # Corrupting each option-length octet of the first seed keeps the IP layer valid and reaches the
    # option parser (a mutation strategy that only ever hit the IP checks would test little).
    reasons = set()
    for value in (0, 1, 41):
        try:
            decode(_patch(SEEDS[0], 20 + 12 + 20 + 1, value))
        except MalformedSegment as e:
            reasons.add(e.reason)
    assert reasons == {Malformation.BAD_OPTION_LENGTH, Malformation.OPTION_OVERRUN}


def test_decoded_segments_carry_their_bytes_but_values_ignore_them():
    """``Segment._wire`` is a cache, not part of the value: equal segments compare and hash equal with or
    without it, ``dataclasses.replace`` drops it (so an edited segment is encoded from its fields), and
    the unchecked constructors decode uses build exactly what the validating ones would."""
    import dataclasses

    raw = bytes(scapy_segment(tcp={"options": [("NOP", None), ("NOP", None), ("Timestamp", (1, 2)),
                                               ("NOP", None), ("NOP", None), ("SAck", (5, 9))]}, payload=b"data"))
    seg = decode(raw)
    assert seg._wire == raw and encode(seg) is raw
    rebuilt = Segment(type(seg.ip)(**{f.name: getattr(seg.ip, f.name) for f in dataclasses.fields(seg.ip)}),
                      TcpHeader(**{f.name: getattr(seg.tcp, f.name) for f in dataclasses.fields(seg.tcp) if f.init}),
                      seg.payload)
    assert rebuilt._wire is None and rebuilt == seg and hash(rebuilt) == hash(seg) and repr(rebuilt) == repr(seg)
    edited = dataclasses.replace(seg, tcp=dataclasses.replace(seg.tcp, seq=seg.tcp.seq + 1, checksum=None))
    assert edited._wire is None and encode(edited) != raw and decode(encode(edited)).tcp.seq == seg.tcp.seq + 1


# --------------------------------------------------------------------------------------------------
# The fast paths: pull_options' fixed layouts and the unchecked constructors, held to the slow paths
# --------------------------------------------------------------------------------------------------

_u32 = st.integers(0, 0xFFFF_FFFF)


@st.composite
def near_fast_layouts(draw: st.DrawFn) -> bytes:
    """Option areas at and around the fast path's layouts — NOP NOP TS, then nothing, a NOP NOP SACK of
    0 to 4 blocks, or random bytes; Linux's SYN area, then nothing or random bytes — then perturbed: bytes
    overwritten (a kind, a length, a NOP), the area cut short or extended. Valid and malformed areas alike."""
    if draw(st.booleans()):  # Linux's SYN area: MSS, SACK-permitted, TS, NOP, window scale
        area = bytearray(struct.pack("!BBHBBBBIIBBBB", 2, 4, draw(st.integers(0, 0xFFFF)), 4, 2, 8, 10, draw(_u32),
                                     draw(_u32), 1, 3, 3, draw(st.integers(0, 255))))
        tail = draw(st.sampled_from(["none", "random"]))
    else:
        area = bytearray(struct.pack("!BBBBII", 1, 1, 8, 10, draw(_u32), draw(_u32)))
        tail = draw(st.sampled_from(["none", "sack", "random"]))
    if tail == "sack":
        k = draw(st.integers(0, 4))
        area += struct.pack(f"!BBBB{2 * k}I", 1, 1, 5, 2 + 8 * k, *draw(st.lists(_u32, min_size=2 * k,
                                                                                  max_size=2 * k)))
    elif tail == "random":
        area += draw(st.binary(max_size=32))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["overwrite", "cut", "extend"]))
        if op == "overwrite" and area:
            area[draw(st.integers(0, len(area) - 1))] = draw(st.sampled_from([0, 1, 2, 5, 8, 10, 18, 26, 34, 255]))
        elif op == "cut":
            del area[draw(st.integers(0, len(area))):]
        else:
            area += draw(st.binary(min_size=1, max_size=8))
    return bytes(area)


def _outcome(parse: Any, area: bytes) -> tuple[Any, ...]:
    try:
        return ("options", parse(area, 60))
    except MalformedSegment as e:
        return ("malformed", e.reason, e.offset, str(e))


@settings(max_examples=1500, deadline=None)
@given(near_fast_layouts())
def test_pull_options_fast_path_agrees_with_the_loop(area):
    """Byte-exact: the same typed options (dataclass equality includes the class) or the same error."""
    from splicecheck.reference.codec import _pull_options_loop

    fast, slow = _outcome(pull_options, area), _outcome(_pull_options_loop, area)
    assert fast == slow
    if fast[0] == "options":
        assert push_options(fast[1]) == area


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_pull_options_fast_path_layouts(k):
    """The layouts the fast path takes, and that a fourth block (no room beside TS) is the loop's."""
    edges = [0xFFFF_FF00 + i for i in range(2 * k)]
    area = struct.pack("!BBBBII", 1, 1, 8, 10, 7, 0xFFFF_FFFF)
    expected: tuple[TcpOption, ...] = (NOP, NOP, Timestamps(7, 0xFFFF_FFFF))
    if k:
        area += struct.pack(f"!BBBB{2 * k}I", 1, 1, 5, 2 + 8 * k, *edges)
        expected += (NOP, NOP, Sack(tuple(zip(edges[0::2], edges[1::2], strict=True))))
    assert pull_options(area) == expected and push_options(expected) == area
    assert all(o is NOP for o in expected if isinstance(o, type(NOP)))


def test_pull_options_linux_syn_layout():
    """Linux's SYN options with every option on take the fast path and give the loop's values."""
    from splicecheck.reference.codec import _pull_options_loop
    from splicecheck.reference.segment import MaxSegmentSize, SackPermitted, WindowScale

    area = bytes.fromhex("020405b40402080afffffff00000000701030307")
    expected = (MaxSegmentSize(1460), SackPermitted(), Timestamps(0xFFFF_FFF0, 7), NOP, WindowScale(7))
    assert pull_options(area) == expected == _pull_options_loop(area, 0) and push_options(expected) == area


def test_unchecked_constructors_build_ordinary_values():
    """The unchecked constructors (an instance of a slot-for-slot twin class, re-classed) give values
    indistinguishable from the validating constructor's: type, equality, hash, repr, frozenness,
    ``dataclasses.replace``; and ``unchecked`` refuses a class whose layout it cannot mirror."""
    import dataclasses

    from splicecheck.reference import segment as sg

    cases = [
        (sg.unchecked_ipv4, IPv4Header, (addr(SRC4), addr(DST4), 1, 2, 2, 0, 64, 0xBEEF, b"\x01\x01\x01\x00")),
        (sg.unchecked_ipv6, IPv6Header, (addr(SRC6), addr(DST6), 3, 0xABCDE, 7)),
        (sg.unchecked_tcp, TcpHeader, (1, 2, 3, 4, ACK, 5, 6, (NOP, NOP, Timestamps(1, 2)), 0x1234, 5)),
        (sg.unchecked_timestamps, Timestamps, (0xFFFF_FFFF, 0)),
        (sg.unchecked_sack, Sack, (((1, 2), (3, 4)),)),
        (sg.unchecked_mss, sg.MaxSegmentSize, (0xFFFF,)),
        (sg.unchecked_wscale, sg.WindowScale, (255,)),
    ]
    for make, cls, args in cases:
        fast, slow = make(*args), cls(*args)
        assert type(fast) is cls and fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.__setattr__(dataclasses.fields(cls)[0].name, None)
        assert dataclasses.replace(fast) == slow
    seg = sg.unchecked_segment(cases[0][1](*cases[0][2]), TcpHeader(1, 2), b"x", None)
    assert type(seg) is Segment and seg == Segment(seg.ip, seg.tcp, b"x") and seg._wire is None

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Timestamps):
        extra: int = 0

    for cls in (NoSlots, Derived):
        with pytest.raises(TypeError, match="slotted dataclass"):
            sg.unchecked(cls)


# --------------------------------------------------------------------------------------------------
# Lazy options: decode leaves the usual areas as bytes, parsed on first read
# --------------------------------------------------------------------------------------------------


@settings(max_examples=800, deadline=None)
@given(near_fast_layouts().filter(lambda area: len(area) % 4 == 0 and len(area) <= 40), st.sampled_from([4, 6]))
def test_lazy_options_are_the_eager_ones(area, version):
    """A decoded header keeps its option area as bytes exactly when ``lazy_layout`` says so, and then only
    if the area is valid; whether kept or not, its options, read, are the general parser's, and the header
    equals, hashes and prints like the one the validating constructor builds from those values. Reading
    them once stores them: the same tuple object on the next read."""
    import dataclasses

    from splicecheck.reference.codec import _pull_options_loop, lazy_layout
    from splicecheck.reference.segment import UNPARSED

    raw = _with_option_area(area, version)
    slow = _outcome(_pull_options_loop, area)
    try:
        seg = decode(raw)
    except MalformedSegment:
        assert slow[0] == "malformed" and not lazy_layout(area)
        return
    t = seg.tcp
    slot = type(t).__dict__["options"].slot  # the slot behind the descriptor: what is stored, unparsed or not
    assert (slot.__get__(t) is UNPARSED) == (t._options_wire is not None) == lazy_layout(area)
    if t._options_wire is not None:
        assert t._options_wire == area
    eager = TcpHeader(**{f.name: getattr(t, f.name) for f in dataclasses.fields(t) if f.init})
    assert t.options == _pull_options_loop(area, 0) and t.options is t.options and slot.__get__(t) is t.options
    again = decode(raw).tcp  # unread: compared, hashed and printed through the descriptor
    assert again == eager and hash(again) == hash(eager) and repr(again) == repr(eager)
    assert encode(seg) is raw and serialise(seg) == raw


def test_lazy_header_survives_replace_pickle_and_copy():
    """``dataclasses.replace`` builds a header of values (no bytes kept); pickling and copying give equal
    values; a lazy header stays frozen."""
    import copy
    import dataclasses
    import pickle

    from splicecheck.reference.segment import UNPARSED

    raw = _with_option_area(struct.pack("!BBBBIIBBBBII", 1, 1, 8, 10, 7, 9, 1, 1, 5, 10, 100, 200))
    t = decode(raw).tcp
    assert type(t).__dict__["options"].slot.__get__(t) is UNPARSED
    expected = (NOP, NOP, Timestamps(7, 9), NOP, NOP, Sack(((100, 200),)))
    for other in (pickle.loads(pickle.dumps(decode(raw).tcp)), copy.copy(decode(raw).tcp),
                  copy.deepcopy(decode(raw).tcp)):
        assert other == t and other.options == expected
    moved = dataclasses.replace(decode(raw).tcp, seq=1)
    assert moved._options_wire is None and moved.options == expected
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.options = ()  # type: ignore[misc]
