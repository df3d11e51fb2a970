"""Profile the client side of the end-to-end run: where does this pyhik spend its CPU?

The emulated camera runs in its own process; a ``HikCamera`` client runs here and gets
N alerts (VMD alternating, as fast as possible). Two tools:
* ``cprofile`` (default): cProfile around the stream thread's work (the watcher's
  ``_stream_once`` is wrapped in this process only); exact call counts, some overhead.
* ``py-spy``: samples bench/camera_client.py in its own process (only threads holding
  the GIL); needs ``pip install py-spy``. Prints self and inclusive shares.

    python3 bench/profile_e2e.py [--tool cprofile|py-spy] [--alerts N] [--close-delimited]
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import logging
import pstats
import re
import shutil
import subprocess
import tempfile
import threading
import time

import common


def _emulator(chunked: bool):
    emu = common.start_emulator()
    port = emu.call("start", devices=[{"name": "bench-profile", "chunked": chunked}])["ports"][0]
    return emu, port


def with_cprofile(n: int, chunked: bool, top: int) -> None:
    from pyhik.hikvision import HikCamera
    from pyhik.stream import watcher
    profile = cProfile.Profile()
    original = watcher.AlertWatcher._stream_once

    def profiled(self, run):  # type: ignore[no-untyped-def]
        profile.enable()
        try:
            return original(self, run)
        finally:
            profile.disable()

    watcher.AlertWatcher._stream_once = profiled  # this process only
    emu, port = _emulator(chunked)
    got = threading.Event()
    count = [0]
    try:
        cam = HikCamera("http://127.0.0.1", port, common.USER, common.PASSWORD)

        def callback(msg: str) -> None:
            count[0] += 1
            if count[0] >= n + 1:  # + the connect callback
                got.set()

        cam.add_update_callback(callback, f"{cam.cam_id}.Motion.1")
        cam.start_stream()
        emu.call("wait_streams", dev=0, n=1, timeout=10)
        time.sleep(0.3)
        t0 = time.monotonic()
        emu.call("push_fast", dev=0, n=n, reply_s=120)
        got.wait(120)
        print(f"{count[0] - 1} callbacks in {time.monotonic() - t0:.2f} s (under cProfile)")
        cam.disconnect()
    finally:
        emu.close()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def _aggregate(raw_file: str, top: int) -> None:
    own: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    total = 0
    with open(raw_file, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            total += int(count)
            own[frames[-1]] += int(count)
            for frame in {re.sub(r":\d+\)", ")", f) for f in frames}:
                incl[frame] += int(count)
    print(f"{total} samples (threads holding the GIL)")
    for title, counter in (("self", own), ("inclusive", incl)):
        print(f"--- {title}")
        for frame, count in counter.most_common(top):
            print(f"{100 * count / total:5.1f}%  {frame}")


def with_py_spy(n: int, chunked: bool, top: int) -> None:
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    emu, port = _emulator(chunked)
    client = common.start_client(port, name="pyhik client")
    try:
        emu.call("wait_streams", dev=0, n=1, timeout=10)
        client.call("go", n=n, timeout=120)
        with tempfile.NamedTemporaryFile(suffix=".txt") as raw:
            spy = subprocess.Popen(["py-spy", "record", "-p", str(client.proc.pid), "-r", "250",
                                    "--gil", "-f", "raw", "-o", raw.name, "-d", "120"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            pushed = emu.call("push_fast", dev=0, n=n, reply_s=120)
            res = client.recv(150)
            spy.send_signal(2)
            spy.wait(30)
            rate = res["count"] / (res["times"][-1] - pushed["t_first"])
            print(f"{res['count']} callbacks, {rate:,.0f} alerts/s, "
                  f"{res['cpu_s'] / res['count'] * 1e6:.1f} us CPU per alert "
                  f"(user {res['user_s']:.2f} s, system {res['sys_s']:.2f} s)")
            _aggregate(raw.name, top)
    finally:
        client.close()
        emu.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=("cprofile", "py-spy"), default="cprofile")
    parser.add_argument("--alerts", type=int, default=50000)
    parser.add_argument("--close-delimited", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(common.header_text("Profile: end to end, client side"))
    body = "close-delimited" if args.close_delimited else "chunked"
    print(f"{args.alerts} alerts, {body} body, {args.tool}")
    if args.tool == "cprofile":
        with_cprofile(args.alerts, not args.close_delimited, args.top)
    else:
        with_py_spy(args.alerts, not args.close_delimited, args.top)


if __name__ == "__main__":
    main()
