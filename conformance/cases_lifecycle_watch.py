"""Named cases that watch the splice lifecycle step by step (paper §3, figures 3, 4, 6, 7).

**Watching the lifecycle** (Feature.LIFECYCLE). ``Adapter.open_unspliced`` yields a session right
after the client's handshake, and a :class:`~splicecheck.conformance.cases_common.Lockstep` drives it
and a model :class:`~splicecheck.reference.lifecycle.SpliceMachine` through the figure-3 sequence
step by step (the contract's "Before the splice"):

* **LIFE-DONTACK** — server data arriving after INTEND_SPLICE: nothing relayed to the client, nothing
  acknowledged to the server beyond D's ``splice_irs`` (the proxy's own TCP may ACK what its
  application read, never a held byte), and the application cannot read it (APP_RECV_SERVER refused).
* **LIFE-RELEASE** — the held segments, server's and client's, come out on the APP_SEND_CLIENT that
  writes the OK message's last byte (on PRESPLICE itself when n is 0), in arrival order, each at its
  own offset behind the OK message — and nothing comes out on the earlier pieces.
* **LIFE-BASE-S2C / LIFE-BASE-C2S** — the IUT's base points when the splice is made against the
  machine's, and the wire after it. The banner case has server data arrive *between* INTEND_SPLICE
  (or D's connect, figure 3's order) and PRESPLICE: a proxy taking D's ``rcv_nxt`` at PRESPLICE, with
  the held bytes counted into it as a TCP receive queue counts them, has a base 40 bytes too far and
  drops the banner; likewise client data between PRESPLICE and the splice for C's ``rcv_nxt``.
* **LIFE-COMPLETE** — the session's stage, after each of the client's ACKs: SPLICED until one covers
  the whole OK message, COMPLETE from then on. Completion changes nothing on the wire, so these need
  a session that reports its stage (UNSUPPORTED otherwise).
* **LIFE-TOTAL** — all 77 (stage, event) pairs: for each a fresh session is brought to the stage by a
  legal path (the bytes an APP read wants arrive first), the event applied, and the IUT's answer —
  accepted with a stage the table lists (when it reports one), or RefusedError — compared with the
  table's and the model's.

The cases that check the lifecycle's consequences on a splice already made are in
:mod:`~splicecheck.conformance.cases_lifecycle`.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable

from ..reference.arith import MASK32
from ..reference.lifecycle import TRANSITIONS, Event, EventType, Refused, Stage
from ..reference.relay import SpliceState
from ..reference.segment import ACK, RST, Segment
from .case import Case, Injection
from .cases_common import Diverged, Lockstep, lockstep, payload, result
from .cases_lifecycle import C2S_BASE, S2C_BASE, by_direction, to
from .contract import Adapter, Feature, PeerPlan, Scenario, UnsupportedError, open_unspliced
from .results import CaseResult
from .runner import Executed

F = Feature


# --------------------------------------------------------------------------------------------------
# Watching the lifecycle (Feature.LIFECYCLE): scripts run in lockstep with the model
# --------------------------------------------------------------------------------------------------

E = EventType
NOT_DELIVERED = "LIFE-DONTACK"  # the requirement a read of held data offends


def relay_request(lock: Lockstep, n: int) -> None:
    """The client's ``n``-byte request arrives, is read by the application and written to the server."""
    lock.client(0, payload=payload(n, 0x40))
    lock.app(E.APP_RECV_CLIENT, n)
    lock.app(E.APP_SEND_SERVER, n)


def relay_greeting(lock: Lockstep, n: int) -> None:
    """``n`` server bytes arrive before INTEND_SPLICE, read by the application and written to the client."""
    lock.server(0, payload=payload(n, 0x80))
    lock.app(E.APP_RECV_SERVER, n)
    lock.app(E.APP_SEND_CLIENT, n)


