"""The Internet checksum: full computation against scapy, the one's complement sum against a plain word
loop, and RFC 1624 eqn. 3 (and its RFC 1141 predecessor) against full recomputation."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw
from scapy.utils import checksum as scapy_checksum
from splicecheck.reference.checksum import (
    internet_checksum,
    ipv4_header_checksum,
    ones_add,
    ones_sum,
    pseudo_header,
    rfc1141_update,
    rfc1624_update,
    tcp_checksum,
)
from splicecheck.reference.segment import addr


def _fold(total: int) -> int:
    """Fold a non-negative integer sum of 16-bit words to 16 bits with end-around carry."""
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _int(data: bytes | bytearray) -> int:
    """A byte string as the relay passes it to ``rfc1624_update``: its big-endian integer, congruent
    modulo 0xFFFF to the sum of its 16-bit words (RFC 1071 §2)."""
    return int.from_bytes(data, "big")


def loop_ones_sum(data: bytes) -> int:
    """The textbook RFC 1071 loop: add big-endian words, fold the carries back in, one word at a time."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        if total > 0xFFFF:
            total = (total & 0xFFFF) + 1
    return total


def loop_checksum(data: bytes) -> int:
    return ~loop_ones_sum(data) & 0xFFFF


def words(*ws: int) -> bytes:
    return struct.pack(f"!{len(ws)}H", *ws)


# --------------------------------------------------------------------------------------------------
# ones_sum / internet_checksum
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\x00\x00", b"\xff", b"\xff\xff", b"\xff\xff" * 7, b"\x00\x01\xff\xfe", b"\x80\x00\x80\x00",
     b"\x00" * 99, b"\xff" * 99, b"\x12", words(0xFFFE, 0x0001), words(0x5555, 0xAAAA), words(0xFFFF, 0x0000, 0)],
)
def test_ones_sum_corners(data):
    assert ones_sum(data) == loop_ones_sum(data)
    assert internet_checksum(data) == loop_checksum(data)


def test_ones_sum_zero_only_for_all_zero_data():
    assert ones_sum(b"\x00" * 10) == 0
    # Words that add up to a multiple of 0xFFFF give -0 (0xFFFF), never +0.
    assert ones_sum(words(0x0001, 0xFFFE)) == 0xFFFF
    assert ones_sum(words(0xFFFF, 0xFFFF, 0xFFFF)) == 0xFFFF


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=301))
def test_ones_sum_matches_word_loop(data):
    assert ones_sum(data) == loop_ones_sum(data)
    assert internet_checksum(data) == loop_checksum(data)
    assert internet_checksum(data) == scapy_checksum(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0x0000, 0xFFFF, 0x0001, 0xFFFE, 0x8000, 0x7FFF]), max_size=40))
def test_ones_sum_matches_word_loop_on_corner_words(ws):
    data = words(*ws)
    assert ones_sum(data) == loop_ones_sum(data)
    assert ones_sum(data + b"\x01") == loop_ones_sum(data + b"\x01")


def test_ones_sum_random_odd_lengths():
    rng = random.Random(1624)
    for n in range(1, 200, 2):
        data = rng.randbytes(n)
        assert ones_sum(data) == loop_ones_sum(data)
        # An odd trailing byte is the high byte of a zero-padded word.
        assert ones_sum(data) == ones_sum(data + b"\x00")


@settings(max_examples=300)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_ones_add_matches_fold(a, b):
    assert ones_add(a, b) == _fold(a + b)
    assert ones_add(a, b) == loop_ones_sum(words(a, b))


# --------------------------------------------------------------------------------------------------
# Full TCP / IP checksums against scapy
# --------------------------------------------------------------------------------------------------


def random_scapy_packet(rng: random.Random, version: int) -> bytes:
    if version == 4:
        ip = IP(src=".".join(str(rng.randrange(256)) for _ in range(4)),
                dst=".".join(str(rng.randrange(256)) for _ in range(4)),
                tos=rng.randrange(256), id=rng.randrange(65536), ttl=rng.randrange(256))
    else:
        ip = IPv6(src=":".join(f"{rng.randrange(65536):x}" for _ in range(8)),
                  dst=":".join(f"{rng.randrange(65536):x}" for _ in range(8)),
                  tc=rng.randrange(256), fl=rng.randrange(1 << 20), hlim=rng.randrange(256))
    ts = ("Timestamp", (rng.getrandbits(32), rng.getrandbits(32)))
    opts = rng.choice([[], [("MSS", rng.randrange(65536))], [("NOP", None), ("NOP", None), ts],
                       [("SAckOK", b""), ("WScale", rng.randrange(15))]])
    tcp = TCP(sport=rng.randrange(65536), dport=rng.randrange(65536), seq=rng.getrandbits(32),
              ack=rng.getrandbits(32), flags=rng.randrange(512), window=rng.randrange(65536),
              urgptr=rng.randrange(65536), options=opts)
    payload = rng.randbytes(rng.choice([0, 1, 2, 3, rng.randrange(1461)]))
    return bytes(ip / tcp / Raw(payload)) if payload else bytes(ip / tcp)


