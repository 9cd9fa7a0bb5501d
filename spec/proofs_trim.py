"""Proofs about trimming: soundness and completeness at any distance from the base, SYN/FIN, urgent
pointer, splitting, and the advance that keeps a splice relaying past 2 GiB.

A segment is modelled as (seq, SYN, data_len, FIN) on 32-bit bit-vectors; it occupies
``seg_len = SYN + data_len + FIN`` sequence numbers from ``seq`` (RFC 9293 §3.4). :func:`trim_segment`
is step 3 of ``relay.relay`` made symbolic: the same model calls (``mapping.trim_count``,
``mapping.split_trim``, ``mapping.trimmed_seq``) in the same order, with the relay's glue — a segment
trimmed whole becomes a pure ACK at ``splice_irs`` — so PROOF-TRIM-SOUND's TRIM-REST is about the seq
the relay computes.

What "precedes the base" means is stated along the stream, not on the circle (``proofs_core.Stream``):
every segment is placed at a signed *position* relative to ``splice_irs``, the stream has a *reach*
(how far it has got; any reach, see ``proofs_core.Stream``), and the relay holds
``advance = min(reach, 2^31)``. A number
precedes the base iff its position is negative. Honest premises, shared by every property here:

* ``data_len ≤ 65535``, so ``seg_len ≤ 65537`` (an IPv4 payload; IPv6 jumbograms are out of scope);
* the segment's numbers lie at most 2^31 behind the furthest point and end at most 2^31 past it
  (``proofs_core.assume_in_reach``) — beyond that no 32-bit comparison can place them (RFC 1982), and
  no byte in flight lies there: a window is at most 2^30 (RFC 7323 §2.3);
* the relay's ``advance`` is ``min(reach, 2^31)`` — true when the splice is made, and kept true by
  every relayed segment (PROOF-TRIM-2GIB). Together the properties hold for every segment of every
  stream, however long: the old rule's limit ("the splice stalls after 2 GiB") is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import z3

from ..reference import mapping
from ..reference.arith import MASK16, MASK32
from ..reference.seqspace import HALF
from .proofs_core import (
    POS_BITS,
    Expr,
    Goal,
    Property,
    Stream,
    assume_in_reach,
    one_if,
    pos_ext,
    pos_var,
    proof,
    stream,
)

MAX_DATA = 0xFFFF
HALF_POS = z3.BitVecVal(HALF, POS_BITS)
WINDOW = 1 << 30  # RFC 7323 §2.3


@dataclass(frozen=True)
class Segment:
    seq: Expr
    syn: Expr
    data_len: Expr
    fin: Expr
    pos: Expr  # stream position of seq (signed, proofs_core.POS_BITS): seq = splice_irs + pos mod 2^32

    @property
    def syn_n(self) -> Expr:
        return one_if(self.syn)

    @property
    def seg_len(self) -> Expr:
        return self.syn_n + self.data_len + one_if(self.fin)


@dataclass(frozen=True)
class Trimmed:
    """What step 3 of the relay leaves of a segment."""

    t: Expr  # sequence numbers trimmed
    syn_kept: Expr
    cut: Expr  # data bytes chopped from the front
    fin_kept: Expr
    out_seq: Expr  # first sequence number of what is relayed (before mapping)
    out_len: Expr  # sequence numbers relayed


def trim_segment(s: Segment, st: Stream) -> Trimmed:
    t = mapping.trim_count(s.seq, s.seg_len, st.base, st.advance)
    syn_kept, cut, fin_kept = mapping.split_trim(t, s.syn, s.data_len, s.fin)
    # relay._trim: a remainder starts at mapping.trimmed_seq, a segment trimmed whole is a pure ACK at the base
    out_seq = z3.If(t == 0, s.seq, z3.If(t == s.seg_len, st.base, mapping.trimmed_seq(s.seq, t)))
    out_len = one_if(syn_kept) + (s.data_len - cut) + one_if(fin_kept)
    return Trimmed(t, syn_kept, cut, fin_kept, out_seq, out_len)


def segment(g: Goal, st: Stream, prefix: str = "", ahead: int = HALF) -> Segment:
    """Declare a symbolic segment of the stream and assume the shared premises (module docstring).

    The segment is placed by its position (``seq = splice_irs + pos`` ranges over every seq as pos
    does, and z3 cancels ``seq - splice_irs`` instead of rediscovering it), and ``data_len`` is a
    16-bit variable zero-extended to 32 bits, which *is* the premise data_len ≤ 65535. ``seq`` is
    reported with counterexamples and vectors."""
    pos = pos_var(g, prefix + "pos")
    seq = g.derive(prefix + "seq", st.seq(pos))
    s = Segment(seq, g.flag(prefix + "syn"), z3.ZeroExt(16, g.bv(prefix + "data_len", 16)), g.flag(prefix + "fin"),
                pos)
    assume_in_reach(g, st, pos, s.seg_len, ahead)
    return s


def precedes_base(position: Expr) -> Expr:
    """The yardstick: a number precedes the base iff its stream position is negative."""
    return position < 0


def numbers_before_base(s: Segment) -> Expr:
    """The yardstick count: how many of the segment's numbers have negative positions (32 bits)."""
    before = z3.If(s.pos >= 0, z3.BitVecVal(0, POS_BITS), -s.pos)
    return z3.Extract(31, 0, z3.If(z3.ULT(before, pos_ext(s.seg_len)), before, pos_ext(s.seg_len)))


