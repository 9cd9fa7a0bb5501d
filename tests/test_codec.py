"""The wire codec against scapy: byte-exact round trips, field agreement, every Malformation, robustness.

Scapy is the independent oracle here: it builds the packets the codec decodes, and it parses (and
re-checksums) the packets the codec encodes. Field values are compared against what the test asked
scapy to put on the wire, not against the codec's own output.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, IPOption_EOL, IPOption_NOP, IPOption_RR
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.packet import Raw
from splicecheck.reference.checksum import internet_checksum
from splicecheck.reference.codec import decode, encode, pull_options, push_options, serialise
from splicecheck.reference.errors import Malformation, MalformedSegment
from splicecheck.reference.icmp import (
    PacketTooBig,
    encode_echo,
    encode_icmp,
    is_echo_reply,
    is_time_exceeded,
    parse_icmp,
    quoted_tcp,
)
from splicecheck.reference.segment import (
    ACK,
    AE,
    CWR,
    ECE,
    FIN,
    IP_DF,
    IP_RESERVED,
    NOP,
    PSH,
    RST,
    SYN,
    URG,
    EndOfOptionList,
    IPv4Header,
    IPv6Header,
    MaxSegmentSize,
    Sack,
    SackPermitted,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    addr,
    addr_text,
    pad_options,
)

SRC4, DST4 = "192.0.2.1", "198.51.100.77"
SRC6, DST6 = "2001:db8::1", "2001:db8:ffff::fe"

# --------------------------------------------------------------------------------------------------
# Option cases: what scapy is asked to write, and the typed options the codec must decode it to
# (including the zero padding scapy appends to reach a multiple of 4, which decodes as an EOL).
# --------------------------------------------------------------------------------------------------

EOL0 = EndOfOptionList(b"")


def _pad(opts: tuple[TcpOption, ...]) -> tuple[TcpOption, ...]:
    return pad_options(opts)


OPTION_CASES: list[tuple[str, list[tuple[Any, Any]], tuple[TcpOption, ...]]] = [
    ("none", [], ()),
    ("eol-only", [("EOL", None)], (EndOfOptionList(b"\x00\x00\x00"),)),
    # Non-zero bytes after EOL are padding too, kept byte-exact.
    ("eol-nonzero-padding", [("MSS", 1460), ("EOL", None), ("NOP", None), ("NOP", None), ("NOP", None)],
     (MaxSegmentSize(1460), EndOfOptionList(b"\x01\x01\x01"))),
    ("eol-garbage-after", [("NOP", None), ("EOL", None), (30, b"\xde\xad")],
     (NOP, EndOfOptionList(b"\x1e\x04\xde\xad\x00\x00"))),
    ("eol-then-mss-shape", [("EOL", None), ("MSS", 0xFFFF), ("NOP", None), ("NOP", None), ("NOP", None)],
     (EndOfOptionList(b"\x02\x04\xff\xff\x01\x01\x01"),)),
    ("nop4", [("NOP", None)] * 4, (NOP, NOP, NOP, NOP)),
    ("mss-1460", [("MSS", 1460)], (MaxSegmentSize(1460),)),
    ("mss-0", [("MSS", 0)], (MaxSegmentSize(0),)),
    ("mss-max", [("MSS", 0xFFFF)], (MaxSegmentSize(0xFFFF),)),
    ("ws-14", [("NOP", None), ("WScale", 14)], (NOP, WindowScale(14))),
    ("ws-255", [("WScale", 255)], _pad((WindowScale(255),))),
    ("sackok", [("NOP", None), ("NOP", None), ("SAckOK", b"")], (NOP, NOP, SackPermitted())),
    ("sackok-unpadded", [("SAckOK", b"")], _pad((SackPermitted(),))),
    *[
        (f"sack-{n}", [("NOP", None), ("NOP", None),
                       ("SAck", tuple(v for i in range(n) for v in (0xFFFFFF00 + i, (i * 0x1111) & 0xFFFFFFFF)))],
         (NOP, NOP, Sack(tuple((0xFFFFFF00 + i, (i * 0x1111) & 0xFFFFFFFF) for i in range(n)))))
        for n in (1, 2, 3, 4)
    ],
    ("sack-4-unpadded", [("SAck", (1, 2, 3, 4, 5, 6, 0xFFFFFFFF, 0))],
     _pad((Sack(((1, 2), (3, 4), (5, 6), (0xFFFFFFFF, 0))),))),
    ("ts", [("NOP", None), ("NOP", None), ("Timestamp", (0xDEADBEEF, 0))],
     (NOP, NOP, Timestamps(0xDEADBEEF, 0))),
    ("ts-unpadded", [("Timestamp", (1, 0xFFFFFFFF))], _pad((Timestamps(1, 0xFFFFFFFF),))),
    ("linux-syn", [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456, 0)), ("NOP", None), ("WScale", 7)],
     (MaxSegmentSize(1460), SackPermitted(), Timestamps(123456, 0), NOP, WindowScale(7))),
    ("ts-and-sack-3", [("NOP", None), ("NOP", None), ("Timestamp", (5, 6)), ("NOP", None), ("NOP", None),
                       ("SAck", (10, 20, 30, 40, 50, 60))],
     (NOP, NOP, Timestamps(5, 6), NOP, NOP, Sack(((10, 20), (30, 40), (50, 60))))),
    ("unknown-30", [(30, b"\x00\x81\x02\x03\x04\x05")], _pad((UnknownOption(30, b"\x00\x81\x02\x03\x04\x05"),))),
    ("unknown-34", [(34, b"cookie!!")], _pad((UnknownOption(34, b"cookie!!"),))),
    ("unknown-253", [(253, b"\xf9\x89\x01")], _pad((UnknownOption(253, b"\xf9\x89\x01"),))),
    ("unknown-empty", [(99, b"")], _pad((UnknownOption(99, b""),))),
    ("unknown-max", [(254, bytes(range(38)))], (UnknownOption(254, bytes(range(38))),)),
    # Known kinds at lengths their RFCs do not allow decode as UnknownOption and still round-trip.
    ("mss-len6", [(2, b"\x05\xb4\x00\x00")], _pad((UnknownOption(2, b"\x05\xb4\x00\x00"),))),
    ("mss-len3", [(2, b"\x05")], _pad((UnknownOption(2, b"\x05"),))),
    ("ws-len4", [(3, b"\x07\x00")], (UnknownOption(3, b"\x07\x00"),)),
    ("ws-len2", [(3, b"")], _pad((UnknownOption(3, b""),))),
    ("sackok-len3", [(4, b"\x00")], _pad((UnknownOption(4, b"\x00"),))),
    ("sack-len2", [(5, b"")], _pad((UnknownOption(5, b""),))),
    ("sack-len6", [(5, b"\x00\x00\x00\x01")], _pad((UnknownOption(5, b"\x00\x00\x00\x01"),))),
    ("sack-len14", [(5, bytes(12))], _pad((UnknownOption(5, bytes(12)),))),
    ("ts-len8", [(8, b"\x00\x00\x00\x01\x00\x02")], (UnknownOption(8, b"\x00\x00\x00\x01\x00\x02"),)),
    ("ts-len12", [(8, bytes(range(10)))], _pad((UnknownOption(8, bytes(range(10))),))),
    ("full-40", [("NOP", None), ("NOP", None), ("Timestamp", (7, 8)), ("NOP", None), ("NOP", None),
                 ("SAck", (1, 2, 3, 4, 5, 6))],
     (NOP, NOP, Timestamps(7, 8), NOP, NOP, Sack(((1, 2), (3, 4), (5, 6))))),
]


CASE = {name: (s_opts, exp) for name, s_opts, exp in OPTION_CASES}


def _option_wire(opts: tuple[TcpOption, ...]) -> int:
    return sum(o.size for o in opts)


def scapy_segment(version: int = 4, *, ip: dict[str, Any] | None = None, tcp: dict[str, Any] | None = None,
                  payload: bytes = b"") -> Any:
    ip_fields = dict(ip or {})
    tcp_fields = {"sport": 40000, "dport": 443, "seq": 1, "ack": 2, "flags": ACK, **(tcp or {})}
    layer = IP(src=SRC4, dst=DST4, **ip_fields) if version == 4 else IPv6(src=SRC6, dst=DST6, **ip_fields)
    pkt = layer / TCP(**tcp_fields)
    if payload:
        pkt = pkt / Raw(payload)
    return pkt


def assert_matches_scapy(seg: Segment, raw: bytes) -> None:
    """Every field of the decoded segment equals scapy's dissection of the same bytes."""
    p = IP(raw) if raw[0] >> 4 == 4 else IPv6(raw)
    t = p[TCP]
    if isinstance(seg.ip, IPv4Header):
        assert p.version == 4
        assert seg.ip.src == addr(p.src) and seg.ip.dst == addr(p.dst)
        assert seg.ip.tos == p.tos
        assert seg.ip.ident == p.id
        assert seg.ip.flags == int(p.flags)
        assert seg.ip.df == bool(int(p.flags) & IP_DF)
        assert seg.ip.frag_offset == p.frag == 0
        assert seg.ip.ttl == seg.ip.hop_limit == p.ttl
        assert seg.ip.checksum == p.chksum
        assert seg.ip.header_length == p.ihl * 4
        assert seg.ip.options == raw[20:p.ihl * 4]
    else:
        assert p.version == 6
        assert seg.ip.src == addr(p.src) and seg.ip.dst == addr(p.dst)
        assert seg.ip.traffic_class == p.tc
        assert seg.ip.flow_label == p.fl
        assert seg.ip.hop_limit == p.hlim
    assert (seg.tcp.sport, seg.tcp.dport) == (t.sport, t.dport)
    assert (seg.tcp.seq, seg.tcp.ack) == (t.seq, t.ack)
    assert seg.tcp.flags == int(t.flags)
    assert seg.tcp.reserved == t.reserved
    assert seg.tcp.window == t.window
    assert seg.tcp.urgent == t.urgptr
    assert seg.tcp.checksum == t.chksum
    assert seg.tcp.header_length == t.dataofs * 4
    assert seg.payload == bytes(t.payload)


