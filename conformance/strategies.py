"""Hypothesis strategies that concentrate where splices break: the 2^32 wrap and the 2^31 distance.

Theory of operation
-------------------
Uniformly drawn 32-bit numbers almost never land where sequence-space bugs live: a relay that
compares with a plain ``<`` instead of Linux's ``before()`` only misbehaves when the splice's base
and a segment lie on opposite sides of 0, a window of a few kilobytes out of 2^32. So every 32-bit
value here comes from :class:`Numbers`, which by default (:data:`WRAP`) draws

- just above 0 and just below 2^32 - 1 (the wrap),
- near a given anchor (a segment's ``splice_irs``, say),
- at exactly 2^31 from the anchor (Linux ``before()`` holds both ways there, RFC 1982 is undefined),
- and, for a small share (1 in 16), anywhere.

:data:`UNIFORM` draws the same shapes uniformly (the baseline of ``benchmarks/strategy_power.py``).
Shrinking goes towards 0, i.e. towards the wrap.

A drawn :class:`~splicecheck.conformance.plans.Example` is a
:class:`~splicecheck.conformance.contract.Scenario` whose *splice bases* (not just ISNs) sit near the
wrap — the ISNs are derived backwards from the bases and the pre-splice byte counts — and a few
:class:`~splicecheck.conformance.plans.SegmentPlan`\\ s, segments relative to the splice state
(:mod:`~splicecheck.conformance.plans`).

Features an adapter lacks (``avoid``) are never drawn: no IPv6 without IPV6, no segment wholly below
the base without BELOW_BASE, no foreign segment without FOREIGN_SEGMENT, and so on.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, replace
from functools import cache, lru_cache

from hypothesis import strategies as st

from ..reference.arith import MASK32
from ..reference.relay import StripStyle
from ..reference.segment import (
    ACK,
    AE,
    CWR,
    ECE,
    FIN,
    NOP,
    PSH,
    RST,
    SYN,
    URG,
    MaxSegmentSize,
    SackPermitted,
    TcpOption,
    UnknownOption,
    WindowScale,
)
from ..reference.seqspace import HALF, MOD32
from .contract import Feature, PeerPlan, Scenario
from .plans import FOREIGN_ELEMENTS, Example, OptPlan, SackPlan, SegmentPlan, TsPlan

SPREAD = 1 << 12  # how far "near" reaches: a few segments' worth
MAX_OPTIONS = 40

# --------------------------------------------------------------------------------------------------
# 32-bit numbers
# --------------------------------------------------------------------------------------------------

_LOW, _HIGH, _NEAR, _OPPOSITE, _ANY = "low", "high", "near", "opposite", "any"
#: where a wrap-focused number comes from, weighted by repetition: 1 in 16 anywhere
_MIX = st.sampled_from((_LOW,) * 5 + (_HIGH,) * 5 + (_NEAR,) * 3 + (_OPPOSITE,) * 2 + (_ANY,))
_PLUS_MINUS_1 = st.sampled_from((0, -1, 1))
_ANY32 = st.integers(0, MASK32)
_SIGNED32 = st.integers(-HALF + 1, HALF)
_SPREAD_UP = st.one_of(st.integers(0, 64), st.integers(0, SPREAD))  # close to the anchor, often very close
_SPREAD_AROUND = st.integers(-SPREAD, SPREAD)
#: how far below 2^32 (or above 0) a wrap-focused number lies: often within a segment's length, so that a
#: segment at the base can run across the wrap
_WRAP_DIST = st.one_of(st.integers(0, 64), st.integers(0, 1500), st.integers(0, SPREAD))
_EIGHTHS = st.integers(0, 7)
_SIXTEENTHS = st.integers(0, 15)


@st.composite
def seq32(draw: st.DrawFn, near: int | None = None) -> int:
    """A sequence number (or timestamp) near 0, near 2^32 - 1, near ``near``, exactly 2^31 (±1) from
    ``near`` (from 0 if None), or — 1 in 16 — anywhere. Shrinks towards 0."""
    where = draw(_MIX)
    if where == _LOW:
        return draw(_WRAP_DIST)
    if where == _HIGH:
        return MASK32 - draw(_WRAP_DIST)
    if where == _ANY:
        return draw(_ANY32)
    anchor = near if near is not None else 0
    if where == _NEAR:
        return (anchor + draw(_SPREAD_AROUND)) & MASK32
    return (anchor + HALF + draw(_PLUS_MINUS_1)) & MASK32


_SEQ32 = seq32()
_RANDOMS = st.randoms(use_true_random=True)


def uniform32() -> st.SearchStrategy[int]:
    """A truly uniform 32-bit value (``st.integers`` favours boundaries and constants, which would
    flatter the baseline): a Random seeded by Hypothesis, so runs still reproduce from their seed."""
    return _RANDOMS.map(lambda r: r.getrandbits(32))


@cache
def uniform_offset(bits: int) -> st.SearchStrategy[int]:
    """Uniform in ``(-2^bits, 2^bits)``."""
    return _RANDOMS.map(lambda r: r.randrange(-(1 << bits) + 1, 1 << bits))


_UNIFORM32 = uniform32()
_DELTA = st.one_of(_SPREAD_AROUND, _SPREAD_AROUND.map(lambda d: HALF + d), _SIGNED32)


@dataclass(frozen=True, slots=True)
class Numbers:
    """Where 32-bit values and sequence offsets come from.

    ``focus``: concentrate on the wrap and the 2^31 distance (:func:`seq32`, :func:`offsets`); else
    uniform 32-bit values and offsets uniform in ``±2^offset_bits`` (the benchmark's baselines: 16 bits
    is "anywhere in a receive window", 32 bits "anywhere at all")."""

    focus: bool = True
    offset_bits: int = 16

    def value(self) -> st.SearchStrategy[int]:
        """An ISN, a splice base, a timestamp."""
        return _SEQ32 if self.focus else _UNIFORM32

    def offset(self, length: int, below: bool = True) -> st.SearchStrategy[int]:
        """A segment's offset from its leg's ``splice_irs`` (``length``: its sequence space)."""
        if self.focus:
            return offsets(length, below)
        if below:
            return uniform_offset(self.offset_bits)
        return uniform_offset(self.offset_bits).map(lambda o: max(o, -max(length - 1, 0)))

    def delta(self) -> st.SearchStrategy[int]:
        """A signed distance for ack/SACK/timestamp offsets: small, around 2^31, or anything."""
        return _DELTA if self.focus else uniform_offset(32)


WRAP = Numbers()
UNIFORM = Numbers(focus=False, offset_bits=16)
UNIFORM32 = Numbers(focus=False, offset_bits=32)

_AT, _AHEAD, _STRADDLE, _ENDS_AT, _BELOW, _HALFWAY, _FAR = "at", "ahead", "straddle", "ends-at", "below", "half", "far"
_OFFSET_MIX = st.sampled_from((_AT,) * 3 + (_STRADDLE,) * 4 + (_ENDS_AT,) * 2 + (_AHEAD,) * 2 + (_BELOW,) * 2
                              + (_HALFWAY,) * 2 + (_FAR,))


@cache
def offsets(length: int, below: bool = True) -> st.SearchStrategy[int]:
    """An offset of a segment of ``length`` sequence numbers from its leg's ``splice_irs``: at the
    base, just ahead, straddling it (``-length < off < 0``), ending exactly at it, wholly below, at
    2^31 (±1) from it, or anywhere. Without ``below``, only offsets from which something is relayed
    (a stateful filter in front of the splice would drop the rest)."""
    straddle = st.integers(1, length - 1).map(lambda k: -k) if length > 1 else st.just(0)
    halfway = st.sampled_from((HALF, HALF - 1, HALF + 1, HALF - length))

    @st.composite
    def draw_offset(draw: st.DrawFn) -> int:
        where = draw(_OFFSET_MIX)
        if not below and where in (_ENDS_AT, _BELOW, _HALFWAY, _FAR):
            where = _STRADDLE
        if where == _AT:
            return 0
        if where == _AHEAD:
            return 1 + draw(_SPREAD_UP)
        if where == _STRADDLE:
            return draw(straddle)
        if where == _ENDS_AT:
            return -length - draw(_PLUS_MINUS_1)
        if where == _BELOW:
            return -length - draw(_SPREAD_UP)
        if where == _HALFWAY:
            return draw(halfway)
        return draw(_SIGNED32)

    return draw_offset()


# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------


_MSS = st.one_of(st.none(), st.sampled_from((536, 1460, 8960, 65495)), st.integers(64, 0xFFFF))
_WSCALE = st.one_of(st.none(), st.integers(0, 14))
_BOOL = st.booleans()


@st.composite
def peer_plans(draw: st.DrawFn, isn: int, numbers: Numbers = WRAP, scaling: bool = True) -> PeerPlan:
    """One end host's SYN: random MSS, window scale, SACK-permitted and timestamps."""
    mss = draw(_MSS)
    wscale = draw(_WSCALE) if scaling else None
    tsval = draw(numbers.value()) if draw(_BOOL) else None
    # SACK-permitted 3 in 4: both legs must use SACK for blocks to be mapped at all (else they are stripped)
    return PeerPlan(isn=isn, mss=mss, wscale=wscale, sack_permitted=_share(draw, 6), tsval=tsval,
                    df=draw(_EIGHTHS) != 7)