@pytest.mark.parametrize("version", [4, 6])
def test_tcp_checksum_matches_scapy(version):
    rng = random.Random(version)
    for _ in range(150):
        raw = random_scapy_packet(rng, version)
        hl = (raw[0] & 0x0F) * 4 if version == 4 else 40
        src, dst = (raw[12:16], raw[16:20]) if version == 4 else (raw[8:24], raw[24:40])
        scapy_tcp = struct.unpack_from("!H", raw, hl + 16)[0]
        assert tcp_checksum(src, dst, raw[hl:]) == scapy_tcp
        # Verification: the sum over pseudo-header and segment, checksum included, is -0.
        assert ones_add(ones_sum(pseudo_header(src, dst, len(raw) - hl)), ones_sum(raw[hl:])) == 0xFFFF
        if version == 4:
            assert ipv4_header_checksum(raw[:hl]) == struct.unpack_from("!H", raw, 10)[0]
            assert internet_checksum(raw[:hl]) == 0


def test_pseudo_header_layouts():
    assert pseudo_header(addr("192.0.2.1"), addr("192.0.2.2"), 0x1234) == bytes(
        [192, 0, 2, 1, 192, 0, 2, 2, 0, 6, 0x12, 0x34])
    ph6 = pseudo_header(addr("2001:db8::1"), addr("2001:db8::2"), 0x10000)
    assert len(ph6) == 40
    assert ph6[32:] == b"\x00\x01\x00\x00\x00\x00\x00\x06"


def test_computed_tcp_checksum_is_never_minus_zero():
    """With protocol 6 in the pseudo-header the sum is never +0, so the checksum is never 0xFFFF; a
    segment can still legitimately carry 0x0000."""
    src, dst = addr("10.0.0.1"), addr("10.0.0.2")
    tcp = bytearray(struct.pack("!HHIIHHHH", 1, 2, 3, 4, 0x5010, 100, 0, 0) + b"\x00\x00")
    c = tcp_checksum(src, dst, bytes(tcp))
    # Put the value that drives the sum to 0xFFFF into the two payload bytes: checksum becomes 0x0000.
    struct.pack_into("!H", tcp, 20, c)
    assert tcp_checksum(src, dst, bytes(tcp)) == 0x0000


# --------------------------------------------------------------------------------------------------
# Incremental update (RFC 1624)
# --------------------------------------------------------------------------------------------------


@st.composite
def tcp_with_rewrite(draw: st.DrawFn) -> tuple[bytes, bytes, bytes, int, int]:
    v6 = draw(st.booleans())
    src = draw(st.binary(min_size=16 if v6 else 4, max_size=16 if v6 else 4))
    dst = draw(st.binary(min_size=16 if v6 else 4, max_size=16 if v6 else 4))
    head = struct.pack("!HHIIHHHH", *(draw(st.integers(0, m)) for m in
                                      (0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF, 0xFFFF, 0, 0xFFFF)))
    body = head + draw(st.binary(max_size=64))
    word = draw(st.sampled_from([i for i in range(0, len(body) - 1, 2) if i != 16]))
    new = draw(st.one_of(st.integers(0, 0xFFFF), st.sampled_from([0, 0xFFFF])))
    return src, dst, body, word, new


@settings(max_examples=500, deadline=None)
@given(tcp_with_rewrite())
def test_rfc1624_equals_recomputation_for_random_rewrites(case):
    src, dst, body, word, new = case
    hc = tcp_checksum(src, dst, body)
    old = struct.unpack_from("!H", body, word)[0]
    rewritten = bytearray(body)
    struct.pack_into("!H", rewritten, word, new)
    expected = tcp_checksum(src, dst, bytes(rewritten))
    assert rfc1624_update(hc + old, new) == expected
    assert rfc1624_update(hc + _int(body[word:word + 2]), _int(rewritten[word:word + 2])) == expected


