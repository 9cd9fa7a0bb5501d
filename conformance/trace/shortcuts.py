"""The judge's shortcuts for a box whose packet is byte for byte the expected one, and what they learnt
across connections (:class:`FastShared`): per shape of segment, the checks a ``diff_step`` PASS makes."""

from __future__ import annotations

from ...reference.relay import RelayResult
from ...reference.segment import ACK, FIN, Segment
from ..diff import ip_valid, tcp_valid


class FastShared:
    """What the shortcuts have learnt across connections: per shape, the checks a ``diff_step`` PASS makes.

    Two shortcuts, both for a box whose packet is byte for byte the expected one: the fast path's
    precomputed rewrite of plain segments (:mod:`splicecheck.conformance.trace.fast`), and the model's own
    output for every other segment (``observation`` of the relay's result). Either counts the checks
    ``diff_step`` made on the first segment of the same shape. ``verify_every``: every so many
    shortcut PASSes, ``diff_step`` is run as well and must find nothing (a disagreement turns the
    shortcut off for that shape: ``disagreements`` counts them)."""

    def __init__(self, enabled: bool = True, verify_every: int = 4096) -> None:
        self.enabled = enabled
        self.verify_every = verify_every
        self.shapes: dict[int, tuple[int, frozenset[str]]] = {}  # fast path: shape → (checks, requirements)
        self.unsafe: set[int] = set()
        self.model_shapes: dict[tuple[object, ...], tuple[int, frozenset[str]]] = {}  # model path, likewise
        self.unsafe_model: set[tuple[object, ...]] = set()
        self.disagreements = 0
        self.tick = 0  # fast PASSes since the last re-check
        self.fast = 0  # judged by the fast path's bytes
        self.model = 0  # judged by the model's bytes
        self.full = 0  # judged by diff_step

    def verify_now(self) -> bool:
        if self.verify_every <= 0:
            return False
        self.tick += 1
        if self.tick >= self.verify_every:
            self.tick = 0
            return True
        return False


def model_shape(seg: Segment, raw: bytes, result: RelayResult, primary: str) -> tuple[object, ...]:
    """What decides which checks ``diff_step`` makes, and on which requirements, when the box's output
    equals the model's: the input's IP version, options and checksum validity, the model's notes and
    what it emitted (kinds, flags, options), and the primary requirement."""
    emitted = tuple((type(x).__name__, x.tcp.flags, tuple(type(o).__name__ for o in x.tcp.options))
                    if isinstance(x, Segment) else (type(x).__name__,) for x in result.emitted)
    return (seg.ip.version, tuple(type(o).__name__ for o in seg.tcp.options), result.direction, result.notes,
            emitted, primary, ip_valid(seg, raw), tcp_valid(seg, raw))


def primary_req(seg_flags: int, plen: int) -> str:
    if plen or seg_flags & FIN:
        return "PAYLOAD-KEEP"
    return "ACK-MAP" if seg_flags & ACK else "SEQ-MAP"
