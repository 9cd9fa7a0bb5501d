"""The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

Full computation works on bytes. The incremental update, :func:`rfc1624_update`, is generic (ints or
z3 bit-vectors, see :mod:`splicecheck.reference.arith`) because the Z3 proofs check it against full
recomputation; it is the one update every incremental checksum of the package goes through (the
relay's TCP and IPv4 headers, the trace checker's fast path, the mutant zoo's reseal).

One's complement corner cases (RFC 1624 §3): the one's complement sum of data that is not all zero
is never ``0x0000`` — end-around carry turns it into ``0xFFFF`` — so a *computed* TCP checksum is
never ``0xFFFF`` unless every summed word is zero. RFC 1141's update ``HC' = HC + m + ~m'`` can
produce ``0x0000``/``0xFFFF`` values that full recomputation never would; RFC 1624 eqn. 3,
``HC' = ~(~HC + ~m + m')``, cannot. Both are here; everything uses eqn. 3, and the mutant zoo and the
proofs use RFC 1141's as the negative example.
"""

from __future__ import annotations

import struct

from .arith import MASK16, Word, ite, ult


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


def rfc1624_update(old_sum: Word, new_sum: Word) -> Word:
    """RFC 1624 eqn. 3, ``HC' = ~(~HC + ~m + m')``, over sums of words: the new checksum.

    ``old_sum`` is congruent modulo 0xFFFF to the received checksum ``HC`` plus the old words ``m``
    that change, ``new_sum`` to their replacements ``m'``; only ``old_sum - new_sum`` matters, so a
    word may move to the other side with its sign flipped (a precomputed difference ``m' - m`` may
    stand in ``new_sum``), and words that do not change may be summed on both sides. Integers are
    enough, not 16-bit sums: ``2^16 ≡ 1 (mod 0xFFFF)``, so a 32-bit field counts as its value and a
    byte string as its big-endian integer (RFC 1071 §2).

    Why ``(old_sum - new_sum) mod 0xFFFF``: in one's complement ``~x ≡ -x``, so the sum inside eqn. 3
    is congruent to ``-(HC + m) + m' ≡ -r`` with ``r = old_sum - new_sum``. A one's complement sum of
    data that is not all zero is never +0 (end-around carry, RFC 1624 §3), so the sum is ``-r mod
    0xFFFF``, or 0xFFFF when that residue is 0; its complement is ``r mod 0xFFFF`` — never 0xFFFF,
    the value full recomputation cannot produce either. Premise, as for every TCP or IPv4 checksum:
    the checksummed data is not all zero (protocol 6 in the pseudo-header; version 4 in the header).

    Generic: on z3 bit-vectors ``%`` is the signed ``bvsmod``, which for the positive divisor 0xFFFF
    agrees with Python's ``%`` when the width holds both sums and their difference as signed
    numbers (the proofs, PROOF-CSUM-RFC1624 and PROOF-CSUM-FAILSAFE, use words wider than 17 bits).
    """
    return (old_sum - new_sum) % MASK16


def rfc1141_update(hc: Word, old: Word, new: Word) -> Word:
    """RFC 1141's ``HC' = HC + m + ~m'`` (end-around carry). Wrong at the 0x0000/0xFFFF corner:
    kept only as the negative example for the proofs and the mutant zoo."""
    return ones_add(ones_add(hc, old), ones_neg(new))
