"""Run mypy on the package as it is installed: ``splicecheck.reference``, ``splicecheck.spec``, ...

The top-level folders are installed under one import root by setuptools' ``package-dir`` (docs/ARCHITECTURE.md,
"How the package is assembled"), a mapping mypy cannot follow: run on the folders themselves it cannot resolve
``from ..reference import ...`` and silently types every cross-package name as ``Any``. So this builds
``.typecheck/splicecheck/`` — symbolic links arranged as the installed package — and checks that.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("reference", "spec", "conformance", "adapters", "reports")


def build_tree() -> Path:
    tree = ROOT / ".typecheck" / "splicecheck"
    if tree.parent.exists():
        shutil.rmtree(tree.parent)
    tree.mkdir(parents=True)
    for f in sorted((ROOT / "splicecheck").glob("*.py")):
        (tree / f.name).symlink_to(f)
    for name in SUBPACKAGES:
        (tree / name).symlink_to(ROOT / name, target_is_directory=True)
    return tree


def main() -> int:
    tree = build_tree()
    out, err, rc = api.run(["--config-file", str(ROOT / "pyproject.toml"), str(tree), *sys.argv[1:]])
    sys.stdout.write(out.replace(".typecheck/", "").replace(str(ROOT) + "/", ""))
    sys.stderr.write(err)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
