"""One finding as plain text a kernel maintainer can read on a mailing list (``splicecheck report --finding``).

What it holds, all taken from the results file: the finding (title, ID, verdict, the requirement and its
source in the paper or an RFC); the IUT, its version and the kernel; the configuration the run header
records (the ruleset, the sysctls, the links); the smallest case that shows it, with the command that
reproduces it; the packets in and out of each step up to the one where the finding shows, as tcpdump-style
one-liners (``tcpdump -nv`` field names: Flags with ``.`` for ACK, seq, ack, win, urg, options, length),
the wrong fields marked with carets on the line below; and expected against actual for every differing
field of that step, with the requirement it evidences.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from ..conformance.findings import Finding, case_occurrences, finding_id, findings
from ..conformance.results import CaseResult, FieldDiff, fmt, step_number
from ..reference.checksum import ipv4_header_checksum, tcp_checksum
from ..reference.codec import decode
from ..reference.errors import MalformedSegment
from ..reference.icmp import parse_icmp
from ..reference.segment import (
    ACK,
    CWR,
    ECE,
    FIN,
    PSH,
    RST,
    SYN,
    URG,
    MaxSegmentSize,
    NoOperation,
    Sack,
    SackPermitted,
    Timestamps,
    WindowScale,
    addr_text,
)
from ..spec.requirements import BY_ID
from .load import Run

#: tcpdump's flag letters, in its order (``.`` is ACK)
_TCPDUMP_FLAGS = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"), (ECE, "E"), (CWR, "W"), (ACK, "."))


class UnknownFinding(LookupError):
    """The finding ID is not among the run's findings."""


def _option_text(o: object) -> str:
    if isinstance(o, NoOperation):
        return "nop"
    if isinstance(o, MaxSegmentSize):
        return f"mss {o.value}"
    if isinstance(o, WindowScale):
        return f"wscale {o.shift}"
    if isinstance(o, SackPermitted):
        return "sackOK"
    if isinstance(o, Sack):
        return "sack " + " ".join(f"{{{a}:{b}}}" for a, b in o.blocks)
    if isinstance(o, Timestamps):
        return f"TS val {o.tsval} ecr {o.tsecr}"
    return type(o).__name__.lower().replace("endofoptionlist", "eol")