@cache
def _peers(numbers: Numbers, scaling: bool) -> st.SearchStrategy[PeerPlan]:
    """:func:`peer_plans` without its ISN (set by the caller), one strategy object per argument set:
    Hypothesis validates and labels every new strategy object at its first draw, which cost a quarter of
    an example's drawing when a new one was made per draw. The same choices draw the same plan."""
    return peer_plans(0, numbers, scaling)


@cache
def byte_counts(limit: int) -> st.SearchStrategy[int]:
    """Pre-splice byte counts and OK-message lengths: 0, a few, or up to ``limit``."""
    return st.one_of(st.just(0), st.integers(1, 16), st.integers(0, limit))


@st.composite
def scenarios(draw: st.DrawFn, avoid: frozenset[Feature] = frozenset(), numbers: Numbers = WRAP,
              presplice: bool = True) -> Scenario:
    """A splice whose four bases (``splice_irs``/``splice_iss`` of both legs) are drawn by ``numbers``
    (by default near the wrap) and whose ISNs are derived from them, with random option negotiation,
    OK-message length and pre-splice byte counts. ``presplice=False``: no pre-splice bytes and no OK
    message (the lifecycle machine makes those itself)."""
    family = 6 if Feature.IPV6 not in avoid and draw(_EIGHTHS) == 7 else 4
    data = presplice and Feature.PRESPLICE_DATA not in avoid
    cp = draw(byte_counts(3000)) if data else 0
    sp = draw(byte_counts(3000)) if data else 0
    ok = draw(byte_counts(64)) if presplice and Feature.OK_MESSAGE not in avoid else 0
    scaling = Feature.WINDOW_SCALING not in avoid
    c_irs, s_irs = draw(numbers.value()), draw(numbers.value())
    client = replace(draw(_peers(numbers, scaling)), isn=(c_irs - 1 - cp) & MASK32)
    server = replace(draw(_peers(numbers, scaling)), isn=(s_irs - 1 - sp) & MASK32)
    proxy_isn_c = proxy_isn_d = None
    if Feature.CHOOSE_PROXY_ISN not in avoid:
        c_iss, d_iss = draw(numbers.value()), draw(numbers.value())
        proxy_isn_c = (c_iss - 1 - sp - ok) & MASK32  # C.splice_iss = isn + 1 + server bytes + OK message
        proxy_isn_d = (d_iss - 1 - cp) & MASK32  # D.splice_iss = isn + 1 + client bytes
    ts_c = ts_d = None
    if Feature.CHOOSE_PROXY_TS not in avoid:
        ts_c, ts_d = draw(numbers.value()), draw(numbers.value())
    style = StripStyle.REMOVE if Feature.STRIP_REMOVE not in avoid and draw(_BOOL) else StripStyle.NOP
    return Scenario(client=client, server=server, family=family, proxy_isn_c=proxy_isn_c, proxy_isn_d=proxy_isn_d,
                    proxy_tsval_c=ts_c, proxy_tsval_d=ts_d, ok_len=ok, client_presplice=cp, server_presplice=sp,
                    strip_style=style)


