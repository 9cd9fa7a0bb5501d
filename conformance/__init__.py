"""splicecheck.conformance"""
