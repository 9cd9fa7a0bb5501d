"""What one judged connection of a trace adds up to: counts, checked fields, the requirements its checks
bore on, its differences and evidence steps (capped: the first of every requirement is always kept, so
requirement verdicts are exact), and the :class:`~splicecheck.conformance.results.CaseResult` made of
them. :class:`~splicecheck.conformance.trace.judge.Judge` is a :class:`ConnectionTally` that does the pairing and
judging."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ...reference.relay import SpliceState
from ...spec.requirements import REQUIREMENTS
from ..results import CaseKind, CaseResult, FieldDiff, Geometry, StepRecord, Verdict, case_verdict
from .params import endpoint_text
from .shortcuts import FastShared

DIFF_CAP = 200  # differing fields kept per connection (plus the first of each requirement)
STEP_CAP = 20  # evidence steps kept per connection
_ORDER = {r.id: i for i, r in enumerate(REQUIREMENTS)}
#: what a completed checksum means for the verdict (``splicecheck trace --checksums``)
CSUM_NOTE = ("offloaded at the capture point (partial checksum) or --checksums ignore; the TCP checksum of "
             "a step with one is not graded")


_ORDERED: dict[frozenset[str], tuple[str, ...]] = {}


def _catalogue_order(reqs: set[str]) -> list[str]:
    """``reqs`` in catalogue order (unknown IDs last). Most connections bear on one same set: its order is
    remembered (for the first 1,024 sets seen)."""
    key = frozenset(reqs)
    done = _ORDERED.get(key)
    if done is None:
        done = tuple(sorted(reqs, key=lambda r: _ORDER.get(r, 999)))
        if len(_ORDERED) < 1024:
            _ORDERED[key] = done
    return list(done)


@dataclass(slots=True)
class Counts:
    judged: int = 0
    fast: int = 0  # by the fast path's bytes
    model: int = 0  # by the model's bytes (no diff_step needed)
    dropped: int = 0
    unsolicited: int = 0
    own_late: int = 0  # the proxy's pre-splice data seen after the splice point
    presplice: int = 0
    handshake: int = 0
    truncated: int = 0  # matched, not judged: the capture cut the packet
    malformed: int = 0  # inputs the codec refuses: not judged
    unwalkable: int = 0  # inputs whose option area cannot be walked: judged as dropped or relayed-as-they-came
    cut: int = 0  # inputs still pending when the capture ended
    unknown_params: int = 0  # segments of a direction whose parameters could not be inferred
    csum_in: int = 0  # inputs whose TCP checksum was completed (offloaded at the capture point; or ignored)
    csum_out: int = 0  # outputs, likewise
    oversize: int = 0  # super-segment inputs (TSO/GRO) judged as the segments they stand for
    resegmented: int = 0  # inputs and outputs cut otherwise on the two captures (segmentation offload)


class ConnectionTally:
    """One connection's record of checks; see the module docstring."""

    def __init__(self, case_id: str, shared: FastShared, *, repro: str = "", description: str = "",
                 expectation: str = "") -> None:
        self.case_id = case_id
        self.shared = shared
        self.counts = Counts()
        self.checked = 0
        self.reqs: set[str] = set()
        self.fast_by_shape: dict[int, int] = {}  # fast-path PASSes per shape (their checks added at the end)
        self.diffs: list[FieldDiff] = []
        self.diff_reqs: set[str] = set()
        self.fail_counts: dict[str, int] = {}
        self.records: list[StepRecord] = []
        self.geometry: list[Geometry] = []
        self.repro = repro
        self.description = description
        self.expectation = expectation
        self.first_ts: int | None = None
        self.last_ts = 0
        self.explain: Callable[[], str] | None = None  # the expectation, made at the end (a string per open
        # connection is memory for nothing)

    def _record(self, diffs: list[FieldDiff], record: StepRecord, geo: Geometry | None) -> None:
        self.checked += len(diffs)
        bad = []
        for x in diffs:
            self.reqs.add(x.req)
            if not x.ok:
                bad.append(x)
        if not bad:
            return
        for x in bad:
            self.fail_counts[x.req] = self.fail_counts.get(x.req, 0) + 1
            if len(self.diffs) < DIFF_CAP or x.req not in self.diff_reqs:
                self.diffs.append(x)
                self.diff_reqs.add(x.req)
        if len(self.records) < STEP_CAP:  # kept with the step number its differences carry (not every step is)
            self.records.append(replace(record, step=bad[0].step))
            if geo is not None:
                self.geometry.append(geo)

    def handshake(self, checks: list[FieldDiff]) -> None:
        """Checks of the proxy's own handshake packets (step and packet -1)."""
        if not checks:
            return
        if all(x.ok for x in checks):  # no evidence to keep (_record keeps a record only with a difference)
            self.checked += len(checks)
            self.reqs.update(x.req for x in checks)
            return
        self._record(checks, StepRecord(leg_in="client", input="", summary_input="(the handshakes)"), None)

    def _add_fast(self) -> None:
        for shape, n in self.fast_by_shape.items():
            checks, reqs = self.shared.shapes[shape]
            self.checked += n * checks
            self.counts.judged += n
            self.counts.fast += n
            self.shared.fast += n
            self.reqs |= reqs
        self.fast_by_shape = {}

    def result(self) -> CaseResult:
        c = self.counts
        reqs = _catalogue_order(self.reqs) or ["DIR-ONLY"]
        verdict = case_verdict(reqs, self.diffs) if self.diffs else Verdict.PASS  # (no difference: nothing to grade)
        notes = []
        if c.dropped:
            notes.append(f"{c.dropped} input(s) dropped by the box")
        if c.unsolicited:
            notes.append(f"{c.unsolicited} output(s) emitted without an input")
        if self.fail_counts:
            notes.append("differences: " + ", ".join(f"{r} ×{n}" for r, n in sorted(
                self.fail_counts.items(), key=lambda kv: _ORDER.get(kv[0], 999))))
            kept = len(self.diffs)
            total = sum(self.fail_counts.values())
            if kept < total:
                notes.append(f"{kept} of {total} differing fields kept")
        for n, what in ((c.truncated, "matched but not judged: cut by the capture's snap length"),
                        (c.malformed, "inputs the codec refuses (not judged)"),
                        (c.unwalkable, "inputs whose option area cannot be walked (judged: dropped, or relayed "
                                       "with the area from the fault on as it came)"),
                        (c.cut, "inputs or outputs whose counterpart falls after the end of a capture (not judged)"),
                        (c.unknown_params, "segments of a direction whose parameters are unknown (not judged)"),
                        (c.own_late, "pre-splice bytes of the proxy's own seen late (not judged)"),
                        (c.csum_in, "end-host checksums completed: " + CSUM_NOTE),
                        (c.csum_out, "proxy checksums completed: " + CSUM_NOTE),
                        (c.oversize, "super-segments larger than the sender's MSS (TSO/GRO at the capture point) "
                                     "judged as the wire segments they stand for, with no MSS limit"),
                        (c.resegmented, "segments cut otherwise on the two captures by segmentation offload "
                                        "(TSO/GRO; not judged)")):
            if n:
                notes.append(f"{n} {what}")
        if c.judged == 0 and not self.diffs:
            verdict = Verdict.INFO
            notes.insert(0, "no relayed segment was judged")
        desc = (f"{self.description}: {c.judged} segment(s) judged ({c.fast} by the fast path, {c.model} by the "
                f"model's bytes), {c.dropped} dropped, "
                f"{c.unsolicited} without input; {c.presplice} pre-splice and {c.handshake} handshake packet(s)")
        dur = 0.0 if self.first_ts is None else max(0, self.last_ts - self.first_ts) / 1e9
        if self.explain is not None:
            self.expectation, self.explain = self.explain(), None
        return CaseResult(case=self.case_id, reqs=reqs, verdict=verdict, description=desc,
                          expectation=self.expectation, diffs=list(self.diffs), checked=self.checked,
                          steps=list(self.records), geometry=list(self.geometry), reason="; ".join(notes),
                          duration=dur, repro=self.repro, kind=CaseKind.TRACE)


def ends_text(state: SpliceState) -> str:
    return (f"client {endpoint_text(state.client.peer)} ⇄ proxy {endpoint_text(state.client.local)} | "
            f"proxy {endpoint_text(state.server.local)} ⇄ server {endpoint_text(state.server.peer)}")
