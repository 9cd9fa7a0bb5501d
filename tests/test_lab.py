"""The Linux lab (adapters/lab.py, netns.py, rawsock.py, preflight.py) and the SYNPROXY probe.

Live tests (marker ``live``) need root, iproute2, nftables and a kernel with network namespaces,
veth and nft synproxy; without them they SKIP with preflight's reason, never pass. All of them
work under ``pytest -n 2``: every lab has unique names, and tests that leave things behind on
purpose use a prefix of their own so that no other worker's ``clean_stale()`` races them.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from splicecheck.adapters.lab import netns
from splicecheck.adapters.lab.fence import FENCE_IDENT, icmp_echo, is_fence_reply
from splicecheck.adapters.lab.preflight import preflight
from splicecheck.adapters.lab.rawsock import ETH_P_IP, ETH_P_IPV6, is_lab_traffic
from splicecheck.adapters.lab.topology import PREFIX, Lab, LabNames, Side, clean, clean_stale, lab_namespaces
from splicecheck.reference.seqspace import MOD32
from synproxy_probe import (
    ProbePlan,
    SynproxyConfig,
    SynproxyRecord,
    exchange_rate,
    plan_for_cookie,
    probe_handshake,
)
from tcpview import TcpView, craft, view

LAB_FEATURES = ("root", "ip", "netns", "veth", "packet")
SYNPROXY_FEATURES = (*LAB_FEATURES, "nft", "synproxy")


def _need(*features: str) -> None:
    missing = preflight(*features)
    if missing:
        pytest.skip("Linux lab unavailable: " + "; ".join(missing))


@pytest.fixture
def lab() -> Iterator[Lab]:
    _need(*LAB_FEATURES)
    with Lab() as lab:
        yield lab


@pytest.fixture
def synproxy_lab() -> Iterator[Lab]:
    _need(*SYNPROXY_FEATURES)
    with Lab() as lab:
        yield lab


def _own_prefix() -> str:
    """A prefix no other test process uses, for tests that leave leftovers on purpose."""
    return f"sck{os.getpid()}-"


def _child(prefix: str, body: str = "time.sleep(60)") -> subprocess.Popen[str]:
    """A python child that builds a lab, prints its namespace names, then runs ``body``."""
    code = textwrap.dedent(f"""
        import sys, time
        from splicecheck.adapters.lab.topology import Lab
        with Lab(prefix={prefix!r}) as lab:
            print(" ".join(lab.names.namespaces), flush=True)
            {body}
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _child_namespaces(child: subprocess.Popen[str]) -> list[str]:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        _, err = child.communicate(timeout=10)
        pytest.fail(f"child did not build its lab: {err}")
    names = line.split()
    assert len(names) == 3
    return names


def _host_state() -> dict[str, object]:
    """What the lab must never change in the initial namespace (identities only: lifetimes,
    counters and neighbour states move on their own)."""

    def ip(*args: str) -> list[str]:
        return netns.run(["ip", "-o", *args]).stdout.splitlines()

    state: dict[str, object] = {
        "links": sorted(ln.split(":")[1].strip() for ln in ip("link")),
        "addresses": sorted(" ".join(ln.split()[1:4]) for ln in ip("addr")),
        "routes": sorted(re.sub(r" expires \S+", "", ln) for ln in ip("route") + ip("-6", "route")),
        "rules": sorted(ip("rule")) + sorted(ip("-6", "rule")),
        "lab neighbours": [ln for ln in ip("neigh") if re.search(r"198\.1[89]\.|2001:db8:", ln)],
    }
    for key in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/netfilter/nf_conntrack_tcp_loose"):
        path = "/proc/sys/" + key
        if os.path.exists(path):
            with open(path) as f:
                state[key] = f.read()
    return state


# --------------------------------------------------------------------------------------------------
# Offline: names, filters, preflight's contract
# --------------------------------------------------------------------------------------------------


