"""Z3's boundary vectors as conformance cases (kind "vector").

``spec.proofs.boundary_vectors`` asks Z3, per property, for a model of the property's premises plus
each of its named boundary constraints — wrap at 0xFFFFFFFF, a base at the wrap, distance 2^31,
zero-length and maximal segments, maximum window — so every vector is a concrete point the proofs
single out. Here each vector becomes a splice (its bases placed through the end hosts' ISNs and, when
the vector fixes a send base, the proxy's) and the segments the property talks about. The expectation
is, as for every case, the reference model's relay output.

The vectors are precomputed into ``data/boundary_vectors.json`` (``python -m
splicecheck.conformance.cases_vectors`` rewrites it) so that loading the catalogue needs no solver;
``tests/test_cases.py`` checks the file against a fresh computation. If the file is missing (an
installation without package data) the vectors are computed on import instead.

What does not become a case: the checksum properties (PROOF-CSUM-*, PROOF-ONES-ADD) quantify over
abstract 16-bit words, not segments; round-trip vectors whose OK message is 64 KiB or longer (an
application writing a 1 GiB OK message is not a test anyone runs). A data length above what one IP
packet carries (Z3 likes 65535) is shortened to 65455 bytes, from the end or — when that would change
whether the segment lies below, across or above the base — from the front; the case says so.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..reference.mapping import behind_base, map_tsval
from ..reference.relay import SpliceState
from ..reference.segment import ACK, FIN, SYN, URG, Sack, Segment, Timestamps
from ..reference.seqspace import HALF, before, seq_add, seq_sub
from .case import Case, from_client, from_server, ts_option
from .cases_common import STEP, focused, payload, spliced_at, stream
from .cases_lifecycle import based
from .contract import Feature, PeerPlan, Scenario
from .results import CaseKind

DATA = Path(__file__).resolve().parent / "data" / "boundary_vectors.json"
SKIPPED = ("PROOF-CSUM-RFC1624", "PROOF-CSUM-RFC1141", "PROOF-CSUM-FAILSAFE", "PROOF-ONES-ADD")
CAP = 65535 - 40 - 40  # the most data an IPv4 packet with a full TCP option area can carry
BIG_MSS = 65535
BELOW = frozenset({Feature.BELOW_BASE})

Vector = dict[str, int]

# --------------------------------------------------------------------------------------------------
# The data file
# --------------------------------------------------------------------------------------------------


def compute() -> dict[str, Any]:
    """Every property's boundary vectors, fresh from Z3 (about half a second)."""
    # z3 (and the proofs on it): only regenerating the data file needs them, not loading the cases
    import z3

    from ..spec.proofs import PROPERTIES
    from ..spec.proofs_core import boundary_cases

    props = {p.id: {"requirements": list(p.requirements),
                    "vectors": [{"case": name, "values": v} for name, v in boundary_cases(p)]}
             for p in PROPERTIES}
    return {"z3": z3.get_version_string(), "properties": props}


def write(path: Path = DATA) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(compute(), indent=1, sort_keys=False) + "\n")
    return path


def load(path: Path = DATA) -> dict[str, Any]:
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return compute()


# --------------------------------------------------------------------------------------------------
# From a vector to segments
# --------------------------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def trimmed(seq: int, seg_len: int, irs: int, advance: int = 0) -> int:
    """How many of a segment's numbers precede ``irs`` in a stream that has advanced ``advance`` past it
    (§3.3, reference.mapping.behind_base): used to classify a vector and name its case, never as an
    expectation."""
    return min(seq_sub(irs, seq), seg_len) if behind_base(seq, irs, advance) else 0


def fit(seq: int, syn: int, data: int, fin: int, irs: int, advance: int = 0) -> tuple[int, int, str]:
    """(seq, data_len, note): the segment shortened to CAP data bytes, keeping its place relative to the
    base (module docstring). When the cut is at the front, seq moves forward by the bytes cut (an urgent
    pointer must move back by as many: :func:`front_cut`)."""
    if data <= CAP:
        return seq, data, ""

    def where(s: int, d: int) -> tuple[bool, bool]:
        n = syn + d + fin
        t = trimmed(s, n, irs, advance)
        return t == 0, t == n

    if where(seq, CAP) == where(seq, data):
        return seq, CAP, f" (data shortened from {data} to {CAP} bytes at the end: one IP packet)"
    return seq_add(seq, data - CAP), CAP, f" (data shortened from {data} to {CAP} bytes at the front: one IP packet)"


