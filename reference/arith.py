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

import ast
import copy
import inspect
import itertools
import textwrap
from collections.abc import Callable
from types import SimpleNamespace
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


# --------------------------------------------------------------------------------------------------
# Concrete twins: the same source, compiled for ints
# --------------------------------------------------------------------------------------------------
#
# On ints every helper above is one Python operator behind a call and an isinstance test, and the relay
# runs a few dozen of them per segment: the calls are most of the cost. ``concrete_twins`` recompiles
# model functions from their own source for ints. Nothing is rewritten by hand, so there is still one
# definition — the one the proofs run — and a twin is that definition read on ints. Two rewrites:
#
# 1. A call of a helper of this module becomes the helper's int branch, written as the operator itself
#    (the operands are pure expressions, so evaluating one lazily changes nothing):
#
#        ult(a, b) → (a < b)        ule(a, b) → (a <= b)       eq(a, b) → (a == b)
#        not_(c)   → (not c)        and_(c, …) → (c and …)     ite(c, a, b) → (a if c else b)
#        lshr(a, s) → (a >> s)      bit(c, w) → (1 if c else 0)      bit_set(w, m) → ((w & m) != 0)
#        umin(a, b) → (x if (x := a) < (y := b) else y)   (x, y fresh names: a and b evaluated once)
#
#    Truths are ``bool`` on ints (``ite`` and ``not_`` already require it), and ``and``/``not`` of bools
#    are bools, so a twin returns what its original returns, type included.
# 2. A call of another function being twinned whose body is a ``return`` expression, after assignments to
#    locals if any, is replaced by that expression (itself rewritten), each local replaced by its own
#    expression and each parameter by its argument — when every argument used more than once is a plain
#    name or constant, and none of the expression's own names is a local of the caller (otherwise the
#    call stays, to the other twin). A local used twice is computed twice: the model's expressions are
#    pure, so only the cost repeats.
# 3. Then, in each twin as compiled (not in the expression it lends to rule 2), an arithmetic expression
#    that occurs more than once — built with ``+ - & | ^``, which cannot raise on ints, from parameters,
#    module names and int constants — is computed once, into a local at the top of the body, largest
#    first (``_hoist_repeats``). Rule 2 copies an expression per use: ``behind_base``'s ``HALF - advance``
#    stands twice in it and four times in ``map_sack_block``. Evaluated earlier or where it stood, such
#    an expression has the same value, and none of the names it reads is assigned in the twin.
#
# ``tests/test_concrete.py`` holds every twin to its original on boundary-heavy inputs.


#: The helpers ``concrete_twins`` replaces by operators.
INLINED = ("ult", "ule", "eq", "not_", "and_", "ite", "lshr", "bit", "bit_set", "umin")


def _as_expression(fn: ast.FunctionDef, fresh: Callable[[], str]) -> ast.expr | None:
    """The expression a function returns, its locals replaced by their expressions, when its body is (a
    docstring,) assignments of distinct plain names, and one ``return``; else None."""
    body = fn.body[1:] if fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value,
                                                                                          ast.Constant) else fn.body
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return None
    params = {a.arg for a in fn.args.args}
    env: dict[str, ast.expr] = {}
    for stmt in body[:-1]:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            return None
        name = stmt.targets[0].id
        if name in env or name in params:
            return None
        env[name] = _Substitute(env, fresh).visit(copy.deepcopy(stmt.value))
    expr: ast.expr = _Substitute(env, fresh).visit(copy.deepcopy(body[-1].value))
    return expr


def _locals(fn: ast.FunctionDef) -> set[str]:
    names = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    names.update(n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load))
    return names


class _Rename(ast.NodeTransformer):
    """The temporaries of ``umin`` given fresh names: each copy of an expression gets its own."""

    def __init__(self, fresh: Callable[[], str]) -> None:
        self.fresh = fresh
        self.renamed: dict[str, str] = {}

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id.startswith("_umin"):
            if node.id not in self.renamed:
                self.renamed[node.id] = self.fresh()
            return ast.Name(self.renamed[node.id], node.ctx)
        return node


class _Substitute(ast.NodeTransformer):
    """Names replaced by expressions (parameters by arguments, locals by theirs), each a renamed copy."""

    def __init__(self, values: dict[str, ast.expr], fresh: Callable[[], str]) -> None:
        self.values, self.fresh = values, fresh

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in self.values:
            value: ast.expr = _Rename(self.fresh).visit(copy.deepcopy(self.values[node.id]))
            return value
        return node


