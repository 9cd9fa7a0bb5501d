"""The nftables rulesets and sysctls that turn the lab's proxy namespace into a kernel splice.

Two real Linux splices are configured here (docs/LAB.md describes each, with the kernel facts the
adapters rely on):

* **SYNPROXY** (``nft synproxy``): a splice with an empty OK message. SYNs to one port skip conntrack,
  the forward chain's ``synproxy`` statement answers them with a SYN cookie, validates the cookie on the
  client's ACK and opens the server leg; everything after is rewritten by conntrack's seqadj.
* **The FTP NAT helper** (``ct helper "ftp"`` with masquerade): a PORT command rewritten to the proxy's
  address changes the stream's length, and from then on seqadj shifts seq/ack by that difference.

Chain names must not be nft keywords (a chain called ``fwd`` is a syntax error).
"""

from __future__ import annotations

from dataclasses import dataclass

from .topology import Lab

FTP_CONTROL_PORT = 21  # the helper is attached to connections to port 21 (`tcp dport 21`)


@dataclass(frozen=True, slots=True)
class SynproxyConfig:
    """Parameters of the nft ``synproxy`` statement (what the proxy offers the client)."""

    port: int = 8080
    mss: int = 1460
    wscale: int | None = 7
    timestamp: bool = True
    sack_perm: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} out of range")
        if not 0 < self.mss < 65536:
            raise ValueError(f"mss {self.mss} out of range")
        if self.wscale is not None and not 0 <= self.wscale <= 14:  # RFC 7323 §2.3
            raise ValueError(f"wscale {self.wscale} out of range 0..14")

    def ruleset(self) -> str:
        """The ruleset (docs/LAB.md, "SYNPROXY"): SYNs to ``port`` skip conntrack; the forward chain's synproxy
        statement answers them and validates cookies; other invalid packets are dropped."""
        flags = [f"mss {self.mss}"]
        if self.wscale is not None:
            flags.append(f"wscale {self.wscale}")
        if self.timestamp:
            flags.append("timestamp")
        if self.sack_perm:
            flags.append("sack-perm")
        # Chain names must not be nft keywords ("fwd" is a syntax error).
        return f"""\
table inet splicecheck_synproxy {{
  chain prec {{
    type filter hook prerouting priority raw; policy accept;
    tcp dport {self.port} tcp flags syn notrack
  }}
  chain forwardc {{
    type filter hook forward priority filter; policy accept;
    tcp dport {self.port} ct state invalid,untracked synproxy {' '.join(flags)}
    ct state invalid drop
  }}
}}
"""


def load_synproxy(lab: Lab, config: SynproxyConfig) -> None:
    """Install the SYNPROXY ruleset in the lab's proxy namespace, with strict conntrack pickup."""
    # loose=0: conntrack must not adopt a mid-stream ACK as a new connection; the cookie ACK then
    # stays INVALID and reaches the synproxy statement (docs/LAB.md).
    lab.sysctl({"net.netfilter.nf_conntrack_tcp_loose": 0})
    lab.nft(config.ruleset())


def ftp_helper_ruleset(server_if: str, *, drop_invalid: bool) -> str:
    """The FTP helper on connections to port 21, masquerading towards the server (so the helper rewrites
    PORT lines). ``drop_invalid`` drops what conntrack finds INVALID, which would otherwise be forwarded
    without NAT or seqadj."""
    drop = "    ct state invalid drop\n" if drop_invalid else ""
    return f"""\
table ip splicecheck_seqadj {{
  ct helper ftp-standard {{
    type "ftp" protocol tcp;
    l3proto ip;
  }}
  chain prec {{
    type filter hook prerouting priority filter; policy accept;
    tcp dport {FTP_CONTROL_PORT} ct state new ct helper set "ftp-standard"
{drop}  }}
  chain postc {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{server_if}" masquerade
  }}
}}
"""


def ftp_helper_sysctls(*, liberal: bool) -> dict[str, int]:
    """Conntrack's TCP window tracking and checksum verification in the proxy namespace, written
    explicitly (defaults included): ``liberal`` accepts out-of-window segments and skips checksums."""
    return {"net.netfilter.nf_conntrack_tcp_be_liberal": int(liberal),
            "net.netfilter.nf_conntrack_checksum": int(not liberal)}
