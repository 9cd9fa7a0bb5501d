"""``splicecheck repro CASE --adapter synproxy -o repro.py``: write a standalone reproducer of one case.

The reproducer (``repro_template.py`` filled with the case's data) depends only on Python, scapy and the
system's ``ip``/``nft``: it builds the lab, performs the handshakes itself, replays the case and exits 1
while the IUT departs from the model, 0 when it behaves as a correct splice (its docstring says more).

How the case's data is made here: the adapter opens one real session for the case's scenario (so the
negotiated options are the IUT's own), and the case is built and relayed through the reference model on
that session's splice state. The numbers the IUT chooses and the reproducer must learn again —
``C.splice_iss`` (the SYN cookie + 1), ``D.splice_iss``, and the last TSval the proxy sent on each leg —
are then each moved by a constant, and every 32-bit number of every input and expected packet (seq, ack,
TSval, TSecr, SACK edges) is classified as a constant or as following exactly one of them; a number that
follows none or several linearly, or a case whose packets change shape with them, is refused (exit 2).
The reproducer re-bases each number by what it learns. Only named and vector cases of the ``synproxy``
adapter over IPv4 without raw (deliberately malformed) injections can be written.

Exit status: 0 written, 2 on a usage error or a case that cannot be made standalone.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .conformance.case import Case, injections
from .conformance.catalog import UnknownCase, select
from .conformance.contract import load_adapter
from .conformance.model import Model
from .reference.codec import encode
from .reference.relay import SpliceState
from .reference.segment import Sack, Segment, Timestamps, flags_text

PROG = "splicecheck repro"
UNKNOWNS = ("C_iss", "C_ts", "D_iss", "D_ts")
MOD = 1 << 32
TEMPLATE = Path(__file__).with_name("repro_template.py")


class ReproError(Exception):
    """The case cannot be written as a standalone reproducer (the message says why)."""


def _moved(st: SpliceState, unknown: str, delta: int) -> SpliceState:
    leg = st.client if unknown.startswith("C") else st.server
    name = "splice_iss" if unknown.endswith("iss") else "lastsent_ts"
    leg = replace(leg, **{name: (getattr(leg, name) + delta) % MOD})
    return replace(st, client=leg) if unknown.startswith("C") else replace(st, server=leg)


def _numbers(seg: Segment) -> dict[str, int]:
    out = {"seq": seg.tcp.seq, "ack": seg.tcp.ack}
    for o in seg.tcp.options:
        if isinstance(o, Timestamps):
            out["tsval"], out["tsecr"] = o.tsval, o.tsecr
        elif isinstance(o, Sack):
            for i, (left, right) in enumerate(o.blocks):
                out[f"sack.{i}.0"], out[f"sack.{i}.1"] = left, right
    return out


def _shape(seg: Segment) -> tuple[object, ...]:
    return (flags_text(seg.tcp.flags), seg.payload, seg.ip.src, seg.ip.dst, seg.tcp.sport, seg.tcp.dport,
            tuple(type(o).__name__ for o in seg.tcp.options))


def _trace(case: Case, st: SpliceState) -> list[tuple[Segment, dict[str, list[Segment]]]]:
    """The case's inputs built on ``st`` and the model's outputs per leg, step by step."""
    built = injections(list(case.build(st)))
    if any(inj.raw is not None for inj in built):
        raise ReproError(f"{case.id} injects raw (malformed) bytes: not supported by the standalone reproducer")
    model = Model(st)
    out = []
    for inj in built:
        r = model.relay(inj.segment, inj.now)
        legs: dict[str, list[Segment]] = {"client": [], "server": []}
        for seg in r.segments:
            legs["client" if seg.ip.dst == st.client.peer.addr else "server"].append(seg)
        out.append((inj.segment, legs))
    return out


def _packets(trace: list[tuple[Segment, dict[str, list[Segment]]]]) -> list[Segment]:
    return [p for inp, legs in trace for p in (inp, *legs["client"], *legs["server"])]


def dependencies(case: Case, st: SpliceState) -> list[dict[str, tuple[int, str | None]]]:
    """Per packet of the trace (inputs and outputs in order): each number's base value and the unknown it
    follows (None: a constant). Raises ReproError when a number follows none or several linearly."""
    base = _packets(_trace(case, st))
    deltas = {u: 0x01000193 + 7919 * k for k, u in enumerate(UNKNOWNS)}
    moved = {u: _packets(_trace(case, _moved(st, u, deltas[u]))) for u in UNKNOWNS}
    deps: list[dict[str, tuple[int, str | None]]] = []
    for k, seg in enumerate(base):
        nums = _numbers(seg)
        d: dict[str, tuple[int, str | None]] = {}
        for name, v in nums.items():
            follows = []
            for u in UNKNOWNS:
                if len(moved[u]) != len(base) or _shape(moved[u][k]) != _shape(seg):
                    raise ReproError(f"{case.id}: its packets change with {u}; cannot be re-based")
                shift = (_numbers(moved[u][k]).get(name, v) - v) % MOD
                if shift == deltas[u]:
                    follows.append(u)
                elif shift:
                    raise ReproError(f"{case.id}: packet {k} {name} moves by {shift} when {u} moves by {deltas[u]}")
            if len(follows) > 1:
                raise ReproError(f"{case.id}: packet {k} {name} follows {', '.join(follows)} at once")
            d[name] = (v, follows[0] if follows else None)
        deps.append(d)
    # check the classification on every unknown moved at once, by other amounts
    together = st
    shifts = {u: 0x7FFF0001 + 104729 * k for k, u in enumerate(UNKNOWNS)}
    for u in UNKNOWNS:
        together = _moved(together, u, shifts[u])
    for k, seg in enumerate(_packets(_trace(case, together))):
        for name, v in _numbers(seg).items():
            b, dep = deps[k][name]
            if v != (b + (shifts[dep] if dep else 0)) % MOD:
                raise ReproError(f"{case.id}: packet {k} {name} is not a re-based constant")
    return deps


def _fields(d: dict[str, tuple[int, str | None]]) -> dict[str, Any]:
    out: dict[str, Any] = {name: list(d[name]) for name in ("seq", "ack", "tsval", "tsecr") if name in d}
    blocks = sorted({int(n.split(".")[1]) for n in d if n.startswith("sack.")})
    if blocks:
        out["sack"] = [[list(d[f"sack.{i}.0"]), list(d[f"sack.{i}.1"])] for i in blocks]
    return out


def case_data(case: Case, adapter_spec: str) -> dict[str, Any]:
    """Open one session of the adapter for the case (live), and derive everything the reproducer needs."""
    if case.execute is not None:
        raise ReproError(f"{case.id} is a generated (property or stateful) case: give a named or vector case")
    if case.scenario.family != 4:
        raise ReproError(f"{case.id} runs over IPv6: the standalone reproducer speaks IPv4 only")
    if adapter_spec.split(":", 1)[0] != "synproxy":
        raise ReproError(f"the standalone reproducer knows the synproxy adapter's lab only, not {adapter_spec!r}")
    adapter = load_adapter(adapter_spec)
    missing = adapter.missing() if hasattr(adapter, "missing") else []
    if missing:
        raise ReproError("the lab is unavailable here: " + "; ".join(missing))
    try:
        info = adapter.info()
        with adapter.open(case.scenario) as session:
            st: SpliceState = session.state
            hs = session.handshake  # type: ignore[attr-defined]
    finally:
        adapter.close()
    deps = dependencies(case, st)
    trace = _trace(case, st)
    steps: list[dict[str, Any]] = []
    k = 0
    for inp, legs in trace:
        step: dict[str, Any] = {"from": "server" if inp.ip.src == st.server.peer.addr else "client",
                                "input": encode(inp).hex(), "input_fields": _fields(deps[k]),
                                "expectation": case.expectation, "expected": {"client": [], "server": []}}
        k += 1
        for side in ("client", "server"):
            for seg in legs[side]:
                e = {"flags": "".join(sorted(flags_text(seg.tcp.flags).replace(".", ""))),
                     "payload": seg.payload.hex(), **_fields(deps[k])}
                step["expected"][side].append(e)
                k += 1
        steps.append(step)

    def tsval(seg: Segment) -> int | None:
        ts = seg.tcp.option(Timestamps)
        return ts.tsval if isinstance(ts, Timestamps) else None

    details = info.details
    sysctls = {}
    for item in details.get("sysctls (proxy namespace)", "").split(","):
        key, _, value = item.strip().partition("=")
        if "." in key and value.strip().lstrip("-").isdigit():
            sysctls[key] = value.strip()
    return {
        "case": case.id, "description": case.description, "iut": f"{info.name} {info.version}",
        "finding": f"{case.id} departs from the reference model ({', '.join(case.reqs)})",
        "ruleset": details.get("ruleset", ""), "sysctls": sysctls, "mtu": 65535,
        "base": {"C_iss": st.client.splice_iss, "C_ts": st.client.lastsent_ts, "D_iss": st.server.splice_iss,
                 "D_ts": st.server.lastsent_ts},
        "handshake": {"client_syn": encode(hs.client_syn).hex(), "client_ack": encode(hs.client_ack).hex(),
                      "client_seq": hs.client_ack.tcp.seq, "client_tsval": tsval(hs.client_ack),
                      "server_synack": encode(hs.server_synack).hex(), "server_tsval": tsval(hs.server_synack)},
        "steps": steps,
    }


def render(data: dict[str, Any]) -> str:
    text = TEMPLATE.read_text(encoding="utf-8")
    title = f"Reproducer of {data['case']} ({data['iut']}): {data['description']}"
    blob = json.dumps(data, indent=1, sort_keys=True)
    if '"""' in blob:
        raise ReproError("the case's data cannot be embedded")
    return text.replace("__TITLE__", title.replace('"""', "'''"), 1).replace("__DATA__", blob, 1)


def cmd_repro(args: argparse.Namespace) -> int:
    try:
        cases = select([args.case])
    except UnknownCase as exc:
        print(f"{PROG}: {exc.args[0]}", file=sys.stderr)
        return 2
    case = next((c for c in cases if c.id == args.case), None)
    if case is None:
        print(f"{PROG}: give one case ID, not a requirement ({len(cases)} cases match {args.case!r})", file=sys.stderr)
        return 2
    try:
        text = render(case_data(case, args.adapter))
    except ReproError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        args.output.write_text(text, encoding="utf-8")
        args.output.chmod(0o755)
    except OSError as exc:
        print(f"{PROG}: cannot write {args.output}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: run it as root (python3 {args.output.name}); exit 1 while the departure is present")
    return 0
