"""Frozen value types for one TCP/IP segment (after h11's ``_events.py``).

A :class:`Segment` is an IP header (:class:`IPv4Header` or :class:`IPv6Header`), a
:class:`TcpHeader` and the payload. Derived fields — IHL, total/payload length, data offset — are not
stored: the codec computes them, so a value cannot disagree with itself. Checksums are stored as
seen on the wire (``None`` means "compute on encode"), which is what lets the relay update them
incrementally and keep a corrupt input corrupt (RFC 1624 §1, the fail-safe property the paper's
§3.3 refers to).

TCP options are typed values. A known kind with the length its RFC fixes becomes its typed value;
anything else (unknown kinds, known kinds at an unexpected length) is an :class:`UnknownOption`
holding its bytes, so that decode/encode round-trips byte-exact. An option area that cannot be walked
(an option length under 2, or one running past the header) is no segment at all to the codec's
``decode``; only ``decode(..., keep_rest=True)`` gives one, the walkable options followed by an
:class:`OpaqueRest` that holds the rest as bytes (what a splice that relays such a segment without
walking past the fault passes on).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .arith import MASK32

# TCP flag bits (RFC 9293 §3.1; ECE and CWR from RFC 3168 §6.1; AE, the former NS bit, RFC 3540).
FIN = 0x001
SYN = 0x002
RST = 0x004
PSH = 0x008
ACK = 0x010
URG = 0x020
ECE = 0x040
CWR = 0x080
AE = 0x100
FLAG_NAMES = ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (ACK, "A"), (URG, "U"),
              (ECE, "E"), (CWR, "C"), (AE, "N"))

# IPv4 flag bits in the 3-bit flags field (RFC 791 §3.1).
IP_RESERVED = 0b100
IP_DF = 0b010
IP_MF = 0b001

# TCP option kinds (IANA "TCP Parameters"; RFC 9293 §3.2, RFC 7323, RFC 2018).
OPT_EOL = 0
OPT_NOP = 1
OPT_MSS = 2
OPT_WSCALE = 3
OPT_SACK_PERMITTED = 4
OPT_SACK = 5
OPT_TIMESTAMP = 8

MAX_TCP_OPTIONS = 40
MAX_IPV4_OPTIONS = 40


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(what)


def _u(value: int, bits: int, name: str) -> None:
    if not (isinstance(value, int) and 0 <= value < (1 << bits)):  # the message only when it is raised
        raise ValueError(f"{name} must fit in {bits} bits: {value!r}")


_T = TypeVar("_T")


def unchecked(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for the frozen, slotted dataclass ``cls`` that skips ``__post_init__``.

    For use inside ``reference/`` only, where the codec and the relay build values from parts already
    known to be valid — fields unpacked from fixed-width struct formats, words masked to their width,
    option lists whose sizes the data offset bounds — and validating them again would double the cost
    of a segment. Everything else, the tests and every other package, uses the ordinary validating
    constructor. The constructor takes the fields in declaration order (``init=False`` fields
    included, defaults as declared).

    How it gets past ``frozen`` cheaply: a frozen class's ``__setattr__`` refuses every store, so the
    generated ``__init__`` stores through ``object.__setattr__``, ~50 ns a field in CPython 3.11.
    Instead the object is made as an instance of a *twin*: a plain class with the very same
    ``__slots__`` and nothing else, whose slot stores are ordinary attribute stores (~10 ns); then
    its ``__class__`` is set to ``cls``, which Python allows exactly when the two classes' instance
    layouts agree (same base, same slots; "Data model", ``__class__`` assignment) and checks on every
    assignment. The result is an ordinary ``cls`` instance: equal to, hashing like and printing like
    one built by ``cls(...)``, and as frozen (``tests/test_codec.py`` holds them to each other). The
    twin is made by calling it, ``_twin()``, not ``object.__new__(_twin)``: the slot wrapper behind
    ``object.__new__`` checks its arguments and costs ~120 ns, the call of a class without ``__init__``
    ~45 ns.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    slots = cls.__dict__.get("__slots__", ())
    if tuple(slots) != tuple(f.name for f in fields) or cls.__bases__ != (object,):
        raise TypeError(f"unchecked() needs a slotted dataclass with its fields as its only slots: {cls!r}")
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": slots})
    env: dict[str, Any] = {"_cls": cls, "_twin": twin}
    params, body = [], []
    for i, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            env[f"_default{i}"] = f.default
            params.append(f"{f.name}=_default{i}")
        else:
            params.append(f.name)
        body.append(f"    o.{f.name} = {f.name}")
    src = (f"def make({', '.join(params)}):\n    o = _twin()\n" + "\n".join(body)
           + "\n    o.__class__ = _cls\n    return o\n")
    exec(src, env)  # the technique dataclasses itself uses to generate __init__
    make: Callable[..., _T] = env["make"]
    make.__qualname__ = make.__name__ = f"unchecked_{cls.__name__}"
    return make


# --------------------------------------------------------------------------------------------------
# TCP options
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndOfOptionList:
    """Kind 0. ``padding`` is every byte after it up to the end of the header, kept byte-exact."""

    padding: bytes = b""

    @property
    def size(self) -> int:
        return 1 + len(self.padding)


@dataclass(frozen=True, slots=True)
class NoOperation:
    """Kind 1."""

    size: ClassVar[int] = 1


@dataclass(frozen=True, slots=True)
class MaxSegmentSize:
    """Kind 2, length 4 (RFC 9293 §3.7.1)."""

    value: int

    def __post_init__(self) -> None:
        _u(self.value, 16, "MSS")

    size: ClassVar[int] = 4


@dataclass(frozen=True, slots=True)
class WindowScale:
    """Kind 3, length 3 (RFC 7323 §2.2). ``shift`` is kept as sent; receivers clamp it to 14."""

    shift: int

    def __post_init__(self) -> None:
        _u(self.shift, 8, "window scale shift")

    size: ClassVar[int] = 3


@dataclass(frozen=True, slots=True)
class SackPermitted:
    """Kind 4, length 2 (RFC 2018 §2)."""

    size: ClassVar[int] = 2


@dataclass(frozen=True, slots=True)
class Sack:
    """Kind 5, length 2 + 8n (RFC 2018 §3); each block is (left edge, right edge)."""

    blocks: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        _check(1 <= len(self.blocks) <= 4, f"a SACK option holds 1 to 4 blocks, not {len(self.blocks)}")
        for left, right in self.blocks:
            _u(left, 32, "SACK left edge")
            _u(right, 32, "SACK right edge")

    @property
    def size(self) -> int:
        return 2 + 8 * len(self.blocks)


@dataclass(frozen=True, slots=True)
class Timestamps:
    """Kind 8, length 10 (RFC 7323 §3.2)."""

    tsval: int
    tsecr: int

    def __post_init__(self) -> None:
        if not (0 <= self.tsval <= MASK32 and 0 <= self.tsecr <= MASK32):
            _u(self.tsval, 32, "TSval")
            _u(self.tsecr, 32, "TSecr")

    size: ClassVar[int] = 10


@dataclass(frozen=True, slots=True)
class UnknownOption:
    """Any other kind, or a known kind at a length other than its RFC's; ``data`` follows the
    length octet, so the option occupies ``2 + len(data)`` bytes."""

    kind: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _u(self.kind, 8, "option kind")
        _check(self.kind not in (OPT_EOL, OPT_NOP), "EOL and NOP are single-octet options")
        _check(len(self.data) <= 253, "option data is at most 253 bytes")

    @property
    def size(self) -> int:
        return 2 + len(self.data)


@dataclass(frozen=True, slots=True)
class OpaqueRest:
    """The rest of an option area from the first option that cannot be walked (RFC 9293 §3.1: an
    option's length counts its kind and length octets, so it is at least 2, and it ends within the
    header): ``data`` as it came, from that option's kind octet to the end of the header. Never made
    by plain ``decode``, which refuses such an area (module docstring)."""

    data: bytes

    def __post_init__(self) -> None:
        _check(1 <= len(self.data) <= 40, "an option area's rest is 1 to 40 bytes")

    @property
    def size(self) -> int:
        return len(self.data)


TcpOption = (
    EndOfOptionList | NoOperation | MaxSegmentSize | WindowScale | SackPermitted | Sack | Timestamps
    | UnknownOption | OpaqueRest
)

NOP = NoOperation()


def options_size(options: tuple[TcpOption, ...]) -> int:
    n = 0
    for o in options:
        n += o.size
    return n


def pad_options(options: tuple[TcpOption, ...] | list[TcpOption]) -> tuple[TcpOption, ...]:
    """Pad an option list to a multiple of 4 bytes with an EOL and zero bytes (RFC 9293 §3.1)."""
    opts = tuple(options)
    rest = (-options_size(opts)) % 4
    if rest:
        opts += (EndOfOptionList(b"\x00" * (rest - 1)),)
    return opts


# --------------------------------------------------------------------------------------------------
# Headers and the segment
# --------------------------------------------------------------------------------------------------


def addr(text: str) -> bytes:
    """``addr("192.0.2.1")`` → 4 packed bytes; ``addr("2001:db8::1")`` → 16."""
    return ipaddress.ip_address(text).packed


def addr_text(packed: bytes) -> str:
    """4 or 16 packed bytes → ``"192.0.2.1"`` / ``"2001:db8::1"``.

    IPv4 is formatted directly: the diff engine names both addresses of every segment it compares, and
    ``ipaddress`` costs ~10x more. (A cache did as well for the diff, but in the trace checker, which
    sees thousands of addresses, it raised the peak memory of 20,000 short connections from 81 to 90 MB.)"""
    if len(packed) == 4:
        return f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"
    return str(ipaddress.ip_address(bytes(packed)))


@dataclass(frozen=True, slots=True)
class IPv4Header:
    """RFC 791 §3.1. ``options`` are kept as raw bytes (a multiple of 4, at most 40)."""

    src: bytes
    dst: bytes
    tos: int = 0
    ident: int = 0
    flags: int = IP_DF
    frag_offset: int = 0
    ttl: int = 64
    checksum: int | None = None
    options: bytes = b""

    def __post_init__(self) -> None:
        if (len(self.src) == 4 and len(self.dst) == 4 and 0 <= self.tos <= 0xFF and 0 <= self.ident <= 0xFFFF
                and 0 <= self.flags <= 7 and 0 <= self.frag_offset <= 0x1FFF and 0 <= self.ttl <= 0xFF
                and (self.checksum is None or 0 <= self.checksum <= 0xFFFF) and not len(self.options) % 4
                and len(self.options) <= MAX_IPV4_OPTIONS):
            return
        _check(len(self.src) == 4 and len(self.dst) == 4, "IPv4 addresses are 4 bytes")
        _u(self.tos, 8, "TOS")
        _u(self.ident, 16, "IP ID")
        _u(self.flags, 3, "IP flags")
        _u(self.frag_offset, 13, "fragment offset")
        _u(self.ttl, 8, "TTL")
        if self.checksum is not None:
            _u(self.checksum, 16, "IP checksum")
        _check(len(self.options) % 4 == 0 and len(self.options) <= MAX_IPV4_OPTIONS,
               "IPv4 options are a multiple of 4 bytes, at most 40")

    version = 4

    @property
    def df(self) -> bool:
        return bool(self.flags & IP_DF)

    @property
    def header_length(self) -> int:
        return 20 + len(self.options)

    @property
    def hop_limit(self) -> int:
        return self.ttl


@dataclass(frozen=True, slots=True)
class IPv6Header:
    """RFC 8200 §3, without extension headers."""

    src: bytes
    dst: bytes
    traffic_class: int = 0
    flow_label: int = 0
    hop_limit: int = 64

    def __post_init__(self) -> None:
        _check(len(self.src) == 16 and len(self.dst) == 16, "IPv6 addresses are 16 bytes")
        _u(self.traffic_class, 8, "traffic class")
        _u(self.flow_label, 20, "flow label")
        _u(self.hop_limit, 8, "hop limit")

    version = 6
    header_length = 40

    @property
    def df(self) -> bool:
        """IPv6 routers never fragment (RFC 8200 §5): every packet behaves as if DF were set."""
        return True


IPHeader = IPv4Header | IPv6Header


@dataclass(frozen=True, slots=True)
class TcpHeader:
    """RFC 9293 §3.1. ``flags`` holds the nine flag bits (AE..FIN); ``reserved`` the other three."""

    sport: int
    dport: int
    seq: int = 0
    ack: int = 0
    flags: int = ACK
    window: int = 65535
    urgent: int = 0
    options: tuple[TcpOption, ...] = ()
    checksum: int | None = None
    reserved: int = 0
    #: private, not part of the value (like ``Segment._wire``): the option area's bytes when the codec or the
    #: relay made this header and left ``options`` to be parsed from them on first access (see
    #: :class:`_OptionsFromWire`); None when ``options`` was given as values
    _options_wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # one chained comparison on the hot path; the per-field checks only run to name the culprit
        if not (0 <= self.sport <= 0xFFFF and 0 <= self.dport <= 0xFFFF and 0 <= self.seq <= MASK32
                and 0 <= self.ack <= MASK32 and 0 <= self.flags <= 0x1FF and 0 <= self.window <= 0xFFFF
                and 0 <= self.urgent <= 0xFFFF and 0 <= self.reserved <= 7
                and (self.checksum is None or 0 <= self.checksum <= 0xFFFF)):
            self._explain()
        size = options_size(self.options)
        _check(size % 4 == 0 and size <= MAX_TCP_OPTIONS,
               f"TCP options must fill a multiple of 4 bytes, at most 40 (got {size}); see pad_options")

    def _explain(self) -> None:
        _u(self.sport, 16, "source port")
        _u(self.dport, 16, "destination port")
        _u(self.seq, 32, "sequence number")
        _u(self.ack, 32, "acknowledgment number")
        _u(self.flags, 9, "flags")
        _u(self.window, 16, "window")
        _u(self.urgent, 16, "urgent pointer")
        _u(self.reserved, 3, "reserved bits")
        if self.checksum is not None:
            _u(self.checksum, 16, "TCP checksum")

    @property
    def header_length(self) -> int:
        return 20 + options_size(self.options)

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    def option(self, kind: type[TcpOption]) -> TcpOption | None:
        """The first option of the given type, or None."""
        for o in self.options:
            if type(o) is kind:
                return o
        return None


class _Unparsed:
    """The marker in a :class:`TcpHeader`'s ``options`` slot while its options are still bytes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNPARSED"


