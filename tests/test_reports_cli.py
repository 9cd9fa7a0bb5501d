"""``splicecheck report``: re-rendering a run, the matrix across runs, exit codes and messages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import reports_fixtures as fx
from splicecheck.reports.matrix import MatrixInputError, load_columns, write_matrix
from splicecheck.reports.render import render_all

from splicecheck.cli_report import main


def _runs(root: Path) -> tuple[Path, Path]:
    """A finished run rendered into runs/full/, and a partial results file runs/partial.jsonl."""
    full = root / "runs" / "full"
    render_all(fx.run(), full)
    partial = fx.write_jsonl(root / "runs" / "partial.jsonl", fx.run(partial=True), cut_last="{")
    return full, partial


def test_report_rerenders_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = fx.write_jsonl(tmp_path / "results.jsonl", fx.run())
    assert main([str(results), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "complete run, 4 passed, 3 failed, 2 skipped" in out
    for name in ("index.json", "report.md", "report.html", "junit.xml", "evidence"):
        assert str(tmp_path / "out" / name) in out and (tmp_path / "out" / name).exists()


def test_report_of_a_partial_run_with_chosen_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = fx.write_jsonl(tmp_path / "results.jsonl", fx.run(partial=True), cut_last='{"type":"ca')
    assert main([str(results), "--out", str(tmp_path / "out"), "--formats", "md,json", "junit"]) == 0
    captured = capsys.readouterr()
    assert "partial run (interrupted)" in captured.out
    assert "warning: line 12: truncated" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["index.json", "junit.xml", "report.md"]


def test_report_default_folder_is_the_results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "run").mkdir()
    results = fx.write_jsonl(tmp_path / "run" / "results.jsonl", fx.run())
    monkeypatch.chdir(tmp_path)
    assert main([str(results), "--formats", "json"]) == 0
    assert (tmp_path / "run" / "index.json").is_file()  # next to the results: re-rendering replaces the run's


@pytest.mark.parametrize(("argv", "code", "message"), [
    ([], 2, "give a results file"),
    (["a.jsonl", "--matrix", "b"], 2, "not both"),
    (["a.jsonl", "--formats", "pdf"], 2, "unknown report format(s) pdf"),
    (["--matrix", "x", "--formats", "md"], 2, "--formats applies to a single run"),
    (["--bogus"], 2, "unrecognized arguments"),
    (["missing.jsonl"], 1, "missing.jsonl: no such results file"),
    (["--matrix", "nowhere"], 1, "nowhere: no such file or folder"),
])
def test_usage_and_input_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                argv: list[str], code: int, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    fx.write_jsonl(tmp_path / "a.jsonl", fx.run())
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_files_give_a_named_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "text.jsonl").write_text("this is not json\n")
    assert main([str(tmp_path / "empty.jsonl")]) == 1
    assert main([str(tmp_path / "text.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "empty results file" in err and "not JSON Lines" in err


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--matrix" in capsys.readouterr().out


# -- matrix ----------------------------------------------------------------------------------------------


def test_matrix_golden(tmp_path: Path) -> None:
    full, partial = _runs(tmp_path)
    written = write_matrix([full, partial], tmp_path / "out")
    fx.check_golden("matrix.md", written["md"].read_text())
    fx.check_golden("matrix.html", written["html"].read_text())


def test_matrix_cli_and_links(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full, partial = _runs(tmp_path)
    assert main(["--matrix", str(full), str(partial), "--out", str(tmp_path / "m")]) == 0
    assert "matrix.md" in capsys.readouterr().out
    html = (tmp_path / "m" / "matrix.html").read_text()
    assert 'href="../runs/full/report.html#req-SEQ-MAP"' in html
    assert (tmp_path / "m" / "../runs/full/report.html").resolve().is_file()
    md = (tmp_path / "m" / "matrix.md").read_text()
    assert "| `SEQ-MAP`" in md and "**FAIL**" in md and "(partial)" in md


def test_matrix_columns_from_folders_and_files(tmp_path: Path) -> None:
    full, _ = _runs(tmp_path)  # runs/ also holds partial.jsonl
    fx.write_jsonl(tmp_path / "runs" / "second.jsonl", fx.run())
    cols = load_columns([full, tmp_path / "runs", full / "index.json"])
    assert [c.label for c in cols] == ["mutant:seq-off-by-one 0.1.0", "mutant:seq-off-by-one 0.1.0 (2)",
                                       "mutant:seq-off-by-one 0.1.0 (3)", "mutant:seq-off-by-one 0.1.0 (4)"]
    assert [c.partial for c in cols] == [False, True, False, False]
    assert cols[0].report == full / "report.html" and cols[1].report is None
    assert cols[0].verdicts["SEQ-MAP"] == "FAIL" and cols[0].counts["failed"] == 3


def test_matrix_tolerates_requirements_of_another_catalogue(tmp_path: Path) -> None:
    full, _ = _runs(tmp_path)
    index = json.loads((full / "index.json").read_text())
    index["requirements"].append({"id": "FUTURE-REQ", "group": "future", "verdict": "PASS"})
    (full / "index.json").write_text(json.dumps(index))
    md = write_matrix([full], tmp_path / "m")["md"].read_text()
    assert "future (not in this catalogue)" in md and "`FUTURE-REQ`" in md


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.mkdir(), "neither an index.json"),
    (lambda p: (p.mkdir(), (p / "index.json").write_text("{]")), "unreadable index.json"),
    (lambda p: (p.mkdir(), (p / "index.json").write_text('{"format": "other"}')), "not a splicecheck report"),
    (lambda p: (p.mkdir(), (p / "index.json").write_text('{"format": "splicecheck-report/1"}')), "incomplete"),
])
def test_matrix_input_errors(tmp_path: Path, make: object, message: str) -> None:
    target = tmp_path / "in"
    make(target)  # type: ignore[operator]
    with pytest.raises(MatrixInputError, match=message):
        load_columns([target])


def test_installed_entry_point_dispatches_here(tmp_path: Path) -> None:
    """``splicecheck report`` is a subcommand of splicecheck.cli's one parser tree."""
    from splicecheck import cli

    results = fx.write_jsonl(tmp_path / "results.jsonl", fx.run())
    assert cli.main(["report", str(results), "--out", os.fspath(tmp_path / "o"), "--formats", "json"]) == 0
    assert (tmp_path / "o" / "index.json").is_file()


