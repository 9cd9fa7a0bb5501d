"""splicecheck.adapters"""
