"""The trace checker's settings (:class:`TraceConfig`) and what it counted besides judged TCP
(:class:`TraceStats`), with the summary the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...reference.relay import Endpoint
from .link import LinkStats
from .params import Params
from .shortcuts import FastShared

NS = 1_000_000_000
LEG_NAMES = ("client", "server")


@dataclass(frozen=True, slots=True)
class TraceConfig:
    """How the engine reads, pairs, learns and times out (seconds are capture time)."""

    params: Params = field(default_factory=Params)
    proxies: frozenset[bytes] = frozenset()
    match_timeout: float = 1.0
    skew: float = 0.005
    idle_timeout: float = 300.0
    linger: float = 2.0
    learn_packets: int = 64
    learn_time: float = 2.0
    pair_window: float = 5.0
    tombstone: float = 10.0  # how long a finished connection's 4-tuples are remembered (stragglers)
    fast: bool = True
    verify_every: int = 4096
    only: frozenset[Endpoint] = frozenset()  # judge only connections of these clients (empty: all)
    repro: str = ""  # the command line to reproduce; "--conn CLIENT" is appended per connection
    checksums: str = "auto"  # auto | verify | ignore: see the judge's ``checksums`` and docs/CAPTURES.md


@dataclass(slots=True)
class TraceStats:
    """What the two captures held besides judged TCP."""

    link: tuple[LinkStats, LinkStats] = field(default_factory=lambda: (LinkStats(), LinkStats()))
    tcp: list[int] = field(default_factory=lambda: [0, 0])
    non_tcp: list[int] = field(default_factory=lambda: [0, 0])
    fragments: list[int] = field(default_factory=lambda: [0, 0])
    ipv6_extensions: list[int] = field(default_factory=lambda: [0, 0])
    unusable: list[int] = field(default_factory=lambda: [0, 0])  # too short for a TCP header
    ignored: list[int] = field(default_factory=lambda: [0, 0])  # of connections outside --conn
    truncated_files: list[str] = field(default_factory=list)
    ended_first: tuple[int, int] | None = None  # (leg whose capture ended first, first unread ts of the other)
    connections: int = 0
    one_sided: int = 0
    pairs: int = 0
    syns_only: int = 0  # pairs of which only the opening SYNs were captured (not judged)
    unmodelled: int = 0  # pairs whose handshakes give parameters no splice can have (not judged)
    reversed_opens: int = 0  # connections opened on the server leg before the client leg (legs swapped?)
    checksums: str = "auto"  # the --checksums mode, for the notes
    csum_completed: list[int] = field(default_factory=lambda: [0, 0])  # (end hosts', proxy's) checksums completed
    oversize: int = 0  # super-segments (TSO/GRO) judged as the segments they stand for
    resegmented: int = 0  # segments cut otherwise on the two captures (not judged)

    def anomalies(self) -> list[str]:
        out = []
        for leg in (0, 1):
            name = LEG_NAMES[leg]
            ls = self.link[leg]
            for what, n in (("non-IP frames", ls.not_ip), ("packets cut by the snap length", ls.truncated),
                            ("non-TCP IP packets", self.non_tcp[leg]), ("IP fragments", self.fragments[leg]),
                            ("IPv6 packets with extension headers", self.ipv6_extensions[leg]),
                            ("packets too short for a TCP header", self.unusable[leg])):
                if n:
                    out.append(f"{name} leg: {n} {what}")
            for lt, n in sorted(ls.unknown_linktype.items()):
                out.append(f"{name} leg: {n} frames of unsupported link type {lt}")
        out += self.truncated_files
        if self.unmodelled:
            out.append(f"{self.unmodelled} connection(s) not judged: their handshakes give splice parameters the "
                       "model cannot hold (an MSS option of 0, say)")
        hosts, proxy = self.csum_completed
        if self.checksums == "ignore":
            out.append("--checksums ignore: no TCP checksum graded")
        elif hosts or proxy:
            out.append(f"TCP checksum offload: {hosts} end-host and {proxy} proxy packet(s) carry the partial checksum "
                       "a sender leaves for its NIC (captured at the sending host); completed, and the TCP checksum "
                       "of their steps not graded (--checksums verify grades them as captured)")
        if self.oversize or self.resegmented:
            out.append(f"segmentation offload (TSO/GRO): {self.oversize} super-segment(s) larger than the MSS judged "
                       f"as the wire segments they stand for, {self.resegmented} segment(s) cut otherwise on the "
                       "two captures not judged")
        if self.ended_first is not None:
            leg = self.ended_first[0]
            out.append(f"the {LEG_NAMES[leg]} leg's capture ends first: the {LEG_NAMES[1 - leg]} leg's after it "
                       "(plus the match timeout) is not judged")
        return out


def summary_text(stats: TraceStats, shared: FastShared, wall: float) -> str:
    """A few lines on what a run read and judged, and how fast."""
    s, sh = stats, shared
    judged = sh.fast + sh.model + sh.full
    rate = judged / wall if wall else 0.0
    lines = [f"{s.tcp[0] + s.tcp[1]} TCP packets ({s.tcp[0]} client leg, {s.tcp[1]} server leg), "
             f"{s.pairs} spliced connection(s), {s.one_sided} one-sided flow(s)",
             f"{judged} segment(s) judged ({sh.fast} by the fast path, {sh.model} by the model's bytes, {sh.full} "
             f"field by field) in "
             f"{wall:.2f} s ({rate:,.0f}/s)"]
    if sh.disagreements:
        lines.append(f"warning: the fast path disagreed with the full model {sh.disagreements} time(s); "
                     "those shapes were re-judged by the full model")
    lines += [f"note: {a}" for a in s.anomalies()]
    return "\n".join(lines)
