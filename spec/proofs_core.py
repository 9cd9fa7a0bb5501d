"""The proof engine: properties as obligations over the model's own functions, checked by Z3.

Theory of operation (hyperkernel style, ``hv6/spec/kernel/main.py``)
-----------------------------------------------------------------------
A :class:`Property` is an ID, the requirement IDs it backs, and a *builder*: a function that receives
a fresh :class:`Goal`, declares symbolic variables on it (32-bit bit-vectors for sequence-space words,
16-bit for checksum words, Bools for flags), and states

* **premises** — what the property assumes, each named and documented;
* **lemmas** (optional) — named stepping stones, proved first and then assumed (the cut rule);
* **conclusion** — named conjuncts, built by *calling the reference model* (``splicecheck.reference``)
  on the symbolic values. Builders look the functions up through their modules at call time
  (``mapping.map_seq(...)``), so a monkeypatched model is what gets proved;
* **boundaries** — named corner cases (wrap at 0xFFFFFFFF, splice_irs at the wrap, distance 2^31, empty
  segments, maximum window) used twice: as coverage evidence (premises ∧ boundary must be satisfiable,
  otherwise the premises exclude the case they are meant to cover) and as test vectors.

:func:`check` proves a property by asserting ``premises ∧ ¬cᵢ`` for each conjunct in turn and expecting
*unsat* every time (the conjunction is valid iff each conjunct is, and Z3 handles the small queries far
better than the whole); lemmas, and in a ``cumulative`` goal the conjuncts, are assumed once proved.
It first checks that the premises alone are *sat*: a property whose premises are contradictory proves
anything and is reported as VACUOUS, a failure. On *sat* it isolates the smallest failing conjunct:
the first named conjunct refuted, then, descending through ``And`` and ``Implies(p, And(…))``, its
first refutable child; the counterexample is that child's model, with the values both sides of a
failed equation take. A property may be *expected* to be refuted (a documented negative result, e.g.
RFC 1141's update): then a counterexample is success ("refuted as expected") and a proof is the failure.

The spec-side yardsticks below (:func:`below`, :class:`Stream` positions, …) state what the requirements *mean*
directly in z3, independently of the model, so that a mutated model is measured against a fixed rule.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import z3

from ..reference.seqspace import HALF

#: A z3 expression (z3 ships no type stubs).
Expr = Any



# --- spec-side yardsticks (plain z3, never the model) ---------------------------------------------


def below(x: Expr, base: Expr) -> Expr:
    """``x`` lies below ``base`` on the circle: its forward distance from ``base`` is 2^31 or more
    (Linux's ``before()``, under which a number exactly 2^31 away counts as below). For comparisons
    with a fixed point, such as PAWS; where a byte lies in a *stream* is :class:`Stream`'s business."""
    return z3.UGE(x - base, HALF)


def at_or_after(x: Expr, base: Expr) -> Expr:
    return z3.Not(below(x, base))


def one_if(b: Expr, width: int = 32) -> Expr:
    return z3.If(b, z3.BitVecVal(1, width), z3.BitVecVal(0, width))


# --- streams: where a sequence number lies along the stream, not just on the circle ----------------

#: Width of stream positions and reaches (signed). See :class:`Stream` for why 40 bits lose nothing.
POS_BITS = 40
REACH_LIMIT = 1 << 34


def pos_ext(x: Expr) -> Expr:
    """Zero-extend a 32-bit word (a length, an index) to a stream position's width."""
    return z3.ZeroExt(POS_BITS - x.size(), x)


def pos_var(g: Goal, name: str) -> Expr:
    """A stream position: a signed ``POS_BITS``-bit offset from the base."""
    return g.bv(name, POS_BITS)


@dataclass(frozen=True)
class Stream:
    """One direction's stream as the requirements see it, and the relay state that stands for it.

    ``base`` is the splice base (``splice_irs`` for trimming, ``splice_iss`` for the SACK blocks of the
    other direction), a 32-bit word. ``reach`` is how far the stream has got past the base — the end
    of the furthest relayed segment, in bytes. A number is placed by its *position*, a signed offset
    from the base along the stream (negative: before the splice); its sequence number is
    ``base + position`` mod 2^32. ``advance`` is the relay's per-direction state, ``min(reach, 2^31)``
    as a 32-bit word: the abstraction PROOF-TRIM-2GIB shows the relay maintains (it holds at the
    splice, 0 = min(0, 2^31)).

    Positions and reaches are ``POS_BITS`` = 40-bit words and reach < 2^34 (16 GiB), which loses no
    generality: a reach r ≥ 2^32 + 2^31 and every position the premises allow with it (≥ r - 2^31 ≥ 2^32)
    can be lowered by 2^32 without changing any sequence number (mod 2^32), the advance (2^31 either
    way) or the sign of any position — so every longer stream is covered by one below 2^34. Narrower
    words keep the SAT problems small (PROOF-SPLIT-COMMUTE must fit the 30 s budget).
    """

    base: Expr
    reach: Expr
    advance: Expr

    def seq(self, position: Expr) -> Expr:
        """The sequence number at a stream position."""
        return self.base + z3.Extract(31, 0, position)


def stream(g: Goal, base_name: str = "splice_irs") -> Stream:
    """Declare a stream: its base, its reach (a variable) and the relay's advance (derived from it)."""
    base = g.bv(base_name)
    reach = g.bv("reach", POS_BITS)
    g.assume("reach < 2^34 (stands for any stream, see Stream)", z3.ULT(reach, REACH_LIMIT))
    advance = g.derive("advance", z3.Extract(31, 0, z3.If(z3.UGE(reach, HALF), z3.BitVecVal(HALF, POS_BITS), reach)))
    return Stream(base, reach, advance)


def assume_in_reach(g: Goal, st: Stream, position: Expr, length: Expr, ahead: int = HALF) -> None:
    """Premise: the ``length`` numbers from ``position`` lie at most 2^31 behind the furthest point
    (``reach``) and end at most ``ahead`` past it (2^31: anywhere RFC 1982 can still compare; 2^30: a
    window, RFC 7323 §2.3). Every byte a stream has in flight does: the proxy's pre-splice data the
    sender may retransmit, and what it may send ahead, each fit one window."""
    # (signed comparisons; bounding the position first keeps position + length from overflowing)
    g.assume("the numbers lie at most 2^31 behind the furthest point",
             z3.And(position >= st.reach - HALF, position <= st.reach + ahead))
    g.assume(f"and end at most 2^{ahead.bit_length() - 1} past it",
             position + pos_ext(length) <= st.reach + ahead)


# --- goals and properties -------------------------------------------------------------------------


@dataclass
class Goal:
    """What a builder fills in: variables, named premises, named conjuncts, named boundary cases."""

    property_id: str
    variables: dict[str, Expr] = field(default_factory=dict)
    premises: list[tuple[str, Expr]] = field(default_factory=list)
    lemmas: list[tuple[str, Expr]] = field(default_factory=list)
    conclusion: list[tuple[str, Expr]] = field(default_factory=list)
    boundaries: list[tuple[str, Expr]] = field(default_factory=list)
    derived: dict[str, Expr] = field(default_factory=dict)
    #: each conjunct proved is assumed by the later ones: for conclusions that are stepping stones
    cumulative: bool = False

    def _declare(self, name: str, var: Expr) -> Expr:
        if name in self.variables:
            raise ValueError(f"{self.property_id}: variable {name!r} declared twice")
        self.variables[name] = var
        return var

    def bv(self, name: str, width: int = 32) -> Expr:
        return self._declare(name, z3.BitVec(name, width))

    def flag(self, name: str) -> Expr:
        return self._declare(name, z3.Bool(name))

    def assume(self, name: str, expr: Expr) -> None:
        self.premises.append((name, expr))

    def conclude(self, name: str, expr: Expr) -> None:
        self.conclusion.append((name, expr))

    def lemma(self, name: str, expr: Expr) -> None:
        """A stepping stone: proved from the premises (and earlier lemmas) first, then assumed while the
        conclusion is proved — the cut rule. Sound, since it is proved; a refuted lemma fails the
        property like a refuted conjunct. It only spares Z3 rediscovering a fact in every query."""
        self.lemmas.append((name, expr))

    def boundary(self, name: str, expr: Expr) -> None:
        self.boundaries.append((name, expr))

    def derive(self, name: str, expr: Expr) -> Expr:
        """A value computed from the variables, reported alongside them in counterexamples and vectors
        (e.g. ``seq`` when the builder quantifies over ``seq - splice_irs`` instead)."""
        if name in self.variables or name in self.derived:
            raise ValueError(f"{self.property_id}: name {name!r} used twice")
        self.derived[name] = expr
        return expr


class Expect(StrEnum):
    PROVED = "proved"
    REFUTED = "refuted"


Builder = Callable[[Goal], None]


@dataclass(frozen=True)
class Property:
    id: str
    requirements: tuple[str, ...]
    build: Builder
    expect: Expect = Expect.PROVED

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.build.__doc__ or "")

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n", 1)[0].replace("\n", " ")

    def goal(self) -> Goal:
        g = Goal(self.id)
        self.build(g)
        if not g.conclusion:
            raise ValueError(f"{self.id}: no conclusion")
        return g


