"""pytest plugin: ``pytest --splice-adapter=NAME`` runs the conformance suite against an adapter.

Registered through the ``pytest11`` entry point, so it is active wherever splicecheck is installed and
does nothing unless ``--splice-adapter`` is given. Then the run collects
:mod:`splicecheck.conformance.suite` instead of the arguments' tests: one test per case, named by
case ID, which fails on FAIL or ERROR, is skipped on UNSUPPORTED/SKIPPED (with the reason) and passes
otherwise; NON-STRICT and INFO verdicts are reported as warnings. Every xdist worker collects the
same cases in the same order and opens its own adapter (live labs are named per worker).

A case that saw a MUST broken first-hand outside its targets is FAIL (its verdict, see
:mod:`splicecheck.conformance.results`), and the failure names that requirement.

Options: ``--splice-case ID`` / ``--splice-req ID`` (repeatable) select cases, ``--splice-seed N``
seeds the property cases, ``--splice-strict`` makes NON-STRICT fail its test as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = Path(__file__).with_name("suite.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("splicecheck", "TCP Splice conformance")
    g.addoption("--splice-adapter", default=None, metavar="NAME",
                help="run splicecheck's conformance suite against this adapter (reference, mutant:NAME, "
                     "synproxy, seqadj-ftp or package.module:Class)")
    g.addoption("--splice-case", action="append", default=[], metavar="ID", help="only this case (repeatable)")
    g.addoption("--splice-req", action="append", default=[], metavar="ID",
                help="only cases targeting this requirement (repeatable)")
    g.addoption("--splice-seed", type=int, default=None, metavar="N", help="seed for the property cases")
    g.addoption("--splice-strict", action="store_true", default=False,
                help="a NON-STRICT verdict (a SHOULD missed) fails its test too (like h2spec's strict mode)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--splice-adapter"):
        config.args[:] = [str(SUITE)]  # collect the suite, not the project's own tests
