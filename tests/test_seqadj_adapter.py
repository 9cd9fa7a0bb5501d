"""The ``seqadj-ftp`` adapter (adapters/seqadj_ftp.py): Linux's FTP NAT helper + conntrack seqadj as a splice.

Live tests (marker ``live``) need root, iproute2, nftables, network namespaces and the FTP conntrack
helper with NAT; without them they SKIP with preflight's reason, never pass. They are safe under
``pytest -n 2``: every session builds its own lab with names unique per process and worker, and the
tests that watch for leftovers use a prefix of their own (no other worker's ``clean_stale()`` races
them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from splicecheck.adapters import seqadj_ftp
from splicecheck.adapters.lab import netns
from splicecheck.adapters.lab.preflight import preflight
from splicecheck.adapters.lab.topology import lab_namespaces
from splicecheck.adapters.seqadj_ftp import (
    LAB_FEATURES,
    UNSUPPORTED_REASONS,
    SeqadjConfig,
    SeqadjFtpAdapter,
    SeqadjSession,
    natural_delta,
    port_command,
)
from splicecheck.conformance.case import Case, from_client, from_server
from splicecheck.conformance.contract import Adapter, Feature, PeerPlan, Scenario, UnsupportedError, load_adapter
from splicecheck.conformance.model import first_byte
from splicecheck.conformance.results import Verdict
from splicecheck.conformance.runner import run, run_case
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.segment import ACK, PSH, Sack, Segment, UnknownOption
from splicecheck.reference.seqspace import MOD32, seq_add, seq_sub

#: ISNs just below 2^32: the PORT line straddles the wrap, so the base lies past it.
WRAP = Scenario(client=PeerPlan(isn=MOD32 - 16, tsval=5, sack_permitted=True, wscale=7),
                server=PeerPlan(isn=MOD32 - 2, tsval=MOD32 - 1, sack_permitted=True, wscale=2))


def _need() -> None:
    missing = preflight(*LAB_FEATURES)
    if missing:
        pytest.skip("Linux lab with the FTP NAT helper unavailable: " + "; ".join(missing))


def _own_prefix() -> str:
    """A lab prefix no other test process uses, for tests that look for leftovers."""
    return f"scq{os.getpid()}-"


def _data_cases(scenario: Scenario) -> list[Case]:
    """A plain data segment each way after the PORT rewrite, and the acks/SACKs that go with them."""
    return [
        Case("SEQ-MAP/seqadj-client-data", ("SEQ-MAP", "ACK-MAP"), "client data at the base",
             "seq + delta, ack unchanged",
             lambda st: [from_client(st, 0, payload=b"hello", flags=ACK | PSH)], scenario),
        Case("ACK-MAP/seqadj-server-data", ("ACK-MAP", "SEQ-MAP"), "server data acking the client's data",
             "seq unchanged, ack - delta",
             lambda st: [from_client(st, 0, payload=b"hello", flags=ACK | PSH),
                         from_server(st, 0, ack_off=5, payload=b"world", flags=ACK | PSH),
                         from_client(st, 5, ack_off=5)], scenario),
        Case("SACK-MAP/seqadj-server-sack", ("SACK-MAP", "ACK-MAP"), "server SACKs client data past a hole",
             "ack and SACK edges - delta",
             lambda st: [from_client(st, 10, payload=b"0123456789", flags=ACK | PSH),
                         from_server(st, 0, options=[Sack(((seq_add(st.server.splice_iss, 10),
                                                            seq_add(st.server.splice_iss, 20)),))])], scenario),
    ]


def _below_case(scenario: Scenario) -> Case:
    """Client data that starts 5 numbers below the base: inside the PORT line (seqadj: +delta, whole)."""
    return Case("TRIM-SOUND/seqadj-inside-port-line", ("TRIM-SOUND", "TRIM-REST"),
                "data starting inside the rewritten PORT line", "the splice trims the 5 numbers below the base",
                lambda st: [from_client(st, -5, payload=b"abcdefghij", flags=ACK | PSH)], scenario,
                needs=frozenset({Feature.BELOW_BASE}))


@pytest.fixture(autouse=True)
def _close_adapters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every adapter a test makes is closed when the test ends: the adapter keeps its lab between
    sessions, and a lab left open would outlive its test (the process's exit would still tear it down)."""
    made: list[SeqadjFtpAdapter] = []
    init = SeqadjFtpAdapter.__init__

    def tracked(self: SeqadjFtpAdapter, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(SeqadjFtpAdapter, "__init__", tracked)
    yield
    for a in made:
        a.close()


@pytest.fixture(params=["grow", "shrink"])
def adapter(request: pytest.FixtureRequest) -> Iterator[SeqadjFtpAdapter]:
    _need()
    a = SeqadjFtpAdapter(request.param)
    yield a
    a.close()


# --------------------------------------------------------------------------------------------------
# Offline: configuration, the PORT line, the declared limits
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [2, 1, 0, -4, -37])
def test_port_line_is_rewritten_to_the_requested_length(delta: int) -> None:
    sent, rewritten = port_command(delta)
    assert len(rewritten) - len(sent) == delta
    numbers = sent[5:-2].split(b",")
    assert [int(n) for n in numbers] == [198, 18, 0, 2, 39, 16]  # the client's own address: the helper records it
    assert rewritten == b"PORT 198,19,0,254,39,16\r\n"  # nf_nat_ftp's "%u,%u,...": the masquerade address
    assert natural_delta() == 2
    with pytest.raises(ValueError):
        port_command(3)


