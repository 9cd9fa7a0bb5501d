"""One injection into the lab as the adapter contract sees it: a segment in, an :class:`Observation` out.

The lab's live adapters send a crafted segment on one leg and capture both legs until the fence is back
(:meth:`Lab.exchange_fenced <splicecheck.adapters.lab.topology.Lab.exchange_fenced>`). What can go wrong
on the way is the harness's, not the IUT's: a fence that never came back is a :class:`HarnessError`
(ERROR), and so is a packet the lab's socket refused, except one larger than the links can carry, which
is a precondition the lab cannot create (:class:`UnsupportedError`).
"""

from __future__ import annotations

import errno
import time

from ...conformance.contract import HarnessError, Observation, UnsupportedError
from ...reference.segment import Segment
from .fence import LabFenceTimeout
from .rawsock import ETH_P_IP, ETH_P_IPV6
from .topology import Lab, Side


def observe(lab: Lab, leg: Side, segment: Segment, wire: bytes, expect: tuple[int, int] | None, *,
            timeout: float, grace: float, short_grace: float) -> Observation:
    """Send ``wire`` (the bytes of ``segment``, or a raw variant of them) on ``leg`` and capture both legs
    until the fence's reply, plus ``grace`` (``short_grace`` when fewer packets came than ``expect``, the
    model's (to_client, to_server) counts, says). The Ethernet type follows ``segment``'s IP version, so
    that a raw variant with a broken version nibble is still sent as the packet it was built from."""
    counts = {Side.CLIENT: expect[0], Side.SERVER: expect[1]} if expect is not None else None
    t0 = time.monotonic()
    try:
        got = lab.exchange_fenced(leg, wire, counts, timeout=timeout, grace=grace, short_grace=short_grace,
                                  ethertype=ETH_P_IPV6 if segment.ip.version == 6 else ETH_P_IP)
    except LabFenceTimeout as exc:
        raise HarnessError(str(exc)) from exc
    except OSError as exc:
        if exc.errno == errno.EMSGSIZE:  # beyond the links' MTU (65535: not a valid IP packet anyway)
            raise UnsupportedError(f"the lab cannot inject this {len(wire)}-byte packet: {exc}") from exc
        raise HarnessError(f"cannot inject on the {leg} leg: {exc}") from exc
    return Observation(tuple(c.data for c in got[Side.CLIENT]), tuple(c.data for c in got[Side.SERVER]),
                       time.monotonic() - t0)
