"""Sequence-space arithmetic: exhaustive loops over the wrap windows (after aioquic's
``test_decode_packet_number``) against plain definitions, and the same functions on z3 bit-vectors."""

from __future__ import annotations

import itertools

import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st
from splicecheck.reference.seqspace import (
    HALF,
    MOD32,
    after,
    before,
    before_eq,
    in_window,
    seq_add,
    seq_sub,
    serial_gt,
    serial_lt,
    unordered,
)

SIDE = 200  # values on each side of a window's centre


def window(centre: int) -> list[int]:
    return [(centre + d) % MOD32 for d in range(-SIDE, SIDE + 1)]


WINDOWS = {"zero": window(0), "half": window(HALF), "max": window(MOD32 - 1)}


def s32(x: int) -> int:
    """Two's complement reading of a 32-bit value, as C's ``(s32)`` cast."""
    x %= MOD32
    return x - MOD32 if x >= HALF else x


def ref_before(a: int, b: int) -> bool:
    """Linux ``before(a, b)``: ``(s32)(a - b) < 0``."""
    return s32(a - b) < 0


def ref_serial_lt(i1: int, i2: int) -> bool:
    """RFC 1982 §3.2, SERIAL_BITS = 32, transcribed literally."""
    return (i1 < i2 and i2 - i1 < HALF) or (i1 > i2 and i1 - i2 > HALF)


def ref_serial_gt(i1: int, i2: int) -> bool:
    """RFC 1982 §3.2 ``i1 > i2``."""
    return (i1 < i2 and i2 - i1 > HALF) or (i1 > i2 and i1 - i2 < HALF)


@pytest.mark.parametrize(("wa", "wb"), list(itertools.product(WINDOWS, repeat=2)))
def test_orders_exhaustively_over_wrap_windows(wa, wb):
    halves = 0
    for a in WINDOWS[wa]:
        for b in WINDOWS[wb]:
            bf = before(a, b)
            assert bf == ref_before(a, b), (a, b)
            assert after(a, b) == ref_before(b, a), (a, b)
            assert before_eq(a, b) == (not ref_before(b, a)), (a, b)
            lt = serial_lt(a, b)
            gt = serial_gt(a, b)
            assert lt == ref_serial_lt(a, b), (a, b)
            assert gt == ref_serial_gt(a, b), (a, b)
            un = unordered(a, b)
            assert un == ((b - a) % MOD32 == HALF), (a, b)
            if un:
                halves += 1
                # RFC 1982 leaves it undefined; Linux says "before" both ways.
                assert bf and before(b, a) and after(a, b) and after(b, a), (a, b)
                assert not (lt or gt or serial_lt(b, a) or serial_gt(b, a)), (a, b)
            else:
                assert bf == lt, (a, b)
                assert after(a, b) == gt, (a, b)
                # Exactly one of <, =, > (RFC 1982 is a total order away from the half distance).
                assert [lt, a == b, gt].count(True) == 1, (a, b)
    # The windows really contain pairs exactly 2^31 apart iff one is the "half" window and the other not.
    assert (halves > 0) == ((wa == "half") != (wb == "half"))


@pytest.mark.parametrize(("wa", "wb"), list(itertools.product(WINDOWS, repeat=2)))
def test_seq_add_sub_wrap_over_windows(wa, wb):
    for a in WINDOWS[wa]:
        for b in WINDOWS[wb]:
            s = seq_add(a, b)
            d = seq_sub(a, b)
            assert s == (a + b) % MOD32 and 0 <= s < MOD32
            assert d == (a - b) % MOD32 and 0 <= d < MOD32
            assert seq_add(d, b) == a
            assert seq_sub(s, b) == a


def test_half_distance_concretely():
    for a in (0, 1, HALF - 1, HALF, MOD32 - 1):
        b = (a + HALF) % MOD32
        assert unordered(a, b) and unordered(b, a)
        assert before(a, b) and before(b, a)
        assert after(a, b) and after(b, a)
        assert not serial_lt(a, b) and not serial_lt(b, a)
        assert not serial_gt(a, b) and not serial_gt(b, a)
        # One step closer and the orders agree again.
        c = (b - 1) % MOD32
        assert before(a, c) and serial_lt(a, c) and not before(c, a) and not unordered(a, c)
        c = (b + 1) % MOD32
        assert after(a, c) and serial_gt(a, c) and not after(c, a)


def test_wrap_examples():
    assert seq_add(0xFFFFFFFF, 1) == 0
    assert seq_add(0xFFFFFFFF, 0xFFFFFFFF) == 0xFFFFFFFE
    assert seq_sub(0, 1) == 0xFFFFFFFF
    assert seq_sub(5, 0xFFFFFFFB) == 10
    assert before(0xFFFFFFFF, 0) and after(0, 0xFFFFFFFF)
    assert serial_lt(0xFFFFFFF0, 0x10) and serial_gt(0x10, 0xFFFFFFF0)
    assert not before(5, 5) and not after(5, 5) and before_eq(5, 5)


