"""Evidence captures: a pcapng per failing case with its input, expected and actual packets, commented.

Written with the trace checker's :class:`PcapngWriter` (the one encoder of the format) rather than
scapy's writer so that every packet carries a comment saying what it
is (``step 0 input from client``, ``step 0 expected to server #0``, ``step 0 actual to server #0``) and
the case, its requirements and its differing fields travel in the section's comment. The file format
(draft-ietf-opsawg-pcapng): a Section Header Block, one Interface Description Block per splice leg —
interface 0 is leg C (client side), 1 is leg D (server side) — and an Enhanced Packet Block per packet.
Packets are raw IP datagrams (``LINKTYPE_RAW``: the version nibble tells IPv4 from IPv6).

Output is deterministic: little-endian, timestamps derived from the run header's start time (one
millisecond apart, in the order input, expected, actual, step after step).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..conformance.results import CaseResult, StepRecord, step_number
from ..conformance.trace.capture import PcapngWriter

LINKTYPE_RAW = 101
SNAPLEN = 262144
INTERFACES = (("leg C", "client side of the splice: packets from and to the client"),
              ("leg D", "server side of the splice: packets from and to the server"))
LEG_IFACE = {"client": 0, "server": 1}
STEP_US = 1000


@dataclass(frozen=True, slots=True)
class Packet:
    iface: int
    data: bytes
    comments: tuple[str, ...]


def pcapng_bytes(packets: Sequence[Packet], *, start_us: int = 0, comment: str = "", application: str = "") -> bytes:
    out = io.BytesIO()
    with PcapngWriter(out, comment=comment, application=application) as w:
        for name, desc in INTERFACES:
            w.interface(LINKTYPE_RAW, snaplen=SNAPLEN, name=name, description=desc)
        for k, p in enumerate(packets):
            w.write((start_us + k * STEP_US) * 1000, p.data, p.iface, comments=p.comments)
    return out.getvalue()


def start_microseconds(started: str) -> int:
    """The run's ISO 8601 start as microseconds since the epoch (0 when it does not parse)."""
    try:
        when = datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return 0
    if when.tzinfo is None:  # naive: taken as UTC, so the result does not depend on this machine's zone
        when = when.replace(tzinfo=UTC)
    return max(0, round(when.timestamp() * 1_000_000))


def _diff_notes(result: CaseResult, step_index: int, step: StepRecord) -> dict[int, list[str]]:
    """Differing-field lines per actual packet index of ``step``, when the packet they name is unambiguous.

    ``FieldDiff.packet`` indexes the outputs on one leg without naming it; with outputs on both legs the
    lines stay in the section comment only."""
    legs = [leg for leg in (step.actual_to_client, step.actual_to_server) if leg]
    if len(legs) != 1:
        return {}
    notes: dict[int, list[str]] = {}
    number = step_number(result.steps, step_index)
    for d in result.diffs:
        if d.step == number and not d.ok and 0 <= d.packet < len(legs[0]):
            notes.setdefault(d.packet, []).append(d.line())
    return notes


def evidence_packets(result: CaseResult) -> tuple[list[Packet], list[str]]:
    """The packets of every step of ``result`` in order, and notes on hex strings that did not decode."""
    packets: list[Packet] = []
    problems: list[str] = []

    def add(iface: int, hex_text: str, label: str, extra: Sequence[str] = ()) -> None:
        try:
            data = bytes.fromhex(hex_text)
        except (ValueError, TypeError):
            problems.append(f"{label}: not hex, left out")
            return
        packets.append(Packet(iface, data, (label, *extra)))

    for i, step in enumerate(result.steps):
        leg_in = step.leg_in if step.leg_in in LEG_IFACE else "client"
        add(LEG_IFACE[leg_in], step.input, f"step {i} input from {step.leg_in}")
        for kind, to_client, to_server in (("expected", step.expected_to_client, step.expected_to_server),
                                           ("actual", step.actual_to_client, step.actual_to_server)):
            notes = _diff_notes(result, i, step) if kind == "actual" else {}
            for leg, hexes in (("client", to_client), ("server", to_server)):
                for k, h in enumerate(hexes):
                    add(LEG_IFACE[leg], h, f"step {i} {kind} to {leg} #{k}", notes.get(k, ()))
            if kind == "expected" and not to_client and not to_server:
                problems.append(f"step {i}: nothing expected (the splice should emit no packet)")
            if kind == "actual" and not to_client and not to_server:
                problems.append(f"step {i}: nothing observed from the IUT")
    return packets, problems


def section_comment(result: CaseResult, problems: Sequence[str] = ()) -> str:
    lines = [f"splicecheck case {result.case}: {result.verdict.value}", "requirements: " + ", ".join(result.reqs)]
    if result.description:
        lines.append(result.description)
    if result.reason:
        lines.append(f"reason: {result.reason}")
    lines += [d.line() for d in result.diffs if not d.ok]
    lines += problems
    if result.repro:
        lines.append(f"reproduce: {result.repro}")
    return "\n".join(lines)


def write_evidence(result: CaseResult, path: Path, *, started: str = "", application: str = "splicecheck") -> bool:
    """Write ``result``'s capture to ``path``; False (and nothing written) when it has no packet."""
    packets, problems = evidence_packets(result)
    if not packets:
        return False
    data = pcapng_bytes(packets, start_us=start_microseconds(started), comment=section_comment(result, problems),
                        application=application)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True
