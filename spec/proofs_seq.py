"""Proofs about the sequence-space mappings: seq/ack, serial order, round trips, timestamps, SACK.

Every conclusion calls the reference model (``seqspace``, ``mapping``) on 32-bit z3 bit-vectors; the
functions are looked up through their modules when the property is built, so the proof follows any
monkeypatch of the model. Premises and yardsticks are plain z3 (:mod:`splicecheck.spec.proofs_core`).
"""

from __future__ import annotations

import z3

from ..reference import mapping, seqspace
from ..reference.arith import MASK32
from ..reference.seqspace import HALF
from .proofs_core import Goal, Property, assume_in_reach, at_or_after, pos_ext, pos_var, proof, stream


@proof("PROOF-SEQ-BIJECTION", "SEQ-MAP", "ACK-MAP")
def seq_bijection(g: Goal) -> None:
    """Sequence and acknowledgment mapping are bijections of the 2^32 circle.

    For all 32-bit seq, seq2, splice_irs, splice_iss: map_seq with the constants swapped undoes map_seq
    (so it is invertible, hence a bijection); equal images come from equal inputs (injective); and
    ``splice_irs + N`` maps to ``splice_iss + N`` for every N (paper §3.2). The same for map_ack. No
    premises: the statement holds for every value, wrap included."""
    seq, seq2, irs, iss, n = g.bv("seq"), g.bv("seq2"), g.bv("splice_irs"), g.bv("splice_iss"), g.bv("n")
    m = mapping.map_seq
    a = mapping.map_ack
    g.conclude("map_seq inverse: map_seq(map_seq(seq, irs, iss), iss, irs) == seq",
               m(m(seq, irs, iss), iss, irs) == seq)
    g.conclude("map_seq injective", z3.Implies(m(seq, irs, iss) == m(seq2, irs, iss), seq == seq2))
    g.conclude("map_seq(irs + N) == iss + N", m(irs + n, irs, iss) == iss + n)
    g.conclude("map_ack inverse", a(a(seq, iss, irs), irs, iss) == seq)
    g.conclude("map_ack injective", z3.Implies(a(seq, iss, irs) == a(seq2, iss, irs), seq == seq2))
    g.conclude("map_ack(iss + N) == irs + N", a(iss + n, iss, irs) == irs + n)
    g.boundary("seq at 2^32-1", seq == MASK32)
    g.boundary("splice_irs at 2^32-1, splice_iss at 0", z3.And(irs == MASK32, iss == 0))
    g.boundary("seq and seq2 2^31 apart", seq2 - seq == HALF)


@proof("PROOF-SEQ-ORDER", "SEQ-MAP", "ACK-MAP", "SEQ-ORDER-HALF")
def seq_order(g: Goal) -> None:
    """Mapping preserves the serial order of any two sequence numbers.

    The brief asks for numbers within 2^31 of each other; the model's mapping is a translation of the
    circle, so the stronger statement holds with no premise at all: before, after, serial_lt,
    serial_gt and unordered each hold of (a', b') iff they hold of (a, b), for map_seq and map_ack —
    including the distance of exactly 2^31, where before holds both ways before and after mapping."""
    a, b, irs, iss = g.bv("a"), g.bv("b"), g.bv("splice_irs"), g.bv("splice_iss")
    for fname, f in (("map_seq", mapping.map_seq), ("map_ack", mapping.map_ack)):
        a2, b2 = f(a, irs, iss), f(b, irs, iss)
        for rel in ("before", "after", "serial_lt", "serial_gt", "unordered"):
            r = getattr(seqspace, rel)
            g.conclude(f"{rel}({fname}(a), {fname}(b)) == {rel}(a, b)", r(a2, b2) == r(a, b))
    g.boundary("a, b across the wrap", z3.And(a == MASK32, b == 0))
    g.boundary("a, b exactly 2^31 apart", b - a == HALF)
    g.boundary("a, b 2^31 - 1 apart", b - a == HALF - 1)


