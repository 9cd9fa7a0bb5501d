"""splicecheck.reports"""
