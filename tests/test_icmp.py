"""ICMP on the wire (reference/icmp.py): the parsers against the encoders, total on truncated input."""

from __future__ import annotations

import struct

import pytest
from splicecheck.reference.checksum import internet_checksum
from splicecheck.reference.codec import decode, encode
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
    IPv4Header,
    IPv6Header,
    Segment,
    TcpHeader,
    addr_text,
)

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