@cache
def scenario_strategy(avoid: frozenset[Feature] = frozenset(), numbers: Numbers = WRAP,
                      presplice: bool = True) -> st.SearchStrategy[Scenario]:
    """:func:`scenarios`, one strategy object per argument set (see :func:`_peers`)."""
    return scenarios(avoid, numbers, presplice)


@dataclass(frozen=True, slots=True)
class Focus:
    """What a property's segments concentrate on. Shares are in eighths of the segments drawn."""

    sides: tuple[str, ...] = ("client", "server")
    max_segments: int = 3
    below: bool = True  # offsets around and below the base (else at or above it: nothing trimmed)
    urgent: int = 1  # URG set, with pointers inside and outside the trimmed prefix
    ts: int = 2  # explicit Timestamps plans (the rest carry the leg's default TS when it has one)
    sack: int = 1  # SACK blocks around in.splice_iss
    odd_options: int = 1  # MSS, WS, SACK-permitted, unknown kinds, wrong-length known kinds
    malformed: int = 0  # malformed option areas (raw bytes)
    corrupt: int = 0  # wrong TCP or IP checksums
    ip_options: int = 0  # IPv4 options
    flags: int = 2  # extra flags: SYN/FIN/RST/URG/PSH/ECE/CWR/AE, or no ACK
    windows: int = 2  # windows drawn over 0..65535 (else 8192)
    csum_corner: int = 0  # payloads tuned so that the relayed checksum is 0x0000
    foreign: int = 1  # segments on no leg: one 5-tuple element changed (needs FOREIGN_SEGMENT)


