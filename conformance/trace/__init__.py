"""The offline trace checker: a second front end of the conformance engine.

Captured legs of a splice box are read (``capture``, ``link``), their connections paired and the splice
parameters inferred (``infer``, ``params``), and every relayed segment judged against the reference
model (``judge``, with ``fast`` for the common shapes), driven by ``engine``.
"""