def front_cut(original_seq: int, seq: int) -> int:
    """How many bytes :func:`fit` cut from the front."""
    return int(seq_sub(seq, original_seq))


def flags_of(v: Vector, syn: str = "syn", fin: str = "fin", urg: str = "urg") -> int:
    return ACK | (SYN if v.get(syn) else 0) | (FIN if v.get(fin) else 0) | (URG if v.get(urg) else 0)


def client_stream(st: SpliceState, advance: int) -> list[Segment]:
    return stream(st, advance)


def server_stream(st: SpliceState, advance: int) -> list[Segment]:
    return stream(st, advance, server=True)


def advanced(advance: int) -> str:
    if not advance:
        return ""
    return f" after the stream advanced {advance:#x} past the base ({-(-advance // STEP)} one-byte steps)"


def segment_case(v: Vector, irs: int, iss: int | None = None, *, data_key: str = "data_len"
                 ) -> tuple[Scenario, Callable[[SpliceState], Sequence[Segment]], bool, str]:
    """A client stream advanced as the vector says, then its segment (seq, SYN, data, FIN, URG) on a splice
    with C.splice_irs = irs (and D.splice_iss = iss): the scenario, the build, whether the segment
    precedes the base in the stream, and a note on shortening."""
    adv = v.get("advance", 0)
    seq, data, note = fit(v["seq"], v.get("syn", 0), v.get(data_key, 0), v.get("fin", 0), irs, adv)
    big = data > 1400
    scenario = spliced_at(c2s_irs=irs, c2s_iss=iss, client_mss=BIG_MSS if big else 1460,
                          server_mss=BIG_MSS if big else 1460)
    off = seq_sub(seq, irs)
    urgent = v.get("urgent", 0)
    if urgent and front_cut(v["seq"], seq):  # the pointer keeps designating the same octet
        urgent = max(urgent - front_cut(v["seq"], seq), 1)
        note += f" (urgent pointer {v['urgent']} → {urgent} with it)"

    def build(st: SpliceState) -> Sequence[Segment]:
        return [*client_stream(st, adv),
                from_client(st, off, flags=flags_of(v), urgent=urgent & 0xFFFF, payload=payload(data))]

    return scenario, build, bool(behind_base(seq, irs, adv)), note + advanced(adv)


def at_half_behind(seq: int, irs: int, advance: int) -> bool:
    """``seq`` lies exactly 2^31 behind the furthest point (TRIM-HALF), the stream not yet saturated."""
    return advance < HALF and seq_sub(seq_add(irs, advance), seq) == HALF


# --------------------------------------------------------------------------------------------------
# Converters: property ID → (vector → cases)
# --------------------------------------------------------------------------------------------------

TRIM_FIELDS = ("SEQ-MAP", "ACK-MAP", "PAYLOAD-KEEP", "FLAGS-KEEP", "TRIM-REST", "TRIM-BELOW", "TRIM-SOUND",
               "TRIM-COMPLETE")
#: Primaries the diff engine does not credit on its own: their cases credit the trim fields to them.
FOCUSED = frozenset({"TRIM-HALF", "TRIM-COMPLETE", "TRIM-2GIB", "SEQ-CTL", "SEQ-ORDER-HALF"})
#: Requirements no compared field is ever attributed to: never listed as a secondary target (a case
#: would report them PASS whatever happened).
UNATTRIBUTED = frozenset({"TRIM-HALF", "TRIM-2GIB", "SEQ-CTL", "SEQ-ORDER-HALF", "LIFE-BASE-S2C", "LIFE-BASE-C2S",
                          "LIFE-COMPLETE", "LIFE-DONTACK", "LIFE-RELEASE", "LIFE-TOTAL", "WS-ZERO", "WS-PROPAGATE",
                          "MSS-536"})

Made = tuple[str, tuple[str, ...], str, Scenario, Callable[[SpliceState], Sequence[Segment]], frozenset[Feature]]