def held_after_intend(lock: Lockstep) -> None:
    """D connected; a 30-byte greeting and a 9-byte request relayed by the application; INTEND_SPLICE;
    server data under DONT_ACK in CONNECTED and in PRESPLICED, the application trying to read it;
    the 12-byte OK message; the client's ACK of the OK message and the 26 held bytes."""
    lock.connect()
    relay_greeting(lock, 30)
    relay_request(lock, 9)
    lock.event(Event(E.INTEND_SPLICE))
    lock.server(0, payload=b"held one")
    lock.app(E.APP_RECV_SERVER, 8, refusal_req=NOT_DELIVERED)
    lock.server(8, payload=b"held two")
    lock.event(Event(E.PRESPLICE, 12))
    lock.server(16, payload=b"held three")
    lock.app(E.APP_RECV_SERVER, 10, refusal_req=NOT_DELIVERED)
    lock.app(E.APP_SEND_CLIENT, 12)
    lock.client(0, ack_off=26)


BANNER = (b"220 splice.example ESMTP\r\n", b"250-8BITMIME\r\n")  # 26 and 14 bytes


def banner_before_presplice(ok: int) -> Callable[[Lockstep], None]:
    """Figure 3's order: INTEND_SPLICE, then D connects and the server's banner arrives at once (held),
    the client's 9-byte request is relayed by the application, more banner, PRESPLICE(ok), the OK
    message; the client acknowledges everything and the server sends on."""

    def script(lock: Lockstep) -> None:
        lock.event(Event(E.INTEND_SPLICE))
        lock.connect()
        lock.server(0, payload=BANNER[0])
        relay_request(lock, 9)
        lock.server(len(BANNER[0]), payload=BANNER[1])
        lock.app(E.APP_RECV_SERVER, 1, refusal_req=NOT_DELIVERED)
        lock.event(Event(E.PRESPLICE, ok))
        if ok:
            lock.app(E.APP_SEND_CLIENT, ok)
        held = sum(map(len, BANNER))
        lock.client(0, ack_off=held, payload=b"EHLO client\r\n")
        lock.server(held, ack_off=13, payload=b"250 ok\r\n")

    return script


def greeting_then_intend(lock: Lockstep) -> None:
    """D connected, 30 greeting bytes read by the application, INTEND_SPLICE, 10 held bytes, the request
    relayed after INTEND_SPLICE, PRESPLICE(6) and the OK message; data both ways."""
    lock.connect()
    relay_greeting(lock, 30)
    lock.event(Event(E.INTEND_SPLICE))
    lock.server(0, payload=b"0123456789")
    relay_request(lock, 9)
    lock.event(Event(E.PRESPLICE, 6))
    lock.app(E.APP_SEND_CLIENT, 6)
    lock.client(0, ack_off=10, payload=b"GET")
    lock.server(10, ack_off=3, payload=b"reply")


def client_data_before_splice(lock: Lockstep) -> None:
    """Figure 3's order with the request relayed after INTEND_SPLICE; PRESPLICE(12); the client sends
    18 bytes before the OK message is written (held: they are the server's now); the OK message."""
    lock.event(Event(E.INTEND_SPLICE))
    lock.connect()
    relay_request(lock, 9)
    lock.event(Event(E.PRESPLICE, 12))
    lock.client(0, payload=b"GET / HTTP/1.0\r\n")
    lock.client(16, payload=b"\r\n")
    lock.app(E.APP_SEND_CLIENT, 12)
    lock.server(0, ack_off=18, payload=b"HTTP/1.0 200 OK\r\n")
    lock.client(18, ack_off=17)


def release_on_ok_message(lock: Lockstep) -> None:
    """Three server segments held (the last one first, one after PRESPLICE) and a client segment held
    after PRESPLICE; the 12-byte OK message in writes of 5, 4 and 3 bytes; then ACKs both ways."""
    lock.event(Event(E.INTEND_SPLICE))
    lock.connect()
    relay_request(lock, 9)
    lock.server(200, payload=b"C" * 100)
    lock.server(0, payload=b"A" * 100)
    lock.event(Event(E.PRESPLICE, 12))
    lock.server(100, payload=b"B" * 100)
    lock.client(0, payload=b"client early")
    lock.app(E.APP_SEND_CLIENT, 5)
    lock.app(E.APP_SEND_CLIENT, 4)
    lock.app(E.APP_SEND_CLIENT, 3)
    lock.client(12, ack_off=300)
    lock.server(300, ack_off=12)