def proof(prop_id: str, *requirements: str, expect: Expect = Expect.PROVED) -> Callable[[Builder], Property]:
    """Decorator: turn a builder into a :class:`Property`."""

    def wrap(build: Builder) -> Property:
        return Property(prop_id, tuple(requirements), build, expect)

    return wrap


# --- results --------------------------------------------------------------------------------------


class Status(StrEnum):
    PROVED = "proved"
    COUNTEREXAMPLE = "counterexample"
    UNKNOWN = "unknown"
    REFUTED_AS_EXPECTED = "refuted as expected"
    UNEXPECTEDLY_PROVED = "proved, but a counterexample was expected"
    VACUOUS = "vacuous (premises unsat)"


@dataclass(frozen=True)
class Counterexample:
    conjunct: str  # the named conjunct that failed
    detail: str  # the smallest refutable sub-formula, as z3 prints it
    values: dict[str, int]  # Bools as 0/1
    widths: dict[str, int]  # bits; 1 for a Bool

    def format(self) -> str:
        lines = [f"failing conjunct: {self.conjunct}", f"  smallest refutable part: {self.detail}"]
        for name, value in self.values.items():
            w = self.widths[name]
            shown = ("True" if value else "False") if w == 1 else f"{value:#0{w // 4 + 2}x} ({value})"
            lines.append(f"  {name} = {shown}")
        return "\n".join(lines)

    def to_json(self, prop: Property) -> dict[str, Any]:
        return {
            "property": prop.id,
            "requirements": list(prop.requirements),
            "expected": str(prop.expect),
            "conjunct": self.conjunct,
            "detail": self.detail,
            "values": self.values,
            "hex": {k: hex(v) for k, v in self.values.items()},
            "widths": self.widths,
        }