def _reqs(primary: str, others: Sequence[str]) -> tuple[str, ...]:
    if primary in FOCUSED:
        return (primary,)
    return (primary, *(r for r in others if r != primary and r not in UNATTRIBUTED))


def seq_bijection(v: Vector) -> list[Made]:
    irs, iss = v["splice_irs"], v["splice_iss"]
    scenario = spliced_at(c2s_irs=irs, c2s_iss=iss, s2c_irs=irs, s2c_iss=iss)
    points = [v["seq"], v["seq2"], seq_add(irs, v["n"])]

    def build(st: SpliceState) -> Sequence[Segment]:
        acks = [from_client(st, 0, ack_off=seq_sub(p, iss)) for p in points]
        data = [from_client(st, seq_sub(p, irs), ack_off=0, payload=b"vector") for p in points if not before(p, irs)]
        return acks + data

    return [("SEQ-MAP", ("SEQ-MAP", "ACK-MAP"),
             f"C.splice_irs = D.splice_irs = {irs:#x}, C.splice_iss = D.splice_iss = {iss:#x}: client ACKs of "
             f"{', '.join(hex(p) for p in points)}, and data at those of them not below the base.",
             scenario, build, frozenset())]


def seq_order(v: Vector) -> list[Made]:
    a, b, irs, iss = v["a"], v["b"], v["splice_irs"], v["splice_iss"]
    half = seq_sub(b, a) == HALF
    scenario = spliced_at(c2s_irs=irs, c2s_iss=iss, s2c_irs=irs, s2c_iss=iss)
    with_data = [p for p in (a, b) if half or not before(p, irs)]

    def build(st: SpliceState) -> Sequence[Segment]:
        return ([from_client(st, 0, ack_off=seq_sub(p, iss)) for p in (a, b)]
                + [from_client(st, seq_sub(p, irs), payload=b"order") for p in with_data])

    primary = "SEQ-ORDER-HALF" if half else "SEQ-MAP"
    needs = BELOW if any(before(p, irs) for p in with_data) else frozenset()
    return [(primary, _reqs(primary, ("SEQ-MAP", "ACK-MAP")),
             f"Bases at {irs:#x}/{iss:#x}: client ACKs of {a:#x} and {b:#x}"
             f"{' (2^31 apart)' if half else ''}, and data at {', '.join(hex(p) for p in with_data)}.",
             scenario, build, needs)]


def roundtrip(v: Vector) -> list[Made]:
    n = v["ok_len"]
    if n > 0xFFFF:
        return []
    c_rcv, c_snd, d_rcv, d_snd = v["c_rcv_nxt"], v["c_snd_nxt"], v["d_rcv_nxt"], v["d_snd_nxt"]
    scenario = Scenario(client=PeerPlan(isn=seq_sub(c_rcv, 1)), server=PeerPlan(isn=seq_sub(d_rcv, 1)),
                        proxy_isn_c=seq_sub(c_snd, 1), proxy_isn_d=seq_sub(d_snd, 1), ok_len=n)
    c_off, s_off = seq_sub(v["client_byte"], c_rcv), seq_sub(v["server_byte"], d_rcv)
    k = v["ok_acked"]

    def build(st: SpliceState) -> Sequence[Segment]:
        return [from_server(st, s_off, payload=b"S"), from_client(st, c_off, payload=b"C"),
                from_client(st, 0, ack_off=k - n), from_client(st, 0), from_server(st, 0, ack_off=c_off + 1)]

    return [("LIFE-BASE-S2C", ("LIFE-BASE-S2C", "LIFE-BASE-C2S"),
             f"C.rcv_nxt {c_rcv:#x}, C.snd_nxt {c_snd:#x}, OK message {n} bytes, D.rcv_nxt {d_rcv:#x}, D.snd_nxt "
             f"{d_snd:#x}: a server byte at {v['server_byte']:#x}, a client byte at {v['client_byte']:#x}, the "
             f"client's ACKs of {k} bytes and of the whole OK message, the server's ACK of the client byte.",
             scenario, build, BELOW if before(v["server_byte"], d_rcv) or before(v["client_byte"], c_rcv)
             else frozenset())]


