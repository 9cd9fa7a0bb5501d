"""Proofs about trimming below splice_irs: soundness, completeness, SYN/FIN, urgent pointer, splitting.

A segment is modelled as (seq, SYN, data_len, FIN) on 32-bit bit-vectors; it occupies
``seg_len = SYN + data_len + FIN`` sequence numbers from ``seq`` (RFC 9293 §3.4). :func:`trim_segment`
is step 3 of ``relay.relay`` made symbolic: the same model calls (``mapping.trim_count``,
``mapping.split_trim``) in the same order, plus the relay's one line of glue — when anything is trimmed
the remainder starts at ``splice_irs`` — which PROOF-TRIM-SOUND checks against ``mapping.trimmed_seq``.

Honest premises, shared by every positive property here (see :func:`segment`):

* ``data_len ≤ 65535``, so ``seg_len ≤ 65537`` (an IPv4 payload; IPv6 jumbograms are out of scope);
* a segment starting at or after the base does not reach 2^31 past it:
  ``(seq - splice_irs) + seg_len ≤ 2^31``. Without it the statement is false, and not because of a slip:
  on the circle, numbers 2^31 or more past the base *are* below it, so once 2^31 bytes have been relayed
  in one direction ``before(seq, splice_irs)`` holds again and the model would trim fresh data. A real
  receive window is at most 2^30 (RFC 7323 §2.3), so this premise describes every segment within 2 GiB of
  the splice point; beyond that the model's trim rule itself is wrong — PROOF-TRIM-2GIB keeps that as a
  documented negative result.
"""

from __future__ import annotations

from dataclasses import dataclass

import z3
from splicecheck.reference import mapping

from .proofs_core import HALF, MASK16, MASK32, Expect, Expr, Goal, Property, at_or_after, below, one_if, proof, wide

MAX_DATA = 0xFFFF


@dataclass(frozen=True)
class Segment:
    seq: Expr
    syn: Expr
    data_len: Expr
    fin: Expr

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


def trim_segment(s: Segment, irs: Expr) -> Trimmed:
    t = mapping.trim_count(s.seq, s.seg_len, irs)
    syn_kept, cut, fin_kept = mapping.split_trim(t, s.syn, s.data_len, s.fin)
    out_seq = z3.If(t == 0, s.seq, irs)  # relay.py: `seq = leg_in.splice_irs` once anything is trimmed
    out_len = one_if(syn_kept) + (s.data_len - cut) + one_if(fin_kept)
    return Trimmed(t, syn_kept, cut, fin_kept, out_seq, out_len)


def segment(g: Goal, irs: Expr, prefix: str = "") -> Segment:
    """Declare a symbolic segment and assume the shared premises (module docstring).

    Two honest reparametrizations keep the SAT problems small without losing a single case: the
    segment is placed by its offset from the base (``seq = splice_irs + offset`` ranges over every seq
    as offset does), so z3's simplifier cancels ``seq - splice_irs`` instead of the SAT solver
    rediscovering it; and ``data_len`` is a 16-bit variable zero-extended to 32 bits, which *is* the
    premise data_len ≤ 65535. ``seq`` is reported with counterexamples and vectors."""
    off = g.bv(prefix + "seq_minus_irs")
    seq = g.derive(prefix + "seq", irs + off)
    s = Segment(seq, g.flag(prefix + "syn"), z3.ZeroExt(16, g.bv(prefix + "data_len", 16)), g.flag(prefix + "fin"))
    assume_near_base(g, s.seq, s.seg_len, irs)
    return s


def assume_near_base(g: Goal, seq: Expr, seg_len: Expr, irs: Expr) -> None:
    g.assume("a segment at or after the base does not reach 2^31 past it",
             z3.Or(below(seq, irs), z3.ULE(wide(seq - irs) + wide(seg_len), HALF)))


