"""Issue 14's reproductions, each run as it was reported, with what the command printed and its exit status.

    .venv/bin/python benchmarks/robustness_repros.py              # needs root and the lab for rows 1-4
    .venv/bin/python benchmarks/robustness_repros.py --only 5 6 7 8

One row per reproduction: the defect's number, what was done, the exit status the contract asks for
(unusable input or usage: 2 and one line on stderr; an adapter fault outside a case: 2 and one line;
SIGINT/SIGTERM: 130/143 and a results file whose footer says so; ``lab clean`` that could delete
nothing: 1), the exit status seen, the first line the command wrote on stderr (or stdout) and whether the
contract held (``ok``) — a traceback anywhere, a leftover namespace or a wrong status is ``BROKEN``.
Every command runs in a child process; labs built on purpose use a prefix of this process's own
(``sckr<pid>-``), so that no other lab on the machine is touched. Exit status 1 if any row is BROKEN.

Defect 9 (memory against the number of connections) is measured by ``benchmarks/trace_connections.py``;
here one capture of 20,000 SYN-only connections is traced and its peak resident memory printed. Defect 10
(real captures through SYNPROXY with offloads on) is ``tests/test_trace_real.py``, run here as is.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "trace"
CLIENT, SERVER = str(DATA / "reference-client.pcap"), str(DATA / "reference-server.pcapng")
PY = sys.executable
PREFIX = f"sckr{os.getpid()}-"


class Row:
    def __init__(self, defect: str, what: str, want: str) -> None:
        self.defect, self.what, self.want = defect, what, want
        self.got = "-"
        self.said = ""
        self.problems: list[str] = []

    def line(self) -> str:
        verdict = "ok" if not self.problems else "BROKEN: " + "; ".join(self.problems)
        return f"{self.defect:>3}  {self.what:<46} {self.want:>9} {self.got:>6}  {verdict}\n       said: {self.said}"


def _first(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else "(nothing)")[:150]


def splicecheck(row: Row, argv: list[str], codes: tuple[int, ...], *, one_line: bool = True,
                user: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``splicecheck ARGV`` and grade its status and stderr into ``row``."""
    cmd = [PY, "-m", "splicecheck", *argv]
    if user:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)
    row.got = str(p.returncode)
    row.said = _first(p.stderr) if p.stderr.strip() else _first(p.stdout)
    if p.returncode not in codes:
        row.problems.append(f"exit {p.returncode}")
    if "Traceback" in p.stderr + p.stdout:
        row.problems.append("traceback")
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    if err and err[0].startswith("usage: ") and err[-1].startswith("splicecheck ") and ": error: " in err[-1]:
        row.said = "(argparse's usage lines, then) " + err[-1][:150]  # a usage error: argparse's own form
        err = err[-1:]
    if one_line and len(err) != 1:
        row.problems.append(f"{len(err)} lines on stderr")
    return p


def _netns() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def _footer(path: Path) -> dict[str, object] | None:
    try:
        obj = json.loads(path.read_text().splitlines()[-1])
    except (OSError, IndexError, ValueError):
        return None
    return obj if isinstance(obj, dict) and obj.get("type") == "footer" else None


# -- the reproductions -------------------------------------------------------------------------------

def r1_sigterm_late(tmp: Path) -> list[Row]:
    """SIGTERM 4-5 s into a synproxy run (property and stateful cases running)."""
    rows = []
    for n, delay in enumerate((4.2, 4.8)):
        row = Row("1", f"run --adapter synproxy, SIGTERM after {delay} s", "143")
        rows.append(row)
        _signal_run(row, tmp / f"r1-{n}", signal.SIGTERM, delay)
    return rows


def r2_sigterm_preflight(tmp: Path) -> list[Row]:
    """SIGTERM 0.40-0.50 s after start (preflight), repeated."""
    rows = []
    for n, delay in enumerate((0.40, 0.43, 0.46, 0.50)):
        row = Row("2", f"run --adapter synproxy, SIGTERM after {delay:.2f} s", "143")
        rows.append(row)
        _signal_run(row, tmp / f"r2-{n}", signal.SIGTERM, delay)
    return rows


