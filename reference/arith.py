"""Generic arithmetic: one definition that runs on Python ints and on z3 bit-vectors.

The relay's arithmetic is written once, in terms of the helpers below, so that the Z3 proofs in
``spec/`` evaluate the very functions the relay executes (docs/ARCHITECTURE.md, principle 1).

Theory of operation
-------------------
A *word* is either a Python ``int`` holding an unsigned value of the stated width, or a
``z3.BitVecRef`` of that width. ``+``, ``-``, ``&``, ``|``, ``<<`` and ``>>``-by-constant already mean the
same thing on both once the result is masked to the width, so the model writes ``(a - b) & MASK32``
and never relies on Python's unbounded ints. What does *not* carry over is comparison and control
flow: Python's ``<`` on a ``BitVecRef`` is *signed*, and ``if`` cannot branch on a symbolic
condition. So unsigned comparison, boolean connectives and selection go through ``ult``/``ule``,
``and_``/``not_`` and ``ite``. On concrete inputs these are ordinary Python; on symbolic
inputs they build z3 terms. z3 is imported only when a symbolic value is seen, so the model itself
stays standard-library only.

Masks are applied with ``&`` so that a concrete int never escapes its width (mutant "unmasked
32-bit arithmetic" in the conformance zoo is exactly the omission of one of these masks).
"""

from __future__ import annotations

from typing import Any

#: A machine word: ``int`` (concrete) or ``z3.BitVecRef`` (symbolic). Kept as ``Any`` because the
#: z3 stubs are not a dependency of the model.
Word = Any
#: A truth value: ``bool`` (concrete) or ``z3.BoolRef`` (symbolic).
Truth = Any

MASK16 = 0xFFFF
MASK32 = 0xFFFF_FFFF


def _z3() -> Any:
    import z3  # deliberately lazy, see module docstring

    return z3


def is_concrete(*values: object) -> bool:
    """True when every value is a plain ``int``/``bool`` (no z3 term among them)."""
    for v in values:  # noqa: SIM110 - a loop, not all(genexpr): this is on the relay hot path
        if not isinstance(v, int):  # bool is an int subclass
            return False
    return True


def ite(cond: Truth, then: Word, other: Word) -> Word:
    """``then if cond else other``, also for a symbolic ``cond``."""
    if isinstance(cond, bool):
        return then if cond else other
    return _z3().If(cond, then, other)


def bit(cond: Truth, like: Word) -> Word:
    """1 if ``cond`` else 0, as a word of the same width as ``like`` (z3 would otherwise make an Int)."""
    if isinstance(cond, bool):
        return 1 if cond else 0
    z3 = _z3()
    width = like.size() if isinstance(like, z3.BitVecRef) else 32
    return z3.If(cond, z3.BitVecVal(1, width), z3.BitVecVal(0, width))


def and_(*conds: Truth) -> Truth:
    for c in conds:
        if not isinstance(c, bool):
            return _z3().And(*conds)
    return all(conds)


def not_(cond: Truth) -> Truth:
    if isinstance(cond, bool):
        return not cond
    return _z3().Not(cond)


def eq(a: Word, b: Word) -> Truth:
    """Equality that yields ``bool`` on ints (``==`` already does the right thing on z3)."""
    return bool(a == b) if is_concrete(a, b) else a == b


def ult(a: Word, b: Word) -> Truth:
    """Unsigned ``a < b``."""
    if isinstance(a, int) and isinstance(b, int):
        return a < b
    return _z3().ULT(a, b)


def ule(a: Word, b: Word) -> Truth:
    """Unsigned ``a <= b``."""
    if isinstance(a, int) and isinstance(b, int):
        return a <= b
    return _z3().ULE(a, b)


def umin(a: Word, b: Word) -> Word:
    """Unsigned minimum."""
    if isinstance(a, int) and isinstance(b, int):
        return a if a < b else b
    return ite(ult(a, b), a, b)


def lshr(a: Word, shift: int) -> Word:
    """Logical right shift by a constant (z3's ``>>`` is arithmetic)."""
    if isinstance(a, int):
        return a >> shift
    return _z3().LShR(a, shift)


def bit_set(word: Word, mask: int) -> Truth:
    """True when any bit of ``mask`` is set in ``word``."""
    if isinstance(word, int):
        return (word & mask) != 0
    return (word & mask) != 0