def segment_boundaries(g: Goal, s: Segment, irs: Expr) -> None:
    g.boundary("seq at 2^32-1", s.seq == MASK32)
    g.boundary("splice_irs at the wrap (0)", irs == 0)
    g.boundary("splice_irs at 2^32-1", irs == MASK32)
    g.boundary("straddles both the wrap and splice_irs",
               z3.And(z3.ULT(s.seq + s.seg_len, s.seq), z3.UGT(irs - s.seq, 0), z3.ULT(irs - s.seq, s.seg_len),
                      irs != 0, s.seq + s.seg_len != 0))
    g.boundary("starts exactly 2^31 from splice_irs", s.seq - irs == HALF)
    g.boundary("zero-length segment below the base", z3.And(s.seg_len == 0, below(s.seq, irs)))
    g.boundary("ends exactly at splice_irs", z3.And(s.seq + s.seg_len == irs, s.seg_len != 0))
    g.boundary("starts exactly at splice_irs", z3.And(s.seq == irs, s.data_len != 0))
    g.boundary("SYN+data+FIN, maximal, straddling", z3.And(s.syn, s.fin, s.data_len == MAX_DATA,
                                                            z3.ULT(irs - s.seq, s.seg_len), s.seq != irs))
    g.boundary("farthest segment above the base", s.seq - irs + s.seg_len == HALF)


@proof("PROOF-TRIM-SOUND", "TRIM-SOUND", "TRIM-REST", "PAYLOAD-KEEP")
def trim_sound(g: Goal) -> None:
    """Trimming is sound: nothing relayed lies below splice_irs, and what is relayed is unchanged.

    For every segment satisfying the module's premises (data_len ≤ 65535; not reaching 2^31 past the
    base), including ones straddling the 2^32 wrap and splice_irs at once: the trim count t never
    exceeds seg_len; the relayed part is exactly seg_len - t numbers; when something is relayed it
    starts at seq + t (its bytes keep their sequence numbers) and every relayed number k lies at or
    after splice_irs; when something is trimmed and something remains, the remainder starts exactly at
    splice_irs and mapping.trimmed_seq agrees with the relay's choice; and split_trim's parts are the
    exact prefix: SYN kept iff t = 0, FIN kept iff t ≤ SYN + data_len, cut = the data bytes in the
    prefix."""
    irs = g.bv("splice_irs")
    s = segment(g, irs)
    k = g.bv("k")
    r = trim_segment(s, irs)
    g.conclude("t ≤ seg_len", z3.ULE(r.t, s.seg_len))
    g.conclude("relayed length == seg_len - t", r.out_len == s.seg_len - r.t)
    g.conclude("relayed part starts at seq + t", z3.Implies(r.out_len != 0, r.out_seq == s.seq + r.t))
    g.conclude("no relayed number lies below splice_irs",
               z3.Implies(z3.ULT(k, r.out_len), at_or_after(r.out_seq + k, irs)))
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
    segment_boundaries(g, s, irs)


@proof("PROOF-TRIM-COMPLETE", "TRIM-COMPLETE", "TRIM-BELOW", "TRIM-HALF")
def trim_complete(g: Goal) -> None:
    """Trimming is complete: no number at or after splice_irs is dropped; wholly-below means all gone.

    Same premises as PROOF-TRIM-SOUND. For every index i < seg_len, if seq + i lies at or after
    splice_irs then i ≥ t (it is relayed); a segment starting at or after splice_irs loses nothing; and
    a non-empty segment is trimmed whole (t = seg_len, so the relay makes it a pure ACK at splice_irs or
    drops it, TRIM-BELOW) iff its whole sequence space lies below splice_irs — which, with TRIM-HALF's
    reading of "below", includes a segment starting exactly 2^31 from the base."""
    irs = g.bv("splice_irs")
    s = segment(g, irs)
    i = g.bv("i")
    r = trim_segment(s, irs)
    g.conclude("every number at or after splice_irs is kept",
               z3.Implies(z3.And(z3.ULT(i, s.seg_len), at_or_after(s.seq + i, irs)), z3.UGE(i, r.t)))
    g.conclude("a segment starting at or after splice_irs is not trimmed",
               z3.Implies(at_or_after(s.seq, irs), r.t == 0))
    wholly_below = z3.And(below(s.seq, irs), z3.UGE(irs - s.seq, s.seg_len))
    g.conclude("trimmed whole iff wholly below", z3.Implies(s.seg_len != 0, (r.t == s.seg_len) == wholly_below))
    g.conclude("nothing relayed iff trimmed whole", (r.out_len == 0) == (r.t == s.seg_len))
    segment_boundaries(g, s, irs)