def segment_boundaries(g: Goal, s: Segment, st: Stream) -> None:
    irs = st.base
    g.boundary("seq at 2^32-1", s.seq == MASK32)
    g.boundary("splice_irs at the wrap (0)", irs == 0)
    g.boundary("splice_irs at 2^32-1", irs == MASK32)
    g.boundary("straddles both the wrap and splice_irs",
               z3.And(z3.ULT(s.seq + s.seg_len, s.seq), s.pos < 0, s.pos + pos_ext(s.seg_len) > 0,
                      irs != 0, s.seq + s.seg_len != 0))
    g.boundary("nothing relayed yet: starts exactly 2^31 below splice_irs", z3.And(st.reach == 0, s.pos == -HALF))
    g.boundary("zero-length segment before the base", z3.And(s.seg_len == 0, s.pos < 0))
    g.boundary("ends exactly at splice_irs", z3.And(s.pos + pos_ext(s.seg_len) == 0, s.seg_len != 0))
    g.boundary("starts exactly at splice_irs", z3.And(s.pos == 0, s.data_len != 0))
    g.boundary("SYN+data+FIN, maximal, straddling", z3.And(s.syn, s.fin, s.data_len == MAX_DATA, s.pos < 0,
                                                            s.pos + pos_ext(s.seg_len) > 0))
    g.boundary("straddles the base after the stream advanced 1 GiB", z3.And(st.reach == 1 << 30, s.pos < 0,
                                                                            s.pos + pos_ext(s.seg_len) > 0))
    g.boundary("farthest behind: 2^31 behind the furthest point", z3.And(s.pos == st.reach - HALF, st.reach != 0))
    g.boundary("fresh data 2 GiB past the base", z3.And(s.pos == HALF, s.data_len != 0))
    g.boundary("fresh data past 4 GiB (the furthest point wrapped onto the base)",
               z3.And(z3.UGE(st.reach, 1 << 32), s.pos >= 1 << 32, s.data_len != 0, s.seq == irs))


