"""The concrete twins (``arith.concrete_twins``): the relay runs ``mapping.concrete``, the proofs run the
generic originals, so every twin must compute what its original computes — value and type — on every
input. Checked here on the boundaries of the sequence space (every combination of them, and Hypothesis
around them), and the rewriting itself on functions written to exercise each rule."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from splicecheck.reference import arith, mapping, relay
from splicecheck.reference.arith import INLINED, concrete_twins, ite, ult, umin
from splicecheck.reference.seqspace import HALF

MASK32 = 0xFFFF_FFFF
#: the words where the arithmetic changes behaviour: 0, the wrap, half the space, a window (2^30)
WORD_EDGES = (0, 1, 2, 0xFFFF, 0x1_0000, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, HALF - 1, HALF, HALF + 1,
              MASK32 - 1, MASK32)
ADVANCE_EDGES = (0, 1, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, HALF - 1, HALF)
LEN_EDGES = (0, 1, 2, 3, 0xFFFF, 0x1_0000, 0x1_0001)
U16_EDGES = (0, 1, 2, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
BOOLS = (False, True)
SHIFTS = tuple(range(15))

words = st.one_of(st.sampled_from(WORD_EDGES), st.integers(0, MASK32),
                  st.tuples(st.sampled_from(WORD_EDGES), st.integers(-3, 3)).map(lambda p: (p[0] + p[1]) & MASK32))
advances = st.one_of(st.sampled_from(ADVANCE_EDGES), st.integers(0, HALF))
lengths = st.one_of(st.sampled_from(LEN_EDGES), st.integers(0, 0x1_0001))
u16 = st.one_of(st.sampled_from(U16_EDGES), st.integers(0, 0xFFFF))
shifts = st.integers(0, 14)

#: every function the relay runs, with the domain of each argument: (edges for the exhaustive product,
#: a strategy for Hypothesis)
DOMAINS: dict[str, tuple[tuple[tuple[Any, ...], st.SearchStrategy[Any]], ...]] = {
    "map_seq": ((WORD_EDGES, words),) * 3,
    "map_ack": ((WORD_EDGES, words),) * 3,
    "map_tsval": ((WORD_EDGES, words),) * 3,
    "map_tsecr": ((WORD_EDGES, words),) * 3,
    "behind_base": ((WORD_EDGES, words), (WORD_EDGES, words), (ADVANCE_EDGES, advances)),
    "advance_to": ((ADVANCE_EDGES, advances), (WORD_EDGES, words), (WORD_EDGES, words)),
    "trim_count": ((WORD_EDGES, words), (LEN_EDGES, lengths), (WORD_EDGES, words), (ADVANCE_EDGES, advances)),
    "trimmed_seq": ((WORD_EDGES, words), (LEN_EDGES, lengths)),
    "split_trim": ((LEN_EDGES, lengths), (BOOLS, st.booleans()), (U16_EDGES, u16), (BOOLS, st.booleans())),
    "map_urgent": ((BOOLS, st.booleans()), (U16_EDGES, u16), (LEN_EDGES, lengths)),
    "map_sack_block": ((WORD_EDGES, words),) * 4 + ((ADVANCE_EDGES, advances),),
    "relay_window": ((U16_EDGES, u16), (SHIFTS, shifts), (SHIFTS, shifts)),
}
RELAY_RUNS = ("map_seq", "map_ack", "trim_count", "trimmed_seq", "split_trim", "map_urgent", "map_tsval",
              "map_tsecr", "map_sack_block", "relay_window", "advance_to")


def _same(original: Callable[..., Any], twin: Callable[..., Any], args: tuple[Any, ...]) -> None:
    want, got = original(*args), twin(*args)
    assert got == want and type(got) is type(want), f"{original.__name__}{args}: twin {got!r}, original {want!r}"
    if isinstance(want, tuple):
        assert [type(x) for x in got] == [type(x) for x in want], f"{original.__name__}{args}: types differ"


def test_every_mapping_function_has_a_twin_and_the_relay_runs_the_twins() -> None:
    assert set(DOMAINS) == set(vars(mapping.concrete))
    for name in RELAY_RUNS:
        twin = getattr(relay, name)
        assert twin is getattr(mapping.concrete, name), f"relay.{name} is not mapping.concrete.{name}"
        assert twin.__wrapped__ is getattr(mapping, name)  # the twin of the proved function, not a copy


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_twin_equals_original_on_every_combination_of_edges(name: str) -> None:
    original, twin = getattr(mapping, name), getattr(mapping.concrete, name)
    edges = [e for e, _ in DOMAINS[name]]
    if name in ("map_sack_block",):  # 13^4 · 7 combinations: the edges of left, right and the base suffice
        edges[3] = (0, HALF, MASK32)
    for args in itertools.product(*edges):
        _same(original, twin, args)


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_twin_equals_original_around_the_edges(name: str) -> None:
    original, twin = getattr(mapping, name), getattr(mapping.concrete, name)

    @given(st.tuples(*[s for _, s in DOMAINS[name]]))
    def check(args: tuple[Any, ...]) -> None:
        _same(original, twin, args)

    check()


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_twins_call_no_generic_helper(name: str) -> None:
    """Every helper call was rewritten (a helper left in would still be right, only slow), and the
    one-expression functions the relay's arithmetic is built from were inlined."""
    names = set(getattr(mapping.concrete, name).__code__.co_names)
    assert not names & set(INLINED), f"{name} still calls {names & set(INLINED)}"
    assert not names & {"behind_base", "map_ack"}, f"{name} still calls {names & {'behind_base', 'map_ack'}}"


