"""What the codec tests share: the option cases scapy is asked to write and the typed options they decode to,
the IPv4 option cases, and a scapy segment builder with fixed addresses and ports."""

from __future__ import annotations

from typing import Any

from scapy.layers.inet import IP, TCP, IPOption_EOL, IPOption_NOP, IPOption_RR
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw
from splicecheck.reference.segment import (
    ACK,
    NOP,
    EndOfOptionList,
    MaxSegmentSize,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    pad_options,
)

SRC4, DST4 = "192.0.2.1", "198.51.100.77"
SRC6, DST6 = "2001:db8::1", "2001:db8:ffff::fe"

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


def scapy_segment(version: int = 4, *, ip: dict[str, Any] | None = None, tcp: dict[str, Any] | None = None,
                  payload: bytes = b"") -> Any:
    ip_fields = dict(ip or {})
    tcp_fields = {"sport": 40000, "dport": 443, "seq": 1, "ack": 2, "flags": ACK, **(tcp or {})}
    layer = IP(src=SRC4, dst=DST4, **ip_fields) if version == 4 else IPv6(src=SRC6, dst=DST6, **ip_fields)
    pkt = layer / TCP(**tcp_fields)
    if payload:
        pkt = pkt / Raw(payload)
    return pkt


IP_OPTION_CASES = {
    "nop-nop-nop-eol": [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()],
    "record-route-2": [IPOption_RR(routers=["192.0.2.9", "192.0.2.10"])],
    "record-route-9": [IPOption_RR(pointer=8, routers=[f"10.0.0.{i}" for i in range(9)])],
    "nop-record-route": [IPOption_NOP(), IPOption_RR(routers=["203.0.113.5"])],
}
