"""Named cases for the end of the lifecycle: after the OK message (paper §3, figure 3's last lines),
teardown, and the accept direction (issue 17).

* **LIFE-CLOSE-SILENT** — figure 3 closes both spliced sockets right after writing the OK message
  (``close(s); close(c)``). The close (``APP_CLOSE``) must put nothing on either leg — a FIN or RST
  there would end the end hosts' connection — and the splice must relay on.
* **LIFE-OK-RETRANSMIT** — until the client acknowledges the whole OK message the proxy still owns its
  bytes: when its retransmission timer runs out (``TIMER``) it resends them from the first one not
  acknowledged, and once they are acknowledged a timer sends nothing (judged as the contract's
  "After the splice" says: the range and the flags, not the proxy's window, TSval or content).
* **LIFE-TEARDOWN** — FINs cross the splice like data: after the client's FIN the server may still
  send (half-close, RFC 9293 §3.6), and a splice that ends at the first FIN loses that data; once both
  FINs are acknowledged the splice lingers (a retransmitted FIN still gets its ACK through) and ends
  on a timer, after which nothing more is relayed.
* **LIFE-ACCEPT** — the accept direction (paper §3: SOCKS and TCP Splice 'also support clients
  accepting connections'), ``Adapter.open_accepted``: the server's connection to the proxy is spliced
  with the same base points, DONT_ACK in force from its handshake (INTEND_SPLICE on the listener), so
  bytes the server sent before the application accepted it reach the client, and the client's own
  request (read by the application, not forwarded) does not shift the server's stream.

Adapters without the lifecycle (Feature.LIFECYCLE) or the accept direction (Feature.ACCEPT, or no
``open_accepted``) get UNSUPPORTED with the missing capability named; the half-close case needs
neither and runs on any splice.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ..reference.arith import MASK32
from ..reference.lifecycle import Event, EventType
from ..reference.relay import SpliceState
from ..reference.segment import ACK, FIN, PSH, Segment
from .case import Case, from_client, from_server
from .cases_common import Lockstep, lockstep, payload, result
from .cases_lifecycle import base_diffs, credited, to
from .cases_lifecycle_watch import LC, LC_OK_WRAP, WATCH, WATCH_ALL, WATCH_OK, relay_request, scripted
from .contract import Adapter, Feature, PeerPlan, Scenario, open_accepted, session_sockets
from .model import Model, accepted_machine
from .results import CaseResult
from .runner import run_injections

F = Feature
E = EventType
CLOSE, RETX, DOWN, ACCEPT = "LIFE-CLOSE-SILENT", "LIFE-OK-RETRANSMIT", "LIFE-TEARDOWN", "LIFE-ACCEPT"


# --------------------------------------------------------------------------------------------------
# Scripts (Lockstep, Feature.LIFECYCLE)
# --------------------------------------------------------------------------------------------------


def figure3(lock: Lockstep, ok: int = 12) -> None:
    """Figure 3 up to the OK message: INTEND_SPLICE, connect(D), the client's 9-byte request relayed by
    the application, PRESPLICE(ok) and the OK message written."""
    lock.event(Event(E.INTEND_SPLICE))
    lock.connect()
    relay_request(lock, 9)
    lock.event(Event(E.PRESPLICE, ok))
    if ok:
        lock.app(E.APP_SEND_CLIENT, ok)


def close_after_ok(lock: Lockstep) -> None:
    """close(s); close(c) right after the OK message, then traffic both ways through the splice."""
    figure3(lock)
    lock.event(Event(E.APP_CLOSE))
    lock.server(0, payload=b"HTTP/1.0 200 OK\r\n")
    lock.client(0, ack_off=17, payload=b"more")
    lock.server(17, ack_off=4, payload=b"body")
    lock.event(Event(E.APP_CLOSE))  # a second close changes nothing either


def close_then_timer(lock: Lockstep) -> None:
    """close(s); close(c) before the client acknowledged the OK message; the timer runs out."""
    figure3(lock)
    lock.event(Event(E.APP_CLOSE))
    lock.event(Event(E.TIMER))
    lock.client(0, ack_off=0)
    lock.event(Event(E.TIMER))
    lock.server(0, payload=b"still spliced")


def ok_lost(lock: Lockstep) -> None:
    """The OK message is lost: two timers, each a retransmission; the client's ACK; a timer after it."""
    figure3(lock)
    lock.event(Event(E.TIMER))
    lock.event(Event(E.TIMER))
    lock.client(0, ack_off=0)
    lock.event(Event(E.TIMER))


