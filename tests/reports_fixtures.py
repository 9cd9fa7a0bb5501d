"""A small synthetic run for the report tests: every verdict, real packets, fixed numbers and times.

The packets are real: an input built with ``splice_fixtures``, the expected output written out by hand
(the mapped numbers are worked out in the comments, so the golden files do not move when the model's
code does), and an "actual" output that a buggy IUT could have sent (one field changed, checksums
recomputed), all encoded by the model's codec into the hex strings the runner writes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from splice_fixtures import CLIENT, PROXY_C, PROXY_D, SERVER, seg, state
from splicecheck.conformance.results import (
    CaseKind,
    CaseResult,
    FieldDiff,
    Geometry,
    RunFooter,
    RunHeader,
    StepRecord,
    Verdict,
)
from splicecheck.reference.codec import encode
from splicecheck.reference.relay import Endpoint
from splicecheck.reference.segment import ACK, FIN, PSH, IPv4Header, Segment, TcpHeader
from splicecheck.reports.load import Run

HEADER = RunHeader(
    iut="mutant:seq-off-by-one",
    iut_version="0.1.0",
    iut_description="The reference splice with one bug: sequence numbers mapped one short.",
    splicecheck_version="0.1.0",
    started="2026-01-02T03:04:05+00:00",
    adapter="mutant:seq-off-by-one",
    seed=1234,
    argv=["splicecheck", "run", "--iut", "mutant:seq-off-by-one", "--seed", "1234"],
    details={"kernel": "6.1.0-test", "python": "3.11"},
)
FOOTER = RunFooter(finished="2026-01-02T03:04:07+00:00", duration=2.25,
                   counts={"PASS": 3, "FAIL": 2, "NON-STRICT": 1, "INFO": 1, "UNSUPPORTED": 1, "SKIPPED": 1,
                           "ERROR": 1})


def _hex(s: Segment) -> str:
    return encode(s).hex()


def _out(src: Endpoint, dst: Endpoint, seq: int, ack: int, payload: bytes = b"", flags: int = ACK) -> Segment:
    """What the splice emits (IPv4, as ``splice_fixtures.seg`` builds the input: DF, IP ID kept, TTL 64 - 1)."""
    ip = IPv4Header(src.addr, dst.addr, ident=0x1234, flags=0b010, ttl=63)
    return Segment(ip, TcpHeader(src.port, dst.port, seq, ack, flags, 1000), payload)


def _tweak(s: Segment, **tcp: int) -> Segment:
    """``s`` with TCP fields changed and its checksum recomputed (what a buggy splice emits)."""
    return Segment(s.ip, dataclasses.replace(s.tcp, checksum=None, **tcp), s.payload)


def _step(inp: Segment, expected: Segment | None, actual: Segment | None, leg_in: str = "client") -> StepRecord:
    out = "to_server" if leg_in == "client" else "to_client"
    kw: dict[str, object] = {
        f"expected_{out}": [_hex(expected)] if expected is not None else [],
        f"actual_{out}": [_hex(actual)] if actual is not None else [],
    }
    return StepRecord(leg_in=leg_in, input=_hex(inp), summary_input=inp.summary(),
                      summary_expected=[expected.summary()] if expected is not None else [],
                      summary_actual=[actual.summary()] if actual is not None else [],
                      **kw)  # type: ignore[arg-type]


def results() -> list[CaseResult]:
    # SEQ-MAP across the wrap: client base 2^32 - 16, data at 2^32 - 4 (c2s: seq maps onto the server leg)
    st = state(c_irs=0xFFFF_FFF0, s_iss=0x7FFF_FFF0)
    inp = seg(st, seq=0xFFFF_FFFC, ack=90001, payload=b"GET / HTTP/1.0\r\n", flags=ACK | PSH)
    # seq 0xfffffffc - 0xfffffff0 + 0x7ffffff0 = 0x7ffffffc; ack 90001 - c_iss 5000 + s_irs 90000 = 175001
    exp = _out(PROXY_D, SERVER, 0x7FFF_FFFC, 175001, inp.payload, ACK | PSH)
    act = _tweak(exp, seq=(exp.tcp.seq - 1) % 2**32)
    wrap_fail = CaseResult(
        case="SEQ-MAP-wrap-1", reqs=["SEQ-MAP"], verdict=Verdict.FAIL,
        description="data segment 12 bytes past splice_irs, across 2^32",
        expectation="seq maps to out.splice_iss + 12",
        diffs=[FieldDiff(0, 0, "tcp.seq", exp.tcp.seq, act.tcp.seq, "SEQ-MAP"),
               FieldDiff(0, 0, "tcp.checksum", "valid", "valid (recomputed)", "CSUM-FAILSAFE")],
        checked=24, steps=[_step(inp, exp, act)],
        geometry=[Geometry(st.client.splice_irs, st.server.splice_iss, inp.tcp.seq, inp.seg_len, "c2s")],
        duration=0.0125, repro="splicecheck run --iut mutant:seq-off-by-one --case SEQ-MAP-wrap-1", seed=1234)

    st2 = state()
    inp2 = seg(st2, seq=1000, ack=90001, payload=b"hello")
    exp2 = _out(PROXY_D, SERVER, 70000, 175001, b"hello")  # seq 1000 - 1000 + 70000
    basic = CaseResult(
        case="SEQ-MAP-basic", reqs=["SEQ-MAP", "ACK-MAP"], verdict=Verdict.PASS,
        description="a data segment at splice_irs", expectation="seq = out.splice_iss, ack mapped",
        checked=24, steps=[_step(inp2, exp2, exp2)],
        geometry=[Geometry(1000, 70000, 1000, 5, "c2s")], duration=0.004,
        repro="splicecheck run --iut mutant:seq-off-by-one --case SEQ-MAP-basic")

    # TRIM-HALF: the segment starts exactly 2^31 from the base (counts as below it); the IUT relayed it
    inp3 = seg(st2, seq=(1000 + 2**31) % 2**32, ack=90001, payload=b"x" * 10, flags=ACK | FIN)
    exp3 = _out(PROXY_D, SERVER, 70000, 175001)  # a pure ACK at the base (TRIM-BELOW)
    # the buggy IUT relayed the data (mapped seq, FIN kept) instead
    act3 = _out(PROXY_D, SERVER, (70000 + 2**31) % 2**32, 175001, b"x" * 10, ACK | FIN)
    half = CaseResult(
        case="TRIM-HALF-1", reqs=["TRIM-HALF", "TRIM-SOUND"], verdict=Verdict.FAIL,
        description="segment at splice_irs + 2^31 (undefined serial order: below)",
        expectation="a pure ACK at splice_irs, no data",
        diffs=[FieldDiff(0, 0, "payload.length", 0, 10, "TRIM-HALF"),
               FieldDiff(0, 0, "tcp.seq", exp3.tcp.seq, act3.tcp.seq, "TRIM-HALF")],
        checked=20, steps=[_step(inp3, exp3, act3)],
        geometry=[Geometry(1000, 70000, inp3.tcp.seq, inp3.seg_len, "c2s")], duration=0.006,
        repro="splicecheck run --iut mutant:seq-off-by-one --case TRIM-HALF-1")

    srv = seg(st2, from_client=False, seq=90001, ack=5000, payload=b"ok", window=1000)
    # seq 90001 - s_irs 90000 + c_iss 5000 = 5001; ack 5000 - s_iss 70000 + c_irs 1000 = -64000 mod 2^32
    exp4 = _out(PROXY_C, CLIENT, 5001, (5000 - 70000 + 1000) % 2**32, b"ok")
    act4 = _tweak(exp4, window=exp4.tcp.window + 1)
    nonstrict = CaseResult(
        case="WS-EXACT-round", reqs=["WS-EXACT"], verdict=Verdict.NON_STRICT,
        description="window rescaled with rounding down", expectation="window 1000",
        diffs=[FieldDiff(0, 0, "tcp.window", exp4.tcp.window, act4.tcp.window, "WS-EXACT")],
        checked=22, steps=[_step(srv, exp4, act4, leg_in="server")], duration=0.003)

    info = CaseResult(
        case="STRIP-STYLE-remove", reqs=["STRIP-STYLE"], verdict=Verdict.INFO,
        description="timestamps stripped by removal", expectation="NOP overwrite or removal",
        diffs=[FieldDiff(0, 0, "tcp.options", ["NOP", "NOP", "NOP"], [], "STRIP-STYLE")], checked=5,
        duration=0.002)
    unsupported = CaseResult(case="SEQ-MAP-v6", reqs=["SEQ-MAP"], verdict=Verdict.UNSUPPORTED,
                             description="the mapping over IPv6", reason="the IUT does not splice IPv6 (ipv6)")
    skipped = CaseResult(case="LIFE-DONTACK-1", reqs=["LIFE-DONTACK"], verdict=Verdict.SKIPPED,
                         description="server data held after INTEND_SPLICE",
                         reason="needs root and network namespaces")
    error = CaseResult(case="TRIM-REST-1", reqs=["TRIM-REST"], verdict=Verdict.ERROR,
                       description="straddling segment", reason="HarnessError: namespace sc-d vanished",
                       steps=[StepRecord(leg_in="client", input=_hex(inp2), summary_input=inp2.summary())],
                       duration=1.5)
    # the first search counted wrap coverage (a results file of today), the second did not (an older one)
    wrap_hits = {"seq@0": 41, "seq@2^32-1": 37, "seq@splice_irs": 12, "ack@0": 0, "sack@2^31": 0,
                 "end-crosses-2^32": 9, "seq@furthest+2^31": 0}
    prop = [CaseResult(case="prop-seq-map", reqs=["SEQ-MAP"], verdict=Verdict.PASS, kind=CaseKind.PROPERTY,
                       description="random segments map like the model", checked=1000, seed=s, duration=0.2,
                       coverage=wrap_hits if s == 1 else None)
            for s in (1, 2)]
    return [basic, wrap_fail, half, nonstrict, info, unsupported, skipped, error, *prop]


def run(partial: bool = False) -> Run:
    return Run(HEADER, results(), None if partial else FOOTER)


def write_jsonl(path: Path, run_: Run, *, cut_last: str | None = None) -> Path:
    """The run as the runner writes it; ``cut_last``: append this unterminated text (a crash mid-write)."""
    lines = [run_.header.to_json()] + [r.to_json() for r in run_.results]
    if run_.footer is not None:
        lines.append(run_.footer.to_json())
    text = "\n".join(lines) + "\n" + (cut_last or "")
    path.write_text(text, encoding="utf-8")
    return path


GOLDEN = Path(__file__).parent / "golden" / "reports"
REGEN = "SPLICECHECK_REGEN_GOLDEN"


def check_golden(name: str, actual: str | bytes) -> None:
    """Compare ``actual`` with ``tests/golden/reports/<name>``; with SPLICECHECK_REGEN_GOLDEN=1, rewrite it."""
    import os

    path = GOLDEN / name
    if os.environ.get(REGEN) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(actual, bytes):
            path.write_bytes(actual)
        else:
            path.write_text(actual, encoding="utf-8", newline="\n")
        return
    assert path.exists(), f"golden file {path} is missing; create it with {REGEN}=1 pytest tests/test_reports*.py"
    if isinstance(actual, bytes):
        assert actual == path.read_bytes(), f"{name} differs from its golden file; if intended: {REGEN}=1"
    else:
        expected = path.read_text(encoding="utf-8")
        if actual != expected:
            import difflib

            diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden", "actual",
                                                n=2))
            raise AssertionError(f"{name} differs from its golden file (regenerate with {REGEN}=1 if intended):\n"
                                 + diff[:6000])
