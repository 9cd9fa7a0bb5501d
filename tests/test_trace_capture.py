"""Capture files and link layers of ``splicecheck trace``: every format variant, and every bad input named."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, wrpcap
from splicecheck.conformance.trace.capture import (
    BLOCK_EPB,
    CaptureFormatError,
    PcapngWriter,
    PcapWriter,
    TruncatedCapture,
    UnknownLinkType,
    open_capture,
)
from splicecheck.conformance.trace.link import (
    DLT_RAW,
    DLT_RAW_OPENBSD,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LinkStats,
    frame,
    ip_batches,
    ip_packets,
)
from splicecheck.reference.codec import encode
from splicecheck.reference.errors import SpliceCheckError
from splicecheck.reference.segment import IPv4Header, IPv6Header, Segment, TcpHeader, addr

T0 = 1_700_000_000_123_456_789


def tcp4(payload: bytes = b"hello", sport: int = 40000) -> bytes:
    return encode(Segment(IPv4Header(addr("192.0.2.1"), addr("192.0.2.2")), TcpHeader(sport, 80, 1, 2), payload))


def tcp6(payload: bytes = b"hello") -> bytes:
    return encode(Segment(IPv6Header(addr("2001:db8::1"), addr("2001:db8::2")), TcpHeader(40000, 80, 1, 2), payload))


def records(path: Path) -> list[tuple[int, int, bytes, int]]:
    with open_capture(path) as r:
        return list(r)


# -- pcap -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nanos", [False, True])
@pytest.mark.parametrize("big", [False, True])
def test_pcap_both_byte_orders_and_resolutions(tmp_path: Path, nanos: bool, big: bool) -> None:
    p = tmp_path / "x.pcap"
    pkts = [tcp4(b"a" * i) for i in range(5)]
    with PcapWriter(p, LINKTYPE_RAW, nanos=nanos, big=big) as w:
        for i, ip in enumerate(pkts):
            w.write(T0 + i * 1001, ip)
    got = records(p)
    assert [r[2] for r in got] == pkts
    assert {r[1] for r in got} == {LINKTYPE_RAW}
    scale = 1 if nanos else 1000
    assert [r[0] for r in got] == [(T0 + i * 1001) // scale * scale for i in range(5)]
    with open_capture(p) as r:
        assert r.info.format == "pcap" and r.info.byte_order == ("big" if big else "little")
        assert r.info.resolution == ("ns" if nanos else "us")


def test_pcap_written_by_scapy(tmp_path: Path) -> None:
    """An independent writer: scapy's (Ethernet, microseconds)."""
    pkts = [Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1, dport=2, seq=i) / (b"x" * i)
            for i in range(3)]
    for i, p in enumerate(pkts):
        p.time = 1_700_000_000 + i / 4
    path = tmp_path / "scapy.pcap"
    wrpcap(str(path), pkts)
    stats = LinkStats()
    got = list(ip_packets(open_capture(path), stats))
    assert [ip for _ts, ip, _cut in got] == [bytes(p[IP]) for p in pkts]
    assert [ts for ts, _ip, _cut in got] == [1_700_000_000_000_000_000 + i * 250_000_000 for i in range(3)]


def test_pcapng_written_by_scapy(tmp_path: Path) -> None:
    pkts = [Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(seq=i) for i in range(4)]
    path = tmp_path / "scapy.pcapng"
    w = PcapNgWriter(str(path))
    for p in pkts:
        w.write(p)
    w.close()
    got = list(ip_packets(open_capture(path), LinkStats()))
    assert [ip for _ts, ip, _cut in got] == [bytes(p[IP]) for p in pkts]


def test_gzip_compressed(tmp_path: Path) -> None:
    plain = tmp_path / "x.pcap"
    with PcapWriter(plain, LINKTYPE_RAW) as w:
        w.write(T0, tcp4())
    gz = tmp_path / "x.pcap.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    with open_capture(gz) as r:
        assert r.info.compressed
        assert [x[2] for x in r] == [tcp4()]


