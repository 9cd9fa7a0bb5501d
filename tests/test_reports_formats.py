"""The report files: golden files of every format, the JUnit schema, the pcapng evidence read back by scapy.

Regenerate the golden files after an intended change with ``SPLICECHECK_REGEN_GOLDEN=1``.
"""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
import reports_fixtures as fx
import xmlschema
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6  # noqa: F401  (registers the raw-IP link type's IPv6 half)
from scapy.utils import PcapNgReader
from splicecheck.conformance.findings import findings
from splicecheck.conformance.results import Geometry, StepRecord
from splicecheck.reports import geometry
from splicecheck.reports.load import Run, load_run
from splicecheck.reports.pcapng import LINKTYPE_RAW, start_microseconds
from splicecheck.reports.render import FORMATS, build_index, render_all

XSD = Path(__file__).parent / "golden" / "junit.xsd"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic run written as the runner writes it, loaded back, rendered in every format."""
    root = tmp_path_factory.mktemp("rendered")
    run = load_run(fx.write_jsonl(root / "results.jsonl", fx.run()))
    out = root / "report"
    written = render_all(run, out)
    assert set(written) == set(FORMATS)
    return out


@pytest.mark.parametrize("name", ["index.json", "report.md", "report.html", "junit.xml"])
def test_golden(rendered: Path, name: str) -> None:
    fx.check_golden(name, (rendered / name).read_text(encoding="utf-8"))


def test_golden_evidence(rendered: Path) -> None:
    files = sorted(p.name for p in (rendered / "evidence").iterdir())
    # FAIL, NON-STRICT and ERROR cases with steps; not PASS, INFO, UNSUPPORTED, SKIPPED
    assert files == ["SEQ-MAP-wrap-1.pcapng", "TRIM-HALF-1.pcapng", "TRIM-REST-1.pcapng", "WS-EXACT-round.pcapng"]
    fx.check_golden("evidence/SEQ-MAP-wrap-1.pcapng", (rendered / "evidence" / "SEQ-MAP-wrap-1.pcapng").read_bytes())


def test_rendering_is_deterministic(rendered: Path, tmp_path: Path) -> None:
    again = render_all(load_run(fx.write_jsonl(tmp_path / "results.jsonl", fx.run())), tmp_path / "again")
    for fmt, path in again.items():
        if fmt != "pcapng":
            assert path.read_bytes() == (rendered / path.name).read_bytes(), fmt
    for p in (tmp_path / "again" / "evidence").iterdir():
        assert p.read_bytes() == (rendered / "evidence" / p.name).read_bytes()


# -- index.json ------------------------------------------------------------------------------------------


def test_index_contents(rendered: Path) -> None:
    index = json.loads((rendered / "index.json").read_text())
    assert index["iut"]["name"] == "mutant:seq-off-by-one" and index["iut"]["details"]["kernel"] == "6.1.0-test"
    assert index["run"]["partial"] is False and index["run"]["seed"] == 1234
    assert index["run"]["case_seeds"] == {"SEQ-MAP-wrap-1": 1234, "prop-seq-map": 2}
    assert index["counts"] | {"by_verdict": None} == {"passed": 4, "failed": 3, "skipped": 2, "non_strict": 1,
                                                       "total": 10, "by_verdict": None}
    reqs = {r["id"]: r for r in index["requirements"]}
    assert reqs["SEQ-MAP"]["verdict"] == "FAIL" and reqs["ACK-MAP"]["verdict"] == "PASS"
    cases = {c["case"]: c for c in index["cases"]}
    assert cases["SEQ-MAP-wrap-1"]["evidence"] == "evidence/SEQ-MAP-wrap-1.pcapng"
    assert cases["SEQ-MAP-basic"]["evidence"] is None
    for c in index["cases"]:
        if c["evidence"]:
            assert (rendered / c["evidence"]).is_file()


def test_index_in_memory_equals_loaded_except_source(tmp_path: Path) -> None:
    loaded = build_index(load_run(fx.write_jsonl(tmp_path / "results.jsonl", fx.run())))
    direct = build_index(fx.run())
    assert loaded.pop("source") == "results.jsonl" and direct.pop("source") is None
    assert loaded == direct


# -- JUnit -----------------------------------------------------------------------------------------------


def test_junit_is_valid_against_the_schema(rendered: Path) -> None:
    xmlschema.XMLSchema(XSD).validate(rendered / "junit.xml")


def test_junit_structure(rendered: Path) -> None:
    root = ET.parse(rendered / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["findings", "seq", "trim", "options", "window", "lifecycle"]  # findings lead
    found = findings(fx.results())
    failing = sum(f.verdict == "FAIL" for f in found)
    assert found and failing
    assert root.get("tests") == str(10 + len(found)) and root.get("failures") == str(2 + failing)
    assert root.get("errors") == "1"
    assert [c.get("name", "").split()[0] for c in suites["findings"].findall("testcase")] == [f.id for f in found]
    assert root.get("skipped") == "2"
    for s in suites.values():  # the suite counts agree with its cases
        cases = s.findall("testcase")
        assert s.get("tests") == str(len(cases))
        assert s.get("failures") == str(sum(1 for c in cases if c.find("failure") is not None))
        assert s.get("errors") == str(sum(1 for c in cases if c.find("error") is not None))
        assert s.get("skipped") == str(sum(1 for c in cases if c.find("skipped") is not None))
    by_name = {c.get("name"): c for c in root.iter("testcase")}
    failure = by_name["SEQ-MAP-wrap-1"].find("failure")
    assert failure is not None and "tcp.seq: expected 2147483644" in (failure.get("message") or "")
    assert "CSUM-FAILSAFE" in (failure.text or "")
    assert by_name["TRIM-REST-1"].find("error") is not None
    assert by_name["SEQ-MAP-v6"].find("skipped") is not None and by_name["LIFE-DONTACK-1"].find("skipped") is not None
    note = by_name["WS-EXACT-round"].find("system-out")
    assert note is not None and (note.text or "").startswith("NON-STRICT")
    assert by_name["STRIP-STYLE-remove"].find("failure") is None
    assert {"prop-seq-map [seed 1]", "prop-seq-map [seed 2]"} <= set(by_name)


def test_junit_of_a_partial_run_with_awkward_text_is_valid(tmp_path: Path) -> None:
    run = fx.run(partial=True)
    odd = run.results[1].__class__(case="odd\x01<&>\"", reqs=["SEQ-MAP"], verdict=run.results[1].verdict,
                                   description="bell \x07 and ]]> inside", diffs=run.results[1].diffs)
    run.results.append(odd)
    written = render_all(run, tmp_path, ["junit"])
    xmlschema.XMLSchema(XSD).validate(written["junit"])
    assert "partial run" in written["junit"].read_text()


# -- pcapng ----------------------------------------------------------------------------------------------


def test_pcapng_read_back_by_scapy_with_comments(rendered: Path) -> None:
    wrap = fx.results()[1]
    packets = list(PcapNgReader(str(rendered / "evidence" / "SEQ-MAP-wrap-1.pcapng")))
    assert [p.comments[0].decode() for p in packets] == [
        "step 0 input from client", "step 0 expected to server #0", "step 0 actual to server #0"]
    step = wrap.steps[0]
    assert [bytes(p) for p in packets] == [bytes.fromhex(h) for h in
                                           (step.input, step.expected_to_server[0], step.actual_to_server[0])]
    assert all(p.haslayer(IP) and p.haslayer(TCP) for p in packets)
    assert packets[1][TCP].seq == 2147483644 and packets[2][TCP].seq == 2147483643
    # the differing fields ride on the actual packet's comments
    assert any(b"tcp.seq: expected 2147483644" in c for c in packets[2].comments)
    assert [p.sniffed_on for p in packets] == ["leg C", "leg D", "leg D"]
    # timestamps: the run's start, a millisecond apart
    start = start_microseconds(fx.HEADER.started) / 1e6
    assert [round(float(p.time) - start, 6) for p in packets] == [0.0, 0.001, 0.002]


def test_pcapng_of_server_input_and_of_an_error(rendered: Path) -> None:
    ws = list(PcapNgReader(str(rendered / "evidence" / "WS-EXACT-round.pcapng")))
    assert [p.comments[0].decode() for p in ws] == [
        "step 0 input from server", "step 0 expected to client #0", "step 0 actual to client #0"]
    assert [p.sniffed_on for p in ws] == ["leg D", "leg C", "leg C"]
    err = list(PcapNgReader(str(rendered / "evidence" / "TRIM-REST-1.pcapng")))
    assert [p.comments[0].decode() for p in err] == ["step 0 input from client"]


def test_pcapng_blocks_are_well_formed(rendered: Path) -> None:
    data = (rendered / "evidence" / "TRIM-HALF-1.pcapng").read_bytes()
    blocks, i = [], 0
    while i < len(data):
        kind, length = struct.unpack_from("<II", data, i)
        assert length % 4 == 0 and struct.unpack_from("<I", data, i + length - 4)[0] == length
        blocks.append((kind, i))
        i += length
    assert i == len(data) and [k for k, _ in blocks] == [0x0A0D0D0A, 1, 1, 6, 6, 6]
    assert struct.unpack_from("<IHH", data, 8) == (0x1A2B3C4D, 1, 0)  # byte-order magic, version 1.0
    assert [struct.unpack_from("<H", data, at + 8)[0] for k, at in blocks if k == 1] == [LINKTYPE_RAW] * 2
    assert b"splicecheck case TRIM-HALF-1: FAIL" in data  # the section comment


def test_unreadable_hex_is_left_out_and_noted(tmp_path: Path) -> None:
    run = fx.run()
    bad = run.results[1]
    steps = [StepRecord(leg_in="client", input="zz-not-hex", actual_to_server=bad.steps[0].actual_to_server)]
    run.results[1] = bad.__class__(case=bad.case, reqs=bad.reqs, verdict=bad.verdict, diffs=bad.diffs, steps=steps)
    render_all(run, tmp_path, ["pcapng"])
    data = (tmp_path / "evidence" / "SEQ-MAP-wrap-1.pcapng").read_bytes()
    assert b"step 0 input from client: not hex, left out" in data
    assert [p.comments[0] for p in PcapNgReader(str(tmp_path / "evidence" / "SEQ-MAP-wrap-1.pcapng"))] == [
        b"step 0 actual to server #0"]


# -- HTML ------------------------------------------------------------------------------------------------


class _Tags(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "link", "input", "rect", "line", "path"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if a.get("href"):
            self.hrefs.append(a["href"] or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def test_html_is_self_contained_and_balanced(rendered: Path) -> None:
    text = (rendered / "report.html").read_text()
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    parser = _Tags()
    parser.feed(text)
    assert parser.problems == [] and parser.stack == []
    assert len(parser.ids) == len(set(parser.ids))
    for href in parser.hrefs:  # every in-page link has its target, every file link its file
        if href.startswith("#"):
            assert href[1:] in parser.ids, href
        else:
            assert (rendered / href).is_file(), href


def test_html_shows_diffs_geometry_and_details(rendered: Path) -> None:
    text = (rendered / "report.html").read_text()
    wrap = text[text.index('id="case-SEQ-MAP-wrap-1"'):]
    wrap = wrap[:wrap.index("</details>\n")]
    assert "open" in wrap[:60]
    assert "2147483644 (0x7ffffffc)" in wrap and "2147483643 (0x7ffffffb)" in wrap
    assert "<svg" in wrap and "2^32 ≡ 0" in wrap
    basic = text[text.index('id="case-SEQ-MAP-basic"'):]
    assert "<svg" not in basic[:basic.index("</details>\n")]  # pictures for failing cases only
    for svg in re.findall(r"<svg.*?</svg>", text, flags=re.S):
        ET.fromstring(svg)  # well-formed XML


def test_partial_run_rerendered(tmp_path: Path) -> None:
    path = fx.write_jsonl(tmp_path / "results.jsonl", fx.run(partial=True), cut_last='{"type":"case","ca')
    run = load_run(path)
    written = render_all(run, tmp_path / "out")
    index = json.loads(written["json"].read_text())
    assert index["run"]["partial"] is True and index["run"]["finished"] is None
    assert index["run"]["warnings"] == ["line 12: truncated (the run stopped mid-write); ignored"]
    assert "Partial run" in written["html"].read_text() and "Partial run" in written["md"].read_text()
    fx.check_golden("partial-report.md", written["md"].read_text())


def test_formats_subset_and_stale_evidence(tmp_path: Path) -> None:
    run = fx.run()
    render_all(run, tmp_path)
    assert (tmp_path / "evidence" / "WS-EXACT-round.pcapng").exists()
    run.results[3] = run.results[0]  # the NON-STRICT case now passes: its old evidence goes
    written = render_all(run, tmp_path, ["pcapng", "json"])
    assert set(written) == {"pcapng", "json"}
    assert not (tmp_path / "evidence" / "WS-EXACT-round.pcapng").exists()
    assert not list(tmp_path.glob("*.tmp")) and not list((tmp_path / "evidence").glob("*.tmp"))
    with pytest.raises(ValueError, match="unknown report format"):
        render_all(run, tmp_path, ["pdf"])
    only_md = render_all(run, tmp_path / "md", ["md,html"])
    assert set(only_md) == {"md", "html"}
    assert "evidence/" not in only_md["html"].read_text()  # no evidence written, none linked


# -- geometry --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seq", "base", "expected"), [
    (1000, 1000, 0), (1012, 1000, 12), (990, 1000, -10), (4, 0xFFFFFFF0, 20), (0xFFFFFFF0, 4, -20),
    (1000 + 2**31, 1000, -(2**31)), (1000 + 2**31 - 1, 1000, 2**31 - 1), (1000 + 2**31 + 1, 1000, -(2**31) + 1),
])
def test_signed_offset_wraps(seq: int, base: int, expected: int) -> None:
    assert geometry.signed_offset(seq % 2**32, base) == expected


@pytest.mark.parametrize("g", [
    Geometry(1000, 5000, 1000, 5, "c2s"),
    Geometry(0xFFFFFFF0, 5, 0xFFFFFFFC, 16, "c2s"),  # across 2^32
    Geometry(0xFFFFFFF0, 5, 0xFFFFFF00, 1000, "s2c"),  # straddles the base and the wrap
    Geometry(1000, 5000, (1000 + 2**31) % 2**32, 11, "c2s"),  # 2^31 away: a panel of its own, below
    Geometry(100, 5, 3100, 20, "c2s"),  # far above
    Geometry(100, 5, 100, 0, "c2s"),  # no sequence space
    Geometry(0, 0, 0, 70000, "c2s"),  # longer than the default window
])
def test_geometry_svg_is_well_formed_and_labelled(g: Geometry) -> None:
    svg = geometry.geometry_svg(g)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert f"splice_irs = {g.splice_irs}" in texts and f"seq {g.seq}" in texts
    for r in root.iter("{http://www.w3.org/2000/svg}rect"):
        x, w = float(r.get("x", 0)), float(r.get("width", 0))
        assert x >= 0 and x + w <= geometry.WIDTH + 0.01
    if g.splice_irs > 0xFFFFFF00:  # the window crosses 2^32: the wrap point is marked
        assert "2^32 ≡ 0" in texts
    far = abs(geometry.signed_offset(g.seq, g.splice_irs)) > 16 * max(g.length, 64)
    assert (root.find("{http://www.w3.org/2000/svg}path") is not None) == (far or g.length == 0)


def test_geometry_colours_trimmed_and_relayed_parts() -> None:
    straddle = geometry.geometry_svg(Geometry(1000, 5000, 990, 20, "c2s"))
    assert geometry.BELOW in straddle and geometry.ABOVE in straddle and "10 below the base" in straddle
    half = geometry.geometry_svg(Geometry(1000, 5000, (1000 + 2**31) % 2**32, 11, "c2s"))
    assert "-2^31 (counts as below)" in half and "11 below the base" in half
    assert half.count(f'fill="{geometry.ABOVE}" fill-opacity') == 0


def test_a_run_with_no_case_renders(tmp_path: Path) -> None:
    written = render_all(Run(fx.HEADER), tmp_path)
    assert set(written) == {"json", "md", "html", "junit"}  # no evidence: nothing failed
    xmlschema.XMLSchema(XSD).validate(written["junit"])
    assert "No case results." in written["html"].read_text()
    assert json.loads(written["json"].read_text())["counts"]["total"] == 0