@proof("PROOF-SEQ-CTL", "SEQ-CTL", "SEQ-MAP", "TRIM-REST")
def seq_ctl(g: Goal) -> None:
    """SYN and FIN each occupy one sequence number after trimming and mapping.

    Same premises as PROOF-TRIM-SOUND. With start' = map_seq(out_seq) the relayed segment's mapped
    sequence number: a kept SYN is at the SYN's mapped number; the first kept data byte is at its
    original number, mapped, = start' + SYN'; a kept FIN is at its original number, mapped, =
    start' + SYN' + kept data; the mapped end is start' + out_len = map_seq(seq + seg_len) when
    anything is relayed; and an untrimmed segment keeps seg_len = SYN + data_len + FIN."""
    irs, iss = g.bv("splice_irs"), g.bv("splice_iss")
    s = segment(g, irs)
    r = trim_segment(s, irs)

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
    segment_boundaries(g, s, irs)
    g.boundary("SYN only", z3.And(s.syn, z3.Not(s.fin), s.data_len == 0))
    g.boundary("FIN only, mapped across the wrap", z3.And(s.fin, z3.Not(s.syn), s.data_len == 0,
                                                          r.t == 0, m(s.seq) == MASK32))


@proof("PROOF-URGENT", "URG-KEEP", "URG-SHIFT", "URG-CLEAR")
def urgent(g: Goal) -> None:
    """The urgent pointer designates the same stream octet after trimming; URG is cleared exactly when
    that octet was trimmed.

    Premises: the segment premises, and urgent ≤ 65535 (a 16-bit field in a 32-bit word). The urgent
    octet is U = seq + urgent - 1 (RFC 6093 §2). Conclusions: with nothing trimmed URG and the field are
    unchanged (URG-KEEP); without URG the field is relayed unchanged and URG stays clear; when a prefix
    is trimmed and something remains, URG survives exactly when U lies at or after splice_irs, and then
    out_seq + urgent' = seq + urgent, i.e. U is designated again (URG-SHIFT), otherwise urgent' = 0
    (URG-CLEAR); urgent' always fits 16 bits. (A segment trimmed whole becomes a pure ACK, which the
    relay strips of URG by control flow outside map_urgent.)"""
    irs = g.bv("splice_irs")
    s = segment(g, irs)
    urg, ptr = g.flag("urg"), g.bv("urgent")
    g.assume("urgent ≤ 65535", z3.ULE(ptr, MASK16))
    r = trim_segment(s, irs)
    urg2, ptr2 = mapping.map_urgent(urg, ptr, r.t)
    octet = s.seq + ptr - 1
    partial = z3.And(r.t != 0, r.out_len != 0)
    g.conclude("URG-KEEP: nothing trimmed, nothing changed", z3.Implies(r.t == 0, z3.And(urg2 == urg, ptr2 == ptr)))
    g.conclude("no URG: field unchanged, URG clear", z3.Implies(z3.Not(urg), z3.And(z3.Not(urg2), ptr2 == ptr)))
    g.conclude("URG cleared exactly when the urgent octet was trimmed",
               z3.Implies(z3.And(urg, partial), urg2 == at_or_after(octet, irs)))
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