@proof("PROOF-ROUNDTRIP", "SEQ-MAP", "ACK-MAP", "LIFE-BASE-S2C", "LIFE-BASE-C2S", "LIFE-COMPLETE")
def roundtrip(g: Goal) -> None:
    """A byte's seq mapped across the splice, acknowledged, and the ack mapped back is the right ack.

    Leg C faces the client, leg D the server; at PRESPLICE (paper §3.2, figures 6 and 7)
    C.splice_irs = C.rcv_nxt, D.splice_iss = D.snd_nxt, D.splice_irs = D.rcv_nxt and
    C.splice_iss = C.snd_nxt + n for an OK message of n bytes. Premise: 0 < n < 2^31 (a non-empty OK
    message, shorter than half the sequence space). Conclusions, for every byte and every constant:
    client→server and server→client round trips give back byte + 1; the first server byte lands right
    after the OK message; an ACK of the whole OK message maps to D.splice_irs (LIFE-COMPLETE), and an
    ACK of only part of it (k ≤ n bytes) maps at or before D.splice_irs, so it acknowledges no server
    data."""
    c_rcv, c_snd, n = g.bv("c_rcv_nxt"), g.bv("c_snd_nxt"), g.bv("ok_len")
    d_rcv, d_snd, k = g.bv("d_rcv_nxt"), g.bv("d_snd_nxt"), g.bv("ok_acked")
    byte_c, byte_s = g.bv("client_byte"), g.bv("server_byte")
    g.assume("the OK message is non-empty: ok_len > 0", z3.UGT(n, 0))
    g.assume("the OK message is shorter than 2^31", z3.ULT(n, HALF))
    c_irs, c_iss, d_irs, d_iss = c_rcv, c_snd + n, d_rcv, d_snd
    m, a = mapping.map_seq, mapping.map_ack
    # client -> server: in = C, out = D; the server's ACK comes back: in = D, out = C.
    to_server = m(byte_c, c_irs, d_iss)
    g.conclude("c2s: map_ack(map_seq(b) + 1) == b + 1", a(to_server + 1, d_iss, c_irs) == byte_c + 1)
    # server -> client: in = D, out = C; the client's ACK comes back: in = C, out = D.
    to_client = m(byte_s, d_irs, c_iss)
    g.conclude("s2c: map_ack(map_seq(b) + 1) == b + 1", a(to_client + 1, c_iss, d_irs) == byte_s + 1)
    g.conclude("the first server byte follows the OK message", m(d_irs, d_irs, c_iss) == c_snd + n)
    g.conclude("an ACK of the whole OK message maps to D.splice_irs", a(c_snd + n, c_iss, d_irs) == d_irs)
    partial = a(c_snd + k, c_iss, d_irs)
    g.conclude("an ACK of part of the OK message acknowledges no server data",
               z3.Implies(z3.ULE(k, n), z3.ULT(d_irs - partial, HALF)))
    g.boundary("OK message of 1 byte", n == 1)
    g.boundary("C.snd_nxt + n wraps", z3.And(c_snd == MASK32, n == 2))
    g.boundary("maximal OK message 2^31 - 1", n == HALF - 1)
    g.boundary("byte at 2^32-1 mapped to 0", z3.And(byte_s == MASK32, to_client == 0))


@proof("PROOF-HALF-DISTANCE", "SEQ-ORDER-HALF", "TRIM-HALF")
def half_distance(g: Goal) -> None:
    """At distance exactly 2^31 the model does what the seqspace docstring says.

    Premise: b - a ≡ 2^31 (mod 2^32). Then before(a, b), before(b, a), after(a, b) and after(b, a)
    all hold; serial_lt and serial_gt hold neither way; unordered holds both ways; and a segment
    starting exactly 2^31 from splice_irs (any length up to 65537) is trimmed whole while nothing past
    the base has been relayed, advance 0 (TRIM-HALF; PROOF-TRIM-COMPLETE covers every advance). Away
    from that distance (free variables c, d) the two orders agree and exactly one of c < d, c = d,
    c > d holds."""
    a, b, c, d = g.bv("a"), g.bv("b"), g.bv("c"), g.bv("d")
    irs, seg_len = g.bv("splice_irs"), g.bv("seg_len")
    S = seqspace
    g.assume("b - a == 2^31", b - a == HALF)
    g.assume("splice_irs is 2^31 from a (a is the segment's seq)", a - irs == HALF)
    g.assume("seg_len ≤ 65537", z3.ULE(seg_len, 0xFFFF + 2))
    g.conclude("before(a, b) and before(b, a)", z3.And(S.before(a, b), S.before(b, a)))
    g.conclude("after(a, b) and after(b, a)", z3.And(S.after(a, b), S.after(b, a)))
    g.conclude("serial_lt false both ways", z3.And(z3.Not(S.serial_lt(a, b)), z3.Not(S.serial_lt(b, a))))
    g.conclude("serial_gt false both ways", z3.And(z3.Not(S.serial_gt(a, b)), z3.Not(S.serial_gt(b, a))))
    g.conclude("unordered both ways", z3.And(S.unordered(a, b), S.unordered(b, a)))
    g.conclude("a segment at 2^31 from splice_irs is trimmed whole (advance 0)",
               mapping.trim_count(a, seg_len, irs, 0) == seg_len)
    g.conclude("elsewhere before == serial_lt",
               z3.Implies(d - c != HALF, S.before(c, d) == S.serial_lt(c, d)))
    g.conclude("elsewhere exactly one of <, =, >", z3.Implies(d - c != HALF, z3.PbEq(
        [(S.serial_lt(c, d), 1), (c == d, 1), (S.serial_gt(c, d), 1)], 1)))
    g.conclude("unordered only at 2^31", S.unordered(c, d) == (c - d == HALF))
    g.boundary("a = 0, b = 2^31", a == 0)
    g.boundary("a = 2^31, b = 0 (wraps)", a == HALF)
    g.boundary("a = 2^32-1, splice_irs = 2^31-1", a == MASK32)
    g.boundary("zero-length segment", seg_len == 0)
    g.boundary("maximal segment", seg_len == 0xFFFF + 2)