@proof("PROOF-TRIM-SOUND", "TRIM-SOUND", "TRIM-REST", "PAYLOAD-KEEP", "TRIM-2GIB")
def trim_sound(g: Goal) -> None:
    """Trimming is sound: nothing relayed precedes splice_irs, and what is relayed is unchanged.

    For every stream (any reach, the relay's advance = min(reach, 2^31)) and every segment satisfying
    the module's premises, including ones straddling the 2^32 wrap and splice_irs at once and ones
    gigabytes past the base: the trim count t is exactly the number of the segment's numbers that
    precede the base (negative positions), so t ≤ seg_len; the relayed part is exactly seg_len - t
    numbers; when something is relayed it starts at seq + t (its bytes keep their sequence numbers)
    and every relayed number k has a position ≥ 0; when something is trimmed and something remains,
    the remainder starts exactly at splice_irs and mapping.trimmed_seq agrees with the relay's choice;
    and split_trim's parts are the exact prefix: SYN kept iff t = 0, FIN kept iff t ≤ SYN + data_len,
    cut = the data bytes in the prefix."""
    st = stream(g)
    irs = st.base
    s = segment(g, st)
    k = g.bv("k")
    r = trim_segment(s, st)
    g.conclude("t == the number of the segment's numbers that precede the base", r.t == numbers_before_base(s))
    g.conclude("t ≤ seg_len", z3.ULE(r.t, s.seg_len))
    g.conclude("relayed length == seg_len - t", r.out_len == s.seg_len - r.t)
    g.conclude("relayed part starts at seq + t", z3.Implies(r.out_len != 0, r.out_seq == s.seq + r.t))
    g.conclude("no relayed number precedes splice_irs",
               z3.Implies(z3.ULT(k, r.out_len), z3.Not(precedes_base(s.pos + pos_ext(r.t) + pos_ext(k)))))
    g.conclude("TRIM-REST: a trimmed remainder starts at splice_irs",
               z3.Implies(z3.And(r.t != 0, r.out_len != 0), r.out_seq == irs))
    g.conclude("trimmed_seq(seq, t) == splice_irs when a remainder is left",
               z3.Implies(z3.And(r.t != 0, z3.ULT(r.t, s.seg_len)), mapping.trimmed_seq(s.seq, r.t) == irs))
    g.conclude("SYN kept iff present and nothing trimmed", r.syn_kept == z3.And(s.syn, r.t == 0))
    g.conclude("FIN kept iff present and not in the prefix",
               r.fin_kept == z3.And(s.fin, z3.ULE(r.t, s.syn_n + s.data_len)))
    in_data = z3.If(z3.ULT(s.syn_n, r.t), r.t - s.syn_n, 0)
    g.conclude("cut == data bytes in the trimmed prefix",
               r.cut == z3.If(z3.ULT(in_data, s.data_len), in_data, s.data_len))
    segment_boundaries(g, s, st)


@proof("PROOF-TRIM-COMPLETE", "TRIM-COMPLETE", "TRIM-BELOW", "TRIM-HALF", "TRIM-2GIB")
def trim_complete(g: Goal) -> None:
    """Trimming is complete: no number at or after splice_irs is dropped; wholly-before means all gone.

    Same premises as PROOF-TRIM-SOUND. For every index i < seg_len, if seq + i does not precede the base
    (position ≥ 0) then i ≥ t (it is relayed); a segment starting at or after the base loses nothing —
    however far past the base, 2 GiB and 4 GiB included; a non-empty segment is trimmed whole (t =
    seg_len, so the relay makes it a pure ACK at splice_irs or drops it, TRIM-BELOW) iff all of it
    precedes the base; and TRIM-HALF: while nothing past the base has been relayed (reach 0), a
    segment starting exactly 2^31 from splice_irs is trimmed whole."""
    st = stream(g)
    s = segment(g, st)
    i = g.bv("i")
    r = trim_segment(s, st)
    g.conclude("every number at or after splice_irs is kept",
               z3.Implies(z3.And(z3.ULT(i, s.seg_len), z3.Not(precedes_base(s.pos + pos_ext(i)))), z3.UGE(i, r.t)))
    g.conclude("a segment starting at or after splice_irs is not trimmed", z3.Implies(s.pos >= 0, r.t == 0))
    g.conclude("trimmed whole iff wholly before the base",
               z3.Implies(s.seg_len != 0, (r.t == s.seg_len) == (s.pos + pos_ext(s.seg_len) <= 0)))
    g.conclude("nothing relayed iff trimmed whole", (r.out_len == 0) == (r.t == s.seg_len))
    g.conclude("TRIM-HALF: at reach 0, a segment 2^31 from splice_irs is trimmed whole",
               z3.Implies(z3.And(st.reach == 0, s.seq - st.base == HALF), r.t == s.seg_len))
    segment_boundaries(g, s, st)