def roundtrip(pkt: Any) -> tuple[bytes, Segment]:
    raw = bytes(pkt)
    seg = decode(raw)
    assert encode(seg) == raw  # the bytes the segment carries ...
    assert serialise(seg) == raw  # ... and its fields' own encoding
    assert_matches_scapy(seg, raw)
    return raw, seg


# --------------------------------------------------------------------------------------------------
# Round trips on scapy-built packets
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize(("scapy_opts", "expected"), [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_option_roundtrip(version, scapy_opts, expected):
    raw, seg = roundtrip(scapy_segment(version, tcp={"options": scapy_opts}, payload=b"data"))
    assert seg.tcp.options == expected
    assert seg.tcp.header_length == 20 + _option_wire(expected)
    hl = seg.ip.header_length
    assert push_options(seg.tcp.options) == raw[hl + 20:hl + seg.tcp.header_length]
    assert pull_options(raw[hl + 20:hl + seg.tcp.header_length]) == expected
    assert seg.payload == b"data"


def test_typed_option_lookup():
    _, seg = roundtrip(scapy_segment(tcp={"options": CASE["linux-syn"][0]}))
    assert seg.tcp.option(MaxSegmentSize) == MaxSegmentSize(1460)
    assert seg.tcp.option(WindowScale) == WindowScale(7)
    assert seg.tcp.option(Timestamps) == Timestamps(123456, 0)
    assert seg.tcp.option(Sack) is None


ALL_FLAG_BITS = [FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE]


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("flags", [*ALL_FLAG_BITS, 0, 0x1FF, URG | ACK | PSH, SYN | ECE | CWR, ACK | AE | ECE])
def test_flags_roundtrip(version, flags):
    _, seg = roundtrip(scapy_segment(version, tcp={"flags": flags, "urgptr": 0x1234 if flags & URG else 0}))
    assert seg.tcp.flags == flags
    for bit in ALL_FLAG_BITS:
        assert seg.tcp.has(bit) == bool(flags & bit)


@pytest.mark.parametrize("reserved", range(8))
def test_reserved_bits_roundtrip(reserved):
    raw, seg = roundtrip(scapy_segment(tcp={"reserved": reserved, "flags": 0x1FF}))
    assert seg.tcp.reserved == reserved
    assert seg.tcp.flags == 0x1FF
    assert (raw[20 + 12] >> 1) & 0x7 == reserved


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 7, 63, 64, 511, 536, 1220, 1459, 1460])
def test_payload_sizes(version, size):
    payload = bytes((i * 7 + size) & 0xFF for i in range(size))
    _, seg = roundtrip(scapy_segment(version, tcp={"options": [("NOP", None), ("NOP", None),
                                                               ("Timestamp", (size, ~size & 0xFFFFFFFF))]},
                                     payload=payload))
    assert seg.payload == payload
    assert seg.seg_len == size