def tcpdump_line(hexed: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """A packet as ``tcpdump -nv`` prints a TCP segment on one line, and the span of each field family in it
    (``tcp.seq``, ``window``, ``options kind 8``, ``tcp.checksum`` ...) so a caller can mark one."""
    spans: dict[str, tuple[int, int]] = {}
    parts: list[str] = []

    def put(family: str | None, text: str) -> None:
        start = sum(len(p) + 1 for p in parts)
        parts.append(text)
        if family is not None:
            spans.setdefault(family, (start, start + len(text)))

    try:
        raw = bytes.fromhex(hexed)
    except ValueError:
        return f"(not hex: {hexed[:40]})", spans
    icmp = parse_icmp(raw)
    if icmp is not None:
        return f"ICMP type {icmp.type} code {icmp.code}, {len(raw)} bytes", {"icmp": (0, 4)}
    try:
        s = decode(raw)
    except MalformedSegment as exc:
        return f"(malformed: {exc})", spans
    t, ip = s.tcp, s.ip
    v4 = raw[0] >> 4 == 4
    put("ip.ttl", f"IP (ttl {ip.hop_limit}" if v4 else f"IP6 (hlim {ip.hop_limit}")
    if v4:
        put("ip.id", f"id {getattr(ip, 'ident', 0)},")
        if getattr(ip, "options", b""):
            put("ip.options", f"options [{getattr(ip, 'options', b'').hex()}],")
    put(None, f"length {len(raw)})")
    put(None, f"{addr_text(ip.src)}.{t.sport} > {addr_text(ip.dst)}.{t.dport}:")
    flags = "".join(ch for bit, ch in _TCPDUMP_FLAGS if t.flags & bit) or "none"
    put("flags", f"Flags [{flags}],")
    valid = _tcp_checksum_ok(raw)
    put("tcp.checksum", f"cksum 0x{int.from_bytes(_tcp_bytes(raw)[16:18], 'big'):04x}"
        f" ({'correct' if valid else 'incorrect'}),")
    seq = f"seq {t.seq}:{(t.seq + len(s.payload)) % 2**32}," if s.payload else f"seq {t.seq},"
    put("tcp.seq", seq)
    if t.flags & ACK:
        put("tcp.ack", f"ack {t.ack},")
    put("window", f"win {t.window},")
    if t.flags & URG or t.urgent:
        put("tcp.urgent", f"urg {t.urgent},")
    opts = [o for o in t.options if type(o).__name__ != "EndOfOptionList" or getattr(o, "padding", b"").strip(b"\0")]
    if opts:
        start = sum(len(p) + 1 for p in parts)
        texts = [_option_text(o) for o in opts]
        put(None, "options [" + ",".join(texts) + "],")
        k = start + len("options [")
        for o, text in zip(opts, texts, strict=True):
            kind = {MaxSegmentSize: 2, WindowScale: 3, SackPermitted: 4, Sack: 5, Timestamps: 8}.get(type(o))
            if kind is not None:
                spans.setdefault(f"options kind {kind}", (k, k + len(text)))
            k += len(text) + 1
    put("payload", f"length {len(s.payload)}")
    return " ".join(parts), spans


def _tcp_bytes(raw: bytes) -> bytes:
    if raw[0] >> 4 == 4:
        return raw[(raw[0] & 0x0F) * 4:int.from_bytes(raw[2:4], "big")]
    return raw[40:40 + int.from_bytes(raw[4:6], "big")]


def _tcp_checksum_ok(raw: bytes) -> bool:
    tcp = _tcp_bytes(raw)
    if raw[0] >> 4 == 4:
        ihl = (raw[0] & 0x0F) * 4
        if ipv4_header_checksum(raw[:ihl]) != int.from_bytes(raw[10:12], "big"):
            return False
        src, dst = raw[12:16], raw[16:20]
    else:
        src, dst = raw[8:24], raw[24:40]
    return tcp_checksum(src, dst, tcp) == int.from_bytes(tcp[16:18], "big")


def _family_of(field_name: str) -> str:
    """The span family a differing field marks (see :func:`tcpdump_line`)."""
    name = field_name.split("].", 1)[1] if "]." in field_name else field_name
    if name.startswith("tcp.options.TS"):
        return "options kind 8"
    if name.startswith("tcp.options.SACK"):
        return "options kind 5"
    if name.startswith("tcp.options.WS"):
        return "options kind 3"
    if name.startswith("tcp.window"):
        return "window"
    if name.startswith("tcp.checksum"):
        return "tcp.checksum"
    if name.startswith("tcp.flags") or name == "tcp.reserved":
        return "flags"
    return name


def _marked(hexed: str, diffs: Sequence[FieldDiff], indent: str) -> list[str]:
    line, spans = tcpdump_line(hexed)
    marks = [spans[f] for f in {_family_of(d.field) for d in diffs} if f in spans]
    out = [indent + line]
    if marks:
        caret = [" "] * len(line)
        for a, b in marks:
            for k in range(a, min(b, len(line))):
                caret[k] = "^"
        out.append(indent + "".join(caret).rstrip())
    return out


def _req_line(req: str) -> str:
    r = BY_ID.get(req)
    if r is None:
        return req
    return f"{req} ({r.level.value}; {r.source}): {r.text}"


def render(run: Run, fid: str) -> str:
    """The finding ``fid`` of ``run`` as plain text (module docstring). Raises :class:`UnknownFinding`."""
    found = findings(run.results)
    f = next((x for x in found if x.id == fid), None)
    if f is None:
        known = ", ".join(x.id for x in found) or "none"
        raise UnknownFinding(f"no finding {fid} in this run (its findings: {known})")
    case = next(r for r in run.results if r.case == f.smallest)
    h = run.header
    wrap = textwrap.TextWrapper(width=100, subsequent_indent="    ")
    out = [f"[{f.verdict}] {f.title}", "", f"Finding {f.id}: {len(f.cases)} case(s) of the splicecheck suite show it; "
           f"requirements {', '.join(f.reqs)}" + (f" (and, after it, {', '.join(f.consequence_reqs)})"
                                                   if f.consequence_reqs else "") + ".", ""]
    out += ["IUT", f"  {h.iut} {h.iut_version} (adapter {h.adapter}; splicecheck {h.splicecheck_version})"]
    out += ["  " + x for x in wrap.wrap(h.iut_description)]
    for key in ("kernel", "nft", "mode", "PORT rewrite", "links"):
        if key in h.details:
            out += ["  " + x for x in wrap.wrap(f"{key}: {h.details[key]}")]
    out.append("")
    out.append("Configuration")
    if "ruleset" in h.details:
        out += ["  ruleset (nft list ruleset):", *["    " + x for x in h.details["ruleset"].rstrip().splitlines()]]
    for key, value in h.details.items():
        if key.startswith("sysctls"):
            out += ["  " + x for x in wrap.wrap(f"{key}: {value}")]
    if "splice state" in h.details:
        out += ["  " + x for x in wrap.wrap(f"splice state: {h.details['splice state']}")]
    out.append("")
    out += _case_section(case, f)
    out += ["", "Other cases showing it: " + (", ".join(c for c in f.cases if c != case.case)[:1500] or "none"), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _case_section(case: CaseResult, f: Finding) -> list[str]:
    occ, _cons = case_occurrences(case)
    steps = sorted({o.step for o in occ if finding_id(o.signature) == f.id}) or [0]
    last = steps[0]
    out = [f"Smallest case: {case.case} ({case.verdict.value})"]
    if case.description:
        out += ["  " + x for x in textwrap.wrap(case.description, 98)]
    if case.repro:
        out += [f"  reproduce: {case.repro}"]
    out += ["", "Packets (tcpdump -nv style; '^' marks a field that differs from what a correct splice sends):"]
    for index, rec in enumerate(case.steps):
        i = step_number(case.steps, index)
        if i > last:
            break
        diffs = [d for d in case.diffs if d.step == i and not d.ok and d.consequence_of is None]
        out.append(f"  step {i}: in from the {rec.leg_in}")
        out += _marked(rec.input, [], "    ")
        for leg, exp, act in (("client", rec.expected_to_client, rec.actual_to_client),
                              ("server", rec.expected_to_server, rec.actual_to_server)):
            if not exp and not act:
                continue
            out.append(f"    to the {leg}, expected (reference model):")
            out += [x for h in exp for x in _marked(h, [], "      ")] or ["      (nothing)"]
            out.append(f"    to the {leg}, actual (IUT):")
            if not act:
                out.append("      (nothing)" + ("  <-- not sent" if exp else ""))
            for k, h in enumerate(act):
                mine = [d for d in diffs if d.field.startswith(f"to_{leg}[{k}].")]
                out += _marked(h, mine, "      ")
            if len(act) != len(exp):
                out.append(f"      ({len(act)} packet(s) where the model sends {len(exp)})")
    shown = [d for d in case.diffs if d.step == last and not d.ok and d.consequence_of is None]
    out += ["", f"Expected vs actual (step {last}):"]
    for d in shown:
        out.append(f"  {d.field}: expected {fmt(d.expected)}, actual {fmt(d.actual)}")
    out += ["", "Requirements:"]
    for req in dict.fromkeys([*(d.req for d in shown), *f.reqs]):
        out += ["  " + x for x in textwrap.wrap(_req_line(req), 98, subsequent_indent="    ")]
    return out