# --- the rewriting itself, on functions that exercise each rule ------------------------------------------


def _nested_min(a: Any, b: Any, c: Any) -> Any:
    return umin(umin(a, b), umin(b, c))


def _window_room(a: Any, b: Any) -> Any:
    return umin(ite(ult(a, b), b - a, a - b), _nested_min(a, b, 7))


def _uses_both(a: Any, b: Any) -> Any:
    return _window_room(_nested_min(a, b, 3), umin(a, b)) + _window_room(b, a)


def _all_inlined(a: Any, b: Any) -> Any:
    return umin(_window_room(b, a), _nested_min(a, b, umin(b, 9)))


def _with_locals(a: Any, b: Any) -> Any:
    room = umin(a, b)
    edge = ite(ult(room, 5), room, b)
    return umin(room + edge, umin(room, a))  # room used three times: three copies, each with its own temporaries


def _calls_with_locals(a: Any, b: Any) -> Any:
    return _with_locals(b, a) + _with_locals(a, 3)


def _every_helper(a: Any, b: Any, c: bool) -> Any:
    t = arith.and_(c, arith.ule(a, b), arith.not_(arith.eq(a, b)))
    return (ite(t, arith.lshr(a, 3), arith.bit(c, a)), arith.bit_set(a, 0x8000_0000), ult(b, a))


def _twins(*fns: Callable[..., Any]) -> Any:
    return concrete_twins({**globals(), **{f.__name__: f for f in fns}}, tuple(f.__name__ for f in fns))


@given(st.integers(0, MASK32), st.integers(0, MASK32), st.booleans())
def test_each_rule_is_the_helpers_int_branch(a: int, b: int, c: bool) -> None:
    twins = _twins(_nested_min, _window_room, _uses_both, _all_inlined, _with_locals, _calls_with_locals, _every_helper)
    for f in (_nested_min, _window_room, _uses_both, _all_inlined, _with_locals, _calls_with_locals):
        args = (a, b, c * 5) if f is _nested_min else (a, b)
        _same(f, getattr(twins, f.__name__), args)
    _same(_every_helper, twins._every_helper, (a, b, c))


def test_inlining_renames_temporaries_and_stops_where_it_must() -> None:
    twins = _twins(_nested_min, _window_room, _uses_both, _all_inlined)
    # umins of three functions inlined, nested, into one expression: each keeps its own temporaries
    assert twins._all_inlined.__code__.co_names == ()
    # by hand: (5, 9) → min(|9 - 5|, min(5, 9, 7), min(5, 9, 9)) = 4; (9, 5) likewise; (3, 3) → |3 - 3| = 0
    assert [twins._all_inlined(a, b) for a, b in ((5, 9), (9, 5), (3, 3))] == [4, 4, 0]
    twins = _twins(_with_locals, _calls_with_locals)
    assert twins._calls_with_locals.__code__.co_names == ()  # a function with locals inlines too
    # by hand: _with_locals(9, 2): room 2, edge 2 → min(4, 2) = 2; _with_locals(2, 3): room 2 → min(4, 2) = 2
    assert twins._calls_with_locals(2, 9) == 4
    twins = _twins(_nested_min, _window_room, _uses_both)
    # an argument that is an expression, passed for a parameter used twice, is not duplicated: the call stays
    assert twins._uses_both.__code__.co_names == ("_window_room",)