def test_fin_syn_count_in_seg_len():
    _, seg = roundtrip(scapy_segment(tcp={"flags": SYN | FIN | ACK}, payload=b"xyz"))
    assert seg.seg_len == 5


IP_OPTION_CASES = {
    "nop-nop-nop-eol": [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()],
    "record-route-2": [IPOption_RR(routers=["192.0.2.9", "192.0.2.10"])],
    "record-route-9": [IPOption_RR(pointer=8, routers=[f"10.0.0.{i}" for i in range(9)])],
    "nop-record-route": [IPOption_NOP(), IPOption_RR(routers=["203.0.113.5"])],
}


@pytest.mark.parametrize("name", list(IP_OPTION_CASES))
def test_ipv4_options_roundtrip(name):
    opts = IP_OPTION_CASES[name]
    pkt = scapy_segment(ip={"options": opts}, tcp={"options": [("MSS", 1400)]}, payload=b"hello")
    raw, seg = roundtrip(pkt)
    assert isinstance(seg.ip, IPv4Header)
    assert len(seg.ip.options) % 4 == 0 and len(seg.ip.options) > 0
    assert seg.ip.options == bytes(IP(raw))[20:seg.ip.header_length]
    assert seg.tcp.options == (MaxSegmentSize(1400),)
    assert seg.payload == b"hello"
    if "record-route" in name:
        assert 7 in seg.ip.options  # the record-route option type is in the area