class _Concretise(ast.NodeTransformer):
    """Both rewrites, applied bottom-up (an argument may itself be a rewritten call)."""

    def __init__(self, helpers: frozenset[str], caller: ast.FunctionDef,
                 inline: Callable[[str], tuple[list[str], ast.expr] | None], fresh: Callable[[], str]) -> None:
        self.helpers = helpers  # the names that are bound to this module's helpers where the source runs
        self.caller_locals = _locals(caller)
        self.inline, self.fresh = inline, fresh

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f, a = node.func, node.args
        if not isinstance(f, ast.Name) or node.keywords or any(isinstance(x, ast.Starred) for x in a):
            return node
        name = f.id
        if name not in self.helpers:
            return self._inlined(node, name, a)
        if name in ("ult", "ule", "eq") and len(a) == 2:
            op = {"ult": ast.Lt(), "ule": ast.LtE(), "eq": ast.Eq()}[name]
            return ast.Compare(a[0], [op], [a[1]])
        if name == "not_" and len(a) == 1:
            return ast.UnaryOp(ast.Not(), a[0])
        if name == "and_" and len(a) >= 2:
            return ast.BoolOp(ast.And(), list(a))
        if name == "ite" and len(a) == 3:
            return ast.IfExp(a[0], a[1], a[2])
        if name == "lshr" and len(a) == 2:
            return ast.BinOp(a[0], ast.RShift(), a[1])
        if name == "bit" and len(a) == 2:
            return ast.IfExp(a[0], ast.Constant(1), ast.Constant(0))
        if name == "bit_set" and len(a) == 2:
            return ast.Compare(ast.BinOp(a[0], ast.BitAnd(), a[1]), [ast.NotEq()], [ast.Constant(0)])
        if name == "umin" and len(a) == 2:
            x, y = self.fresh(), self.fresh()
            test = ast.Compare(ast.NamedExpr(ast.Name(x, ast.Store()), a[0]), [ast.Lt()],
                               [ast.NamedExpr(ast.Name(y, ast.Store()), a[1])])
            return ast.IfExp(test, ast.Name(x, ast.Load()), ast.Name(y, ast.Load()))
        return node

    def _inlined(self, node: ast.Call, name: str, args: list[ast.expr]) -> ast.expr:
        found = self.inline(name)
        if found is None:
            return node
        params, expr = found
        if len(params) != len(args):
            return node
        uses = [n.id for n in ast.walk(expr) if isinstance(n, ast.Name)]
        if any(u in self.caller_locals for u in uses if u not in params):
            return node  # a name of the callee's would be read as the caller's local
        for p, arg in zip(params, args, strict=True):
            if uses.count(p) > 1 and not isinstance(arg, ast.Name | ast.Constant):
                return node
        own = _Rename(self.fresh).visit(copy.deepcopy(expr))  # this copy's own temporaries
        inlined: ast.expr = _Substitute(dict(zip(params, args, strict=True)), self.fresh).visit(own)
        for n in ast.walk(inlined):  # tracebacks point at the call
            if isinstance(n, ast.expr):
                ast.copy_location(n, node)
        return inlined


#: the operators of rule 3: on ints none of them can raise, whatever the operands
_TOTAL_OPS = (ast.Add, ast.Sub, ast.BitAnd, ast.BitOr, ast.BitXor)


class _ReplaceRepeat(ast.NodeTransformer):
    """Every occurrence of the expression dumped as ``target`` replaced by the name ``name``; ``value``: one of them."""

    def __init__(self, target: str, name: str) -> None:
        self.target, self.name = target, name
        self.value: ast.expr | None = None

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        if ast.dump(node) == self.target:
            self.value = node
            return ast.Name(self.name, ast.Load())
        self.generic_visit(node)
        return node


