"""The two captures' packets merged into one time order (the trace engine's input)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from operator import itemgetter

from .link import Packet


class TimeMerge:
    """Merges two streams of packet batches by timestamp. When one stream ends, the other is read on for
    ``timeout`` more (the outputs of inputs captured before the end) and no further: ``cutoff`` is then
    the ended stream's last timestamp, and ``ended_first`` ``(that stream, cutoff)`` if the other still
    had packets after the timeout."""

    def __init__(self, streams: tuple[Iterator[list[Packet]], Iterator[list[Packet]]], timeout: int) -> None:
        self.streams = streams
        self.timeout = timeout
        self.cutoff: int | None = None
        self.ended_first: tuple[int, int] | None = None

    def __iter__(self) -> Iterator[list[Packet]]:
        """Both captures' packets in one time order, a list at a time: each list holds everything up to
        the earlier of the two batches' last timestamps (ties: the client leg first)."""
        streams = self.streams
        bufs: list[list[Packet]] = [[], []]
        pos = [0, 0]
        done = [False, False]
        last = [0, 0]  # the latest timestamp yielded per leg
        ts_of = itemgetter(0)
        while True:
            for i in (0, 1):
                if pos[i] >= len(bufs[i]) and not done[i]:
                    nxt = next(streams[i], None)
                    if nxt is None:
                        done[i], bufs[i], pos[i] = True, [], 0
                    else:
                        bufs[i], pos[i] = nxt, 0
            a, b = bufs
            ia, ib = pos
            if ia >= len(a) or ib >= len(b):
                # One capture has ended. The other is read on for one match timeout (the outputs of inputs
                # captured before the end); what it holds after that cannot be paired, and is not read.
                if ia >= len(a) and ib >= len(b):
                    return
                other, i = (1, ib) if ia >= len(a) else (0, ia)
                self.cutoff = last[1 - other]
                limit = self.cutoff + self.timeout
                buf = bufs[other]
                while True:
                    j = bisect_right(buf, limit, i, key=ts_of)
                    if j > i:
                        yield buf[i:j]
                    if j < len(buf):
                        self.ended_first = (1 - other, self.cutoff)
                        return
                    nxt = next(streams[other], None)
                    if nxt is None:
                        return
                    buf, i = nxt, 0
            if a[-1][0] <= b[-1][0]:
                j = bisect_right(b, a[-1][0], ib, key=ts_of)
                yield sorted(a[ia:] + b[ib:j], key=ts_of)
                last[0] = a[-1][0]
                if j > ib:
                    last[1] = b[j - 1][0]
                pos[0], pos[1] = len(a), j
            else:
                j = bisect_left(a, b[-1][0], ia, key=ts_of)
                yield sorted(a[ia:j] + b[ib:], key=ts_of)
                last[1] = b[-1][0]
                if j > ia:
                    last[0] = a[j - 1][0]
                pos[0], pos[1] = j, len(b)
