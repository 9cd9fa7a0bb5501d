"""The wire codec against scapy: byte-exact round trips, field agreement, every Malformation, robustness.

Scapy is the independent oracle here: it builds the packets the codec decodes, and it parses (and
re-checksums) the packets the codec encodes. Field values are compared against what the test asked
scapy to put on the wire, not against the codec's own output.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from codec_fixtures import CASE, DST4, DST6, IP_OPTION_CASES, OPTION_CASES, SRC4, SRC6, scapy_segment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw
from splicecheck.reference.codec import decode, encode, pull_options, push_options, serialise
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

# --------------------------------------------------------------------------------------------------
# Option cases: what scapy is asked to write, and the typed options the codec must decode it to
# (including the zero padding scapy appends to reach a multiple of 4, which decodes as an EOL).
# --------------------------------------------------------------------------------------------------

def _option_wire(opts: tuple[TcpOption, ...]) -> int:
    return sum(o.size for o in opts)


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


@given(st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16)))
def test_addr_text_is_ipaddress_text(packed: bytes) -> None:
    assert addr_text(packed) == str(ipaddress.ip_address(packed))
