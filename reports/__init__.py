"""splicecheck.reports: what a run's results say, for people and for CI.

``load`` reads a results file (JSON Lines, partial ones too) into a ``Run``; ``terminal`` prints
progress and the h2spec-like listing; ``render.render_all`` writes index.json, report.md,
report.html, junit.xml and evidence/*.pcapng; ``matrix`` compares runs. ``summary`` holds the
counting rules every format shares.
"""