def _reads_k(x: Any) -> Any:
    return x + K


def _caller_with_local_k(x: Any) -> Any:
    K = 1000  # the point of the test: the callee's global K must not be read as this local
    return _reads_k(x) + K


def _twice(x: Any) -> Any:
    return x * x


def _caller_with_an_expression_twice(x: Any) -> Any:
    return _twice(x + 1)


K = 1


def test_no_inlining_that_would_capture_a_local_or_duplicate_an_expression() -> None:
    twins = _twins(_reads_k, _caller_with_local_k, _twice, _caller_with_an_expression_twice)
    assert "_reads_k" in twins._caller_with_local_k.__code__.co_names
    assert twins._caller_with_local_k(1) == _caller_with_local_k(1) == 1002
    assert "_twice" in twins._caller_with_an_expression_twice.__code__.co_names
    assert twins._caller_with_an_expression_twice(2) == 9


def test_a_function_without_source_is_its_own_twin() -> None:
    env: dict[str, Any] = {"ult": ult}
    exec("def no_source(a, b):\n    return ult(a, b)\n", env)  # exec'd code has no file to read
    twins = concrete_twins({**globals(), "no_source": env["no_source"]}, ("no_source", "_twice"))
    assert twins.no_source is env["no_source"] and twins.no_source(1, 2) is True
    assert twins._twice is not _twice and twins._twice(3) == 9


def test_a_twin_is_compiled_from_the_source_it_stands_for() -> None:
    twin = mapping.concrete.trim_count
    assert twin.__doc__ == mapping.trim_count.__doc__
    assert twin.__code__.co_filename == mapping.trim_count.__code__.co_filename
    assert twin.__code__.co_firstlineno == mapping.trim_count.__code__.co_firstlineno


# --- rule 3: repeated arithmetic computed once ------------------------------------------------------------


def _room_below(x: Any, base: Any, advance: Any) -> Any:
    return ult((x - base + (HALF - advance)) & MASK32, HALF - advance)


def _two_rooms(left: Any, right: Any, base: Any, advance: Any) -> Any:
    # HALF - advance four times once inlined; (right - base) & MASK32 twice, as its own and inside a larger one
    return (_room_below(left, base, advance), _room_below(right, base, advance),
            (right - base) & MASK32, umin((right - base) & MASK32, 5), ite(ult(left, right), left - right, 0))


def _hoisted_names(fn: Callable[..., Any]) -> set[str]:
    return {n for n in fn.__code__.co_varnames if n.startswith("_repeat")}


@functools.cache
def _rooms_twins() -> Any:
    """Compiled once: compiling per example made the test's examples slow enough, under load, to miss
    Hypothesis' deadline."""
    return _twins(_room_below, _two_rooms)


@given(st.integers(0, MASK32), st.integers(0, MASK32), st.integers(0, MASK32), st.integers(0, HALF))
def test_repeated_arithmetic_is_computed_once_and_changes_nothing(left: int, right: int, base: int,
                                                                  advance: int) -> None:
    twins = _rooms_twins()
    _same(_two_rooms, twins._two_rooms, (left, right, base, advance))
    _same(_room_below, twins._room_below, (left, base, advance))
    # hoisted: HALF - advance; (right - base) & MASK32; then right - base, in it and in the second room's
    # sum. Not hoisted: left - right, alone (under a condition); in _room_below, HALF - advance is one
    assert len(_hoisted_names(twins._two_rooms)) == 3 and len(_hoisted_names(twins._room_below)) == 1


def test_repeats_over_assigned_names_stay_where_they_are() -> None:
    def assigned(a: Any, b: Any) -> Any:
        c = a + 1
        return umin(c + b, c + b)  # c is a local: c + b is not hoisted (it reads an assigned name)

    def operand_may_raise(a: Any, b: Any) -> Any:
        return ite(ult(b, 32), (a >> b) + 1, 0) + ite(ult(b, 32), (a >> b) + 1, 0)  # >> can raise: left alone

    twins = _twins(assigned, operand_may_raise)
    assert not _hoisted_names(twins.assigned) and not _hoisted_names(twins.operand_may_raise)
    assert twins.assigned(2, 3) == 6 and twins.operand_may_raise(8, 1) == 10 and twins.operand_may_raise(8, 40) == 0
    # the proved functions whose inlined copies repeat HALF - advance compute it once
    assert _hoisted_names(mapping.concrete.map_sack_block) and _hoisted_names(mapping.concrete.trim_count)
