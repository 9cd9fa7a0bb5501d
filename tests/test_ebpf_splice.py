"""The ``ebpf-splice`` adapter (adapters/ebpf_splice/): the eBPF splice datapath in the lab.

Live tests (marker ``live``) need root, network namespaces, veth, packet sockets, clang and libbpf;
without them they SKIP with the reason, never pass. Leftover checks use a lab prefix of their own and
the kernel ids of the programs the test attached, so a parallel worker's labs and programs do not
count.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from splicecheck.adapters import ebpf_splice
from splicecheck.adapters.ebpf_splice import UNSUPPORTED_REASONS, EbpfSpliceAdapter, loader
from splicecheck.adapters.lab import netns
from splicecheck.adapters.lab.topology import Side, lab_namespaces
from splicecheck.conformance import catalog
from splicecheck.conformance.case import from_client, from_server
from splicecheck.conformance.contract import (
    AdapterNotFound,
    Feature,
    PeerPlan,
    RefusedError,
    Scenario,
    UnsupportedError,
    load_adapter,
)
from splicecheck.conformance.model import handshake_sockets
from splicecheck.conformance.results import Verdict
from splicecheck.conformance.runner import run
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.lifecycle import Event, EventType, Socket, Stage
from splicecheck.reference.relay import Leg, SpliceState, StripStyle, relay
from splicecheck.reference.segment import ACK, PSH, RST, Timestamps
from splicecheck.reference.seqspace import seq_add, seq_sub

#: A handful of cases, one per kind of work the datapath does: rewrite, straddling trim (odd, so the
#: checksum crosses a byte boundary), urgent pointer, timestamps, SACK clipping, window rescaling,
#: IPv4 options, TTL expiry, a corrupt checksum carried along; and the two ways a prefix is chopped
#: (a 64 KB segment losing 2 numbers: removed behind the IP header; the whole data of a long one:
#: the rest moved down and the tail cut); and IPv6.
CASES = ("PORT-REWRITE/c2s-data", "TRIM-REST/straddle-c2s", "TCPCSUM-VALID/odd-trim", "IPOPT-STRIP/with-trim",
         "TTL-EXPIRE/ttl-1-c2s", "CSUM-FAILSAFE/corrupt-odd-trim",
         "TRIM-SOUND/z3-trim-sound-syn-data-fin-maximal-straddling",
         "SEQ-MAP/z3-width-closed-seg-len-65537-straddling-irs", "TRIM-REST/ipv6", "TCPCSUM-VALID/ipv6-c2s",
         # an oversized segment turned into the ICMP error (§3.4.4), both families
         "MSS-ICMP/c2s-over-server-mss", "MSS-ICMP/ipv6-packet-too-big")


def _need() -> None:
    adapter = EbpfSpliceAdapter()
    missing = adapter.missing()
    if shutil.which("bpftool") is None:
        missing.append("`bpftool` not found (the leftover checks read the kernel's program list with it)")
    if missing:
        pytest.skip("eBPF splice lab unavailable: " + "; ".join(missing))


def _own_prefix() -> str:
    return f"sce{os.getpid()}-"


def _gone(prog_ids: list[int], timeout: float = 3.0) -> list[int]:
    """The program ids still in the kernel after up to ``timeout`` (programs are freed after RCU)."""
    deadline = time.monotonic() + timeout
    while True:
        live = loader.live_programs(prog_ids)
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.05)


def _leftovers(names: list[str], prog_ids: list[int]) -> list[str]:
    left = [n for n in names if n in netns.list_netns()]
    left += [f"program {i}" for i in _gone(prog_ids)]
    return left


# --------------------------------------------------------------------------------------------------
# Without the lab
# --------------------------------------------------------------------------------------------------


def test_registered_and_declares_what_it_cannot_do() -> None:
    a = load_adapter("ebpf-splice")
    assert isinstance(a, EbpfSpliceAdapter)
    assert a.unsupported == frozenset(UNSUPPORTED_REASONS)
    assert Feature.CHOOSE_PROXY_ISN not in a.unsupported and Feature.LIFECYCLE not in a.unsupported
    # an OK message and pre-splice bytes only where the proxy application makes them (open_unspliced)
    assert Feature.OK_MESSAGE in a.partial and Feature.OK_MESSAGE not in a.unsupported
    with pytest.raises(AdapterNotFound, match="takes no options"):
        load_adapter("ebpf-splice:fast")


def test_scenario_needing_an_unsupported_feature_is_refused_before_any_lab() -> None:
    a = EbpfSpliceAdapter()
    with pytest.raises(UnsupportedError, match="NOPs"), a.open(Scenario(strip_style=StripStyle.REMOVE)):
        pass
    assert a.lab is None


def test_missing_names_clang_when_it_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader.shutil, "which", lambda name: None)
    assert any("clang" in m and "install-system-deps" in m for m in loader.missing())


@pytest.mark.parametrize(("source", "reason"), [
    ("this is not C\n", "clang could not build the datapath"),
    # compiles, but reads past the end of the packet context: the verifier refuses it
    ('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("tc") int sc_splice(struct __sk_buff *skb)\n'
     '{ return ((int *)skb)[1000]; }\nchar LICENSE[] SEC("license") = "GPL";\n', "the kernel refused the datapath"),
])
def test_missing_says_why_the_datapath_cannot_be_built_or_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                source: str, reason: str) -> None:
    if shutil.which("clang") is None or os.geteuid() != 0:
        pytest.skip("needs clang and root (loading a BPF program)")
    bad = tmp_path / "bad.bpf.c"
    bad.write_text(source)
    monkeypatch.setattr(loader, "SOURCE", bad)
    loader._load_probe.cache_clear()
    try:
        found = loader.missing()
    finally:
        loader._load_probe.cache_clear()
    assert len(found) == 1 and found[0].startswith(reason), found


def test_map_entry_layout_matches_the_c_struct() -> None:
    """struct splice_dir is 12 + 4 + 32 + 4 + 16 + 16 + 4 + 40 bytes; the key 36 (no padding either)."""
    assert loader._DIR.size == 128 and loader._KEY.size == 36
    source = loader.SOURCE.read_text()
    assert "__u32 closed;" in source and "__u8 ts_map, sack_map, in_shift, out_shift;" in source
    assert source.index("__u32 closed;") < source.index("__u32 watch_ok;") < source.index("__u32 complete;") \
        < source.index("__u32 fin_end, fin_seen, fin_acked;") < source.index("__u32 ok_una;") \
        < source.index("__u32 out_mss;")
    assert f"#define HOLD_MAX {loader.HOLD_MAX}" in source


# --------------------------------------------------------------------------------------------------
# Live
# --------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_cases_pass_and_the_datapath_is_what_relays() -> None:
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    try:
        results = run(a, catalog.select(ids=CASES), adapter_spec="ebpf-splice")
        verdicts = {r.case: r.verdict for r in results}
        assert verdicts == dict.fromkeys(CASES, Verdict.PASS), [(r.case, r.verdict, r.diffs) for r in results]
        counters = a.counters()
        assert counters["relayed"] >= len(CASES) - 3 and counters["dropped ttl"] == 1
        assert counters["mss icmp"] == 2
        # With the map entries removed the proxy namespace forwards nothing (forwarding is off): what
        # was relayed above was relayed by the datapath.
        with a.open(Scenario()) as session:
            seg = from_client(session.state, 0, payload=b"spliced", flags=ACK | PSH)
            got = session.inject(seg)
            assert len(got.to_server) == 1
            assert decode(got.to_server[0]) == relay(session.state, seg, 0.0).segments[0]
            session.remove()
            got = session.inject(seg)
            assert not got.to_server
        # Ethernet pads a short frame to 60 bytes; tc runs before the IP layer trims the padding, so the
        # datapath trims it: a padded pure ACK is relayed as the model relays the unpadded one. Bytes
        # past the IP total length of a frame that needs no padding make the packet malformed (the
        # model's TOTAL_LENGTH_MISMATCH): not relayed.
        with a.open(Scenario()) as session:
            ack = from_client(session.state, 0)
            wire = encode(ack)
            assert len(wire) == 40
            got = session.inject(ack, raw=wire + bytes(6))
            assert [decode(p) for p in got.to_server] == list(relay(session.state, ack, 0.0).segments)
            data = from_client(session.state, 0, payload=b"x" * 60, flags=ACK | PSH)
            assert session.inject(data, raw=encode(data) + bytes(4)).empty
        # A relayed RST ends the splice (the model's CLOSED): what follows, either way, is dropped.
        with a.open(Scenario()) as session:
            st = session.state
            assert len(session.inject(from_server(st, 0, flags=RST | ACK)).to_client) == 1
            before = a.counters()["dropped closed"]
            assert session.inject(from_client(st, 0, payload=b"late", flags=ACK | PSH)).empty
            assert session.inject(from_server(st, 0, payload=b"late", flags=ACK | PSH)).empty
            assert a.counters()["dropped closed"] == before + 2
    finally:
        a.close()


@pytest.mark.live
def test_normal_close_leaves_nothing() -> None:
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    with a.open(Scenario()) as session:
        session.inject(from_client(session.state, 0, payload=b"x"))
        assert a.lab is not None
        names = list(a.lab.names.namespaces)
        assert a.prog_ids and loader.live_programs(a.prog_ids) == a.prog_ids
        assert a.datapath is not None and not Path(a.datapath.build_dir).exists()  # removed once loaded
    a.close()
    a.close()  # idempotent
    assert _leftovers(names, a.prog_ids) == []
    assert lab_namespaces(_own_prefix()) == []


@pytest.mark.live
def test_exception_inside_a_session_leaves_nothing() -> None:
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    names: list[str] = []
    with pytest.raises(RuntimeError, match="boom"):
        try:
            with a.open(Scenario()):
                assert a.lab is not None
                names += a.lab.names.namespaces
                raise RuntimeError("boom")
        finally:
            a.close()
    assert names and _leftovers(names, a.prog_ids) == []


LIFE_CASES = ("LIFE-DONTACK/held-after-intend-splice", "LIFE-RELEASE/on-last-byte-of-ok-message",
              "LIFE-BASE-S2C/banner-between-intend-and-presplice", "LIFE-BASE-C2S/client-data-before-splice",
              "LIFE-COMPLETE/stage-on-ack-of-whole-ok-message", "LIFE-OK-ZERO/complete-at-presplice",
              # the accept direction: the server connects to the proxy's listener, its early bytes held
              "LIFE-ACCEPT/ftp-active-early-data", "LIFE-ACCEPT/socks-bind-across-wrap")
LC = Scenario(client=PeerPlan(isn=1_000_000, sack_permitted=True), server=PeerPlan(isn=9_000_000))
#: the connect event; a live IUT connects D with its own numbers (the socket in it is the model's)
CONNECT = Event(EventType.SERVER_CONNECTED, socket=handshake_sockets(LC)[1])


def _proxy_sockets(a: EbpfSpliceAdapter) -> str:
    """The TCP sockets of the proxy namespace (``ss``), empty when there are none."""
    assert a.lab is not None
    return a.lab.run(["ss", "-Htan"]).strip()


def _provisional(c: Socket, d: Socket) -> SpliceState:
    """The legs as the learnt sockets number them right after the handshakes (to build segments from)."""
    def leg(s: Socket) -> Leg:
        return Leg(s.peer, s.local, seq_add(s.peer_isn, 1), seq_add(s.local_isn, 1))
    return SpliceState(leg(c), leg(d))


@pytest.mark.live
def test_lifecycle_cases_pass_with_the_kernels_own_numbers() -> None:
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    try:
        results = run(a, catalog.select(ids=LIFE_CASES), adapter_spec="ebpf-splice")
        assert {r.case: r.verdict for r in results} == dict.fromkeys(LIFE_CASES, Verdict.PASS), \
            [(r.case, r.verdict, r.diffs) for r in results]
        assert a.counters()["held"] > 0 and a.counters()["hold lost"] == 0
        assert _proxy_sockets(a) == ""  # every session's sockets are gone, silently
    finally:
        a.close()


@pytest.mark.live
def test_the_kernel_holds_and_the_proxy_releases() -> None:
    """DONT_ACK is the datapath's: a held segment is queued in the map, the socket never sees it (the
    read is refused by the kernel, not by a flag), nothing acknowledges it; PRESPLICE(0) relays it."""
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    try:
        with a.open_unspliced(LC) as session:
            c, d = session.learnt_sockets
            assert c is not None and d is None and c.local_isn != 0
            session.event(CONNECT)
            d = session.learnt_sockets[1]
            assert d is not None and d.peer_isn == LC.server.isn
            session.event(Event(EventType.INTEND_SPLICE))
            held_before = a.counters()["held"]
            srv = from_server(_provisional(c, d), 0, payload=b"held!", flags=ACK | PSH)
            assert session.inject(srv).empty  # neither relayed nor acknowledged
            assert a.counters()["held"] == held_before + 1
            with pytest.raises(RefusedError, match="0 of the 5 bytes"):
                session.event(Event(EventType.APP_RECV_SERVER, 5))
            got = session.event(Event(EventType.PRESPLICE, 0))
            relayed = [decode(p) for p in got.to_client]
            assert [p.payload for p in relayed] == [b"held!"]
            assert relayed[0].tcp.seq == session.state.client.splice_iss
            assert session.stage is Stage.COMPLETE
            assert _proxy_sockets(a) == ""  # given up silently when the splice was made
        assert a.datapath is not None and a.datapath.take_held() == []
    finally:
        a.close()


@pytest.mark.live
def test_timer_before_the_splice_is_the_sockets_own_retransmission() -> None:
    """TIMER before the splice waits for the proxy's socket that owes bytes until its retransmission
    timer has sent them again (no case of the suite reaches this path); a write's segment is captured
    by the socket call's own settle (its tcpi_segs_out), and once the bytes are acknowledged a TIMER
    has nothing to wait for and nothing is sent. The routes carry quickack."""
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    try:
        with a.open_unspliced(LC) as session:
            assert a.lab is not None
            assert "quickack 1" in a.lab.run(["ip", "route", "show", "dev", a.lab.names.proxy_server_if])
            session.event(CONNECT)
            c, d = session.learnt_sockets
            assert c is not None and d is not None
            wrote = [decode(p) for p in session.event(Event(EventType.APP_SEND_SERVER, 5)).to_server]
            assert [len(p.payload) for p in wrote] == [5]  # the application's write, not waited for
            again = [decode(p) for p in session.event(Event(EventType.TIMER)).to_server]
            assert [(p.tcp.seq, p.payload) for p in again if p.payload] == [(wrote[0].tcp.seq, wrote[0].payload)]
            srv = from_server(_provisional(c, d), 0, ack_off=5)  # the server acknowledges the 5 bytes
            assert session.inject(srv).empty
            assert session.event(Event(EventType.TIMER)).empty
    finally:
        a.close()


@pytest.mark.live
@pytest.mark.parametrize("family", [4, 6])
def test_partial_checksums_are_completed_to_the_models(family: int) -> None:
    """A sender that offloads its checksum (CHECKSUM_PARTIAL: TSO, GRO, a local socket) leaves only the
    pseudo-header sum in the field. The datapath must give such a segment the new pseudo-header sum, not
    a full checksum: the proxy's veths complete it in software on the way out (their send offload is
    off), and the segment on the wire must then be the model's, checksum included. Injected through a
    virtio_net_hdr socket, as the kernel's own TCP would send it; odd and even trims and IPv4 options
    change the header around the checksum."""
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    try:
        with a.open(Scenario(family=family)) as session:
            assert a.lab is not None
            st = session.state
            base = st.client.splice_irs
            segs = [from_client(st, 0, payload=b"partial", flags=ACK | PSH),
                    from_client(st, seq=(base - 3) % (1 << 32), payload=b"0123456789", flags=ACK | PSH),
                    from_client(st, seq=(base - 4) % (1 << 32), payload=b"0123456789", flags=ACK | PSH),
                    from_server(st, 0, payload=b"back", flags=ACK | PSH)]
            if family == 4:
                segs.append(from_client(st, 10, payload=b"opts", flags=ACK | PSH, ip_options=b"\x01\x01\x01\x00"))
            for seg in segs:
                leg = Side.SERVER if seg.ip.src == st.server.peer.addr else Side.CLIENT
                got = a.lab.exchange_fenced(leg, encode(seg), offload=True, timeout=a.timeout)
                out = [decode(c.data) for c in got[Side.CLIENT if leg is Side.SERVER else Side.SERVER]]
                assert out == list(relay(st, seg, 0.0).segments), seg
                st = relay(st, seg, 0.0).state
    finally:
        a.close()


#: both end hosts speak timestamps and SACK; the TSvals sit either side of 2^32 so an echo is exact or wrong
HS = Scenario(client=PeerPlan(isn=1_000_000, sack_permitted=True, tsval=0xFFFF_FFF0),
              server=PeerPlan(isn=9_000_000, sack_permitted=True, tsval=0x10))


@pytest.mark.live
def test_the_proxys_own_handshakes_are_its_kernels_and_its_splice_maps_their_timestamps() -> None:
    """open_handshaken: the kernel's SYN-ACK, SYN and ACK as captured (never the model's), timestamps on
    for the session only, the splice going on from the sockets' TSval clocks."""
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    try:
        with pytest.raises(UnsupportedError, match="cannot be chosen"), \
                a.open_handshaken(Scenario(proxy_isn_c=5)):
            pass
        with a.open_handshaken(HS) as session:
            assert a.lab is not None
            assert netns.read_sysctl(a.lab.ns("proxy"), "net.ipv4.tcp_timestamps") == "1"
            hs = session.proxy_handshake
            assert hs is not None and hs.proxy_ack is not None
            c, d = session.learnt_sockets
            assert c is not None and d is not None
            assert hs.proxy_synack.tcp.seq == c.local_isn and hs.proxy_syn.tcp.seq == d.local_isn
            synack_ts = next(o for o in hs.proxy_synack.tcp.options if isinstance(o, Timestamps))
            ack_ts = next(o for o in hs.proxy_ack.tcp.options if isinstance(o, Timestamps))
            assert synack_ts.tsecr == 0xFFFF_FFF0 and ack_ts.tsecr == 0x10
            assert hs.diffs() and all(x.expected == x.actual for x in hs.diffs())
            st = session.state
            assert st.client.timestamps and st.server.timestamps
            # the splice's TSval on each leg is no earlier than the last the socket sent (mod 2^32)
            assert seq_sub(st.server.lastsent_ts, ack_ts.tsval) < 1 << 31
            assert seq_sub(st.client.lastsent_ts, synack_ts.tsval) < 1 << 31
            seg = from_client(st, 0, payload=b"hi", flags=ACK | PSH)
            out = [decode(x) for x in session.inject(seg).to_server]
            assert [x.payload for x in out] == [b"hi"]
            assert out == list(relay(st, seg, 0.0).segments)  # TSval mapped from the socket's clock
        assert netns.read_sysctl(a.lab.ns("proxy"), "net.ipv4.tcp_timestamps") == "0"
    finally:
        a.close()


