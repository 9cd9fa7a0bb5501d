"""``splicecheck compare``: two real runs (the reference model and a mutant, on the SEQ-MAP cases) differ by
exactly what the mutant breaks; the worse direction exits 1, the better 0, bad input 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splicecheck", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("compare")
    for name, adapter in (("ref", "reference"), ("mut", "mutant:unmasked-seq")):
        p = _cli("run", "--adapter", adapter, "--case", "SEQ-MAP", "-q", "--out", str(base / name))
        assert p.returncode in (0, 1), p.stderr
    return base / "ref", base / "mut"


def test_reference_to_mutant_lists_exactly_the_difference(runs: tuple[Path, Path]) -> None:
    ref, mut = runs
    ref_index = json.loads((ref / "index.json").read_text())
    mut_index = json.loads((mut / "index.json").read_text())
    assert not ref_index["findings"] and all(c["verdict"] == "PASS" for c in ref_index["cases"])
    broken = sorted(c["case"] for c in mut_index["cases"] if c["verdict"] != "PASS")
    assert broken  # the mutant is killed by some SEQ-MAP cases, not all
    assert len(broken) < len(mut_index["cases"])
    p = _cli("compare", str(ref), str(mut))
    assert p.returncode == 1, p.stdout + p.stderr
    text = p.stdout
    worse = text.split("cases that got worse")[1].split("\n\n")[0].splitlines()[1:]
    assert sorted(line.split(":")[0].strip() for line in worse) == broken
    new = text.split("new findings")[1].split("\n\n")[0].splitlines()[1:]
    assert sorted(line.split()[0] for line in new) == sorted(f["id"] for f in mut_index["findings"])
    for absent in ("fixed findings", "got better", "only in", "verdict moved", "run or not run"):
        assert absent not in text
    assert text.rstrip().endswith("REGRESSION")


def test_mutant_to_reference_is_no_regression_and_markdown(runs: tuple[Path, Path], tmp_path: Path) -> None:
    ref, mut = runs
    p = _cli("compare", str(mut / "results.jsonl"), str(ref / "index.json"), "--format", "md",
             "--out", str(tmp_path / "cmp.md"))
    assert p.returncode == 0, p.stdout + p.stderr
    md = (tmp_path / "cmp.md").read_text()
    assert "## Fixed findings" in md and "## Cases that got better" in md and "## New findings" not in md
    assert "no regression" in p.stdout
    same = _cli("compare", str(ref), str(ref))
    assert same.returncode == 0 and "0 new, 0 fixed" in same.stdout


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "missing.jsonl", tmp_path / "empty"):
        p = _cli("compare", str(bad), str(bad))
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_matrix_compares_each_kernel_with_the_first(runs: tuple[Path, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``splicecheck matrix`` ends with one compare per adapter and later kernel: here the reference run
    stands for the first kernel's and the mutant's for the second's, laid out as matrix writes them."""
    import shutil

    from splicecheck.cli_matrix import compare_kernels

    ref, mut = runs
    folders = []
    for release, run in (("6.1.0-old", ref), ("6.18.0-new", mut)):
        folder = tmp_path / release / "synproxy"
        shutil.copytree(run, folder)
        folders.append(folder)
    (tmp_path / "matrix").mkdir()
    compare_kernels(folders, tmp_path)
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("synproxy:"))
    assert "6.1.0-old -> 6.18.0-new" in line and "REGRESSION" in line
    md = (tmp_path / "matrix" / "compare-synproxy-6.1.0-old-vs-6.18.0-new.md").read_text()
    assert "## New findings" in md and "## Cases that got worse" in md
