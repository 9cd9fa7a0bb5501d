"""The one place for the pcap and pcapng formats: :mod:`.reader` decodes (as streams), :mod:`.writer`
encodes (test fixtures, synthetic captures, the reports' evidence files)."""

from .reader import (
    BLOCK_EPB,
    BLOCK_IDB,
    BLOCK_PB,
    BLOCK_SPB,
    CaptureFormatError,
    CaptureInfo,
    CaptureReader,
    Record,
    TraceError,
    TruncatedCapture,
    UnknownLinkType,
    open_capture,
)
from .writer import PcapngWriter, PcapWriter

__all__ = [
    "BLOCK_EPB",
    "BLOCK_IDB",
    "BLOCK_PB",
    "BLOCK_SPB",
    "CaptureFormatError",
    "CaptureInfo",
    "CaptureReader",
    "PcapWriter",
    "PcapngWriter",
    "Record",
    "TraceError",
    "TruncatedCapture",
    "UnknownLinkType",
    "open_capture",
]
