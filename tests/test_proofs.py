"""The Z3 proofs (spec/proofs*.py): every property holds, none is vacuous, and each one can fail.

A proof that cannot fail is worthless, so the deliberate-break tests below mutate the model — exactly
where the proofs look it up, the module attribute — and show the matching proof then yields a
counterexample (with a regression vector), and that it proves again once the model is restored.
"""

from __future__ import annotations

import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from splicecheck.reference import arith, checksum, mapping, seqspace
from splicecheck.reference.arith import MASK16, ite, lshr, ult
from splicecheck.reference.seqspace import HALF
from splicecheck.spec import proofs
from splicecheck.spec.proofs_core import POS_BITS, Expect, Goal, Status, check, proof
from splicecheck.spec.requirements import BY_ID as REQUIREMENTS

from splicecheck import cli_prove

IDS = [p.id for p in proofs.PROPERTIES]


@cache
def result(prop_id: str) -> proofs.ProofResult:
    return check(proofs.BY_ID[prop_id], timeout_ms=60_000)


# --- the suite holds ------------------------------------------------------------------------------


@pytest.mark.parametrize("prop_id", IDS)
def test_property_holds(prop_id: str) -> None:
    r = result(prop_id)
    expected = Status.PROVED if proofs.BY_ID[prop_id].expect is Expect.PROVED else Status.REFUTED_AS_EXPECTED
    detail = r.counterexample.format() if r.counterexample else ""
    assert r.status is expected, f"{prop_id}: {r.status.value}\n{detail}"
    assert r.ok


@pytest.mark.parametrize("prop_id", IDS)
def test_premises_are_satisfiable_and_cover_every_boundary(prop_id: str) -> None:
    r = result(prop_id)
    assert r.premises == "sat", f"{prop_id}: premises {r.premises} — the proof would be vacuous"
    assert not r.uncovered, f"{prop_id}: premises exclude boundary cases {r.uncovered}"
    assert r.boundaries_total >= 2


def test_properties_are_documented_and_cite_real_requirements() -> None:
    assert len(IDS) == len(set(IDS))
    for p in proofs.PROPERTIES:
        assert p.id.startswith("PROOF-")
        assert len(p.doc) > 80, f"{p.id} has no statement in words"
        assert p.requirements
        for req in p.requirements:
            assert req in REQUIREMENTS, f"{p.id} cites unknown requirement {req}"


def test_brief_requirements_are_all_backed_by_a_proof() -> None:
    backed = {req for p in proofs.PROPERTIES for req in p.requirements}
    wanted = {"SEQ-MAP", "ACK-MAP", "SEQ-CTL", "TRIM-SOUND", "TRIM-COMPLETE", "TRIM-REST", "TRIM-BELOW",
              "TRIM-HALF", "SEQ-ORDER-HALF", "URG-KEEP", "URG-SHIFT", "URG-CLEAR", "TS-VAL", "TS-ECR",
              "SACK-MAP", "SACK-CLIP", "WS-SAFE", "WS-EXACT", "TCPCSUM-VALID", "CSUM-FAILSAFE", "TRIM-2GIB"}
    assert wanted <= backed, wanted - backed


# --- the negative result: RFC 1141 ----------------------------------------------------------------


def _full(words: list[int]) -> int:
    return checksum.internet_checksum(b"".join(struct.pack("!H", w) for w in words))


def test_rfc1141_counterexample_is_real_on_python_ints(tmp_path: Path) -> None:
    r = check(proofs.BY_ID["PROOF-CSUM-RFC1141"], timeout_ms=60_000, regressions_dir=tmp_path)
    assert r.status is Status.REFUTED_AS_EXPECTED and r.ok
    assert r.regression_path == tmp_path / "PROOF-CSUM-RFC1141.json"
    vec = json.loads(r.regression_path.read_text())
    assert vec["expected"] == "refuted" and vec["requirements"] == ["TCPCSUM-VALID"]
    v = vec["values"]
    assert vec["hex"]["old"] == hex(v["old"]) and vec["widths"]["old"] == 16
    rest = [v["proto_word"], v["w2"], v["w3"]]
    before, after = _full([*rest, v["old"]]), _full([*rest, v["new"]])
    # independently of z3 and of the spec's own sums: the model's RFC 1141 update is wrong here,
    # RFC 1624's is right (when the failing conjunct is the one-word one).
    if vec["conjunct"].startswith("one word"):
        assert checksum.rfc1141_update(before, v["old"], v["new"]) != after
        assert checksum.rfc1624_update(before + v["old"], v["new"]) == after


