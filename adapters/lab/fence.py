"""Knowing, without sleeping, that the proxy is done: the lab's ICMP echo probes and fences, and the
ctnetlink flush of the proxy's conntrack table (see :meth:`Lab.exchange_fenced
<splicecheck.adapters.lab.topology.Lab.exchange_fenced>` and :meth:`Lab.flush_conntrack
<splicecheck.adapters.lab.topology.Lab.flush_conntrack>`). The ICMP bytes are :mod:`splicecheck.reference.icmp`'s."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct

from ...reference.icmp import encode_echo, is_echo_reply

# --------------------------------------------------------------------------------------------------
# Readiness probe: ICMP echo to the proxy's own address on each leg
# --------------------------------------------------------------------------------------------------


def icmp_echo(src: str, dst: str, ident: int, seq: int = 1) -> bytes:
    """An ICMP (IPv4) or ICMPv6 echo request between two text addresses (:func:`reference.icmp.encode_echo`)."""
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    return encode_echo(socket.inet_pton(family, src), socket.inet_pton(family, dst), ident, seq)


# --------------------------------------------------------------------------------------------------
# Fences: knowing, without sleeping, that the proxy is done with an injected packet
# --------------------------------------------------------------------------------------------------

FENCE_IDENT = 0x5346  # ICMP echo identifier of fences ("SF"); the readiness probe uses 1..4
_libc = ctypes.CDLL(None, use_errno=True)


# ctnetlink (linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h): NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE
_NETLINK_NETFILTER = 12
_CT_DELETE = (1 << 8) | 2
_NLM_F_REQUEST, _NLM_F_ACK = 0x1, 0x4
_NLMSG_ERROR = 2
_NLMSGHDR = struct.Struct("=IHHII")


def open_ctnetlink() -> socket.socket:
    """A ctnetlink socket in the calling thread's namespace (call it through ``Lab.call``)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    try:
        sock.bind((0, 0))
        sock.settimeout(5.0)
    except BaseException:
        sock.close()
        raise
    return sock


class LabFenceTimeout(RuntimeError):
    """A fence's echo reply never came back: the lab (not the implementation under test) is broken."""


def is_fence_reply(data: bytes, seq: int | None = None) -> bool:
    """Whether ``data`` is the proxy's ICMP echo reply to a fence (``seq``: that fence's, else any)."""
    return is_echo_reply(data, FENCE_IDENT, seq)


def flush_conntrack(sock: socket.socket, seq: int, where: str) -> None:
    """Empty the conntrack table of ``sock``'s namespace, like ``conntrack -F``: one ctnetlink
    IPCTNL_MSG_CT_DELETE without a tuple (``ctnetlink_del_conntrack`` then flushes every family,
    synchronously, before it acknowledges). ``seq`` numbers the request; ``where`` names the namespace."""
    # struct nlmsghdr + struct nfgenmsg {family AF_UNSPEC, version NFNETLINK_V0, res_id 0}
    sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + 4, _CT_DELETE, _NLM_F_REQUEST | _NLM_F_ACK, seq, 0) + b"\x00\x00\x00\x00")
    while True:
        reply = sock.recv(65536)
        _length, kind, _flags, rseq, _pid = _NLMSGHDR.unpack_from(reply)
        if kind == _NLMSG_ERROR and rseq == seq:
            (error,) = struct.unpack_from("=i", reply, _NLMSGHDR.size)
            if error not in (0, -errno.ENOENT):
                raise OSError(-error, f"flushing conntrack in {where}: {os.strerror(-error)}")
            return


def this_cpu() -> int:
    """The CPU the calling thread runs on (glibc ``sched_getcpu``, served by rseq/vDSO: no syscall)."""
    return int(_libc.sched_getcpu())
