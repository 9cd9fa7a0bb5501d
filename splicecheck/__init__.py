"""splicecheck: a formal specification and conformance test suite for TCP Splice."""

__version__ = "0.1.0"
