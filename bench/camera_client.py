"""The measured client: one ``HikCamera`` (the public pyhik API) driven by JSON lines.

Run by the benchmarks with either this tree's pyhik or the public pyhik (its own venv):
both expose ``pyhik.hikvision.HikCamera`` with ``add_update_callback`` and
``start_stream``, and nothing else is used, so both sides run the very same code here.
It imports nothing of the benchmarks or of this tree by itself.

It connects to 127.0.0.1:PORT, registers a callback on ``<id>.Motion.1``, starts the
stream and prints a greeting. Commands (stdin, one JSON line each; answers on stdout):
  go      n, timeout, rss_sample_ms   -> "armed" at once, then, once n callbacks have come
                                          (or on timeout): times, states, cpu_s, rss figures
  stop    cap_s                        -> how long disconnect() took (cap: gave up waiting)
  start                                -> start_stream() again (after a stop)
  quit
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import threading
import time

from pyhik.hikvision import HikCamera

MAX_WAIT_S = 900.0
CONNECT_WAIT_S = 15.0


def _rss_kib() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as lines:
            for line in lines:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _threads() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as lines:
            for line in lines:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return threading.active_count()


def _version() -> str:
    try:
        from pyhik.constants import __version__
        return str(__version__)
    except ImportError:
        import pyhik
        return str(getattr(pyhik, "__version__", "?"))


class Recorder:
    """Callback timestamps (time.monotonic) and the sensor's state at each, while armed."""

    def __init__(self, cam: HikCamera) -> None:
        self.cam = cam
        self.armed = False
        self.target = 0
        self.times: list = []
        self.states: list = []
        self.done = threading.Event()

    def arm(self, n: int) -> None:
        self.times, self.states = [], []
        self.target = n
        self.done.clear()
        self.armed = True

    def __call__(self, msg: str) -> None:
        if not self.armed:
            return
        now = time.monotonic()
        attrs = self.cam.fetch_attributes("Motion", 1)
        self.times.append(now)
        self.states.append(bool(attrs[0]) if attrs else None)
        if len(self.times) >= self.target:
            self.done.set()


def _sample_rss(stop: threading.Event, interval_s: float, peak: list) -> None:
    while not stop.wait(interval_s):
        peak[0] = max(peak[0], _rss_kib())


def go(rec: Recorder, msg: dict, out) -> dict:
    n = int(msg["n"])
    timeout = min(float(msg.get("timeout", 60)), MAX_WAIT_S)
    # The connect callback must not count: arm only once the stream is up (bounded wait).
    _wait_connected(rec.cam)
    time.sleep(0.05)
    sample_ms = float(msg.get("rss_sample_ms", 0))
    rss0, maxrss0 = _rss_kib(), _maxrss_kib()
    peak = [rss0]
    stop = threading.Event()
    sampler = None
    if sample_ms > 0:
        sampler = threading.Thread(target=_sample_rss, args=(stop, sample_ms / 1000, peak),
                                   daemon=True)
        sampler.start()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, t0 = time.process_time(), time.monotonic()
    rec.arm(n)
    out.write(json.dumps({"armed": True, "t": t0}) + "\n")
    out.flush()
    completed = rec.done.wait(timeout)
    cpu1, t1 = time.process_time(), time.monotonic()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    rec.armed = False
    stop.set()
    if sampler is not None:
        sampler.join(1.0)
    rss1, maxrss1 = _rss_kib(), _maxrss_kib()
    peak_kib = max(peak[0], rss1, maxrss1 if maxrss1 > maxrss0 else 0)
    times = list(rec.times)
    return {"completed": completed, "count": len(times), "times": times,
            "states": list(rec.states), "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0,
            "user_s": ru1.ru_utime - ru0.ru_utime, "sys_s": ru1.ru_stime - ru0.ru_stime,
            "ctx_switches": (ru1.ru_nvcsw + ru1.ru_nivcsw) - (ru0.ru_nvcsw + ru0.ru_nivcsw),
            "rss_before_kib": rss0, "rss_after_kib": rss1, "rss_peak_kib": peak_kib,
            "threads": _threads(), "connected": bool(rec.cam.stream_connected)}


def _wait_connected(cam: HikCamera) -> bool:
    deadline = time.monotonic() + CONNECT_WAIT_S
    while not cam.stream_connected and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(cam.stream_connected)


def stop(cam: HikCamera, msg: dict) -> dict:
    """Time ``disconnect()`` once the stream is up and the reader is blocked in a read."""
    cap = min(float(msg.get("cap_s", 5.0)), 120.0)
    connected = _wait_connected(cam)
    time.sleep(float(msg.get("settle_s", 0.2)))
    done = threading.Event()

    def run() -> None:
        cam.disconnect()
        done.set()

    t0 = time.monotonic()
    threading.Thread(target=run, daemon=True).start()
    returned = done.wait(cap)
    return {"returned": returned, "stop_s": time.monotonic() - t0 if returned else cap,
            "was_connected": connected, "threads_after": _threads()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="12345")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    out = sys.stdout
    cam = HikCamera("http://127.0.0.1", args.port, args.user, args.password)
    rec = Recorder(cam)
    cam.add_update_callback(rec, f"{cam.cam_id}.Motion.1")
    cam.start_stream()
    import pyhik
    out.write(json.dumps({"ready": cam.cam_id is not None, "version": _version(),
                          "module": os.path.dirname(pyhik.__file__), "pid": os.getpid(),
                          "threads": _threads(), "rss_kib": _rss_kib()}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        if cmd == "quit":
            break
        if cmd == "go":
            reply = go(rec, msg, out)
        elif cmd == "stop":
            reply = stop(cam, msg)
        elif cmd == "start":  # again, after a stop (this pyhik only: 0.4.8 cannot)
            cam.start_stream()
            reply = {"ok": True}
        else:
            reply = {"error": f"unknown command {cmd!r}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    out.flush()
    os._exit(0)  # the public pyhik's stream thread is not a daemon and may never end


if __name__ == "__main__":
    main()