@pytest.mark.parametrize(
    "fields",
    [
        {"tos": 0, "id": 0, "flags": 0, "ttl": 1},
        {"tos": 0xB8, "id": 0xFFFF, "flags": "DF", "ttl": 255},
        {"tos": 0x03, "id": 12345, "flags": IP_DF | IP_RESERVED, "ttl": 64},
        {"tos": 0xFF, "id": 1, "flags": IP_RESERVED, "ttl": 0},
    ],
)
def test_ipv4_header_fields(fields):
    _, seg = roundtrip(scapy_segment(ip=fields, payload=b"x"))
    assert isinstance(seg.ip, IPv4Header)
    assert seg.ip.tos == fields["tos"]
    assert seg.ip.ident == fields["id"]
    assert seg.ip.ttl == fields["ttl"]
    flags = IP_DF if fields["flags"] == "DF" else fields["flags"]
    assert seg.ip.flags == flags
    assert seg.ip.df == bool(flags & IP_DF)
    assert seg.ip.src == addr(SRC4) and seg.ip.dst == addr(DST4)


@pytest.mark.parametrize(
    "fields",
    [{"tc": 0, "fl": 0, "hlim": 0}, {"tc": 0xFF, "fl": 0xFFFFF, "hlim": 255}, {"tc": 0x2E, "fl": 0x12345, "hlim": 64}],
)
def test_ipv6_header_fields(fields):
    _, seg = roundtrip(scapy_segment(6, ip=fields, payload=b"y" * 3))
    assert isinstance(seg.ip, IPv6Header)
    assert seg.ip.traffic_class == fields["tc"]
    assert seg.ip.flow_label == fields["fl"]
    assert seg.ip.hop_limit == fields["hlim"]
    assert seg.ip.df is True
    assert seg.ip.src == addr(SRC6) and seg.ip.dst == addr(DST6)