def test_spec_full_checksum_matches_internet_checksum() -> None:
    from splicecheck.spec.proofs_words import full_checksum

    for words in ([6, 0, 0, 0], [0xFFFF, 1, 2, 3], [0x1234, 0xFFFF, 0xFFFF, 0x0001], [6, 0xF9FF, 0, 0]):
        assert full_checksum(words) == _full(words)


# --- Z3 as a test generator -----------------------------------------------------------------------


def test_boundary_vectors_cover_every_property_and_fit_their_widths(tmp_path: Path) -> None:
    vectors = proofs.boundary_vectors()
    assert set(vectors) == set(IDS)
    for pid, vecs in vectors.items():
        assert vecs, pid
        goal = proofs.BY_ID[pid].goal()
        for vec in vecs:
            for name, value in vec.items():
                var = goal.variables.get(name, goal.derived.get(name))
                width = 1 if var is None or not hasattr(var, "size") else var.size()
                assert 0 <= value < (1 << width) or (width == 1 and value in (0, 1)), (pid, name, value)
    path = proofs.write_boundary_vectors(tmp_path / "vectors.json", only=["PROOF-TRIM-SOUND"])
    doc = json.loads(path.read_text())
    cases = {c["case"] for c in doc["PROOF-TRIM-SOUND"]["vectors"]}
    assert "straddles both the wrap and splice_irs" in cases
    assert doc["PROOF-TRIM-SOUND"]["requirements"][0] == "TRIM-SOUND"


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def test_trim_boundary_vectors_hold_on_python_ints() -> None:
    """The vectors drive the model on ints (the relay's own path): trimming is sound and complete there,
    judged by stream position (a number precedes the base iff its position is negative)."""
    vectors = proofs.boundary_vectors(only=["PROOF-TRIM-SOUND"])["PROOF-TRIM-SOUND"]
    assert any(v["reach"] >= 1 << 31 for v in vectors) and any(v["reach"] == 0 for v in vectors)
    for vec in vectors:
        seq, irs, syn, fin, n = vec["seq"], vec["splice_irs"], vec["syn"], vec["fin"], vec["data_len"]
        pos, advance = _signed(vec["pos"], POS_BITS), vec["advance"]
        assert seq == (irs + pos) % (1 << 32) and advance == min(vec["reach"], 1 << 31)
        seg_len = syn + n + fin
        t = mapping.trim_count(seq, seg_len, irs, advance)
        assert 0 <= t <= seg_len
        for i in range(seg_len):
            assert (i < t) == (pos + i < 0), (vec, i)
            assert mapping.behind_base(seqspace.seq_add(seq, i), irs, advance) == (pos + i < 0), (vec, i)
        syn_kept, cut, fin_kept = mapping.split_trim(t, bool(syn), n, bool(fin))
        assert syn_kept + (n - cut) + fin_kept == seg_len - t


# --- the CLI hook ---------------------------------------------------------------------------------


def test_render_table_columns() -> None:
    text = proofs.render_table([result("PROOF-TS-ECHO"), result("PROOF-CSUM-RFC1141")])
    for col in ("property", "requirement IDs", "premises (sat)", "result", "time"):
        assert col in text
    assert "refuted as expected" in text and "proved" in text
    assert "2 properties, 0 failed" in text