def _signal_run(row: Row, out: Path, signum: int, delay: float) -> None:
    child = subprocess.Popen([PY, "-m", "splicecheck", "run", "--adapter", "synproxy", "--out", str(out), "-q",
                              "--no-render"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    sent = time.monotonic()
    child.send_signal(signum)
    try:
        _, err = child.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        _, err = child.communicate()
        row.problems.append("did not stop within 10 s")
    took = time.monotonic() - sent
    row.got = str(child.returncode)
    row.said = _first(err) + f" (stopped in {took:.2f} s)"
    if child.returncode != 128 + signum:
        row.problems.append(f"exit {child.returncode}")
    if took > 1.0:
        row.problems.append(f"took {took:.2f} s")
    if "Traceback" in err:
        row.problems.append("traceback")
    foot = _footer(out / "results.jsonl")
    if (out / "results.jsonl").exists() and (foot is None or foot.get("interrupted") != signal.Signals(signum).name):
        row.problems.append(f"footer {foot!r}")
    left = [n for n in _netns() | set(os.listdir("/run/splicecheck") if os.path.isdir("/run/splicecheck") else [])
            if f"-{child.pid}-" in f"-{n}"]
    if left:
        row.problems.append("left behind: " + ", ".join(sorted(left)))


def _lab_child(prefix: str, wrap: list[str] | None = None) -> tuple[subprocess.Popen[str], list[str]]:
    code = textwrap.dedent(f"""
        import time
        from splicecheck.adapters.lab.topology import Lab
        with Lab(prefix={prefix!r}) as lab:
            print(" ".join(lab.names.namespaces), flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([*(wrap or []), PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.kill()
        raise RuntimeError("the lab child did not build its lab: " + child.communicate()[1][-300:])
    return child, line.split()


def _wait_dead(names: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    from splicecheck.adapters.lab import netns

    deadline = time.monotonic() + 10
    while netns.run_liveness(names[0].rsplit("-", 1)[0]) and time.monotonic() < deadline:
        time.sleep(0.05)


def r3_clean_other_pid_ns(tmp: Path) -> list[Row]:
    """A lab built under ``unshare --pid --fork``; ``lab clean`` from outside must spare it."""
    prefix = PREFIX.rstrip("-") + "p-"
    child, names = _lab_child(prefix, ["unshare", "--pid", "--fork", "--kill-child"])
    live = Row("3", "lab clean, live lab in another PID namespace", "0")
    try:
        splicecheck(live, ["lab", "clean", "--prefix", prefix], (0,), one_line=False)
        gone = set(names) - _netns()
        if gone:
            live.problems.append("deleted the live lab's " + ", ".join(sorted(gone)))
        else:
            live.said += f" [its {len(names)} namespaces kept]"
    finally:
        child.kill()  # SIGKILL: the leftovers of a run that is really gone
        child.wait(timeout=10)
    _wait_dead(names)
    dead = Row("3", "lab clean, the same lab after SIGKILL", "0")
    splicecheck(dead, ["lab", "clean", "--prefix", prefix], (0,), one_line=False)
    if set(names) & _netns():
        dead.problems.append("left " + ", ".join(sorted(set(names) & _netns())))
    return [live, dead]


def r4_clean_unprivileged(tmp: Path) -> list[Row]:
    """``lab clean`` as an unprivileged user, with a dead run's leftovers."""
    prefix = PREFIX.rstrip("-") + "u-"
    child, names = _lab_child(prefix)
    child.kill()
    child.wait(timeout=10)
    _wait_dead(names)
    row = Row("4", "lab clean as uid 65534, 3 leftovers", "1")
    try:
        splicecheck(row, ["lab", "clean", "--prefix", prefix], (1,), one_line=False, user=True, cwd=tmp)
        if not set(names) <= _netns():
            row.problems.append("an unprivileged user deleted something?")
    finally:
        root = Row("4", "lab clean as root afterwards", "0")
        splicecheck(root, ["lab", "clean", "--prefix", prefix], (0,), one_line=False)
        if set(names) & _netns():
            root.problems.append("left " + ", ".join(sorted(set(names) & _netns())))
    return [row, root]


def _damaged(tmp: Path, how: str) -> Path:
    data = gzip.compress(Path(CLIENT).read_bytes())
    if how == "truncated":
        data = data[:-30]
    elif how == "bad CRC":
        data = data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]
    else:
        data += b"trailing junk"
    path = tmp / f"{how.replace(' ', '-')}.pcap.gz"
    path.write_bytes(data)
    return path


def r5_gzip(tmp: Path) -> list[Row]:
    rows = []
    # truncated: judged up to the cut and the cut reported (exit 0), or 2 when the cut left no whole record
    for how, codes, want in (("truncated", (0, 2), "0/2+note"), ("bad CRC", (2,), "2"), ("trailing junk", (2,), "2")):
        row = Row("5", f"trace, gzip capture {how}", want)
        p = splicecheck(row, ["trace", str(_damaged(tmp, how)), SERVER, "--out", str(tmp / "o5"), "-q",
                              "--no-render"], codes, one_line=how != "truncated")
        if how == "truncated":  # judged up to the cut; the cut is reported, not hidden
            note = [ln for ln in (p.stdout + p.stderr).splitlines() if "gzip" in ln]
            row.said = _first("\n".join(note)) if note else row.said
            if not note:
                row.problems.append("the cut is not reported")
        rows.append(row)
    return rows


def r6_non_finite(tmp: Path) -> list[Row]:
    rows = []
    for opt in (["--timeout", "nan"], ["--skew", "inf"], ["--idle", "inf"]):
        row = Row("6", "trace " + " ".join(opt), "2")
        splicecheck(row, ["trace", CLIENT, SERVER, "--out", str(tmp / "o6"), *opt], (2,))
        rows.append(row)
    return rows


def r7_outputs(tmp: Path) -> list[Row]:
    afile = tmp / "a-file"
    afile.write_text("x")
    ro = tmp / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    cases = [
        ("run --out FILE", ["run", "--adapter", "reference", "--case", "ADDR-REWRITE", "--out", str(afile)]),
        ("trace --out FILE", ["trace", CLIENT, SERVER, "--out", str(afile)]),
        ("trace --dump-params DIR", ["trace", CLIENT, SERVER, "--out", str(tmp / "o7"), "--dump-params", str(tmp)]),
        ("trace --dump-params /x/y.json (no /x)", ["trace", CLIENT, SERVER, "--out", str(tmp / "o7"),
                                                   "--dump-params", str(tmp / "x" / "y.json")]),
        ("trace --dump-params /dev/full (disk full)", ["trace", CLIENT, SERVER, "--out", str(tmp / "o7"),
                                                       "--dump-params", "/dev/full", "-q", "--no-render"]),
        ("trace --out in a read-only folder (uid 65534)", ["trace", CLIENT, SERVER, "--out", str(ro / "o")]),
    ]
    rows = []
    for what, argv in cases:
        row = Row("7", what, "2")
        splicecheck(row, argv, (2,), user="read-only" in what, cwd=tmp)
        rows.append(row)
    if (tmp / "x").exists():
        rows[3].problems.append("created the missing folder")
    return rows


BROKEN = "tests.robust_adapters:Broken"


def r8_adapters(tmp: Path) -> list[Row]:
    pkg = tmp / "badpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "syntax.py").write_text("def broken(:\n")
    env_path = f"{ROOT}{os.pathsep}{tmp}"
    cases = [
        (f"{BROKEN}:init", "__init__ raises", 2), (f"{BROKEN}:info", "info() raises", 2),
        (f"{BROKEN}:missing", "missing() raises", 2), (f"{BROKEN}:close", "close() raises (reports rendered)", 2),
        ("tests.no_such_module:X", "a module that fails to import", 2),
        ("badpkg.syntax:X", "a module with a syntax error", 2), ("seqadj-ftp:zzz", "seqadj-ftp:zzz", 2),
        (f"{BROKEN}:exit", "inject() raises SystemExit", 1),
    ]
    rows = []
    os.environ["PYTHONPATH"] = env_path
    try:
        for spec, what, code in cases:
            out = tmp / f"o8-{len(rows)}"
            row = Row("8", "run --adapter: " + what, str(code) + (" (ERROR)" if code == 1 else ""))
            splicecheck(row, ["run", "--adapter", spec, "--case", "ADDR-REWRITE", "--case", "SEQ-MAP", "--out",
                              str(out), "-q", *(["--no-render"] if code == 1 else [])], (code,), one_line=code == 2)
            recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()] \
                if (out / "results.jsonl").exists() else []
            if "close" in what and not (out / "report.md").exists():
                row.problems.append("no reports rendered")
            if code == 1:
                errors = [r for r in recs if r.get("type") == "case" and r.get("verdict") == "ERROR"]
                row.said = f"{len(errors)} case(s) ERROR: " + (str(errors[0].get("reason", ""))[:80] if errors else "")
                if not errors or not recs or recs[-1].get("type") != "footer":
                    row.problems.append("no ERROR cases or no footer")
            rows.append(row)
    finally:
        del os.environ["PYTHONPATH"]
    return rows


def r9_memory(tmp: Path) -> list[Row]:
    where = tmp / "syn-20000"
    where.mkdir()
    subprocess.run([PY, str(ROOT / "benchmarks" / "trace_connections.py"), "--generate", "syn", "20000", "1",
                    str(where)], check=True)
    row = Row("9", "trace 20,000 SYN-only connections (peak RSS)", "<=100 MB")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execv(PY, [PY, "-m", "splicecheck", "trace", str(where / "client.pcap"), str(where / "server.pcap"),
                      "--out", str(where / "out"), "--idle", "5", "-q"])
    _pid, status, usage = os.wait4(pid, 0)
    mb = usage.ru_maxrss / 1024
    row.got = f"{mb:.0f} MB"
    code = os.waitstatus_to_exitcode(status)
    row.said = f"exit {code} (2: nothing judged, SYNs only); {usage.ru_utime + usage.ru_stime:.1f} s CPU"
    if mb > 100 or code != 2:
        row.problems.append(f"{mb:.0f} MB, exit {code}")
    return [row]


def r10_real(tmp: Path) -> list[Row]:
    row = Row("10", "tests/test_trace_real.py (SYNPROXY, offloads on)", "0")
    p = subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-rs",
                        str(ROOT / "tests" / "test_trace_real.py")], capture_output=True, text=True, cwd=ROOT,
                       timeout=900)
    row.got = str(p.returncode)
    row.said = [ln for ln in p.stdout.splitlines() if ln.strip()][-1][:150] if p.stdout.strip() else _first(p.stderr)
    if p.returncode != 0 or "skipped" in row.said:
        row.problems.append("failed or skipped")
    return [row]


