"""splicecheck.spec"""
