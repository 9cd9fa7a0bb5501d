"""Proofs about fixed-width words: one's complement checksums, the window relay, and width closure.

Checksum words are 16-bit bit-vectors; the full checksum of a few words is built from the model's own
``checksum.ones_add``/``ones_neg`` (and PROOF-ONES-ADD ties ``ones_add`` to end-around-carry addition
stated independently, so that yardstick is not circular). The window proofs loop over every concrete
shift pair 0..14 × 0..14 with a symbolic window. PROOF-WIDTH-CLOSED runs the model on 64-bit words to
catch what 32-bit proofs cannot see: a dropped mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial, reduce
from typing import Any

import z3

from ..reference import checksum, mapping, seqspace
from ..reference.arith import MASK16, MASK32
from ..reference.seqspace import HALF
from .proofs_core import Expect, Expr, Goal, Property, one_if, proof

SHIFTS = range(15)  # RFC 7323 §2.3: shift counts above 14 are treated as 14


def full_checksum(words: Sequence[Expr]) -> Expr:
    """RFC 1071 over 16-bit words: the complement of their one's complement sum (model's ones_add)."""
    return checksum.ones_neg(reduce(checksum.ones_add, words))


def ones_sum(words: Sequence[Expr]) -> Expr:
    return reduce(checksum.ones_add, words)


def _csum_words(g: Goal) -> list[Expr]:
    """Three unchanged 16-bit words — the first the pseudo-header word holding the protocol (6 for TCP)
    — followed by the word that changes. The changed word is summed last: PROOF-ONES-ADD proves
    ones_add commutative and associative, so the one's complement sum does not depend on the order and
    this loses no generality, while it spares the SAT solver rediscovering the associativity of
    end-around-carry adders (with the changed word in the middle, Z3 times out)."""
    words = [g.bv("proto_word", 16), g.bv("w2", 16), g.bv("w3", 16), g.bv("old", 16)]
    g.assume("the pseudo-header word is not zero (TCP: protocol 6)", words[0] != 0)
    return words


def _csum_boundaries(g: Goal, words: list[Expr], new: Expr) -> None:
    g.boundary("new data sums to 0xFFFF (full checksum 0x0000)", ones_sum([*words[:3], new]) == MASK16)
    g.boundary("old word 0xFFFF replaced by 0x0000", z3.And(words[3] == MASK16, new == 0))
    g.boundary("old word 0x0000 replaced by 0xFFFF", z3.And(words[3] == 0, new == MASK16))
    g.boundary("unchanged word", words[3] == new)
    g.boundary("other words zero but the protocol", z3.And(words[1] == 0, words[2] == 0, words[0] == 6))


#: The width of the sums :func:`~splicecheck.reference.checksum.rfc1624_update` is run on here: a 16-bit
#: checksum plus a 32-bit field, and the difference of two such sums, fit as signed numbers, so z3's
#: ``%`` (signed ``bvsmod``) means what Python's means on the relay's ints (checksum.rfc1624_update).
SUM_BITS = 40


def _wide(*words: Expr) -> Expr:
    """The integer sum of 16- and 32-bit words, without wrap: what the relay's Python ints hold."""
    return sum((z3.ZeroExt(SUM_BITS - w.size(), w) for w in words), z3.BitVecVal(0, SUM_BITS))


def _rfc1141_matches_full(g: Goal) -> None:
    """RFC 1141's word-by-word update against full recomputation, for one word and for the second word of
    a 32-bit field (the second step starts from the first's result, whose data now holds ``new``; by
    order independence the word changing next is summed last again)."""
    words = _csum_words(g)
    new, new2 = g.bv("new", 16), g.bv("new2", 16)
    rest = words[:3]
    update = checksum.rfc1141_update
    g.conclude("one word changed: rfc1141_update == full recomputation",
               update(full_checksum(words), words[3], new) == full_checksum([*rest, new]))
    g.conclude("second word of a 32-bit field: rfc1141_update == full recomputation",
               update(full_checksum([rest[0], rest[1], new, rest[2]]), rest[2], new2)
               == full_checksum([rest[0], rest[1], new, new2]))
    _csum_boundaries(g, words, new)


