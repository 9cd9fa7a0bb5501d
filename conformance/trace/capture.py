"""Capture files, read as streams: classic pcap and pcapng, written back for tests and evidence.

Theory of operation
-------------------
``splicecheck trace`` reads multi-gigabyte captures, so nothing here holds a file: :func:`open_capture`
returns a :class:`CaptureReader` whose iterator yields one ``(ts_ns, linktype, frame, orig_len)``
tuple per packet record, reading the file in 1 MiB chunks with ``struct`` (scapy dissects a few
thousand packets a second; this reads a few million). Timestamps are integer nanoseconds since the
epoch whatever the file's resolution.

Formats (both byte orders of each; a gzip-compressed file is read through ``gzip`` transparently):

* pcap (``tcpdump.org/manpages/pcap-savefile.5``): magic ``a1b2c3d4`` (microsecond timestamps) or
  ``a1b23c4d`` (nanosecond), one link type for the file. The link type field's upper bits carry FCS
  information (``LINKTYPE_..._WITH_FCS``), masked off here: the link layer trims frames to the IP
  length anyway. The "modified" pcap of old Red Hat tcpdumps (``a1b2cd34``) is refused by name.
* pcapng (draft-ietf-opsawg-pcapng): Section Header Blocks (each sets its own byte order and resets
  the interfaces), Interface Description Blocks (link type, snap length, ``if_tsresol`` — a power of
  10 or of 2 — and ``if_tsoffset``), Enhanced Packet Blocks, Simple Packet Blocks (no interface id:
  interface 0; no timestamp: the previous packet's) and the obsolete Packet Block. Every other block
  (name resolution, statistics, decryption secrets, custom) is skipped.

Errors are named (:class:`TraceError` and its subclasses, all :class:`SpliceCheckError`\\ s): a file
that is not a capture at all raises :class:`CaptureFormatError` when opened; a file that ends inside
a record (a capture that was killed) raises :class:`TruncatedCapture` *after* every complete record
was yielded, so a caller can keep what was read; a record whose length is absurd raises
:class:`CaptureFormatError` rather than reading gigabytes.

The writers (:class:`PcapWriter`, :class:`PcapngWriter`) produce every variant the readers accept, for
the test fixtures, the synthetic captures of :mod:`trace_synth` and the benchmark.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from ...reference.errors import SpliceCheckError

CHUNK = 1 << 20
#: libpcap's MAXIMUM_SNAPLEN; a record claiming more is corrupt, not a jumbo frame.
MAX_RECORD = 262_144
#: pcapng blocks hold a packet plus options; anything over this is corrupt.
MAX_BLOCK = 16 << 20

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_MAGIC_MODIFIED = 0xA1B2CD34
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
BLOCK_IDB, BLOCK_PB, BLOCK_SPB, BLOCK_EPB = 1, 2, 3, 6
OPT_ENDOFOPT, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 0, 9, 14
LINKTYPE_MASK = 0x0FFF_FFFF  # pcap: bits 28-31 FCS length, bit 26-27 flags (pcap-savefile.5)

Record = tuple[int, int, bytes, int]  # (ts_ns, linktype, frame bytes as captured, original length)


class TraceError(SpliceCheckError):
    """Base of the trace checker's input errors; ``path`` names the file when there is one."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class CaptureFormatError(TraceError):
    """Not a pcap or pcapng file, or a header or record that cannot be right."""


class TruncatedCapture(TraceError):
    """The file ends inside a record: ``records`` complete records were read, up to byte ``offset``."""

    def __init__(self, path: Path | str | None, records: int, offset: int, detail: str) -> None:
        self.records = records
        self.offset = offset
        super().__init__(f"truncated after {records} complete record(s) at byte {offset}: {detail}", path)


class UnknownLinkType(TraceError):
    """A link-layer type the trace checker cannot take IP packets out of."""

    def __init__(self, linktype: int, path: Path | str | None = None) -> None:
        self.linktype = linktype
        super().__init__(f"unsupported link-layer type {linktype} (supported: Ethernet with 802.1Q/802.1ad tags, "
                         "Linux cooked SLL and SLL2, BSD loopback, raw IP)", path)


@dataclass(slots=True)
class CaptureInfo:
    """What a capture file's headers said (filled in as interfaces appear, for pcapng)."""

    path: Path
    format: str  # "pcap" or "pcapng"
    byte_order: str  # "little" or "big" (pcapng: of the first section)
    resolution: str  # "us", "ns", or pcapng's per interface, e.g. "if0=1e-6"
    compressed: bool = False
    linktypes: dict[int, int] = field(default_factory=dict)  # interface id → link type
    snaplen: int = 0


