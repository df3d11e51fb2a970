"""The measured client of the scale benchmark: many ``HikCamera`` in one process.

Driven by JSON lines on stdin (answers on stdout):
  open     ports                 -> one HikCamera per port, a callback on each one's
                                    ``<id>.Motion.1``, every stream started; answers once all
                                    are connected (bounded): failed, threads, rss
  go                             -> counting starts (cpu and wall clocks too); "armed"
  collect  expected, grace_s     -> waits (bounded) until every camera has its expected
                                    callbacks; counts, cpu_s, wall_s, threads, rss, and with
                                    ``times`` every callback's time.monotonic() per camera
  quit

Options for the profiling experiments (the interpreter, or one library constant in this
process only; never the library's code):
``--switchinterval S`` (sys.setswitchinterval), ``--gc-freeze`` (gc.freeze() once every
camera is open), ``--gc-threshold A,B,C`` (gc.set_threshold), ``--gc-off``, and
``--py-spy FILE`` (py-spy samples the thread holding the GIL, during the run only),
``--tracemalloc`` (what the Python allocators hold at the end, by line),
``--read-size N`` (this pyhik's pyhik.stream.transport.READ_SIZE, monkeypatched). Garbage
collections during the run are always counted and timed per generation (gc.callbacks).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from typing import Any, Dict, List

from pyhik.hikvision import HikCamera

CONNECT_WAIT_S = 120.0
SAMPLE_S = 0.5
CENSUS_AT = 10
"""The young generation is described once, before the run's 11th gen0 collection."""


def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii", errors="replace") as lines:
        for line in lines:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


class Counter:
    def __init__(self) -> None:
        self.armed = False
        self.n = 0
        self.last = 0.0
        self.times: List[float] = []

    def __call__(self, msg: str) -> None:
        if self.armed:
            self.last = time.monotonic()
            self.n += 1
            self.times.append(self.last)


def _census(objects: List[Any]) -> Dict[str, Any]:
    """What a young-generation collection is about to traverse: objects and referents
    by type (the traversal visits every referent of every young object)."""
    by_type: Dict[str, List[int]] = {}
    for obj in objects:
        counts = by_type.setdefault(type(obj).__qualname__, [0, 0])
        counts[0] += 1
        counts[1] += len(gc.get_referents(obj))
    top = sorted(by_type.items(), key=lambda kv: -kv[1][1])[:12]
    return {"objects": len(objects), "referents": sum(v[1] for v in by_type.values()),
            "top_by_referents": dict(top)}


class GcTimer:
    """Count and time the collections of each generation while armed (gc.callbacks):
    wall time, and the collecting thread's own CPU time (a gap between the two is time
    the collector spent off the CPU: descheduled, or in a finalizer that let the GIL go)."""

    def __init__(self) -> None:
        self.armed = False
        self.started = (0.0, 0.0)
        self.pauses: Dict[int, List[float]] = {0: [], 1: [], 2: []}
        self.cpu: Dict[int, List[float]] = {0: [], 1: [], 2: []}
        self.collected: Dict[int, int] = {0: 0, 1: 0, 2: 0}
        self.census: Dict[str, Any] = {}

    def __call__(self, phase: str, info: Dict[str, Any]) -> None:
        if phase == "start":
            if self.armed and info["generation"] == 0 and len(self.pauses[0]) == CENSUS_AT:
                self.census = _census(gc.get_objects(0))
            self.started = (time.perf_counter(), time.thread_time())
        elif self.armed:
            gen = info["generation"]
            self.pauses[gen].append(time.perf_counter() - self.started[0])
            self.cpu[gen].append(time.thread_time() - self.started[1])
            self.collected[gen] += info.get("collected", 0)

    def summary(self) -> Dict[str, Any]:
        return {f"gen{g}": {"n": len(p), "total_ms": 1000 * sum(p),
                            "max_ms": 1000 * max(p, default=0.0),
                            "cpu_ms": 1000 * sum(self.cpu[g]),
                            "max_cpu_ms": 1000 * max(self.cpu[g], default=0.0),
                            "collected": self.collected[g]}
                for g, p in self.pauses.items()}


