"""Named cases for TCP options as a whole (paper §3.4): how a stripped option disappears (NOP overwrite
or removal, §3.4.1 footnote 2), options the splice leaves alone, and option areas that are not well
formed.

Malformed option areas: the model's codec refuses them (docs/ARCHITECTURE.md principle 2: every byte string is a
``Segment`` or a ``MalformedSegment``), and the runner's expectation for an injection that does not
decode is that nothing is relayed. Relaying the segment with the area from the fault on as it came is
as legitimate (``alternatives.RELAY_UNWALKABLE``: the receiving end host must handle an illegal option
length, RFC 9293 MUST-7); the result names the outcome the IUT took (in the lab, Linux SYNPROXY and the FTP
helper drop such a data segment, and SYNPROXY relays such a RST, which campaigns reach). What fails is a
relay that trusts the bad length and reads or writes past the option area.
"""

from __future__ import annotations

from collections.abc import Callable

from ..reference.relay import SpliceState, StripStyle
from ..reference.segment import (
    NOP,
    MaxSegmentSize,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
)
from ..reference.seqspace import seq_add
from .alternatives import UNWALKABLE
from .case import Case, Injection, from_client, from_server, ts_option
from .cases_common import FULL, fresh_tcp_checksum, malformed, spliced_at
from .contract import Feature

F = Feature
REMOVING = frozenset({F.STRIP_REMOVE})

CLIENT_TS_ONLY = spliced_at(server_ts=False)
CLIENT_TS_ONLY_REMOVE = spliced_at(server_ts=False, strip_style=StripStyle.REMOVE)
CLIENT_SACK_ONLY_REMOVE = spliced_at(server_sack=False, strip_style=StripStyle.REMOVE)
WS_NOP = spliced_at(client_wscale=7, server_wscale=7)
WS_REMOVE = spliced_at(client_wscale=7, server_wscale=7, strip_style=StripStyle.REMOVE)


def sack_block(st: SpliceState) -> list[TcpOption]:
    base = st.client.splice_iss
    return [Sack(((seq_add(base, 8), seq_add(base, 16)),))]


def with_bad_options(mutate: Callable[[bytearray, int], None]) -> Callable[[SpliceState], list[Injection]]:
    """Client data with NOP, NOP, Timestamps; ``mutate(raw, options_offset)`` then breaks the option
    area and the TCP checksum is recomputed, so that only the malformation is under test."""

    def build(st: SpliceState) -> list[Injection]:
        seg = from_client(st, 0, payload=b"malformed options", options=[NOP, NOP, ts_option(st.client)])

        def change(raw: bytearray, tcp_at: int) -> None:
            mutate(raw, tcp_at + 20)
            fresh_tcp_checksum(raw, tcp_at)

        return [malformed(seg, change)]

    return build


def _unwalkable(cid: str, description: str, expectation: str,
                mutate: Callable[[bytearray, int], None]) -> Case:
    """An OPT-PASS case of client data whose option area ``mutate`` breaks: the model drops it, and relaying it
    with the area from the fault on as it came is the alternative ``relay-unwalkable`` (module docstring)."""
    return Case(cid, ("OPT-PASS",), description, expectation, with_bad_options(mutate), FULL,
                frozenset({F.MALFORMED}), alternatives=UNWALKABLE)


def _ts_length_12(raw: bytearray, opt: int) -> None:
    raw[opt + 3] = 12  # the Timestamps option (after two NOPs) claims 12 bytes: 2 more than the area


def _length_zero(raw: bytearray, opt: int) -> None:
    raw[opt:opt + 4] = bytes([253, 0, 1, 1])  # an option of length 0 where the two NOPs and TS began


def _kind_without_length(raw: bytearray, opt: int) -> None:
    raw[opt:opt + 12] = bytes([1] * 11 + [8])  # eleven NOPs, then a Timestamps kind with no length octet


