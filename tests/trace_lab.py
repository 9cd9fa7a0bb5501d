"""Captures of live runs, for ``splicecheck trace``: an adapter's traffic written as two pcaps.

:class:`RecordingAdapter` wraps any adapter (``synproxy``, ``reference``, a mutant, …) and writes what
each of its sessions saw to a client-leg and a server-leg capture while the conformance runner drives
it: the connection's handshakes when the session keeps them (SYNPROXY's :class:`SynproxyHandshake`),
then every injected packet on its in leg and every packet the IUT emitted on the leg it came out on.
So one run is judged twice — live by the runner, offline by ``splicecheck trace`` on the captures —
and the verdicts can be compared (``tests/test_trace_live.py``).

Timestamps are the recorder's own, not the wire's: a session starts 2 s after the previous one (more
than the trace checker's match timeout, as the live adapter waited for every answer), its packets
100 µs apart, what the IUT emitted 20 µs after the injection that caused it (the adapters return
observations, not capture times; the order is all the trace checker needs). An ICMP echo request on
each leg closes the recording 2 s after the last session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from splicecheck.conformance.contract import Adapter, Feature, IutInfo, Observation, Scenario
from splicecheck.conformance.trace.capture import PcapWriter
from splicecheck.conformance.trace.link import LINKTYPE_RAW
from splicecheck.reference.checksum import internet_checksum
from splicecheck.reference.codec import encode
from splicecheck.reference.lifecycle import Event
from splicecheck.reference.relay import SpliceState
from splicecheck.reference.segment import Segment

US = 1000
GAP_NS = 2_000_000_000  # between sessions: more than splicecheck trace's default 1 s match timeout


def _echo(leg: int) -> bytes:
    src, dst = (b"\xc6\x12\x00\x02", b"\xc6\x12\x00\x01") if leg == 0 else (b"\xc6\x13\x00\x02", b"\xc6\x13\x00\x01")
    body = b"\x08\x00\xf7\xff\x00\x00\x00\x00"  # echo request, checksum of the zero rest
    head = bytearray(b"\x45\x00\x00\x1c\x00\x00\x40\x00\x40\x01\x00\x00" + src + dst)
    csum = internet_checksum(bytes(head))
    head[10:12] = csum.to_bytes(2, "big")
    return bytes(head) + body


class _Recorder:
    def __init__(self, client_path: Path | str, server_path: Path | str, start_ns: int) -> None:
        self.writers = (PcapWriter(client_path, LINKTYPE_RAW, nanos=True),
                        PcapWriter(server_path, LINKTYPE_RAW, nanos=True))
        self.t = start_ns
        self.packets = 0

    def put(self, leg: int, ip: bytes, after_us: int = 100) -> None:
        self.t += after_us * US
        self.writers[leg].write(self.t, ip)
        self.packets += 1

    def observed(self, obs: Observation) -> None:
        t0 = self.t
        for i, ip in enumerate(obs.to_client):
            self.writers[0].write(t0 + (20 + i) * US, ip)
        for i, ip in enumerate(obs.to_server):
            self.writers[1].write(t0 + (20 + i) * US, ip)
        self.packets += len(obs.to_client) + len(obs.to_server)
        self.t = t0 + (20 + max(len(obs.to_client), len(obs.to_server))) * US

    def close(self) -> None:
        # one last packet, an ICMP echo request on each leg, past the trace checker's timeout: the
        # recording went on after the last session (what the adapter waited, it waited in silence)
        self.t += GAP_NS
        for leg, w in enumerate(self.writers):
            w.write(self.t, _echo(leg))
        for w in self.writers:
            w.close()


class RecordingSession:
    """A session of the wrapped adapter whose traffic is recorded."""

    def __init__(self, inner: Any, rec: _Recorder) -> None:
        self.inner = inner
        self.rec = rec
        self.log: list[tuple[bytes, Observation]] = []  # every injection (as sent) and what came of it
        rec.t += GAP_NS
        hs = getattr(inner, "handshake", None)
        if hs is not None:  # SYNPROXY: the handshakes the session made, in the order they happened
            for leg, name in ((0, "client_syn"), (0, "synack"), (0, "client_ack"), (1, "server_syn"),
                              (1, "server_synack"), (1, "server_ack"), (0, "window_update")):
                seg = getattr(hs, name, None)
                if isinstance(seg, Segment):
                    rec.put(leg, encode(seg))
            extra = getattr(hs, "extra", None)
            if isinstance(extra, Observation):
                rec.observed(extra)

    @property
    def state(self) -> SpliceState:
        st: SpliceState = self.inner.state
        return st

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        st = self.inner.state
        from_server = segment.ip.src == st.server.peer.addr and segment.tcp.sport == st.server.peer.port
        self.rec.put(1 if from_server else 0, raw if raw is not None else encode(segment))
        obs: Observation = self.inner.inject(segment, raw=raw, expect=expect)
        self.rec.observed(obs)
        self.log.append((raw if raw is not None else encode(segment), obs))
        return obs

    def event(self, event: Event) -> Observation:
        obs: Observation = self.inner.event(event)
        self.rec.observed(obs)
        return obs


class RecordingAdapter:
    """``inner`` with every session's traffic written to ``client_path`` and ``server_path``."""

    def __init__(self, inner: Adapter, client_path: Path | str, server_path: Path | str,
                 start_ns: int = 1_700_000_000 * 1_000_000_000) -> None:
        self.inner = inner
        self.name = inner.name
        self.unsupported: frozenset[Feature] = inner.unsupported
        self.recorder = _Recorder(client_path, server_path, start_ns)
        self.sessions: list[RecordingSession] = []

    def missing(self) -> list[str]:
        fn = getattr(self.inner, "missing", None)
        return list(fn()) if callable(fn) else []

    def info(self) -> IutInfo:
        return self.inner.info()

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[RecordingSession]:
        with self.inner.open(scenario) as session:
            s = RecordingSession(session, self.recorder)
            self.sessions.append(s)
            yield s

    def close(self) -> None:
        self.recorder.close()
        self.inner.close()