@proof("PROOF-SPLIT-COMMUTE", "TRIM-SOUND", "TRIM-COMPLETE", "TRIM-REST", "SEQ-MAP")
def split_commute(g: Goal) -> None:
    """Trimming and mapping commute with splitting a segment in two.

    A segment (seq, SYN, a + b data bytes, FIN) is split into (seq, SYN, a, no FIN) and
    (seq + SYN + a, no SYN, b, FIN). Premises: the segment premises for the whole (a + b ≤ 65535, not
    reaching 2^31 past the base). The relay of the halves equals the halves of the relay: the trim
    counts add up, the relayed lengths add up, the data cuts add up, SYN and FIN survive the same way,
    a relayed first half starts at the whole's mapped start, a relayed second half alone starts there
    too, and with both relayed the second starts where the first ends (mapped)."""
    irs, iss = g.bv("splice_irs"), g.bv("splice_iss")
    seq = g.derive("seq", irs + g.bv("seq_minus_irs"))
    syn, fin = g.flag("syn"), g.flag("fin")
    a, b = z3.ZeroExt(16, g.bv("len_a", 16)), z3.ZeroExt(16, g.bv("len_b", 16))
    g.assume("len_a + len_b ≤ 65535", z3.ULE(a + b, MAX_DATA))
    whole = Segment(seq, syn, a + b, fin)
    assume_near_base(g, seq, whole.seg_len, irs)
    first = Segment(seq, syn, a, z3.BoolVal(False))
    second = Segment(seq + whole.syn_n + a, z3.BoolVal(False), b, fin)
    rw, r1, r2 = trim_segment(whole, irs), trim_segment(first, irs), trim_segment(second, irs)

    def m(x: Expr) -> Expr:
        return mapping.map_seq(x, irs, iss)

    g.conclude("trim counts add up", r1.t + r2.t == rw.t)
    g.conclude("relayed lengths add up", r1.out_len + r2.out_len == rw.out_len)
    g.conclude("data cuts add up", r1.cut + r2.cut == rw.cut)
    g.conclude("SYN survives alike", r1.syn_kept == rw.syn_kept)
    g.conclude("FIN survives alike", r2.fin_kept == rw.fin_kept)
    g.conclude("a relayed first half starts at the whole's start",
               z3.Implies(r1.out_len != 0, m(r1.out_seq) == m(rw.out_seq)))
    g.conclude("a lone second half starts at the whole's start",
               z3.Implies(z3.And(r1.out_len == 0, r2.out_len != 0), m(r2.out_seq) == m(rw.out_seq)))
    g.conclude("the second half follows the first",
               z3.Implies(z3.And(r1.out_len != 0, r2.out_len != 0), m(r2.out_seq) == m(r1.out_seq) + r1.out_len))
    g.boundary("split point exactly at splice_irs", z3.And(second.seq == irs, a != 0, b != 0))
    g.boundary("split point across the wrap", z3.And(second.seq == 0, a != 0, b != 0, irs == 1))
    g.boundary("empty first half", z3.And(a == 0, z3.Not(syn), b != 0, below(seq, irs)))
    g.boundary("empty second half", z3.And(b == 0, z3.Not(fin), a != 0, below(seq, irs)))
    g.boundary("whole starts 2^31 from the base", seq - irs == HALF)


@proof("PROOF-TRIM-2GIB", "TRIM-COMPLETE", "TRIM-HALF", expect=Expect.REFUTED)
def trim_2gib(g: Goal) -> None:
    """Known limitation (negative result): fresh data 2 GiB or more past the base is trimmed.

    The relay's constants never change, and "below splice_irs" is circular, so once 2^31 bytes have
    been relayed in one direction new data counts as below the base again. Premise: a data segment
    (1..65535 bytes, no SYN or FIN) that starts n bytes past splice_irs, 2^31 ≤ n ≤ 2^32 - 65536 —
    i.e. after 2 GiB relayed, and not a retransmission of pre-splice data that wrapped. Conclusion,
    expected to be refuted: nothing of it is trimmed. Z3's counterexample is a live splice that would
    stall (every new segment becomes a pure ACK at splice_irs). This is what the "not reaching 2^31 past
    the base" premise of the other trim proofs excludes; fixing it needs state the pure relay lacks
    (e.g. stop trimming once the base has been acknowledged)."""
    irs = g.bv("splice_irs")
    n = g.bv("bytes_past_base")
    data = z3.ZeroExt(16, g.bv("data_len", 16))
    g.assume("2^31 ≤ bytes_past_base ≤ 2^32 - 65536", z3.And(z3.UGE(n, HALF), z3.ULE(n, MASK32 - MAX_DATA)))
    g.assume("carries data", data != 0)
    seq = g.derive("seq", irs + n)
    r = trim_segment(Segment(seq, z3.BoolVal(False), data, z3.BoolVal(False)), irs)
    g.conclude("fresh data past 2 GiB is relayed untrimmed", r.t == 0)
    g.boundary("exactly 2 GiB relayed", n == HALF)
    g.boundary("3 GiB relayed", n == 3 << 30)


PROPERTIES: tuple[Property, ...] = (trim_sound, trim_complete, seq_ctl, urgent, split_commute, trim_2gib)