@pytest.mark.parametrize("version", [4, 6])
def test_tcp_numeric_fields(version):
    tcp = {"sport": 0, "dport": 65535, "seq": 0xFFFFFFFF, "ack": 0x80000000, "window": 0, "urgptr": 0xFFFF,
           "flags": URG | ACK}
    _, seg = roundtrip(scapy_segment(version, tcp=tcp))
    assert (seg.tcp.sport, seg.tcp.dport, seg.tcp.seq, seg.tcp.ack) == (0, 65535, 0xFFFFFFFF, 0x80000000)
    assert (seg.tcp.window, seg.tcp.urgent) == (0, 0xFFFF)


@pytest.mark.parametrize("version", [4, 6])
def test_wrong_checksums_are_kept_verbatim(version):
    """A corrupt checksum is decoded as seen and re-encoded unchanged (fail-safe, RFC 1624 §1)."""
    raw = bytes(scapy_segment(version, tcp={"chksum": 0xBAD0}, ip={"chksum": 0x0BAD} if version == 4 else {},
                              payload=b"p"))
    seg = decode(raw)
    assert seg.tcp.checksum == 0xBAD0
    if isinstance(seg.ip, IPv4Header):
        assert seg.ip.checksum == 0x0BAD
    assert encode(seg) == raw


# Hypothesis: random field values and option lists, built by scapy. Cases without any EOL are a
# multiple of 4 bytes on the wire and can be concatenated; any case may come last.
COMPOSABLE = [c for c in OPTION_CASES[1:] if not any(isinstance(o, EndOfOptionList) for o in c[2])]


@st.composite
def scapy_packets(draw: st.DrawFn) -> tuple[Any, tuple[TcpOption, ...]]:
    version = draw(st.sampled_from([4, 6]))
    scapy_opts: list[tuple[Any, Any]] = []
    expected: tuple[TcpOption, ...] = ()
    for _, s_opts, exp in [*draw(st.lists(st.sampled_from(COMPOSABLE), max_size=2)),
                           draw(st.sampled_from(OPTION_CASES))]:
        if _option_wire(expected) + _option_wire(exp) <= 40:
            scapy_opts += s_opts
            expected += exp
    u32 = st.integers(0, 0xFFFFFFFF)
    u16 = st.integers(0, 0xFFFF)
    tcp = {"sport": draw(u16), "dport": draw(u16), "seq": draw(u32), "ack": draw(u32),
           "flags": draw(st.integers(0, 0x1FF)), "reserved": draw(st.integers(0, 7)), "window": draw(u16),
           "urgptr": draw(u16), "options": scapy_opts}
    if version == 4:
        ip = {"tos": draw(st.integers(0, 255)), "id": draw(u16), "ttl": draw(st.integers(0, 255)),
              "flags": draw(st.sampled_from([0, IP_DF, IP_RESERVED, IP_DF | IP_RESERVED]))}
        if draw(st.booleans()):
            ip["options"] = draw(st.sampled_from(list(IP_OPTION_CASES.values())))
    else:
        ip = {"tc": draw(st.integers(0, 255)), "fl": draw(st.integers(0, 0xFFFFF)), "hlim": draw(st.integers(0, 255))}
    payload = draw(st.binary(max_size=1460))
    return scapy_segment(version, ip=ip, tcp=tcp, payload=payload), expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scapy_packets())
def test_random_scapy_packets_roundtrip(case):
    pkt, expected = case
    _, seg = roundtrip(pkt)
    assert seg.tcp.options == expected
    t = pkt[TCP]
    assert (seg.tcp.seq, seg.tcp.ack, seg.tcp.window, seg.tcp.urgent) == (t.seq, t.ack, t.window, t.urgptr)
    assert (seg.tcp.flags, seg.tcp.reserved) == (int(t.flags), t.reserved)
    assert seg.payload == (bytes(pkt[Raw]) if Raw in pkt else b"")