def test_names_are_unique_short_and_match_the_cleaner_pattern() -> None:
    a, b = LabNames.fresh(), LabNames.fresh()
    assert a.namespaces != b.namespaces
    for names in (a, b):
        for ifname in (names.client_if, names.proxy_client_if, names.proxy_server_if, names.server_if):
            assert len(ifname) <= 15
        for ns in names.namespaces:
            assert ns.startswith(PREFIX) and f"-{os.getpid()}-" in ns


def test_filter_keeps_tcp_and_icmp_and_drops_link_housekeeping() -> None:
    echo4 = icmp_echo("198.18.0.2", "198.18.0.1", 7)
    echo6 = icmp_echo("2001:db8:0:1::2", "2001:db8:0:1::1", 7)
    assert is_lab_traffic(ETH_P_IP, echo4)
    assert is_lab_traffic(ETH_P_IPV6, echo6)
    neighbour_solicitation = echo6[:40] + bytes([135]) + echo6[41:]
    assert not is_lab_traffic(ETH_P_IPV6, neighbour_solicitation)
    udp = echo4[:9] + bytes([17]) + echo4[10:]
    assert not is_lab_traffic(ETH_P_IP, udp)
    assert not is_lab_traffic(0x0806, bytes(28))  # ARP
    assert not is_lab_traffic(ETH_P_IP, echo4[:12])  # truncated


def test_fence_replies_are_recognised_by_identifier_and_sequence() -> None:
    request = icmp_echo("198.18.0.2", "198.18.0.1", FENCE_IDENT, 77)
    reply = request[:12] + request[16:20] + request[12:16] + b"\x00" + request[21:]  # swapped, type 0
    assert is_fence_reply(reply) and is_fence_reply(reply, 77) and not is_fence_reply(reply, 78)
    assert not is_fence_reply(request)  # type 8: the request itself
    assert not is_fence_reply(icmp_echo("198.18.0.2", "198.18.0.1", 1)[:20] + b"\x00" + reply[21:24] + b"\x00\x01")
    assert not is_fence_reply(reply[:27])


def test_preflight_answers_with_readable_reasons() -> None:
    reasons = preflight()
    assert isinstance(reasons, list) and all(isinstance(r, str) and r for r in reasons)
    with pytest.raises(ValueError):
        preflight("no-such-feature")


# --------------------------------------------------------------------------------------------------
# Live: the lab's life cycle
# --------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_normal_run_builds_and_removes_everything_and_leaves_the_host_alone() -> None:
    _need(*LAB_FEATURES)
    before = _host_state()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with Lab() as lab:
        assert set(lab.names.namespaces) <= set(netns.list_netns())
        assert netns.read_sysctl(lab.names.proxy_ns, "net.ipv4.ip_forward") == "1"
        assert netns.read_sysctl(lab.names.client_ns, "net.ipv6.conf.all.disable_ipv6") == "1"
        assert lab.names.proxy_client_if in lab.run(["ip", "-o", "link"])
        assert _host_state() == before
    assert not set(lab.names.namespaces) & set(netns.list_netns())
    assert _host_state() == before
    assert {s: signal.getsignal(s) for s in handlers} == handlers


@pytest.mark.live
def test_exception_inside_the_block_still_tears_down() -> None:
    _need(*LAB_FEATURES)
    with pytest.raises(RuntimeError, match="boom"), Lab() as lab:
        names = lab.names.namespaces
        raise RuntimeError("boom")
    assert not set(names) & set(netns.list_netns())


@pytest.mark.live
@pytest.mark.parametrize(("signum", "returncode"), [
    (signal.SIGINT, -signal.SIGINT),  # KeyboardInterrupt, then Python exits "by SIGINT"
    (signal.SIGTERM, 128 + signal.SIGTERM),  # LabSignalExit, a SystemExit
    (signal.SIGHUP, 128 + signal.SIGHUP),
])
def test_signal_to_a_child_tears_its_lab_down(signum: int, returncode: int) -> None:
    _need(*LAB_FEATURES)
    child = _child(_own_prefix())
    names = _child_namespaces(child)
    assert set(names) <= set(netns.list_netns())
    child.send_signal(signum)
    _, err = child.communicate(timeout=20)
    assert child.returncode == returncode, err
    assert not set(names) & set(netns.list_netns()), "the interrupted child left namespaces behind"


