"""An inline SVG of where a segment lies relative to ``splice_irs`` in sequence space (mod 2^32).

Sequence numbers live on a circle, so the picture is drawn in *offsets from the base*: the signed
distance ``d = (seq - splice_irs) mod 2^32`` taken in ``[-2^31, 2^31)``. A distance of exactly 2^31
is drawn below the base, as Linux's ``before()`` (and requirement TRIM-HALF) counts it. Bytes below
the base are those a splice must trim (red), bytes at or above it are relayed (green).

The axis shows ``±max(len, 64)`` bytes around the base, stretched to reach the segment when it is
near. A segment far away (2^31 bytes, say) gets a panel of its own beyond a break in the axis (``//``).
Axis ends are labelled with absolute sequence numbers, and where the window crosses 2^32 the wrap
point (``2^32 ≡ 0``) is marked, so a reader sees both the modular arithmetic and the real numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ..conformance.results import Geometry
from ..reference.seqspace import HALF, MOD32

WIDTH = 680
HEIGHT = 136
AXIS_Y = 62
BAR_H = 16
MARGIN = 16
GAP = 36  # width of the axis break between the base panel and a far segment's panel

BELOW = "#d9534f"
ABOVE = "#3c9d5d"
BASE = "#1f4e9c"
INK = "#333333"
MUTED = "#777777"


def signed_offset(seq: int, base: int) -> int:
    """``(seq - base) mod 2^32`` as a signed distance in [-2^31, 2^31) (2^31 itself counts as below)."""
    d = (seq - base) % MOD32
    return d - MOD32 if d >= HALF else d


def _hex(n: int) -> str:
    return f"{n} ({n:#x})"


@dataclass(frozen=True, slots=True)
class _Panel:
    """A linear stretch of the axis: offsets ``lo..hi`` drawn over pixels ``x0..x1``."""

    x0: float
    x1: float
    lo: int
    hi: int

    def x(self, offset: float) -> float:
        offset = min(max(offset, self.lo), self.hi)
        return self.x0 + (offset - self.lo) * (self.x1 - self.x0) / (self.hi - self.lo)


def _text(x: float, y: float, text: str, *, anchor: str = "middle", size: int = 11, fill: str = INK) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}">'
            f"{escape(text)}</text>")


def _panel(p: _Panel, g: Geometry, lo_seg: int, hi_seg: int) -> list[str]:
    out = [f'<line x1="{p.x0:.1f}" y1="{AXIS_Y}" x2="{p.x1:.1f}" y2="{AXIS_Y}" stroke="{INK}" stroke-width="1"/>']
    for off, anchor in ((p.lo, "start"), (p.hi, "end")):
        x = p.x(off)
        out.append(f'<line x1="{x:.1f}" y1="{AXIS_Y - 4}" x2="{x:.1f}" y2="{AXIS_Y + 4}" stroke="{INK}"/>')
        out.append(_text(x, AXIS_Y + 18, str((g.splice_irs + off) % MOD32), anchor=anchor, size=10, fill=MUTED))
    # the wrap point: the offset at which absolute sequence numbers pass 2^32 - 1 -> 0
    wrap = signed_offset(0, g.splice_irs)
    if p.lo < wrap <= p.hi and wrap != 0:
        x = p.x(wrap)
        out.append(f'<line x1="{x:.1f}" y1="{AXIS_Y - 30}" x2="{x:.1f}" y2="{AXIS_Y + 8}" stroke="{MUTED}" '
                   f'stroke-dasharray="3,2"/>')
        out.append(_text(x, AXIS_Y + 30, "2^32 ≡ 0", size=10, fill=MUTED))
    # the segment, split at the base into its trimmed (below) and relayed (at or above) parts
    a, b = max(lo_seg, p.lo), min(hi_seg, p.hi)
    if hi_seg == lo_seg and p.lo <= lo_seg <= p.hi:  # occupies no sequence space: a triangle on the axis
        x = p.x(lo_seg)
        out.append(f'<path d="M{x - 5:.1f},{AXIS_Y - 12} h10 l-5,10 z" fill="{INK}"/>')
    elif a < b:
        for s, e, colour in ((a, min(b, 0), BELOW), (max(a, 0), b, ABOVE)):
            if s < e:
                xs, xe = p.x(s), p.x(e)
                out.append(f'<rect x="{xs:.1f}" y="{AXIS_Y - BAR_H}" width="{max(xe - xs, 1.5):.1f}" '
                           f'height="{BAR_H}" fill="{colour}" fill-opacity="0.85"/>')
    if p.lo <= 0 <= p.hi:
        x = p.x(0)
        out.append(f'<line x1="{x:.1f}" y1="{AXIS_Y - 30}" x2="{x:.1f}" y2="{AXIS_Y + 6}" stroke="{BASE}" '
                   f'stroke-width="2"/>')
        out.append(_text(x, AXIS_Y - 34, f"splice_irs = {_hex(g.splice_irs)}", fill=BASE))
    return out


def _break(x: float) -> list[str]:
    return [f'<path d="M{x - 6:.1f},{AXIS_Y + 6} l6,-12 M{x:.1f},{AXIS_Y + 6} l6,-12" stroke="{INK}" fill="none"/>']


def geometry_svg(g: Geometry) -> str:
    """The picture for one geometry record, as an ``<svg>`` element (no external references)."""
    off = signed_offset(g.seq, g.splice_irs)
    length = max(g.length, 0)
    lo_seg, hi_seg = off, off + length
    half = max(length, 64)
    pad = max(4, length // 8)
    lo, hi = min(-half, lo_seg - pad), max(half, hi_seg + pad)
    left, right = MARGIN, WIDTH - MARGIN
    parts: list[str] = []
    if hi - lo <= 16 * half:  # near: one linear axis
        parts += _panel(_Panel(left, right, lo, hi), g, lo_seg, hi_seg)
    else:  # far: a base panel and a segment panel, with a break between them
        base_w = (right - left - GAP) * 0.55
        seg_pad = max(8, length // 4)
        seg_range = (lo_seg - seg_pad, hi_seg + seg_pad)
        if off < 0:
            seg_p = _Panel(left, right - base_w - GAP, *seg_range)
            base_p = _Panel(right - base_w, right, -half, half)
            parts += _break(seg_p.x1 + GAP / 2)
        else:
            base_p = _Panel(left, left + base_w, -half, half)
            seg_p = _Panel(left + base_w + GAP, right, *seg_range)
            parts += _break(base_p.x1 + GAP / 2)
        parts += _panel(base_p, g, lo_seg, hi_seg)
        parts += _panel(seg_p, g, lo_seg, hi_seg)
    rel = f"{off:+d}" if abs(off) != HALF else "-2^31 (counts as below)"
    below = min(max(-lo_seg, 0), length)
    caption1 = f"{g.direction}: seq {_hex(g.seq)}, length {length}, offset from splice_irs {rel}"
    caption2 = (f"{below} below the base (to trim), {length - below} at or above (to relay); "
                f"maps onto splice_iss = {_hex(g.splice_iss)}")
    legend = [f'<rect x="{WIDTH - 190}" y="8" width="10" height="10" fill="{BELOW}"/>',
              _text(WIDTH - 176, 17, "below base", anchor="start", size=10),
              f'<rect x="{WIDTH - 104}" y="8" width="10" height="10" fill="{ABOVE}"/>',
              _text(WIDTH - 90, 17, "at/above base", anchor="start", size=10)]
    title = f"segment position relative to splice_irs ({g.direction})"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="geometry" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>"
            f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fbfbfb" stroke="#dddddd"/>'
            + "".join(parts + legend)
            + _text(MARGIN, HEIGHT - 22, caption1, anchor="start", size=10)
            + _text(MARGIN, HEIGHT - 8, caption2, anchor="start", size=10)
            + "</svg>")
