"""Findings: a run's departures grouped by root cause, so a reader sees a few causes, not hundreds of fields.

A *finding* is a deterministic signature taken from the aligned packets of the cases that show it:

* **dropped** — a packet the model emits and the IUT does not: the leg and the flags of the expected packet;
* **extra** — a packet the IUT emits and the model does not: the leg and its flags (or its ICMP type);
* **replaced** — a packet emitted in place of the expected one with other control flags (SYN, FIN, RST):
  the leg, both flag sets and the requirement of the flags; every other field of that packet belongs to this finding;
* **field** — a field family of one relayed packet (``seq``, ``ack``, ``window``, ``options kind 8``,
  ``tcp checksum``, ``ttl``, ...), the requirement its first field evidences, the control flags (SYN, FIN,
  RST) of the expected packet and how the actual value relates to the expected one: ``unchanged`` (equals
  the input packet's value: passed through), ``at splice_iss`` (the out leg's base), ``offset`` (off by a
  constant; the constant is kept only when the same in every occurrence, otherwise "a varying amount"),
  ``zeroed``, ``added``/``removed`` (an option present on one side only), ``violated`` (a property such as
  "checksum valid" that does not hold) or ``other``.

Packets are aligned per step and leg on their flags (``difflib``): when the counts differ, the packets
left over are dropped or extra, and every field difference on that leg in that step belongs to the
dropped/extra finding (the pairing the diff engine made is then not one packet to its own). A difference
marked ``consequence_of`` (after the case's first divergence) belongs to the finding of that divergence
and makes none of its own. Several fields of one family in one packet (``tcp.window`` and ``tcp.window
believed <= real``; the TS option's value, the list of option kinds and the layout) make one occurrence.

A finding's ID is a short hash of its signature, stable across runs and machines; its title is generated
from the signature in plain language. Only what is in results files is used, so a re-rendered run gives
the same findings.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..reference.codec import decode
from ..reference.errors import MalformedSegment
from ..reference.icmp import parse_icmp
from ..reference.segment import FIN, RST, SYN, Segment, flags_text
from ..spec.requirements import BY_ID, Level
from .results import GRADE, CaseKind, CaseResult, FieldDiff, Verdict

_LEVEL_RANK = {Level.MAY: 0, Level.SHOULD: 1, Level.MUST: 2}
_LEG = {"to_client": "client", "to_server": "server"}
_LEG_BASE = {"to_client": "C", "to_server": "D"}
_KIND_NAMES = {2: "MSS option", 3: "Window-scale option", 4: "SACK-permitted option", 5: "SACK option",
               8: "Timestamps option"}
MOD32 = 1 << 32


@dataclass(slots=True)
class Finding:
    """One root cause: its signature, the cases that show it and what it breaks."""

    id: str
    signature: dict[str, Any]
    title: str
    reqs: list[str] = field(default_factory=list)  # first-hand requirements, catalogue order
    consequence_reqs: list[str] = field(default_factory=list)  # requirements of the differences folded in
    level: str = ""  # strongest level among reqs (MUST, SHOULD, MAY)
    verdict: str = ""  # what that level grades to (FAIL, NON-STRICT, INFO)
    cases: list[str] = field(default_factory=list)  # case IDs, in run order, without repeats
    smallest: str = ""  # the case with the fewest steps
    repro: str = ""  # its reproduction line
    constant: int | None = None  # for an offset: the constant, when the same everywhere
    occurrences: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "signature": self.signature, "level": self.level,
                "verdict": self.verdict, "reqs": list(self.reqs), "consequence_reqs": list(self.consequence_reqs),
                "cases": list(self.cases), "smallest": self.smallest, "repro": self.repro,
                "constant": self.constant, "occurrences": self.occurrences}


def finding_id(signature: dict[str, Any]) -> str:
    """``F-`` and ten hex digits of the SHA-256 of the canonical signature."""
    canon = json.dumps(signature, sort_keys=True, separators=(",", ":"))
    return "F-" + hashlib.sha256(canon.encode()).hexdigest()[:10]


# --- field families -------------------------------------------------------------------------------------

_INDEXED = re.compile(r"^(to_client|to_server)\[(\d+)\]\.(.*)$")
_INSTANCE = re.compile(r"^tcp\.options\[\d+\] \(kind (\d+), instance \d+\)$")


def _family(name: str, d: FieldDiff) -> str:
    """The family of a per-packet field name (without the ``to_x[i].`` prefix)."""
    if name.startswith("tcp.options.TS"):
        return "options kind 8"
    if name == "tcp.options.SACK":
        return "options kind 5"
    if name == "tcp.options.WS":
        return "options kind 3"
    m = _INSTANCE.match(name)
    if m:
        return f"options kind {m.group(1)}"
    if name == "tcp.options (kinds, in order)":
        e = list(d.expected) if isinstance(d.expected, list) else []
        a = list(d.actual) if isinstance(d.actual, list) else []
        odd = [k for k in a if a.count(k) > e.count(k)] + [k for k in e if e.count(k) > a.count(k)]
        at = next((k for k, (x, y) in enumerate(zip(e, a, strict=False)) if x != y), 0)
        kind = odd[0] if odd else (e[at] if e else 0)
        return f"options kind {kind}"
    if name == "tcp.options (passed through)":
        return "options passed through"
    if name.startswith("tcp.window"):
        return "window"
    if name.startswith("tcp.flags") or name == "tcp.reserved":
        return "flags"
    if name.startswith("icmp"):
        return "icmp"
    if name.startswith("ip byte"):
        return "ip other bits"
    return name.removesuffix(" valid").replace(" DSCP", "").replace(" ECN", " ECN")


#: the order in which families are consulted for a packet's primary family is the order fields appear
_SEQ_LIKE = ("tcp.seq", "tcp.ack", "tcp.options.TS.tsval", "tcp.options.TS.tsecr")


def _input_value(step_input: Segment | None, name: str) -> Any:
    """The input packet's value of field ``name``, where the field is a plain number of it."""
    if step_input is None:
        return None
    t, ip = step_input.tcp, step_input.ip
    simple: dict[str, Any] = {"tcp.seq": t.seq, "tcp.ack": t.ack, "tcp.window": t.window, "tcp.urgent": t.urgent,
                              "ip.ttl": ip.hop_limit, "ip.id": getattr(ip, "ident", None)}
    if name in simple:
        return simple[name]
    if name.startswith("tcp.options.TS."):
        for o in t.options:
            if type(o).__name__ == "Timestamps":
                return getattr(o, "tsval" if name.endswith("tsval") else "tsecr", None)
    return None