def test_cli_prove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = tmp_path / "v.json"
    rc = cli_prove.main(["--only", "PROOF-TS-ECHO", "--only", "PROOF-CSUM-RFC1141",
                         "--regressions", str(tmp_path / "reg"), "--vectors", str(vectors)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "PROOF-TS-ECHO" in out and "refuted as expected" in out and "0x" in out
    assert (tmp_path / "reg" / "PROOF-CSUM-RFC1141.json").exists()
    assert set(json.loads(vectors.read_text())) == {"PROOF-TS-ECHO", "PROOF-CSUM-RFC1141"}
    assert cli_prove.main(["--only", "PROOF-NOPE"]) == 2
    assert cli_prove.main(["--list"]) == 0


# --- vacuity and unexpected proofs fail -----------------------------------------------------------


def test_contradictory_premises_fail_as_vacuous() -> None:
    @proof("PROOF-VACUOUS-DEMO", "SEQ-MAP")
    def vacuous(g: Goal) -> None:
        """Contradictory premises prove anything: this must be reported, not passed."""
        x = g.bv("x")
        g.assume("x < 1", x == 0)
        g.assume("x > 1", x == 2)
        g.conclude("anything", x == 7)

    r = check(vacuous)
    assert r.status is Status.VACUOUS and r.premises == "unsat" and not r.ok
    assert "UNSAT" in proofs.render_table([r]) and "1 failed" in proofs.render_table([r])


def test_lemmas_are_proved_before_they_are_assumed() -> None:
    """The cut rule: a lemma that does not follow from the premises fails the property (it is never
    simply assumed), and a proved one serves the conclusion."""

    @proof("PROOF-LEMMA-DEMO", "SEQ-MAP")
    def bad(g: Goal) -> None:
        """A false lemma must be refuted, not assumed: x + 1 == x would prove anything after it."""
        x = g.bv("x")
        g.assume("x < 10", arith.ult(x, 10))
        g.lemma("x + 1 == x", x + 1 == x)
        g.conclude("x == 7", x == 7)

    r = check(bad)
    assert r.status is Status.COUNTEREXAMPLE and r.counterexample is not None
    assert r.counterexample.conjunct == "lemma: x + 1 == x"

    @proof("PROOF-LEMMA-DEMO2", "SEQ-MAP")
    def good(g: Goal) -> None:
        """A true lemma is proved and then used; a cumulative goal assumes its proved conjuncts."""
        x, y = g.bv("x"), g.bv("y")
        g.assume("y == x + 1", y == x + 1)
        g.lemma("y - x == 1", y - x == 1)
        g.cumulative = True
        g.conclude("y != x", y != x)
        g.conclude("x - y == -1", x - y == 0xFFFF_FFFF)

    assert check(good).status is Status.PROVED


@pytest.mark.req("TRIM-2GIB")
def test_old_trim_rule_counterexample_is_a_real_stall(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Issue 3 (d.): with the old rule PROOF-TRIM-2GIB fails, and its counterexample, replayed on Python
    ints, is fresh data of a stream past 2 GiB that the old rule trims and the model relays whole."""
    monkeypatch.setattr(mapping, "behind_base", _old_trim_rule)
    broken = check(proofs.BY_ID["PROOF-TRIM-2GIB"], timeout_ms=60_000, regressions_dir=tmp_path)
    monkeypatch.undo()
    assert broken.status is Status.COUNTEREXAMPLE and broken.counterexample is not None
    v = broken.counterexample.values
    pos, reach = _signed(v["pos"], POS_BITS), v["reach"]
    seg_len = v["syn"] + v["data_len"] + v["fin"]
    assert seg_len and pos >= 0 and reach >= 1 << 31  # fresh data of a stream past 2 GiB
    assert v["seq"] == (v["splice_irs"] + pos) % (1 << 32)
    assert seqspace.before(v["seq"], v["splice_irs"])  # the fixed base thinks it is old data ...
    assert mapping.trim_count(v["seq"], seg_len, v["splice_irs"], 0) > 0  # ... and the old state trims it
    assert mapping.trim_count(v["seq"], seg_len, v["splice_irs"], v["advance"]) == 0  # the model does not
    assert result("PROOF-TRIM-2GIB").status is Status.PROVED


def _rfc1624_by_words(hc: Any, old: Any, new: Any) -> Any:
    """The model's eqn. 3 with RFC 1141's signature, 16-bit words in and out (sums widened so nothing wraps)."""
    import z3

    def wide(x: Any) -> Any:
        return z3.ZeroExt(24, x)

    return z3.Extract(15, 0, checksum.rfc1624_update(wide(hc) + wide(old), wide(new)))


def _rfc1141_by_sums(old_sum: Any, new_sum: Any) -> Any:
    """RFC 1141's answer in ``rfc1624_update``'s form: the same residue, but 0xFFFF where eqn. 3 gives 0."""
    return (old_sum - new_sum - 1) % 0xFFFF + 1


def test_expected_refutation_that_proves_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checksum, "rfc1141_update", _rfc1624_by_words)
    r = check(proofs.BY_ID["PROOF-CSUM-RFC1141"], timeout_ms=60_000)
    assert r.status is Status.UNEXPECTEDLY_PROVED and not r.ok


# --- deliberate breaks: each mutant must be caught by its proof ------------------------------------


def _unsigned_before(a: Any, b: Any) -> Any:
    return ult(a, b)  # plain unsigned <: ignores the wrap


def _unsigned_behind_base(x: Any, base: Any, advance: Any) -> Any:
    return ult(x, base)  # plain unsigned <: ignores the wrap


def _old_trim_rule(x: Any, base: Any, advance: Any) -> Any:
    """The rule before issue 3: before(x, splice_irs) against the fixed base, the advance ignored."""
    return seqspace.before(x, base)


def _serial_behind_base(x: Any, base: Any, advance: Any) -> Any:
    """RFC 1982's strict order: the number exactly 2^31 below the base no longer counts as behind it."""
    return arith.and_(_ORIGINAL_BEHIND_BASE(x, base, advance), arith.not_(arith.eq(seqspace.seq_sub(base, x), HALF)))


def _advance_frozen(advance: Any, base: Any, end: Any) -> Any:
    return advance  # the relay never records how far the stream got


def _advance_unbounded_step(advance: Any, base: Any, end: Any) -> Any:
    """Grows for any end ahead on the circle (up to 2^31), not only within a window."""
    step = seqspace.seq_sub(end, seqspace.seq_add(base, advance))
    return ite(seqspace.after(end, seqspace.seq_add(base, advance)), arith.umin(advance + step, HALF), advance)


def _advance_unsaturated(advance: Any, base: Any, end: Any) -> Any:
    step = seqspace.seq_sub(end, seqspace.seq_add(base, advance))
    return ite(ult(seqspace.seq_sub(step, 1), mapping.MAX_WINDOW), (advance + step) & arith.MASK32, advance)


def _unmasked_map_seq(seq: Any, in_irs: Any, out_iss: Any) -> Any:
    return seqspace.seq_sub(seq, in_irs) + out_iss  # the outer `& MASK32` dropped


def _urgent_never_cleared(urg: Any, urgent: Any, trimmed: Any) -> tuple[Any, Any]:
    return urg, ite(urg, (urgent - trimmed) & MASK16, urgent)


def _window_unclamped(window: Any, in_shift: int, out_shift: int) -> Any:
    return lshr((window << in_shift) & arith.MASK32, out_shift)


def _fin_off_by_one(trimmed: Any, syn: Any, data_len: Any, fin: Any) -> tuple[Any, Any, Any]:
    syn_kept, cut, _ = _ORIGINAL_SPLIT_TRIM(trimmed, syn, data_len, fin)
    return syn_kept, cut, arith.and_(fin, ult(trimmed, arith.bit(syn, trimmed) + data_len))


def _tsecr_unmapped(tsecr: Any, in_lastsent: Any, out_lastrecv: Any) -> Any:
    return tsecr


def _sack_unclipped(left: Any, right: Any, in_iss: Any, out_irs: Any, advance: Any) -> tuple[Any, Any, Any]:
    return (seqspace.after(right, in_iss), mapping.map_ack(left, in_iss, out_irs),
            mapping.map_ack(right, in_iss, out_irs))


def _sack_old_rule(left: Any, right: Any, in_iss: Any, out_irs: Any, advance: Any) -> tuple[Any, Any, Any]:
    """SACK clipped against the fixed base, as before issue 3: blocks past 2 GiB are dropped."""
    return _ORIGINAL_MAP_SACK_BLOCK(left, right, in_iss, out_irs, 0)


def _ones_add_no_carry(a: Any, b: Any) -> Any:
    return (a + b) & MASK16


_ORIGINAL_SPLIT_TRIM = mapping.split_trim
_ORIGINAL_MAP_SEQ = mapping.map_seq
_ORIGINAL_BEHIND_BASE = mapping.behind_base
_ORIGINAL_MAP_SACK_BLOCK = mapping.map_sack_block

# (name, [(module, attribute, replacement)], property that must now fail)
MUTANTS: list[tuple[str, list[tuple[Any, str, Any]], str]] = [
    ("behind_base is a plain unsigned <", [(mapping, "behind_base", _unsigned_behind_base)], "PROOF-TRIM-SOUND"),
    ("before is a plain unsigned < (order)", [(seqspace, "before", _unsigned_before)], "PROOF-SEQ-ORDER"),
    ("trimming uses RFC 1982 < (TRIM-HALF lost)", [(mapping, "behind_base", _serial_behind_base)],
     "PROOF-HALF-DISTANCE"),
    ("trimming uses RFC 1982 < (completeness)", [(mapping, "behind_base", _serial_behind_base)],
     "PROOF-TRIM-COMPLETE"),
    ("the old trim rule: before(seq, splice_irs), advance ignored", [(mapping, "behind_base", _old_trim_rule)],
     "PROOF-TRIM-2GIB"),
    ("the old trim rule (soundness past 2 GiB)", [(mapping, "behind_base", _old_trim_rule)], "PROOF-TRIM-SOUND"),
    ("the advance never grows", [(mapping, "advance_to", _advance_frozen)], "PROOF-TRIM-2GIB"),
    ("the advance grows past a window", [(mapping, "advance_to", _advance_unbounded_step)], "PROOF-TRIM-2GIB"),
    ("the advance does not saturate", [(mapping, "advance_to", _advance_unsaturated)], "PROOF-TRIM-2GIB"),
    ("SACK clipped against the fixed base", [(mapping, "map_sack_block", _sack_old_rule)], "PROOF-SACK"),
    ("map_seq drops its mask", [(mapping, "map_seq", _unmasked_map_seq)], "PROOF-WIDTH-CLOSED"),
    ("RFC 1141 update in place of RFC 1624", [(checksum, "rfc1624_update", _rfc1141_by_sums)],
     "PROOF-CSUM-RFC1624"),
    ("ones_add without end-around carry", [(checksum, "ones_add", _ones_add_no_carry)], "PROOF-ONES-ADD"),
    ("urgent pointer never cleared", [(mapping, "map_urgent", _urgent_never_cleared)], "PROOF-URGENT"),
    ("window not clamped to 16 bits", [(mapping, "relay_window", _window_unclamped)], "PROOF-WS-SAFE"),
    ("FIN dropped one number early", [(mapping, "split_trim", _fin_off_by_one)], "PROOF-SEQ-CTL"),
    ("TSecr not mapped", [(mapping, "map_tsecr", _tsecr_unmapped)], "PROOF-TS-ECHO"),
    ("SACK blocks not clipped", [(mapping, "map_sack_block", _sack_unclipped)], "PROOF-SACK"),
]


@pytest.mark.parametrize(("name", "patches", "prop_id"), MUTANTS, ids=[m[0] for m in MUTANTS])
def test_deliberate_break_is_caught(name: str, patches: list[tuple[Any, str, Any]], prop_id: str,
                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for module, attr, replacement in patches:
        monkeypatch.setattr(module, attr, replacement)
    broken = check(proofs.BY_ID[prop_id], timeout_ms=60_000, regressions_dir=tmp_path)
    assert broken.status is Status.COUNTEREXAMPLE and not broken.ok, f"{name}: {prop_id} still {broken.status}"
    cex = broken.counterexample
    assert cex is not None and cex.values and cex.conjunct
    text = cex.format()
    assert "failing conjunct" in text and "0x" in text
    assert broken.regression_path is not None
    vec = json.loads(broken.regression_path.read_text())
    assert vec["property"] == prop_id and vec["values"] == cex.values
    monkeypatch.undo()  # the model restored, the same proof holds again
    assert result(prop_id).status is Status.PROVED


def test_unmasked_map_seq_is_invisible_on_32_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why PROOF-WIDTH-CLOSED exists: z3's 32-bit words wrap by themselves, so the 32-bit bijection proof
    cannot see a dropped mask — while on Python ints the mutant really is wrong."""
    monkeypatch.setattr(mapping, "map_seq", _unmasked_map_seq)
    assert check(proofs.BY_ID["PROOF-SEQ-BIJECTION"], timeout_ms=60_000).status is Status.PROVED
    assert mapping.map_seq(0xFFFF_FFFF, 0, 1) == 1 << 32  # escapes 32 bits on ints
    assert check(proofs.BY_ID["PROOF-WIDTH-CLOSED"], timeout_ms=60_000).status is Status.COUNTEREXAMPLE


def test_lookup_is_late_bound() -> None:
    """Builders reach the model through module attributes, so a patch is what gets proved."""
    marker: list[str] = []

    def spy(seq: Any, irs: Any, iss: Any) -> Any:
        marker.append("called")
        return _ORIGINAL_MAP_SEQ(seq, irs, iss)

    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(mapping, "map_seq", spy)
        proofs.BY_ID["PROOF-SEQ-BIJECTION"].goal()
    finally:
        mp.undo()
    assert marker
    assert mapping.map_seq is _ORIGINAL_MAP_SEQ