def _open_binary(path: Path) -> tuple[BinaryIO, bool]:
    f: BinaryIO = path.open("rb")
    head = f.read(2)
    f.seek(0)
    if head == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb"), True  # type: ignore[return-value]
    return f, False


class CaptureReader:
    """One capture file as a stream of records (use as an iterator and a context manager)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise CaptureFormatError("no such file", self.path)
        if not self.path.is_file():
            raise CaptureFormatError("not a regular file", self.path)
        self._f, compressed = _open_binary(self.path)
        self.records = 0
        self.offset = 0  # bytes consumed (of the decompressed stream)
        try:
            head = self._f.read(24)
        except (OSError, EOFError) as exc:
            self._f.close()
            raise CaptureFormatError(f"cannot read: {exc}", self.path) from None
        self._head = head
        if len(head) < 4:
            self._f.close()
            raise CaptureFormatError(f"{len(head)} bytes: too short for a capture file", self.path)
        magic_le = struct.unpack_from("<I", head)[0]
        magic_be = struct.unpack_from(">I", head)[0]
        if magic_le == PCAPNG_SHB:
            self.info = CaptureInfo(self.path, "pcapng", "little", "", compressed)
        elif PCAP_MAGIC_MODIFIED in (magic_le, magic_be):
            self._f.close()
            raise CaptureFormatError("'modified' pcap (a1b2cd34) is not supported: convert it with editcap -F pcap",
                                     self.path)
        elif magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or magic_be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            order = "<" if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
            if len(head) < 24:
                self._f.close()
                raise CaptureFormatError(f"pcap file header is {len(head)} bytes, needs 24", self.path)
            magic, _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "IHHiIII", head)
            self._order = order
            self._ns = magic == PCAP_MAGIC_NS
            self.info = CaptureInfo(self.path, "pcap", "little" if order == "<" else "big",
                                    "ns" if self._ns else "us", compressed, {0: network & LINKTYPE_MASK}, snaplen)
        else:
            self._f.close()
            raise CaptureFormatError(f"not a pcap or pcapng file (magic {head[:4].hex()})", self.path)

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def __iter__(self) -> Iterator[Record]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[Record]]:
        """The records in lists, a chunk of the file at a time (what the trace engine reads: a list is
        far cheaper per record than a generator)."""
        if self.info.format == "pcap":
            return self._pcap()
        return self._pcapng()

    # -- pcap -----------------------------------------------------------------------------------------
    def _pcap(self) -> Iterator[list[Record]]:
        unpack = struct.Struct(self._order + "IIII").unpack_from
        read = self._f.read
        linktype = self.info.linktypes[0]
        scale = 1 if self._ns else 1000
        buf = b""
        pos = 0
        base = 24  # file offset of buf[0]
        self.offset = 24
        while True:
            more = read(CHUNK)
            if more:
                base += pos
                buf = buf[pos:] + more
                pos = 0
            n = len(buf)
            out: list[Record] = []
            append = out.append
            while pos + 16 <= n:
                sec, frac, incl, orig = unpack(buf, pos)
                if incl > MAX_RECORD:
                    raise CaptureFormatError(f"record {self.records + len(out) + 1} at byte {base + pos} claims "
                                             f"{incl} bytes", self.path)
                end = pos + 16 + incl
                if end > n:
                    break
                append((sec * 1_000_000_000 + frac * scale, linktype, buf[pos + 16:end], orig))
                pos = end
            self.records += len(out)
            self.offset = base + pos
            if out:
                yield out
            if not more:
                if pos < n:
                    what = (f"{n - pos} byte(s) of a 16-byte record header" if n - pos < 16 else
                            f"record of {unpack(buf, pos)[2]} bytes has {n - pos - 16}")
                    raise TruncatedCapture(self.path, self.records, base + pos, what)
                return

    # -- pcapng ---------------------------------------------------------------------------------------
    def _pcapng(self) -> Iterator[list[Record]]:
        f = self._f
        read = f.read
        buf = self._head + read(CHUNK)
        pos = 0
        base = 0
        order = "<"
        u32 = struct.Struct("<I")
        # per interface: (linktype, ns numerator, ns denominator, offset ns, snaplen)
        ifaces: list[tuple[int, int, int, int, int]] = []
        last_ts = 0
        section = 0
        out: list[Record] = []
        while True:
            if len(buf) - pos < 12:
                if out:
                    yield out
                    out = []
                more = read(CHUNK)
                if not more:
                    if len(buf) > pos:
                        raise TruncatedCapture(self.path, self.records, base + pos,
                                               f"{len(buf) - pos} byte(s) of a block header")
                    return
                base += pos
                buf = buf[pos:] + more
                pos = 0
                continue
            btype_le = struct.unpack_from("<I", buf, pos)[0]
            if btype_le == PCAPNG_SHB:
                bom = buf[pos + 8:pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                else:
                    raise CaptureFormatError(f"section header at byte {base + pos} has no byte-order magic",
                                             self.path)
                u32 = struct.Struct(order + "I")
                ifaces = []
                section += 1
                if section == 1:
                    self.info.byte_order = "little" if order == "<" else "big"
            btype = u32.unpack_from(buf, pos)[0]
            blen = u32.unpack_from(buf, pos + 4)[0]
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                raise CaptureFormatError(f"block at byte {base + pos} has length {blen}", self.path)
            end = pos + blen
            if end > len(buf):
                if out:
                    yield out
                    out = []
                more = read(max(CHUNK, end - len(buf)))
                if not more:
                    raise TruncatedCapture(self.path, self.records, base + pos,
                                           f"block of {blen} bytes has {len(buf) - pos}")
                base += pos
                buf = buf[pos:] + more
                pos = 0
                continue
            if u32.unpack_from(buf, end - 4)[0] != blen:
                raise CaptureFormatError(f"block at byte {base + pos}: trailing length differs from {blen}",
                                         self.path)
            if btype in (BLOCK_EPB, BLOCK_PB):
                if btype == BLOCK_EPB:
                    iface, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", buf, pos + 8)
                else:
                    iface, _drops, hi, lo, incl, orig = struct.unpack_from(order + "HHIIII", buf, pos + 8)
                if iface >= len(ifaces):
                    raise CaptureFormatError(f"packet at byte {base + pos} names interface {iface}, "
                                             f"{len(ifaces)} described", self.path)
                if 28 + incl > blen - 4:
                    raise CaptureFormatError(f"packet at byte {base + pos}: {incl} bytes in a {blen}-byte block",
                                             self.path)
                linktype, num, den, off, _snap = ifaces[iface]
                last_ts = ((hi << 32) | lo) * num // den + off
                self.records += 1
                out.append((last_ts, linktype, buf[pos + 28:pos + 28 + incl], orig))
            elif btype == BLOCK_SPB:
                if not ifaces:
                    raise CaptureFormatError(f"simple packet at byte {base + pos} before any interface", self.path)
                orig = u32.unpack_from(buf, pos + 8)[0]
                linktype, _num, _den, _off, snap = ifaces[0]
                incl = min(orig, blen - 16, snap or orig)
                self.records += 1
                out.append((last_ts, linktype, buf[pos + 12:pos + 12 + incl], orig))
            elif btype == BLOCK_IDB:
                linktype, _res, snap = struct.unpack_from(order + "HHI", buf, pos + 8)
                num, den, off, resol = _if_options(buf, pos + 16, end - 4, order)
                ifaces.append((linktype, num, den, off, snap))
                self.info.linktypes[len(self.info.linktypes)] = linktype
                self.info.snaplen = max(self.info.snaplen, snap)
                self.info.resolution += ("," if self.info.resolution else "") + f"if{len(ifaces) - 1}={resol}"
            pos = end
            self.offset = base + pos


def _if_options(buf: bytes, pos: int, end: int, order: str) -> tuple[int, int, int, str]:
    """``(numerator, denominator, offset ns, text)`` turning an interface's timestamp units into ns."""
    num, den, off, text = 1000, 1, 0, "1e-6"
    hdr = struct.Struct(order + "HH")
    while pos + 4 <= end:
        code, length = hdr.unpack_from(buf, pos)
        if code == OPT_ENDOFOPT:
            break
        value = buf[pos + 4:pos + 4 + length]
        if code == OPT_IF_TSRESOL and length >= 1:
            r = value[0]
            if r & 0x80:  # 2^-n
                num, den, text = 1_000_000_000, 1 << (r & 0x7F), f"2^-{r & 0x7F}"
            else:  # 10^-n
                n = r
                num, den = (10 ** (9 - n), 1) if n <= 9 else (1, 10 ** (n - 9))
                text = f"1e-{n}"
        elif code == OPT_IF_TSOFFSET and length == 8:
            off = struct.unpack(order + "q", value)[0] * 1_000_000_000
        pos += 4 + length + (-length % 4)
    return num, den, off, text


