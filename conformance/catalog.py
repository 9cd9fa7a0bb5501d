"""Every case of the suite, in a stable order, found by ID or requirement.

Case modules each export ``CASES: list[Case]``; they are listed here explicitly (no import-time
discovery that could silently miss one). Case IDs are ``REQ-ID/slug`` for named cases and
``prop/slug`` / ``state/slug`` for property and stateful ones, and unique across the suite.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import cache

from ..spec.requirements import BY_ID
from .case import Case
from .results import CaseKind

#: Modules holding cases, in run order (named cases first: they are quick and say the most).
MODULES: tuple[str, ...] = (
    "cases_ip",
    "cases_tcp",
    "cases_seq",
    "cases_trim",
    "cases_urgent",
    "cases_timestamps",
    "cases_options",
    "cases_sack",
    "cases_window",
    "cases_mss",
    "cases_handshake",
    "cases_other",
    "cases_lifecycle_watch",
    "cases_lifecycle",
    "cases_lifecycle_end",
    "cases_vectors",
    "cases_layouts",
    "properties", "stateful",
)


class UnknownCase(KeyError):
    """A case ID or requirement selector that matches nothing (a usage error)."""


@cache
def all_cases() -> tuple[Case, ...]:
    cases: list[Case] = []
    for name in MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        cases.extend(module.CASES)
    seen: set[str] = set()
    for c in cases:
        if c.id in seen:
            raise ValueError(f"duplicate case ID {c.id}")
        seen.add(c.id)
    return tuple(cases)


def select(ids: Iterable[str] = (), reqs: Iterable[str] = (), kinds: Iterable[CaseKind | str] = ()) -> list[Case]:
    """Cases whose ID is in ``ids`` or starts with one of them followed by ``/``, or that target one of
    ``reqs``, restricted to ``kinds`` if given; everything when no selector is given."""
    ids, reqs, kinds = list(ids), list(reqs), {CaseKind(k) for k in kinds}
    pool = [c for c in all_cases() if not kinds or c.kind in kinds]
    if not ids and not reqs:
        return pool
    chosen = [c for c in pool
              if any(c.id == i or c.id.startswith(i + "/") for i in ids) or any(r in c.reqs for r in reqs)]
    if not chosen:
        raise UnknownCase(f"no case matches {ids + reqs}")
    return chosen


def coverage() -> dict[str, list[str]]:
    """Requirement ID → IDs of the cases targeting it (every catalogued requirement is a key)."""
    out: dict[str, list[str]] = {rid: [] for rid in BY_ID}
    for c in all_cases():
        for r in c.reqs:
            out.setdefault(r, []).append(c.id)
    return out