CASES: list[Case] = [
    # -- STRIP-STYLE ----------------------------------------------------------------------------------
    Case("STRIP-STYLE/nop-overwrite-ts", ("STRIP-STYLE", "TS-STRIP"),
         "Only the client leg uses timestamps; the splice strips by NOP overwrite. Client data with "
         "NOP, NOP, Timestamps.",
         "The Timestamps option's 10 bytes become NOPs; the header keeps its length (paper §3.4.1 footnote 2).",
         lambda st: [from_client(st, 0, payload=b"nop style")], CLIENT_TS_ONLY),
    Case("STRIP-STYLE/remove-ts", ("STRIP-STYLE", "TS-STRIP"),
         "As nop-overwrite-ts, with a splice that strips by removal.",
         "The option and the NOPs that aligned it are removed and the list re-padded: the header shrinks by 12 "
         "bytes (paper §3.4.1 footnote 2).",
         lambda st: [from_client(st, 0, payload=b"remove style")], CLIENT_TS_ONLY_REMOVE, REMOVING),
    Case("STRIP-STYLE/remove-sack", ("STRIP-STYLE", "SACK-STRIP"),
         "Only the client leg uses SACK; the splice strips by removal. A client ACK with a SACK block and "
         "Timestamps.",
         "The SACK option is removed, Timestamps kept and mapped (paper §3.4.1 footnote 2, §3.4.3).",
         lambda st: [from_client(st, 0, options=sack_block(st))], CLIENT_SACK_ONLY_REMOVE, REMOVING),
    Case("STRIP-STYLE/remove-window-scale", ("STRIP-STYLE", "WS-STRIP"),
         "Both legs scale windows; the splice strips by removal. Client data carrying a Window Scale option.",
         "The option is removed and the list re-padded (paper §3.4.1 footnote 2, §3.4.2).",
         lambda st: [from_client(st, 0, payload=b"ws", options=[WindowScale(7)])], WS_REMOVE, REMOVING),
    Case("STRIP-STYLE/nop-overwrite-window-scale", ("STRIP-STYLE", "WS-STRIP"),
         "Both legs scale windows; NOP-overwrite splice. Server data carrying a Window Scale option.",
         "The option's 3 bytes become NOPs (paper §3.4.1 footnote 2).",
         lambda st: [from_server(st, 0, payload=b"ws", options=[WindowScale(2)])], WS_NOP),
    # -- OPT-PASS -------------------------------------------------------------------------------------
    Case("OPT-PASS/mss-on-data-segment", ("OPT-PASS",),
         "Client data carrying an MSS option (legal only in SYNs, RFC 9293 §3.7.1).",
         "Relayed unchanged: the splice neither maps nor strips MSS (paper §3.4).",
         lambda st: [from_client(st, 0, payload=b"mss", options=[MaxSegmentSize(1200)])], FULL),
    Case("OPT-PASS/sack-permitted-non-syn", ("OPT-PASS",),
         "Server data carrying SACK-permitted.",
         "Relayed unchanged (paper §3.4).",
         lambda st: [from_server(st, 0, payload=b"sackok", options=[SackPermitted()])], FULL),
    Case("OPT-PASS/experimental-kind-254", ("OPT-PASS",),
         "Client data with an experimental option (kind 254, ExID 0x1234, RFC 6994).",
         "Relayed byte for byte (paper §3.4).",
         lambda st: [from_client(st, 0, payload=b"exp", options=[UnknownOption(254, b"\x12\x34abcd")])], FULL),
    Case("OPT-PASS/md5-signature-kind-19", ("OPT-PASS",),
         "Server data with a TCP MD5 signature option (kind 19, 16 bytes, RFC 2385).",
         "Relayed byte for byte — the signature no longer verifies after the rewrite, which is the end hosts' "
         "problem, not the splice's (paper §3.4).",
         lambda st: [from_server(st, 0, payload=b"md5", options=[UnknownOption(19, bytes(range(16)))])], FULL),
    Case("OPT-PASS/unknown-beside-timestamps", ("OPT-PASS", "TS-VAL"),
         "Client data with an unknown option (kind 253) before a Timestamps option.",
         "The unknown option is relayed unchanged, the timestamps mapped (paper §3.4, §3.4.1).",
         lambda st: [from_client(st, 0, payload=b"mixed", options=[UnknownOption(253, b"xy"), ts_option(st.client)])],
         FULL),
    Case("OPT-PASS/sack-of-odd-length", ("OPT-PASS",),
         "Client ACK carrying kind 5 (SACK) with length 12, which is not 2 + 8n (RFC 2018 §3).",
         "Not a SACK option the splice can map: relayed unchanged as an unknown option (paper §3.4; the "
         "model's codec keeps it byte for byte).",
         lambda st: [from_client(st, 0, options=[UnknownOption(5, bytes(10))])], FULL),
    Case("OPT-PASS/timestamps-of-wrong-length", ("OPT-PASS",),
         "Client data carrying kind 8 (Timestamps) with length 6 instead of 10 (RFC 7323 §3.2).",
         "Not a Timestamps option: relayed unchanged, neither mapped nor stripped (paper §3.4).",
         lambda st: [from_client(st, 0, payload=b"short", options=[UnknownOption(8, b"abcd")])], FULL),
    _unwalkable("OPT-PASS/truncated-option-area",
                "Known bug class: client data whose Timestamps option claims 12 bytes where the option area ends "
                "after 10. A splice that maps timestamps and trusts the length reads and writes past the header "
                "(into the payload); one that walks the area safely drops the segment or relays it without touching "
                "the broken option.",
                "The model refuses the segment (option overrun, RFC 9293 §3.1; RFC 7323 §3.2 fixes the length at "
                "10): nothing is relayed; or relay-unwalkable: relayed, mapped, the area from the Timestamps option "
                "on as it came.",
                _ts_length_12),
    _unwalkable("OPT-PASS/option-length-zero",
                "Client data whose option area holds an option of length 0 (a parser that adds the length loops "
                "forever).",
                "Refused by the model's codec (bad option length, RFC 9293 §3.1: the length counts kind and length "
                "octets, so it is at least 2): nothing is relayed; or relay-unwalkable: relayed, mapped, the whole "
                "area as it came.",
                _length_zero),
    _unwalkable("OPT-PASS/kind-without-length",
                "Client data whose option area ends with a Timestamps kind octet and no length octet.",
                "Refused by the model's codec (option overrun, RFC 9293 §3.1): nothing is relayed; or "
                "relay-unwalkable: relayed, mapped, the NOPs and the lone kind octet as they came.",
                _kind_without_length),
    Case("OPT-PASS/mss-sackok-beside-timestamps", ("OPT-PASS", "TS-VAL"),
         "Client data with MSS, SACK-permitted and Timestamps together.",
         "MSS and SACK-permitted relayed unchanged, Timestamps mapped (paper §3.4).",
         lambda st: [from_client(st, 0, payload=b"all", options=[MaxSegmentSize(1400), SackPermitted(),
                                                                   Timestamps(st.client.lastrecv_ts, 0)])], FULL),
]