# --------------------------------------------------------------------------------------------------
# Segments built directly (checksum=None) → scapy parses them with valid checksums
# --------------------------------------------------------------------------------------------------


def assert_scapy_accepts(raw: bytes, seg: Segment) -> None:
    dec = decode(raw)
    assert dec.tcp.checksum is not None
    assert dec.tcp.options == seg.tcp.options
    p = IP(raw) if seg.ip.version == 4 else IPv6(raw)
    # Scapy's own recomputation of both checksums must equal what the codec wrote.
    q = p.copy()
    del q[TCP].chksum
    if seg.ip.version == 4:
        del q.chksum
    again = (IP if seg.ip.version == 4 else IPv6)(bytes(q))
    assert p[TCP].chksum == again[TCP].chksum
    if seg.ip.version == 4:
        assert p.chksum == again.chksum
        assert p.len == len(raw)
    else:
        assert p.plen == len(raw) - 40
        assert p.nh == 6
    assert_matches_scapy(decode(raw), raw)
    t = p[TCP]
    assert (t.sport, t.dport, t.seq, t.ack, t.window, t.urgptr) == (
        seg.tcp.sport, seg.tcp.dport, seg.tcp.seq, seg.tcp.ack, seg.tcp.window, seg.tcp.urgent)
    assert (int(t.flags), t.reserved) == (seg.tcp.flags, seg.tcp.reserved)
    assert bytes(t.payload) == seg.payload


def _built(version: int, options: tuple[TcpOption, ...], payload: bytes, **tcp: Any) -> Segment:
    ip: IPv4Header | IPv6Header
    if version == 4:
        ip = IPv4Header(addr(SRC4), addr(DST4), tos=0x10, ident=0xBEEF, ttl=33, options=b"\x01\x01\x01\x00")
    else:
        ip = IPv6Header(addr(SRC6), addr(DST6), traffic_class=0x20, flow_label=0xABCDE, hop_limit=7)
    fields: dict[str, Any] = {"seq": 0xFFFFFFF0, "ack": 7, "flags": ACK | PSH, "window": 1234}
    fields.update(tcp)
    return Segment(ip, TcpHeader(1111, 2222, options=pad_options(options), **fields), payload)


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize(
    "options",
    [
        (),
        (MaxSegmentSize(1460), SackPermitted(), Timestamps(1, 2), NOP, WindowScale(7)),
        (NOP, NOP, Sack(((1, 2), (0xFFFFFFFF, 5)))),
        (UnknownOption(30, b"\x00\x01"), UnknownOption(2, b"\x05\xb4\x00\x00")),
        (MaxSegmentSize(536),),
    ],
)
@pytest.mark.parametrize("payload", [b"", b"a", b"odd", bytes(range(256)) * 5 + b"!"])
def test_built_segments_have_valid_checksums(version, options, payload):
    seg = _built(version, options, payload)
    assert seg.tcp.checksum is None
    raw = encode(seg)
    assert_scapy_accepts(raw, seg)
    dec = decode(raw)
    assert dec.tcp.options == seg.tcp.options
    assert dec.payload == payload
    assert dec.ip.src == seg.ip.src


@settings(max_examples=100, deadline=None)
@given(
    version=st.sampled_from([4, 6]),
    seq=st.integers(0, 0xFFFFFFFF),
    ack=st.integers(0, 0xFFFFFFFF),
    flags=st.integers(0, 0x1FF),
    reserved=st.integers(0, 7),
    window=st.integers(0, 0xFFFF),
    urgent=st.integers(0, 0xFFFF),
    mss=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=300),
)
def test_random_built_segments_have_valid_checksums(version, seq, ack, flags, reserved, window, urgent, mss,
                                                    payload):
    seg = _built(version, (MaxSegmentSize(mss),), payload, seq=seq, ack=ack, flags=flags, reserved=reserved,
                 window=window, urgent=urgent)
    assert_scapy_accepts(encode(seg), seg)