@dataclass(frozen=True)
class ProofResult:
    property_id: str
    requirements: tuple[str, ...]
    premises: str  # "sat" | "unsat" | "unknown"
    boundaries_sat: int
    boundaries_total: int
    status: Status
    seconds: float
    counterexample: Counterexample | None = None
    regression_path: Path | None = None
    uncovered: tuple[str, ...] = ()  # boundary cases the premises exclude

    @property
    def ok(self) -> bool:
        return (self.status in (Status.PROVED, Status.REFUTED_AS_EXPECTED) and self.premises == "sat"
                and not self.uncovered)


# --- solving --------------------------------------------------------------------------------------


def _solver(timeout_ms: int) -> Expr:
    s = z3.SolverFor("QF_BV")
    s.set("timeout", timeout_ms)
    return s


def _check(exprs: Iterable[Expr], timeout_ms: int) -> tuple[str, Expr]:
    s = _solver(timeout_ms)
    for e in exprs:
        s.add(e)
    r = s.check()
    if r == z3.sat:
        return "sat", s.model()
    return ("unsat" if r == z3.unsat else "unknown"), None


def values_of(goal: Goal, model: Expr) -> tuple[dict[str, int], dict[str, int]]:
    values: dict[str, int] = {}
    widths: dict[str, int] = {}
    for name, var in (*goal.variables.items(), *goal.derived.items()):
        v = model.eval(var, model_completion=True)
        if z3.is_bool(var):
            values[name], widths[name] = int(z3.is_true(v)), 1
        else:
            values[name], widths[name] = v.as_long(), var.size()
    return values, widths


def _children(expr: Expr) -> list[Expr]:
    """Conjuncts one level down: ``And(a, b)`` → a, b; ``Implies(p, And(a, b))`` → p⇒a, p⇒b."""
    if z3.is_and(expr):
        return list(expr.children())
    if z3.is_app_of(expr, z3.Z3_OP_IMPLIES):
        p, q = expr.children()
        if z3.is_and(q):
            return [z3.Implies(p, c) for c in q.children()]
    return []


def _show(value: Expr) -> str:
    if z3.is_bv_value(value):
        v = value.as_long()
        return f"{v:#x} ({v})"
    return str(value)