def relation(d: FieldDiff, name: str, step_input: Segment | None, base: int | None) -> tuple[str, int | None]:
    """How ``d.actual`` relates to ``d.expected``: a named relation and, for an offset, the constant."""
    e, a = d.expected, d.actual
    if e is True and a is False:
        return "violated", None
    if e is None and a is not None:
        return "added", None
    if e is not None and a is None:
        return "removed", None
    inp = _input_value(step_input, name)
    if inp is not None and a == inp and e != inp:
        return "unchanged", None
    if isinstance(e, int) and isinstance(a, int) and not isinstance(e, bool):
        if name == "tcp.seq" and base is not None and a == base:
            return "at splice_iss", None
        if a == 0:
            return "zeroed", None
        delta = (a - e) % MOD32 if name in _SEQ_LIKE else a - e
        if name in _SEQ_LIKE and delta >= MOD32 // 2:
            delta -= MOD32
        return "offset", delta
    if isinstance(e, list) and isinstance(a, list) and e and len(e) == len(a) and name.startswith("tcp.options.TS"):
        return "other", None
    return "other", None


# --- decoding the recorded packets ----------------------------------------------------------------------


def _decode(hexed: str) -> Segment | None:
    try:
        return decode(bytes.fromhex(hexed))
    except (MalformedSegment, ValueError):
        return None


def packet_label(hexed: str) -> str:
    """A packet's flags (``PA``, ``R``...), ``ICMP type N``, or ``malformed``."""
    try:
        raw = bytes.fromhex(hexed)
    except ValueError:
        return "malformed"
    icmp = parse_icmp(raw)
    if icmp is not None:
        return f"ICMP type {icmp.type}"
    seg = _decode(hexed)
    return "malformed" if seg is None else flags_text(seg.tcp.flags)


def _control(hexed: str | None) -> str:
    seg = _decode(hexed) if hexed else None
    if seg is None:
        return ""
    return flags_text(seg.tcp.flags & (SYN | FIN | RST)).replace(".", "")


