"""``splicecheck report --expect`` on recorded runs (reports/published/): the committed expectations hold, a
deleted entry makes its finding unexpected, named, and the command exit 1; index.json records the outcome."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "reports" / "published" / "linux-6.18.44"
CORRECTION_POS = "F-1dd7cb202a"  # seqadj-ftp: the sequence number passed through unmapped past 2 GiB


def _report(tmp_path: Path, iut: str, expect: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splicecheck", "report", str(PUBLISHED / iut / "results.jsonl"),
                           "--out", str(tmp_path / "r"), "--formats", "json,md,html", "--expect", str(expect)],
                          capture_output=True, text=True, cwd=ROOT)


def _without(text: str, finding: str) -> str:
    start = text.index(f'finding = "{finding}"')
    block_start = text.rindex("[[expect]]", 0, start)
    block_end = text.find("[[expect]]", start)
    return text[:block_start] + text[block_end:]


@pytest.mark.parametrize("iut", ["synproxy", "seqadj-ftp"])
def test_committed_expectations_hold_on_the_recorded_run(tmp_path: Path, iut: str) -> None:
    p = _report(tmp_path, iut, ROOT / "expectations" / f"{iut}.toml")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 unexpected, 0 unexpectedly passing" in p.stdout
    index = json.loads((tmp_path / "r" / "index.json").read_text())
    assert index["expectations"]["ok"] is True and index["expectations"]["source"] == f"{iut}.toml"
    assert index["findings"] and all(f["expectation"] == "expected" and f["class"] in ("by-design", "bug")
                                     for f in index["findings"])


def test_a_deleted_entry_is_named_and_fails_the_command(tmp_path: Path) -> None:
    committed = (ROOT / "expectations" / "seqadj-ftp.toml").read_text()
    trimmed = tmp_path / "seqadj-ftp.toml"
    trimmed.write_text(_without(committed, CORRECTION_POS))
    p = _report(tmp_path, "seqadj-ftp", trimmed)
    assert p.returncode == 1, p.stdout + p.stderr
    unexpected = [line for line in p.stdout.splitlines() if line.strip().startswith("UNEXPECTED ")]
    assert len(unexpected) == 1 and CORRECTION_POS in unexpected[0] and "no expectation names it" in unexpected[0]
    index = json.loads((tmp_path / "r" / "index.json").read_text())
    assert index["expectations"]["ok"] is False
    assert [u["finding"] for u in index["expectations"]["unexpected"]] == [CORRECTION_POS]
    assert {f["id"]: f["expectation"] for f in index["findings"]}[CORRECTION_POS] == "unexpected"
    assert "**unexpected**" in (tmp_path / "r" / "report.md").read_text()
    assert "<strong>unexpected</strong>" in (tmp_path / "r" / "report.html").read_text()


def test_unusable_expectations_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[expect]]\nstatus = 'sometimes'\nreq = 'SEQ-MAP'\n")
    p = _report(tmp_path, "synproxy", bad)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--expect" in p.stderr
