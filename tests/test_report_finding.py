"""``splicecheck report --finding ID``: one finding as plain text for a maintainer, from a recorded run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYNPROXY = ROOT / "reports" / "published" / "linux-6.18.44" / "synproxy" / "results.jsonl"
RST_BUG = "F-9cd29203d1"
ODD_TS_CSUM = "F-e03a8df0dd"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splicecheck", "report", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_rst_finding_text_has_iut_configuration_packets_and_the_marked_field() -> None:
    p = _cli("--finding", RST_BUG, str(SYNPROXY))
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert text.startswith("[FAIL] RST sequence number relayed towards the client at C.splice_iss")
    for needed in ("kernel: Linux 6.18.44", "ruleset (nft list ruleset):", "synproxy mss 1460 wscale 7",
                   "sysctls (proxy namespace): net.netfilter.nf_conntrack_tcp_loose=0",
                   "reproduce: splicecheck run --adapter synproxy --case SEQ-MAP/server-rst-after-data",
                   "SEQ-MAP (MUST; paper §3.2, §3.3)"):
        assert needed in text
    lines = text.splitlines()
    actual_rst = next(k for k, line in enumerate(lines) if "Flags [R.]" in line and "actual (IUT)" in lines[k - 1])
    carets = lines[actual_rst + 1]
    start = carets.index("^")
    assert lines[actual_rst][start:].startswith("seq ")  # the caret is under the wrong sequence number
    expected_rst = lines[actual_rst - 2]
    exp_seq = expected_rst.split(" seq ")[1].split(",")[0]
    act_seq = lines[actual_rst].split(" seq ")[1].split(",")[0]
    assert f"to_client[0].tcp.seq: expected {exp_seq} " in text and f"actual {act_seq} " in text


def test_checksum_finding_marks_the_incorrect_checksum() -> None:
    p = _cli("--finding", ODD_TS_CSUM, str(SYNPROXY))
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    k = next(k for k, line in enumerate(lines) if "(incorrect)" in line)
    assert lines[k][lines[k + 1].index("^"):].startswith("cksum 0x")


def test_unknown_finding_is_one_line_exit_1() -> None:
    p = _cli("--finding", "F-0000000000", str(SYNPROXY))
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and RST_BUG in p.stderr
