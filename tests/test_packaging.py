"""The install exposes one import root, splicecheck.*, and no generic top-level names."""

import subprocess
import sys


def test_generic_names_are_not_importable_outside_the_repo(tmp_path):
    for name in ("reference", "spec", "conformance", "adapters", "reports"):
        r = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode != 0, f"import {name} worked outside the repository"
        assert "ModuleNotFoundError" in r.stderr


def test_splicecheck_subpackages_import_outside_the_repo(tmp_path):
    code = "import splicecheck.reference.codec, splicecheck.reference.seqspace; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
