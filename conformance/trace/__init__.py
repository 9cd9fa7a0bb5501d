"""The offline trace checker: a second front end of the conformance engine.

Captured legs of a splice box are read (``capture``: the pcap/pcapng codec; ``link``: the link layers)
and merged in time (``merge``), their connections paired (``flows``) and the splice parameters inferred
(``infer``, ``params``), and every relayed segment judged against the reference model (``judge``, with
``fast`` and ``shortcuts`` for the common shapes, ``tally`` for the connection's result), driven by
``engine`` with its settings and counters in ``config``.
"""
