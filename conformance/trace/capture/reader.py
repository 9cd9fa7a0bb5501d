"""Capture files, read as streams: classic pcap and pcapng.

Theory of operation
-------------------
``splicecheck trace`` reads multi-gigabyte captures, so nothing here holds a file: :func:`open_capture`
returns a :class:`CaptureReader` whose iterator yields one ``(ts_ns, linktype, frame, orig_len)``
tuple per packet record, reading the file in 256 KiB chunks with ``struct`` (scapy dissects a few
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

The writers are in :mod:`.writer`; the format's constants are here, for both.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ....reference.errors import SpliceCheckError

#: bytes read at a time. A chunk's records are alive together (bytes, tuples, the merged batches of both
#: captures): 1 MiB chunks cost 8 MB more peak memory than these and were no faster
#: (``benchmarks/trace_connections.py``)
CHUNK = 1 << 18
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
OPT_ENDOFOPT, OPT_COMMENT = 0, 1  # any block's options
SHB_USERAPPL = 4
IF_NAME, IF_DESCRIPTION, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 2, 3, 9, 14
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
            head = self._read(24)
        except TraceError:
            self._f.close()
            raise
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

    def _read(self, n: int) -> bytes:
        """``n`` bytes (fewer at the end) of the (decompressed) stream. A gzip stream damaged past its
        header — cut short, a bad CRC or length, trailing junk, a corrupt deflate block — and a read
        error become named errors, never a traceback."""
        try:
            return self._f.read(n)
        except EOFError:
            raise TruncatedCapture(self.path, self.records, self.offset,
                                   "the gzip stream ends before its end marker (a cut file)") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise CaptureFormatError(f"damaged gzip stream after {self.records} record(s): {exc}",
                                     self.path) from None
        except OSError as exc:
            raise CaptureFormatError(f"cannot read after {self.records} record(s): {exc.strerror or exc}",
                                     self.path) from None

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
        read = self._read
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
        """The block walk: refill the buffer when a block header or body is not all in it; the blocks
        themselves are :class:`_Section`'s."""
        read = self._read
        buf = self._head + read(CHUNK)
        pos = 0
        base = 0  # file offset of buf[0]
        sec = _Section(self)
        out: list[Record] = []
        while True:
            need = 12
            if len(buf) - pos >= 12:
                blen = sec.block_length(buf, pos, base + pos)
                if pos + blen <= len(buf):
                    sec.block(buf, pos, blen, base + pos, out)
                    pos += blen
                    self.offset = base + pos
                    continue
                need = blen
            if out:
                yield out
                out = []
            more = read(max(CHUNK, pos + need - len(buf)))
            if not more:
                if len(buf) == pos:
                    return
                what = (f"{len(buf) - pos} byte(s) of a block header" if need == 12 else
                        f"block of {need} bytes has {len(buf) - pos}")
                raise TruncatedCapture(self.path, self.records, base + pos, what)
            base += pos
            buf = buf[pos:] + more
            pos = 0


class _Section:
    """The pcapng block decoder: the current section's byte order and interfaces, the last timestamp."""

    __slots__ = ("ifaces", "last_ts", "order", "reader", "sections", "u32")

    def __init__(self, reader: CaptureReader) -> None:
        self.reader = reader
        self.order = "<"
        self.u32 = struct.Struct("<I")
        # per interface: (linktype, ns numerator, ns denominator, offset ns, snaplen)
        self.ifaces: list[tuple[int, int, int, int, int]] = []
        self.last_ts = 0
        self.sections = 0

    def block_length(self, buf: bytes, pos: int, at: int) -> int:
        """The length of the block at ``pos`` (a section header first sets the byte order)."""
        if struct.unpack_from("<I", buf, pos)[0] == PCAPNG_SHB:
            self._new_section(buf[pos + 8:pos + 12], at)
        blen: int = self.u32.unpack_from(buf, pos + 4)[0]
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            raise CaptureFormatError(f"block at byte {at} has length {blen}", self.reader.path)
        return blen

    def _new_section(self, bom: bytes, at: int) -> None:
        if bom == b"\x4d\x3c\x2b\x1a":
            self.order = "<"
        elif bom == b"\x1a\x2b\x3c\x4d":
            self.order = ">"
        else:
            raise CaptureFormatError(f"section header at byte {at} has no byte-order magic", self.reader.path)
        self.u32 = struct.Struct(self.order + "I")
        self.ifaces = []
        self.sections += 1
        if self.sections == 1:
            self.reader.info.byte_order = "little" if self.order == "<" else "big"

    def block(self, buf: bytes, pos: int, blen: int, at: int, out: list[Record]) -> None:
        """Decode the whole block at ``pos``: a packet is appended to ``out``, an interface is recorded."""
        u32, order, path = self.u32, self.order, self.reader.path
        end = pos + blen
        if u32.unpack_from(buf, end - 4)[0] != blen:
            raise CaptureFormatError(f"block at byte {at}: trailing length differs from {blen}", path)
        btype = u32.unpack_from(buf, pos)[0]
        if btype in (BLOCK_EPB, BLOCK_PB):
            if btype == BLOCK_EPB:
                iface, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", buf, pos + 8)
            else:
                iface, _drops, hi, lo, incl, orig = struct.unpack_from(order + "HHIIII", buf, pos + 8)
            if iface >= len(self.ifaces):
                raise CaptureFormatError(f"packet at byte {at} names interface {iface}, "
                                         f"{len(self.ifaces)} described", path)
            if 28 + incl > blen - 4:
                raise CaptureFormatError(f"packet at byte {at}: {incl} bytes in a {blen}-byte block", path)
            linktype, num, den, off, _snap = self.ifaces[iface]
            self.last_ts = ((hi << 32) | lo) * num // den + off
            self.reader.records += 1
            out.append((self.last_ts, linktype, buf[pos + 28:pos + 28 + incl], orig))
        elif btype == BLOCK_SPB:
            if not self.ifaces:
                raise CaptureFormatError(f"simple packet at byte {at} before any interface", path)
            orig = u32.unpack_from(buf, pos + 8)[0]
            linktype, _num, _den, _off, snap = self.ifaces[0]
            incl = min(orig, blen - 16, snap or orig)
            self.reader.records += 1
            out.append((self.last_ts, linktype, buf[pos + 12:pos + 12 + incl], orig))
        elif btype == BLOCK_IDB:
            self._interface(buf, pos, end)

    def _interface(self, buf: bytes, pos: int, end: int) -> None:
        linktype, _res, snap = struct.unpack_from(self.order + "HHI", buf, pos + 8)
        num, den, off, resol = _if_options(buf, pos + 16, end - 4, self.order)
        self.ifaces.append((linktype, num, den, off, snap))
        info = self.reader.info
        info.linktypes[len(info.linktypes)] = linktype
        info.snaplen = max(info.snaplen, snap)
        info.resolution += ("," if info.resolution else "") + f"if{len(self.ifaces) - 1}={resol}"


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
