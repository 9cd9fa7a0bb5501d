"""``splicecheck repro``: the re-basing of a case's numbers on what the reproducer learns (offline, on the
reference model), and the written reproducer run alone in an empty folder against SYNPROXY (live, root)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from splicecheck.conformance.catalog import select
from splicecheck.conformance.model import reference_state

from splicecheck.cli_repro import ReproError, dependencies, render

ROOT = Path(__file__).resolve().parent.parent


def _case(cid: str):  # type: ignore[no-untyped-def]
    return next(c for c in select([cid]) if c.id == cid)


def test_numbers_follow_the_base_they_are_written_from() -> None:
    case = _case("SEQ-MAP/server-rst-after-data")
    deps = dependencies(case, reference_state(case.scenario))
    # packets: data in, data out (to the client), RST in, RST out
    data_in, data_out, rst_in, rst_out = deps
    assert data_in["seq"][1] is None and rst_in["seq"][1] is None  # the server's own numbers: constants
    assert data_out["seq"][1] == "C_iss" and rst_out["seq"][1] == "C_iss"  # mapped onto C.splice_iss
    assert (rst_out["seq"][0] - data_out["seq"][0]) % 2**32 == 500
    assert data_in["ack"][1] == "D_iss"  # the server acknowledges what the proxy sent it
    if "tsval" in data_out:
        assert data_out["tsval"][1] == "C_ts"


def test_generated_and_malformed_cases_are_refused() -> None:
    from splicecheck.cli_repro import case_data
    with pytest.raises(ReproError, match="generated"):
        case_data(_case("prop/seq-ack"), "synproxy")
    with pytest.raises(ReproError, match="synproxy adapter's lab only"):
        case_data(_case("SEQ-MAP/interleaved"), "reference")


def test_template_imports_nothing_of_splicecheck() -> None:
    text = render({"case": "X", "iut": "i", "description": "d"})
    tree = ast.parse(text)
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "splicecheck" not in mods and mods <= {
        "__future__", "array", "atexit", "ctypes", "fcntl", "json", "os", "select", "signal", "socket", "struct",
        "subprocess", "sys", "threading", "time", "typing", "scapy"}


def _lab_missing() -> list[str]:
    from splicecheck.adapters.lab.preflight import preflight
    return preflight("root", "ip", "netns", "veth", "packet", "nft", "synproxy") if os.geteuid() == 0 else ["root"]


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.parametrize(("case", "code"), [("SEQ-MAP/server-rst-after-data", 1), ("SEQ-MAP/server-rst-mapped", 0)])
def test_reproducer_alone_in_an_empty_folder(tmp_path: Path, case: str, code: int) -> None:
    missing = _lab_missing()
    if missing:
        pytest.skip("Linux lab unavailable: " + "; ".join(missing))
    script = tmp_path / "gen" / "repro.py"
    script.parent.mkdir()
    gen = subprocess.run([sys.executable, "-m", "splicecheck", "repro", case, "--adapter", "synproxy",
                          "-o", str(script)], capture_output=True, text=True, cwd=ROOT)
    assert gen.returncode == 0, gen.stderr
    alone = tmp_path / "empty"
    alone.mkdir()
    shutil.copy(script, alone / "repro.py")
    p = subprocess.run([sys.executable, "-I", "repro.py"], capture_output=True, text=True, cwd=alone, timeout=120)
    assert p.returncode == code, p.stdout + p.stderr
    if code == 1:
        assert "DEPARTURE at step 1" in p.stdout and "seq: expected" in p.stdout and "(-500)" in p.stdout
    else:
        assert "no departure" in p.stdout
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "scr" not in left
