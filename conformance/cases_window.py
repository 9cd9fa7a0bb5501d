"""Named cases for window scaling (paper §3.4.2): the proxy tells the client "window scale 0" and proposes
the client's own scale to the server, so the two legs scale differently and the window field must be
rescaled between them — never promising more than the sender's real window (WS-SAFE), and exactly the
real window rounded down and clamped when possible (WS-EXACT). Window Scale options after the SYN are
stripped.

WS-ZERO and WS-PROPAGATE are about the proxy's own SYN-ACK and SYN; through the adapter contract they
are visible as the splice state's ``local_wscale`` per leg (what the proxy announced, learnt from the
wire by live adapters), which is what those cases check, before relaying windows that depend on it.
"""

from __future__ import annotations

from ..reference.relay import SpliceState
from ..reference.segment import ACK, PSH, RST, SYN, Segment, WindowScale
from .case import Case, from_client, from_server
from .cases_common import spliced_at, state_checked, state_diff
from .contract import Scenario
from .results import FieldDiff

WS_7_7 = spliced_at(client_wscale=7, server_wscale=7)
WS_7_2 = spliced_at(client_wscale=7, server_wscale=2)
WS_CLIENT_ONLY = spliced_at(client_wscale=7)
WS_SERVER_ONLY = spliced_at(server_wscale=7)
WS_14_0 = spliced_at(client_wscale=14, server_wscale=0)
WS_0_14 = spliced_at(client_wscale=0, server_wscale=14)
WS_CLIENT_15 = spliced_at(client_wscale=14, server_wscale=3)


def proxy_zero_to_client(st: SpliceState, sc: Scenario) -> list[FieldDiff]:
    """WS-ZERO: the proxy's shift on leg C is 0 whenever the client offered window scaling."""
    if sc.client.wscale is None:
        return []
    return [state_diff("state.client.local_wscale (proxy's SYN-ACK)", 0, st.client.local_wscale, "WS-ZERO")]


def client_scale_to_server(st: SpliceState, sc: Scenario) -> list[FieldDiff]:
    """WS-PROPAGATE: the proxy's shift on leg D is the client's (capped at 14, RFC 7323 §2.3)."""
    if sc.client.wscale is None or sc.server.wscale is None:
        return []
    return [state_diff("state.server.local_wscale (proxy's SYN)", min(sc.client.wscale, 14), st.server.local_wscale,
                       "WS-PROPAGATE")]


def windows(st: SpliceState, c: int = 300, s: int = 1000) -> list[Segment]:
    return [from_client(st, 0, payload=b"c", window=c), from_server(st, 0, payload=b"s", window=s)]