def release_at_presplice(lock: Lockstep) -> None:
    """No OK message: the segments held since D connected are relayed on PRESPLICE(0) itself."""
    lock.connect()
    lock.event(Event(E.INTEND_SPLICE))
    lock.server(0, payload=b"early")
    lock.server(5, payload=b"-bird")
    lock.event(Event(E.PRESPLICE, 0))
    lock.client(0, ack_off=10)


def ok_zero(lock: Lockstep) -> None:
    """No OK message: PRESPLICE(0) makes the splice and completes it (paper §3), with a held segment
    released on it and traffic both ways after it — no ACK of an OK message is awaited."""
    lock.connect()
    lock.event(Event(E.INTEND_SPLICE))
    lock.server(0, payload=b"early")
    lock.event(Event(E.PRESPLICE, 0))
    lock.client(0, ack_off=5, payload=b"request")
    lock.server(5, ack_off=7, payload=b"reply")


def completion(lock: Lockstep) -> None:
    """A 12-byte OK message; server data relayed; the client's ACKs of 8, then 11 of its bytes (with
    data), then all of them, then more data."""
    lock.event(Event(E.INTEND_SPLICE))
    lock.connect()
    relay_request(lock, 9)
    lock.event(Event(E.PRESPLICE, 12))
    lock.app(E.APP_SEND_CLIENT, 12)
    lock.server(0, payload=b"hello")
    lock.client(0, ack_off=-4)
    lock.client(0, ack_off=-1, payload=b"eager")
    lock.client(5, ack_off=0)
    lock.client(5, ack_off=5, payload=b"more")


def completion_across_wrap(lock: Lockstep) -> None:
    """A 10-byte OK message from 0xFFFFFFFC written in two pieces, so its end is 6: the client's ACKs of
    2 bytes (ack 0xFFFFFFFE, numerically above the end), of 7 (ack 3) and of all of them (ack 6)."""
    lock.connect()
    lock.event(Event(E.INTEND_SPLICE))
    lock.event(Event(E.PRESPLICE, 10))
    lock.app(E.APP_SEND_CLIENT, 6)
    lock.app(E.APP_SEND_CLIENT, 4)
    lock.client(0, ack_off=-8)
    lock.client(0, ack_off=-3)
    lock.client(0, ack_off=0)


# -- LIFE-TOTAL: every (stage, event) pair ------------------------------------------------------------

PAIR_OK = 4  # the OK message of the pair walk
#: events an adapter with Feature.LIFECYCLE may still be unable to apply (contract, "After the splice")
AFTER_SPLICE_EVENTS = frozenset({E.APP_CLOSE, E.TIMER})
NEEDS_D = frozenset({E.APP_RECV_SERVER, E.APP_SEND_SERVER, E.SERVER_SEGMENT})


def reach(lock: Lockstep, stage: Stage, etype: EventType) -> None:
    """Bring ``lock`` to ``stage`` by figure 3's path (UNSPLICED: with D connected when ``etype`` needs it)."""
    if stage is Stage.UNSPLICED:
        if etype in NEEDS_D:
            lock.connect()
        return
    lock.event(Event(E.INTEND_SPLICE))
    if stage is Stage.INTENDED:
        return
    lock.connect()
    if stage is Stage.CONNECTED:
        return
    lock.event(Event(E.PRESPLICE, PAIR_OK))
    if stage is Stage.PRESPLICED:
        return
    lock.app(E.APP_SEND_CLIENT, PAIR_OK)
    if stage is Stage.COMPLETE:
        lock.client(0)  # the ACK of the OK message
    elif stage is Stage.CLOSED:
        lock.client(0, flags=RST | ACK)


def apply_pair(lock: Lockstep, stage: Stage, etype: EventType) -> None:
    """Apply one event of type ``etype``; an application read the table allows gets its byte first."""
    allowed = not isinstance(TRANSITIONS[stage][etype], Refused)
    if etype is E.SERVER_CONNECTED:
        lock.connect()
    elif etype is E.CLIENT_SEGMENT:
        lock.client(0, payload=b"c")
    elif etype is E.SERVER_SEGMENT:
        lock.server(0, payload=b"s")
    elif etype in (E.INTEND_SPLICE, E.APP_CLOSE, E.TIMER):
        lock.event(Event(etype))
    elif etype is E.PRESPLICE:
        lock.event(Event(etype, PAIR_OK))
    else:
        if allowed and etype is E.APP_RECV_CLIENT:
            lock.client(0, payload=b"r")
        elif allowed and etype is E.APP_RECV_SERVER:
            lock.server(0, payload=b"r")
        lock.app(etype, 1)


