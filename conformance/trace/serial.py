"""A result's JSON line without :func:`dataclasses.asdict`.

``CaseResult.to_json`` goes through ``asdict``, which walks every value recursively and deep-copies
each leaf: for a capture of many short connections that is most of the cost of a result line (each
connection is one). :func:`case_json` builds the same dictionary directly from the fields — the field
names are read from the dataclasses, so the line is the one ``to_json`` writes, key for key and byte
for byte (``tests/test_trace_fastpath.py`` compares the two on every result of a varied capture).
Nothing is copied: the dictionary only lives until ``json.dumps`` has encoded it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from ..results import CaseResult, FieldDiff, Geometry, StepRecord

_CASE = tuple(f.name for f in dataclasses.fields(CaseResult))
_NESTED = {"diffs": tuple(f.name for f in dataclasses.fields(FieldDiff)),
           "steps": tuple(f.name for f in dataclasses.fields(StepRecord)),
           "geometry": tuple(f.name for f in dataclasses.fields(Geometry))}
_encode = json.JSONEncoder(separators=(",", ":")).encode  # what json.dumps(d, separators=…) uses


_LEAVES = (str, int, float, bool, type(None))


def _plain(v: Any) -> Any:
    """``v`` as asdict leaves a leaf or container that is not a dataclass (JSON encodes it alike)."""
    if type(v) in _LEAVES:
        return v
    if type(v) is list and all(type(x) in _LEAVES for x in v):  # reqs, collateral_failures: as they are
        return v
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _rows(items: list[Any], names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{n: _plain(getattr(x, n)) for n in names} for x in items]


#: the fields :func:`case_json` writes by name, in CaseResult's order; another field list (a newer
#: CaseResult) makes it fall back to the generic loop below, which follows the dataclass whatever it holds
_KNOWN = ("case", "reqs", "verdict", "description", "expectation", "diffs", "checked", "steps", "geometry",
          "reason", "duration", "repro", "seed", "kind", "examples", "first_failure", "collateral_failures",
          "alternative", "coverage")
_DIFF = ("step", "packet", "field", "expected", "actual", "req", "consequence_of")


#: the JSON encoder's own string encoder (ensure_ascii, as ``_encode``'s)
_str = json.encoder.encode_basestring_ascii
_SCALAR = (
    '{{"case":{},"reqs":[{}],"verdict":{},"description":{},"expectation":{},"diffs":[],"checked":{},"steps":[],'
    '"geometry":[],"reason":{},"duration":{},"repro":{},"seed":{},"kind":{},"examples":{},"first_failure":{},'
    '"collateral_failures":[],"type":"case"}}').format


def _scalar_json(r: CaseResult) -> str | None:
    """The line of a result with no differences, steps, geometry, collateral failures, alternative or
    coverage — every passing connection's and every note's — put together from its scalar fields, each
    encoded as the JSON encoder encodes it (strings, ``str`` subclasses included, by its own function, which
    refuses anything else; ints and finite floats by ``repr``; None as null); None when some field is of
    another kind (then the dictionary is encoded)."""
    if (r.diffs or r.steps or r.geometry or r.alternative or r.coverage is not None
            or type(r.collateral_failures) is not list or r.collateral_failures or type(r.reqs) is not list
            or type(r.checked) is not int or type(r.examples) is not int  # (a bool is an int: not here)
            or type(r.duration) is not float or not math.isfinite(r.duration)
            or not (r.seed is None or type(r.seed) is int)
            or not (r.first_failure is None or type(r.first_failure) is int)):
        return None
    try:
        return _SCALAR(_str(r.case), ",".join(map(_str, r.reqs)), _str(r.verdict.value), _str(r.description),
                       _str(r.expectation), repr(r.checked), _str(r.reason), repr(r.duration), _str(r.repro),
                       "null" if r.seed is None else repr(r.seed), _str(r.kind), repr(r.examples),
                       "null" if r.first_failure is None else repr(r.first_failure))
    except TypeError:  # not a string where one is due
        return None


def case_json(r: CaseResult) -> str:
    """``r.to_json()``, the same text, built without ``asdict``."""
    if _CASE != _KNOWN or _NESTED["diffs"] != _DIFF:
        return _generic(r)
    line = _scalar_json(r)
    if line is not None:
        return line
    reqs, collateral = r.reqs, r.collateral_failures
    d: dict[str, Any] = {
        "case": r.case, "reqs": reqs if type(reqs) is list and all(type(x) is str for x in reqs) else _plain(reqs),
        "verdict": r.verdict.value, "description": r.description, "expectation": r.expectation,
        "diffs": [{"step": x.step, "packet": x.packet, "field": x.field, "expected": _plain(x.expected),
                   "actual": _plain(x.actual), "req": x.req, "consequence_of": x.consequence_of}
                  for x in r.diffs] if r.diffs else [],
        "checked": r.checked,
        "steps": _rows(r.steps, _NESTED["steps"]) if r.steps else [],
        "geometry": _rows(r.geometry, _NESTED["geometry"]) if r.geometry else [],
        "reason": r.reason, "duration": r.duration, "repro": r.repro, "seed": r.seed, "kind": r.kind,
        "examples": r.examples, "first_failure": r.first_failure,
        "collateral_failures": collateral if type(collateral) is list and not collateral else _plain(collateral),
    }
    if r.alternative:
        d["alternative"] = r.alternative
    if r.coverage is not None:
        d["coverage"] = dict(r.coverage)
    d["type"] = "case"
    return _encode(d)


def _generic(r: CaseResult) -> str:
    d: dict[str, Any] = {}
    for name in _CASE:
        v = getattr(r, name)
        nested = _NESTED.get(name)
        if nested is not None:
            d[name] = _rows(v, nested) if v else []
        elif name == "verdict":
            d[name] = v.value
        elif type(v) in _LEAVES:
            d[name] = v
        else:
            d[name] = _plain(v)
    if not d.get("alternative", True):
        del d["alternative"]
    if "coverage" in d and d["coverage"] is None:
        del d["coverage"]
    d["type"] = "case"
    return _encode(d)