@pytest.mark.live
def test_atexit_tears_down_a_lab_that_was_never_closed() -> None:
    _need(*LAB_FEATURES)
    code = textwrap.dedent(f"""
        from splicecheck.adapters.lab.topology import Lab
        lab = Lab(prefix={_own_prefix()!r})
        lab.open()
        print(" ".join(lab.names.namespaces), flush=True)
    """)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert child.returncode == 0, child.stderr
    names = child.stdout.split()
    assert len(names) == 3
    assert not set(names) & set(netns.list_netns())


@pytest.mark.live
def test_clean_stale_removes_what_a_sigkilled_child_left() -> None:
    _need(*LAB_FEATURES)
    prefix = _own_prefix()
    child = _child(prefix)
    names = _child_namespaces(child)
    child.kill()
    child.wait(timeout=10)
    assert set(names) <= set(lab_namespaces(prefix)), "SIGKILL cannot be cleaned up after; leftovers expected"
    removed = clean_stale(prefix)
    assert set(names) <= set(removed)
    assert not set(names) & set(netns.list_netns())


@pytest.mark.live
def test_clean_stale_spares_live_labs(lab: Lab) -> None:
    clean_stale()
    assert set(lab.names.namespaces) <= set(netns.list_netns())


@pytest.mark.live
def test_two_labs_at_once_are_independent() -> None:
    _need(*LAB_FEATURES)
    with Lab() as one, Lab() as two:
        assert not set(one.names.namespaces) & set(two.names.namespaces)
        echo = icmp_echo(one.addr.client4, one.addr.proxy_client4, 99)
        got = one.exchange(Side.CLIENT, echo, {Side.CLIENT: 1})
        assert len(got[Side.CLIENT]) == 1
        assert two.collect({Side.CLIENT: None}, quiet=0.05)[Side.CLIENT] == []


# --------------------------------------------------------------------------------------------------
# Live: raw endpoints
# --------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_capture_holds_only_what_the_proxy_emitted(lab: Lab) -> None:
    a = lab.addr
    for leg, src, dst in ((Side.CLIENT, a.client4, a.proxy_client4), (Side.SERVER, a.server6, a.proxy_server6)):
        echo = icmp_echo(src, dst, 5)
        got = lab.exchange(leg, echo, {Side.CLIENT: None, Side.SERVER: None}, quiet=0.1)
        (reply,) = got[leg]
        other = Side.SERVER if leg is Side.CLIENT else Side.CLIENT
        assert got[other] == []
        assert reply.data[0] >> 4 == echo[0] >> 4  # an IP packet, no Ethernet header
        assert not reply.checksum_pending
        assert abs(reply.ts - time.time()) < 5


@pytest.mark.live
def test_forwarding_and_the_endpoint_kernels_stay_silent(lab: Lab) -> None:
    """A segment for the (raw) server crosses the proxy untouched, and nobody answers it."""
    a = lab.addr
    syn = craft(a.client4, a.server4, 1234, 80, "S", 42)
    got = lab.exchange(Side.CLIENT, syn, {Side.SERVER: 1, Side.CLIENT: None}, quiet=0.1)
    (fwd,) = got[Side.SERVER]
    v = view("server", fwd.data)
    assert v is not None and v.flags == "S" and v.seq == 42
    assert got[Side.CLIENT] == []
    assert lab.collect({Side.CLIENT: None, Side.SERVER: None}, quiet=0.1) == {Side.CLIENT: [], Side.SERVER: []}