@proof("PROOF-CSUM-RFC1624", "TCPCSUM-VALID")
def csum_rfc1624(g: Goal) -> None:
    """RFC 1624 eqn. 3, as the model computes it, equals full recomputation for every value of the words.

    Data: a pseudo-header word p, two more words w2, w3 and the word m that changes to m' (16-bit, all
    symbolic); HC the full checksum of (p, w2, w3, m). Premise: p ≠ 0 — true of every TCP checksum,
    whose pseudo-header carries protocol 6; without it the claim is false (all-zero new data sums to
    +0, whose complement 0xFFFF eqn. 3 cannot produce). Conclusion: ``rfc1624_update(HC + m, m')`` —
    the function the relay, the trace checker's fast path and the mutant zoo call, on sums held
    without wrap as the relay's ints are — is exactly the checksum computed from scratch (built from
    the model's ``ones_add``, which PROOF-ONES-ADD ties to end-around-carry addition); also with the
    unchanged words summed on both sides (as the relay sums whole headers), and for the second word of
    a 32-bit field updated after the first. Any number of changed words follows by induction, each step
    an instance of the first. (That a 32-bit field may be summed as its value, 2^16 ≡ 1 mod 0xFFFF, is
    arithmetic the solver is slow to rediscover; tests/test_checksum.py checks it on real headers.)"""
    words = _csum_words(g)
    p, w2, w3, old = words
    new, new2 = g.bv("new", 16), g.bv("new2", 16)
    hc = full_checksum(words)
    update = checksum.rfc1624_update
    g.conclude("one word changed: rfc1624_update == full recomputation",
               update(_wide(hc, old), _wide(new)) == _wide(full_checksum([p, w2, w3, new])))
    g.conclude("unchanged words summed on both sides: rfc1624_update == full recomputation",
               update(_wide(hc, p, w2, w3, old), _wide(p, w2, w3, new)) == _wide(full_checksum([p, w2, w3, new])))
    # The second word of a 32-bit field, updated from the first step's result, whose data now holds `new`;
    # by order independence the word changing next is summed last again.
    g.conclude("second word of a 32-bit field: rfc1624_update == full recomputation",
               update(_wide(full_checksum([p, w2, new, w3]), w3), _wide(new2))
               == _wide(full_checksum([p, w2, new, new2])))
    _csum_boundaries(g, words, new)


@proof("PROOF-CSUM-RFC1141", "TCPCSUM-VALID", expect=Expect.REFUTED)
def csum_rfc1141(g: Goal) -> None:
    """Negative result: RFC 1141's update HC' = HC + m + ~m' does NOT equal full recomputation.

    Same data and premise as PROOF-CSUM-RFC1624. Z3 is expected to exhibit a counterexample: when the
    new data's one's complement sum is 0xFFFF the full checksum is 0x0000, but RFC 1141's update yields
    0xFFFF (RFC 1624 §3). The counterexample is written out as a regression vector for the mutant zoo."""
    _rfc1141_matches_full(g)


@proof("PROOF-CSUM-FAILSAFE", "CSUM-FAILSAFE", "TCPCSUM-VALID")
def csum_failsafe(g: Goal) -> None:
    """The incremental update keeps a valid checksum valid and a corrupt one corrupt.

    The received checksum hc is arbitrary (it may be wrong). A segment verifies when the one's
    complement sum of its words and its checksum is 0xFFFF. Premise: p ≠ 0 (as in PROOF-CSUM-RFC1624).
    Conclusion: after replacing a word m by m' and updating hc by ``rfc1624_update(hc + m, m')`` (the
    received checksum summed with the old words, as the relay does), the result is a 16-bit value, never
    0xFFFF, and the new segment verifies iff the old one did — so the relay never launders a corrupted
    segment (paper §3.3's fail-safe update) and never corrupts a good one. Several changed words: the
    same, with more terms in the sums."""
    words = _csum_words(g)
    hc, new = g.bv("hc", 16), g.bv("new", 16)

    def verifies(ws: list[Expr], c: Expr) -> Expr:
        return checksum.ones_add(ones_sum(ws), c) == MASK16

    updated = checksum.rfc1624_update(_wide(hc, words[3]), _wide(new))
    g.conclude("the update is a 16-bit value other than 0xFFFF", z3.ULT(updated, MASK16))
    g.conclude("one word changed: verifies iff it did",
               verifies([*words[:3], new], z3.Extract(15, 0, updated)) == verifies(words, hc))
    g.boundary("corrupt by one", hc == full_checksum(words) + 1)
    g.boundary("valid input", hc == full_checksum(words))
    g.boundary("received checksum 0xFFFF", hc == MASK16)
    g.boundary("received checksum 0x0000", hc == 0)
    _csum_boundaries(g, words, new)


