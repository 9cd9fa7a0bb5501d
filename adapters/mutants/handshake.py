"""Mutants of the proxy's own handshake packets (HS-*): the relay is the model's, the set-up is not."""

from __future__ import annotations

from dataclasses import replace

from ...conformance.handshake import ProxyHandshake
from ...reference.relay import relay
from ...reference.segment import Timestamps
from ...reference.seqspace import seq_add, seq_sub
from .base import MUTANTS, Mutant


def _echo_adjusted_twice(hs: ProxyHandshake) -> ProxyHandshake:
    """The proxy's ACK completing the server-side handshake echoes ``T + (T − its)`` instead of ``T``.

    ``T`` is the server SYN-ACK's TSval, ``its`` the TSval of the proxy's SYN-ACK to the client. A splice
    that builds its ACK with the right echo but sends it through its own client-to-server timestamp
    rewrite (``TSecr − (its − T)``, the rule for *relayed* client segments, paper §3.4.1) adjusts the echo
    a second time; Linux SYNPROXY does exactly this (synproxy_tstamp_adjust runs on the ACK it built). The
    server then drops the ACK (RFC 7323 §4.3; Linux counts TcpExtTSEcrRejected)."""
    ack = hs.proxy_ack
    t = hs.server_synack.tcp.option(Timestamps)
    its = hs.proxy_synack.tcp.option(Timestamps)
    if ack is None or not isinstance(t, Timestamps) or not isinstance(its, Timestamps):
        return hs
    echo = seq_add(t.tsval, seq_sub(t.tsval, its.tsval))
    opts = tuple(replace(o, tsecr=echo) if isinstance(o, Timestamps) else o for o in ack.tcp.options)
    return replace(hs, proxy_ack=replace(ack, tcp=replace(ack.tcp, options=opts, checksum=None)))


MUTANTS["hs-echo-twice"] = Mutant("hs-echo-twice", relay, ("HS-SERVER-ACK-TSECR",),
                                  handshake_fn=_echo_adjusted_twice)