def _control_bits(flags: object) -> str:
    """The SYN, FIN and RST letters of a flags text (``tcp.flags`` values are ``flags_text`` strings)."""
    return "".join(ch for ch in str(flags) if ch in "SFR")


# --- one case -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Occurrence:
    signature: dict[str, Any]
    reqs: list[str]
    constant: int | None = None
    has_constant: bool = False


def case_occurrences(r: CaseResult) -> tuple[list[_Occurrence], list[str]]:
    """The first-hand occurrences of ``r`` and the requirements of its consequences (folded into the
    finding of its first divergence: the first occurrence of the first divergent step)."""
    bad = [d for d in r.diffs if not d.ok]
    first_hand = [d for d in bad if d.consequence_of is None]
    consequences = sorted({d.req for d in bad if d.consequence_of is not None})
    occ: list[_Occurrence] = []
    done: set[tuple[int, str]] = set()  # (step, leg) whose fields belong to a dropped/extra finding
    for d in first_hand:
        m = re.match(r"^(to_client|to_server)\.count$", d.field)
        if not m or d.step >= len(r.steps):
            continue
        leg = m.group(1)
        count_rec = r.steps[d.step]
        exp = count_rec.expected_to_client if leg == "to_client" else count_rec.expected_to_server
        act = count_rec.actual_to_client if leg == "to_client" else count_rec.actual_to_server
        el, al = [packet_label(x) for x in exp], [packet_label(x) for x in act]
        sm = difflib.SequenceMatcher(a=el, b=al, autojunk=False)
        matched_e = {i for blk in sm.get_matching_blocks() for i in range(blk.a, blk.a + blk.size)}
        matched_a = {j for blk in sm.get_matching_blocks() for j in range(blk.b, blk.b + blk.size)}
        leg_reqs = sorted({x.req for x in first_hand if x.step == d.step and x.field.startswith(leg)})
        for i, lab in enumerate(el):
            if i not in matched_e:
                occ.append(_Occurrence({"kind": "dropped", "leg": leg, "flags": lab}, leg_reqs))
        for j, lab in enumerate(al):
            if j not in matched_a:
                occ.append(_Occurrence({"kind": "extra", "leg": leg, "flags": lab}, leg_reqs))
        done.add((d.step, leg))
    groups: dict[tuple[int, str, int, str], list[tuple[str, FieldDiff]]] = {}
    for d in first_hand:
        m = _INDEXED.match(d.field)
        if m:
            leg, pkt, name = m.group(1), int(m.group(2)), m.group(3)
        else:  # per-step or per-case fields (state.*, stage, a refusal, ...)
            leg, pkt, name = "", d.packet, d.field
            if re.match(r"^(to_client|to_server)\.count$", d.field):
                continue
        if (d.step, leg) in done:
            continue
        fam = _family(name, d) if m else re.sub(r"\d+", "N", name)
        groups.setdefault((d.step, leg, pkt, fam), []).append((name, d))
    replaced: dict[tuple[int, str, int], FieldDiff] = {}
    for (step, leg, pkt, fam), items in groups.items():
        for name, d in items:
            if fam == "flags" and name == "tcp.flags" and _control_bits(d.expected) != _control_bits(d.actual):
                replaced[(step, leg, pkt)] = d
    for (step, leg, pkt), d in replaced.items():
        reqs = sorted({x.req for (s2, l2, p2, _f), items in groups.items() if (s2, l2, p2) == (step, leg, pkt)
                       for _n, x in items})
        occ.append(_Occurrence({"kind": "replaced", "leg": leg, "expected": str(d.expected),
                                "actual": str(d.actual), "req": d.req}, reqs))
    for (step, leg, pkt, fam), items in groups.items():
        if (step, leg, pkt) in replaced:
            continue  # a packet of other control flags: its fields belong to that finding
        name, lead = items[0]
        rec = r.steps[step] if 0 <= step < len(r.steps) else None
        step_input = _decode(rec.input) if rec is not None and rec.input else None
        exp_pkts = (rec.expected_to_client if leg == "to_client" else rec.expected_to_server) if rec else []
        control = _control(exp_pkts[pkt]) if 0 <= pkt < len(exp_pkts) else ""
        base = r.geometry[step].splice_iss if len(r.geometry) == len(r.steps) and rec is not None else None
        rel, const = relation(lead, name, step_input, base)
        sig: dict[str, Any] = {"kind": "field", "leg": leg, "family": fam, "req": lead.req, "relation": rel}
        if control:
            sig["control"] = control
        occ.append(_Occurrence(sig, sorted({d.req for _n, d in items}), const, rel == "offset"))
    return occ, consequences