def ok_partly_acked(lock: Lockstep) -> None:
    """The client acknowledges 5 of the 12 bytes; the timer; the rest acknowledged; a timer."""
    figure3(lock)
    lock.client(0, ack_off=-7)
    lock.event(Event(E.TIMER))
    lock.client(0, ack_off=0)
    lock.event(Event(E.TIMER))


def ok_across_wrap(lock: Lockstep) -> None:
    """A 10-byte OK message from 0xFFFFFFFC (ending at 6); the client acknowledges 7 of its bytes (ack 3)."""
    lock.connect()
    lock.event(Event(E.INTEND_SPLICE))
    lock.event(Event(E.PRESPLICE, 10))
    lock.app(E.APP_SEND_CLIENT, 10)
    lock.client(0, ack_off=-3)
    lock.event(Event(E.TIMER))
    lock.client(0, ack_off=0)
    lock.event(Event(E.TIMER))


def ok_empty(lock: Lockstep) -> None:
    """No OK message (n = 0): a timer has nothing to retransmit."""
    lock.connect()
    lock.event(Event(E.INTEND_SPLICE))
    lock.event(Event(E.PRESPLICE, 0))
    lock.event(Event(E.TIMER))
    lock.server(0, payload=b"hello")


def linger_and_end(lock: Lockstep) -> None:
    """No OK message; the client sends 'quit' with FIN, the server answers with data and its FIN, the
    client acknowledges it; the server's FIN again (its ACK lost) and the client's ACK again; the timer
    ends the splice; a late client segment."""
    lock.connect()
    lock.event(Event(E.INTEND_SPLICE))
    lock.event(Event(E.PRESPLICE, 0))
    lock.client(0, ack_off=0, payload=b"quit", flags=ACK | PSH | FIN)
    lock.server(0, ack_off=5, payload=b"221 bye", flags=ACK | PSH | FIN)
    lock.client(5, ack_off=8)
    lock.server(7, ack_off=5, flags=ACK | FIN)
    lock.client(5, ack_off=8)
    lock.event(Event(E.TIMER))
    lock.client(5, ack_off=8, payload=b"late")


def half_close(st: SpliceState) -> list[Segment]:
    """Client data with FIN; the server acknowledges it, sends more data, then its own FIN; the client's
    ACKs — every one relayed (RFC 9293 §3.6: a FIN closes one direction only)."""
    return [from_client(st, 0, payload=b"bye", flags=ACK | PSH | FIN),
            from_server(st, 0, ack_off=4),
            from_server(st, 0, ack_off=4, payload=b"late reply", flags=ACK | PSH),
            from_client(st, 4, ack_off=10),
            from_server(st, 10, ack_off=4, flags=ACK | FIN),
            from_client(st, 4, ack_off=11)]


# --------------------------------------------------------------------------------------------------
# The accept direction
# --------------------------------------------------------------------------------------------------


def accepted_state(observed: SpliceState, scenario: Scenario) -> SpliceState:
    """``observed`` with the base points the scenario determines replaced by the reference's in the
    accept direction (both splice_irs; a leg's splice_iss when the scenario chose the proxy's ISN)."""
    ref = accepted_machine(scenario).splice
    assert ref is not None
    client = replace(observed.client, splice_irs=ref.client.splice_irs,
                     splice_iss=ref.client.splice_iss if scenario.proxy_isn_c is not None
                     else observed.client.splice_iss)
    server = replace(observed.server, splice_irs=ref.server.splice_irs,
                     splice_iss=ref.server.splice_iss if scenario.proxy_isn_d is not None
                     else observed.server.splice_iss)
    return replace(observed, client=client, server=server)