@proof("PROOF-TS-PAWS", "TS-VAL", "TS-ECR")
def ts_paws(g: Goal) -> None:
    """Timestamp mapping preserves PAWS ordering (RFC 7323 §5).

    For any two TSvals t1, t2 and any constants, the RFC 7323 §5.3 comparison "t1 < t2" (serial_lt)
    and Linux's before hold of the mapped values iff they hold of the originals, for map_tsval and
    map_tsecr alike. And PAWS at the receiver is not tripped by the splice: the receiver's TS.Recent
    is out.lastsent_TS (the proxy's last TSval to it); premise: the sender's clock has not run
    backwards, t1 is at or after in.lastrecv_TS within 2^31; conclusion: mapped t1 is not
    serial-before out.lastsent_TS."""
    t1, t2 = g.bv("tsval1"), g.bv("tsval2")
    lastrecv, lastsent = g.bv("in_lastrecv_ts"), g.bv("out_lastsent_ts")
    g.assume("tsval1 at or after in.lastrecv_TS (within 2^31)", at_or_after(t1, lastrecv))
    S = seqspace
    for fname, f in (("map_tsval", mapping.map_tsval), ("map_tsecr", mapping.map_tsecr)):
        m1, m2 = f(t1, lastrecv, lastsent), f(t2, lastrecv, lastsent)
        g.conclude(f"serial_lt({fname}) == serial_lt", S.serial_lt(m1, m2) == S.serial_lt(t1, t2))
        g.conclude(f"before({fname}) == before", S.before(m1, m2) == S.before(t1, t2))
    mapped = mapping.map_tsval(t1, lastrecv, lastsent)
    g.conclude("PAWS accepts the first relayed TSval", z3.Not(S.serial_lt(mapped, lastsent)))
    g.boundary("tsval1 == in.lastrecv_TS", t1 == lastrecv)
    g.boundary("mapped TSval wraps to 0", z3.And(mapped == 0, t1 != lastrecv))
    g.boundary("tsval1 2^31 - 1 after in.lastrecv_TS", t1 - lastrecv == HALF - 1)
    g.boundary("tsval1, tsval2 2^31 apart", t2 - t1 == HALF)


@proof("PROOF-TS-ECHO", "TS-VAL", "TS-ECR")
def ts_echo(g: Goal) -> None:
    """A TSval mapped one way, echoed by the peer and its TSecr mapped back is the original TSval.

    Client→server: TSval mapped with (C.lastrecv_TS, D.lastsent_TS); the server echoes it; its TSecr
    is mapped with (D.lastsent_TS, C.lastrecv_TS) and equals the client's TSval. The same from the
    server side. No premises: every value of every timestamp and constant."""
    c_recv, c_sent = g.bv("c_lastrecv_ts"), g.bv("c_lastsent_ts")
    d_recv, d_sent = g.bv("d_lastrecv_ts"), g.bv("d_lastsent_ts")
    tc, ts = g.bv("client_tsval"), g.bv("server_tsval")
    v, e = mapping.map_tsval, mapping.map_tsecr
    to_server = v(tc, c_recv, d_sent)
    g.conclude("client TSval round trip", e(to_server, d_sent, c_recv) == tc)
    to_client = v(ts, d_recv, c_sent)
    g.conclude("server TSval round trip", e(to_client, c_sent, d_recv) == ts)
    g.boundary("client TSval at 2^32-1", tc == MASK32)
    g.boundary("mapping wraps", z3.And(tc == MASK32, c_recv == 0, d_sent == 1))
    g.boundary("TSval 2^31 from lastrecv", ts - d_recv == HALF)


