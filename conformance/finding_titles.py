"""Titles of findings (:mod:`splicecheck.conformance.findings`): a plain-language line generated from a
finding's signature, the legs it shows on and the text of its lead requirement, such as "RST sequence
number relayed towards the client at C.splice_iss, not at its place in the stream (SEQ-MAP: ...)".
Apart from the grouping, which decides what a finding is; this module only says it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..spec.requirements import BY_ID

_LEG = {"to_client": "client", "to_server": "server"}
_LEG_BASE = {"to_client": "C", "to_server": "D"}
_KIND_NAMES = {2: "MSS option", 3: "Window-scale option", 4: "SACK-permitted option", 5: "SACK option",
               8: "Timestamps option"}
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


#: the flags label of a packet with none of SYN, FIN, RST and ACK (``findings._norm_flags`` says why there is one)
NO_CONTROL = "none of SFRA"


def _flag_words(flags: str) -> str:
    """``FA`` -> ``FIN+ACK``; ``.`` (no flag) -> ``flagless``; :data:`NO_CONTROL` -> ``SYN/FIN/RST/ACK-less``."""
    if flags == NO_CONTROL:
        return "SYN/FIN/RST/ACK-less"
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


def _where(legs: Sequence[str], to: bool) -> str:
    """``to the client`` / ``towards the server`` / ``in both directions`` / ``""``."""
    names = [_LEG[g] for g in legs if g in _LEG]
    if len(names) == 1:
        return f"{'to' if to else 'towards'} the {names[0]}"
    return "in both directions" if names else ""


def title(sig: dict[str, Any], reqs: Sequence[str], constant: int | None, legs: Sequence[str] = ()) -> str:
    """A plain-language title generated from the signature (module docstring), the legs it shows on and the
    text of its lead requirement (``reqs[0]``)."""
    return re.sub(r" {2,}", " ", _title(sig, reqs, constant, legs))


def _title(sig: dict[str, Any], reqs: Sequence[str], constant: int | None, legs: Sequence[str]) -> str:
    kind = sig.get("kind")
    if kind == "verdict":
        return f"{sig['req']} departed from without a differing field ({sig['verdict']})"
    if not legs and sig.get("leg"):  # a signature of an older version kept its leg
        legs = [str(sig["leg"])]
    to, towards = _where(legs, True), _where(legs, False)
    if kind in ("dropped", "extra"):
        flags = str(sig.get("flags", ""))
        if flags.startswith(("ICMP", "malformed")):
            pkt = flags
        elif flags == "*":  # whatever flags (an input relayed where the model has a reason to relay nothing)
            pkt = "segment"
        elif not flags:  # a corrupt segment dropped, whatever its flags
            pkt = "a segment"
        else:
            pkt = f"{_flag_words(flags)} segment"
        if kind == "dropped":
            pkt = f"{pkt} that arrived with a {sig['input']}" if sig.get("input") else pkt
            return f"{pkt} not relayed {to} (the model relays it){_req_text(reqs)}"
        model = {"DIR-ONLY": "the model relays no segment of another 4-tuple",
                 "MSS-ICMP": "the model answers a segment too big for the out leg with an ICMP error",
                 "LIFE-AFTER-RST": "the model relays nothing after the RST that closed the splice"}.get(
            str(sig.get("input", "")), "the model emits none")
        return f"extra {pkt} sent {to} ({model}){_req_text(reqs)}"
    if kind == "own SYN":
        return (f"{_flag_words(str(sig.get('flags', 'S')))} segment of the box's own sent {to} (the model sends no "
                f"SYN there){_req_text(reqs)}")
    if kind == "replaced":
        def packet(label: str) -> str:
            return f"{label} error" if label.startswith("ICMP") else f"{_flag_words(label)} segment"
        verb = "sends" if str(sig["expected"]).startswith("ICMP") else "relays"
        return (f"{packet(str(sig['actual']))} sent {to} in place of the {packet(str(sig['expected']))} the model "
                f"{verb}{_req_text(reqs)}")
    if kind == "recounted":
        change = {"moved": "packets emitted on another leg than the model's", "more": "more packets than the "
                  "model's", "fewer": "fewer packets than the model's"}.get(str(sig.get("change")), "other packets")
        return f"{change} for one input (only the counts were kept){_req_text(reqs)}"
    if kind == "untrimmed":
        return (f"sequence space the model trims (data, a SYN or FIN below splice_irs) relayed {towards}, "
                f"not trimmed{_req_text(reqs)}")
    what, rel = _what(sig), sig.get("relation")
    req_id = str(sig.get("req", "")) or (reqs[0] if reqs else "")
    control = _flag_words(str(sig["control"])) if sig.get("control") else ""
    on = f"{control} " if control else ""
    fam = str(sig.get("family", ""))
    if sig.get("field"):
        what = f"{ {'tsval': 'TSval', 'tsecr': 'TSecr'}.get(str(sig['field']), str(sig['field']))} of the {what}"
    if fam.startswith("options kind") and rel == "added":
        if req_id.endswith("-STRIP"):
            return f"{what} relayed {towards} to a leg that did not negotiate it{_req_text([req_id])}"
        return f"{what} added {towards} where the model has none{_req_text([req_id])}"
    if rel == "at splice_iss":
        bases = sorted({_LEG_BASE[g] for g in legs if g in _LEG_BASE}) or ["out"]
        return (f"{on}{what} relayed {towards} at {'/'.join(bases)}.splice_iss, "
                f"not at its place in the stream{_req_text([req_id])}")
    if fam == "payload" and rel == "longer":
        return f"{on}data the model trims relayed {towards} (payload not trimmed){_req_text([req_id])}"
    if fam == "tcp.checksum" and rel == "violated":
        rewritten = list(sig.get("rewritten") or [])
        why = ""
        if rewritten:
            parts = [re.sub(r"kind (\d+)", lambda m: _KIND_NAMES.get(int(m.group(1)), f"option kind {m.group(1)}"), x)
                     for x in rewritten]
            why = f" when it rewrites the {' and the '.join(parts)}"
        return f"{on}TCP checksum {towards} invalid{why}{_req_text([req_id])}"
    if rel == "unchanged behind the base":  # an old number (before the splice's base) left as it was
        return f"{on}{what} behind the base passed through unchanged {towards} (not mapped){_req_text([req_id])}"
    phrases = {
        "unchanged": "passed through unchanged (not mapped)",
        "zeroed": "zeroed",
        "removed": "missing (the model keeps it)",
        "added": "present where the model has none",
        "violated": "invalid",
        "other": "differs",
        "not clipped": "not clipped to the base (blocks below it kept)",
        "longer": "longer than the model's",
        "shorter": "shorter than the model's",
        "offset": (f"off by {constant:+d}" if constant is not None else "off by a varying amount"),
    }
    return f"{on}{what} {towards} {phrases.get(str(rel), str(rel))}{_req_text([req_id])}"