@proof("PROOF-ONES-ADD", "TCPCSUM-VALID")
def ones_add(g: Goal) -> None:
    """ones_add is 16-bit addition with end-around carry; ones_neg is bitwise complement.

    Stated independently on 17-bit sums: ones_add(a, b) = (a + b) mod 2^16 + carry. Also commutative and
    associative, so the full checksum does not depend on the order words are summed (RFC 1071 §2), and
    it is +0 only for +0 + +0. No premises."""
    a, b, c = g.bv("a", 16), g.bv("b", 16), g.bv("c", 16)
    s = z3.ZeroExt(1, a) + z3.ZeroExt(1, b)
    folded = z3.Extract(15, 0, s) + z3.ZeroExt(15, z3.Extract(16, 16, s))
    add = checksum.ones_add
    g.conclude("ones_add == end-around-carry addition", add(a, b) == folded)
    g.conclude("ones_neg == ~", checksum.ones_neg(a) == ~a)
    g.conclude("commutative", add(a, b) == add(b, a))
    g.conclude("associative", add(add(a, b), c) == add(a, add(b, c)))
    g.conclude("zero only from zeros", (add(a, b) == 0) == z3.And(a == 0, b == 0))
    g.boundary("0xFFFF + 1", z3.And(a == MASK16, b == 1))
    g.boundary("0xFFFF + 0xFFFF", z3.And(a == MASK16, b == MASK16))


def _window_premise(g: Goal) -> Expr:
    window = g.bv("window")
    g.assume("window ≤ 65535 (a 16-bit field in a 32-bit word)", z3.ULE(window, MASK16))
    g.boundary("maximum window 65535", window == MASK16)
    g.boundary("zero window", window == 0)
    g.boundary("window 1", window == 1)
    return window


def _w64(x: Expr) -> Expr:
    return z3.ZeroExt(32, x)


@proof("PROOF-WS-SAFE", "WS-SAFE")
def ws_safe(g: Goal) -> None:
    """The relayed window never promises more than the real window and never overflows 16 bits.

    For every shift pair (in_shift, out_shift) in 0..14 × 0..14 and every window ≤ 65535 (premise):
    field' << out_shift ≤ window << in_shift, computed in 64 bits so nothing wraps, and field' ≤ 65535."""
    window = _window_premise(g)
    for i in SHIFTS:
        for o in SHIFTS:
            out = mapping.relay_window(window, i, o)
            g.conclude(f"in={i} out={o}: no over-promise", z3.ULE(_w64(out) << o, _w64(window) << i))
            g.conclude(f"in={i} out={o}: fits 16 bits", z3.ULE(out, MASK16))


@proof("PROOF-WS-EXACT", "WS-EXACT")
def ws_exact(g: Goal) -> None:
    """The relayed window is the real window rescaled, rounded down, clamped to 65535.

    For every shift pair 0..14 × 0..14 and window ≤ 65535: either field' = 65535 (the clamp, and then the
    real window is at least that much) or field' is the largest safe value, (field' + 1) << out_shift
    exceeding window << in_shift; and with equal shifts the field is relayed unchanged."""
    window = _window_premise(g)
    for i in SHIFTS:
        for o in SHIFTS:
            out = mapping.relay_window(window, i, o)
            real, o64 = _w64(window) << i, _w64(out)
            g.conclude(f"in={i} out={o}: rounded down or clamped",
                       z3.Or(z3.And(out == MASK16, z3.UGE(real, o64 << o)), z3.UGT((o64 + 1) << o, real)))
            if i == o:
                g.conclude(f"in={i} out={o}: equal shifts relay the field unchanged", out == window)


@proof("PROOF-WIDTH-CLOSED", "SEQ-MAP", "ACK-MAP", "TS-VAL", "TS-ECR", "SACK-MAP", "URG-SHIFT", "WS-SAFE",
       "TCPCSUM-VALID")