@proof("PROOF-SEQ-CTL", "SEQ-CTL", "SEQ-MAP", "TRIM-REST")
def seq_ctl(g: Goal) -> None:
    """SYN and FIN each occupy one sequence number after trimming and mapping.

    Same premises as PROOF-TRIM-SOUND. With start' = map_seq(out_seq) the relayed segment's mapped
    sequence number: a kept SYN is at the SYN's mapped number; the first kept data byte is at its
    original number, mapped, = start' + SYN'; a kept FIN is at its original number, mapped, =
    start' + SYN' + kept data; the mapped end is start' + out_len = map_seq(seq + seg_len) when
    anything is relayed; and an untrimmed segment keeps seg_len = SYN + data_len + FIN."""
    st = stream(g)
    irs, iss = st.base, g.bv("splice_iss")
    s = segment(g, st)
    r = trim_segment(s, st)

    def m(x: Expr) -> Expr:
        return mapping.map_seq(x, irs, iss)

    start = m(r.out_seq)
    syn_o = one_if(r.syn_kept)
    kept_data = s.data_len - r.cut
    g.conclude("a kept SYN is at its own mapped number", z3.Implies(r.syn_kept, start == m(s.seq)))
    g.conclude("first kept data byte keeps its number",
               z3.Implies(z3.ULT(r.cut, s.data_len), start + syn_o == m(s.seq + s.syn_n + r.cut)))
    g.conclude("a kept FIN is at mapped start + SYN + data",
               z3.Implies(r.fin_kept, start + syn_o + kept_data == m(s.seq + s.syn_n + s.data_len)))
    g.conclude("mapped end == mapped start + out_len",
               z3.Implies(r.out_len != 0, start + r.out_len == m(s.seq + s.seg_len)))
    g.conclude("untrimmed: out_len == SYN + data_len + FIN", z3.Implies(r.t == 0, r.out_len == s.seg_len))
    segment_boundaries(g, s, st)
    g.boundary("SYN only", z3.And(s.syn, z3.Not(s.fin), s.data_len == 0))
    g.boundary("FIN only, mapped across the wrap", z3.And(s.fin, z3.Not(s.syn), s.data_len == 0,
                                                          r.t == 0, m(s.seq) == MASK32))


@proof("PROOF-URGENT", "URG-KEEP", "URG-SHIFT", "URG-CLEAR")
def urgent(g: Goal) -> None:
    """The urgent pointer designates the same stream octet after trimming; URG is cleared exactly when
    that octet was trimmed.

    Premises: the segment premises, and urgent ≤ 65535 (a 16-bit field in a 32-bit word). The urgent
    octet is U = seq + urgent - 1 (RFC 6093 §2), at position pos + urgent - 1. Conclusions: with nothing
    trimmed URG and the field are unchanged (URG-KEEP); without URG the field is relayed unchanged and
    URG stays clear; when a prefix is trimmed and something remains, URG survives exactly when U does
    not precede the base, and then out_seq + urgent' = seq + urgent, i.e. U is designated again
    (URG-SHIFT), otherwise urgent' = 0 (URG-CLEAR); urgent' always fits 16 bits. (A segment trimmed
    whole becomes a pure ACK, which the relay strips of URG by control flow outside map_urgent.)"""
    st = stream(g)
    s = segment(g, st)
    urg, ptr = g.flag("urg"), g.bv("urgent")
    g.assume("urgent ≤ 65535", z3.ULE(ptr, MASK16))
    r = trim_segment(s, st)
    urg2, ptr2 = mapping.map_urgent(urg, ptr, r.t)
    octet_pos = s.pos + pos_ext(ptr) - 1
    partial = z3.And(r.t != 0, r.out_len != 0)
    g.conclude("URG-KEEP: nothing trimmed, nothing changed", z3.Implies(r.t == 0, z3.And(urg2 == urg, ptr2 == ptr)))
    g.conclude("no URG: field unchanged, URG clear", z3.Implies(z3.Not(urg), z3.And(z3.Not(urg2), ptr2 == ptr)))
    g.conclude("URG cleared exactly when the urgent octet was trimmed",
               z3.Implies(z3.And(urg, partial), urg2 == z3.Not(precedes_base(octet_pos))))
    g.conclude("URG-SHIFT: the same octet is designated",
               z3.Implies(z3.And(urg, partial, urg2), r.out_seq + ptr2 == s.seq + ptr))
    g.conclude("URG-CLEAR: pointer zeroed", z3.Implies(z3.And(urg, partial, z3.Not(urg2)), ptr2 == 0))
    g.conclude("urgent' fits 16 bits", z3.ULE(ptr2, MASK16))
    g.boundary("urgent octet is the last trimmed one", z3.And(urg, partial, ptr == r.t))
    g.boundary("urgent octet is the first kept one", z3.And(urg, partial, ptr == r.t + 1))
    g.boundary("urgent = 65535, trimmed across the wrap",
               z3.And(urg, partial, ptr == MASK16, z3.ULT(s.seq + s.seg_len, s.seq)))
    g.boundary("urgent = 0 with URG, trimmed", z3.And(urg, partial, ptr == 0))
    g.boundary("URG, nothing trimmed", z3.And(urg, r.t == 0, s.seq == MASK32))
    g.boundary("URG, 2 GiB past the base", z3.And(urg, s.pos == HALF))


