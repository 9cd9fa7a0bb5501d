"""Option negotiation across the splice (paper §3.4): what the proxy advertises on each leg.

The proxy completes the client's handshake before it knows the server (§3.4), so it must choose
options it can later map or strip. These pure functions give the choices of §3.4.1–§3.4.4; the
resulting per-leg facts feed :class:`splicecheck.reference.relay.Leg`.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_MSS = 536  # RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6 default, the paper's fallback (§3.4.4)


@dataclass(frozen=True, slots=True)
class SynOptions:
    """The options of one SYN or SYN-ACK (``None``/``False``: absent)."""

    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamps: bool = False


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """What the proxy is willing to do on its own connections."""

    mss: int = 1460
    sack: bool = True
    timestamps: bool = True
    window_scaling: bool = True


def answer_client(client_syn: SynOptions, client_df: bool, cfg: ProxyConfig) -> SynOptions:
    """Options of the proxy's SYN-ACK to the client.

    - MSS: the proxy's own when the client does path MTU discovery (DF set on its SYN), else 536
      (MSS-ICMP is what makes the larger MSS safe; MSS-536 otherwise; §3.4.4);
    - window scale 0 whenever the client offered window scaling (WS-ZERO; §3.4.2);
    - timestamps and SACK-permitted when the client offered them: the proxy can map or strip them
      later whatever the server does (§3.4.1, §3.4.3).
    """
    return SynOptions(
        mss=cfg.mss if client_df else MIN_MSS,
        wscale=0 if client_syn.wscale is not None and cfg.window_scaling else None,
        sack_permitted=client_syn.sack_permitted and cfg.sack,
        timestamps=client_syn.timestamps and cfg.timestamps,
    )


def offer_server(client_syn: SynOptions, cfg: ProxyConfig) -> SynOptions:
    """Options of the proxy's SYN to the server: the client's window scale propagated (WS-PROPAGATE;
    §3.4.2) and timestamps offered whatever the client did (§3.4.1)."""
    return SynOptions(
        mss=cfg.mss,
        wscale=client_syn.wscale if cfg.window_scaling else None,
        sack_permitted=cfg.sack,
        timestamps=cfg.timestamps,
    )


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What one leg ended up with after its SYN exchange (RFC 7323 §2.2, §3.2; RFC 2018 §2)."""

    timestamps: bool
    sack: bool
    peer_wscale: int | None
    local_wscale: int | None
    peer_mss: int


def negotiate(peer: SynOptions, local: SynOptions) -> Negotiated:
    """An option is in effect only if both SYNs carried it; shifts above 14 count as 14 (RFC 7323 §2.3)."""
    both_ws = peer.wscale is not None and local.wscale is not None
    return Negotiated(
        timestamps=peer.timestamps and local.timestamps,
        sack=peer.sack_permitted and local.sack_permitted,
        peer_wscale=min(peer.wscale, 14) if both_ws and peer.wscale is not None else None,
        local_wscale=min(local.wscale, 14) if both_ws and local.wscale is not None else None,
        peer_mss=peer.mss if peer.mss is not None else MIN_MSS,
    )