def half_distance(v: Vector) -> list[Made]:
    irs, seg_len, a = v["splice_irs"], v["seg_len"], v["a"]
    syn, fin = int(seg_len == 0xFFFF + 2), int(seg_len > 0xFFFF)
    w = {"seq": a, "syn": syn, "fin": fin, "data_len": seg_len - syn - fin}
    scenario, build, below, note = segment_case(w, irs)
    return [("TRIM-HALF", ("TRIM-HALF",),
             f"C.splice_irs = {irs:#x}: a client segment of {seg_len} sequence numbers at {a:#x}, 2^31 from "
             f"the base{note}.", scenario, build, BELOW if below else frozenset())]


def ts_paws(v: Vector) -> list[Made]:
    recv, sent = v["in_lastrecv_ts"], v["out_lastsent_ts"]
    scenario = spliced_at(client_tsval=recv, proxy_tsval_d=sent)

    def build(st: SpliceState) -> Sequence[Segment]:
        return [from_client(st, 0, payload=b"paws", options=[ts_option(st.client, seq_sub(t, recv), 0)])
                for t in (v["tsval1"], v["tsval2"])]

    return [("TS-VAL", ("TS-VAL", "TS-ECR"),
             f"C.lastrecv_TS {recv:#x}, D.lastsent_TS {sent:#x}: client TSvals {v['tsval1']:#x} and "
             f"{v['tsval2']:#x}.", scenario, build, frozenset())]


def ts_echo(v: Vector) -> list[Made]:
    scenario = spliced_at(client_tsval=v["c_lastrecv_ts"], proxy_tsval_c=v["c_lastsent_ts"],
                          server_tsval=v["d_lastrecv_ts"], proxy_tsval_d=v["d_lastsent_ts"])
    tc, ts = v["client_tsval"], v["server_tsval"]

    def build(st: SpliceState) -> Sequence[Segment]:
        c, d = st.client, st.server
        seen_by_server = map_tsval(tc, c.lastrecv_ts, d.lastsent_ts)  # what the server echoes: its input
        seen_by_client = map_tsval(ts, d.lastrecv_ts, c.lastsent_ts)
        return [from_client(st, 0, payload=b"c", options=[Timestamps(tc, c.lastsent_ts)]),
                from_server(st, 0, ack_off=1, payload=b"s", options=[Timestamps(ts, seen_by_server)]),
                from_client(st, 1, ack_off=1, options=[Timestamps(tc, seen_by_client)])]

    return [("TS-ECR", ("TS-ECR", "TS-VAL"),
             f"Timestamps {v['c_lastrecv_ts']:#x}/{v['c_lastsent_ts']:#x} (leg C), {v['d_lastrecv_ts']:#x}/"
             f"{v['d_lastsent_ts']:#x} (leg D): the client's TSval {tc:#x} is echoed by the server, the server's "
             f"{ts:#x} by the client.", scenario, build, frozenset())]


def sack(v: Vector) -> list[Made]:
    left, right, iss, irs = v["left"], v["right"], v["in_splice_iss"], v["out_splice_irs"]
    adv = v.get("advance", 0)
    scenario = spliced_at(s2c_iss=iss, s2c_irs=irs)
    primary = "SACK-CLIP" if behind_base(left, iss, adv) else "SACK-MAP"

    def build(st: SpliceState) -> Sequence[Segment]:
        return [*server_stream(st, adv), from_client(st, 0, options=[Sack(((left, right),))])]

    return [(primary, _reqs(primary, ("SACK-MAP", "SACK-CLIP")),
             f"C.splice_iss = {iss:#x}, D.splice_irs = {irs:#x}: a client SACK block [{left:#x}, {right:#x})"
             f"{advanced(adv).replace('the stream', 'the server stream')}.", scenario, build, frozenset())]


def trim_like(*reqs: str) -> Callable[[Vector], list[Made]]:
    """PROOF-TRIM-SOUND, -TRIM-COMPLETE, -SEQ-CTL, -TRIM-2GIB: a client stream, then one client segment."""

    def convert(v: Vector) -> list[Made]:
        irs = v["splice_irs"]
        iss = v.get("splice_iss")
        scenario, build, below, note = segment_case(v, irs, iss)
        primary = "TRIM-HALF" if at_half_behind(v["seq"], irs, v.get("advance", 0)) else reqs[0]
        return [(primary, _reqs(primary, reqs),
                 f"C.splice_irs = {irs:#x}{'' if iss is None else f', D.splice_iss = {iss:#x}'}: a client segment "
                 f"at {v['seq']:#x} with SYN={v['syn']} data={v['data_len']} FIN={v['fin']}{note}.",
                 scenario, build, BELOW if below else frozenset())]

    return convert