def test_many_records_span_chunks(tmp_path: Path) -> None:
    p = tmp_path / "big.pcap"
    pkt = tcp4(b"z" * 1400)
    with PcapWriter(p, LINKTYPE_RAW) as w:
        for i in range(2000):  # ~2.9 MB: several 1 MiB chunks, records straddling their edges
            w.write(T0 + i, pkt)
    with open_capture(p) as r:
        n = sum(len(b) for b in r.batches())
        assert n == 2000 and r.records == 2000


# -- pcapng ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("tsresol", [6, 9, 3, 0x80 | 20])
def test_pcapng_resolutions_and_byte_orders(tmp_path: Path, big: bool, tsresol: int) -> None:
    p = tmp_path / "x.pcapng"
    with PcapngWriter(p, big=big) as w:
        w.interface(LINKTYPE_RAW, tsresol=tsresol)
        for i in range(3):
            w.write(T0 + i * 1_000_000, tcp4(bytes([i])))
    got = records(p)
    assert [r[2] for r in got] == [tcp4(bytes([i])) for i in range(3)]
    unit = {6: 1000, 9: 1, 3: 1_000_000}.get(tsresol)
    for i, r in enumerate(got):
        want = T0 + i * 1_000_000
        if unit is not None:
            assert r[0] == want // unit * unit
        else:  # 2^-20 s: within one unit
            assert abs(r[0] - want) < 1000


def test_pcapng_interfaces_link_types_offsets_and_blocks(tmp_path: Path) -> None:
    """Per-interface link types, if_tsoffset, simple packets, and blocks that must be skipped."""
    p = tmp_path / "x.pcapng"
    with PcapngWriter(p) as w:
        raw = w.interface(LINKTYPE_RAW)
        eth = w.interface(LINKTYPE_ETHERNET, tsresol=9, tsoffset=100)
        w.raw_block(4, b"\x00\x00\x00\x00")  # name resolution block (empty)
        w.write(T0, tcp4(b"r"), raw)
        w.write(T0 + 200 * 10**9, frame(LINKTYPE_ETHERNET, tcp4(b"e")), eth)
        w.raw_block(5, struct.pack("<III", 0, 0, 0))  # interface statistics
        w.write(0, tcp4(b"s"), simple=True)  # interface 0, the previous timestamp
    got = records(p)
    assert [(r[1], r[0]) for r in got] == [(LINKTYPE_RAW, T0 // 1000 * 1000), (LINKTYPE_ETHERNET, T0 + 200 * 10**9),
                                           (LINKTYPE_RAW, T0 + 200 * 10**9)]
    ips = [ip for _t, ip, _c in ip_packets(open_capture(p), LinkStats())]
    assert ips == [tcp4(b"r"), tcp4(b"e"), tcp4(b"s")]


def test_pcapng_two_sections_of_different_byte_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pcapng", tmp_path / "b.pcapng"
    with PcapngWriter(a) as w:
        w.interface(LINKTYPE_RAW)
        w.write(T0, tcp4(b"1"))
    with PcapngWriter(b, big=True) as w:
        w.interface(LINKTYPE_IPV6)
        w.write(T0 + 1000, tcp6(b"2"))
    both = tmp_path / "both.pcapng"
    both.write_bytes(a.read_bytes() + b.read_bytes())
    got = records(both)
    assert [(r[1], r[2]) for r in got] == [(LINKTYPE_RAW, tcp4(b"1")), (LINKTYPE_IPV6, tcp6(b"2"))]


def test_obsolete_packet_block(tmp_path: Path) -> None:
    p = tmp_path / "pb.pcapng"
    with PcapngWriter(p) as w:
        w.interface(LINKTYPE_RAW)
        ip = tcp4()
        body = struct.pack("<HHIIII", 0, 0, 0, 1000, len(ip), len(ip)) + ip
        w.raw_block(2, body)
    assert [r[2] for r in records(p)] == [tcp4()]


# -- link layers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL,
                                      LINKTYPE_LOOP, LINKTYPE_RAW, DLT_RAW, DLT_RAW_OPENBSD])
