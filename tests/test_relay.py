"""The relay, requirement by requirement (spec/requirements.py), with exhaustive loops over wrap windows."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, IPerror
from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6
from splice_fixtures import CLIENT, PROXY_C, PROXY_D, SERVER, checksums_valid, seg, state, with_advance
from splicecheck.reference.arith import MASK32
from splicecheck.reference.codec import decode, encode, serialise
from splicecheck.reference.icmp import PacketTooBig, encode_icmp
from splicecheck.reference.relay import (
    Note,
    SpliceState,
    StripStyle,
    relay,
)
from splicecheck.reference.segment import (
    ACK,
    AE,
    CWR,
    ECE,
    FIN,
    PSH,
    RST,
    SYN,
    URG,
    EndOfOptionList,
    MaxSegmentSize,
    NoOperation,
    Sack,
    SackPermitted,
    Segment,
    Timestamps,
    UnknownOption,
    WindowScale,
)
from splicecheck.reference.seqspace import HALF, before


def only(result) -> Segment:
    assert len(result.emitted) == 1, result
    out = result.emitted[0]
    assert isinstance(out, Segment)
    return out


@pytest.mark.req("SEQ-MAP", "ACK-MAP", "ADDR-REWRITE", "PORT-REWRITE")
@pytest.mark.parametrize("v6", [False, True])
def test_worked_example_both_directions(v6):
    # client→server: seq 1000+10 maps to 70000+10; ack 5000+3 maps to 90000+3
    st_ = state(c_irs=1000, c_iss=5000, s_irs=90000, s_iss=70000, v6=v6)
    out = only(relay(st_, seg(st_, seq=1010, ack=5003, payload=b"x"), 0.0))
    assert (out.tcp.seq, out.tcp.ack) == (70010, 90003)
    assert (out.ip.src, out.ip.dst) == (st_.server.local.addr, st_.server.peer.addr)
    assert (out.tcp.sport, out.tcp.dport) == (st_.server.local.port, st_.server.peer.port)
    back = only(relay(st_, seg(st_, from_client=False, seq=90007, ack=70011, payload=b"y"), 0.0))
    assert (back.tcp.seq, back.tcp.ack) == (5007, 1011)
    assert (back.ip.src, back.ip.dst, back.tcp.sport, back.tcp.dport) == (
        st_.client.local.addr, st_.client.peer.addr, st_.client.local.port, st_.client.peer.port)


@pytest.mark.req("SEQ-MAP", "ACK-MAP")
def test_mapping_across_wrap_exhaustive():
    edges = [0, 1, 2, 0x7FFF_FFFF, 0x8000_0000, MASK32 - 1, MASK32]
    for c_irs, s_iss in itertools.product(edges, repeat=2):
        st_ = state(c_irs=c_irs, c_iss=MASK32 - 3, s_irs=5, s_iss=s_iss)
        for k in range(0, 600, 37):
            seq = (c_irs + k) & MASK32
            ack = (MASK32 - 3 + k) & MASK32
            out = only(relay(st_, seg(st_, seq=seq, ack=ack, payload=b"a"), 0.0))
            assert out.tcp.seq == (s_iss + k) & MASK32
            assert out.tcp.ack == (5 + k) & MASK32


@pytest.mark.req("ACK-NOACK")
def test_ack_field_of_bare_rst_is_not_mapped():
    st_ = state()
    out = only(relay(st_, seg(st_, seq=1000, ack=0xDEADBEEF, flags=RST), 0.0))
    assert out.tcp.flags == RST and out.tcp.ack == 0xDEADBEEF and out.tcp.seq == 70000


@pytest.mark.req("SEQ-CTL")
def test_fin_occupies_one_number_after_the_data():
    st_ = state(c_irs=MASK32 - 2, s_iss=MASK32)
    out = only(relay(st_, seg(st_, seq=MASK32 - 2, flags=ACK | FIN, payload=b"abcd"), 0.0))
    assert out.tcp.flags & FIN
    assert out.tcp.seq == MASK32 and out.seg_len == 5
    assert (out.tcp.seq + out.seg_len) & MASK32 == (MASK32 + 5) & MASK32  # the FIN is number MASK32 + 4 mod 2^32


@pytest.mark.req("SEQ-CTL", "TRIM-REST")
def test_retransmitted_syn_is_trimmed_with_its_number():
    # a SYN at irs-1 with 3 data bytes: the SYN number is below the base, the data is not
    st_ = state(c_irs=1000)
    out = only(relay(st_, seg(st_, seq=999, flags=SYN | ACK, payload=b"abc"), 0.0))
    assert not out.tcp.flags & SYN and out.payload == b"abc" and out.tcp.seq == 70000


@pytest.mark.req("FLAGS-KEEP", "PAYLOAD-KEEP")
def test_flags_and_reserved_bits_and_payload_survive():
    st_ = state()
    s = seg(st_, seq=1000, flags=ACK | PSH | ECE | CWR | AE, payload=bytes(range(256)))
    s = decode(encode(s)[:32] + bytes([encode(s)[32] | 0x0E]) + encode(s)[33:])  # set the 3 reserved bits
    out = only(relay(st_, s, 0.0))
    assert out.tcp.flags == ACK | PSH | ECE | CWR | AE and out.tcp.reserved == 0b111
    assert out.payload == bytes(range(256))


@pytest.mark.req("IPOPT-STRIP", "IPCSUM-VALID", "IP-PRESERVE", "TTL-DEC")
def test_ip_header_rewrite():
    st_ = state()
    out = only(relay(st_, seg(st_, seq=1000, payload=b"z", ip_options=b"\x07\x07\x04" + bytes(5), tos=0xB9,
                              ttl=9), 0.0))
    assert out.ip.options == b"" and out.ip.header_length == 20
    assert out.ip.tos == 0xB9 and out.ip.ident == 0x1234 and out.ip.df and out.ip.ttl == 8
    assert checksums_valid(out)
    assert len(encode(out)) == 20 + 20 + 1


@pytest.mark.req("IP-PRESERVE", "TTL-DEC")
def test_ipv6_header_rewrite():
    st_ = state(v6=True)
    out = only(relay(st_, seg(st_, seq=1000, payload=b"z", tos=0x2E, ttl=2), 0.0))
    assert (out.ip.traffic_class, out.ip.flow_label, out.ip.hop_limit) == (0x2E, 0xABCDE, 1)
    assert checksums_valid(out)


@pytest.mark.req("TTL-EXPIRE")
@pytest.mark.parametrize("ttl", [0, 1])
def test_expiring_ttl_is_not_relayed(ttl):
    st_ = state()
    r = relay(st_, seg(st_, seq=1000, payload=b"z", ttl=ttl), 0.0)
    assert r.emitted == () and r.notes == (Note.TTL_EXPIRED,)


@pytest.mark.req("DIR-ONLY")
def test_segment_on_neither_leg_is_not_relayed():
    st_ = state()
    s = seg(st_, seq=1000, payload=b"z")
    stray = Segment(type(s.ip)(SERVER.addr, PROXY_C.addr), s.tcp, s.payload)  # wrong source for leg C
    r = relay(st_, stray, 0.0)
    assert r.direction is None and r.emitted == () and Note.NOT_THIS_SPLICE in r.notes
    assert relay(st_, s, 0.0).emitted  # the right one is relayed


# --- trimming ------------------------------------------------------------------------------------


def expected_bytes(seq: int, payload: bytes, irs: int) -> bytes:
    """Bytes at or after irs, by a plain per-byte reading of Linux before()."""
    return bytes(b for i, b in enumerate(payload) if not before((seq + i) & MASK32, irs))


@pytest.mark.req("TRIM-SOUND", "TRIM-COMPLETE", "TRIM-REST", "TRIM-BELOW")
@pytest.mark.parametrize("irs", [0, 1, 40, 0x8000_0000, MASK32 - 40, MASK32])
def test_trim_exhaustive_over_wrap_window(irs):
    st_ = state(c_irs=irs, s_iss=MASK32 - 7)
    payload = bytes(range(1, 41))
    for off in range(-60, 30):
        for n in (0, 1, 2, 17, 40):
            seq = (irs + off) & MASK32
            data = payload[:n]
            r = relay(st_, seg(st_, seq=seq, payload=data), 0.0)
            want = expected_bytes(seq, data, irs)
            if n and off + n <= 0:  # wholly below the base: a pure ACK at the base
                out = only(r)
                assert out.payload == b"" and out.tcp.seq == MASK32 - 7 and Note.BELOW_BASE_PURE_ACK in r.notes
                continue
            out = only(r)
            assert out.payload == want == data[max(0, -off):]
            # a zero-length segment occupies no sequence space: nothing to trim, mapped as it is
            expect_seq = (MASK32 - 7 + (off if n == 0 else max(off, 0))) & MASK32
            assert out.tcp.seq == expect_seq
            assert checksums_valid(out)


@pytest.mark.req("TRIM-BELOW")
@pytest.mark.parametrize("flags", [RST | ACK, SYN, FIN])
def test_wholly_below_without_ack_or_with_rst_is_dropped(flags):
    st_ = state(c_irs=1000)
    r = relay(st_, seg(st_, seq=990, flags=flags, payload=b"abc"), 0.0)
    assert r.emitted == () and Note.BELOW_BASE_DROPPED in r.notes


@pytest.mark.req("TRIM-HALF", "SEQ-ORDER-HALF")
def test_segment_exactly_half_the_space_away_is_trimmed_whole():
    for irs in (0, 5, 0x8000_0000, MASK32):
        far = (irs + 0x8000_0000) & MASK32
        assert before(far, irs) and before(irs, far)  # Linux's order holds both ways at 2^31
        st_ = state(c_irs=irs)
        r = relay(st_, seg(st_, seq=far, payload=b"abc"), 0.0)
        out = only(r)
        assert out.payload == b"" and Note.BELOW_BASE_PURE_ACK in r.notes
        # one number closer is ahead of the base: relayed whole
        r = relay(st_, seg(st_, seq=(far - 1) & MASK32, payload=b"abc"), 0.0)
        assert only(r).payload == b"abc"


@pytest.mark.req("CSUM-FAILSAFE", "TCPCSUM-VALID")
@pytest.mark.parametrize("cut", [0, 1, 2, 3, 10])
def test_corrupt_payload_stays_corrupt_after_trim(cut):
    st_ = state(c_irs=1000 + cut)
    good = seg(st_, seq=1000, payload=bytes(range(50)))
    raw = bytearray(encode(good))
    raw[-5] ^= 0x5A  # a bit error in the payload, checksum untouched
    bad = decode(bytes(raw))
    assert checksums_valid(only(relay(st_, good, 0.0)))
    assert not checksums_valid(only(relay(st_, bad, 0.0)))


# --- urgent pointer ------------------------------------------------------------------------------


@pytest.mark.req("URG-KEEP", "URG-SHIFT", "URG-CLEAR")
def test_urgent_pointer_exhaustive():
    irs = MASK32 - 5
    st_ = state(c_irs=irs)
    for off in range(-12, 3):
        for urp in range(0, 20):
            seq = (irs + off) & MASK32
            s = seg(st_, seq=seq, flags=ACK | URG, urgent=urp, payload=bytes(range(15)))
            out = only(relay(st_, s, 0.0))
            t = max(0, -off)
            if t == 0:
                assert out.tcp.flags & URG and out.tcp.urgent == urp
            elif urp <= t:  # the urgent octet seq+urp-1 lay below the base
                assert not out.tcp.flags & URG and out.tcp.urgent == 0
            else:
                assert out.tcp.flags & URG and out.tcp.urgent == urp - t
                # same octet: old seq + urp == new seq + new urp (in the in-space)
                assert (seq + urp) & MASK32 == (irs + out.tcp.urgent) & MASK32


# --- timestamps ----------------------------------------------------------------------------------


@pytest.mark.req("TS-VAL", "TS-ECR")
def test_every_timestamp_option_is_mapped():
    st_ = state(ts=True, c_lastrecv_ts=MASK32 - 1, c_lastsent_ts=7, s_lastrecv_ts=100, s_lastsent_ts=MASK32)
    opts = [NoOperation(), NoOperation(), Timestamps(2, 9), NoOperation(), NoOperation(), Timestamps(5, 8)]
    out = only(relay(st_, seg(st_, seq=1000, options=opts), 0.0))
    ts = [o for o in out.tcp.options if isinstance(o, Timestamps)]
    # TSval: 2 - (2^32-2) + (2^32-1) = 3; TSecr: 9 - 7 + 100 = 102
    assert ts == [Timestamps(3, 102), Timestamps(6, 101)]
    assert checksums_valid(out)


@pytest.mark.req("TS-STRIP", "STRIP-STYLE")
@pytest.mark.parametrize("style", list(StripStyle))
def test_timestamps_stripped_when_one_leg_lacks_them(style):
    st_ = state(ts=False, c_timestamps=True, style=style)
    opts = [NoOperation(), NoOperation(), Timestamps(2, 9), MaxSegmentSize(1400)]
    out = only(relay(st_, seg(st_, seq=1000, options=opts), 0.0))
    assert not any(isinstance(o, Timestamps) for o in out.tcp.options)
    assert MaxSegmentSize(1400) in out.tcp.options
    if style is StripStyle.NOP:
        assert out.tcp.header_length == 20 + 16
        assert out.tcp.options[:12] == (NoOperation(),) * 12
    else:
        assert out.tcp.options == (MaxSegmentSize(1400),) and out.tcp.header_length == 24
    assert checksums_valid(out)


# --- SACK ----------------------------------------------------------------------------------------


@pytest.mark.req("SACK-MAP", "SACK-CLIP")
def test_sack_blocks_mapped_clipped_dropped():
    st_ = state(sack=True, c_iss=MASK32 - 10, s_irs=50)  # client acks data the proxy sent from MASK32-10
    blocks = ((MASK32 - 30, MASK32 - 20), (MASK32 - 15, 3), (5, 9))  # below; across the base (and wrap); above
    out = only(relay(st_, seg(st_, seq=1000, options=[NoOperation(), NoOperation(), Sack(blocks)]), 0.0))
    sack = out.tcp.option(Sack)
    assert isinstance(sack, Sack)
    # the base MASK32-10 = 2^32-11 maps to 50, so an edge e maps to 50 + (e + 11) mod 2^32
    assert sack.blocks == ((50, 50 + 14), (50 + 16, 50 + 20))
    assert checksums_valid(out)


@pytest.mark.req("SACK-CLIP", "SACK-STRIP")
@pytest.mark.parametrize("style", list(StripStyle))
def test_sack_option_goes_when_no_block_remains(style):
    st_ = state(sack=True, c_iss=1000, style=style)
    out = only(relay(st_, seg(st_, seq=1000, options=[NoOperation(), NoOperation(), Sack(((10, 20),))]), 0.0))
    assert out.tcp.option(Sack) is None
    assert out.tcp.header_length == (32 if style is StripStyle.NOP else 20)


@pytest.mark.req("SACK-STRIP")
def test_sack_stripped_when_one_leg_lacks_it():
    st_ = state(sack=False, c_sack=True)
    out = only(relay(st_, seg(st_, seq=1000, options=[NoOperation(), NoOperation(), Sack(((5000, 5005),))]), 0.0))
    assert out.tcp.option(Sack) is None


# --- window scale --------------------------------------------------------------------------------


@pytest.mark.req("WS-SAFE", "WS-EXACT")
def test_window_rescaling_every_shift_pair():
    for cs, ss in itertools.product(range(15), repeat=2):
        st_ = state(c_peer_wscale=cs, c_local_wscale=0, s_peer_wscale=ss, s_local_wscale=cs)
        for w in (0, 1, 255, 4096, 65535):
            out = only(relay(st_, seg(st_, from_client=False, seq=90000, window=w), 0.0))
            real = w << ss  # the server's real window; the client reads the field unscaled (shift 0)
            assert out.tcp.window <= 0xFFFF and out.tcp.window <= real
            assert out.tcp.window == min(real, 0xFFFF)
            up = only(relay(st_, seg(st_, seq=1000, window=w), 0.0))
            assert up.tcp.window == w  # client → server: both read with the client's shift


@pytest.mark.req("WS-SAFE", "WS-EXACT")
def test_window_unscaled_when_server_lacks_ws():
    st_ = state(c_peer_wscale=7, c_local_wscale=0)  # leg D: no window scaling
    assert only(relay(st_, seg(st_, seq=1000, window=3), 0.0)).tcp.window == 3 << 7
    assert only(relay(st_, seg(st_, seq=1000, window=1000), 0.0)).tcp.window == 0xFFFF


@pytest.mark.req("WS-EXACT", "WS-SAFE")
def test_a_syn_window_is_never_scaled():
    """RFC 7323 §2.2: the window of a SYN is not scaled, by its sender or its receiver. Shifts: client 7,
    server 2 (the proxy advertised 7 to both)."""
    st_ = state(c_peer_wscale=7, c_local_wscale=0, s_peer_wscale=2, s_local_wscale=7)
    for w in (1, 100, 65535):
        # a server SYN+ACK in the stream: read unscaled, received with its SYN, so read unscaled again
        out = only(relay(st_, seg(st_, from_client=False, seq=90000, flags=SYN | ACK, window=w), 0.0))
        assert out.tcp.flags & SYN and out.tcp.window == w
        # the same from the client
        assert only(relay(st_, seg(st_, seq=1000, flags=SYN | ACK, window=w), 0.0)).tcp.window == w
        # a client SYN below the base with data after it: the SYN is trimmed off, the data relayed; the
        # window came unscaled and is read with the server's shift for the client (7)
        out = only(relay(st_, seg(st_, seq=999, flags=SYN | ACK, payload=b"ab", window=w), 0.0))
        assert not out.tcp.flags & SYN and out.tcp.window == w >> 7
    # and the plain segment still rescales: the server's 100 << 2 read by the client with shift 0
    assert only(relay(st_, seg(st_, from_client=False, seq=90000, window=100), 0.0)).tcp.window == 400


@pytest.mark.req("WS-STRIP", "OPT-PASS")
def test_ws_stripped_other_options_pass():
    st_ = state()
    opts = [WindowScale(7), MaxSegmentSize(1200), SackPermitted(), UnknownOption(30, b"\x01\x02"),
            EndOfOptionList()]
    out = only(relay(st_, seg(st_, seq=1000, options=opts), 0.0))
    kinds = [type(o) for o in out.tcp.options]
    assert WindowScale not in kinds
    for o in (MaxSegmentSize(1200), SackPermitted(), UnknownOption(30, b"\x01\x02")):
        assert o in out.tcp.options
    assert checksums_valid(out)


# --- MSS -----------------------------------------------------------------------------------------


@pytest.mark.req("MSS-ICMP")
def test_oversized_df_segment_gets_frag_needed_v4():
    st_ = state(s_peer_mss=1000)
    s = seg(st_, seq=1000, payload=bytes(1001))
    r = relay(st_, s, 0.0)
    assert len(r.emitted) == 1 and isinstance(r.emitted[0], PacketTooBig)
    icmp = IP(encode_icmp(r.emitted[0]))
    assert icmp.src == "192.0.2.254" and icmp.dst == "192.0.2.1"
    assert icmp[ICMP].type == 3 and icmp[ICMP].code == 4 and icmp[ICMP].nexthopmtu == 1040
    chk = icmp[ICMP].chksum
    del icmp[ICMP].chksum, icmp.chksum
    assert IP(bytes(icmp))[ICMP].chksum == chk
    assert bytes(icmp[IPerror])[:28] == encode(s)[:28]
    # at the MSS, or without DF, it is relayed
    assert isinstance(relay(st_, seg(st_, seq=1000, payload=bytes(1000)), 0.0).emitted[0], Segment)
    assert isinstance(relay(st_, seg(st_, seq=1000, payload=bytes(1001), df=False), 0.0).emitted[0], Segment)


@pytest.mark.req("MSS-ICMP")
def test_oversized_segment_gets_packet_too_big_v6():
    st_ = state(v6=True, s_peer_mss=1220)
    r = relay(st_, seg(st_, seq=1000, payload=bytes(1221)), 0.0)
    msg = IPv6(encode_icmp(r.emitted[0]))
    assert msg[ICMPv6PacketTooBig].mtu == 1280 and len(bytes(msg)) <= 1280
    chk = msg[ICMPv6PacketTooBig].cksum
    del msg[ICMPv6PacketTooBig].cksum
    assert IPv6(bytes(msg))[ICMPv6PacketTooBig].cksum == chk


# --- every output: checksums, random states -------------------------------------------------------

u32 = st.integers(0, MASK32)


@pytest.mark.req("TCPCSUM-VALID", "IPCSUM-VALID")
@settings(max_examples=300, deadline=None)
@given(c_irs=u32, c_iss=u32, s_irs=u32, s_iss=u32, off=st.integers(-80, 80), n=st.integers(0, 60),
       flags=st.sampled_from([ACK, ACK | PSH, ACK | FIN, ACK | URG, RST, ACK | SYN]), urp=st.integers(0, 100),
       v6=st.booleans(), ts=st.booleans(), sack=st.booleans(), style=st.sampled_from(list(StripStyle)),
       tsv=u32, sl=u32, sr=u32)
def test_every_output_checksum_equals_full_recomputation(c_irs, c_iss, s_irs, s_iss, off, n, flags, urp, v6, ts,
                                                          sack, style, tsv, sl, sr):
    st_ = state(c_irs, c_iss, s_irs, s_iss, v6=v6, ts=ts, sack=sack, style=style, c_timestamps=True)
    opts = [NoOperation(), NoOperation(), Timestamps(tsv, sl), NoOperation(), NoOperation(), Sack(((sl, sr),))]
    s = seg(st_, seq=(c_irs + off) & MASK32, ack=sr, flags=flags, urgent=urp, payload=bytes(range(n)), options=opts)
    result = relay(st_, s, 0.0)
    for out in result.segments:
        assert checksums_valid(out)
        assert decode(encode(out)) == out
        assert encode(out) == serialise(out)  # the wire form the relay attached is the fields' encoding
    # a segment built by hand (no wire bytes, checksums to compute) is relayed exactly as its decoded twin
    hand = seg(st_, seq=(c_irs + off) & MASK32, ack=sr, flags=flags, urgent=urp, payload=bytes(range(n)), options=opts,
               sealed=False)
    assert relay(st_, hand, 0.0) == result


def test_result_stamped_with_now():
    st_ = state()
    assert relay(st_, seg(st_, seq=1000), 12.5).at == 12.5
    assert CLIENT != SERVER and PROXY_C != PROXY_D


# --- stream order: the advance, past 2 GiB (TRIM-2GIB) --------------------------------------------



def stream_position(x: int, base: int, advance: int) -> int:
    """Where ``x`` lies along the stream, independently of the model: the value ≡ x - base (mod 2^32)
    within 2^31 of the furthest point ``base + advance`` — at most 2^31 behind it, less than 2^31 ahead
    (Linux before(): exactly 2^31 away counts as behind). With ``advance == 2^31`` it stands for any
    stream that far or further (the relay cannot tell them apart, and need not: nothing precedes the
    base within 2^31 of such a stream's furthest point)."""
    ahead = (x - base - advance) % (1 << 32)
    return advance + (ahead - (1 << 32) if ahead >= HALF else ahead)


@pytest.mark.req("TRIM-SOUND", "TRIM-COMPLETE", "TRIM-2GIB", "TRIM-REST")
@pytest.mark.parametrize("advance", [0, 1, 65536, 1 << 30, HALF - 1, HALF])
@pytest.mark.parametrize("irs", [0, 40, MASK32 - 40])
def test_trim_by_stream_position_at_every_advance(advance, irs):
    """Exhaustive near every edge: the base, the far end of the stretch that precedes it
    (base - (2^31 - advance)), the furthest point and 2^31 past the base."""
    st_ = with_advance(state(c_irs=irs, s_iss=MASK32 - 7), c2s=advance)
    payload = bytes(range(1, 41))
    edges = {0, -(HALF - advance), advance, HALF, 1 << 32}
    for edge in edges:
        for off in range(edge - 45, edge + 5):
            seq = (irs + off) & MASK32
            r = relay(st_, seg(st_, seq=seq, payload=payload), 0.0)
            start = stream_position(seq, irs, advance)
            if start + len(payload) > advance + HALF:
                continue  # reaches 2^31 past the furthest point: no 32-bit comparison can place it (RFC 1982)
            kept = bytes(b for i, b in enumerate(payload) if start + i >= 0)
            out = only(r)
            if not kept:
                assert out.payload == b"" and Note.BELOW_BASE_PURE_ACK in r.notes, (advance, off)
                continue
            assert out.payload == kept, (advance, off)
            trimmed = len(payload) - len(kept)
            assert r.trimmed == trimmed and out.tcp.seq == (MASK32 - 7 + off + trimmed) & MASK32
            assert checksums_valid(out)


@pytest.mark.req("TRIM-2GIB", "TRIM-COMPLETE", "PAYLOAD-KEEP")
def test_a_stream_past_2_gib_keeps_relaying():
    """Issue 3 (d.): relay more than 2^31 bytes in one direction, threading the successor state — every
    segment arrives whole; the advance saturates at 2^31. The old rule (before(seq, splice_irs) against
    the fixed base, i.e. advance 0 for ever) trims the next segment whole: the splice would stall."""
    st_ = state(c_irs=0xFFFF_0000, c_iss=5000, s_irs=90000, s_iss=70000)
    payload = bytes(range(256)) * 255 + bytes(175)  # 65455 bytes: IPv4's 65535 less 80 of headers
    seq = st_.client.splice_irs
    for i in range(HALF // len(payload) + 1):
        r = relay(st_, seg(st_, seq=seq, payload=payload, df=False, sealed=False), 0.0)
        assert r.trimmed == 0 and only(r).payload == payload, i
        assert r.state is not None and r.state.c2s_advance == min((i + 1) * len(payload), HALF)
        st_ = r.state
        seq = (seq + len(payload)) & MASK32
    assert st_.c2s_advance == HALF and st_.s2c_advance == 0
    nxt = seg(st_, seq=seq, payload=b"more data", df=False)
    assert only(relay(st_, nxt, 0.0)).payload == b"more data"
    old = relay(with_advance(st_), nxt, 0.0)  # the same segment under the old rule
    assert only(old).payload == b"" and Note.BELOW_BASE_PURE_ACK in old.notes
    # far past 4 GiB the furthest point has wrapped onto the base and beyond: still relayed whole
    again = seg(st_, seq=st_.client.splice_irs, payload=b"x")
    assert only(relay(st_, again, 0.0)).payload == b"x"


@pytest.mark.req("TRIM-2GIB", "TRIM-SOUND")
def test_advance_moves_with_segments_ending_at_most_a_window_ahead():
    st_ = state(c_irs=1000)
    window = 1 << 30
    r = relay(st_, seg(st_, seq=1000, payload=b"abc"), 0.0)
    assert r.state is not None and r.state.c2s_advance == 3
    # a segment ending exactly a window ahead of the furthest point moves it; one byte further does not,
    # though it is relayed whole (it is ahead, and a receiver will judge it against its own window)
    st3 = r.state
    moved = relay(st3, seg(st3, seq=(1003 + window - 2) & MASK32, payload=b"yz"), 0.0)
    assert moved.state is not None and moved.state.c2s_advance == 3 + window
    far = relay(st3, seg(st3, seq=(1003 + window - 1) & MASK32, payload=b"yz"), 0.0)
    assert only(far).payload == b"yz" and far.state is st3
    # so one stray segment cannot drag the stream's furthest point away: a pre-splice retransmission
    # is still trimmed after it
    retx = relay(st3, seg(st3, seq=990, payload=bytes(20)), 0.0)
    assert retx.trimmed == 10 and only(retx).payload == bytes(10)
    # retransmissions, pure ACKs and segments behind the furthest point leave the state as it is
    for s in (seg(st3, seq=1000, payload=b"abc"), seg(st3, seq=1003), seg(st3, seq=990, payload=bytes(5))):
        assert relay(st3, s, 0.0).state is st3
    # the advance saturates at 2^31 and stays there
    near = with_advance(st_, c2s=HALF - 2)
    sat = relay(near, seg(near, seq=(1000 + HALF - 2) & MASK32, payload=b"abcd"), 0.0)
    assert sat.state is not None and sat.state.c2s_advance == HALF
    assert relay(sat.state, seg(sat.state, seq=(1000 + HALF + 2) & MASK32, payload=b"e"), 0.0).state is sat.state


@pytest.mark.req("TRIM-2GIB")
def test_successor_state_is_the_input_when_nothing_changes():
    st_ = state()
    assert st_.c2s_advance == st_.s2c_advance == 0  # existing constructors: the splice just made
    stray = seg(st_, seq=1000, payload=b"z")
    for r in (relay(st_, seg(st_, seq=1000, payload=b"z", ttl=1), 0.0),  # TTL expired
              relay(st_, seg(st_, seq=990, flags=RST, payload=b"abc"), 0.0),  # below the base, dropped
              relay(st_, seg(st_, seq=1000, payload=bytes(1461)), 0.0),  # MSS: ICMP, not relayed
              relay(st_, Segment(type(stray.ip)(SERVER.addr, PROXY_C.addr), stray.tcp, stray.payload), 0.0)):
        assert r.state is st_
    moved = relay(st_, seg(st_, from_client=False, seq=90000, payload=b"abc"), 0.0).state
    assert moved is not None and (moved.c2s_advance, moved.s2c_advance) == (0, 3)
    assert (moved.client, moved.server, moved.strip_style) == (st_.client, st_.server, st_.strip_style)
    with pytest.raises(ValueError, match="2\\^31"):
        SpliceState(st_.client, st_.server, c2s_advance=HALF + 1)


@pytest.mark.req("SACK-CLIP", "SACK-MAP", "TRIM-2GIB")
def test_sack_blocks_of_a_stream_past_2_gib_are_mapped_not_dropped():
    """SACK blocks from the client acknowledge server→client data: judged by that direction's advance."""
    st_ = state(sack=True, c_iss=5000, s_irs=90000)
    far = (5000 + HALF + 100) & MASK32  # 2 GiB and 100 bytes past the base of the server's stream
    opts = [NoOperation(), NoOperation(), Sack(((far, far + 50),))]
    fresh = with_advance(st_, s2c=HALF)
    out = only(relay(fresh, seg(fresh, seq=1000, options=opts), 0.0))
    assert out.tcp.option(Sack) == Sack((((90000 + HALF + 100) & MASK32, (90000 + HALF + 150) & MASK32),))
    # at advance 0 (the old, fixed rule) the same block reads as lying before the base and is dropped
    assert only(relay(st_, seg(st_, seq=1000, options=opts), 0.0)).tcp.option(Sack) is None
    # a block reaching before the base is still clipped once the stream has advanced (less than 2^31)
    half_way = with_advance(st_, s2c=1 << 30)
    clip = [NoOperation(), NoOperation(), Sack(((4990, 5010),))]
    r = relay(half_way, seg(half_way, seq=1000, options=clip), 0.0)
    assert only(r).tcp.option(Sack) == Sack(((90000, 90010),)) and Note.SACK_CLIPPED in r.notes