# --- grouping -------------------------------------------------------------------------------------------


def _level(reqs: Iterable[str]) -> Level | None:
    levels = [BY_ID[r].level for r in reqs if r in BY_ID]
    return max(levels, key=lambda lv: _LEVEL_RANK[lv]) if levels else None


def _req_order(reqs: Iterable[str]) -> list[str]:
    order = {rid: k for k, rid in enumerate(BY_ID)}
    return sorted(set(reqs), key=lambda r: (order.get(r, len(order)), r))


class FindingsTally:
    """Findings accumulated one case at a time, so a run read back in bounded memory (its cases streamed
    past, only some kept) still groups every case: what it holds grows with the findings and the case IDs
    that show them, not with the cases' packets."""

    def __init__(self) -> None:
        self._by_id: dict[str, Finding] = {}
        self._consts: dict[str, set[int]] = {}
        self._steps_of: dict[str, dict[str, tuple[int, str]]] = {}  # per finding: its cases (and their steps)

    def add(self, r: CaseResult) -> None:
        if r.verdict in (Verdict.ERROR, Verdict.SKIPPED, Verdict.UNSUPPORTED):
            return
        occ, consequences = case_occurrences(r)
        if not occ and r.verdict is Verdict.INFO and r.kind is CaseKind.TRACE:
            return  # a trace's note (a one-sided flow, a connection with nothing judged), not a departure
        if not occ and r.verdict in (Verdict.FAIL, Verdict.NON_STRICT, Verdict.INFO):
            primary = r.reqs[0] if r.reqs else "?"
            occ = [_Occurrence({"kind": "verdict", "req": primary, "verdict": r.verdict.value}, [primary])]
        for k, o in enumerate(occ):
            fid = finding_id(o.signature)
            f = self._by_id.get(fid)
            if f is None:
                f = self._by_id[fid] = Finding(fid, o.signature, "")
            f.reqs = _req_order([*f.reqs, *o.reqs])
            if k == 0 and consequences:
                f.consequence_reqs = _req_order([*f.consequence_reqs, *consequences])
            if o.has_constant and o.constant is not None:
                self._consts.setdefault(fid, set()).add(o.constant)
            f.occurrences += 1
            steps_of = self._steps_of.setdefault(fid, {})
            if r.case not in steps_of:  # a dict lookup: ``f.cases`` is a list, and a finding may have 10^5 cases
                f.cases.append(r.case)
                steps_of[r.case] = (len(r.steps), r.repro)

    def findings(self) -> list[Finding]:
        """The findings so far, strongest first (then most cases, then ID)."""
        out = list(self._by_id.values())
        for f in out:
            cs = self._consts.get(f.id, set())
            f.constant = next(iter(cs)) if len(cs) == 1 else None
            lv = _level(f.reqs)
            f.level = lv.value if lv is not None else ""
            f.verdict = GRADE[lv].value if lv is not None else ""
            steps = self._steps_of[f.id]
            smallest = min(f.cases, key=lambda c: (steps[c][0], c))
            f.smallest, f.repro = smallest, steps[smallest][1]
            f.title = title(f.signature, f.reqs, f.constant)
        rank = {"FAIL": 0, "NON-STRICT": 1, "INFO": 2, "": 3}
        out.sort(key=lambda f: (rank.get(f.verdict, 3), -len(f.cases), f.id))
        return out


def findings(results: Sequence[CaseResult]) -> list[Finding]:
    """The findings of a run, strongest first (then most cases, then ID)."""
    tally = FindingsTally()
    for r in results:
        tally.add(r)
    return tally.findings()


# --- titles ---------------------------------------------------------------------------------------------

_FAMILY_NAMES = {
    "tcp.seq": "sequence number", "tcp.ack": "acknowledgment number", "window": "window",
    "tcp.urgent": "urgent pointer", "flags": "control flags", "payload": "payload",
    "tcp.checksum": "TCP checksum", "ip.checksum": "IP header checksum", "ip.ttl": "TTL / hop limit",
    "ip.options": "IP options", "ip.id": "IP identification", "ip.tos": "IP TOS", "ip.df": "DF bit",
    "icmp": "ICMP error", "options passed through": "options passed through",
    "tcp.options layout": "option layout", "ip.src": "source address", "ip.dst": "destination address",
    "tcp.sport": "source port", "tcp.dport": "destination port", "decodes": "segment encoding",
    "ip other bits": "unclaimed IP header bits",
}
_FLAG_NAMES = {"F": "FIN", "S": "SYN", "R": "RST", "P": "PSH", "A": "ACK", "U": "URG", "E": "ECE", "C": "CWR",
               "N": "AE"}