def test_arguments() -> None:
    assert SeqadjConfig.parse("") == SeqadjConfig(2, "liberal", False)
    assert SeqadjConfig.parse("shrink, strict,below-base") == SeqadjConfig(-4, "strict", True)
    assert SeqadjConfig.parse("delta=-9,plain").delta == -9
    for bad in ("nope", "delta=3", "delta=x"):
        with pytest.raises(ValueError):
            SeqadjConfig.parse(bad)
    loaded = load_adapter("seqadj-ftp:shrink")
    assert isinstance(loaded, SeqadjFtpAdapter) and loaded.config.delta == -4
    assert isinstance(loaded, Adapter)


def test_ruleset_and_sysctls_per_mode() -> None:
    for mode, drops, liberal in (("liberal", True, 1), ("strict", True, 0), ("plain", False, 0)):
        cfg = SeqadjConfig(mode=mode)
        text = cfg.ruleset("scXps")
        assert 'ct helper set "ftp-standard"' in text and 'oifname "scXps" masquerade' in text
        assert ("ct state invalid drop" in text) is drops
        assert cfg.sysctls() == {"net.netfilter.nf_conntrack_tcp_be_liberal": liberal,
                                 "net.netfilter.nf_conntrack_checksum": 1 - liberal}


def test_unsupported_features_are_declared_with_a_reason_each() -> None:
    a = SeqadjFtpAdapter()
    assert a.unsupported == frozenset(UNSUPPORTED_REASONS)
    assert {Feature.OK_MESSAGE, Feature.LIFECYCLE, Feature.CHOOSE_PROXY_ISN, Feature.IPV6} <= a.unsupported
    assert all(r and "\n" not in r for r in UNSUPPORTED_REASONS.values())
    # Scenarios the harness can create are graded, whatever seqadj does with them: below the base (no trim),
    # an oversized DF segment (no ICMP), a foreign 4-tuple (NATed as a connection of its own).
    for graded in (Feature.BELOW_BASE, Feature.MSS_ICMP, Feature.FOREIGN_SEGMENT):
        assert graded not in a.unsupported and graded not in SeqadjFtpAdapter("below-base").unsupported
    info = a.info()
    assert info.details["kernel"].split()[1] == info.version  # the kernel release
    assert "masquerade" in info.details["ruleset"] and "+2" in info.details["PORT rewrite"]


