"""What the Linux lab needs, checked by trying it: callers SKIP live cases with these reasons.

:func:`preflight` answers with a list of human-readable missing items (empty: all there). A live
case that cannot run must be reported as skipped/UNSUPPORTED with that reason — never passed.

Kernel features are probed functionally rather than read from ``/proc/config.gz`` (which may be
absent, or list modules that are not installed): in a throwaway namespace named like a lab's
(so :func:`splicecheck.adapters.lab.topology.clean_stale` also finds it if this process dies mid-check) the
probe creates a veth pair, opens a packet socket, and asks the kernel to validate (``nft --check``,
which runs the whole transaction in the kernel and then aborts it) an nft ``synproxy`` rule and an
FTP conntrack helper with NAT. Results are cached per process.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import sys

from . import netns
from .signals import signals_blocked

FEATURES = ("root", "ip", "nft", "netns", "veth", "packet", "synproxy", "ftp-helper")

_SYNPROXY_CHECK = """\
table inet splicecheck_preflight {
  chain prec {
    type filter hook prerouting priority raw; policy accept;
    tcp dport 8080 tcp flags syn notrack
  }
  chain forwardc {
    type filter hook forward priority filter; policy accept;
    tcp dport 8080 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
    ct state invalid drop
  }
}
"""

_FTP_CHECK = """\
table ip splicecheck_preflight {
  ct helper ftp-standard {
    type "ftp" protocol tcp;
    l3proto ip;
  }
  chain prec {
    type filter hook prerouting priority filter; policy accept;
    tcp dport 21 ct state new ct helper set "ftp-standard"
  }
  chain postc {
    type nat hook postrouting priority srcnat; policy accept;
    masquerade
  }
}
"""


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "no message"


@functools.cache
def _probe(prefix: str) -> dict[str, tuple[str, ...]]:
    """Map each missing feature to its reasons (cached: the probe costs a namespace).

    A feature that could not be checked because something more basic is missing maps to that
    basic thing's reason, so callers read the root cause, once.
    """
    if sys.platform != "linux":
        return dict.fromkeys(FEATURES, (f"the Linux lab needs Linux (this is {sys.platform})",))
    missing: dict[str, tuple[str, ...]] = {}
    if os.geteuid() != 0:
        missing["root"] = ("not root: the Linux lab needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) for network namespaces",)
    if shutil.which("ip") is None:
        missing["ip"] = ("`ip` not found: install the Debian package iproute2 (scripts/install-system-deps.sh)",)
    if shutil.which("nft") is None:
        missing["nft"] = ("`nft` not found: install the Debian package nftables (scripts/install-system-deps.sh)",)
    if not os.path.exists("/proc/self/ns/net"):
        missing["netns"] = ("kernel without network namespaces (CONFIG_NET_NS)",)
    basic = tuple(r for f in ("root", "ip", "netns") for r in missing.get(f, ()))
    if basic:
        for feature in ("netns", "veth", "packet", "synproxy", "ftp-helper"):
            missing.setdefault(feature, basic)
        return missing

    tag, _ = netns.unique_tag(prefix)
    name = f"{tag}-pfl"
    # The namespace and its lock are made with signals held, inside the try whose finally deletes them:
    # a signal arriving meanwhile is delivered after, and unwinds through that finally (issue 14).
    lock: netns.RunLock | None = None
    try:
        try:
            with signals_blocked():
                lock = netns.RunLock(tag)
                netns.add_netns(name)
        except (netns.LabCommandError, OSError) as exc:
            detail = _first_line(exc.stderr) if isinstance(exc, netns.LabCommandError) else str(exc)
            cause = (f"cannot create a network namespace: {detail}",)
            for feature in ("netns", "veth", "packet", "synproxy", "ftp-helper"):
                missing[feature] = cause
            return missing
        _probe_inside(name, missing)
    finally:  # also when the held signal is delivered as the block above ends
        with signals_blocked():
            netns.del_netns(name)
            if lock is not None:
                lock.release()
    return missing


def _probe_inside(name: str, missing: dict[str, tuple[str, ...]]) -> None:
    """The probes that need the throw-away namespace ``name``; adds what is missing to ``missing``."""
    proc = netns.run(["ip", "-n", name, "link", "add", "scpfa", "type", "veth", "peer", "name", "scpfb"],
                     check=False)
    if proc.returncode != 0:
        missing["veth"] = (f"kernel without veth (CONFIG_VETH): {_first_line(proc.stderr)}",)
    try:
        netns.call_in_netns(name, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM).close())
    except OSError as exc:
        missing["packet"] = (f"cannot open AF_PACKET sockets (CONFIG_PACKET): {exc}",)
    if "nft" in missing:
        missing["synproxy"] = missing["ftp-helper"] = missing["nft"]
    else:
        for feature, ruleset, what in (
                ("synproxy", _SYNPROXY_CHECK, "nft synproxy (CONFIG_NFT_SYNPROXY, nf_synproxy, nf_conntrack)"),
                ("ftp-helper", _FTP_CHECK, "conntrack FTP helper with NAT (CONFIG_NF_CONNTRACK_FTP, "
                                           "CONFIG_NF_NAT_FTP, nft ct helper objects, masquerade)")):
            proc = netns.run_in_netns(name, ["nft", "--check", "-f", "-"], input=ruleset, check=False)
            if proc.returncode != 0:
                missing[feature] = (f"kernel rejects {what}: {_first_line(proc.stderr)}",)


def preflight(*features: str, prefix: str = "sc-") -> list[str]:
    """Human-readable reasons why the requested lab features (default: all) cannot be used.

    Features: ``root``, ``ip``, ``nft``, ``netns``, ``veth``, ``packet``, ``synproxy``,
    ``ftp-helper``. An empty list means everything asked for is there.
    """
    wanted = features or FEATURES
    unknown = set(wanted) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown lab features {sorted(unknown)}; known: {FEATURES}")
    missing = _probe(prefix)
    reasons: list[str] = []
    for feature in wanted:
        for reason in missing.get(feature, ()):
            if reason not in reasons:
                reasons.append(reason)
    return reasons