@pytest.mark.live
def test_fenced_exchange_ends_on_the_fence_and_leaves_it_out(lab: Lab) -> None:
    """The capture of a forwarded SYN ends with the fence's reply; nothing is left to arrive later."""
    a = lab.addr
    for i in range(50):
        syn = craft(a.client4, a.server4, 1234, 80, "S", 42 + i)
        got = lab.exchange_fenced(Side.CLIENT, syn, {Side.SERVER: 1, Side.CLIENT: 0})
        assert [len(got[Side.CLIENT]), len(got[Side.SERVER])] == [0, 1]
        assert got[Side.SERVER][0].data[-16:-12] == (42 + i).to_bytes(4, "big")  # TCP seq of this SYN
    assert lab.collect({Side.CLIENT: None, Side.SERVER: None}, quiet=0.05) == {Side.CLIENT: [], Side.SERVER: []}
    # A packet the proxy drops costs the short grace period, not the timeout.
    t0 = time.monotonic()
    got = lab.exchange_fenced(Side.SERVER, craft(a.server4, "198.51.100.7", 80, 1, "S", 1), {Side.CLIENT: 1},
                              short_grace=0.01)
    assert time.monotonic() - t0 < 0.5 and not got[Side.CLIENT]
    assert [is_fence_reply(c.data) for c in got[Side.SERVER]] == [False]  # the proxy's "net unreachable"


@pytest.mark.live
def test_mtu_is_set_on_all_four_links() -> None:
    _need(*LAB_FEATURES)
    with Lab(mtu=9000) as lab:
        n = lab.names
        for role, ifname in (("client", n.client_if), ("proxy", n.proxy_client_if), ("proxy", n.proxy_server_if),
                             ("server", n.server_if)):
            assert " mtu 9000 " in lab.run(["ip", "-o", "link", "show", ifname], role)
    with pytest.raises(ValueError):
        Lab(mtu=100)


# --------------------------------------------------------------------------------------------------
# Live: SYNPROXY as a splice
# --------------------------------------------------------------------------------------------------


def _only(views: tuple[TcpView, ...], flags: str) -> TcpView:
    matching = [v for v in views if v.flags == flags]
    assert len(matching) == 1, [v.brief() for v in views]
    return matching[0]


def _assert_splice_arithmetic(rec: SynproxyRecord) -> None:
    """Check every relayed number against offsets computed here from the observed ISNs and TSvals."""
    plan = rec.plan
    cookie, s_isn, c_isn = rec.cookie_isn, rec.server_isn, rec.client_isn
    seq_off = (cookie - s_isn) % MOD32  # server→client seq moves by this; client→server ack back
    assert rec.seq_offset == seq_off

    synack = _only(rec.step("client-syn").client, "SA")
    assert synack.ack == (c_isn + 1) % MOD32
    assert rec.step("client-syn").server == ()

    ssyn = _only(rec.step("client-ack").server, "S")
    assert ssyn.seq == c_isn, "SYNPROXY opens the server leg with the client's ISN"

    server_ack = _only(rec.step("server-synack").server, "A")
    assert (server_ack.seq, server_ack.ack) == ((c_isn + 1) % MOD32, (s_isn + 1) % MOD32)

    cdata = rec.step("client-data")
    relayed = _only(cdata.server, "PA")
    assert relayed.payload == plan.client_data
    assert relayed.seq == cdata.sent.seq  # client→server seq unchanged
    assert relayed.ack == (cdata.sent.ack - seq_off) % MOD32 == (s_isn + 1) % MOD32

    sdata = rec.step("server-data")
    relayed = _only(sdata.client, "PA")
    assert relayed.payload == plan.server_data
    assert relayed.seq == (sdata.sent.seq + seq_off) % MOD32 == (cookie + 1) % MOD32
    assert relayed.ack == sdata.sent.ack

    sack_step = rec.step("client-sack")
    relayed = _only(sack_step.server, "A")
    assert relayed.ack == (sack_step.sent.ack - seq_off) % MOD32
    if sack_step.sent.option("SAck") is not None:
        left, right = sack_step.sent.option("SAck")
        assert relayed.option("SAck") == ((left - seq_off) % MOD32, (right - seq_off) % MOD32)
    else:
        assert relayed.option("SAck") is None

    if rec.proxy_tsval is not None:
        its, t = rec.proxy_tsval, rec.server_synack_tsval
        assert t is not None
        ts_off = (its - t) % MOD32  # server TSvals move onto the proxy's clock, client TSecrs back
        assert rec.ts_offset == ts_off
        s_ts, c_ts = sdata.sent.tsval, cdata.sent.tsecr
        assert s_ts is not None and c_ts is not None
        assert _only(sdata.client, "PA").tsval == (s_ts + ts_off) % MOD32
        assert _only(cdata.server, "PA").tsecr == (c_ts - ts_off) % MOD32

    if plan.finish == "server-rst":
        rst = rec.step("server-rst")
        assert _only(rst.client, "R").seq == (rst.sent.seq + seq_off) % MOD32


