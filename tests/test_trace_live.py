"""Live validation of ``splicecheck trace``: a lab run of Linux SYNPROXY, judged live and offline, agrees.

The ``synproxy`` adapter drives every named case the kernel can take through nft SYNPROXY in the lab;
:class:`~trace_lab.RecordingAdapter` writes both legs to pcaps as it goes. The
live run grades each case (``run_case``: the model against what the adapter observed); the trace
checker then judges the recording with no knowledge of the cases — inferring each connection's
parameters from its handshakes — and must find the same differences, field by field and step by step,
for every connection. (The handshake checks the trace makes on every connection — WS-ZERO, MSS-536, HS-* —
are compared where the live case makes the same requirement's checks.)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from splicecheck.conformance.catalog import select
from splicecheck.conformance.contract import load_adapter
from splicecheck.conformance.runner import run_case
from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine
from splicecheck.conformance.trace.params import endpoint_text
from trace_lab import RecordingAdapter

pytestmark = pytest.mark.live


def test_synproxy_live_and_offline_verdicts_agree(tmp_path: Path) -> None:
    inner = load_adapter("synproxy")
    missing = getattr(inner, "missing", lambda: [])()
    if missing:
        pytest.skip("the lab cannot run here: " + "; ".join(missing))
    rec = RecordingAdapter(inner, tmp_path / "client.pcap", tmp_path / "server.pcap")
    runs = []
    try:
        for case in select([], [], ["named"]):
            n = len(rec.sessions)
            result = run_case(rec, case, "synproxy")
            runs.append((case.id, result, [s.inner.state.client.peer for s in rec.sessions[n:]]))
    finally:
        rec.close()
    # a connection is finished before the next session starts (2 s apart), so that a later case's
    # deliberately foreign segment (a neighbouring port) cannot land on an earlier session's 4-tuple
    results = TraceEngine(tmp_path / "client.pcap", tmp_path / "server.pcap", TraceConfig(idle_timeout=0.5)).run()
    by_case = {r.case: r for r in results}
    seen: Counter[str] = Counter()
    compared = 0
    disagreements = []
    for case_id, live, clients in runs:
        if len(clients) != 1:
            assert not clients, case_id  # named cases open one session, or none (UNSUPPORTED)
            continue
        ep = endpoint_text(clients[0])
        seen[ep] += 1
        cid = f"trace/{ep}>"
        (traced,) = [r for k, r in by_case.items() if k.startswith(cid)
                     and (k.endswith(f"#{seen[ep]}") if seen[ep] > 1 else "#" not in k)]
        live_fields = sorted((d.step, d.field) for d in live.diffs)
        live_early = {d.req for d in live.diffs if d.step < 0}  # handshake checks the live case made
        trace_fields = sorted((d.step, d.field) for d in traced.diffs if d.step >= 0 or d.req in live_early)
        compared += 1
        if live_fields != trace_fields:
            disagreements.append((case_id, live.verdict.value, live_fields[:4], traced.verdict.value, trace_fields[:4]))
    assert compared > 150
    assert not disagreements, disagreements
