"""Regenerate the capture fixtures of ``tests/test_trace_*.py`` (run from the repository root).

    .venv/bin/python tests/data/trace/make_fixtures.py            # the synthetic ones
    .venv/bin/python tests/data/trace/make_fixtures.py --live     # also the SYNPROXY recording (root, lab)

Synthetic (deterministic; the reference adapter, or a mutant of it, recorded on both legs):

* ``reference-{client,server}``: one SOCKS-like splice, every option on both legs, ISNs and timestamps
  near the wrap, 30 segments and the FINs; client leg pcap (µs), server leg pcapng (ns). No difference.
* ``seq-off-by-one-{client,server}``: the same through a relay whose sequence numbers are one too
  high (checksums recomputed): SEQ-MAP fails on every relayed segment.
* ``socks-{client,server}``: a splice after a pre-splice exchange (the client's 12-byte request, the
  proxy's rewritten copy, the server's 6-byte banner and its copy, a 5-byte OK message), IPv4 over
  Ethernet with an 802.1Q tag on the client leg and Linux SLL2 on the server leg. No difference.
* ``truncated-client.pcap``: ``reference-client.pcap`` cut in the middle of a record.

Live (``--live``): ``synproxy-{client,server}.pcap`` — Linux nft SYNPROXY in the lab driven by the
``synproxy`` adapter through a handful of named cases and recorded by
:class:`~trace_lab.RecordingAdapter`; ``synproxy-live.json`` holds, per session,
the case, the client endpoint, the splice state the adapter learnt and every injection with what the
kernel emitted — what the live judgement rests on, so that a test can judge it again with the current
model and diff engine and compare with the trace checker's judgement of the pcaps.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

LIVE_CASES = ("SEQ-MAP/interleaved", "SEQ-MAP/server-rst-after-data", "ACK-MAP/c2s-ack-with-data",
              "SACK-MAP/c2s-one-block",
              "WS-EXACT/s2c-small-window", "WS-ZERO/client-offers-14", "TTL-EXPIRE/ipv6-hop-limit-1",
              "DIR-ONLY/foreign-source-address", "SEQ-MAP/ipv6")


def synthetic() -> None:
    from splicecheck.conformance.trace.link import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2, frame
    from trace_synth import ConnPlan, default_scenario, seq_off_by_one, synth_pair

    plan = [ConnPlan(default_scenario(), segments=30, max_payload=120)]
    synth_pair(HERE / "reference-client.pcap", HERE / "reference-server.pcapng", plan, seed=1,
               formats=("pcap", "pcapng-ns"))
    synth_pair(HERE / "seq-off-by-one-client.pcap", HERE / "seq-off-by-one-server.pcap", plan, seed=1,
               relay_fn=seq_off_by_one)
    socks = [ConnPlan(default_scenario(client_presplice=12, server_presplice=6, ok_len=5), segments=20,
                      max_payload=100)]
    # the two legs in different link types: write raw, then re-frame
    tmp_c, tmp_s = HERE / "_c.pcap", HERE / "_s.pcap"
    synth_pair(tmp_c, tmp_s, socks, seed=2)
    from splicecheck.conformance.trace.capture import PcapngWriter, PcapWriter, open_capture

    with open_capture(tmp_c) as r, PcapngWriter(HERE / "socks-client.pcapng") as w:
        w.interface(LINKTYPE_ETHERNET)
        for ts, _lt, ip, _orig in r:
            w.write(ts, frame(LINKTYPE_ETHERNET, ip, vlan=(42,)))
    with open_capture(tmp_s) as r, PcapWriter(HERE / "socks-server.pcap", LINKTYPE_LINUX_SLL2, nanos=True) as w2:
        for ts, _lt, ip, _orig in r:
            w2.write(ts, frame(LINKTYPE_LINUX_SLL2, ip))
    tmp_c.unlink()
    tmp_s.unlink()
    data = (HERE / "reference-client.pcap").read_bytes()
    (HERE / "truncated-client.pcap").write_bytes(data[:len(data) * 2 // 3])


def live() -> None:
    from splicecheck.conformance.catalog import select
    from splicecheck.conformance.contract import load_adapter
    from splicecheck.conformance.runner import run_case
    from splicecheck.conformance.trace.params import endpoint_text, state_entry
    from trace_lab import RecordingAdapter

    cases = [c for c in select([], [], ["named"]) if c.id in LIVE_CASES]
    rec = RecordingAdapter(load_adapter("synproxy"), HERE / "synproxy-client.pcap", HERE / "synproxy-server.pcap")
    sessions = []
    try:
        for c in cases:
            n = len(rec.sessions)
            result = run_case(rec, c, "synproxy")
            for s in rec.sessions[n:]:
                sessions.append({"case": c.id, "client": endpoint_text(s.inner.state.client.peer),
                                 "verdict": result.verdict.value, "state": state_entry(s.inner.state),
                                 "steps": [{"input": raw.hex(), "to_client": [x.hex() for x in obs.to_client],
                                            "to_server": [x.hex() for x in obs.to_server]} for raw, obs in s.log]})
        kernel = rec.info().version
    finally:
        rec.close()
    (HERE / "synproxy-live.json").write_text(json.dumps({"kernel": kernel, "sessions": sessions}, indent=1) + "\n")


if __name__ == "__main__":
    synthetic()
    if "--live" in sys.argv[1:]:
        live()