def every_pair(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
    """All 77 (stage, event) pairs, each on a fresh session from ``open_unspliced``."""
    t0 = time.perf_counter()
    trail = Executed([], [], [])
    for stage, etype in itertools.product(Stage, EventType):
        with open_unspliced(adapter, case.scenario) as session:
            lock = Lockstep(session, case.scenario, case.primary, trail=trail)
            with contextlib.suppress(Diverged):  # the IUT left the path: its divergence is recorded
                reach(lock, stage, etype)
                if lock.stage is not stage:
                    raise AssertionError(f"the walk reached {lock.stage}, not {stage}")
                try:
                    apply_pair(lock, stage, etype)
                except UnsupportedError:
                    if etype not in AFTER_SPLICE_EVENTS:
                        raise
                    # the adapter cannot apply this event (contract, "After the splice"): the pair is not walked
    return result(case, trail.diffs, trail.steps, trail.geometry, t0, seed)


# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------

#: For the lifecycle cases (Feature.LIFECYCLE): the proxy's ISNs and TSvals chosen, so that the model's
#: handshakes are the IUT's (the end hosts acknowledge what the proxy sent before there is a splice).
LC = Scenario(client=PeerPlan(isn=1_000_000, tsval=100, sack_permitted=True),
              server=PeerPlan(isn=9_000_000, tsval=9_000, sack_permitted=True),
              proxy_isn_c=0x5000_0000, proxy_isn_d=0x7000_0000, proxy_tsval_c=0x0100_0000, proxy_tsval_d=0x0200_0000)
#: Every counter near the wrap: the banner crosses 2^32 on D, the OK message's end on C, the request on both.
LC_WRAP = Scenario(client=PeerPlan(isn=MASK32 - 5, tsval=100), server=PeerPlan(isn=MASK32 - 20, tsval=9_000),
                   proxy_isn_c=MASK32 - 8, proxy_isn_d=MASK32 - 5, proxy_tsval_c=MASK32 - 1, proxy_tsval_d=7)
#: C.snd_nxt = 0xFFFFFFFC at PRESPLICE: a 10-byte OK message ends at 6.
LC_OK_WRAP = Scenario(client=PeerPlan(isn=3_000_000, tsval=1), server=PeerPlan(isn=2_000_000, tsval=2),
                      proxy_isn_c=MASK32 - 4, proxy_isn_d=0x4000_0000, proxy_tsval_c=3, proxy_tsval_d=4)
#: No options, for the pair walk.
LC_PLAIN = Scenario(client=PeerPlan(isn=1_000_000), server=PeerPlan(isn=9_000_000), proxy_isn_c=0x5000_0000,
                    proxy_isn_d=0x7000_0000)
#: What the lifecycle cases need beyond their scenario's needs.
WATCH = frozenset({F.LIFECYCLE})
WATCH_OK = WATCH | {F.OK_MESSAGE}
WATCH_APP = WATCH | {F.PRESPLICE_DATA}
WATCH_ALL = WATCH_OK | WATCH_APP


def scripted(st: SpliceState) -> list[Injection | Segment]:
    """The ``build`` of a lifecycle case: nothing to build from a made splice, its steps are its script's."""
    return []


#: The cases that watch the lifecycle (Feature.LIFECYCLE, ``open_unspliced``).
WATCHING: list[Case] = [
    # -- LIFE-DONTACK ---------------------------------------------------------------------------------
    Case("LIFE-DONTACK/held-after-intend-splice", ("LIFE-DONTACK",),
         "D connected; 30 server bytes and the client's 9-byte request relayed by the application; "
         "INTEND_SPLICE; 8 + 8 server bytes arrive (CONNECTED), the application tries to read them; PRESPLICE(12); "
         "10 more arrive (PRESPLICED), another read; the OK message; the client acknowledges it and the 26 bytes.",
         "Each held segment: nothing relayed to the client, nothing acknowledged to the server past D.splice_irs "
         "(the proxy's own ACKs of what its application read are allowed), and the reads refused — data after "
         "DONT_ACK is 'queued at the proxy for relay to the client, rather than being read and processed by the "
         "proxy application' (paper §3, figure 4). They reach the client only behind the OK message.",
         scripted, LC, WATCH_ALL, execute=lockstep(held_after_intend)),
    Case("LIFE-DONTACK/banner-after-connect", ("LIFE-DONTACK",),
         "Figure 3's order: INTEND_SPLICE before connect(D); the server's 40-byte banner arrives in two segments "
         "as soon as D is connected, around the client's request relayed by the application; no OK message.",
         "The banner is held from the first byte — not relayed, not acknowledged, not readable — and relayed to "
         "the client at PRESPLICE(0) (paper §3: 'Any data sent by the server after the flag is set are queued').",
         scripted, LC, WATCH_APP, execute=lockstep(banner_before_presplice(0))),
    # -- LIFE-RELEASE ---------------------------------------------------------------------------------
    Case("LIFE-RELEASE/on-last-byte-of-ok-message", ("LIFE-RELEASE",),
         "Three 100-byte server segments held (the third sent first, the second after PRESPLICE) and 12 client "
         "bytes sent after PRESPLICE(12); the OK message written in pieces of 5, 4 and 3 bytes; ACKs both ways.",
         "Nothing released on the first two pieces; on the last, every held segment in arrival order, the "
         "server's behind the OK message at their own offsets and the client's at D.splice_iss (paper §3: 'Once "
         "the splice is set up, the splice code relays any queued packets from the server').",
         scripted, LC, WATCH_ALL, execute=lockstep(release_on_ok_message, to("LIFE-RELEASE"))),
    Case("LIFE-RELEASE/at-presplice-without-ok-message", ("LIFE-RELEASE",),
         "D connected, INTEND_SPLICE, two server segments held, PRESPLICE(0).",
         "Both relayed on PRESPLICE itself, at C.snd_nxt (paper §3: 'Its length can be 0 if desired, in which "
         "case the splice is completed immediately').",
         scripted, LC, WATCH, execute=lockstep(release_at_presplice, to("LIFE-RELEASE"))),
    # -- LIFE-BASE-S2C --------------------------------------------------------------------------------
    Case("LIFE-BASE-S2C/banner-between-intend-and-presplice", (S2C_BASE, C2S_BASE),
         "Figure 3's order: INTEND_SPLICE, then the server's 40-byte banner arrives as soon as D is connected, "
         "before PRESPLICE(12) — bytes a proxy that took D's rcv_nxt at PRESPLICE (counting what its TCP "
         "received) would put below its base.",
         "D.splice_irs = D.rcv_nxt when DONT_ACK took effect (at connect: the server's ISN + 1), C.splice_iss = "
         "C.snd_nxt at PRESPLICE + 12: the banner is relayed right behind the OK message and the client's ACK "
         "of it reaches the server (paper §3.2, figure 6).",
         scripted, LC, WATCH_ALL,
         execute=lockstep(banner_before_presplice(12), by_direction)),
    Case("LIFE-BASE-S2C/intend-after-greeting", (S2C_BASE, C2S_BASE),
         "D connected; 30 server bytes read by the application; INTEND_SPLICE; 10 server bytes held; the request "
         "relayed; PRESPLICE(6).",
         "D.splice_irs = the server's ISN + 1 + 30 (D.rcv_nxt at INTEND_SPLICE), the 10 held bytes first "
         "behind the 6-byte OK message (paper §3.2, figure 6).",
         scripted, LC, WATCH_ALL, execute=lockstep(greeting_then_intend, by_direction)),
    Case("LIFE-BASE-S2C/banner-across-wrap", (S2C_BASE, C2S_BASE),
         "As banner-between-intend-and-presplice with every counter near 2^32: the banner crosses the wrap on D, "
         "the OK message's end on C, the request on both.",
         "The same base points, modulo 2^32 (paper §3.2, figures 6 and 7).",
         scripted, LC_WRAP, WATCH_ALL,
         execute=lockstep(banner_before_presplice(12), by_direction)),
    # -- LIFE-BASE-C2S --------------------------------------------------------------------------------
    Case("LIFE-BASE-C2S/client-data-before-splice", (C2S_BASE, S2C_BASE),
         "Figure 3's order, the client's 9-byte request relayed after INTEND_SPLICE; PRESPLICE(12); the client "
         "sends 18 bytes before the OK message is written — bytes a proxy that took C's rcv_nxt when the splice "
         "is made would put below its base.",
         "C.splice_irs = C.rcv_nxt at PRESPLICE, D.splice_iss = D.snd_nxt then (after the request): the 18 "
         "bytes are held and relayed to the server right after the request (paper §3.2, figure 7).",
         scripted, LC, WATCH_ALL,
         execute=lockstep(client_data_before_splice, by_direction)),
    Case("LIFE-BASE-C2S/client-data-across-wrap", (C2S_BASE, S2C_BASE),
         "As client-data-before-splice with every counter near 2^32 (C.rcv_nxt wraps in the request, D.snd_nxt "
         "in the relayed request).",
         "The same base points, modulo 2^32 (paper §3.2, figure 7).",
         scripted, LC_WRAP, WATCH_ALL,
         execute=lockstep(client_data_before_splice, by_direction)),
    # -- LIFE-COMPLETE --------------------------------------------------------------------------------
    Case("LIFE-COMPLETE/stage-on-ack-of-whole-ok-message", ("LIFE-COMPLETE",),
         "A 12-byte OK message; server data relayed; the client acknowledges 8 of its bytes, then 11 (with "
         "data), then all 12, then sends more. Needs a session that reports its stage.",
         "SPLICED until the ACK covering the whole OK message, COMPLETE from it on; the partial ACKs reach the "
         "server below D.splice_irs (paper §3: 'When an ACK of the OK message arrives at the proxy, the splice "
         "is complete').",
         scripted, LC, WATCH_ALL, execute=lockstep(completion, to("LIFE-COMPLETE"), needs_stage=True)),
    Case("LIFE-COMPLETE/stage-across-ok-message-wrap", ("LIFE-COMPLETE",),
         "A 10-byte OK message from 0xFFFFFFFC written in two pieces (its end is 6); the client acknowledges 2 of "
         "its bytes (ack 0xFFFFFFFE, numerically above the end), then 7 (ack 3), then all. Needs a session that "
         "reports its stage.",
         "SPLICED after acks 0xFFFFFFFE and 3, COMPLETE after ack 6: coverage in sequence space, not by plain "
         "comparison (paper §3).",
         scripted, LC_OK_WRAP, WATCH_OK,
         execute=lockstep(completion_across_wrap, to("LIFE-COMPLETE"), needs_stage=True)),
    # -- LIFE-OK-ZERO (the stage checks are credited to LIFE-COMPLETE, which it specialises) -----------
    Case("LIFE-OK-ZERO/complete-at-presplice", ("LIFE-OK-ZERO", "LIFE-COMPLETE"),
         "D connected, INTEND_SPLICE, one server segment held, PRESPLICE(0), then data both ways.",
         "COMPLETE from PRESPLICE on (paper §3: 'Its length can be 0 if desired, in which case the splice is "
         "completed immediately'), the held segment relayed at C.snd_nxt.",
         scripted, LC, WATCH, execute=lockstep(ok_zero, to("LIFE-OK-ZERO"), needs_stage=True)),
    # -- LIFE-TOTAL -----------------------------------------------------------------------------------
    Case("LIFE-TOTAL/every-stage-event-pair", ("LIFE-TOTAL",),
         "All 77 (stage, event) pairs of the lifecycle table: for each, a fresh session brought to the stage by "
         "figure 3's path (D connected first where the event needs it; the byte an application read wants "
         "arrives first), then one event of the type.",
         "The IUT takes the event exactly where the table and the model do — then its stage (if it reports one) "
         "is the model's and one the table lists — and refuses it with RefusedError everywhere else: the "
         "application cannot read held data or touch a spliced socket, PRESPLICE needs INTEND_SPLICE and D, "
         "nothing is repeated, a RST ends it all (splicecheck; h2's test_state_machines).",
         scripted, LC_PLAIN, WATCH_ALL, execute=every_pair),
]

CASES: list[Case] = WATCHING