# -- where output goes: out/ by default, reports/published/ on purpose -------------------------------------


def test_generated_output_defaults_to_out() -> None:
    from splicecheck import cli_run, cli_trace, kernel_report

    assert cli_run.default_out("mutant:plain-lt") == Path("out/mutant-plain-lt")
    assert cli_trace.default_out(Path("/x/client leg.pcap.gz")) == Path("out/trace-client-leg")
    where, matrix = kernel_report.folders(("reference", "synproxy"), None, publish=False)
    assert where == {"reference": Path("out/kernel/reference"), "synproxy": Path("out/kernel/synproxy")}
    assert matrix == Path("out/kernel/matrix")
    where, matrix = kernel_report.folders(("synproxy",), Path("elsewhere"), publish=False)
    assert where == {"synproxy": Path("elsewhere/synproxy")} and matrix == Path("elsewhere/matrix")


def test_publish_names_folders_for_what_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    from splicecheck import kernel_report

    assert kernel_report.kernel_version("6.18.44-fc-v657") == "linux-6.18.44"
    monkeypatch.setattr(kernel_report.platform, "release", lambda: "6.18.44-fc-v1272")
    where, matrix = kernel_report.folders(("reference", "synproxy", "seqadj-ftp", "mutant:plain-lt"), None,
                                          publish=True)
    published = Path("reports/published")
    assert where == {"reference": published / "model/reference",
                     "synproxy": published / "linux-6.18.44/synproxy",
                     "seqadj-ftp": published / "linux-6.18.44/seqadj-ftp",
                     "mutant:plain-lt": published / "model/mutant-plain-lt"}
    assert matrix == published / "linux-6.18.44/matrix"


def test_publish_and_out_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    from splicecheck import cli

    assert cli.main(["report-kernel", "--publish", "--out", "x"]) == 2
    assert "--publish writes into reports/published/" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["spec", "prove", "run", "mutants", "report", "trace", "lab", "report-kernel"])
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from splicecheck import cli

    assert cli.main([command, "--help"]) == 0
    assert f"usage: splicecheck {command}" in capsys.readouterr().out


def test_published_reports_are_apart_from_the_renderers() -> None:
    """reports/ holds the renderer modules only; the published snapshots sit in reports/published/."""
    root = Path(__file__).resolve().parent.parent / "reports"
    assert {p.name for p in root.iterdir() if p.is_file()} <= {p.name for p in root.glob("*.py")}
    assert (root / "published" / "README.md").is_file()
    for folder in ("model/reference", "linux-6.18.44/synproxy", "linux-6.18.44/seqadj-ftp", "model/mutant-plain-lt",
                   "examples/interrupted-reference"):
        assert (root / "published" / folder / "results.jsonl").is_file(), folder