@pytest.mark.parametrize("v6", [False, True])
def test_link_layers(tmp_path: Path, linktype: int, v6: bool) -> None:
    ip = tcp6() if v6 else tcp4()
    p = tmp_path / "x.pcap"
    with PcapWriter(p, linktype) as w:
        w.write(T0, frame(linktype, ip))
        w.write(T0 + 1, frame(linktype, ip, outgoing=True))
    stats = LinkStats()
    assert [x[1] for x in ip_packets(open_capture(p), stats)] == [ip, ip]
    assert stats.frames == 2 and stats.ip == 2 and stats.not_ip == 0


@pytest.mark.parametrize("linktype,v6", [(LINKTYPE_IPV4, False), (LINKTYPE_IPV6, True)])
def test_raw_ipv4_and_ipv6_link_types(tmp_path: Path, linktype: int, v6: bool) -> None:
    ip = tcp6() if v6 else tcp4()
    other = tcp4() if v6 else tcp6()
    p = tmp_path / "x.pcap"
    with PcapWriter(p, linktype) as w:
        w.write(T0, ip)
        w.write(T0, other)  # the wrong version for this link type: not IP here
    stats = LinkStats()
    assert [x[1] for x in ip_packets(open_capture(p), stats)] == [ip]
    assert stats.not_ip == 1


def test_vlan_tags_and_qinq(tmp_path: Path) -> None:
    p = tmp_path / "vlan.pcap"
    with PcapWriter(p, LINKTYPE_ETHERNET) as w:
        w.write(T0, frame(LINKTYPE_ETHERNET, tcp4(), vlan=(10,)))
        w.write(T0, frame(LINKTYPE_ETHERNET, tcp6(), vlan=(10, 20)))
        qinq = frame(LINKTYPE_ETHERNET, tcp4(), vlan=(5,))
        w.write(T0, qinq[:12] + b"\x88\xa8" + qinq[14:])  # 802.1ad outer tag
    assert [x[1] for x in ip_packets(open_capture(p), LinkStats())] == [tcp4(), tcp6(), tcp4()]


def test_non_ip_frames_are_counted(tmp_path: Path) -> None:
    p = tmp_path / "arp.pcap"
    eth = frame(LINKTYPE_ETHERNET, tcp4())
    with PcapWriter(p, LINKTYPE_ETHERNET) as w:
        w.write(T0, eth[:12] + b"\x08\x06" + b"\x00" * 28)  # ARP
        w.write(T0, eth[:10])  # a runt
        w.write(T0, eth)
    stats = LinkStats()
    assert [x[1] for x in ip_packets(open_capture(p), stats)] == [tcp4()]
    assert stats.not_ip == 2


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    ip = tcp4(b"")  # 40 bytes: a minimum Ethernet frame pads it to 46
    p = tmp_path / "pad.pcap"
    with PcapWriter(p, LINKTYPE_ETHERNET) as w:
        w.write(T0, frame(LINKTYPE_ETHERNET, ip) + b"\x00" * 6 + b"FCS!")
    assert [x[1:] for x in ip_packets(open_capture(p), LinkStats())] == [(ip, False)]


def test_snaplen_truncated_packets_are_flagged(tmp_path: Path) -> None:
    p = tmp_path / "snap.pcap"
    with PcapWriter(p, LINKTYPE_RAW, snaplen=60) as w:
        w.write(T0, tcp4(b"x" * 100))
        w.write(T0, tcp4(b"y"))
    stats = LinkStats()
    got = list(ip_packets(open_capture(p), stats))
    assert [(len(ip), cut) for _t, ip, cut in got] == [(60, True), (41, False)]
    assert stats.truncated == 1


def test_unknown_link_type_frames_are_counted(tmp_path: Path) -> None:
    p = tmp_path / "x.pcapng"
    with PcapngWriter(p) as w:
        w.interface(147)  # LINKTYPE_USER0
        w.interface(LINKTYPE_RAW)
        w.write(T0, b"\x01\x02\x03", 0)
        w.write(T0, tcp4(), 1)
    stats = LinkStats()
    assert [x[1] for x in ip_packets(open_capture(p), stats)] == [tcp4()]
    assert stats.unknown_linktype == {147: 1}