def test_every_case_is_skipped_when_preflight_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seqadj_ftp, "preflight", lambda *f, prefix="": ["`nft` not found: install nftables"])

    def no_lab(*args: object, **kwargs: object) -> None:
        raise AssertionError("no lab may be built when preflight fails")

    monkeypatch.setattr(seqadj_ftp, "Lab", no_lab)
    cases = [*_data_cases(WRAP), _below_case(WRAP)]
    results = run(SeqadjFtpAdapter(), cases, adapter_spec="seqadj-ftp")
    assert [r.verdict for r in results] == [Verdict.SKIPPED] * len(cases)
    assert all("nft" in r.reason for r in results)


def test_a_scenario_the_adapter_cannot_make_is_unsupported_before_any_lab() -> None:
    a = SeqadjFtpAdapter()
    case = Case("SEQ-MAP/v6", ("SEQ-MAP",), "x", "y", lambda st: [from_client(st, 0)], Scenario(family=6))
    r = run_case(a, case, "seqadj-ftp")
    assert r.verdict is Verdict.UNSUPPORTED and "ipv6" in r.reason


# --------------------------------------------------------------------------------------------------
# Live: the learnt splice
# --------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_learnt_state_is_the_seqadj_mapping(adapter: SeqadjFtpAdapter) -> None:
    delta = adapter.config.delta
    with adapter.open(WRAP) as s:
        st, rec = s.state, s.record
        assert rec.delta == delta
        p = rec.correction_pos
        assert p == seq_add(WRAP.client.isn, 1 + len(b"USER a\r\n"))
        # base: the client's byte after the PORT line, and the server-side number of that same byte
        assert st.client.splice_irs == seq_add(p, len(rec.port_sent))
        assert st.server.splice_iss == seq_add(p, len(rec.port_relayed))
        assert seq_sub(st.server.splice_iss, st.client.splice_irs) == delta % MOD32
        assert st.client.splice_irs < p  # the PORT line straddles 2^32: the base wrapped
        # server→client: no offsets at all
        assert st.client.splice_iss == st.server.splice_irs == seq_add(WRAP.server.isn, 1)
        # masquerade: leg D's local end is the proxy's server-side address
        assert st.server.local.addr == bytes([198, 19, 0, 254]) and st.client.local.port == 21
        # one TCP connection end to end: TS, SACK and window scales are the end hosts' own
        assert st.client.lastrecv_ts == st.server.lastsent_ts and st.server.lastrecv_ts == st.client.lastsent_ts
        assert st.client.timestamps and st.server.timestamps and st.client.sack and st.server.sack
        assert (st.client.peer_wscale, st.client.local_wscale) == (7, 2) == \
            (st.server.local_wscale, st.server.peer_wscale)
        assert (st.client.recv_shift, st.client.send_shift) == (st.server.send_shift, st.server.recv_shift)


@pytest.mark.live
def test_data_each_way_after_the_rewrite_passes(adapter: SeqadjFtpAdapter) -> None:
    results = run(adapter, _data_cases(WRAP), adapter_spec=f"seqadj-ftp:{adapter.config.delta}")
    for r in results:
        assert r.verdict is Verdict.PASS, (r.case, r.reason, [d.line() for d in r.diffs])
        assert r.checked > 20  # every field of every relayed packet was compared (SEQ-MAP, ACK-MAP, TS-*, ...)
        assert r.diffs == [] and r.collateral == []


@pytest.mark.live
def test_without_timestamps_sack_or_scaling() -> None:
    _need()
    plain = Scenario(client=PeerPlan(isn=1000), server=PeerPlan(isn=9_000_000))
    (r, *_) = run(SeqadjFtpAdapter("delta=-1"), _data_cases(plain)[:2], adapter_spec="seqadj-ftp:delta=-1")
    assert r.verdict is Verdict.PASS, [d.line() for d in r.diffs]


