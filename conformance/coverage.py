"""Wrap coverage: which regions of sequence (and timestamp) space a search's segments reached.

A region is a window of ``WINDOW`` numbers around a boundary where modular arithmetic goes wrong:
just above 0, just below 2^32 (the two sides of the wrap), around 2^31 (where Linux's ``before()``
holds both ways and RFC 1982 leaves the order undefined), around the splice's bases, and 2^31 ahead
of the furthest point the stream has reached (where the base's half circle ends, TRIM-2GIB). A
segment also *crosses* the wrap when its sequence space runs past 2^32 - 1.

The numbers classified, for each segment as injected (relative to the splice as the IUT made it,
``session.state``): its seq, its ack (when ACK is set), each SACK edge, the end of its urgent data
(``seq + urgent`` when URG is set) and TSval/TSecr. Region names are ``FIELD@PLACE``, e.g.
``seq@2^32-1``, ``sack@splice_iss``, ``seq@furthest+2^31``, plus ``end-crosses-2^32``.

:class:`Coverage` counts hits per region; :data:`REGIONS` lists every region in report order, so a
report can say which ones a campaign never reached.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from ..reference.arith import MASK32
from ..reference.relay import SpliceState, direction_of
from ..reference.segment import ACK, FIN, SYN, URG, Sack, Segment, Timestamps
from ..reference.seqspace import HALF

T = TypeVar("T")

#: how near a boundary counts as "at" it (64 KiB: one maximal unscaled window)
WINDOW = 1 << 16

_FIXED = (("0", 0), ("2^32-1", MASK32), ("2^31", HALF))
FIELDS = ("seq", "ack", "sack", "urg-end", "tsval", "tsecr")
#: the bases each field is measured against (the leg's, in the direction the segment travels)
_BASE_OF = {"seq": "splice_irs", "urg-end": "splice_irs", "ack": "splice_iss", "sack": "splice_iss"}
CROSSES = "end-crosses-2^32"
FURTHEST = "seq@furthest+2^31"

REGIONS: tuple[str, ...] = (
    *(f"{f}@{p}" for f in FIELDS for p in (*(name for name, _ in _FIXED), *((_BASE_OF[f],) if f in _BASE_OF else ()))),
    CROSSES, FURTHEST,
)


def _near(x: int, point: int) -> bool:
    """``x`` within ``WINDOW`` of ``point`` either way, modulo 2^32 (0 and 2^32 - 1 are told apart:
    "at 0" is 0 .. WINDOW - 1, "at 2^32 - 1" is the WINDOW numbers below 2^32)."""
    if point == 0:
        return x < WINDOW
    if point == MASK32:
        return x > MASK32 - WINDOW
    return ((x - point + WINDOW) & MASK32) < 2 * WINDOW


def regions(state: SpliceState, seg: Segment) -> Iterator[str]:
    """The regions ``seg`` reaches when it arrives at the splice in ``state`` (none for a segment on no leg)."""
    direction = direction_of(state, seg)
    if direction is None:
        return
    leg_in, _ = state.legs(direction)
    t = seg.tcp
    values: list[tuple[str, int]] = [("seq", t.seq)]
    if t.flags & ACK:
        values.append(("ack", t.ack))
    if t.flags & URG:
        values.append(("urg-end", (t.seq + t.urgent) & MASK32))
    for opt in t.options:
        if isinstance(opt, Sack):
            values += [("sack", edge) for block in opt.blocks for edge in block]
        elif isinstance(opt, Timestamps):
            values += [("tsval", opt.tsval), ("tsecr", opt.tsecr)]
    bases = {"splice_irs": leg_in.splice_irs, "splice_iss": leg_in.splice_iss}
    seen: set[str] = set()
    for name, x in values:
        for place, point in _FIXED:
            if _near(x, point):
                seen.add(f"{name}@{place}")
        base = _BASE_OF.get(name)
        if base is not None and _near(x, bases[base]):
            seen.add(f"{name}@{base}")
    seg_len = len(seg.payload) + bool(t.flags & SYN) + bool(t.flags & FIN)
    if t.seq + seg_len > MASK32 + 1:
        seen.add(CROSSES)
    furthest = (leg_in.splice_irs + state.advance(direction)) & MASK32
    if _near(t.seq, (furthest + HALF) & MASK32):
        seen.add(FURTHEST)
    yield from sorted(seen)


@dataclass(slots=True)
class Coverage:
    """Hits per region over a search or a campaign (a segment counts once per region it reaches)."""

    hits: Counter[str] = field(default_factory=Counter)
    segments: int = 0

    def observe(self, state: SpliceState, seg: Segment) -> None:
        self.segments += 1
        self.hits.update(regions(state, seg))

    def merge(self, other: Coverage | dict[str, int]) -> None:
        if isinstance(other, Coverage):
            self.hits.update(other.hits)
            self.segments += other.segments
        else:
            self.hits.update({k: v for k, v in other.items() if k in REGIONS})

    @property
    def reached(self) -> list[str]:
        return [r for r in REGIONS if self.hits[r]]

    @property
    def missed(self) -> list[str]:
        return [r for r in REGIONS if not self.hits[r]]

    def as_dict(self) -> dict[str, int]:
        """Every region with its count, in :data:`REGIONS` order (zeros included)."""
        return {r: self.hits[r] for r in REGIONS}

    def summary(self) -> str:
        return f"{len(self.reached)}/{len(REGIONS)} wrap regions"


def observing(coverage: Coverage, built: Iterable[T], state: SpliceState) -> list[T]:
    """``built`` (a case's injections or segments, as ``Case.build`` returns them) after counting each
    segment's regions in ``coverage`` against ``state`` (the splice before any of them is relayed)."""
    items = list(built)
    for item in items:
        seg = getattr(item, "segment", item)
        if isinstance(seg, Segment):
            coverage.observe(state, seg)
    return items


__all__ = ["CROSSES", "FURTHEST", "REGIONS", "WINDOW", "Coverage", "observing", "regions"]
