"""The model's error hierarchy (after h11's ``_util.py``): each error carries what a report needs.

Three kinds, never mixed (docs/ARCHITECTURE.md, principle 5): the *input* is illegal (:class:`MalformedSegment`,
:class:`SpliceStateError`), the implementation under test diverged (a verdict, not an exception), or
the harness failed (``conformance``'s ``HarnessError``).
"""

from __future__ import annotations

from enum import StrEnum


class SpliceCheckError(Exception):
    """Base of every error splicecheck raises on purpose."""


class Malformation(StrEnum):
    """Machine-readable reasons why bytes are not a well-formed TCP/IP segment."""

    EMPTY = "empty"
    BAD_IP_VERSION = "bad-ip-version"
    TRUNCATED_IP_HEADER = "truncated-ip-header"
    BAD_IHL = "bad-ihl"
    TOTAL_LENGTH_MISMATCH = "total-length-mismatch"
    FRAGMENT = "ip-fragment"
    NOT_TCP = "not-tcp"
    UNSUPPORTED_IPV6_EXTENSION = "unsupported-ipv6-extension"
    TRUNCATED_TCP_HEADER = "truncated-tcp-header"
    BAD_DATA_OFFSET = "bad-data-offset"
    DATA_OFFSET_PAST_END = "data-offset-past-end"
    BAD_OPTION_LENGTH = "bad-option-length"
    OPTION_OVERRUN = "option-overrun"


class MalformedSegment(SpliceCheckError, ValueError):
    """The bytes are not a segment the model accepts; ``reason`` says why, ``offset`` where."""

    def __init__(self, reason: Malformation, detail: str = "", offset: int | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{reason.value}{where}: {detail}" if detail else f"{reason.value}{where}")


class SpliceStateError(SpliceCheckError):
    """An event that the splice lifecycle does not allow in its current state."""

    def __init__(self, state: str, event: str, detail: str = "") -> None:
        self.state = state
        self.event = event
        self.detail = detail
        super().__init__(f"event {event} is not allowed in state {state}" + (f": {detail}" if detail else ""))