def test_stored_checksum_is_written_not_recomputed():
    seg = _built(4, (), b"x")
    good = decode(encode(seg))
    assert good.tcp.checksum is not None
    forced = Segment(seg.ip, TcpHeader(1111, 2222, seq=0xFFFFFFF0, ack=7, flags=ACK | PSH, window=1234,
                                       checksum=good.tcp.checksum ^ 0xFFFF), b"x")
    assert decode(encode(forced)).tcp.checksum == good.tcp.checksum ^ 0xFFFF


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
                      TcpHeader(**{f.name: getattr(seg.tcp, f.name) for f in dataclasses.fields(seg.tcp)}),
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
    0 to 4 blocks, or random bytes — then perturbed: bytes overwritten (a kind, a length, a NOP),
    the area cut short or extended. Valid and malformed areas alike."""
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


# -- ICMP (reference/icmp.py): the parsers against the encoders, and total on truncated input -------------

_V4_SEG = encode(Segment(IPv4Header(src=b"\xc6\x12\x00\x02", dst=b"\xc6\x13\x00\x02"),
                         TcpHeader(40000, 80, seq=0xDEADBEEF, flags=ACK), b"x" * 20))
_V6_SEG = encode(Segment(IPv6Header(src=b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02",
                                    dst=b"\x20\x01\x0d\xb8" + bytes(11) + b"\x03"),
                         TcpHeader(40000, 80, seq=7, flags=ACK), b"y" * 20))


@pytest.mark.parametrize("quoted, mtu, kind", [(_V4_SEG, 1400, (3, 4)), (_V6_SEG, 1300, (2, 0))])
def test_icmp_packet_too_big_round_trips_through_the_parsers(quoted: bytes, mtu: int, kind: tuple[int, int]) -> None:
    seg = decode(quoted)
    msg = PacketTooBig(seg.ip.dst, seg.ip.src, mtu, quoted)
    raw = encode_icmp(msg)
    icmp = parse_icmp(raw)
    assert icmp is not None and (icmp.type, icmp.code, icmp.mtu) == (*kind, mtu)
    assert (icmp.src, icmp.dst) == (addr_text(seg.ip.dst), addr_text(seg.ip.src))
    assert not is_time_exceeded(raw)
    assert quoted_tcp(raw) == (seg.ip.src + seg.ip.dst + struct.pack("!HH", 40000, 80), seg.tcp.seq)
    for n in range(len(raw)):  # every truncation: a value or None, never an exception
        parse_icmp(raw[:n])
        quoted_tcp(raw[:n])
        is_time_exceeded(raw[:n])
    assert parse_icmp(raw[:20]) is None and quoted_tcp(raw[:27]) is None and quoted_tcp(b"") is None
    assert parse_icmp(quoted) is None and quoted_tcp(quoted) is None  # TCP, not ICMP


def test_icmp_time_exceeded_is_recognised() -> None:
    raw = bytearray(encode_icmp(PacketTooBig(b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 1400, _V4_SEG)))
    raw[20] = 11  # type: time exceeded
    assert is_time_exceeded(bytes(raw))


@pytest.mark.parametrize("src, dst", [(b"\xc6\x12\x00\x02", b"\xc6\x12\x00\x01"),
                                      (bytes(15) + b"\x02", bytes(15) + b"\x01")])
def test_icmp_echo_request_and_reply(src: bytes, dst: bytes) -> None:
    req = encode_echo(src, dst, 0x5346, 77)
    icmp = parse_icmp(req)
    assert icmp is not None and icmp.type == (8 if len(src) == 4 else 128) and icmp.code == 0
    if len(src) == 4:
        assert internet_checksum(req[:20]) == 0 and internet_checksum(req[20:]) == 0
        reply = req[:12] + req[16:20] + req[12:16] + b"\x00" + req[21:]
        assert is_echo_reply(reply, 0x5346) and is_echo_reply(reply, 0x5346, 77)
        assert not is_echo_reply(reply, 0x5346, 78) and not is_echo_reply(reply, 1) and not is_echo_reply(req, 0x5346)
        assert not any(is_echo_reply(reply[:n], 0x5346) for n in range(28))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(req) - 40, 58)
        assert internet_checksum(pseudo + req[40:]) == 0 and not is_echo_reply(req, 0x5346)
