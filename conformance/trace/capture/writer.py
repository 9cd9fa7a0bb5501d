"""Capture files, written: classic pcap and pcapng, every variant :mod:`.reader` accepts.

For the test fixtures, the synthetic captures of :mod:`trace_synth`, the benchmark, and the evidence
files of :mod:`splicecheck.reports.pcapng` (which need the pcapng extras: a comment and an application
name on the section, a name and a description per interface, comments on each packet).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from .reader import (
    BLOCK_EPB,
    BLOCK_IDB,
    BLOCK_SPB,
    IF_DESCRIPTION,
    IF_NAME,
    OPT_COMMENT,
    OPT_ENDOFOPT,
    OPT_IF_TSOFFSET,
    OPT_IF_TSRESOL,
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    PCAPNG_BOM,
    PCAPNG_SHB,
    SHB_USERAPPL,
)


def _open(out: Path | str | IO[bytes]) -> tuple[IO[bytes], bool]:
    """The stream to write and whether this writer owns (and closes) it."""
    if isinstance(out, (str, Path)):
        return Path(out).open("wb"), True
    return out, False


class _Writer:
    """What both writers share: the stream, closing it when owned, the context manager."""

    def __init__(self, out: Path | str | IO[bytes]) -> None:
        self._f, self._own = _open(out)

    def close(self) -> None:
        if self._own:
            self._f.close()
        else:
            self._f.flush()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PcapWriter(_Writer):
    """A classic pcap file: ``nanos`` for the nanosecond magic, ``big`` for big-endian headers."""

    def __init__(self, out: Path | str | IO[bytes], linktype: int, *, nanos: bool = False, big: bool = False,
                 snaplen: int = 65535) -> None:
        super().__init__(out)
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

    def __enter__(self) -> PcapWriter:
        return self


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


class PcapngWriter(_Writer):
    """A pcapng file with one section; interfaces are added with :meth:`interface`.

    ``comment`` and ``application``: the section's ``opt_comment`` and ``shb_userappl``.
    ``tsresol``: the ``if_tsresol`` option byte (6 = microseconds, 9 = nanoseconds, 0x80|n = 2^-n);
    ``simple`` packets are written as Simple Packet Blocks (no timestamp, interface 0)."""

    def __init__(self, out: Path | str | IO[bytes], *, big: bool = False, comment: str = "",
                 application: str = "") -> None:
        super().__init__(out)
        self._order = ">" if big else "<"
        self._ifaces: list[tuple[int, int, int]] = []  # (tsresol byte, snaplen, tsoffset seconds)
        opts = [(OPT_COMMENT, comment.encode())] if comment else []
        if application:
            opts.append((SHB_USERAPPL, application.encode()))
        # version 1.0; section length -1: not given (the reader walks the blocks)
        self._block(PCAPNG_SHB, struct.pack(self._order + "IHHq", PCAPNG_BOM, 1, 0, -1) + self._options(opts))

    def _block(self, btype: int, body: bytes) -> None:
        body = _pad4(body)
        n = 12 + len(body)
        self._f.write(struct.pack(self._order + "II", btype, n) + body + struct.pack(self._order + "I", n))

    def _options(self, opts: Sequence[tuple[int, bytes]]) -> bytes:
        """An options list (each padded to 4 bytes) closed by ``opt_endofopt``; empty for no option."""
        if not opts:
            return b""
        return b"".join(struct.pack(self._order + "HH", code, len(value)) + _pad4(value)
                        for code, value in (*opts, (OPT_ENDOFOPT, b"")))

    def interface(self, linktype: int, *, tsresol: int = 6, snaplen: int = 0, tsoffset: int = 0, name: str = "",
                  description: str = "") -> int:
        opts = [(IF_NAME, name.encode())] if name else []
        if description:
            opts.append((IF_DESCRIPTION, description.encode()))
        if tsresol != 6:
            opts.append((OPT_IF_TSRESOL, bytes([tsresol])))
        if tsoffset:
            opts.append((OPT_IF_TSOFFSET, struct.pack(self._order + "q", tsoffset)))
        self._block(BLOCK_IDB, struct.pack(self._order + "HHI", linktype, 0, snaplen) + self._options(opts))
        self._ifaces.append((tsresol, snaplen, tsoffset))
        return len(self._ifaces) - 1

    def _units(self, iface: int, ts_ns: int) -> int:
        r, _snap, offset = self._ifaces[iface]
        ts_ns -= offset * 1_000_000_000
        if r & 0x80:
            return (ts_ns << (r & 0x7F)) // 1_000_000_000
        return int(ts_ns // 10 ** (9 - r)) if r <= 9 else int(ts_ns * 10 ** (r - 9))

    def write(self, ts_ns: int, frame: bytes, iface: int = 0, orig_len: int | None = None, *,
              simple: bool = False, comments: Sequence[str] = ()) -> None:
        """One packet; ``comments`` become its ``opt_comment``\\ s (Enhanced Packet Blocks only)."""
        snap = self._ifaces[iface][1]
        data = frame[:snap] if snap else frame
        orig = len(frame) if orig_len is None else orig_len
        if simple:
            self._block(BLOCK_SPB, struct.pack(self._order + "I", orig) + data)
            return
        units = self._units(iface, ts_ns)
        head = struct.pack(self._order + "IIIII", iface, units >> 32, units & 0xFFFF_FFFF, len(data), orig)
        self._block(BLOCK_EPB, head + _pad4(data) + self._options([(OPT_COMMENT, c.encode()) for c in comments]))

    def raw_block(self, btype: int, body: bytes) -> None:
        """Any other block, as is (tests: blocks the reader must skip)."""
        self._block(btype, body)

    def __enter__(self) -> PcapngWriter:
        return self