def test_batches_carry_the_leg(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    with PcapWriter(p, LINKTYPE_RAW) as w:
        w.write(T0, tcp4())
    (batch,) = list(ip_batches(open_capture(p).batches(), 1, LinkStats()))
    assert batch == [(T0 // 1000 * 1000, 1, tcp4(), False)]


# -- bad input: named errors, never a crash -----------------------------------------------------------------


def test_not_a_capture(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(b"GET / HTTP/1.1\r\n\r\nthis is not a capture file")
    with pytest.raises(CaptureFormatError, match="not a pcap or pcapng file"):
        open_capture(p)


@pytest.mark.parametrize("content", [b"", b"\xd4\xc3", b"\xd4\xc3\xb2\xa1\x02\x00"])
def test_too_short_files(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(content)
    with pytest.raises(CaptureFormatError):
        open_capture(p)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureFormatError, match="no such file"):
        open_capture(tmp_path / "nope.pcap")
    with pytest.raises(CaptureFormatError, match="not a regular file"):
        open_capture(tmp_path)


def test_modified_pcap_is_refused_by_name(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1))
    with pytest.raises(CaptureFormatError, match="modified"):
        open_capture(p)


@pytest.mark.parametrize("cut", [5, 16, 30])
def test_truncated_pcap_keeps_complete_records(tmp_path: Path, cut: int) -> None:
    p = tmp_path / "x.pcap"
    with PcapWriter(p, LINKTYPE_RAW) as w:
        w.write(T0, tcp4(b"first"))
        w.write(T0, tcp4(b"second"))
    data = p.read_bytes()
    one = 24 + 16 + len(tcp4(b"first"))
    p.write_bytes(data[:one + cut])
    got = []
    with pytest.raises(TruncatedCapture) as exc, open_capture(p) as r:
        for rec in r:
            got.append(rec[2])
    assert got == [tcp4(b"first")]
    assert exc.value.records == 1 and exc.value.offset == one
    assert isinstance(exc.value, SpliceCheckError)


def test_truncated_pcapng(tmp_path: Path) -> None:
    p = tmp_path / "x.pcapng"
    with PcapngWriter(p) as w:
        w.interface(LINKTYPE_RAW)
        w.write(T0, tcp4(b"first"))
        w.write(T0, tcp4(b"second"))
    p.write_bytes(p.read_bytes()[:-7])
    got = []
    with pytest.raises(TruncatedCapture), open_capture(p) as r:
        for rec in r:
            got.append(rec[2])
    assert got == [tcp4(b"first")]


def test_absurd_record_length(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    with PcapWriter(p, LINKTYPE_RAW) as w:
        w.write(T0, tcp4())
    data = bytearray(p.read_bytes())
    struct.pack_into("<I", data, 24 + 8, 0x7FFF_FFFF)
    p.write_bytes(bytes(data))
    with pytest.raises(CaptureFormatError, match="claims"), open_capture(p) as r:
        list(r)


def test_pcapng_corrupt_blocks(tmp_path: Path) -> None:
    p = tmp_path / "x.pcapng"
    with PcapngWriter(p) as w:
        w.interface(LINKTYPE_RAW)
        w.write(T0, tcp4())
    good = p.read_bytes()
    bad = bytearray(good)
    bad[-4:] = struct.pack("<I", 999)  # trailing length differs
    p.write_bytes(bytes(bad))
    with pytest.raises(CaptureFormatError, match="trailing length"), open_capture(p) as r:
        list(r)
    p.write_bytes(good[:28] + struct.pack("<II", BLOCK_EPB, 13) + b"\x00" * 8)  # length not a multiple of 4
    with pytest.raises(CaptureFormatError, match="length"), open_capture(p) as r:
        list(r)
    shb_only = good[:28]
    epb = struct.pack("<IIIIIII", BLOCK_EPB, 32, 3, 0, 0, 0, 0) + struct.pack("<I", 32)
    p.write_bytes(shb_only + epb)  # a packet naming an interface never described
    with pytest.raises(CaptureFormatError, match="interface"), open_capture(p) as r:
        list(r)


def test_unknown_link_type_error_is_named() -> None:
    exc = UnknownLinkType(147, "x.pcap")
    assert isinstance(exc, SpliceCheckError) and "147" in str(exc) and "x.pcap" in str(exc)