@proof("PROOF-SPLIT-COMMUTE", "TRIM-SOUND", "TRIM-COMPLETE", "TRIM-REST", "SEQ-MAP")
def split_commute(g: Goal) -> None:
    """Trimming and mapping commute with splitting a segment in two.

    A segment (seq, SYN, a + b data bytes, FIN) is split into (seq, SYN, a, no FIN) and
    (seq + SYN + a, no SYN, b, FIN). Premises: the segment premises for the whole (a + b ≤ 65535, within
    2^31 of the furthest point). The relay of the halves equals the halves of the relay: the trim
    counts add up, the relayed lengths add up, the data cuts add up, SYN and FIN survive the same way,
    a relayed first half starts at the whole's mapped start, a relayed second half alone starts there
    too, and with both relayed the second starts where the first ends (mapped). Lemmas (proved here
    first, then assumed): each of the three trim counts is its segment's number of numbers before the
    base, PROOF-TRIM-SOUND's first conjunct; and the conjuncts are cumulative, each assumed by the
    next — it spares Z3 rediscovering them in every query (5 s instead of 17)."""
    st = stream(g)
    irs, iss = st.base, g.bv("splice_iss")
    pos = pos_var(g, "pos")
    seq = g.derive("seq", st.seq(pos))
    syn, fin = g.flag("syn"), g.flag("fin")
    a, b = z3.ZeroExt(16, g.bv("len_a", 16)), z3.ZeroExt(16, g.bv("len_b", 16))
    g.assume("len_a + len_b ≤ 65535", z3.ULE(a + b, MAX_DATA))
    whole = Segment(seq, syn, a + b, fin, pos)
    assume_in_reach(g, st, pos, whole.seg_len)
    first = Segment(seq, syn, a, z3.BoolVal(False), pos)
    second_pos = pos + pos_ext(whole.syn_n + a)
    second = Segment(seq + whole.syn_n + a, z3.BoolVal(False), b, fin, second_pos)
    rw, r1, r2 = trim_segment(whole, st), trim_segment(first, st), trim_segment(second, st)
    g.cumulative = True  # each conjunct below is a stepping stone for the next
    for name, part, r in (("whole", whole, rw), ("first half", first, r1), ("second half", second, r2)):
        g.lemma(f"{name}: t == its numbers before the base (PROOF-TRIM-SOUND)", r.t == numbers_before_base(part))

    def m(x: Expr) -> Expr:
        return mapping.map_seq(x, irs, iss)

    g.conclude("trim counts add up", r1.t + r2.t == rw.t)
    g.conclude("data cuts add up", r1.cut + r2.cut == rw.cut)
    g.conclude("SYN survives alike", r1.syn_kept == rw.syn_kept)
    g.conclude("FIN survives alike", r2.fin_kept == rw.fin_kept)
    g.conclude("relayed lengths add up", r1.out_len + r2.out_len == rw.out_len)
    g.conclude("a relayed first half starts at the whole's start",
               z3.Implies(r1.out_len != 0, m(r1.out_seq) == m(rw.out_seq)))
    g.conclude("a lone second half starts at the whole's start",
               z3.Implies(z3.And(r1.out_len == 0, r2.out_len != 0), m(r2.out_seq) == m(rw.out_seq)))
    g.conclude("a relayed first half ends where the second half starts",
               z3.Implies(r1.out_len != 0, r1.out_seq + r1.out_len == second.seq))
    g.conclude("a relayed first half leaves the second untrimmed", z3.Implies(r1.out_len != 0, r2.t == 0))
    g.conclude("the second half follows the first",
               z3.Implies(z3.And(r1.out_len != 0, r2.out_len != 0), m(r2.out_seq) == m(r1.out_seq) + r1.out_len))
    g.boundary("split point exactly at splice_irs", z3.And(second_pos == 0, a != 0, b != 0))
    g.boundary("split point across the wrap", z3.And(second.seq == 0, a != 0, b != 0, irs == 1))
    g.boundary("empty first half", z3.And(a == 0, z3.Not(syn), b != 0, pos < 0))
    g.boundary("empty second half", z3.And(b == 0, z3.Not(fin), a != 0, pos < 0))
    g.boundary("nothing relayed yet: whole starts 2^31 from the base", z3.And(st.reach == 0, pos == -HALF))
    g.boundary("split point 2 GiB past the base", z3.And(second_pos == HALF, a != 0, b != 0))


