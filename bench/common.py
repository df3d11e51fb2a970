"""Shared helpers of the benchmarks: machine header, statistics, tables, child processes.

The benchmarks are plain scripts (not part of the pytest run). Each one prints a header and
a plain-text table, and with ``--json FILE`` writes its section (rows and raw numbers) so
that ``run_all.py`` can merge the sections into one table (text and reStructuredText).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterable, List, Optional, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYHIK_OVERRIDE = os.environ.get("BENCH_PYHIK_PATH") or None
"""A folder holding another ``pyhik`` to measure instead of this tree's (see README.md)."""
for _path in [str(REPO / "tests"), str(REPO)] + ([PYHIK_OVERRIDE] if PYHIK_OVERRIDE else []):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

PUBLIC_PYHIK_VERSION = "0.4.8"
PUBLIC_VENV = BENCH_DIR / ".venv-pyhik048"
HOST = "127.0.0.1"
USER, PASSWORD = "admin", "12345"
REPLY_TIMEOUT_S = 30.0
KIB = 1024
MIB = 1024 * 1024


# -- machine ----------------------------------------------------------------------------
def _first_line_with(path: str, key: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine_info() -> Dict[str, Any]:
    """CPU model, cores, RAM, OS, Python and the pyhik versions, as a dict."""
    mem_kib = _first_line_with("/proc/meminfo", "MemTotal")
    ram = f"{int(mem_kib.split()[0]) / MIB:.1f} GiB" if mem_kib else "?"
    import pyhik
    return {
        "cpu": _first_line_with("/proc/cpuinfo", "model name") or platform.processor() or "?",
        "cores": os.cpu_count(),
        "ram": ram,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "pyhik": getattr(pyhik, "__version__", "?"),
        "public_pyhik": PUBLIC_PYHIK_VERSION,
    }


def header_text(title: str) -> str:
    info = machine_info()
    return "\n".join([
        f"== {title} ==",
        f"machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM",
        f"os:      {info['os']}",
        f"python:  {info['python']}",
        f"pyhik:   {'BENCH_PYHIK_PATH=' + PYHIK_OVERRIDE if PYHIK_OVERRIDE else 'this tree'} "
        f"{info['pyhik']} (public pyhik for comparison: {info['public_pyhik']}, own venv)",
    ])


# -- statistics -------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (``pct`` in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rss_kib() -> int:
    """This process's resident set (VmRSS) in KiB."""
    value = _first_line_with("/proc/self/status", "VmRSS")
    return int(value.split()[0]) if value else 0


# -- tables -----------------------------------------------------------------------------
def row(metric: str, value: str, target: str = "", ok: Optional[bool] = None,
        note: str = "") -> Dict[str, Any]:
    """One line of a result table; ``ok`` None means "no target"."""
    return {"metric": metric, "value": value, "target": target, "ok": ok, "note": note}


def verdict(ok: Optional[bool]) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


_COLUMNS = ("Measure", "Value", "Target", "Result")


def _cells(section: Dict[str, Any]) -> List[List[str]]:
    out = []
    for r in section["rows"]:
        value = r["value"] + (f" ({r['note']})" if r.get("note") else "")
        out.append([r["metric"], value, r["target"], verdict(r["ok"])])
    return out


def text_table(sections: Iterable[Dict[str, Any]]) -> str:
    """Plain-text table of one or more sections (title line, then rows)."""
    sections = list(sections)
    all_cells = [c for s in sections for c in _cells(s)] + [list(_COLUMNS)]
    widths = [max(len(c[i]) for c in all_cells) for i in range(len(_COLUMNS))]
    rule = "  ".join("-" * w for w in widths)
    lines = ["  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths)).rstrip(), rule]
    for section in sections:
        lines.append(f"[{section['title']}]")
        for cells in _cells(section):
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    return "\n".join(lines)


def _rst_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("|", "\\|")


def rst_table(sections: Iterable[Dict[str, Any]]) -> str:
    """The same as :func:`text_table`, as a reStructuredText grid table."""
    sections = list(sections)
    body: List[List[str]] = []
    for section in sections:
        body.append([f"**{_rst_escape(section['title'])}**", "", "", ""])
        body += [[_rst_escape(c) for c in cells] for cells in _cells(section)]
    head = list(_COLUMNS)
    widths = [max(len(r[i]) for r in body + [head]) for i in range(len(head))]

    def line(cells: List[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [rule, line(head), rule.replace("-", "=")]
    for cells in body:
        out += [line(cells), rule]
    return "\n".join(out)


def section(title: str, rows: List[Dict[str, Any]], raw: Dict[str, Any]) -> Dict[str, Any]:
    return {"title": title, "rows": rows, "raw": raw}


def arg_parser(description: str, *, public: bool = False) -> argparse.ArgumentParser:
    """--quick and --json; with ``public``, --no-public too (for a comparison benchmark)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="shorter runs (rougher figures)")
    parser.add_argument("--json", metavar="FILE", help="write the section(s) as JSON here")
    if public:
        parser.add_argument("--no-public", action="store_true", help="skip the public pyhik")
    return parser


def finish(sections: List[Dict[str, Any]], json_file: Optional[str]) -> None:
    """Print the table of ``sections`` and write them to ``json_file`` if given."""
    print()
    print(text_table(sections))
    sys.stdout.flush()
    if json_file:
        Path(json_file).write_text(json.dumps(sections, indent=1, default=str), encoding="utf-8")


# -- child processes speaking JSON lines ------------------------------------------------
class ChildError(RuntimeError):
    """A benchmark child process failed, went silent or answered an error."""


class JsonProc:
    """A child process driven by JSON lines on stdin/stdout; stderr goes to a temp file."""

    def __init__(self, argv: List[str], *, env: Optional[Dict[str, str]] = None,
                 name: str = "child") -> None:
        self.name = name
        self._log: IO[bytes] = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, cwd=str(BENCH_DIR),
                                     text=True, bufsize=1)
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, obj: Dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(obj) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            raise ChildError(f"{self.name} is gone ({err}); its log:\n{self.log_tail()}") from None

    def recv(self, timeout: float = REPLY_TIMEOUT_S) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildError(f"{self.name}: no answer within {timeout:.0f} s; its log:\n"
                                 f"{self.log_tail()}")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise ChildError(f"{self.name} exited (rc={self.proc.poll()}); its log:\n"
                                 f"{self.log_tail()}")
            line = line.strip()
            if not line.startswith("{"):
                continue  # stray output of a library; only JSON lines are answers
            reply = json.loads(line)
            if "error" in reply:
                raise ChildError(f"{self.name}: {reply['error']}")
            return reply

    def call(self, cmd: str, reply_s: Optional[float] = None, **kwargs: Any) -> Dict[str, Any]:
        """Send a command; wait for its answer (by default for the command's own
        ``timeout`` argument plus REPLY_TIMEOUT_S)."""
        self.send(dict(kwargs, cmd=cmd))
        if reply_s is None:
            reply_s = REPLY_TIMEOUT_S + float(kwargs.get("timeout") or 0)
        return self.recv(reply_s)

    def log_tail(self, limit: int = 3000) -> str:
        try:
            self._log.seek(0)
            data = self._log.read()
        except (OSError, ValueError):
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def close(self, timeout: float = 5.0) -> None:
        """Ask to quit, then end the child by its pid if it does not."""
        if self.proc.poll() is None:
            try:
                self.send({"cmd": "quit"})
            except ChildError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._log.close()

    def __enter__(self) -> "JsonProc":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def our_env(measured: bool = True) -> Dict[str, str]:
    """Environment for this pyhik: the tree holding bench/, or for a measured client
    BENCH_PYHIK_PATH if set (a folder holding another ``pyhik`` package, to weigh a change
    against this tree)."""
    env = dict(os.environ)
    override = os.environ.get("BENCH_PYHIK_PATH") if measured else None
    env["PYTHONPATH"] = override or str(REPO)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def clean_env() -> Dict[str, str]:
    """Environment for the public pyhik: nothing that would put this tree on sys.path."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}


def start_emulator(**devices: Any) -> JsonProc:
    """Start bench/emulator_proc.py (its own process) and wait until it answers."""
    proc = JsonProc([sys.executable, str(BENCH_DIR / "emulator_proc.py")],
                    env=our_env(measured=False), name="emulator")
    proc.recv()  # the greeting
    return proc


def public_python(log: Any = print) -> Optional[str]:
    """The venv python with pyhik==0.4.8 (made on first use), or None if it cannot be had."""
    python = PUBLIC_VENV / "bin" / "python"
    probe = [str(python), "-c", "import pyhik.constants as c, sys; "
             f"sys.exit(c.__version__ != '{PUBLIC_PYHIK_VERSION}')"]
    if python.exists() and subprocess.run(probe, env=clean_env(), cwd="/",
                                          capture_output=True).returncode == 0:
        return str(python)
    log(f"(making {PUBLIC_VENV.name} with pyhik=={PUBLIC_PYHIK_VERSION} from the registry)")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PUBLIC_VENV)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        f"pyhik=={PUBLIC_PYHIK_VERSION}"], check=True, capture_output=True,
                       timeout=600, env=clean_env())
    except (subprocess.SubprocessError, OSError) as err:
        log(f"(cannot install the public pyhik: {err})")
        return None
    ok = subprocess.run(probe, env=clean_env(), cwd="/", capture_output=True).returncode == 0
    return str(python) if ok else None


def start_client(port: int, *, public: bool = False, python: Optional[str] = None,
                 name: str = "client", ready_timeout: float = 60.0) -> JsonProc:
    """Start bench/camera_client.py against 127.0.0.1:port with our or the public pyhik."""
    argv = [python or sys.executable, str(BENCH_DIR / "camera_client.py"), "--port", str(port),
            "--user", USER, "--password", PASSWORD]
    proc = JsonProc(argv, env=clean_env() if public else our_env(), name=name)
    proc.recv(ready_timeout)
    return proc


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"