def _short(expr: Expr, limit: int = 160) -> str:
    text = " ".join(str(expr).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def explain(expr: Expr, model: Expr) -> str:
    """``expr`` (abbreviated) and, for an equation or the consequent of an implication that is one,
    the values both sides take in ``model``."""
    eq = expr.children()[1] if z3.is_app_of(expr, z3.Z3_OP_IMPLIES) else expr
    if z3.is_eq(eq):
        lhs, rhs = (model.eval(c, model_completion=True) for c in eq.children())
        return f"{_short(expr)}  [left side = {_show(lhs)}, right side = {_show(rhs)}]"
    return _short(expr)


def narrow(goal: Goal, name: str, conj: Expr, model: Expr, premises: list[Expr],
           timeout_ms: int) -> Counterexample:
    """Descend from a refuted named conjunct to its first refutable child, recursively."""
    expr = conj
    while True:
        for child in _children(expr):
            r, m = _check([*premises, z3.Not(child)], timeout_ms)
            if r == "sat":
                expr, model = child, m
                break
        else:
            break
    values, widths = values_of(goal, model)
    return Counterexample(name, explain(expr, model), values, widths)


def _prove_conjuncts(goal: Goal, premises: list[Expr], timeout_ms: int) -> tuple[str, Counterexample | None]:
    """Prove premises ⇒ cᵢ for each conjunct in turn — valid iff each is, and small queries are much
    easier for Z3 than the whole conjunction. The first refuted conjunct is narrowed and returned.
    Lemmas come first (:meth:`Goal.lemma`); every lemma proved — and, in a ``cumulative`` goal, every
    conjunct proved — joins the premises of the ones after it (if P ⇒ c₁ and P ∧ c₁ ⇒ c₂ are valid,
    so is P ⇒ c₂). Not the default: extra premises slow many independent queries down."""
    verdict = "proved"
    premises = list(premises)
    for name, lemma in goal.lemmas:
        r, model = _check([*premises, z3.Not(lemma)], timeout_ms)
        if r == "sat":
            return "refuted", narrow(goal, f"lemma: {name}", lemma, model, premises, timeout_ms)
        if r == "unknown":
            return "unknown", None  # an unproved lemma cannot be assumed
        premises.append(lemma)
    for name, conj in goal.conclusion:
        r, model = _check([*premises, z3.Not(conj)], timeout_ms)
        if r == "sat":
            return "refuted", narrow(goal, name, conj, model, premises, timeout_ms)
        if r == "unknown":
            verdict = "unknown"  # keep looking: a refutation further on is still a definite answer
        elif goal.cumulative:
            premises.append(conj)  # proved: later conjuncts may build on it (the cut rule again)
    return verdict, None


def write_regression(path: Path, prop: Property, cex: Counterexample) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cex.to_json(prop), indent=2, sort_keys=False) + "\n")
    return path


def check(prop: Property, timeout_ms: int = 10_000, regressions_dir: Path | None = None) -> ProofResult:
    """Prove (or, for an expected refutation, refute) one property; see the module docstring."""
    start = time.perf_counter()
    goal = prop.goal()
    premises = [e for _, e in goal.premises]
    prem_status, _ = _check(premises, timeout_ms)
    uncovered = tuple(name for name, b in goal.boundaries if _check([*premises, b], timeout_ms)[0] != "sat")
    covered = len(goal.boundaries) - len(uncovered)

    cex: Counterexample | None = None
    if prem_status != "sat":
        status = Status.VACUOUS if prem_status == "unsat" else Status.UNKNOWN
    else:
        verdict, cex = _prove_conjuncts(goal, premises, timeout_ms)
        proved = prop.expect is Expect.PROVED
        if verdict == "proved":
            status = Status.PROVED if proved else Status.UNEXPECTEDLY_PROVED
        elif verdict == "refuted":
            status = Status.COUNTEREXAMPLE if proved else Status.REFUTED_AS_EXPECTED
        else:
            status = Status.UNKNOWN
    path = None
    if cex is not None and regressions_dir is not None:
        path = write_regression(Path(regressions_dir) / f"{prop.id}.json", prop, cex)
    return ProofResult(prop.id, prop.requirements, prem_status, covered, len(goal.boundaries), status,
                       time.perf_counter() - start, cex, path, uncovered)


def boundary_cases(prop: Property, timeout_ms: int = 10_000) -> list[tuple[str, dict[str, int]]]:
    """One concrete vector per satisfiable boundary case: a model of premises ∧ boundary."""
    goal = prop.goal()
    premises = [e for _, e in goal.premises]
    out: list[tuple[str, dict[str, int]]] = []
    for name, b in goal.boundaries:
        r, model = _check([*premises, b], timeout_ms)
        if r == "sat":
            out.append((name, values_of(goal, model)[0]))
    return out
