"""The pytest plugin: ``pytest --splice-adapter=NAME`` runs the conformance suite, with pytest-xdist too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_reference_passes_and_a_mutant_fails_by_case_id(tmp_path: Path, workers: list[str]) -> None:
    ok = run_pytest(tmp_path, "--splice-adapter=reference", "--splice-req", "TRIM-REST", *workers)
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert " passed" in ok.stdout and "failed" not in ok.stdout
    bad = run_pytest(tmp_path, "--splice-adapter=mutant:urg-not-shifted", "--splice-case", "URG-SHIFT", *workers)
    assert bad.returncode == 1, bad.stdout[-2000:]
    assert "FAILED" in bad.stdout and "test_case[URG-SHIFT/" in bad.stdout
    assert "reproduce: splicecheck run --adapter mutant:urg-not-shifted --case URG-SHIFT/" in bad.stdout


def test_without_the_option_the_plugin_does_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x():\n    assert True\n")
    r = run_pytest(tmp_path)
    assert r.returncode == 0 and "1 passed" in r.stdout


def test_unknown_adapter_is_an_error_not_a_pass(tmp_path: Path) -> None:
    r = run_pytest(tmp_path, "--splice-adapter=nope", "--splice-case", "SEQ-MAP")
    assert r.returncode != 0
    assert "unknown adapter" in r.stdout + r.stderr


def test_strict_makes_a_missed_should_fail(tmp_path: Path) -> None:
    """mutant:ipopt-kept breaks only a SHOULD (IPOPT-STRIP): a warning, unless --splice-strict."""
    args = ("--splice-adapter=mutant:ipopt-kept", "--splice-case", "IPOPT-STRIP")
    lenient = run_pytest(tmp_path, *args)
    assert lenient.returncode == 0, lenient.stdout[-2000:]
    assert "SpliceVerdictWarning" in lenient.stdout and "NON-STRICT" in lenient.stdout
    strict = run_pytest(tmp_path, *args, "--splice-strict")
    assert strict.returncode == 1, strict.stdout[-2000:]
    assert "FAILED" in strict.stdout and "NON-STRICT IPOPT-STRIP/" in strict.stdout
