"""The executable reference model of TCP Splice (Maltz & Bhagwat, §3).

Pure, sans-IO and deterministic: wire codec, sequence-space arithmetic, checksums, the option
transforms, the relay function and the splice lifecycle table. Standard library only; z3 is imported
lazily by :mod:`splicecheck.reference.arith` when it is handed a z3 expression.
"""