def width_closed(g: Goal) -> None:
    """No value escapes its width: the model's masks are all in place.

    On 32-bit bit-vectors a missing ``& MASK32`` is invisible (z3 wraps by itself), but the relay runs on
    Python ints, which do not wrap. So here every function runs on 64-bit words holding in-range
    values (premises: 32-bit inputs < 2^32, 16-bit ones < 2^16, data_len ≤ 65535), and the conclusion
    is that every output is again in range and equals the 32-bit result. A 64-bit word stands in for an
    unbounded int for sums and differences of in-range values; the stand-in is faithful as long as the
    model masks a difference before comparing or shifting it, which is its documented discipline
    (arith.py). relay_window is checked for all 225 shift pairs."""
    v64: dict[str, Expr] = {}
    for n in ("seq", "irs", "iss", "ack", "tsval", "lastrecv", "lastsent", "left", "right", "trimmed"):
        v64[n] = g.bv(n + "64", 64)
        g.assume(f"{n} < 2^32", z3.ULT(v64[n], 1 << 32))
    v64["advance"] = g.bv("advance64", 64)
    g.assume("advance ≤ 2^31", z3.ULE(v64["advance"], HALF))
    for n in ("data_len", "urgent", "window", "hc", "old", "new"):
        v64[n] = g.bv(n + "64", 64)
        g.assume(f"{n} < 2^16", z3.ULT(v64[n], 1 << 16))
    syn, fin, urg = g.flag("syn"), g.flag("fin"), g.flag("urg")
    v32 = {n: z3.Extract(31, 0, e) for n, e in v64.items()}

    def run(f: Callable[..., Any], args: tuple[str, ...]) -> tuple[Any, Any]:
        return f(*(v64[a] for a in args)), f(*(v32[a] for a in args))

    def same(name: str, r64: Expr, r32: Expr, limit: int = 1 << 32) -> None:
        g.conclude(f"{name} stays below {limit:#x} and agrees with 32 bits",
                   z3.And(z3.ULT(r64, limit), r64 == z3.ZeroExt(32, r32)))

    m, S, C = mapping, seqspace, checksum
    for name, f, args in (
        ("seq_add", S.seq_add, ("seq", "irs")),
        ("seq_sub", S.seq_sub, ("seq", "irs")),
        ("map_seq", m.map_seq, ("seq", "irs", "iss")),
        ("map_ack", m.map_ack, ("ack", "iss", "irs")),
        ("map_tsval", m.map_tsval, ("tsval", "lastrecv", "lastsent")),
        ("map_tsecr", m.map_tsecr, ("tsval", "lastsent", "lastrecv")),
        ("trimmed_seq", m.trimmed_seq, ("seq", "trimmed")),
        ("advance_to", m.advance_to, ("advance", "irs", "seq")),
    ):
        same(name, *run(f, args))
    seg_len = {w: v["data_len"] + one_if(syn, w) + one_if(fin, w) for w, v in ((64, v64), (32, v32))}
    t = {w: m.trim_count(v["seq"], seg_len[w], v["irs"], v["advance"]) for w, v in ((64, v64), (32, v32))}
    same("trim_count", t[64], t[32])
    g.conclude("behind_base agrees with 32 bits", m.behind_base(v64["seq"], v64["irs"], v64["advance"])
               == m.behind_base(v32["seq"], v32["irs"], v32["advance"]))
    (k64, cut64, f64), (k32, cut32, f32) = (m.split_trim(t[w], syn, v["data_len"], fin)
                                            for w, v in ((64, v64), (32, v32)))
    same("split_trim cut", cut64, cut32)
    g.conclude("split_trim flags agree with 32 bits", z3.And(k64 == k32, f64 == f32))
    (u64, p64), (u32, p32) = (m.map_urgent(urg, v["urgent"], t[w]) for w, v in ((64, v64), (32, v32)))
    same("map_urgent pointer", p64, p32, 1 << 16)
    g.conclude("map_urgent flag agrees with 32 bits", u64 == u32)
    (keep64, l64, r64), (keep32, l32, r32) = run(m.map_sack_block, ("left", "right", "iss", "irs", "advance"))
    same("map_sack_block left", l64, l32)
    same("map_sack_block right", r64, r32)
    g.conclude("map_sack_block keep agrees with 32 bits", keep64 == keep32)
    for i in SHIFTS:
        for o in SHIFTS:
            same(f"relay_window(in={i}, out={o})", *run(partial(m.relay_window, in_shift=i, out_shift=o),
                                                        ("window",)), 1 << 16)
    same("ones_add", *run(C.ones_add, ("hc", "old")), 1 << 16)
    same("ones_neg", *run(C.ones_neg, ("hc",)), 1 << 16)
    same("rfc1624_update", *run(C.rfc1624_update, ("hc", "new")), 1 << 16)
    same("rfc1141_update", *run(C.rfc1141_update, ("hc", "old", "new")), 1 << 16)
    g.boundary("32-bit words at 2^32-1, 16-bit ones at 0xFFFF",
               z3.And(*(v32[n] == MASK32 for n in ("seq", "irs", "iss", "ack", "tsval", "left", "right")),
                      *(v64[n] == MASK16 for n in ("data_len", "urgent", "window", "hc", "old", "new"))))
    g.boundary("seq 2^31 from irs", v32["seq"] - v32["irs"] == HALF)
    g.boundary("all zero", z3.And(*(e == 0 for e in v64.values())))
    g.boundary("seg_len 65537 straddling irs", z3.And(syn, fin, v64["data_len"] == MASK16,
                                                      z3.ULT(v32["irs"] - v32["seq"], seg_len[32]),
                                                      v32["irs"] != v32["seq"]))


PROPERTIES: tuple[Property, ...] = (csum_rfc1624, csum_rfc1141, csum_failsafe, ones_add, ws_safe, ws_exact,
                                    width_closed)
