"""Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4; RFC 1982; Linux ``include/net/tcp.h``).

Every function is generic (see :mod:`splicecheck.reference.arith`): the relay runs it on ints, the Z3
proofs run it on 32-bit bit-vectors.

Two orders are defined, because real stacks and the RFCs disagree at one point.

``before(a, b)`` / ``after(a, b)`` — Linux's order: ``before(a, b)`` iff ``(s32)(a - b) < 0``, i.e.
iff ``(a - b) mod 2^32`` has its top bit set, i.e. ``b`` lies 1..2^31 ahead of ``a``.

``serial_lt(a, b)`` / ``serial_gt(a, b)`` — RFC 1982 §3.2 with SERIAL_BITS = 32: ``a < b`` iff
``b`` lies 1..2^31-1 ahead of ``a``.

The distance of exactly 2^31 (SEQ-ORDER-HALF)
    When ``(b - a) mod 2^32 == 2^31`` the two numbers are diametrically opposite on the circle.
    RFC 1982 leaves the comparison undefined: ``serial_lt(a, b)``, ``serial_lt(b, a)``,
    ``serial_gt(a, b)`` and ``serial_gt(b, a)`` are all False, and ``unordered(a, b)`` is True.
    Linux's ``before`` is not antisymmetric there: ``before(a, b)`` and ``before(b, a)`` are both
    True (and so are both ``after``\\ s). splicecheck's relay trims in Linux's order, so while
    nothing past ``splice_irs`` has been relayed a segment that starts exactly 2^31 from it counts
    as lying below the base and its data is trimmed (requirement TRIM-HALF; how the stretch below the
    base shrinks as the stream advances is in :mod:`~splicecheck.reference.mapping`, "Stream order and
    the advance"). Away from that single distance the two orders agree:
    ``before(a, b) == serial_lt(a, b)`` whenever ``(b - a) mod 2^32 != 2^31``.
"""

from __future__ import annotations

from .arith import MASK32, Truth, Word, and_, bit_set, eq, not_, ule, ult

#: The sequence space's constants, defined here once (MASK32, its mask, comes from arith): the modulus
#: 2^32 and half of it, 2^31 — the distance at which RFC 1982's order is undefined and the sign bit of a
#: 32-bit difference.
MOD32 = 1 << 32
HALF = 1 << 31


def seq_add(a: Word, b: Word) -> Word:
    """``(a + b) mod 2^32``."""
    return (a + b) & MASK32


def seq_sub(a: Word, b: Word) -> Word:
    """``(a - b) mod 2^32``: the forward distance from ``b`` to ``a``."""
    return (a - b) & MASK32


def before(a: Word, b: Word) -> Truth:
    """Linux ``before(a, b)``: ``(s32)(a - b) < 0``. True for both orders at distance 2^31."""
    return bit_set(seq_sub(a, b), HALF)


def after(a: Word, b: Word) -> Truth:
    """Linux ``after(a, b)`` == ``before(b, a)``."""
    return before(b, a)


def before_eq(a: Word, b: Word) -> Truth:
    """``!after(a, b)`` as in Linux: ``a`` is ``b`` or before it."""
    return not_(after(a, b))


def serial_lt(a: Word, b: Word) -> Truth:
    """RFC 1982 §3.2 ``a < b``: ``b`` is 1 .. 2^31-1 ahead of ``a``. False at distance 2^31."""
    d = seq_sub(b, a)
    return and_(not_(eq(d, 0)), ule(d, HALF - 1))


def serial_gt(a: Word, b: Word) -> Truth:
    """RFC 1982 §3.2 ``a > b``."""
    return serial_lt(b, a)


def unordered(a: Word, b: Word) -> Truth:
    """The one case RFC 1982 leaves undefined: ``a`` and ``b`` exactly 2^31 apart."""
    return eq(seq_sub(a, b), HALF)


def in_window(x: Word, left: Word, length: Word) -> Truth:
    """``x`` lies in the half-open window ``[left, left + length)`` on the circle.

    ``length`` must be below 2^32; for ``length == 0`` the window is empty.
    """
    return ult(seq_sub(x, left), length)
