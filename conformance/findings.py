"""Findings: a run's departures grouped by behaviour, so a reader sees a few causes, not hundreds of fields.

Why one module of ~680 lines: it is one rule, the signature of a departure, and the helpers that read a
step's packets for it (labels, control flags, rewritten options, a corrupt input) exist only to make that
signature; titles (:mod:`.finding_titles`) and the expectations that classify findings
(:mod:`.expectations`) stand apart.

A *finding* is a deterministic signature taken from the aligned packets of the cases that show it. One
behaviour makes one finding: what follows from it makes none of its own, and the leg it shows on, the
requirement a field evidences and the case that saw it are where it shows, not what it is (a finding lists
its legs and requirements apart from its signature). Per step of a case:

* **the IUT reacted otherwise** (its packets, aligned on their flags with ``difflib``, are one too many,
  one too few, or one carries other control flags or is of another kind, a segment for an ICMP error): the
  whole step, both legs, is one occurrence, signed by its most telling part — a SYN of the box's **own**, else
  an **extra** packet (its SYN/FIN/RST/ACK flags, or its ICMP type), else a packet **replaced** by one of
  other control flags or kind (both labels), else a **dropped** one (its flags, and
  whether the input arrived with a bad checksum: dropping a corrupt segment is another behaviour); a
  packet's flags count only as SYN, FIN, RST and ACK, and one with none of them is one label (:data:`NO_CONTROL`);
* **a trim not made** (``untrimmed``): a packet carrying more data than the model's, or keeping the input's
  SYN/FIN where the model removed it below ``splice_irs``; its sequence number, urgent pointer, flags and IP
  length moved with the data and belong to it;
* otherwise, per packet, each **field family** that differs (``seq``, ``ack``, ``window``, ``options kind 8``,
  ``tcp.checksum``, ``ip.ttl``, ...) with how the actual value relates to the expected one: ``unchanged`` (the
  input's value: passed through), ``unchanged behind the base`` (a sequence or acknowledgment number of the stream
  before the splice passed through: an old number, which a box that maps in pieces leaves as it was; apart from
  one passed through ahead of the base), ``at splice_iss`` (the out leg's base), ``offset`` (a constant, kept when
  the same everywhere), ``zeroed``, ``added``/``removed`` (an option on one side only), ``violated`` (a property
  such as "checksum valid"), ``not clipped`` (a SACK block below the base kept) or ``other``. An option family
  keeps the rule it broke (the requirement: stripping, clipping, mapping) and a Timestamps field its name (TSval,
  TSecr); a SYN or RST keeps its control flag (receivers judge them apart, RFC 9293 3.10.7) in the fields a
  receiver reads differently for them (the sequence number, flags and data; a SYN's window), not elsewhere (a
  RST's ack or window, an option, an IP field); an invalid TCP checksum keeps which options the IUT rewrote at an
  odd offset (an RFC 1624 update of a 32-bit field assumed word-aligned is wrong there, and right at an even one),
  one finding per such option.

A difference marked ``consequence_of`` (after the case's first divergence) belongs to the finding of that
divergence and makes none of its own. A finding's ID is a short hash of its signature, stable across runs,
machines and IUTs; its title is generated from the signature, its legs and its lead requirement (the one
most of its occurrences were taken from). Only what is in results files is used, so a re-rendered run gives
the same findings.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..reference.checksum import ipv4_header_checksum, tcp_checksum
from ..reference.codec import decode
from ..reference.errors import MalformedSegment
from ..reference.icmp import parse_icmp
from ..reference.segment import FIN, RST, SYN, Segment, flags_text
from ..reference.seqspace import MOD32
from ..spec.requirements import BY_ID, Level
from .finding_titles import NO_CONTROL, title
from .results import GRADE, CaseKind, CaseResult, FieldDiff, Geometry, StepRecord, Verdict, step_record

_LEVEL_RANK = {Level.MAY: 0, Level.SHOULD: 1, Level.MUST: 2}


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
    legs: list[str] = field(default_factory=list)  # where it shows: to_client, to_server (not in the signature)
    lead_req: str = ""  # the requirement most of its occurrences were taken from (named in the title)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "signature": self.signature, "level": self.level,
                "verdict": self.verdict, "reqs": list(self.reqs), "consequence_reqs": list(self.consequence_reqs),
                "cases": list(self.cases), "smallest": self.smallest, "repro": self.repro,
                "constant": self.constant, "occurrences": self.occurrences, "legs": list(self.legs),
                "lead_req": self.lead_req}


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


#: how far behind its base (in sequence space) an input's number counts as "behind the base": an old number,
#: not one 2^31 ahead that a 32-bit comparison takes for old (which lies near -2^31 from the base)
BEHIND = 1 << 30


#: the mapping rule a RST's option value is graded apart from (RST-FIELDS), by field (diff._compare_options)
_RST_OPTION_RULE = {"tcp.options.TS.tsval": "TS-VAL", "tcp.options.TS.tsecr": "TS-ECR",
                    "tcp.options.TS (all)": "TS-VAL", "tcp.options.SACK": "SACK-MAP"}


def relation(d: FieldDiff, name: str, step_input: Segment | None, base: int | None,
             geo: Geometry | None = None) -> tuple[str, int | None]:
    """How ``d.actual`` relates to ``d.expected``: a named relation and, for an offset, the constant. ``base``:
    the out leg's splice_iss; ``geo``: the step's geometry, whose in-leg bases tell a sequence or
    acknowledgment number passed through unchanged *behind the base* (less than :data:`BEHIND` before it:
    numbers of the stream before the splice, which a box mapping in pieces, as NAT sequence adjustment does,
    leaves as they were) from one passed through anywhere else."""
    e, a = d.expected, d.actual
    if e is True and a is False:
        return "violated", None
    if e is None and a is not None:
        return "added", None
    if e is not None and a is None:
        return "removed", None
    inp = _input_value(step_input, name)
    if inp is not None and a == inp and e != inp:
        in_base = {"tcp.seq": geo.splice_irs, "tcp.ack": geo.ack_base}.get(name) if geo is not None else None
        if isinstance(inp, int) and in_base is not None and (inp - in_base) % MOD32 > MOD32 - BEHIND:
            return "unchanged behind the base", None
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
        return decode(bytes.fromhex(hexed), keep_rest=True)  # an unwalkable option area still has its flags
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
    leg: str = ""  # where it shows (to_client, to_server; "" for per-case fields): not part of the signature
    lead_req: str = ""  # the requirement of the difference the signature was taken from
    step: int = 0  # the step of the case it shows in


#: letters of a packet's flags that say what a stack does with it (SYN, FIN, RST, and whether it acknowledges)
_KEPT_FLAGS = "SFRA"


def _norm_flags(label: str) -> str:
    """A packet label reduced to the flags that decide how a stack treats it: ``SAU`` -> ``SA``, ``PA`` -> ``A``,
    and ``P``, ``EU``, ``.`` -> :data:`NO_CONTROL`; ICMP and malformed labels stay as they are.

    One label for a packet with none of SYN, FIN, RST and ACK (PSH, URG, ECE, CWR or AE alone or together, or
    no flag at all): a stack drops it in every state — in LISTEN and SYN-SENT for lacking SYN, ACK and RST, in
    a synchronized state at the ACK check (RFC 9293 §3.10.7.2-3.10.7.4) — so which of those flags it carried
    is where a finding shows, not what it is (a box that drops such packets, as conntrack does with every
    combination it holds invalid, would otherwise make a finding per combination)."""
    if label.startswith(("ICMP", "malformed")):
        return label
    return "".join(ch for ch in label if ch in _KEPT_FLAGS) or NO_CONTROL


#: fields that follow from a packet's payload: a packet relayed with other data (not trimmed, say) has its
#: sequence number, urgent pointer, URG/PSH flags and IP length moved with it, so they make no finding of their own
_FOLLOW_PAYLOAD = {"tcp.seq", "tcp.urgent", "flags", "ip.total length", "ip.len", "ip.plen", "ip.checksum"}


def _tcp_options(hexed: str | None) -> list[tuple[int, int, bytes]]:
    """The TCP options of a raw IPv4/IPv6 packet as (kind, offset in the TCP header, bytes); [] if unreadable."""
    if not hexed:
        return []
    try:
        raw = bytes.fromhex(hexed)
        ver = raw[0] >> 4
        ip_len = (raw[0] & 0x0F) * 4 if ver == 4 else 40 if ver == 6 else None
        if ip_len is None:
            return []
        tcp = raw[ip_len:]
        doff = (tcp[12] >> 4) * 4
    except (ValueError, IndexError):
        return []
    out: list[tuple[int, int, bytes]] = []
    k = 20
    while k < min(doff, len(tcp)):
        kind = tcp[k]
        if kind == 0:
            break
        if kind == 1:
            k += 1
            continue
        if k + 1 >= len(tcp) or tcp[k + 1] < 2:
            break
        out.append((kind, k, bytes(tcp[k:k + tcp[k + 1]])))
        k += tcp[k + 1]
    return out


def rewritten_options(input_hex: str | None, actual_hex: str | None) -> list[str]:
    """The options the IUT rewrote (present in its packet with other bytes than the same instance of that
    kind in the input), each as ``kind K at an odd/even offset`` (its offset in the TCP header).

    RFC 1071's sum is over 16-bit words: an incremental update (RFC 1624) of a 32-bit field written as if it
    were aligned on a word is wrong when the field sits at an odd offset, so the parity is what tells one
    checksum defect from another."""
    seen: dict[int, int] = {}
    inp: dict[tuple[int, int], bytes] = {}
    for kind, _off, data in _tcp_options(input_hex):
        inp[(kind, seen.get(kind, 0))] = data
        seen[kind] = seen.get(kind, 0) + 1
    seen.clear()
    out: list[str] = []
    for kind, off, data in _tcp_options(actual_hex):
        n = seen.get(kind, 0)
        seen[kind] = n + 1
        before = inp.get((kind, n))
        if before is not None and before != data:
            label = f"kind {kind} at an {'odd' if off % 2 else 'even'} offset"
            if label not in out:
                out.append(label)
    return sorted(out)


def _payload_relation(d: FieldDiff) -> str:
    """``longer`` when the IUT's packet carries more data than the model's (bytes the model trims were kept),
    ``shorter`` when less, ``other`` when as long but different."""
    def size(v: object) -> int | None:
        m = re.match(r"^(\d+) bytes", str(v))
        return int(m.group(1)) if m else (v if isinstance(v, int) and not isinstance(v, bool) else None)

    e, a = size(d.expected), size(d.actual)
    if e is None or a is None or e == a:
        return "other"
    return "longer" if a > e else "shorter"


def input_corrupt(hexed: str | None) -> str:
    """``bad IP checksum`` / ``bad TCP checksum`` when the input packet arrived corrupt, else ``""``: a
    dropped corrupt segment is another behaviour than a dropped intact one."""
    if not hexed:
        return ""
    try:
        raw = bytes.fromhex(hexed)
        if raw[0] >> 4 == 4:
            ihl = (raw[0] & 0x0F) * 4
            if ipv4_header_checksum(raw[:ihl]) != int.from_bytes(raw[10:12], "big"):
                return "bad checksum"
            total = int.from_bytes(raw[2:4], "big")
            src, dst, tcp = raw[12:16], raw[16:20], raw[ihl:total]
        elif raw[0] >> 4 == 6 and raw[6] == 6:
            src, dst, tcp = raw[8:24], raw[24:40], raw[40:40 + int.from_bytes(raw[4:6], "big")]
        else:
            return ""
        if len(tcp) >= 20 and tcp_checksum(src, dst, tcp) != int.from_bytes(tcp[16:18], "big"):
            return "bad checksum"
    except (ValueError, IndexError):
        return ""
    return ""


def _kept_control(d: FieldDiff, input_hex: str | None) -> bool:
    """Whether a packet of other control flags is the input's own flags where the model removed a SYN or FIN
    (the model trimmed them off as below ``splice_irs``): not another reaction, a trim not made."""
    exp, act = set(_control_bits(d.expected)), set(_control_bits(d.actual))
    inp = set(_control(input_hex)) if input_hex else set()
    return exp < act and act <= inp and not (act - exp) - {"S", "F"}


_COUNT = re.compile(r"^(to_client|to_server)\.count$")  # a leg's packet count (diff.py's field)


def _int(v: object) -> int:
    return v if isinstance(v, int) else 0


#: requirements a packet count is charged to when the model relays nothing for a reason of its own — a segment
#: of no leg of the splice (DIR-ONLY), one too big for the out leg, answered with an ICMP error (MSS-ICMP), one
#: after the splice was closed by a RST (LIFE-AFTER-RST): an extra packet there (a NAT router forwarding a
#: foreign 4-tuple, a box enforcing no MSS, conntrack passing segments of a reset connection) is one behaviour
#: each, not one "extra packet" with whatever else the model emits none for
_MODEL_REASONS = ("DIR-ONLY", "MSS-ICMP", "LIFE-AFTER-RST")


def _own_syn(extra: list[tuple[str, str]], replaced: list[tuple[str, FieldDiff]],
             rec: StepRecord | None) -> tuple[str, str, str] | None:
    """(leg, flags, lead requirement) of a SYN the IUT sent where the model sends none — an extra packet with
    SYN, or one the model relays without SYN that went out with it: the box opening a connection of its own
    (a proxy's SYN to the server, say), one behaviour whatever the model did with the input that set it off
    (relayed it, answered it with an ICMP error, dropped it). A SYN-bearing input relayed on its out leg is
    the input, not a SYN of the box's own (a SYN+ACK too big, forwarded whole)."""
    syn_in = rec is not None and "S" in _control_bits(packet_label(rec.input))
    out_leg = "to_server" if rec is not None and rec.leg_in == "client" else "to_client"
    for leg, flags in extra:
        if "S" in flags and not (syn_in and leg == out_leg):
            return leg, flags, ""
    for leg, d in replaced:
        if "S" in _control_bits(d.actual) and "S" not in _control_bits(d.expected):
            return leg, _norm_flags(str(d.actual)), d.req
    return None


def _leg_packets(rec: StepRecord, leg: str) -> tuple[list[str], list[str]]:
    """The expected and the actual packets (hex) of ``rec`` on ``leg`` (``to_client`` or ``to_server``)."""
    if leg == "to_client":
        return rec.expected_to_client, rec.actual_to_client
    return rec.expected_to_server, rec.actual_to_server


def step_geometry(r: CaseResult, step: int) -> Geometry | None:
    """The geometry of ``r``'s step ``step``: the one recorded for it, or, in results that do not say which step
    each belongs to, the step's place in the list when there is one per step."""
    if any(g.step is not None for g in r.geometry):
        return next((g for g in r.geometry if g.step == step), None)
    return r.geometry[step] if len(r.geometry) == len(r.steps) and 0 <= step < len(r.geometry) else None


def _step_divergence(r: CaseResult, step: int, first_hand: list[FieldDiff]) -> _Occurrence | None:
    """One occurrence for a step in which the IUT emitted other packets than the model (one too many, one too
    few, or one with other control flags): the IUT reacted otherwise to that input, and every difference of
    the step, on both legs, belongs to that reaction. Its signature is the reaction's most telling part: an
    extra packet (the IUT did something of its own), else a packet of other control flags, else a dropped one."""
    rec = step_record(r, step)
    here = [d for d in first_hand if d.step == step]
    extra: list[tuple[str, str]] = []
    dropped: list[tuple[str, str]] = []
    replaced: list[tuple[str, FieldDiff]] = []
    for d in here:
        m = _COUNT.match(d.field)
        if m and rec is not None:
            leg = m.group(1)
            exp, act = _leg_packets(rec, leg)
            el, al = [packet_label(x) for x in exp], [packet_label(x) for x in act]
            sm = difflib.SequenceMatcher(a=el, b=al, autojunk=False)
            matched_e = {i for blk in sm.get_matching_blocks() for i in range(blk.a, blk.a + blk.size)}
            matched_a = {j for blk in sm.get_matching_blocks() for j in range(blk.b, blk.b + blk.size)}
            dropped += [(leg, _norm_flags(lab)) for i, lab in enumerate(el) if i not in matched_e]
            extra += [(leg, _norm_flags(lab)) for j, lab in enumerate(al) if j not in matched_a]
            continue
        m = _INDEXED.match(d.field)
        if m and m.group(3) == "tcp.flags" and _control_bits(d.expected) != _control_bits(d.actual) \
                and not _kept_control(d, rec.input if rec is not None else None):
            replaced.append((m.group(1), d))
        elif m and m.group(3) == "icmp" and (d.expected is None) != (d.actual is None) and rec is not None:
            # an ICMP error where the model has a segment, or a segment where it has an ICMP error: another
            # kind of packet in its place, told by both packets' labels
            leg, i = m.group(1), int(m.group(2))
            exp, act = _leg_packets(rec, leg)
            if i < len(exp) and i < len(act):
                replaced.append((leg, dataclasses.replace(d, expected=packet_label(exp[i]),
                                                          actual=packet_label(act[i]))))
    reqs = sorted({d.req for d in here})
    own = _own_syn(extra, replaced, rec)
    if own is not None:
        leg, flags, lead = own
        return _Occurrence({"kind": "own SYN", "flags": flags}, reqs, leg=leg,
                           lead_req=lead or (reqs[0] if reqs else ""), step=step)
    if extra:
        leg, flags = extra[0]
        why = next((d.req for d in here if d.field == f"{leg}.count"), "")
        if why == "TRIM-BELOW":  # the model drops a segment wholly below the base; the IUT relayed it: a trim not made
            return _Occurrence({"kind": "untrimmed"}, reqs, leg=leg, lead_req=why, step=step)
        # where the model relays nothing for a reason of its own and the IUT relayed the input anyway (a foreign
        # 4-tuple routed, a segment too big forwarded whole, a reset connection's segment passed): one behaviour
        # per reason, whatever flags the input carried
        sig: dict[str, Any] = ({"kind": "extra", "flags": "*", "input": why} if why in _MODEL_REASONS
                               else {"kind": "extra", "flags": flags})
        return _Occurrence(sig, reqs, leg=leg, lead_req=reqs[0] if reqs else "", step=step)
    if replaced:
        leg, d = replaced[0]
        sig = {"kind": "replaced", "expected": _norm_flags(str(d.expected)), "actual": _norm_flags(str(d.actual))}
        return _Occurrence(sig, reqs, leg=leg, lead_req=d.req, step=step)
    if dropped:
        leg, flags = dropped[0]
        lead = next((d.req for d in here if d.field == f"{leg}.count"), reqs[0] if reqs else "")
        corrupt = input_corrupt(rec.input if rec is not None else None)
        # a segment that arrived corrupt is dropped by every receiver whatever its flags: dropping it is one
        # behaviour (a box that verifies checksums), not one per flag set
        sig = {"kind": "dropped", "input": corrupt} if corrupt else {"kind": "dropped", "flags": flags}
        return _Occurrence(sig, reqs, leg=leg, lead_req=lead, step=step)
    counts = [d for d in here if _COUNT.match(d.field)]
    if rec is None and counts:
        # no packets kept for the step (a passing search's evidence keeps its checks only): the reaction is
        # told by the counts alone, one occurrence for the step whatever legs it moved packets on
        more = sorted(d.field.split(".")[0] for d in counts if _int(d.actual) > _int(d.expected))
        fewer = sorted(d.field.split(".")[0] for d in counts if _int(d.actual) < _int(d.expected))
        sig = {"kind": "recounted", "change": "moved" if more and fewer else "more" if more else "fewer"}
        return _Occurrence(sig, reqs, leg=(more or fewer)[0], lead_req=counts[0].req, step=step)
    return None



def case_occurrences(r: CaseResult) -> tuple[list[_Occurrence], list[str]]:
    """The first-hand occurrences of ``r`` (module docstring) and the requirements of its consequences (folded
    into the finding of its first divergence: the first occurrence of the first divergent step)."""
    bad = [d for d in r.diffs if not d.ok]
    first_hand = [d for d in bad if d.consequence_of is None]
    consequences = sorted({d.req for d in bad if d.consequence_of is not None})
    occ: list[_Occurrence] = []
    diverged: set[int] = set()
    for step in sorted({d.step for d in first_hand}):
        o = _step_divergence(r, step, first_hand)
        if o is not None:
            occ.append(o)
            diverged.add(step)
    groups: dict[tuple[int, str, int], dict[str, list[tuple[str, FieldDiff]]]] = {}
    for d in first_hand:
        if d.step in diverged:
            continue
        m = _INDEXED.match(d.field)
        if m:
            leg, pkt, name = m.group(1), int(m.group(2)), m.group(3)
            fam = _family(name, d)
        else:  # per-step or per-case fields (state.*, stage, a refusal, ...)
            leg, pkt, name = "", d.packet, d.field
            fam = re.sub(r"\d+", "N", name)
        groups.setdefault((d.step, leg, pkt), {}).setdefault(fam, []).append((name, d))
    for (step, leg, pkt), fams in groups.items():
        rec = step_record(r, step)
        kept = [d for _n, d in fams.get("flags", []) if _n == "tcp.flags" and _control_bits(d.expected)
                != _control_bits(d.actual) and _kept_control(d, rec.input if rec is not None else None)]
        longer = any(n == "payload" and _payload_relation(d) == "longer" for n, d in fams.get("payload", []))
        if kept or longer:  # a trim not made: the payload, the SYN/FIN and what moves with them are one
            follow = {"payload"} | _FOLLOW_PAYLOAD
            if any("S" in _control_bits(d.actual) for d in kept):
                follow.add("window")  # a SYN kept is read unscaled (RFC 7323 §2.2): its window moves with it
            items = [x for fam in follow & set(fams) for x in fams.pop(fam)]
            lead = next((d for n, d in items if n == "payload"), items[0][1])
            occ.append(_Occurrence({"kind": "untrimmed"}, sorted({d.req for _n, d in items}), leg=leg,
                                   lead_req=lead.req, step=step))
        elif "payload" in fams:  # the fields that move with the payload belong to its occurrence
            for fam in _FOLLOW_PAYLOAD & set(fams):
                fams["payload"].extend(fams.pop(fam))
        step_input = _decode(rec.input) if rec is not None and rec.input else None
        exp_pkts, act_pkts = _leg_packets(rec, leg) if rec is not None else ([], [])
        control = _control(exp_pkts[pkt]) if 0 <= pkt < len(exp_pkts) else ""
        geo = step_geometry(r, step) if rec is not None else None
        base = geo.splice_iss if geo is not None else None
        for fam, items in fams.items():
            name, lead = items[0]
            if fam == "payload":
                lead = next((d for n, d in items if n == "payload"), lead)
                rel, const = _payload_relation(lead), None
            else:
                rel, const = relation(lead, name, step_input, base, geo)
            sig: dict[str, Any] = {"kind": "field", "family": fam, "relation": rel}
            if fam.startswith("options kind"):
                # which rule the option broke (stripping, clipping, mapping) tells behaviours apart; a RST's values
                # (RST-FIELDS, graded apart because no receiver reads them) are the mapping rule's behaviour
                sig["req"] = _RST_OPTION_RULE.get(name, lead.req) if lead.req == "RST-FIELDS" else lead.req
                if lead.req.endswith("-CLIP") and rel in ("added", "other"):
                    sig["relation"] = "not clipped"
                if name.startswith("tcp.options.TS."):
                    sig["field"] = name.rsplit(".", 1)[1]
            if not leg and fam == name:
                sig["req"] = lead.req  # a per-case field: the requirement says what it is about
            if fam == "tcp.checksum" and rel == "violated":
                act = act_pkts[pkt] if 0 <= pkt < len(act_pkts) else None
                # the odd-offset rewrites only: an even-offset one updates the sum right, so it is where the
                # defect shows (a Timestamps option rewritten beside the SACK one), not what it is
                sig["rewritten"] = [x for x in rewritten_options(rec.input if rec is not None else None, act)
                                    if "odd" in x]
            # SYN and RST are judged apart by a receiver (RFC 9293 3.10.7) where it reads the field for them: the
            # sequence number (a RST's acceptability, a SYN's challenge ACK), the flags and the data; a SYN's
            # window is read unscaled (RFC 7323 §2.2). A RST's ack and window are not read (RST-FIELDS), nor a
            # SYN's ack in the synchronized states a splice joins (RFC 5961 §4), and a box that maps, strips or
            # clips an option, or keeps IP options or a TTL, does so whatever the segment's control flags
            judged = "SR" if fam in ("tcp.seq", "flags", "payload") else "S" if fam == "window" else ""
            if set(control) & set(judged):
                sig["control"] = "".join(ch for ch in control if ch in judged)
            # each option rewritten at an odd offset breaks the sum on its own: a packet with two shows two
            # behaviours (the SACK rewrite's and the Timestamps rewrite's), not a third one
            odd = sig.get("rewritten", [])
            sigs = [{**sig, "rewritten": [one]} for one in odd] if len(odd) > 1 else [sig]
            for this in sigs:
                occ.append(_Occurrence(this, sorted({d.req for _n, d in items}), const, rel == "offset", leg,
                                       lead.req, step))
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
        self._leads: dict[str, dict[str, int]] = {}

    def add(self, r: CaseResult) -> None:
        if r.verdict in (Verdict.ERROR, Verdict.SKIPPED, Verdict.UNSUPPORTED):
            return
        occ, consequences = case_occurrences(r)
        if not occ and r.verdict is Verdict.INFO and r.kind is CaseKind.TRACE:
            return  # a trace's note (a one-sided flow, a connection with nothing judged), not a departure
        if not occ and r.verdict in (Verdict.FAIL, Verdict.NON_STRICT, Verdict.INFO):
            primary = r.reqs[0] if r.reqs else "?"
            occ = [_Occurrence({"kind": "verdict", "req": primary, "verdict": r.verdict.value}, [primary],
                               lead_req=primary)]
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
            if o.leg and o.leg not in f.legs:
                f.legs = sorted([*f.legs, o.leg])
            if o.lead_req:
                leads = self._leads.setdefault(fid, {})
                leads[o.lead_req] = leads.get(o.lead_req, 0) + 1
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
            order = {rid: k for k, rid in enumerate(BY_ID)}
            leads = self._leads.get(f.id, {})
            f.lead_req = min(leads, key=lambda q: (-leads[q], order.get(q, len(order)), q)) if leads else ""
            f.title = title(f.signature, [f.lead_req] if f.lead_req else f.reqs, f.constant, f.legs)
        rank = {"FAIL": 0, "NON-STRICT": 1, "INFO": 2, "": 3}
        out.sort(key=lambda f: (rank.get(f.verdict, 3), -len(f.cases), f.id))
        return out


def findings(results: Sequence[CaseResult]) -> list[Finding]:
    """The findings of a run, strongest first (then most cases, then ID)."""
    tally = FindingsTally()
    for r in results:
        tally.add(r)
    return tally.findings()


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