@proof("PROOF-TRIM-2GIB", "TRIM-2GIB", "TRIM-COMPLETE")
def trim_2gib(g: Goal) -> None:
    """Past 2 GiB the splice keeps relaying, and the advance keeps standing for the stream.

    The inductive step behind every trim proof. Premises: a stream of any reach whose relay state is
    advance = min(reach, 2^31) (so at the splice: reach 0, advance 0), and a segment whose numbers lie
    at most 2^31 behind the furthest point and end at most 2^31 past it. After the relay,
    mapping.advance_to(advance, splice_irs, seq + seg_len) is min(reach', 2^31), where reach' is the
    segment's end if that lies 1 to 2^30 (a window, RFC 7323 §2.3) past the old reach, and the old
    reach otherwise: the relation holds again, for the next segment. By induction it holds for every
    segment a splice ever relays, and with it PROOF-TRIM-SOUND/-COMPLETE. Named conclusions: a data
    segment at or after the base of a stream that has carried 2^31 bytes or more — 2 GiB, 3 GiB, past
    4 GiB where the furthest point has wrapped onto the base — is relayed untrimmed (the old rule,
    before(seq, splice_irs) against the fixed base, trimmed it and stalled the splice); the next
    in-order segment is never trimmed and moves the advance by its length (up to the 2^31 cap)."""
    st = stream(g)
    s = segment(g, st)
    r = trim_segment(s, st)
    end = s.pos + pos_ext(s.seg_len)
    step = end - st.reach
    reach2 = z3.If(z3.And(step > 0, step <= WINDOW), end, st.reach)
    moved = mapping.advance_to(st.advance, st.base, s.seq + s.seg_len)
    g.conclude("fresh data of a stream past 2 GiB is relayed untrimmed",
               z3.Implies(z3.And(z3.UGE(st.reach, HALF), s.pos >= 0), r.t == 0))
    g.conclude("the next in-order segment is relayed untrimmed", z3.Implies(s.pos == st.reach, r.t == 0))
    kept = pos_ext(moved) == z3.If(z3.UGE(reach2, HALF_POS), HALF_POS, reach2)
    # the two cases separately: Z3 solves them in a fraction of the time it takes for the whole
    g.conclude("saturated (reach ≥ 2^31): advance_to keeps advance == min(reach, 2^31) == 2^31",
               z3.Implies(z3.UGE(st.reach, HALF), kept))
    g.conclude("below 2^31: advance_to keeps advance == min(reach, 2^31)", z3.Implies(z3.ULT(st.reach, HALF), kept))
    g.conclude("advance_to never exceeds 2^31", z3.ULE(moved, HALF))
    g.boundary("exactly 2 GiB relayed, next segment", z3.And(st.reach == HALF, s.pos == HALF, s.data_len != 0))
    g.boundary("3 GiB relayed", z3.And(st.reach == 3 << 30, s.pos == 3 << 30, s.data_len != 0))
    g.boundary("4 GiB relayed: the furthest point is the base again",
               z3.And(st.reach == 1 << 32, s.seq == st.base, s.data_len != 0))
    g.boundary("the segment that crosses 2^31", z3.And(st.reach == HALF - 10, s.pos == st.reach, s.data_len == 100))
    g.boundary("a segment ending exactly a window ahead", z3.And(end == st.reach + WINDOW, st.reach != 0))
    g.boundary("a segment ending just beyond a window ahead (advance unchanged)",
               z3.And(end == st.reach + WINDOW + 1, st.reach == 5))
    g.boundary("a pre-splice retransmission after 1 GiB", z3.And(st.reach == 1 << 30, end <= 0, s.data_len != 0))


PROPERTIES: tuple[Property, ...] = (trim_sound, trim_complete, seq_ctl, urgent, split_commute, trim_2gib)
