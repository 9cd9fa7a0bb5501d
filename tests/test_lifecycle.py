"""The splice lifecycle (figures 3, 4, 6, 7) and the option negotiation of §3.4."""

from __future__ import annotations

import itertools

import pytest
from splice_fixtures import CLIENT, PROXY_C, PROXY_D, SERVER
from splicecheck.reference.arith import MASK32
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.errors import SpliceStateError
from splicecheck.reference.handshake import MIN_MSS, ProxyConfig, SynOptions, answer_client, negotiate, offer_server
from splicecheck.reference.lifecycle import TRANSITIONS, Event, EventType, Refused, Socket, SpliceMachine, Stage
from splicecheck.reference.segment import ACK, PSH, RST, IPv4Header, NoOperation, Segment, TcpHeader, Timestamps

E = EventType
# Figure 6/7 worked example, with concrete numbers that also wrap:
#   client ISN 4294967290 → C.rcv_nxt starts at 4294967291; proxy ISN on C 100 → C.snd_nxt 101;
#   server ISN 7000 → D.rcv_nxt 7001; proxy ISN on D 4294967000 → D.snd_nxt 4294967001.
C_SOCK = Socket(CLIENT, PROXY_C, peer_isn=MASK32 - 5, local_isn=100, timestamps=True, peer_tsval=10, local_tsval=500,
                peer_wscale=7, local_wscale=0, peer_mss=1460)
D_SOCK = Socket(SERVER, PROXY_D, peer_isn=7000, local_isn=MASK32 - 295, timestamps=True, peer_tsval=9000,
                local_tsval=600, peer_wscale=2, local_wscale=7, peer_mss=1460)


def from_client(seq: int, ack: int, payload: bytes = b"", flags: int = ACK, tsval: int | None = None) -> Event:
    opts = (NoOperation(), NoOperation(), Timestamps(tsval, 0)) if tsval is not None else ()
    s = Segment(IPv4Header(CLIENT.addr, PROXY_C.addr), TcpHeader(CLIENT.port, PROXY_C.port, seq, ack, flags, 500,
                                                                 0, opts), payload)
    return Event(E.CLIENT_SEGMENT, segment=decode(encode(s)))


def from_server(seq: int, ack: int, payload: bytes = b"", flags: int = ACK) -> Event:
    s = Segment(IPv4Header(SERVER.addr, PROXY_D.addr), TcpHeader(SERVER.port, PROXY_D.port, seq, ack, flags),
                payload)
    return Event(E.SERVER_SEGMENT, segment=decode(encode(s)))


def socks_machine(ok_len: int = 10) -> SpliceMachine:
    """Figure 3: auth exchange (client sends 9 bytes, proxy answers 2), INTEND, connect, PRESPLICE(n)."""
    m = SpliceMachine(C_SOCK)
    m.handle(Event(E.APP_RECV_CLIENT, 9, tsval=11))  # C.rcv_nxt = 4294967291 + 9 = 4 (wrapped)
    m.handle(Event(E.APP_SEND_CLIENT, 2, tsval=501))  # C.snd_nxt = 103
    m.handle(Event(E.INTEND_SPLICE))
    m.handle(Event(E.SERVER_CONNECTED, socket=D_SOCK))
    m.handle(Event(E.PRESPLICE, ok_len))
    return m


@pytest.mark.req("LIFE-BASE-S2C", "LIFE-BASE-C2S")
def test_base_points_of_figures_6_and_7():
    m = socks_machine(ok_len=10)
    assert m.stage is Stage.PRESPLICED
    assert m.c2s_irs == 4  # C.rcv_nxt: (2^32-5) + 1 + 9 mod 2^32
    assert m.c2s_iss == MASK32 - 294  # D.snd_nxt: (2^32-296) + 1
    assert m.s2c_irs == 7001  # D.rcv_nxt when DONT_ACK took effect (D connected after INTEND)
    assert m.s2c_iss == 113  # C.snd_nxt 103 + the 10-byte OK message
    out = m.handle(Event(E.APP_SEND_CLIENT, 10, tsval=502))
    assert out == [] and m.stage is Stage.SPLICED and m.splice is not None
    assert (m.splice.client.splice_irs, m.splice.client.splice_iss) == (4, 113)
    assert (m.splice.server.splice_irs, m.splice.server.splice_iss) == (7001, MASK32 - 294)
    # §3.4.1: the last timestamps before the splice, the OK message's TSval included
    assert (m.splice.client.lastsent_ts, m.splice.client.lastrecv_ts) == (502, 11)
    # client byte 4 (first after the auth exchange) becomes the server's next expected byte
    r = m.handle(from_client(4, 113, b"GET"))[0]
    assert r.segments[0].tcp.seq == MASK32 - 294 and r.segments[0].tcp.ack == 7001


