"""Connection bookkeeping of the trace engine: a TCP 4-tuple on one leg (:class:`Flow`), which of its
ends is the end host, and the pairing of a client-leg flow with a server-leg one (:class:`Splice`,
:func:`pair_score`); see the engine's theory of operation, steps 1 and 2."""

from __future__ import annotations

from array import array
from hashlib import blake2b

from ...reference.relay import Endpoint
from ...reference.segment import ACK, SYN
from ..model import Addresses
from .infer import CLIENT_LEG, SERVER_LEG
from .judge import Judge
from .params import Params

#: a learning pair's or a waiting flow's buffered packet: (arrival, ts, leg, from the peer?, ip, ihl, cut)
Buffered = tuple[int, int, int, bool, bytes, int, bool]


class Flow:
    """A TCP connection on one leg."""

    __slots__ = (
        "buffer",
        "closed",
        "first_ts",
        "ignored",
        "isn",
        "keys",
        "last_ts",
        "leg",
        "local",
        "packets",
        "peer",
        "splice",
        "syn_ts",
    )

    def __init__(self, leg: int, peer: Endpoint, local: Endpoint, ts: int, syn: bool) -> None:
        self.leg = leg
        self.peer = peer
        self.local = local
        self.first_ts = self.last_ts = ts
        self.syn_ts = ts if syn else None
        self.splice: Splice | None = None
        self.buffer: list[Buffered] | None = []
        self.packets = 0
        self.closed = False
        self.ignored = False
        self.isn: int | None = None  # of the SYN that opened it
        self.keys: tuple[bytes, bytes] = (b"", b"")


class Splice:
    """A paired connection: learning, then judged."""

    __slots__ = (
        "buffer",
        "case_id",
        "client",
        "close_at",
        "evidence",
        "fin",
        "first_ts",
        "judge",
        "last_ts",
        "names",
        "payloads",
        "rst",
        "server",
        "started",
        "syns",
    )

    def __init__(self, case_id: str, client: Flow, server: Flow) -> None:
        self.case_id = case_id
        self.client = client
        self.server = server
        self.judge: Judge | None = None
        self.buffer: list[Buffered] = []
        self.first_ts = min(client.first_ts, server.first_ts)
        self.last_ts = max(client.last_ts, server.last_ts)
        self.close_at: int | None = None
        self.fin = [False, False]  # FIN from client, from server
        self.rst = False
        self.started = False
        # in-peer payloads per direction, while learning (None once judged)
        self.payloads: tuple[set[bytes], set[bytes]] | None = (set(), set())
        self.evidence = [False, False]  # a relayed copy seen per direction
        self.syns = True  # its buffer holds nothing but opening SYNs (so far)
        self.names = ("", "")  # its client's and its server's address:port as text (set when paired)

    @property
    def ends(self) -> Addresses:
        """The four endpoints (made when asked: a pair of opening SYNs only never needs them)."""
        c, s = self.client, self.server
        return Addresses(c.peer, c.local, s.local, s.peer)


def sender_is_peer(leg: int, a: Endpoint, b: Endpoint, flags: int, proxies: frozenset[bytes],
                   known: dict[Endpoint, bool]) -> bool:
    """Whether ``a``, the sender of a new flow's first packet to ``b``, is the flow's end host: by the
    handshake (the client opens the client leg, the proxy the server leg), else by ``--proxy``
    addresses, else by a listening endpoint an earlier handshake on this leg showed (``known``, which a
    handshake here updates), else by ports (the server side has the lower port)."""
    syn, synack = flags & (SYN | ACK) == SYN, flags & (SYN | ACK) == SYN | ACK
    if syn or synack:
        opener = a if syn else b
        a_is_peer = (opener == a) == (leg == CLIENT_LEG)
    elif proxies and (a.addr in proxies) != (b.addr in proxies):
        a_is_peer = b.addr in proxies
    elif a in known or b in known:
        a_is_peer = known[a] if a in known else not known[b]
    else:  # on the client leg the server side is the proxy, on the server leg the peer
        a_is_peer = (a.port < b.port) == (leg == SERVER_LEG)
    if (syn or synack) and len(known) < 65536:  # the listening side's role, for flows seen without a handshake
        peer, local = (a, b) if a_is_peer else (b, a)
        known[local if leg == CLIENT_LEG else peer] = leg == SERVER_LEG
    return a_is_peer


def reverse_key(key: bytes) -> bytes:
    """The 4-tuple key (source, destination address; source, destination port) of the other direction."""
    half = (len(key) - 4) // 2
    return key[half:2 * half] + key[:half] + key[2 * half + 2:2 * half + 4] + key[2 * half:2 * half + 2]


def pair_score(c: Flow, s: Flow, params: Params, skew: int) -> int:
    """How likely server-leg flow ``s`` is the one the proxy opened for client-leg flow ``c`` (at least
    20 to pair; -1: never)."""
    if len(c.peer.addr) != len(s.peer.addr):
        return -1
    pinned = params.pinned(c.peer)
    if pinned is not None:
        sl = pinned.server_leg
        ok = sl.peer == s.peer and (sl.local is None or sl.local == s.local)
        return 1000 if ok else -1
    if s.local == c.peer and s.peer == c.local:
        return 500  # transparent: the same 4-tuple on both legs
    score = 0
    if s.local == c.peer:
        score += 50
    if s.peer == c.local:
        score += 40
    if s.local.port == c.peer.port:
        score += 10
    if s.peer.port == c.local.port:
        score += 5
    if c.syn_ts is not None and s.syn_ts is not None:
        if s.syn_ts + skew < c.syn_ts:
            return -1
        score += 20
    elif (c.syn_ts is None) != (s.syn_ts is None):
        return -1  # one handshake captured, the other not: not the two halves of one splice
    return score


class CaseIds:
    """Unique case IDs for connections: a base (``trace/CLIENT>SERVER``) the first time, ``BASE#n`` the
    n-th. Every base used is remembered, but as a 64-bit digest in an open-addressing table of machine
    words (16 bytes a connection at most, not a string and a dict entry); only the bases used more than
    once (a reused 4-tuple) are kept as strings, with their count."""

    def __init__(self) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._used = 0
        self._again: dict[str, int] = {}

    def next(self, base: str) -> str:
        if self._add(int.from_bytes(blake2b(base.encode(), digest_size=8).digest(), "little") | 1):
            return base
        n = self._again.get(base, 1) + 1
        self._again[base] = n
        return f"{base}#{n}"

    def _add(self, h: int) -> bool:
        """Insert digest ``h`` (never 0); False if it was there."""
        slots = self._slots
        mask = len(slots) - 1
        i = h & mask
        while slots[i]:
            if slots[i] == h:
                return False
            i = (i + 1) & mask
        slots[i] = h
        self._used += 1
        if self._used * 2 > len(slots):
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        self._used = 0
        for h in old:
            if h:
                self._add(h)