def urgent(v: Vector) -> list[Made]:
    irs = v["splice_irs"]
    scenario, build, below, note = segment_case(v, irs)
    t = trimmed(v["seq"], v["syn"] + v["data_len"] + v["fin"], irs, v.get("advance", 0))
    primary = "URG-KEEP" if not t else ("URG-CLEAR" if v["urgent"] <= t else "URG-SHIFT")
    return [(primary, _reqs(primary, ("URG-KEEP", "URG-SHIFT", "URG-CLEAR")),
             f"C.splice_irs = {irs:#x}: URG={v['urg']} urgent={v['urgent']} on a client segment at {v['seq']:#x} "
             f"with SYN={v['syn']} data={v['data_len']} FIN={v['fin']}{note}.",
             scenario, build, BELOW if below else frozenset())]


def split_commute(v: Vector) -> list[Made]:
    irs, iss, seq = v["splice_irs"], v["splice_iss"], v["seq"]
    syn, fin, a, b = v["syn"], v["fin"], v["len_a"], v["len_b"]
    adv = v.get("advance", 0)
    note = ""
    if a + b > CAP:  # shorten the longer half at its outer end: the split point is what the vector is about
        r = a + b - CAP
        note = f" (the {'first' if a >= b else 'second'} half shortened by {r} bytes at its outer end: one IP packet)"
        if a >= b:
            a, seq = a - r, seq_add(seq, r)
        else:
            b -= r
    scenario = spliced_at(c2s_irs=irs, c2s_iss=iss, client_mss=BIG_MSS, server_mss=BIG_MSS)
    off = seq_sub(seq, irs)
    second = seq_sub(seq_add(seq, syn + a), irs)

    def build(st: SpliceState) -> Sequence[Segment]:
        whole = payload(a + b)
        return [*client_stream(st, adv),
                from_client(st, off, flags=ACK | (SYN if syn else 0) | (FIN if fin else 0), payload=whole),
                from_client(st, off, flags=ACK | (SYN if syn else 0), payload=whole[:a]),
                from_client(st, second, flags=ACK | (FIN if fin else 0), payload=whole[a:])]

    primary = "TRIM-HALF" if at_half_behind(seq, irs, adv) else "TRIM-SOUND"
    return [(primary, _reqs(primary, ("TRIM-SOUND", "TRIM-COMPLETE", "TRIM-REST", "SEQ-MAP")),
             f"C.splice_irs = {irs:#x}, D.splice_iss = {iss:#x}: a client segment at {seq:#x} (SYN={syn}, "
             f"{a}+{b} bytes, FIN={fin}), then its two halves split after {a} bytes{note}{advanced(adv)}.",
             scenario, build, BELOW if behind_base(seq, irs, adv) else frozenset())]


def windows(prop_req: str, other: str) -> Callable[[Vector], list[Made]]:
    def convert(v: Vector) -> list[Made]:
        w = v["window"]
        out: list[Made] = []
        for scen, what in ((spliced_at(client_wscale=7, server_wscale=14), "client scale 7, server 14"),
                           (spliced_at(client_wscale=14), "only the client scales, by 14")):
            def build(st: SpliceState, w: int = w) -> Sequence[Segment]:
                return [from_client(st, 0, window=w), from_server(st, 0, window=w)]

            out.append((prop_req, (prop_req, other), f"{what}: window {w} from each side.", scen, build, frozenset()))
        return out

    return convert