def _flag_words(flags: str) -> str:
    """``FA`` -> ``FIN+ACK``; ``.`` (no flag) -> ``flagless``."""
    return "+".join(_FLAG_NAMES.get(ch, ch) for ch in flags if ch != ".") or "flagless"


def _what(sig: dict[str, Any]) -> str:
    fam = str(sig.get("family", ""))
    m = re.match(r"options kind (\d+)", fam)
    if m:
        return _KIND_NAMES.get(int(m.group(1)), f"TCP option kind {m.group(1)}")
    return _FAMILY_NAMES.get(fam, fam)


def _req_text(reqs: Sequence[str]) -> str:
    if not reqs:
        return ""
    req = BY_ID.get(reqs[0])
    text = req.text.split(". ")[0].split(": ")[0].split("; ")[0].rstrip(".") if req is not None else ""
    if len(text) > 70:
        text = text[:69].rstrip() + "..."
    return f" ({reqs[0]}: {text})" if text else f" ({reqs[0]})"


def title(sig: dict[str, Any], reqs: Sequence[str], constant: int | None) -> str:
    """A plain-language title generated from the signature (module docstring) and the requirement text."""
    kind = sig.get("kind")
    if kind == "verdict":
        return f"{sig['req']} departed from without a differing field ({sig['verdict']})"
    leg = _LEG.get(str(sig.get("leg", "")), "")
    if kind in ("dropped", "extra"):
        flags = str(sig.get("flags", ""))
        pkt = flags if flags.startswith(("ICMP", "malformed")) else f"{_flag_words(flags)} segment"
        if kind == "dropped":
            return f"{pkt} to the {leg} not relayed (the model emits it){_req_text(reqs)}"
        return f"extra {pkt} sent to the {leg} (the model emits none){_req_text(reqs)}"
    if kind == "replaced":
        return (f"{_flag_words(str(sig['actual']))} segment sent to the {leg} in place of the "
                f"{_flag_words(str(sig['expected']))} segment the model relays{_req_text([str(sig['req'])])}")
    what, rel = _what(sig), sig.get("relation")
    req_id = str(sig.get("req", ""))
    control = _flag_words(str(sig["control"])) if sig.get("control") else ""
    on = f"{control} " if control else ""
    towards = f"towards the {leg}" if leg else ""
    if str(sig.get("family", "")).startswith("options kind") and rel == "added":
        if req_id.endswith("-STRIP"):
            return f"{what} relayed {towards} to a leg that did not negotiate it{_req_text([req_id])}"
        return f"{what} added {towards} where the model has none{_req_text([req_id])}"
    if rel == "at splice_iss":
        return (f"{on}{what} relayed {towards} at {_LEG_BASE.get(str(sig.get('leg')), '')}.splice_iss, "
                f"not at its place in the stream{_req_text([req_id])}")
    phrases = {
        "unchanged": "passed through unchanged (not mapped)",
        "zeroed": "zeroed",
        "removed": "missing (the model keeps it)",
        "added": "present where the model has none",
        "violated": "invalid",
        "other": "differs",
        "offset": (f"off by {constant:+d}" if constant is not None else "off by a varying amount"),
    }
    return f"{on}{what} {towards} {phrases.get(str(rel), str(rel))}{_req_text([req_id])}".replace("  ", " ")


def summary_lines(found: Sequence[Finding], limit: int | None = None) -> list[str]:
    """Plain-text lines of the findings block (terminal, JUnit)."""
    if not found:
        return []
    out = [f"{len(found)} finding{'s' * (len(found) != 1)} (departures grouped by root cause):"]
    for f in found[:limit]:
        n = len(f.cases)
        out.append(f"  {f.id} {f.verdict or '-':<10} {f.title} [{n} case{'s' * (n != 1)}; "
                   f"smallest: {f.smallest}]")
    if limit is not None and len(found) > limit:
        out.append(f"  ... and {len(found) - limit} more (index.json lists them all)")
    return out