#: ``options`` of an :func:`unchecked_tcp` header whose ``_options_wire`` holds the option area, to be parsed on
#: first access. Only for areas the codec's fast path recognises (:func:`~splicecheck.reference.codec.lazy_layout`),
#: which are valid by their fixed bytes, so parsing them later cannot fail.
UNPARSED: Any = _Unparsed()


#: ``codec.pull_lazy``, looked up once: the codec imports this module, so it cannot be imported at the top
#: (an import statement run per parse would cost more than the parse)
_pull_lazy: Callable[[bytes], tuple[TcpOption, ...]] | None = None


def _import_pull_lazy() -> Callable[[bytes], tuple[TcpOption, ...]]:
    global _pull_lazy
    from .codec import pull_lazy

    _pull_lazy = pull_lazy
    return pull_lazy


class _OptionsFromWire:
    """``TcpHeader.options``: the slot, read through this descriptor, which parses a lazy header's options.

    A data segment's options are nearly always NOP NOP TS or NOP NOP TS NOP NOP SACK, and most segments
    that are decoded or relayed never have them read as values: the relay maps them from the bytes, and
    ``encode`` returns the bytes attached to the segment. So the codec and the relay may leave them as
    bytes (``UNPARSED`` in the slot, the bytes in ``_options_wire``), and the first read parses them with
    :func:`~splicecheck.reference.codec.pull_lazy` and stores the tuple in the slot. To every reader the
    attribute is the tuple of options, as for any other header: equality, hashing, ``repr``, pickling and
    ``dataclasses.replace`` all read it through here (``tests/test_codec.py`` holds lazy headers to eager ones).
    A header built by its validating constructor, or by ``replace``, always holds values."""

    __slots__ = ("slot",)

    def __init__(self, slot: Any) -> None:
        self.slot = slot  # the member descriptor of the ``options`` slot that ``dataclass(slots=True)`` made

    def __get__(self, obj: TcpHeader | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.slot.__get__(obj, owner)
        if value is UNPARSED:
            value = (_pull_lazy or _import_pull_lazy())(obj._options_wire or b"")  # bytes stay (the relay maps them)
            self.slot.__set__(obj, value)
        return value

    def __set__(self, obj: TcpHeader, value: tuple[TcpOption, ...]) -> None:
        self.slot.__set__(obj, value)  # the validating __init__ stores through here (a frozen class's stores)


setattr(TcpHeader, "options", _OptionsFromWire(TcpHeader.__dict__["options"]))  # noqa: B010 - hidden from mypy


def flags_text(flags: int) -> str:
    return "".join(ch for bit, ch in FLAG_NAMES if flags & bit) or "."


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment in one IP packet.

    ``_wire`` is a private cache, not part of the value (no comparison, no repr, not an ``__init__``
    argument, so ``dataclasses.replace`` drops it): the exact bytes :func:`~splicecheck.reference.codec.decode`
    read this segment from, or the relay wrote it as. ``encode`` returns them instead of serialising
    again, and the relay reads the received headers' checksum sums from them instead of re-packing the
    headers. It always equals what encoding the fields would give (``encode(decode(b)) == b``).
    """

    ip: IPHeader
    tcp: TcpHeader
    payload: bytes = b""
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        limit = 65535 - self.ip.header_length if self.ip.version == 4 else 65535
        _check(self.tcp.header_length + len(self.payload) <= limit, "segment exceeds the IP length field")

    @property
    def seg_len(self) -> int:
        """Sequence space occupied: data plus one for SYN and one for FIN (RFC 9293 §3.4)."""
        f = self.tcp.flags
        return len(self.payload) + (1 if f & SYN else 0) + (1 if f & FIN else 0)

    def summary(self) -> str:
        """One line, tcpdump-like, for diffs and reports."""
        t = self.tcp
        opts = ",".join(type(o).__name__ for o in t.options if not isinstance(o, NoOperation))
        return (f"{addr_text(self.ip.src)}.{t.sport} > {addr_text(self.ip.dst)}.{t.dport} "
                f"[{flags_text(t.flags)}] seq {t.seq} ack {t.ack} win {t.window} urp {t.urgent} "
                f"len {len(self.payload)}" + (f" <{opts}>" if opts else ""))


# Constructors that skip validation, for the codec and the relay only (see :func:`unchecked`).
unchecked_ipv4 = unchecked(IPv4Header)
unchecked_ipv6 = unchecked(IPv6Header)
unchecked_tcp = unchecked(TcpHeader)
unchecked_segment = unchecked(Segment)
unchecked_timestamps = unchecked(Timestamps)
unchecked_sack = unchecked(Sack)
unchecked_mss = unchecked(MaxSegmentSize)
unchecked_wscale = unchecked(WindowScale)