@pytest.mark.live
def test_synproxy_handshake_and_data_exchange(synproxy_lab: Lab) -> None:
    before = _host_state()
    rec = probe_handshake(synproxy_lab)
    assert _host_state() == before  # conntrack_tcp_loose=0 and the ruleset stay in the proxy namespace
    _assert_splice_arithmetic(rec)
    # What the proxy offers the client is its configuration, whatever the server will say.
    assert rec.synack_wscale == SynproxyConfig().wscale and rec.synack_mss == SynproxyConfig().mss
    assert set(rec.synack_options) == {"MSS", "SAckOK", "Timestamp", "WScale"}
    # The server leg carries the client's own options, decoded from the cookie.
    assert rec.server_syn_wscale == ProbePlan().client_wscale


@pytest.mark.live
def test_synproxy_mapping_wraps_in_the_server_space(synproxy_lab: Lab) -> None:
    plan = ProbePlan(client_isn=MOD32 - 1, server_isn=MOD32 - 3, client_tsval=MOD32 - 2, server_tsval=MOD32 - 1)
    rec = probe_handshake(synproxy_lab, plan=plan)
    _assert_splice_arithmetic(rec)
    sdata = rec.step("server-data").sent
    assert sdata.seq + len(sdata.payload) > MOD32  # the server's data crosses 2^32 ...
    assert rec.cookie_isn < rec.server_isn  # ... and seq + (cookie − server ISN) wraps modulo 2^32
    assert rec.step("client-data").sent.seq == 0  # client ISN 2^32−1: its first data byte is at 0


@pytest.mark.live
def test_synproxy_mapping_wraps_in_the_client_space() -> None:
    """Steer the cookie ISN (it moves one-for-one with the client ISN) to just below 2^32."""
    _need(*SYNPROXY_FEATURES)
    plan = ProbePlan(server_isn=1000, finish="none")
    target = MOD32 - 5
    for _attempt in range(3):  # a minute boundary between the two probes moves the cookie
        with Lab() as lab:
            first = probe_handshake(lab, plan=plan)
        with Lab() as lab:
            rec = probe_handshake(lab, plan=plan_for_cookie(first, target))
        if rec.cookie_isn == target:
            break
    else:
        pytest.fail(f"could not steer the cookie ISN to {target}")
    _assert_splice_arithmetic(rec)
    relayed = _only(rec.step("server-data").client, "PA")
    assert relayed.seq + len(relayed.payload) > MOD32  # the client-side copy of the data crosses 2^32


@pytest.mark.live
def test_synproxy_without_timestamps_offers_only_mss(synproxy_lab: Lab) -> None:
    rec = probe_handshake(synproxy_lab, plan=ProbePlan(client_timestamps=False))
    _assert_splice_arithmetic(rec)
    # Window scale and SACK-permitted ride in the timestamp cookie; without it they are dropped.
    assert rec.synack_options == ("MSS",)
    assert rec.server_syn_options == ("MSS",)


@pytest.mark.live
def test_synproxy_ipv6_with_offloaded_checksums(synproxy_lab: Lab) -> None:
    rec = probe_handshake(synproxy_lab, plan=ProbePlan(ipv6=True, offload=True, client_isn=MOD32 - 1))
    _assert_splice_arithmetic(rec)