CORNER_WORDS = (0x0000, 0xFFFF, 0x0001, 0xFFFE, 0x5555, 0xAAAA, 0x8000, 0x7FFF)


def test_rfc1624_corner_cases_exhaustively():
    """All data ``[r, m]`` for every 16-bit ``r`` and old/new words ``m, m'`` in {0x0000, 0xFFFF} (RFC 1624
    §3), plus more corner words for the values of ``r`` that give checksums 0x0000 and 0xFFFF.

    The only disagreements are rewrites whose *new* data is all zero: its checksum is 0xFFFF (sum +0),
    but eqn. 3 can only answer 0x0000 (-0), because one's complement addition yields +0 only from +0
    operands and ``~HC`` of real data is never +0. TCP and IPv4 data are never all zero (protocol 6 in the
    pseudo-header, the version nibble), so the relay never meets this case.
    """
    disagreements = set()
    checked_hc = set()
    for r in range(0x10000):
        for m in (0x0000, 0xFFFF):
            hc = internet_checksum(words(r, m))
            checked_hc.add(hc)
            for m2 in (0x0000, 0xFFFF):
                expected = internet_checksum(words(r, m2))
                got = rfc1624_update(hc + m, m2)
                if got != expected:
                    disagreements.add((r, m, m2))
                    assert (got, expected) == (0x0000, 0xFFFF)
    assert {0x0000, 0xFFFF} <= checked_hc
    assert disagreements == {(0, 0x0000, 0x0000), (0, 0xFFFF, 0x0000)}
    # Every data value whose checksum is 0x0000 or 0xFFFF, against a wider set of words.
    for m in CORNER_WORDS:
        for r in {(~m) & 0xFFFF, (0xFFFF - m) or 0xFFFF, 0}:
            hc = internet_checksum(words(r, m))
            for m2 in CORNER_WORDS:
                if (r, m2) == (0, 0):
                    continue
                expected = internet_checksum(words(r, m2))
                assert rfc1624_update(hc + m, m2) == expected, (r, m, m2)


def test_rfc1624_worked_example():
    """RFC 1624 §3/§4: other octets sum to 0xCD7A, m = 0x5555 → m' = 0x3285."""
    hc = internet_checksum(words(0xCD7A, 0x5555))
    assert hc == 0xDD2F
    assert internet_checksum(words(0xCD7A, 0x3285)) == 0x0000
    assert rfc1624_update(0xDD2F + 0x5555, 0x3285) == 0x0000
    assert rfc1141_update(0xDD2F, 0x5555, 0x3285) == 0xFFFF


def test_rfc1141_disagrees_with_recomputation_at_the_corner():
    """Search for a rewrite where RFC 1141's ``HC + m + ~m'`` is not what recomputation gives."""
    found = None
    for r in range(1, 0x10000):
        for m in CORNER_WORDS:
            for m2 in CORNER_WORDS:
                hc = internet_checksum(words(r, m))
                if rfc1141_update(hc, m, m2) != internet_checksum(words(r, m2)):
                    found = (r, m, m2, hc)
                    break
            if found:
                break
        if found:
            break
    assert found is not None
    r, m, m2, hc = found
    expected = internet_checksum(words(r, m2))
    wrong = rfc1141_update(hc, m, m2)
    assert wrong != expected
    # It is exactly the two-zeros ambiguity: RFC 1141 gives -0 where recomputation gives +0 ...
    assert {wrong, expected} == {0x0000, 0xFFFF}
    # ... and eqn. 3 gets the same rewrite right.
    assert rfc1624_update(hc + m, m2) == expected


def test_rfc1141_agrees_away_from_the_corner():
    """Away from a result of 0x0000/0xFFFF the two updates agree, so the search above is not trivial."""
    rng = random.Random(1141)
    for _ in range(5000):
        r, m, m2 = (rng.randrange(0x10000) for _ in range(3))
        hc = internet_checksum(words(r, m))
        expected = internet_checksum(words(r, m2))
        if expected not in (0x0000, 0xFFFF):
            assert rfc1141_update(hc, m, m2) == expected


# --------------------------------------------------------------------------------------------------
# rfc1624_update on a real TCP header: 32-bit fields and byte strings summed as their values
# --------------------------------------------------------------------------------------------------