@pytest.mark.req("LIFE-BASE-S2C")
def test_intend_after_connect_uses_rcv_nxt_at_that_time():
    m = SpliceMachine(C_SOCK, server=D_SOCK)
    m.handle(Event(E.APP_RECV_SERVER, 50))  # D.rcv_nxt 7051: the application consumed 50 bytes first
    m.handle(Event(E.INTEND_SPLICE))
    assert m.stage is Stage.CONNECTED and m.s2c_irs == 7051


@pytest.mark.req("LIFE-DONTACK", "LIFE-RELEASE")
def test_server_data_held_until_ok_message_written():
    m = SpliceMachine(C_SOCK)
    m.handle(Event(E.INTEND_SPLICE))
    m.handle(Event(E.SERVER_CONNECTED, socket=D_SOCK))
    assert m.handle(from_server(7001, MASK32 - 294, b"hello")) == []  # held (DONT_ACK)
    with pytest.raises(SpliceStateError, match="DONT_ACK"):
        m.handle(Event(E.APP_RECV_SERVER, 5))
    m.handle(Event(E.PRESPLICE, 4))
    assert m.handle(from_server(7006, MASK32 - 294, b"world")) == []
    assert m.handle(Event(E.APP_SEND_CLIENT, 3)) == [] and m.stage is Stage.PRESPLICED
    out = m.handle(Event(E.APP_SEND_CLIENT, 1))
    assert m.stage is Stage.SPLICED
    assert [r.segments[0].payload for r in out] == [b"hello", b"world"]
    assert [r.segments[0].tcp.seq for r in out] == [105, 110]  # right after the 4-byte OK at 101..104


@pytest.mark.req("LIFE-RELEASE", "LIFE-OK-ZERO")
def test_empty_ok_message_splices_at_once():
    m = SpliceMachine(C_SOCK, server=D_SOCK)
    m.handle(Event(E.INTEND_SPLICE))
    m.handle(from_server(7001, MASK32 - 294, b"early"))
    out = m.handle(Event(E.PRESPLICE, 0))
    assert m.stage is Stage.COMPLETE and out[0].segments[0].tcp.seq == 101  # paper §3: completed immediately


@pytest.mark.req("LIFE-COMPLETE")
def test_completion_needs_the_ack_covering_the_whole_ok_message():
    m = socks_machine(ok_len=10)
    m.handle(Event(E.APP_SEND_CLIENT, 10))
    m.handle(from_client(4, 112))  # one byte of the OK message still unacknowledged
    assert m.stage is Stage.SPLICED
    m.handle(from_client(4, 113))
    assert m.stage is Stage.COMPLETE


@pytest.mark.req("TRIM-2GIB", "LIFE-COMPLETE")
def test_machine_threads_the_relays_successor_state():
    """The machine keeps the relay's successor state: each direction's advance grows with what it relays,
    and completion is judged in stream order against the server→client advance."""
    m = socks_machine(ok_len=10)
    m.handle(Event(E.APP_SEND_CLIENT, 10))
    assert m.splice is not None and (m.splice.c2s_advance, m.splice.s2c_advance) == (0, 0)
    m.handle(from_server(7001, MASK32 - 294, b"hello"))
    m.handle(from_client(4, 113 + 5, b"GET /"))
    assert (m.splice.c2s_advance, m.splice.s2c_advance) == (5, 5)
    assert m.stage is Stage.COMPLETE
    # a retransmission of the server's first bytes leaves the state as it was
    before = m.splice
    m.handle(from_server(7001, MASK32 - 294, b"hel"))
    assert m.splice is before


def test_rst_closes_the_splice():
    m = socks_machine(ok_len=0)
    m.handle(from_server(7001, MASK32 - 294, flags=RST | ACK))
    assert m.stage is Stage.CLOSED
    assert m.handle(from_client(4, 103, b"late", flags=ACK | PSH)) == []


@pytest.mark.req("LIFE-TOTAL")
def test_transition_table_is_total():
    for stage in Stage:
        assert set(TRANSITIONS[stage]) == set(EventType), stage
        for rule in TRANSITIONS[stage].values():
            assert (isinstance(rule, Refused) and rule.reason) or (rule and rule <= set(Stage))


def _event(t: EventType) -> Event:
    if t is E.SERVER_CONNECTED:
        return Event(t, socket=D_SOCK)
    if t is E.CLIENT_SEGMENT:
        return from_client(4, 103, b"x")
    if t is E.SERVER_SEGMENT:
        return from_server(7001, MASK32 - 294, b"y")
    return Event(t, 1)