def width_closed(v: Vector) -> list[Made]:
    irs, iss, seq = v["irs64"], v["iss64"], v["seq64"]
    adv = v.get("advance64", 0)
    w = {"seq": seq, "syn": v["syn"], "fin": v["fin"], "urg": v["urg"], "data_len": v["data_len64"]}
    seq, data, note = fit(seq, w["syn"], w["data_len"], w["fin"], irs, adv)
    scenario = spliced_at(c2s_irs=irs, c2s_iss=iss, s2c_irs=irs, s2c_iss=iss, client_tsval=v["lastrecv64"],
                          proxy_tsval_d=v["lastsent64"], client_mss=BIG_MSS, server_mss=BIG_MSS)
    left, right = v["left64"], v["right64"]

    def build(st: SpliceState) -> Sequence[Segment]:
        opts: list[Timestamps | Sack] = [Timestamps(v["tsval64"], st.client.lastsent_ts)]
        if left != right:
            opts.append(Sack(((left, right),)))
        return [*client_stream(st, adv),
                from_client(st, seq_sub(seq, irs), ack_off=seq_sub(v["ack64"], iss), flags=flags_of(w),
                            urgent=v["urgent64"], window=v["window64"], payload=payload(data), options=opts)]

    return [("SEQ-MAP", ("SEQ-MAP", "ACK-MAP", "TS-VAL", "TS-ECR", "SACK-MAP", "URG-SHIFT", "WS-SAFE",
                         "TCPCSUM-VALID"),
             f"Every field at once: seq {seq:#x}, ack {v['ack64']:#x}, bases {irs:#x}/{iss:#x}, TSval "
             f"{v['tsval64']:#x}, SACK [{left:#x}, {right:#x}), urgent {v['urgent64']}, window {v['window64']}, "
             f"{data} data bytes{note}{advanced(adv)}.", scenario, build,
             BELOW if behind_base(seq, irs, adv) else frozenset())]


CONVERTERS: dict[str, Callable[[Vector], list[Made]]] = {
    "PROOF-SEQ-BIJECTION": seq_bijection,
    "PROOF-SEQ-ORDER": seq_order,
    "PROOF-ROUNDTRIP": roundtrip,
    "PROOF-HALF-DISTANCE": half_distance,
    "PROOF-TS-PAWS": ts_paws,
    "PROOF-TS-ECHO": ts_echo,
    "PROOF-SACK": sack,
    "PROOF-TRIM-SOUND": trim_like("TRIM-SOUND", "TRIM-REST", "PAYLOAD-KEEP"),
    "PROOF-TRIM-COMPLETE": trim_like("TRIM-COMPLETE", "TRIM-BELOW", "TRIM-SOUND"),
    "PROOF-SEQ-CTL": trim_like("SEQ-CTL"),
    "PROOF-URGENT": urgent,
    "PROOF-SPLIT-COMMUTE": split_commute,
    "PROOF-TRIM-2GIB": trim_like("TRIM-2GIB"),
    "PROOF-WS-SAFE": windows("WS-SAFE", "WS-EXACT"),
    "PROOF-WS-EXACT": windows("WS-EXACT", "WS-SAFE"),
    "PROOF-WIDTH-CLOSED": width_closed,
}

FOCUS = focused(*TRIM_FIELDS)
LIFE = based()


def cases(data: dict[str, Any] | None = None) -> list[Case]:
    data = data if data is not None else load()
    out: list[Case] = []
    seen: set[str] = set()
    for pid, entry in data["properties"].items():
        convert = CONVERTERS.get(pid)
        if convert is None:
            continue
        for vec in entry["vectors"]:
            for primary, reqs, description, scenario, build, needs in convert(vec["values"]):
                cid = f"{primary}/z3-{slug(pid.removeprefix('PROOF-'))}-{slug(vec['case'])}"
                while cid in seen:
                    cid += "-2"
                seen.add(cid)
                execute = LIFE if primary.startswith("LIFE-") else FOCUS if primary in FOCUSED else None
                out.append(Case(
                    cid, reqs, f"Z3 boundary vector '{vec['case']}' of {pid}. {description}",
                    "The reference model's relay output for these segments: the vector is a point the proof "
                    f"covers ({pid}, spec/proofs.py), so a correct splice agrees with the model there.",
                    build, scenario, needs, kind=CaseKind.VECTOR, execute=execute))
    return out


CASES: list[Case] = cases()


def main(argv: list[str] | None = None) -> int:
    """Rewrite data/boundary_vectors.json from a fresh Z3 run."""
    path = write(Path(argv[0]) if argv else DATA)
    print(f"wrote {path}")
    return 0



if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