def real_tcp(version: int, payload: bytes = b"GET / HTTP/1.1\r\n\r\n") -> tuple[bytes, bytes, bytes]:
    if version == 4:
        raw = bytes(IP(src="192.0.2.10", dst="198.51.100.20") / TCP(
            sport=50000, dport=80, seq=0x12345678, ack=0xFFFFFFF0, flags="PA",
            options=[("NOP", None), ("NOP", None), ("Timestamp", (0xCAFEBABE, 0x01020304))]) / Raw(payload))
        return raw[12:16], raw[16:20], raw[20:]
    raw = bytes(IPv6(src="2001:db8::10", dst="2001:db8::20") / TCP(
        sport=50000, dport=80, seq=0x12345678, ack=0xFFFFFFF0, flags="PA",
        options=[("NOP", None), ("NOP", None), ("Timestamp", (0xCAFEBABE, 0x01020304))]) / Raw(payload))
    return raw[8:24], raw[24:40], raw[40:]


U32_FIELDS = {"seq": 4, "ack": 8, "tsval": 24, "tsecr": 28}


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("field", list(U32_FIELDS))
@pytest.mark.parametrize("new", [0, 0xFFFFFFFF, 0x80000000, 0x0000FFFF, 0xFFFF0000, 0x12345678, 0xDEADBEEF])
def test_rfc1624_update_of_a_32_bit_tcp_field(version, field, new):
    src, dst, tcp = real_tcp(version)
    off = U32_FIELDS[field]
    hc = struct.unpack_from("!H", tcp, 16)[0]
    assert hc == tcp_checksum(src, dst, tcp)
    old = struct.unpack_from("!I", tcp, off)[0]
    rewritten = bytearray(tcp)
    struct.pack_into("!I", rewritten, off, new)
    expected = tcp_checksum(src, dst, bytes(rewritten))
    assert rfc1624_update(hc + old, new) == expected
    assert rfc1624_update(hc + _int(tcp[off:off + 4]), _int(rewritten[off:off + 4])) == expected


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([4, 6]), st.sampled_from(list(U32_FIELDS)), st.integers(0, 0xFFFFFFFF),
       st.binary(max_size=33))
def test_rfc1624_update_of_a_32_bit_field_random(version, field, new, payload):
    src, dst, tcp = real_tcp(version, payload)
    off = U32_FIELDS[field]
    hc = tcp_checksum(src, dst, tcp)
    old = struct.unpack_from("!I", tcp, off)[0]
    rewritten = bytearray(tcp)
    struct.pack_into("!I", rewritten, off, new)
    expected = tcp_checksum(src, dst, bytes(rewritten))
    assert rfc1624_update(hc + old, new) == expected
    assert rfc1624_update(hc + _int(tcp[off:off + 4]), _int(rewritten[off:off + 4])) == expected


def test_rfc1624_update_from_and_to_checksum_zero():
    """A segment whose checksum is 0x0000 (sum -0) updated through a seq rewrite, both ways."""
    src, dst, tcp = real_tcp(4, b"\x00\x00")
    t = bytearray(tcp)
    struct.pack_into("!H", t, 16, 0)
    struct.pack_into("!H", t, len(t) - 2, tcp_checksum(src, dst, bytes(t)))  # force the checksum to 0x0000
    assert tcp_checksum(src, dst, bytes(t)) == 0x0000
    old = struct.unpack_from("!I", t, 4)[0]
    for new in (0, 0xFFFFFFFF, old ^ 0xFFFF, (old + 1) & 0xFFFFFFFF):
        r = bytearray(t)
        struct.pack_into("!I", r, 4, new)
        expected = tcp_checksum(src, dst, bytes(r))
        assert rfc1624_update(0x0000 + old, new) == expected
        assert rfc1624_update(expected + new, old) == 0x0000


@pytest.mark.parametrize("version", [4, 6])
def test_rfc1624_update_for_an_address_rewrite(version):
    """NAT-style rewrite of the source address, which only enters through the pseudo-header."""
    src, dst, tcp = real_tcp(version)
    hc = tcp_checksum(src, dst, tcp)
    rng = random.Random(version)
    for _ in range(200):
        new_src = rng.randbytes(len(src))
        assert rfc1624_update(hc + _int(src), _int(new_src)) == tcp_checksum(new_src, dst, tcp)
    assert rfc1624_update(hc + _int(src), _int(src)) == hc


def test_rfc1624_update_for_ports_and_seq_together():
    src, dst, tcp = real_tcp(4)
    hc = tcp_checksum(src, dst, tcp)
    new_head = struct.pack("!HHI", 8080, 65535, 0xFFFFFFFF)
    rewritten = new_head + tcp[8:]
    assert rfc1624_update(hc + _int(tcp[:8]), _int(new_head)) == tcp_checksum(src, dst, rewritten)