# --------------------------------------------------------------------------------------------------
# Live: before correction_pos — seqadj is not a splice with a base
# --------------------------------------------------------------------------------------------------


def _send(s: SeqadjSession, seg: Segment) -> tuple[list[Segment], list[Segment]]:
    obs = s.inject(seg)
    return [decode(x) for x in obs.to_client], [decode(x) for x in obs.to_server]


@pytest.mark.live
def test_segments_before_correction_pos_keep_the_old_offset_and_are_never_trimmed(
        adapter: SeqadjFtpAdapter) -> None:
    delta = adapter.config.delta
    with adapter.open(WRAP) as s:
        st, rec = s.state, s.record
        p = rec.correction_pos
        # The PORT line retransmitted (seq = correction_pos, all of it below the base): the helper
        # rewrites it again and seqadj leaves its seq alone (offset_before = 0). The splice would
        # trim it to a pure ACK at the base.
        _, (out,) = _send(s, from_client(st, seq=p, payload=rec.port_sent, flags=ACK | PSH))
        assert (out.tcp.seq, out.payload) == (p, rec.port_relayed)
        # Starting inside the PORT line (after correction_pos): the new offset, applied whole.
        _, (out,) = _send(s, from_client(st, -5, payload=b"abcdefghij", flags=ACK | PSH))
        assert (out.tcp.seq, out.payload) == (seq_add(st.server.splice_iss, -5), b"abcdefghij")
        # A server ack at correction_pos passes unchanged (the splice would map it by -delta).
        (out,), _ = _send(s, from_server(st, ack=p))
        assert out.tcp.ack == p
        # The USER line retransmitted: unchanged, untrimmed.
        _, (out,) = _send(s, from_client(st, seq=seq_add(p, -8), payload=b"USER a\r\n", flags=ACK | PSH))
        assert (out.tcp.seq, out.payload) == (seq_add(p, -8), b"USER a\r\n")
    assert delta  # both directions of the rewrite were exercised (fixture params)


@pytest.mark.live
def test_below_base_cases_show_the_gap() -> None:
    _need()
    case = _below_case(WRAP)
    r = run_case(SeqadjFtpAdapter(), case, "seqadj-ftp")
    # seqadj relays all 10 bytes at seq + delta; the model trims 5 and relays the rest at the base
    assert r.verdict is Verdict.FAIL
    by_field = {d.field: d for d in r.diffs}
    assert by_field["to_server[0].payload"].req == "TRIM-SOUND"
    assert by_field["to_server[0].tcp.seq"].req == "TRIM-REST"


# --------------------------------------------------------------------------------------------------
# Live: findings
# --------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_finding_segments_dropped_after_the_splice() -> None:
    """The helper parses every client segment that starts right after a '\\n' it saw: one beginning
    with (a prefix of) PORT/EPRT that does not parse is dropped ("partial matching"). And seqadj
    drops an ACK segment whose option area it cannot walk."""
    _need()
    with SeqadjFtpAdapter().open(WRAP) as s:
        st = s.state
        assert s.inject(from_client(st, 0, payload=b"Portable\r\n", flags=ACK | PSH)).empty
        assert s.inject(from_client(st, 0, payload=b"p", flags=ACK | PSH)).empty
        good = from_client(st, 0, payload=b"hello\r\n", flags=ACK | PSH, options=[UnknownOption(30, b"\0\0")])
        raw = bytearray(encode(good))
        raw[good.ip.header_length + 20 + 1] = 1  # the option's length octet: 1 < 2, malformed
        assert s.inject(good, raw=bytes(raw)).empty
        assert len(s.inject(good).to_server) == 1


@pytest.mark.live
def test_scenario_presplice_counts_place_the_bases_where_the_model_does() -> None:
    _need()
    sc = Scenario(client=PeerPlan(isn=5), server=PeerPlan(isn=MOD32 - 3), client_presplice=40, server_presplice=10)
    with SeqadjFtpAdapter().open(sc) as s:
        assert s.state.client.splice_irs == first_byte(sc.client, 40)
        assert s.state.server.splice_irs == first_byte(sc.server, 10)
        assert s.record.port_sent == port_command(2)[0]
    with pytest.raises(UnsupportedError, match="at least 24"), SeqadjFtpAdapter().open(Scenario(client_presplice=23)):
        pass