def _hoist_repeats(fn: ast.FunctionDef) -> ast.FunctionDef:
    """Rule 3 on a twin's definition: each repeated arithmetic expression computed once, at the top."""
    stored = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    stored |= {a.arg for a in (*fn.args.posonlyargs, *fn.args.kwonlyargs)} | {"_"}  # only plain parameters read
    hoisted: list[str] = []

    def operand(node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id not in stored or node.id in hoisted
        return (isinstance(node, ast.Constant) and type(node.value) is int) or arithmetic(node)

    def arithmetic(node: ast.AST) -> bool:
        return (isinstance(node, ast.BinOp) and isinstance(node.op, _TOTAL_OPS) and operand(node.left)
                and operand(node.right))

    start = 1 if fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) else 0
    while True:
        seen: dict[str, int] = {}
        for node in ast.walk(ast.Module(body=fn.body[start:], type_ignores=[])):
            if arithmetic(node):
                key = ast.dump(node)
                seen[key] = seen.get(key, 0) + 1
        repeated = [key for key, n in seen.items() if n > 1]
        if not repeated:
            return fn
        target = max(repeated, key=len)  # the largest: its parts are then hoisted on their own if repeated
        name = f"_repeat{len(hoisted) + 1}"
        replace = _ReplaceRepeat(target, name)
        fn.body[start:] = [replace.visit(stmt) for stmt in fn.body[start:]]
        assert replace.value is not None
        fn.body.insert(start, ast.Assign([ast.Name(name, ast.Store())], replace.value))  # before those it feeds
        hoisted.append(name)
        stored.add(name)


def concrete_twins(namespace: dict[str, Any], names: tuple[str, ...]) -> SimpleNamespace:
    """The int-only twins of the functions ``names`` of the module whose globals are ``namespace``.

    Each twin is compiled from its original's source by the rewrites above, in a copy of the module's
    globals where the other twins replace their originals; it keeps the original's name, docstring and
    line numbers, and ``__wrapped__`` is the original. Only for ints: on a z3 term a twin would compare
    signed. A function whose source cannot be read is its own twin: right, only slower."""
    env = dict(namespace)
    helpers = frozenset(name for name in INLINED if namespace.get(name) is globals()[name])
    counter = itertools.count(1)

    def fresh() -> str:
        return f"_umin{next(counter)}"

    trees: dict[str, tuple[ast.Module, int]] = {}
    for name in names:
        try:
            lines, first = inspect.getsourcelines(namespace[name])
        except OSError:  # no source (an installation without .py files): the original is its own twin
            continue
        tree = ast.parse(textwrap.dedent("".join(lines)))
        fn = tree.body[0]
        if len(tree.body) != 1 or not isinstance(fn, ast.FunctionDef) or fn.decorator_list or fn.name != name:
            raise TypeError(f"concrete_twins needs a plain function: {name}")
        trees[name] = tree, first
    done: dict[str, ast.FunctionDef] = {}
    busy: set[str] = set()

    def rewritten(name: str) -> ast.FunctionDef:
        if name not in done:
            busy.add(name)
            fn = trees[name][0].body[0]
            assert isinstance(fn, ast.FunctionDef)
            done[name] = _Concretise(helpers, fn, inline, fresh).visit(fn)
            busy.discard(name)
        return done[name]

    def inline(name: str) -> tuple[list[str], ast.expr] | None:
        if name not in trees or name in busy:
            return None
        fn = rewritten(name)
        expr = _as_expression(fn, fresh)
        a = fn.args
        if expr is None or a.posonlyargs or a.kwonlyargs or a.vararg or a.kwarg or a.defaults:
            return None
        return [p.arg for p in a.args], expr

    twins: dict[str, Callable[..., Any]] = {name: namespace[name] for name in names if name not in trees}
    for name in trees:
        tree, first = trees[name]
        fn = copy.deepcopy(rewritten(name))  # rule 2 keeps reading the rewritten tree itself
        tree = ast.Module(body=[_hoist_repeats(fn)], type_ignores=[])
        for node in ast.walk(tree):  # hoisted assignments point at the definition
            if isinstance(node, ast.stmt | ast.expr) and not hasattr(node, "lineno"):
                ast.copy_location(node, fn)
        tree = ast.increment_lineno(ast.fix_missing_locations(tree), first - 1)
        original = namespace[name]
        # compile() inherits this module's ``from __future__ import annotations``, as the model's modules have it
        code = compile(tree, inspect.getsourcefile(original) or "<model>", "exec")
        exec(code, env)  # defines the twin in env, where it finds the other twins
        twin = env[name]
        twin.__wrapped__ = original
        twin.__qualname__ = f"concrete.{name}"
        twins[name] = twin
    return SimpleNamespace(**twins)
