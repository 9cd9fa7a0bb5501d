"""The main job: what this machine's Linux kernel splices do, judged against the reference model.

Until the conformance engine (issue 4) and the full live adapters (issue 5) land, this report runs
the pieces that exist, each honestly labelled:

1. the Z3 proofs of the model (``spec/proofs``);
2. the lab's preflight (what the machine lacks is printed and the live part is SKIPPED, not passed);
3. Linux SYNPROXY probed with crafted packets (``adapters/synproxy_probe``) for several ISN/TS plans,
   wrap-around included. The splice constants are learnt from the observed handshakes (cookie ISN,
   server ISN, timestamps, window scales), every relayed segment the probe injected is run through
   the reference relay, and the kernel's output is compared field by field. Each difference names its
   requirement and is graded by the requirement's level: FAIL (MUST), NON-STRICT (SHOULD), INFO (MAY).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tabulate import tabulate

from . import __version__
from .reference.checksum import tcp_checksum
from .reference.codec import decode, encode
from .reference.relay import Endpoint, Leg, SpliceState, relay
from .reference.segment import ACK, Sack, Segment, Timestamps, addr
from .spec.requirements import BY_ID, Level

if TYPE_CHECKING:
    from .adapters.synproxy_probe import ProbePlan

_GRADE = {Level.MUST: "FAIL", Level.SHOULD: "NON-STRICT", Level.MAY: "INFO"}


@dataclass(frozen=True, slots=True)
class Check:
    case: str
    req: str
    field: str
    expected: object
    actual: object

    @property
    def verdict(self) -> str:
        return "PASS" if self.expected == self.actual else _GRADE[BY_ID[self.req].level]


def _fmt(v: object) -> str:
    return f"{v} ({v:#x})" if isinstance(v, int) and not isinstance(v, bool) and v > 9 else str(v)


def synproxy_state(rec: object) -> SpliceState:
    """Splice constants of one SYNPROXY connection, learnt from its handshake (an empty OK message).

    SYNPROXY is transparent: on leg C the proxy answers with the server's address, on leg D with the
    client's. Base points: client→server from the client's ISN to the proxy's SYN ISN (the same);
    server→client from the server's ISN to the cookie ISN. Timestamps: the proxy's SYN-ACK TSval is
    the last it sent the client, the server's SYN-ACK TSval the last received from the server; the
    client's TSval is passed on as the proxy's SYN carried it.
    """
    from .adapters.synproxy_probe import SynproxyRecord

    assert isinstance(rec, SynproxyRecord)
    p, cfg = rec.plan, rec.config
    syn = rec.step("client-syn").sent
    cli = Endpoint(addr(syn.src), p.client_port)
    srv = Endpoint(addr(syn.dst), cfg.port)
    m = 0xFFFF_FFFF
    c_ts = rec.server_syn_tsval or 0
    leg_c = Leg(cli, srv, splice_irs=(rec.client_isn + 1) & m, splice_iss=(rec.cookie_isn + 1) & m,
                timestamps=p.client_timestamps and rec.proxy_tsval is not None, lastrecv_ts=c_ts,
                lastsent_ts=rec.proxy_tsval or 0, sack=p.client_sack_perm and "SAckOK" in rec.synack_options,
                peer_wscale=p.client_wscale if rec.synack_wscale is not None else None,
                local_wscale=rec.synack_wscale if p.client_wscale is not None else None, peer_mss=p.client_mss)
    leg_d = Leg(srv, cli, splice_irs=(rec.server_isn + 1) & m, splice_iss=(rec.server_syn_isn + 1) & m,
                timestamps=p.server_timestamps and rec.server_syn_tsval is not None,
                lastrecv_ts=rec.server_synack_tsval or 0, lastsent_ts=c_ts,
                sack=p.server_sack_perm and "SAckOK" in rec.server_syn_options,
                peer_wscale=p.server_wscale if rec.server_syn_wscale is not None else None,
                local_wscale=rec.server_syn_wscale if p.server_wscale is not None else None, peer_mss=p.server_mss)
    return SpliceState(leg_c, leg_d)


def compare(case: str, expected: Segment, actual: Segment) -> Iterator[Check]:
    e, a = expected, actual
    yield Check(case, "ADDR-REWRITE", "ip.src/dst", (e.ip.src, e.ip.dst), (a.ip.src, a.ip.dst))
    yield Check(case, "PORT-REWRITE", "tcp.sport/dport", (e.tcp.sport, e.tcp.dport), (a.tcp.sport, a.tcp.dport))
    yield Check(case, "SEQ-MAP", "tcp.seq", e.tcp.seq, a.tcp.seq)
    yield Check(case, "ACK-MAP" if e.tcp.flags & ACK else "ACK-NOACK", "tcp.ack", e.tcp.ack, a.tcp.ack)
    yield Check(case, "FLAGS-KEEP", "tcp.flags", e.tcp.flags, a.tcp.flags)
    yield Check(case, "PAYLOAD-KEEP", "payload", e.payload, a.payload)
    yield Check(case, "WS-EXACT", "tcp.window", e.tcp.window, a.tcp.window)
    yield Check(case, "TTL-DEC", "ip.ttl", e.ip.hop_limit, a.ip.hop_limit)
    ets, ats = e.tcp.option(Timestamps), a.tcp.option(Timestamps)
    if isinstance(ets, Timestamps) or isinstance(ats, Timestamps):
        yield Check(case, "TS-VAL", "tcp.options.TS.tsval", getattr(ets, "tsval", None), getattr(ats, "tsval", None))
        yield Check(case, "TS-ECR", "tcp.options.TS.tsecr", getattr(ets, "tsecr", None), getattr(ats, "tsecr", None))
    es, as_ = e.tcp.option(Sack), a.tcp.option(Sack)
    if es is not None or as_ is not None:
        yield Check(case, "SACK-MAP", "tcp.options.SACK", getattr(es, "blocks", None), getattr(as_, "blocks", None))
    raw = encode(a)
    valid = tcp_checksum(a.ip.src, a.ip.dst, raw[a.ip.header_length:]) == a.tcp.checksum
    yield Check(case, "TCPCSUM-VALID", "tcp.checksum valid", True, valid)


def window_safety(case: str, state: SpliceState, sent: Segment, actual: Segment) -> Check:
    """WS-SAFE: what the receiver will believe (field << its shift) must not exceed the real window."""
    from_client = sent.ip.src == state.client.peer.addr and sent.tcp.sport == state.client.peer.port
    leg_in, leg_out = (state.client, state.server) if from_client else (state.server, state.client)
    real = sent.tcp.window << leg_in.recv_shift
    believed = actual.tcp.window << leg_out.send_shift
    return Check(case, "WS-SAFE", "window believed <= real", True, believed <= real)


def judge_synproxy(rec: object, label: str) -> list[Check]:
    from .adapters.lab import Leg as LabLeg
    from .adapters.synproxy_probe import SynproxyRecord

    assert isinstance(rec, SynproxyRecord)
    state = synproxy_state(rec)
    checks: list[Check] = []
    client_offered_ws = rec.plan.client_wscale is not None
    if client_offered_ws:
        checks.append(Check(f"{label}/handshake", "WS-ZERO", "SYN-ACK wscale", 0, rec.synack_wscale))
        checks.append(Check(f"{label}/handshake", "WS-PROPAGATE", "proxy SYN wscale", rec.plan.client_wscale,
                            rec.server_syn_wscale))
    for step in rec.steps:
        if step.name in ("client-syn", "client-ack", "server-synack"):
            continue  # the handshakes are the proxy's own, not relayed segments
        sent = decode(step.sent.raw)
        out_leg = LabLeg.SERVER if step.name.startswith("client") else LabLeg.CLIENT
        result = relay(state, sent, 0.0)
        actual = [decode(v.raw) for v in step.on(out_leg)]
        expected = list(result.segments)
        case = f"{label}/{step.name}"
        if len(actual) != len(expected):
            checks.append(Check(case, "SEQ-MAP", "segments emitted", len(expected), len(actual)))
        for e, a in zip(expected, actual, strict=False):
            checks.extend(compare(case, e, a))
            checks.append(window_safety(case, state, sent, a))
    return checks


def plans() -> list[tuple[str, ProbePlan]]:
    from .adapters.synproxy_probe import ProbePlan

    m = 0xFFFF_FFFF
    return [
        ("plain", ProbePlan(client_port=40001)),
        ("wrap", ProbePlan(client_port=40002, client_isn=m - 3, server_isn=m - 10, client_tsval=m - 1,
                           server_tsval=m - 2)),
        ("same-wscale", ProbePlan(client_port=40003, client_wscale=7, server_wscale=7, finish="client-rst")),
    ]


def main(args: argparse.Namespace) -> int:
    print(f"splicecheck {__version__} — report on Linux {platform.release()} ({time.strftime('%Y-%m-%d')})\n")
    rc = 0
    try:
        from .spec import proofs
    except ImportError:
        print("proofs: not available in this build\n")
    else:
        results = proofs.run_proofs()
        print("Z3 proofs of the reference model:")
        print(proofs.render_table(results), "\n")
        rc |= 0 if all(r.ok for r in results) else 1

    from .adapters.preflight import preflight

    missing = preflight("root", "ip", "nft", "netns", "veth", "packet", "synproxy")
    if missing:
        print("SKIPPED live SYNPROXY checks: " + "; ".join(missing))
        return rc
    from .adapters.lab import Lab
    from .adapters.synproxy_probe import SynproxyConfig, load_synproxy, probe_handshake

    checks: list[Check] = []
    with Lab() as lab:
        cfg = SynproxyConfig()
        load_synproxy(lab, cfg)
        for label, plan in plans():
            checks += judge_synproxy(probe_handshake(lab, cfg, plan, load=False), label)
    bad = [c for c in checks if c.verdict != "PASS"]
    print(f"Linux SYNPROXY (nft synproxy mss {cfg.mss} wscale {cfg.wscale} timestamp sack-perm), "
          f"{len(checks)} field checks against the reference model:")
    per_req: dict[str, list[Check]] = {}
    for c in checks:
        per_req.setdefault(c.req, []).append(c)
    rows = []
    for req, cs in per_req.items():
        failing = [c for c in cs if c.verdict != "PASS"]
        rows.append(("×" if failing else "✔", req, BY_ID[req].level.value, failing[0].verdict if failing else "PASS",
                     f"{len(cs) - len(failing)}/{len(cs)}"))
    print(tabulate(rows, headers=["", "requirement", "level", "verdict", "checks passed"]))
    if bad:
        print("\nDifferences (expected = reference model, actual = kernel):")
        for c in bad:
            print(f"  {c.verdict:<10} {c.req:<14} {c.case:<26} field {c.field}: expected {_fmt(c.expected)} "
                  f"vs actual {_fmt(c.actual)}")
    fails = sum(c.verdict == "FAIL" for c in checks)
    print(f"\n{len(checks) - len(bad)} passed, {fails} failed, {len(bad) - fails} non-strict/info")
    return rc