@pytest.mark.live
def test_finding_the_mapping_reverts_after_2gib() -> None:
    """seqadj compares with correction_pos on the circle (``after(seq, P)``): 2 GiB past it, client
    sequence numbers fall 'before' P again and get offset_before (0). A splice keeps mapping."""
    _need()
    with SeqadjFtpAdapter().open(WRAP) as s:  # liberal mode: conntrack lets the jumps through
        st = s.state
        seen = []
        for off in (0, 1 << 30, 1 << 31, 3 << 30):
            (out,) = s.inject(from_client(st, off, payload=b"x", flags=ACK | PSH)).to_server
            seen.append(seq_sub(decode(out).tcp.seq, seq_add(st.client.splice_irs, off)))
        assert seen == [2, 2, 0, 0]


# --------------------------------------------------------------------------------------------------
# Live: nothing is left behind
# --------------------------------------------------------------------------------------------------


def _host_links() -> set[str]:
    return {ln.split(":")[1].strip() for ln in netns.run(["ip", "-o", "link"]).stdout.splitlines()}


@pytest.mark.live
def test_normal_and_failing_runs_leave_nothing() -> None:
    _need()
    prefix = _own_prefix()
    links = _host_links()
    a = SeqadjFtpAdapter(prefix=prefix)
    with a.open(WRAP) as s:
        names = s.lab.names
        assert set(names.namespaces) <= set(netns.list_netns())
        assert "splicecheck_seqadj" in s.lab.run(["nft", "list", "tables"])
    assert set(lab_namespaces(prefix)) == set(names.namespaces)  # the adapter keeps its lab between sessions
    with pytest.raises(RuntimeError, match="boom"), a.open(WRAP) as s:
        assert s.lab.names == names  # the same lab, its conntrack table emptied
        raise RuntimeError("boom")
    with a.open(WRAP) as s:  # a session after a failed one sets up as the first did
        assert seq_add(s.record.correction_pos, len(s.record.port_sent)) == s.state.client.splice_irs
    a.close()
    assert not lab_namespaces(prefix)

    def boom(st: object) -> list[Segment]:
        raise RuntimeError("harness bug")

    r = run_case(a, Case("SEQ-MAP/x", ("SEQ-MAP",), "x", "y", boom, WRAP), "seqadj-ftp")
    assert r.verdict is Verdict.ERROR
    a.close()
    assert not lab_namespaces(prefix)
    assert _host_links() == links  # veths live and die inside the lab's namespaces
    assert "splicecheck_seqadj" not in netns.run(["nft", "list", "tables"]).stdout  # never in the host


@pytest.mark.live
@pytest.mark.parametrize(("signum", "returncode"), [(signal.SIGINT, -signal.SIGINT),
                                                    (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_interrupted_session_tears_its_lab_down(signum: int, returncode: int) -> None:
    _need()
    prefix = _own_prefix()
    code = textwrap.dedent(f"""
        import time
        from splicecheck.adapters.seqadj_ftp import SeqadjFtpAdapter
        from splicecheck.conformance.contract import Scenario
        with SeqadjFtpAdapter(prefix={prefix!r}).open(Scenario()) as s:
            print(" ".join(s.lab.names.namespaces), flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        _, err = child.communicate(timeout=10)
        pytest.fail(f"child did not open a session: {err}")
    names = line.split()
    assert len(names) == 3 and set(names) <= set(netns.list_netns())
    child.send_signal(signum)
    _, err = child.communicate(timeout=20)
    assert child.returncode == returncode, err
    assert not set(names) & set(netns.list_netns()), "the interrupted session left namespaces behind"
    assert not lab_namespaces(prefix)