def _share(draw: st.DrawFn, eighths: int) -> bool:
    """True in ``eighths``/8 of draws; shrinks to False."""
    return eighths > 0 and draw(_EIGHTHS) >= 8 - eighths


def _rare(draw: st.DrawFn) -> bool:
    """True in 1/16 of draws; shrinks to False."""
    return draw(_SIXTEENTHS) == 15


_TS_NEAR = st.integers(-4, 64)


@cache
def ts_plans(numbers: Numbers = WRAP) -> st.SearchStrategy[TsPlan]:
    """TSval/TSecr a little after the last ones seen, around 2^31 from them, or anywhere."""
    off = st.one_of(_TS_NEAR, numbers.delta())
    return st.builds(TsPlan, off, off)


#: a block [-k, +j) around in.splice_iss, a few bytes either side (SACK-CLIP's boundary)
_STRADDLING_BLOCK = st.tuples(st.integers(1, 64), st.integers(1, 64)).map(lambda t: (-t[0], t[1]))


@cache
def sack_blocks(numbers: Numbers = WRAP) -> st.SearchStrategy[tuple[int, int]]:
    """One SACK block as offsets from in.splice_iss: straddling it, wholly below, above, far away."""
    left = st.one_of(_SPREAD_AROUND, numbers.delta())
    length = st.one_of(st.integers(1, 3000), st.just(0), numbers.delta())
    anywhere = st.tuples(left, length).map(lambda t: (t[0], t[0] + t[1]))

    @st.composite
    def block(draw: st.DrawFn) -> tuple[int, int]:
        return draw(_STRADDLING_BLOCK) if _share(draw, 2) else draw(anywhere)  # 2 in 8 straddle for sure

    return block()


