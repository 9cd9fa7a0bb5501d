"""The listing's table builder (``reports.terminal.plain_table``) against tabulate itself."""

from __future__ import annotations

import pytest
from splicecheck.reports.terminal import plain_table
from tabulate import tabulate

CASES = [
    [["✔", "trace/198.18.1.1:10000>198.19.0.2:80", "PASS", "client 198.18.1.1:10000 ⇄ proxy"],
     ["×", "trace/x", "FAIL", "short"]],
    [["✔", "WS-ZERO", "MUST", "PASS", "20000 cases"], ["-", "MSS-536", "SHOULD", "SKIPPED", "1 case, 2 collateral"]],
    [[" ", "  padded ", "x", ""], ["!", "a", " y ", "z"]],  # cells stripped, an empty cell
    [["a", "1"], ["b", "22"], ["c", "333"]],  # a numeric column: right-aligned by tabulate
    [["a", "1.5"], ["b", "1e3"], ["c", "inf"]],
    [["a", "True"], ["b", "False"]],
    [["a", "1,000"], ["bb", "2"]],
    [["a", "two\nlines"], ["b", "c"]],  # multi-line cell
    [["a", "\x1b[31mred\x1b[0m"], ["b", "c"]],  # ANSI codes
    [["a", "tab\there"], ["b", "c"]],
    [["a", "b", "c"], ["d"]],  # ragged
    [["a", "   "], ["b", "c"]],  # a whitespace-only cell is text to tabulate
    [["x", "٣"], ["y", "٤٥"]],  # Unicode digits are numbers to float()
]


@pytest.mark.parametrize("rows", CASES)
def test_plain_table_is_tabulate_plain(rows: list[list[str]]) -> None:
    assert plain_table(rows) == tabulate(rows, tablefmt="plain").splitlines()


def test_plain_table_empty() -> None:
    assert plain_table([]) == []