@pytest.mark.parametrize("left", [0, 1, HALF - 1, HALF, MOD32 - 200, MOD32 - 1])
@pytest.mark.parametrize("length", [0, 1, 2, 100, 65535, HALF, MOD32 - 1])
def test_in_window_at_wrap(left, length):
    for d in [*range(-3, 4), length - 1, length, length + 1, MOD32 - 1]:
        x = (left + d) % MOD32
        expected = (x - left) % MOD32 < length
        assert in_window(x, left, length) == expected, (x, left, length)
    if length:
        assert in_window(left, left, length)
        assert in_window((left + length - 1) % MOD32, left, length)
    assert not in_window((left + length) % MOD32, left, length)


def test_in_window_across_zero():
    left = MOD32 - 10
    inside = [(left + i) % MOD32 for i in range(20)]
    assert all(in_window(x, left, 20) for x in inside)
    assert inside[-1] == 9
    assert not in_window(10, left, 20)
    assert not in_window(left - 1, left, 20)
    assert not any(in_window(x, left, 0) for x in inside)


@given(st.integers(0, MOD32 - 1), st.integers(0, MOD32 - 1))
def test_orders_random(a, b):
    assert before(a, b) == ref_before(a, b)
    assert serial_lt(a, b) == ref_serial_lt(a, b)
    assert serial_gt(a, b) == ref_serial_gt(a, b)
    assert (before(a, b) == serial_lt(a, b)) or unordered(a, b)


# --------------------------------------------------------------------------------------------------
# The same functions on z3 BitVec(32): symbolic terms evaluated at concrete points agree with ints
# --------------------------------------------------------------------------------------------------

POINTS = [0, 1, 5, 0x7FFFFFFF, HALF, HALF + 1, 0xFFFFFFFE, 0xFFFFFFFF, 0x12345678]


def _at(expr: z3.ExprRef, bindings: list[tuple[z3.BitVecRef, int]]) -> z3.ExprRef:
    return z3.simplify(z3.substitute(expr, *[(v, z3.BitVecVal(x, 32)) for v, x in bindings]))


def _truth(expr: z3.ExprRef) -> bool:
    assert z3.is_true(expr) or z3.is_false(expr), expr
    return z3.is_true(expr)


def test_z3_bitvectors_agree_with_ints():
    a, b, n = z3.BitVecs("a b n", 32)
    terms_bool = {
        "before": (before(a, b), before),
        "after": (after(a, b), after),
        "before_eq": (before_eq(a, b), before_eq),
        "serial_lt": (serial_lt(a, b), serial_lt),
        "serial_gt": (serial_gt(a, b), serial_gt),
        "unordered": (unordered(a, b), unordered),
    }
    terms_word = {"seq_add": (seq_add(a, b), seq_add), "seq_sub": (seq_sub(a, b), seq_sub)}
    for x, y in itertools.product(POINTS, repeat=2):
        for name, (term, fn) in terms_bool.items():
            assert _truth(_at(term, [(a, x), (b, y)])) == fn(x, y), (name, x, y)
        for name, (term, fn) in terms_word.items():
            value = _at(term, [(a, x), (b, y)])
            assert z3.is_bv_value(value)
            assert value.as_long() == fn(x, y), (name, x, y)
    window_term = in_window(a, b, n)
    for x, left, length in itertools.product(POINTS, POINTS[:4], (0, 1, 10, HALF)):
        assert _truth(_at(window_term, [(a, x), (b, left), (n, length)])) == in_window(x, left, length)


def test_z3_concrete_bitvector_values_directly():
    """Handing z3 values (not symbols) to the functions also builds terms that simplify to the int answer."""
    for x, y in [(0, HALF), (HALF, 0), (0xFFFFFFFF, 0), (7, 7), (1, 0x80000002)]:
        bx, by = z3.BitVecVal(x, 32), z3.BitVecVal(y, 32)
        assert _truth(z3.simplify(before(bx, by))) == before(x, y)
        assert _truth(z3.simplify(serial_lt(bx, by))) == serial_lt(x, y)
        assert z3.simplify(seq_sub(bx, by)).as_long() == seq_sub(x, y)


def test_z3_before_equals_serial_lt_away_from_half():
    """The int loops above, proved for all 2^64 pairs: before == serial_lt unless exactly 2^31 apart."""
    a, b = z3.BitVecs("a b", 32)
    s = z3.Solver()
    s.add(z3.Not(unordered(a, b)), before(a, b) != serial_lt(a, b))
    assert s.check() == z3.unsat
    # Not vacuous: the premise is satisfiable, and at the half distance the two do differ.
    s = z3.Solver()
    s.add(unordered(a, b), before(a, b) != serial_lt(a, b))
    assert s.check() == z3.sat