@proof("PROOF-SACK", "SACK-MAP", "SACK-CLIP")
def sack(g: Goal) -> None:
    """SACK edges map like acks; kept blocks stay well-formed and start at or after the base, at any
    distance from it.

    Block [left, right) acknowledges data the proxy sent on leg ``in``; base = in.splice_iss. That data
    is the other direction's stream, placed along the stream as for trimming (proofs_core.Stream): it
    has an unbounded reach, the relay holds advance = min(reach, 2^31), and the block starts at stream
    position lpos (left = base + lpos mod 2^32). Premises: the block is non-empty and shorter than 2^31
    (0 < right - left < 2^31), and — as for trimming — its bytes lie at most 2^31 behind the furthest
    point and end at most 2^31 past it. Conclusions: the block is kept iff some of its bytes lie at or
    after the base (position ≥ 0); a block starting at or after the base maps edge by edge like the ack
    field (SACK-MAP) — 2 GiB and 4 GiB past the base too; one reaching before the base is clipped to
    start at out.splice_irs (SACK-CLIP); a kept block still has left < right (RFC 1982), covers exactly
    the bytes at or after the base, and its right edge is the mapped right edge."""
    st = stream(g, "in_splice_iss")
    base, out_irs = st.base, g.bv("out_splice_irs")
    lpos = pos_var(g, "left_pos")
    left = g.derive("left", st.seq(lpos))
    w = g.bv("right_minus_left")
    right = g.derive("right", left + w)
    g.assume("0 < right - left < 2^31", z3.And(z3.UGT(w, 0), z3.ULT(w, HALF)))
    assume_in_reach(g, st, lpos, w)
    keep, l2, r2 = mapping.map_sack_block(left, right, base, out_irs, st.advance)
    starts_after = lpos >= 0
    contains_base = z3.And(lpos < 0, lpos + pos_ext(w) > 0)
    ack = mapping.map_ack
    g.conclude("kept iff some byte is at or after the base", keep == z3.Or(starts_after, contains_base))
    g.conclude("SACK-MAP: a block at or after the base maps like acks",
               z3.Implies(starts_after, z3.And(l2 == ack(left, base, out_irs), r2 == ack(right, base, out_irs))))
    g.conclude("SACK-CLIP: a straddling block starts at out.splice_irs",
               z3.Implies(z3.And(keep, z3.Not(starts_after)), l2 == out_irs))
    g.conclude("kept: left < right", z3.Implies(keep, z3.And(z3.UGT(r2 - l2, 0), z3.ULT(r2 - l2, HALF))))
    g.conclude("kept: covers exactly the bytes at or after the base",
               z3.Implies(keep, r2 - l2 == z3.If(starts_after, w, right - base)))
    g.conclude("kept: right edge maps like an ack", z3.Implies(keep, r2 == ack(right, base, out_irs)))
    g.boundary("block starts exactly at the base", lpos == 0)
    g.boundary("block ends exactly at the base (dropped)", lpos + pos_ext(w) == 0)
    g.boundary("block straddles the base and the wrap",
               z3.And(z3.UGT(left, right), contains_base, base != 0))
    g.boundary("left at 2^32-1", left == MASK32)
    g.boundary("longest block 2^31 - 1", w == HALF - 1)
    g.boundary("base at the wrap", z3.And(base == 0, out_irs == MASK32))
    g.boundary("nothing relayed yet: left exactly 2^31 below the base", z3.And(st.reach == 0, lpos == -HALF))
    g.boundary("block 2 GiB past the base", z3.And(lpos == HALF, st.reach == HALF + 100))
    g.boundary("block past 4 GiB, left edge on the base", z3.And(lpos == 1 << 32, st.reach == (1 << 32) + 100))


PROPERTIES: tuple[Property, ...] = (seq_bijection, seq_order, roundtrip, half_distance, ts_paws, ts_echo, sack)
