"""``python -m splicecheck``: the command line.

A SIGTERM or SIGHUP that comes while the interpreter still imports the command line (before
:func:`splicecheck.cli.main` installs its handlers: a few tenths of a second, more on a loaded machine)
would kill the process by the signal's default action, and a SIGINT would print a KeyboardInterrupt
traceback from inside some import. Nothing exists yet to tear down or close, so either ends the process
at once with the status the contract gives an interrupted run, 128 + the signal, and no traceback."""

import signal

_EARLY = (signal.SIGTERM, signal.SIGHUP)


def _early(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


for _s in _EARLY:
    signal.signal(_s, _early)
try:
    from .cli import main
except KeyboardInterrupt:
    raise SystemExit(128 + signal.SIGINT) from None
for _s in _EARLY:  # main() installs its own handlers over the default ones, from its first line
    signal.signal(_s, signal.SIG_DFL)

raise SystemExit(main())