REPROS: dict[str, Callable[[Path], list[Row]]] = {
    "1": r1_sigterm_late, "2": r2_sigterm_preflight, "3": r3_clean_other_pid_ns, "4": r4_clean_unprivileged,
    "5": r5_gzip, "6": r6_non_finite, "7": r7_outputs, "8": r8_adapters, "9": r9_memory, "10": r10_real,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=sorted(REPROS, key=int), default=sorted(REPROS, key=int))
    args = p.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    broken = 0
    print(f"{'#':>3}  {'reproduction':<46} {'wanted':>9} {'got':>6}  contract")
    with tempfile.TemporaryDirectory(prefix="sc-repros-") as name:
        tmp = Path(name)
        tmp.chmod(0o755)  # rows run as uid 65534 need to reach their files
        for key in args.only:
            where = tmp / f"d{key}"
            where.mkdir()
            where.chmod(0o777)
            try:
                rows = REPROS[key](where)
            except Exception as exc:  # a reproduction that could not run is said, not hidden
                rows = [Row(key, "(could not run)", "-")]
                rows[0].problems.append(f"{type(exc).__name__}: {exc}")
            for row in rows:
                broken += bool(row.problems)
                print(row.line(), flush=True)
            ro = where / "read-only"
            if ro.exists():
                ro.chmod(0o755)
    print(f"{broken} row(s) BROKEN")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