def open_capture(path: Path | str) -> CaptureReader:
    """A reader for the capture at ``path`` (pcap or pcapng, optionally gzip-compressed)."""
    return CaptureReader(path)


# --------------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------------


class PcapWriter:
    """A classic pcap file: ``nanos`` for the nanosecond magic, ``big`` for big-endian headers."""

    def __init__(self, out: Path | str | IO[bytes], linktype: int, *, nanos: bool = False, big: bool = False,
                 snaplen: int = 65535) -> None:
        self._own = not hasattr(out, "write")
        self._f: IO[bytes] = Path(out).open("wb") if self._own else out  # type: ignore[arg-type,assignment]  # noqa: SIM115
        self._order = ">" if big else "<"
        self._nanos = nanos
        self.snaplen = snaplen
        self._rec = struct.Struct(self._order + "IIII")
        magic = PCAP_MAGIC_NS if nanos else PCAP_MAGIC_US
        self._f.write(struct.pack(self._order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, ts_ns: int, frame: bytes, orig_len: int | None = None) -> None:
        sec, rest = divmod(ts_ns, 1_000_000_000)
        frac = rest if self._nanos else rest // 1000
        data = frame[:self.snaplen]
        self._f.write(self._rec.pack(sec, frac, len(data), len(frame) if orig_len is None else orig_len) + data)

    def close(self) -> None:
        if self._own:
            self._f.close()
        else:
            self._f.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PcapngWriter:
    """A pcapng file with one section; interfaces are added with :meth:`interface`.

    ``tsresol``: the ``if_tsresol`` option byte (6 = microseconds, 9 = nanoseconds, 0x80|n = 2^-n);
    ``simple`` packets are written as Simple Packet Blocks (no timestamp, interface 0)."""

    def __init__(self, out: Path | str | IO[bytes], *, big: bool = False) -> None:
        self._own = not hasattr(out, "write")
        self._f: IO[bytes] = Path(out).open("wb") if self._own else out  # type: ignore[arg-type,assignment]  # noqa: SIM115
        self._order = ">" if big else "<"
        self._ifaces: list[tuple[int, int, int]] = []  # (tsresol byte, snaplen, tsoffset seconds)
        body = struct.pack(self._order + "IHHq", PCAPNG_BOM, 1, 0, -1)
        self._block(PCAPNG_SHB, body)

    def _block(self, btype: int, body: bytes) -> None:
        body += b"\x00" * (-len(body) % 4)
        n = 12 + len(body)
        self._f.write(struct.pack(self._order + "II", btype, n) + body + struct.pack(self._order + "I", n))

    def interface(self, linktype: int, *, tsresol: int = 6, snaplen: int = 0, tsoffset: int = 0) -> int:
        opts = b""
        if tsresol != 6:
            opts += struct.pack(self._order + "HH", OPT_IF_TSRESOL, 1) + bytes([tsresol]) + b"\x00" * 3
        if tsoffset:
            opts += struct.pack(self._order + "HHq", OPT_IF_TSOFFSET, 8, tsoffset)
        if opts:
            opts += struct.pack(self._order + "HH", OPT_ENDOFOPT, 0)
        self._block(BLOCK_IDB, struct.pack(self._order + "HHI", linktype, 0, snaplen) + opts)
        self._ifaces.append((tsresol, snaplen, tsoffset))
        return len(self._ifaces) - 1

    def _units(self, iface: int, ts_ns: int) -> int:
        r, _snap, offset = self._ifaces[iface]
        ts_ns -= offset * 1_000_000_000
        if r & 0x80:
            return (ts_ns << (r & 0x7F)) // 1_000_000_000
        return int(ts_ns // 10 ** (9 - r)) if r <= 9 else int(ts_ns * 10 ** (r - 9))

    def write(self, ts_ns: int, frame: bytes, iface: int = 0, orig_len: int | None = None, *,
              simple: bool = False) -> None:
        snap = self._ifaces[iface][1]
        data = frame[:snap] if snap else frame
        orig = len(frame) if orig_len is None else orig_len
        if simple:
            self._block(BLOCK_SPB, struct.pack(self._order + "I", orig) + data)
            return
        units = self._units(iface, ts_ns)
        self._block(BLOCK_EPB, struct.pack(self._order + "IIIII", iface, units >> 32, units & 0xFFFF_FFFF,
                                           len(data), orig) + data)

    def raw_block(self, btype: int, body: bytes) -> None:
        """Any other block, as is (tests: blocks the reader must skip)."""
        self._block(btype, body)

    def close(self) -> None:
        if self._own:
            self._f.close()
        else:
            self._f.flush()

    def __enter__(self) -> PcapngWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