def _machines() -> dict[Stage, SpliceMachine]:
    """One machine per stage, reached by a legal path."""
    out = {Stage.UNSPLICED: SpliceMachine(C_SOCK)}
    m = SpliceMachine(C_SOCK)
    m.handle(Event(E.INTEND_SPLICE))
    out[Stage.INTENDED] = m
    m = SpliceMachine(C_SOCK, server=D_SOCK)
    m.handle(Event(E.INTEND_SPLICE))
    out[Stage.CONNECTED] = m
    m = socks_machine(5)
    out[Stage.PRESPLICED] = m
    m = socks_machine(4)
    m.handle(Event(E.APP_SEND_CLIENT, 4))
    out[Stage.SPLICED] = m
    m = socks_machine(0)  # no OK message: complete at once (LIFE-OK-ZERO)
    m.handle(from_client(4, 103))
    out[Stage.COMPLETE] = m
    m = socks_machine(0)
    m.handle(from_client(4, 103, flags=RST | ACK))
    out[Stage.CLOSED] = m
    return out


@pytest.mark.req("LIFE-TOTAL")
@pytest.mark.parametrize(("stage", "etype"), list(itertools.product(Stage, EventType)))
def test_every_stage_event_pair_answers(stage, etype):
    """h2's test_state_machines idea: each pair gives a next stage in the table or a SpliceStateError."""
    m = _machines()[stage]
    assert m.stage is stage
    rule = TRANSITIONS[stage][etype]
    try:
        m.handle(_event(etype))
    except SpliceStateError as err:
        assert err.state == stage.value and err.event == etype.value and err.detail
        return
    assert not isinstance(rule, Refused), f"{stage}/{etype} should have been refused"
    assert m.stage in rule


# --- §3.4 option negotiation --------------------------------------------------------------------


@pytest.mark.req("WS-ZERO", "WS-PROPAGATE")
def test_window_scale_zero_to_client_and_propagated_to_server():
    client = SynOptions(mss=1460, wscale=9, sack_permitted=True, timestamps=True)
    cfg = ProxyConfig()
    assert answer_client(client, True, cfg).wscale == 0
    assert offer_server(client, cfg).wscale == 9
    assert answer_client(SynOptions(mss=1460), True, cfg).wscale is None  # no WS offered, none answered


@pytest.mark.req("MSS-536")
def test_mss_536_without_pmtud():
    client = SynOptions(mss=1460)
    assert answer_client(client, client_df=False, cfg=ProxyConfig(mss=1400)).mss == MIN_MSS
    assert answer_client(client, client_df=True, cfg=ProxyConfig(mss=1400)).mss == 1400


def test_negotiate_needs_both_sides():
    n = negotiate(SynOptions(mss=1200, wscale=15, sack_permitted=True, timestamps=True),
                  SynOptions(mss=1460, wscale=0, sack_permitted=False, timestamps=True))
    assert (n.timestamps, n.sack, n.peer_wscale, n.local_wscale, n.peer_mss) == (True, False, 14, 0, 1200)
    n = negotiate(SynOptions(), SynOptions(wscale=3))
    assert (n.peer_wscale, n.local_wscale, n.peer_mss) == (None, None, MIN_MSS)


@pytest.mark.req("LIFE-TOTAL")
def test_held_segments_released_by_the_ok_message_may_complete_or_close_the_splice() -> None:
    """A client segment held while the OK message is written that already ACKs past it (or a held RST)
    takes effect when the splice is made: the step answers COMPLETE (or CLOSED), a stage the table lists."""
    from splicecheck.conformance.contract import PeerPlan, Scenario
    from splicecheck.conformance.model import addresses, reference_machine


    for flags, stage in ((ACK, Stage.COMPLETE), (RST | ACK, Stage.CLOSED)):
        m = reference_machine(Scenario(client=PeerPlan(isn=100), server=PeerPlan(isn=200), ok_len=0))
        where = addresses(4)
        # a fresh machine stopped before the OK message: PRESPLICE(4) then data arrives from the client
        m2 = SpliceMachine(m.client, strip_style=m.strip_style)
        assert m.server is not None
        m2.handle(Event(EventType.SERVER_CONNECTED, socket=m.server))
        m2.handle(Event(EventType.INTEND_SPLICE))
        m2.handle(Event(EventType.PRESPLICE, 4))
        ok_end = (m2.s2c_iss or 0)
        seg = Segment(IPv4Header(where.client.addr, where.proxy_c.addr),
                      TcpHeader(where.client.port, where.proxy_c.port, 101, ok_end, flags), b"data")
        m2.handle(Event(EventType.CLIENT_SEGMENT, segment=seg))
        m2.handle(Event(EventType.APP_SEND_CLIENT, 4))
        assert m2.stage is stage