def accepted(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
    """Open the splice with ``open_accepted``, compare its base points with the accept direction's, and
    judge the case's segments against a model holding them; everything credited to LIFE-ACCEPT."""
    t0 = time.perf_counter()
    with open_accepted(adapter, case.scenario) as session:
        observed = session.state
        scenario = case.scenario
        learnt = session_sockets(session)
        if learnt is not None and learnt[0] is not None and learnt[1] is not None:
            # the proxy's ISNs are its own (contract, "Learnt numbers"): the base points they imply
            scenario = replace(scenario, proxy_isn_c=learnt[0].local_isn, proxy_isn_d=learnt[1].local_isn)
        implied = accepted_state(observed, scenario)
        checks = [replace(d, req=ACCEPT) for d in base_diffs(observed, implied, scenario)]
        ex = run_injections(session, Model(implied), case.build(implied), case.primary)
    return result(case, checks + credited(ex.diffs, ex.steps, to(ACCEPT)), ex.steps, ex.geometry, t0, seed)


#: FTP active mode: the client's 27-byte PORT command read by the proxy application; the server connects
#: and sends 600 bytes of the file at once, before the application has accepted the connection.
FTP_ACTIVE = Scenario(client=PeerPlan(isn=2_000_000, tsval=500, sack_permitted=True),
                      server=PeerPlan(isn=0xFFFF_FF80, tsval=70_000, sack_permitted=True),
                      proxy_isn_c=0x1000_0000, proxy_isn_d=0x2000_0000, client_presplice=27, server_presplice=600)
#: SOCKS BIND: the 9-byte BIND request read by the application, a 10-byte second reply as the OK message,
#: counters near the wrap on both legs.
SOCKS_BIND = Scenario(client=PeerPlan(isn=MASK32 - 4, tsval=1), server=PeerPlan(isn=0x4000_0000, tsval=2),
                      proxy_isn_c=MASK32 - 6, proxy_isn_d=MASK32, client_presplice=9, ok_len=10)
ACCEPT_NEEDS = frozenset({F.ACCEPT})


# --------------------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------------------

CLOSE_CREDIT = to(CLOSE)

CASES: list[Case] = [
    # -- LIFE-CLOSE-SILENT ----------------------------------------------------------------------------
    Case("LIFE-CLOSE-SILENT/close-after-ok-message", (CLOSE,),
         "Figure 3 to the end: the 9-byte request relayed, PRESPLICE(12), the OK message, then close(s); "
         "close(c) (APP_CLOSE); data both ways; a second close.",
         "Nothing on either leg for either close — no FIN, no RST — and the splice relays on, each segment at its "
         "own offset (paper §3, figure 3: the proxy closes its sockets once the splice is set up).",
         scripted, LC, WATCH_ALL, execute=lockstep(close_after_ok, CLOSE_CREDIT)),
    Case("LIFE-CLOSE-SILENT/close-before-ok-acknowledged", (CLOSE, RETX),
         "close(s); close(c) right after the OK message, before the client acknowledged it; the retransmission "
         "timer runs out; the client's ACK; the timer again; server data.",
         "The close sends nothing; the closed socket still retransmits the OK message from its first byte "
         "(RFC 9293 §3.8.1: data queued before a close is still delivered), then nothing once it is "
         "acknowledged; the server's data is relayed (paper §3, figure 3).",
         scripted, LC, WATCH_ALL, execute=lockstep(close_then_timer, CLOSE_CREDIT)),
    # -- LIFE-OK-RETRANSMIT ---------------------------------------------------------------------------
    Case("LIFE-OK-RETRANSMIT/ok-message-lost", (RETX,),
         "The 12-byte OK message is never acknowledged: the retransmission timer runs out twice; then the client "
         "acknowledges it and the timer runs out once more.",
         "Each timer: the OK message resent on C from its first byte, nothing towards the server; after the "
         "ACK nothing at all (paper §3: the splice completes only on the ACK of the OK message; RFC 9293 "
         "§3.8.1).",
         scripted, LC, WATCH_ALL, execute=lockstep(ok_lost)),
    Case("LIFE-OK-RETRANSMIT/partly-acknowledged", (RETX,),
         "The client acknowledges 5 of the OK message's 12 bytes (relayed to the server below D.splice_irs); the "
         "timer; the rest acknowledged; the timer.",
         "The first timer resends the 7 unacknowledged bytes, from the sixth (RFC 9293 §3.8.1: from SND.UNA); "
         "the second sends nothing (paper §3).",
         scripted, LC, WATCH_ALL, execute=lockstep(ok_partly_acked)),
    Case("LIFE-OK-RETRANSMIT/ok-message-across-wrap", (RETX,),
         "A 10-byte OK message from 0xFFFFFFFC (its end is 6); the client acknowledges 7 bytes (ack 3); the "
         "timer; the rest acknowledged (ack 6); the timer.",
         "The 3 bytes from sequence number 3 resent, then nothing: coverage in sequence space (paper §3; "
         "RFC 9293 §3.4).",
         scripted, LC_OK_WRAP, WATCH_OK, execute=lockstep(ok_across_wrap)),
    Case("LIFE-OK-RETRANSMIT/no-ok-message", (RETX, "LIFE-OK-ZERO"),
         "No OK message (PRESPLICE(0)); the timer runs out; server data.",
         "Nothing to retransmit: the splice was complete at PRESPLICE (paper §3 'in which case the splice is "
         "completed immediately'); the data relayed.",
         scripted, LC, WATCH, execute=lockstep(ok_empty)),
    # -- LIFE-TEARDOWN --------------------------------------------------------------------------------
    Case("LIFE-TEARDOWN/half-close", (DOWN, "SEQ-CTL"),
         "The client sends its last bytes with FIN; the server acknowledges them, sends 10 more bytes, then its "
         "own FIN; the client acknowledges each.",
         "Every segment relayed with its FIN counted in sequence space: the client's FIN closes only the "
         "client's direction, and the server's data after it reaches the client (paper §3.3; RFC 9293 §3.6).",
         half_close, Scenario(client=PeerPlan(isn=1_000_000, tsval=10), server=PeerPlan(isn=9_000_000, tsval=20))),
    Case("LIFE-TEARDOWN/linger-then-end", (DOWN,),
         "No OK message; the client's request with FIN, the server's reply with FIN, the client's ACK of it; the "
         "server's FIN again (as if that ACK was lost) and the ACK again; the timer runs out; a late client "
         "segment.",
         "The FINs and ACKs relayed, the retransmitted FIN too; after the timer the splice has ended (stage "
         "CLOSED where reported) and the late segment is not relayed (RFC 9293 §3.6: TIME-WAIT; paper §3.3).",
         scripted, LC, WATCH, execute=lockstep(linger_and_end, to(DOWN))),
    # -- LIFE-ACCEPT ----------------------------------------------------------------------------------
    Case("LIFE-ACCEPT/ftp-active-early-data", (ACCEPT,),
         "FTP active mode: the client's 27-byte PORT command read by the proxy application; the server connects "
         "to the proxy and sends 600 bytes before the application accepted the connection. After the splice the "
         "server sends its first 100 bytes again (never acknowledged), then 100 more; the client acknowledges.",
         "D.splice_irs = the server's ISN + 1 (DONT_ACK inherited from the listening socket: the early bytes "
         "were held, not read), D.splice_iss = the proxy's ISN on D + 1 (the PORT command was not forwarded): "
         "the early bytes reach the client at C.splice_iss (paper §3, 'clients accepting connections'; "
         "figures 6 and 7 with the roles of connect and accept exchanged).",
         lambda st: [from_server(st, 0, payload=payload(100)), from_server(st, 100, payload=payload(100, 100)),
                     from_client(st, 0, ack_off=200)],
         FTP_ACTIVE, ACCEPT_NEEDS, execute=accepted),
    Case("LIFE-ACCEPT/socks-bind-across-wrap", (ACCEPT,),
         "SOCKS BIND: the 9-byte BIND request read by the application (its end wraps C.rcv_nxt to 4), the remote "
         "host's connection accepted, a 10-byte second reply as the OK message (its end wraps too); data both "
         "ways.",
         "C.splice_irs = 4, D.splice_iss = the proxy's ISN on D + 1 = 0 (wrapped), C.splice_iss after the "
         "second reply: the same equations as the connect direction (paper §3, §3.2).",
         lambda st: [from_client(st, 0, payload=b"to remote"), from_server(st, 0, ack_off=9, payload=b"from remote"),
                     from_client(st, 9, ack_off=11)],
         SOCKS_BIND, ACCEPT_NEEDS, execute=accepted),
]