CASES: list[Case] = [
    # -- WS-ZERO --------------------------------------------------------------------------------------
    Case("WS-ZERO/client-offers-7", ("WS-ZERO", "WS-EXACT", "WS-SAFE"),
         "The client offers window scale 7 (the server 7). Then client data with window 300 and server data "
         "with window 1000.",
         "The proxy announced scale 0 to the client (paper §3.4.2: 'advertises a window scale of 0 to any "
         "client'); the server's window is relayed unscaled for it.",
         windows, WS_7_7, execute=state_checked(proxy_zero_to_client)),
    Case("WS-ZERO/client-offers-14", ("WS-ZERO", "WS-EXACT", "WS-SAFE"),
         "The client offers window scale 14, the largest (the server 3).",
         "The proxy announced scale 0 to the client (paper §3.4.2).",
         windows, WS_CLIENT_15, execute=state_checked(proxy_zero_to_client)),
    Case("WS-ZERO/client-offers-0", ("WS-ZERO", "WS-EXACT", "WS-SAFE"),
         "The client offers window scale 0 (the server 14).",
         "The proxy announced scale 0 (paper §3.4.2).",
         windows, WS_0_14, execute=state_checked(proxy_zero_to_client)),
    # -- WS-PROPAGATE ---------------------------------------------------------------------------------
    Case("WS-PROPAGATE/client-7-server-2", ("WS-PROPAGATE", "WS-EXACT", "WS-SAFE"),
         "The client offers scale 7, the server 2. Then windows both ways.",
         "The proxy's SYN proposed the client's scale 7 to the server (paper §3.4.2: 'it propagates the client "
         "node's proposed Window Scale option').",
         windows, WS_7_2, execute=state_checked(client_scale_to_server)),
    Case("WS-PROPAGATE/client-14-server-0", ("WS-PROPAGATE", "WS-EXACT", "WS-SAFE"),
         "The client offers scale 14, the server 0.",
         "The proxy proposed 14 to the server (paper §3.4.2).",
         windows, WS_14_0, execute=state_checked(client_scale_to_server)),
    Case("WS-PROPAGATE/client-0-server-14", ("WS-PROPAGATE", "WS-EXACT", "WS-SAFE"),
         "The client offers scale 0, the server 14.",
         "The proxy proposed 0 to the server (paper §3.4.2).",
         windows, WS_0_14, execute=state_checked(client_scale_to_server)),
    # -- WS-EXACT -------------------------------------------------------------------------------------
    Case("WS-EXACT/s2c-clamped", ("WS-EXACT", "WS-SAFE"),
         "Scales: client 7, server 7. Server data with window 1000 (128000 bytes).",
         "Relayed to the client, whose scale is 0, as 65535: rescaled and clamped (paper §3.4.2: 'the client "
         "will believe the server only supports the default 64KB window').",
         lambda st: [from_server(st, 0, payload=b"big window", window=1000)], WS_7_7),
    Case("WS-EXACT/s2c-small-window", ("WS-EXACT", "WS-SAFE"),
         "Scales: client 7, server 2. Server data with window 100 (400 bytes).",
         "Relayed as 400 (paper §3.4.2; RFC 7323 §2.3).",
         lambda st: [from_server(st, 0, payload=b"small", window=100)], WS_7_2),
    Case("WS-EXACT/s2c-syn-window-not-scaled", ("WS-EXACT", "WS-SAFE"),
         "Scales: client 7, server 2. A SYN|ACK from the server at its next byte, window 100.",
         "Relayed with window 100: a SYN's window is not scaled by its sender and is read unscaled by its "
         "receiver (RFC 7323 §2.2), so nothing is rescaled.",
         lambda st: [from_server(st, 0, flags=SYN | ACK, window=100)], WS_7_2),
    Case("RST-FIELDS/s2c-rst-window", ("RST-FIELDS",),
         "Scales: client 7, server 2. The server resets the connection: RST|ACK at its next byte, window 100.",
         "Relayed with window 400, rescaled as any segment's (paper §3.4.2); its receiver reads no window of a "
         "RST (RFC 9293 §3.10.7.4), so another window is graded MAY.",
         lambda st: [from_server(st, 0, flags=RST | ACK, window=100)], WS_7_2),
    Case("WS-EXACT/c2s-equal-shifts", ("WS-EXACT", "WS-SAFE"),
         "Scales: client 7, server 7 (the server was proposed the client's 7). Client data with window 300.",
         "Both sides use shift 7: relayed as 300 (paper §3.4.2).",
         lambda st: [from_client(st, 0, payload=b"same", window=300)], WS_7_7),
    Case("WS-EXACT/c2s-server-without-scaling", ("WS-EXACT", "WS-SAFE"),
         "Only the client scales (7). Client data with window 300 (38400 bytes).",
         "Relayed as 38400: 'the proxy must unscale the client's advertised receive window' (paper §3.4.2).",
         lambda st: [from_client(st, 0, payload=b"unscale", window=300)], WS_CLIENT_ONLY),
    Case("WS-EXACT/c2s-unscaled-clamped", ("WS-EXACT", "WS-SAFE"),
         "Only the client scales (7). Client data with window 8192 (1 MiB).",
         "Relayed as 65535 (paper §3.4.2; RFC 7323 §2.3).",
         lambda st: [from_client(st, 0, payload=b"clamp", window=8192)], WS_CLIENT_ONLY),
    Case("WS-EXACT/zero-window", ("WS-EXACT", "WS-SAFE"),
         "Scales: client 7, server 7. A zero-window ACK from the server.",
         "Relayed as 0: a closed window stays closed (RFC 9293 §3.8.6.1).",
         lambda st: [from_server(st, 0, window=0)], WS_7_7),
    Case("WS-EXACT/server-scale-14-window-1", ("WS-EXACT", "WS-SAFE"),
         "Scales: client 0, server 14. Server ACK with window 1 (16384 bytes).",
         "Relayed as 16384 (paper §3.4.2).",
         lambda st: [from_server(st, 0, window=1)], WS_0_14),
    Case("WS-EXACT/client-scale-14-max", ("WS-EXACT", "WS-SAFE"),
         "Scales: client 14, server 0 (proposed 14). Client ACK with window 65535.",
         "Both sides use shift 14: relayed as 65535 (paper §3.4.2).",
         lambda st: [from_client(st, 0, window=0xFFFF)], WS_14_0),
    Case("WS-EXACT/server-without-scaling", ("WS-EXACT", "WS-SAFE"),
         "Only the server offered window scaling (so neither leg uses it). Windows both ways.",
         "Relayed unchanged (RFC 7323 §2.2: scaling needs both SYNs).",
         windows, WS_SERVER_ONLY),
    # -- WS-SAFE --------------------------------------------------------------------------------------
    Case("WS-SAFE/s2c-max-window", ("WS-SAFE", "WS-EXACT"),
         "Scales: client 0, server 14. Server ACK with window 65535 (about 1 GiB).",
         "Relayed as 65535: the field never exceeds 16 bits and never promises more than the real window "
         "(RFC 7323 §2.3).",
         lambda st: [from_server(st, 0, window=0xFFFF)], WS_0_14),
    Case("WS-SAFE/c2s-unscale-max", ("WS-SAFE", "WS-EXACT"),
         "Only the client scales (7). Client ACK with window 65535.",
         "Relayed as 65535, not wrapped to 16 bits (RFC 7323 §2.3).",
         lambda st: [from_client(st, 0, window=0xFFFF)], WS_CLIENT_ONLY),
    Case("WS-SAFE/s2c-window-sequence", ("WS-SAFE", "WS-EXACT"),
         "Scales: client 7, server 2. Server ACKs with windows 0, 1, 16383, 16384, 65535.",
         "Each relayed as the real window for shift 0, clamped at 65535 (RFC 7323 §2.3).",
         lambda st: [from_server(st, 0, window=w) for w in (0, 1, 16383, 16384, 0xFFFF)], WS_7_2),
    # -- WS-STRIP -------------------------------------------------------------------------------------
    Case("WS-STRIP/client-ws-on-data", ("WS-STRIP",),
         "Scales: client 7, server 7. Client data carrying a Window Scale option.",
         "The option is stripped: 'If a Window Scale option is received in later segments sent by the client "
         "node, the proxy must strip these options' (paper §3.4.2; RFC 7323 §2.2).",
         lambda st: [from_client(st, 0, payload=b"ws again", options=[WindowScale(7)])], WS_7_7),
    Case("WS-STRIP/server-ws-on-ack", ("WS-STRIP",),
         "Scales: client 7, server 2. A server ACK carrying a Window Scale option.",
         "Stripped (paper §3.4.2; RFC 7323 §2.2).",
         lambda st: [from_server(st, 0, options=[WindowScale(2)])], WS_7_2),
    Case("WS-STRIP/no-scaling-splice", ("WS-STRIP",),
         "Neither leg scales; client data carrying a Window Scale option.",
         "Stripped (RFC 7323 §2.2: Window Scale belongs in SYNs only).",
         lambda st: [from_client(st, 0, payload=b"ws", options=[WindowScale(3)], flags=ACK | PSH)], spliced_at()),
]
