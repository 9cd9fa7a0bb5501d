"""What the subcommands of ``splicecheck`` share: option groups (parent parsers), output folders, usage errors.

Each shared group of options is defined once here, as a parent parser that ``splicecheck.cli`` gives to
every subcommand that takes it (``parents=[...]``). A parent is built afresh for each subcommand
(argparse shares the option objects of a parent between its children, so a per-command default
must not be set on a shared one).

Generated output goes under :data:`OUT` (``out/``, git-ignored) unless ``--out`` says otherwise;
reports meant to be read by others are published on purpose into :data:`PUBLISHED`
(``splicecheck report-kernel --publish``, or ``--out reports/published/...``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .conformance.results import CASE_KINDS

#: Where generated output goes by default (git-ignored).
OUT = Path("out")
#: Reports published on purpose (committed).
PUBLISHED = Path("reports") / "published"
#: Each live adapter's known findings, classified (``expectations/<adapter>.toml``, README "Findings and
#: expected findings"), found relative to the repository.
EXPECTATIONS = Path("expectations")


def committed_expectations(spec: str) -> Path | None:
    """The committed expectations file of adapter ``spec`` (run from the repository), if it has one."""
    from .reports.render import safe_name

    path = EXPECTATIONS / f"{safe_name(spec)}.toml"
    return path if path.is_file() else None


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (workers, jobs, examples per chunk)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {n}")
    return n


class UsageError(Exception):
    """A combination of options that parsed but makes no sense; ``splicecheck.cli`` reports it as
    argparse does (usage, then ``PROG: error: MESSAGE``) and exits 2."""


def selection(seed_default: int | None) -> argparse.ArgumentParser:
    """Case selection (``--case``, ``--req``, ``--kind``) and the seed of the generated cases."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("case selection")
    g.add_argument("--case", action="append", default=[], metavar="ID",
                   help="run this case, or every case under this ID prefix (repeatable)")
    g.add_argument("--req", action="append", default=[], metavar="REQ-ID",
                   help="run the cases targeting this requirement (repeatable)")
    g.add_argument("--kind", action="append", default=[], choices=[k.value for k in CASE_KINDS],
                   help="only cases of this kind (repeatable)")
    g.add_argument("--seed", type=int, default=seed_default,
                   help="seed of the property and stateful cases"
                        + ("" if seed_default is None else f" (default {seed_default})"))
    return p


def output(default: str) -> argparse.ArgumentParser:
    """``--out DIR``; ``default`` says where output goes without it."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help=f"output folder (default {default})")
    return p


def rendering() -> argparse.ArgumentParser:
    """``--no-render`` and ``-q``: what a run prints and writes besides its results.jsonl."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--no-render", action="store_true", help="write results.jsonl only")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-case progress")
    return p


def evidence() -> argparse.ArgumentParser:
    """``--evidence``: whose packets results.jsonl keeps."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--evidence", choices=["failing", "all"], default="failing",
                   help="whose packets results.jsonl keeps: cases that did not pass (default), or all")
    return p


def table_format() -> argparse.ArgumentParser:
    """``--format``: the tabulate format of a printed table."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--format", default="simple", help="tabulate table format (simple, github, ...)")
    return p


def expect() -> argparse.ArgumentParser:
    """``--expect FILE``: the IUT's known findings (TOML, ``conformance.expectations``); the exit code then
    says whether anything unexpected happened."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--expect", type=Path, default=None, metavar="FILE",
                   help="known findings (TOML): report expected, unexpected and unexpectedly passing; "
                        "exit 0 when nothing unexpected happened")
    return p
