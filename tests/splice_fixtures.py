"""Builders shared by the model's tests: a documentation-range splice and segments on its legs."""

from __future__ import annotations

from splicecheck.reference.checksum import ipv4_header_checksum, tcp_checksum
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.relay import Endpoint, Leg, SpliceState, StripStyle
from splicecheck.reference.segment import ACK, IPv4Header, IPv6Header, Segment, TcpHeader, TcpOption, addr, pad_options

CLIENT = Endpoint(addr("192.0.2.1"), 40000)
PROXY_C = Endpoint(addr("192.0.2.254"), 1080)
PROXY_D = Endpoint(addr("198.51.100.254"), 50000)
SERVER = Endpoint(addr("198.51.100.1"), 80)
CLIENT6 = Endpoint(addr("2001:db8:1::1"), 40000)
PROXY_C6 = Endpoint(addr("2001:db8:1::fe"), 1080)
PROXY_D6 = Endpoint(addr("2001:db8:2::fe"), 50000)
SERVER6 = Endpoint(addr("2001:db8:2::1"), 80)


def state(c_irs: int = 1000, c_iss: int = 5000, s_irs: int = 90000, s_iss: int = 70000, *, v6: bool = False,
          ts: bool = False, sack: bool = False, style: StripStyle = StripStyle.NOP, **leg_kw: object) -> SpliceState:
    """Leg C: client→proxy base c_irs, proxy→client base c_iss; leg D likewise with s_irs/s_iss."""
    c, pc, pd, s = (CLIENT6, PROXY_C6, PROXY_D6, SERVER6) if v6 else (CLIENT, PROXY_C, PROXY_D, SERVER)
    ckw: dict[str, object] = {"timestamps": ts, "sack": sack, "peer_mss": 1460}
    skw = dict(ckw)
    ckw.update({k[2:]: v for k, v in leg_kw.items() if k.startswith("c_")})
    skw.update({k[2:]: v for k, v in leg_kw.items() if k.startswith("s_")})
    return SpliceState(
        Leg(c, pc, c_irs, c_iss, **ckw),  # type: ignore[arg-type]
        Leg(s, pd, s_irs, s_iss, **skw),  # type: ignore[arg-type]
        strip_style=style,
    )


def seg(st: SpliceState, *, from_client: bool = True, seq: int = 0, ack: int = 0, flags: int = ACK,
        payload: bytes = b"", window: int = 1000, urgent: int = 0,
        options: tuple[TcpOption, ...] | list[TcpOption] = (),
        ttl: int = 64, df: bool = True, ip_options: bytes = b"", tos: int = 0, sealed: bool = True) -> Segment:
    """A segment from the client (or server) to the proxy; ``sealed``: through the codec, checksums set."""
    leg = st.client if from_client else st.server
    if len(leg.peer.addr) == 4:
        ip: IPv4Header | IPv6Header = IPv4Header(leg.peer.addr, leg.local.addr, tos=tos, ident=0x1234,
                                                 flags=0b010 if df else 0, ttl=ttl, options=ip_options)
    else:
        ip = IPv6Header(leg.peer.addr, leg.local.addr, traffic_class=tos, flow_label=0xABCDE, hop_limit=ttl)
    tcp = TcpHeader(leg.peer.port, leg.local.port, seq, ack, flags, window, urgent, pad_options(options))
    s = Segment(ip, tcp, payload)
    return decode(encode(s)) if sealed else s


def checksums_valid(s: Segment) -> bool:
    """Both checksums of ``s`` equal a full recomputation over its encoding."""
    raw = encode(s)
    hl = s.ip.header_length
    ok = tcp_checksum(s.ip.src, s.ip.dst, raw[hl:]) == s.tcp.checksum
    if s.ip.version == 4:
        ok = ok and ipv4_header_checksum(raw[:hl]) == s.ip.checksum
    return ok


def with_advance(st: SpliceState, c2s: int = 0, s2c: int = 0) -> SpliceState:
    """``st`` with each direction's stream advanced as given."""
    return SpliceState(st.client, st.server, st.strip_style, c2s, s2c)