def _malloc_top(n: int = 15) -> Dict[str, Any]:
    """What the Python allocators hold now (tracemalloc): the total, and the lines that
    allocated most of it. Memory outside them (thread stacks, glibc's arenas, the
    interpreter's per-thread state) is RSS less this total."""
    current, peak = tracemalloc.get_traced_memory()
    stats = tracemalloc.take_snapshot().statistics("lineno")[:n]
    return {"current_kib": current // 1024, "peak_kib": peak // 1024,
            "top": [{"where": str(s.traceback), "kib": s.size // 1024, "count": s.count}
                    for s in stats]}


def _smaps() -> Dict[str, Any]:
    """The client's resident memory by kind of mapping (/proc/self/smaps, KiB): thread
    stacks (8 MiB less a guard page, told by their size), CPython's object arenas (1 MiB
    anonymous maps), the main heap, files, and the other anonymous maps (glibc's
    per-thread malloc arenas among them), the largest of those listed."""
    kinds: Dict[str, List[int]] = {}
    others: List[List[int]] = []
    size, kind = 0, "other"
    try:
        with open("/proc/self/smaps", encoding="ascii", errors="replace") as lines:
            for line in lines:
                fields = line.split()
                if "-" in fields[0] and not fields[0].endswith(":"):
                    lo, hi = (int(v, 16) for v in fields[0].split("-"))
                    size = (hi - lo) // 1024
                    path = fields[5] if len(fields) > 5 else ""
                    kind = ("heap" if path == "[heap]" else "file" if path.startswith("/")
                            else "thread stacks" if 8180 <= size <= 8192
                            else "object arenas" if size == 1024 else "anon other")
                elif fields[0] == "Rss:":
                    rss = int(fields[1])
                    entry = kinds.setdefault(kind, [0, 0])
                    entry[0] += 1
                    entry[1] += rss
                    if kind == "anon other" and rss:
                        others.append([size, rss])
    except OSError:
        return {}
    out: Dict[str, Any] = {k: {"maps": v[0], "rss_kib": v[1]} for k, v in kinds.items()}
    out["largest anon other (size, rss)"] = sorted(others, key=lambda x: -x[1])[:8]
    return out


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--switchinterval", type=float)
    parser.add_argument("--gc-freeze", action="store_true")
    parser.add_argument("--gc-threshold")
    parser.add_argument("--gc-off", action="store_true")
    parser.add_argument("--py-spy", metavar="FILE")
    parser.add_argument("--read-size", type=int)
    parser.add_argument("--tracemalloc", action="store_true")
    return parser.parse_args()


def _start_py_spy(out_file: str) -> "subprocess.Popen[bytes]":
    """Sample this process with py-spy (raw collapsed stacks, without pausing it) from now
    until _stop_py_spy: the run only, not the start-up."""
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    return subprocess.Popen([spy, "record", "--pid", str(os.getpid()), "--nonblocking",
                             "--gil", "--threads", "--rate", "100", "--format", "raw",
                             "--output", out_file], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _stop_py_spy(proc: "subprocess.Popen[bytes]") -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _allow_many_sockets() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Sampler:
    """Peak threads and RSS while counting."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads_max = 0
        self.rss_max = 0
        self.thread = threading.Thread(target=self._run, daemon=True, name="bench-sampler")

    def _run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            self.threads_max = max(self.threads_max, _status("Threads:"))
            self.rss_max = max(self.rss_max, _status("VmRSS:"))


def main() -> int:
    opts = _options()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    _allow_many_sockets()
    if opts.switchinterval:
        sys.setswitchinterval(opts.switchinterval)
    if opts.read_size:
        import pyhik.stream.transport  # this pyhik only: its stream read size, patched here alone
        pyhik.stream.transport.READ_SIZE = opts.read_size  # type: ignore[attr-defined]
    if opts.tracemalloc:
        tracemalloc.start()
    if opts.gc_threshold:
        gc.set_threshold(*(int(v) for v in opts.gc_threshold.split(",")))
    gc_timer = GcTimer()
    gc.callbacks.append(gc_timer)
    spy = None
    out = sys.stdout
    cams: List[HikCamera] = []
    counters: List[Counter] = []
    sampler = Sampler()
    cpu0 = t0 = 0.0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    out.write(json.dumps({"hello": True, "pid": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        if cmd == "quit":
            break
        if cmd == "open":
            t_open = time.monotonic()
            failed = 0
            for port in msg["ports"]:
                cam = HikCamera("http://127.0.0.1", int(port), msg.get("user", "admin"),
                                msg.get("password", "12345"))
                counter = Counter()
                if cam.cam_id is None:
                    failed += 1
                else:
                    cam.add_update_callback(counter, f"{cam.cam_id}.Motion.1")
                cams.append(cam)
                counters.append(counter)
            for cam in cams:
                cam.start_stream()
            deadline = time.monotonic() + CONNECT_WAIT_S
            while time.monotonic() < deadline and not all(c.stream_connected for c in cams):
                time.sleep(0.05)
            reply: Dict[str, Any] = {
                "failed": failed, "connected": sum(1 for c in cams if c.stream_connected),
                "open_s": time.monotonic() - t_open, "threads": _status("Threads:"),
                "gc_objects": len(gc.get_objects()), "gc_counts": gc.get_count(),
                "python_threads": threading.active_count(), "rss_kib": _status("VmRSS:")}
        elif cmd == "go":
            time.sleep(0.2)  # let connect callbacks settle before counting
            if opts.gc_off:
                gc.disable()
            if opts.gc_freeze:
                gc_t0 = time.perf_counter(), time.thread_time()
                gc.collect()
                gc_took = time.perf_counter() - gc_t0[0], time.thread_time() - gc_t0[1]
                gc.freeze()
            for counter in counters:
                counter.n = 0
                counter.times = []
                counter.armed = True
            gc_timer.armed = True
            if opts.py_spy:
                spy = _start_py_spy(opts.py_spy)
            sampler.thread.start()
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            cpu0, t0 = time.process_time(), time.monotonic()
            reply = {"armed": True, "t": t0, "rss_kib": _status("VmRSS:")}
            if opts.gc_freeze:
                reply["collect_before_freeze_ms"] = [1000 * v for v in gc_took]
        elif cmd == "collect":
            cpu1, t1 = time.process_time(), time.monotonic()
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            expected = msg["expected"]
            deadline = time.monotonic() + min(float(msg.get("grace_s", 5.0)), 60.0)
            while time.monotonic() < deadline and any(
                    c.n < e for c, e in zip(counters, expected)):
                time.sleep(0.05)
            for counter in counters:
                counter.armed = False
            gc_timer.armed = False
            sampler.stop.set()
            if spy is not None:
                _stop_py_spy(spy)
            reply = {"counts": [c.n for c in counters], "cpu_s": cpu1 - cpu0,
                     "gc": gc_timer.summary(), "gc_young_census": gc_timer.census,
                     "switchinterval": sys.getswitchinterval(),
                     "user_s": ru1.ru_utime - ru0.ru_utime, "sys_s": ru1.ru_stime - ru0.ru_stime,
                     "voluntary_switches": ru1.ru_nvcsw - ru0.ru_nvcsw,
                     "involuntary_switches": ru1.ru_nivcsw - ru0.ru_nivcsw,
                     "wall_s": t1 - t0, "threads": _status("Threads:"),
                     "python_threads": threading.active_count(),
                     "threads_max": max(sampler.threads_max, _status("Threads:")),
                     "rss_kib": _status("VmRSS:"), "smaps": _smaps(),
                     "rss_max_kib": max(sampler.rss_max, _status("VmRSS:")),
                     "connected": sum(1 for c in cams if c.stream_connected)}
            if opts.tracemalloc:
                reply["tracemalloc"] = _malloc_top()
            if msg.get("times"):
                reply["times"] = [c.times for c in counters]
        else:
            reply = {"error": f"unknown command {cmd!r}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    for cam in cams:
        threading.Thread(target=cam.disconnect, daemon=True).start()
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