@pytest.mark.live
def test_flush_conntrack_forgets_every_connection(synproxy_lab: Lab) -> None:
    if shutil.which("conntrack") is None:
        pytest.skip("`conntrack` not found (Debian package conntrack)")
    probe_handshake(synproxy_lab, plan=ProbePlan(finish="none"))
    assert "dport=8080" in synproxy_lab.run(["conntrack", "-L"])
    synproxy_lab.flush_conntrack()
    assert "dport=8080" not in synproxy_lab.run(["conntrack", "-L"])
    synproxy_lab.flush_conntrack()  # an empty table is no error


@pytest.mark.live
def test_exchange_rate_is_hundreds_per_second(synproxy_lab: Lab) -> None:
    rec = probe_handshake(synproxy_lab, plan=ProbePlan(finish="none"))
    rate = exchange_rate(synproxy_lab, rec, 300)
    assert rate > 200, f"{rate:.0f} exchanges/s"


# --------------------------------------------------------------------------------------------------
# Issue 14: signals during preflight, liveness across PID namespaces, a cleaner that cannot clean
# --------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_sigterm_during_preflight_leaves_no_namespace() -> None:
    """The preflight's namespace is made with signals held, inside the try that deletes it."""
    _need("root", "ip", "netns")
    prefix = _own_prefix()
    code = textwrap.dedent(f"""
        from splicecheck.adapters.lab import preflight, signals
        with signals.hold_process():
            print("ready", flush=True)
            while True:
                preflight._probe.cache_clear()
                preflight.preflight(prefix={prefix!r})
    """)
    rng = random.Random(os.getpid())
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=20)
        assert child.returncode == 143, err
        assert not lab_namespaces(prefix), "a signal during preflight leaked its namespace"
        assert not [f for f in os.listdir(netns.LOCK_DIR) if f.startswith(prefix)], "a lock file leaked"


def _dead_pid_outside() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    return pid_max + 1000  # no process of this PID namespace can have it


@pytest.mark.live
def test_clean_spares_a_live_lab_of_another_pid_namespace() -> None:
    """A run in another PID namespace has a pid that, in ours, names nobody: only its lock says it lives."""
    _need(*LAB_FEATURES)
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    prefix = _own_prefix()
    pid = _dead_pid_outside()
    inner = (f"import time; from splicecheck.adapters.lab.topology import Lab\n"
             f"with Lab(prefix={prefix!r}) as lab:\n"
             f"    print(' '.join(lab.names.namespaces), flush=True); time.sleep(60)\n")
    python = shlex.quote(sys.executable)
    script = f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid && {python} -c {shlex.quote(inner)}; exit $?"
    child = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "sh", "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        names = _child_namespaces(child)
        assert all(f"-{pid}-" in n for n in names) and not netns.process_alive(pid)
        report = clean(prefix)
        assert not report.removed and set(names) <= set(report.live)
        assert set(names) <= set(netns.list_netns()), "clean deleted a live lab of another PID namespace"
    finally:
        child.kill()  # SIGKILL to unshare: --kill-child kills the namespace's init, the kernel kills the rest
        child.wait(timeout=10)
    deadline = time.monotonic() + 10
    while netns.run_liveness(names[0].rsplit("-", 1)[0]) and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel reaps the namespace's processes asynchronously
    report = clean(prefix)
    assert set(names) <= set(report.removed)
    assert not set(names) & set(netns.list_netns())
    assert netns.run_liveness(names[0].rsplit("-", 1)[0]) is None  # the lock file went with them


@pytest.mark.live
def test_lab_clean_that_cannot_delete_exits_1(tmp_path: Path) -> None:
    """As an unprivileged user nothing can be deleted: the command says so and exits 1, not "removed 0"."""
    _need(*LAB_FEATURES)
    prefix = _own_prefix()
    child = _child(prefix)
    names = _child_namespaces(child)
    child.kill()
    child.wait(timeout=10)
    try:
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                               "splicecheck", "lab", "clean", "--prefix", prefix], capture_output=True, text=True,
                              timeout=30, cwd=tmp_path)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "could not remove 3" in proc.stderr and "not root" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert set(names) <= set(netns.list_netns())
    finally:
        assert set(names) <= set(clean_stale(prefix))