@cache
def _block_lists(numbers: Numbers, most: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    return st.lists(sack_blocks(numbers), min_size=1, max_size=most)


_SACK_LENGTHS = st.one_of(st.integers(1, 64), st.integers(1, 3000))


def wrap_block(iss: int, below_wrap: int, length: int) -> tuple[int, int]:
    """A SACK block, as offsets from ``iss`` (the in leg's ``splice_iss``), whose right edge lies
    ``below_wrap`` numbers below 2^32 and which is ``length`` long: an edge that a mapping written
    without reduction modulo 2^32 carries past 2^32 - 1 whenever the offset between the legs is larger
    than ``below_wrap``. Offsets are signed distances from ``iss`` (in ``(-2^31, 2^31]``)."""
    right = (MOD32 - below_wrap - iss) & MASK32
    if right > HALF:
        right -= MOD32
    return right - length, right


@st.composite
def sack_plans(draw: st.DrawFn, numbers: Numbers = WRAP, room: int = MAX_OPTIONS, iss: int | None = None) -> SackPlan:
    """1–4 blocks, as many as fit in ``room`` bytes. ``iss``: the in leg's ``splice_iss`` as the
    scenario asks for it; with focused numbers 3 in 8 blocks then end just below 2^32 (:func:`wrap_block`)."""
    most = max(1, min(4, (room - 2) // 8))
    blocks = draw(_block_lists(numbers, most))
    if iss is not None and numbers.focus:
        blocks = [wrap_block(iss, draw(_SPREAD_UP), draw(_SACK_LENGTHS)) if _share(draw, 3) else b for b in blocks]
    return SackPlan(tuple(blocks))


@lru_cache(maxsize=4096)
def _sacks(numbers: Numbers, room: int, iss: int | None) -> st.SearchStrategy[SackPlan]:
    """:func:`sack_plans`, one strategy object per argument set (see :func:`_peers`); ``iss`` changes with
    the scenario, so the cache is bounded."""
    return sack_plans(numbers, room, iss)


#: Options the splice passes, strips, or must not mistake for ones it maps.
ODD_OPTIONS: st.SearchStrategy[TcpOption] = st.one_of(
    st.integers(0, 0xFFFF).map(MaxSegmentSize),
    st.integers(0, 255).map(WindowScale),
    st.just(SackPermitted()),
    st.just(NOP),
    st.builds(UnknownOption, st.sampled_from((30, 34, 99, 253, 254)), st.binary(max_size=6)),
    # known kinds at lengths their RFCs do not allow: decoded as unknown, must not be mapped
    st.builds(UnknownOption, st.just(8), st.sampled_from((0, 6, 9)).map(bytes)),
    st.builds(UnknownOption, st.just(5), st.binary(min_size=1, max_size=7)),
)
_ODD_LISTS = st.lists(ODD_OPTIONS, min_size=1, max_size=3)


@st.composite
def malformed_tails(draw: st.DrawFn) -> bytes:
    """The end of an option area that makes it malformed: length 0 or 1, a length running past the
    header, or a kind with no length octet."""
    kind = draw(st.sampled_from((2, 3, 5, 8, 30, 254)))
    how = draw(st.sampled_from(("len0", "len1", "overrun", "nolen")))
    if how == "len0":
        return bytes((kind, 0))
    if how == "len1":
        return bytes((kind, 1))
    if how == "overrun":
        return bytes((kind, draw(st.integers(3, 255))))
    return bytes((kind,))


_MALFORMED = malformed_tails()


#: How the TS and SACK options of a segment are laid out, weighted by repetition. MIXED: any order, no
#: alignment, with odd options among them (the layouts a fast path does not expect). The rest are the
#: aligned layouts real stacks send, each option behind NOP,NOP (RFC 7323 appendix A): ALIGNED is TS
#: then SACK, as Linux's tcp_options_write() and FreeBSD's tcp_addoptions() write them (NOP,NOP,TS
#: alone on most data segments, NOP,NOP,SACK without timestamps); SACK_FIRST the other order; TWO_SACKS
#: two SACK options after TS. Shrinks to MIXED.
_MIXED, _ALIGNED, _SACK_FIRST, _TWO_SACKS = "mixed", "aligned", "sack-first", "two-sacks"
_LAYOUTS = st.sampled_from((_MIXED,) * 4 + (_ALIGNED,) * 2 + (_SACK_FIRST, _TWO_SACKS) * 2)
_NOP_NOP: tuple[OptPlan, ...] = (NOP, NOP)


@st.composite
def option_layouts(draw: st.DrawFn, focus: Focus, numbers: Numbers, room: int,
                   iss: int | None = None) -> tuple[tuple[OptPlan, ...], bool]:
    """Option plans whose encoding fits in ``room`` bytes together with the leg's default TS option when
    none is planned (it may be added, :attr:`SegmentPlan.default_ts`), laid out as one of ``_LAYOUTS``;
    and whether that default TS goes behind NOP,NOP (:attr:`SegmentPlan.aligned_ts`)."""
    ts: list[OptPlan] = []
    if _share(draw, focus.ts):
        ts.append(draw(ts_plans(numbers)))
        if _rare(draw):
            ts.append(draw(ts_plans(numbers)))  # two TS options: both must be mapped
    room -= TsPlan.size * max(len(ts), 1)
    layout = draw(_LAYOUTS)
    if layout != _MIXED:
        room -= 2 * max(len(ts), 1)  # NOP,NOP before each TS option, the default one too
        sacks: list[OptPlan] = []
        if _share(draw, focus.sack):
            for _ in range(2 if layout == _TWO_SACKS else 1):
                if room >= 4 + 8:  # NOP,NOP and a SACK option of one block at least
                    sack = draw(_sacks(numbers, room - 2, iss))
                    sacks.append(sack)
                    room -= 2 + sack.size
        laid_ts = [o for t in ts for o in (*_NOP_NOP, t)]
        laid_sack = [o for sk in sacks for o in (*_NOP_NOP, sk)]
        opts = laid_sack + laid_ts if layout == _SACK_FIRST else laid_ts + laid_sack
        return tuple(opts), not ts  # without a planned TS the leg's default one leads, behind NOP,NOP
    others: list[OptPlan] = []
    if _share(draw, focus.sack):
        others.append(draw(_sacks(numbers, room, iss)))
    if _share(draw, focus.odd_options):
        others += draw(_ODD_LISTS)
    picks = list(ts)
    for p in others:
        if p.size <= room:
            picks.append(p)
            room -= p.size
    if len(picks) > 1:
        picks = draw(st.permutations(picks))
    return tuple(picks), False


def option_lists(focus: Focus, numbers: Numbers, room: int) -> st.SearchStrategy[tuple[OptPlan, ...]]:
    """The option plans of :func:`option_layouts` (without the default TS's alignment)."""
    return option_layouts(focus, numbers, room).map(lambda t: t[0])


_FOREIGN = st.sampled_from(FOREIGN_ELEMENTS)
_EXTRA_FLAGS = st.sets(st.sampled_from((FIN, PSH, RST, SYN, URG, ECE, CWR, AE)), max_size=3)
_SIZES = st.one_of(st.just(0), st.integers(1, 8), st.integers(9, 64), st.integers(65, 1500))
_ACK_NEAR = st.integers(-64, 64)
_WINDOWS = st.one_of(st.sampled_from((0, 1, 0xFFFF)), st.integers(0, 0xFFFF))
_U16 = st.integers(0, 0xFFFF)
_BYTE = st.integers(0, 255)
_IP_OPTIONS = st.sampled_from((b"\x01\x01\x01\x00", b"\x01" * 4, b"\x94\x04\x00\x00", b"\x07\x07\x04" + bytes(5)))
_TTLS = st.sampled_from((0, 1, 2, 255))
_TOS = st.sampled_from((0x02, 0xB8, 0x03))
_CORRUPT = st.sampled_from(("tcp", "ip"))


@cache
def _sides(sides: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(sides)


@cache
def _ack_offsets(numbers: Numbers) -> st.SearchStrategy[int]:
    """An ack number's offset from the one a correct peer would send: exact, a little off, or far. One
    strategy object per ``numbers``: Hypothesis validates a new strategy object at its first draw, which
    cost 5 % of a property case when this was built per segment."""
    return st.one_of(st.just(0), _ACK_NEAR, numbers.delta())


def wrap_straddle(base: int, seg_len: int) -> tuple[int, int]:
    """How many of a wrap-crossing segment's ``seg_len`` numbers may lie below 2^32 (``lo..hi``, for
    :func:`crossing_offset`): those that make it straddle ``base`` too when the base is within the
    segment's length of the wrap — both boundaries in one segment — else any split."""
    to_wrap = (-base) & MASK32  # numbers from the base up to 2^32 (0: the base is 0)
    if 0 < to_wrap < seg_len - 1:
        return to_wrap + 1, seg_len - 1  # starts below a base just below 2^32, ends past 0
    if base < seg_len - 1:
        return 1, seg_len - 1 - base  # starts below 2^32, ends past a base just above 0
    return 1, seg_len - 1


def crossing_offset(base: int, seg_len: int, before_wrap: int, below: bool, otherwise: int) -> int:
    """The offset from ``base`` of a segment of ``seg_len`` numbers whose first ``before_wrap`` lie below
    2^32 and the rest from 0 on: its sequence space crosses the wrap. As a signed distance from the
    base; ``otherwise`` when ``below`` is False and that segment would start below the base (an
    adapter or a property that only takes segments from which something is relayed)."""
    off = (-before_wrap - base) & MASK32
    if off >= HALF:
        off -= MOD32
    return off if below or -seg_len < off < HALF else otherwise


@lru_cache(maxsize=4096)
def _urgent_pointers(marks: tuple[int, ...]) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(list(marks)), _U16)


@lru_cache(maxsize=4096)
def _layouts(focus: Focus, numbers: Numbers, room: int,
             iss: int | None) -> st.SearchStrategy[tuple[tuple[OptPlan, ...], bool]]:
    """:func:`option_layouts`, one strategy object per argument set (see :func:`_peers`); ``iss``
    changes with the scenario, so the cache is bounded."""
    return option_layouts(focus, numbers, room, iss)


class _Aimed:
    """The type of :data:`AIMED`."""

    def __repr__(self) -> str:
        return "AIMED"


#: ``bases`` of :func:`segment_plans` meaning "those :func:`examples` is aiming at now" (:data:`_AIM`): so the
#: segment strategy of an example is one object per (focus, avoid, numbers), not a new one per example
#: (see :func:`_peers`), while its segments still aim at the example's own scenario.
AIMED = _Aimed()
_AIM: ContextVar[dict[str, int] | None] = ContextVar("splicecheck_aim", default=None)


@st.composite
def segment_plans(draw: st.DrawFn, focus: Focus = Focus(), avoid: frozenset[Feature] = frozenset(),
                  numbers: Numbers = WRAP, side: str | None = None,
                  bases: dict[str, int] | _Aimed | None = None) -> SegmentPlan:
    """One segment relative to the splice: offsets around the base (straddling it, below it, 2^31
    away), payloads of 0 to 1500 bytes, flag mixes, urgent pointers inside and outside the trimmed
    prefix, TS and SACK options around the bases in the aligned layouts real stacks send as well as
    unaligned ones, odd and malformed option areas, bad checksums, and segments on no leg of the splice
    (one 5-tuple element changed: not relayed, DIR-ONLY). ``bases``: each side's ``splice_irs`` as the
    scenario asks for it (:func:`requested_bases`; :data:`AIMED`: those :func:`examples` is drawing for);
    with focused numbers 3 in 8 segments then cross 2^32 (:func:`crossing_offset`) — where a segment's
    end computed without reduction goes wrong."""
    aim = _AIM.get() if isinstance(bases, _Aimed) else bases
    side = side or draw(_sides(focus.sides))
    size = draw(_SIZES)
    flags = ACK
    if _share(draw, focus.flags):
        for f in draw(_EXTRA_FLAGS):
            flags |= f
        if _rare(draw):
            flags &= ~ACK
    if _share(draw, focus.urgent):
        flags |= URG
    seg_len = size + bool(flags & SYN) + bool(flags & FIN)
    below = focus.below and Feature.BELOW_BASE not in avoid
    off = draw(numbers.offset(seg_len, below)) if focus.below else draw(_SPREAD_UP)
    if aim is not None and numbers.focus and seg_len > 1 and _share(draw, 3):
        lo, hi = wrap_straddle(aim[side], seg_len)
        off = crossing_offset(aim[side], seg_len, draw(st.integers(lo, hi)), below, off)
    trimmed = -off if -seg_len < off < 0 else 0
    urgent = 0
    if flags & URG:  # pointers at and around the trimmed prefix's end and the data's end
        marks = sorted({min(max(v, 0), 0xFFFF) for v in (1, trimmed - 1, trimmed, trimmed + 1, size, size + 1)})
        urgent = draw(_urgent_pointers(tuple(marks)))
    elif _rare(draw):
        urgent = draw(_U16)  # a stray pointer without URG: relayed as is
    ack_off = draw(_ack_offsets(numbers))
    window = draw(_WINDOWS) if _share(draw, focus.windows) else 8192
    malformed = draw(_MALFORMED) if Feature.MALFORMED not in avoid and _share(draw, focus.malformed) else None
    iss = None if aim is None else aim.get(f"{side}-iss")
    options, aligned_ts = draw(_layouts(focus, numbers, MAX_OPTIONS - (8 if malformed is not None else 0), iss))
    corrupt = None
    if malformed is None and Feature.BAD_CHECKSUM not in avoid and _share(draw, focus.corrupt):
        corrupt = draw(_CORRUPT)
    ip_options = draw(_IP_OPTIONS) if Feature.IP_OPTIONS not in avoid and _share(draw, focus.ip_options) else b""
    ttl = draw(_TTLS) if Feature.TTL not in avoid and _rare(draw) else 64
    tos = draw(_TOS) if _rare(draw) else 0
    foreign = None
    if malformed is None and Feature.FOREIGN_SEGMENT not in avoid and _share(draw, focus.foreign):
        foreign = draw(_FOREIGN)
    return SegmentPlan(side=side, off=off, size=size, fill=draw(_BYTE), flags=flags, ack_off=ack_off, urgent=urgent,
                       window=window, options=options, malformed=malformed, corrupt=corrupt, ttl=ttl,
                       df=not _rare(draw), tos=tos, ip_options=ip_options, default_ts=not _rare(draw),
                       csum_corner=corrupt is None and _share(draw, focus.csum_corner), aligned_ts=aligned_ts,
                       foreign=foreign)


def requested_bases(scenario: Scenario) -> dict[str, int]:
    """Each side's ``splice_irs`` as ``scenario`` asks for it (the end hosts' ISNs plus their pre-splice
    bytes), and — keys ``client-iss``/``server-iss`` — each leg's ``splice_iss`` when the scenario
    chooses the proxy's ISNs. An IUT's own numbers may differ; the strategies only use these to aim, never to build."""
    bases = {"client": (scenario.client.isn + 1 + scenario.client_presplice) & MASK32,
             "server": (scenario.server.isn + 1 + scenario.server_presplice) & MASK32}
    if scenario.proxy_isn_c is not None and scenario.proxy_isn_d is not None:  # the splice_iss of each leg
        bases["client-iss"] = (scenario.proxy_isn_c + 1 + scenario.server_presplice + scenario.ok_len) & MASK32
        bases["server-iss"] = (scenario.proxy_isn_d + 1 + scenario.client_presplice) & MASK32
    return bases


@st.composite
def examples(draw: st.DrawFn, focus: Focus = Focus(), avoid: frozenset[Feature] = frozenset(),
             numbers: Numbers = WRAP) -> Example:
    """A scenario near the wrap and 1..``focus.max_segments`` segments relative to its splice."""
    scenario = draw(scenario_strategy(avoid, numbers))
    token = _AIM.set(requested_bases(scenario))
    try:
        plans = draw(_aimed_segments(focus, avoid, numbers))
    finally:
        _AIM.reset(token)
    return Example(scenario, tuple(plans))


@cache
def _aimed_segments(focus: Focus, avoid: frozenset[Feature], numbers: Numbers) -> st.SearchStrategy[list[SegmentPlan]]:
    """An example's segments, aimed at the bases :func:`examples` sets in :data:`_AIM` while it draws them."""
    return st.lists(segment_plans(focus, avoid, numbers, bases=AIMED), min_size=1, max_size=focus.max_segments)
