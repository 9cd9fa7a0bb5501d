"""The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

Full computation works on bytes. The incremental update is generic (ints or 16-bit z3 bit-vectors,
see :mod:`splicecheck.reference.arith`) because the Z3 proofs check it against full recomputation.

One's complement corner cases (RFC 1624 §3): the one's complement sum of data that is not all zero
is never ``0x0000`` — end-around carry turns it into ``0xFFFF`` — so a *computed* TCP checksum is
never ``0xFFFF`` unless every summed word is zero. RFC 1141's update ``HC' = HC + m + ~m'`` can
produce ``0x0000``/``0xFFFF`` values that full recomputation never would; RFC 1624 eqn. 3,
``HC' = ~(~HC + ~m + m')``, cannot. Both are here; the relay uses eqn. 3 and the mutant zoo and the
proofs use RFC 1141's as the negative example.
"""

from __future__ import annotations

import struct

from .arith import MASK16, Word, ite, ult

_U16 = struct.Struct("!H")


def ones_sum(data: bytes) -> int:
    """One's complement sum of ``data`` as big-endian 16-bit words (odd length: zero-padded).

    Uses ``2**16 ≡ 1 (mod 0xFFFF)``: the big-endian integer of the data is congruent to the sum of
    its words, so one big-int remainder replaces a Python loop. The residue 0 stands for ``0xFFFF``
    unless all data is zero, because an end-around-carry sum of non-zero words is never 0.
    """
    if len(data) & 1:
        data = bytes(data) + b"\x00"
    s = int.from_bytes(data, "big") % 0xFFFF
    if s == 0 and any(data):
        return 0xFFFF
    return s


def ones_add(a: Word, b: Word) -> Word:
    """One's complement 16-bit addition with end-around carry (generic)."""
    s = (a + b) & MASK16
    return ite(ult(s, a), (s + 1) & MASK16, s)


def ones_neg(a: Word) -> Word:
    return (~a) & MASK16


def fold(total: int) -> int:
    """Fold a non-negative integer sum of 16-bit words to 16 bits with end-around carry."""
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: bytes) -> int:
    """RFC 1071: the one's complement of the one's complement sum."""
    return (~ones_sum(data)) & 0xFFFF


def ipv4_header_checksum(header: bytes) -> int:
    """Checksum of an IPv4 header with its checksum field (bytes 10-11) taken as zero."""
    return internet_checksum(header[:10] + b"\x00\x00" + header[12:])


def pseudo_header(src: bytes, dst: bytes, tcp_length: int) -> bytes:
    """RFC 9293 §3.1 (IPv4) and RFC 8200 §8.1 (IPv6) pseudo-headers for protocol 6."""
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, 6, tcp_length)
    return src + dst + struct.pack("!IxxxB", tcp_length, 6)


def tcp_checksum(src: bytes, dst: bytes, tcp: bytes) -> int:
    """Checksum of a TCP header+payload (checksum field at bytes 16-17 taken as zero)."""
    body = tcp[:16] + b"\x00\x00" + tcp[18:]
    total: int = ones_add(ones_sum(pseudo_header(src, dst, len(tcp))), ones_sum(body))
    return (~total) & 0xFFFF


def rfc1624_update(hc: Word, old: Word, new: Word) -> Word:
    """RFC 1624 eqn. 3: ``HC' = ~(~HC + ~m + m')`` for one 16-bit word ``m`` → ``m'`` (generic)."""
    return ones_neg(ones_add(ones_add(ones_neg(hc), ones_neg(old)), new))


def rfc1141_update(hc: Word, old: Word, new: Word) -> Word:
    """RFC 1141's ``HC' = HC + m + ~m'`` (end-around carry). Wrong at the 0x0000/0xFFFF corner:
    kept only as the negative example for the proofs and the mutant zoo."""
    return ones_add(ones_add(hc, old), ones_neg(new))


def update_words(hc: int, old: bytes, new: bytes) -> int:
    """Apply eqn. 3 word by word for a byte range that changed from ``old`` to ``new``.

    Both ranges must have the same even length and start at an even offset of the checksummed data.
    """
    if old == new:
        return hc
    # Summing whole ranges first is the same as chaining eqn. 3 per word: ~(~HC + Σ~m + Σm').
    acc = ones_add(ones_neg(hc), ones_add(ones_neg(ones_sum(old)), ones_sum(new)))
    result: int = ones_neg(acc)
    return result


def update_u16(hc: int, old: int, new: int) -> int:
    result: int = rfc1624_update(hc, old, new) if old != new else hc
    return result


def update_u32(hc: int, old: int, new: int) -> int:
    if old == new:
        return hc
    hc = rfc1624_update(hc, old >> 16, new >> 16)
    result: int = rfc1624_update(hc, old & 0xFFFF, new & 0xFFFF)
    return result


def pack_u16(value: int) -> bytes:
    return _U16.pack(value)