@pytest.mark.live
def test_exception_inside_a_lifecycle_session_leaves_nothing() -> None:
    _need()
    a = EbpfSpliceAdapter(prefix=_own_prefix())
    names: list[str] = []
    try:
        with pytest.raises(RuntimeError, match="boom"), a.open_unspliced(LC) as session:
            assert a.lab is not None
            names += a.lab.names.namespaces
            session.event(CONNECT)
            session.event(Event(EventType.INTEND_SPLICE))
            assert _proxy_sockets(a) != ""
            raise RuntimeError("boom")
        assert _proxy_sockets(a) == ""  # the session's sockets closed on the way out
        assert a.lab is not None and a.lab.collect({Side.CLIENT: None, Side.SERVER: None}, timeout=0.05) == {
            Side.CLIENT: [], Side.SERVER: []}  # closed in repair mode: no FIN, no RST
    finally:
        a.close()
    assert names and _leftovers(names, a.prog_ids) == []


def _child(prefix: str, body: str, opener: str = "adapter.open(Scenario())") -> subprocess.Popen[str]:
    """A python child that opens a session, prints its namespaces and program ids, then runs ``body``
    without ever calling ``close()`` (the lab's signal and atexit handling must do the work)."""
    code = textwrap.dedent(f"""
        from splicecheck.adapters.ebpf_splice import EbpfSpliceAdapter
        from splicecheck.conformance.case import from_client, from_server
        from splicecheck.conformance.contract import Scenario
        from splicecheck.reference.lifecycle import Event, EventType
        from splicecheck.conformance.model import handshake_sockets
        adapter = EbpfSpliceAdapter(prefix={prefix!r})
        with {opener} as session:
            print(" ".join(adapter.lab.names.namespaces), "|", " ".join(map(str, adapter.prog_ids)), flush=True)
            {body}
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read(child: subprocess.Popen[str]) -> tuple[list[str], list[int]]:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        _, err = child.communicate(timeout=20)
        pytest.fail(f"child did not open a session: {err}")
    names, _, ids = line.partition("|")
    return names.split(), [int(i) for i in ids.split()]


@pytest.mark.live
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_run_leaves_nothing(signum: int) -> None:
    _need()
    child = _child(_own_prefix(), "while True: session.inject(from_client(session.state, 0, payload=b'x'))")
    names, ids = _read(child)
    assert ids and loader.live_programs(ids) == ids
    t0 = time.monotonic()
    child.send_signal(signum)
    child.communicate(timeout=20)
    assert time.monotonic() - t0 < 5
    assert child.returncode != 0
    assert _leftovers(names, ids) == []


@pytest.mark.live
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_lifecycle_session_leaves_nothing(signum: int) -> None:
    """The proxy's sockets are the adapter process's: they go with it and with the namespace."""
    _need()
    body = ("session.event(Event(EventType.SERVER_CONNECTED, socket=handshake_sockets(Scenario())[1])); "
            "session.event(Event(EventType.INTEND_SPLICE)); import time; time.sleep(60)")
    child = _child(_own_prefix(), body,
                   opener="adapter.open_unspliced(Scenario())")
    names, ids = _read(child)
    time.sleep(0.5)
    child.send_signal(signum)
    t0 = time.monotonic()
    child.communicate(timeout=20)
    assert time.monotonic() - t0 < 5 and child.returncode != 0
    assert _leftovers(names, ids) == []


@pytest.mark.live
def test_uncaught_exception_in_a_child_leaves_nothing() -> None:
    _need()
    child = _child(_own_prefix(), "raise RuntimeError('boom')")
    names, ids = _read(child)
    _, err = child.communicate(timeout=20)
    assert child.returncode == 1 and "boom" in err
    assert _leftovers(names, ids) == []


def test_module_doc_names_every_unsupported_feature() -> None:
    doc = ebpf_splice.__doc__ or ""
    for phrase in ("ICMP", "NOPs", "OK message"):
        assert phrase in doc
