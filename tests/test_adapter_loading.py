"""``--adapter module:Class`` with a plain (undotted) module: on ``sys.path`` or in the current directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from splicecheck.conformance.contract import AdapterNotFound, load_adapter

MODULE = '''
from splicecheck.adapters.reference import ReferenceAdapter


class MyAdapter(ReferenceAdapter):
    name = "my-adapter"

    def __init__(self, arg: str = "") -> None:
        super().__init__()
        self.arg = arg
'''


@pytest.fixture
def plain_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module file ``sc_plain_adapter.py`` in a fresh current directory that is not on ``sys.path``."""
    (tmp_path / "sc_plain_adapter.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "sc_plain_adapter", raising=False)
    return "sc_plain_adapter"


def test_plain_module_in_the_current_directory(plain_module: str) -> None:
    adapter = load_adapter(f"{plain_module}:MyAdapter:some-arg")
    assert adapter.name == "my-adapter" and vars(adapter)["arg"] == "some-arg"
    assert sys.path[-1] == str(Path.cwd())  # appended: it never shadows an installed module


def test_plain_module_on_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "sc_plain_adapter2.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "sc_plain_adapter2", raising=False)
    assert load_adapter("sc_plain_adapter2:MyAdapter").name == "my-adapter"


def test_plain_module_errors(plain_module: str) -> None:
    for bad in ("sc_no_such_module:X", f"{plain_module}:Nope", "sc_plain_adapter"):
        with pytest.raises(AdapterNotFound):
            load_adapter(bad)


def test_cli_plain_module_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "sc_plain_adapter.py").write_text(MODULE, encoding="utf-8")
    exe = Path(sys.executable).with_name("splicecheck")
    done = subprocess.run([str(exe), "run", "--adapter", "sc_plain_adapter:MyAdapter", "--case", "SEQ-MAP",
                           "--out", str(tmp_path / "out"), "--no-render", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_strict_fails_a_run_that_missed_only_a_should(tmp_path: Path) -> None:
    """``splicecheck run --strict``: NON-STRICT exits 1 (h2spec's strict mode); without it, 0."""
    exe = Path(sys.executable).with_name("splicecheck")
    codes = []
    for strict in ([], ["--strict"]):
        done = subprocess.run([str(exe), "run", "--adapter", "mutant:ipopt-kept", *strict,
                               "--out", str(tmp_path / "out"), "--no-render", "-q"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        codes.append(done.returncode)
    assert codes == [0, 1]
