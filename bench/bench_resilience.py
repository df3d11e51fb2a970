"""Benchmark 4: stop time on a silent stream, dead-stream detection, recovery after a drop.

* Stop: the stream is open and silent (no heartbeats), the reader blocked in a read;
  time of ``HikCamera.disconnect()``. Median of several runs; the public pyhik 0.4.8 once,
  with a cap (its ``disconnect()`` joins a thread blocked in a read with a 60 s timeout).
* Dead stream: the device sends heartbeats every 10 s like a real one; after the client has
  seen two, the device goes silent without closing (``stall``). Time from the last byte
  (the last heartbeat as the client got it) to the client declaring the stream lost, and
  to it having a new stream open. Uses ``HikDevice`` listeners (alert and connection) in
  this process; the device is in its own process. About 35 s; ``--quick`` skips it.
* Drop: the device cuts the connection; time until the client has a new stream open (seen
  by the device). Three drops in a row, each after a healthy stream (an alert went
  through), for both libraries.

    python3 bench/bench_resilience.py [--quick] [--no-public] [--json FILE]
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Optional

import common
from common import JsonProc, median, row, section

STOP_TARGET_S = 0.2
DETECT_TARGET_S = 35.0
PUBLIC_STOP_CAP_S = 5.0
HEARTBEAT_S = 10.0
HEARTBEATS_FIRST = 2
RECOVERY_WAIT_S = 30.0
DROP_RUNS = 3


def _new_stream(emu: JsonProc, dev: int, opened: int, timeout: float) -> Optional[float]:
    reply = emu.call("wait_streams", dev=dev, n=opened + 1, timeout=timeout)
    return reply["t"] if reply["ok"] else None


def stop_times(emu: JsonProc, dev: int, port: int, runs: int) -> List[float]:
    client = common.start_client(port, name="pyhik client")
    out = []
    try:
        opened = 0
        for i in range(runs):
            if i:
                client.call("start")
            if _new_stream(emu, dev, opened, 15.0) is None:
                raise common.ChildError("the client did not open the stream")
            opened += 1
            reply = client.call("stop", cap_s=PUBLIC_STOP_CAP_S)
            out.append(reply["stop_s"] if reply["returned"] else float("inf"))
    finally:
        client.close()
    return out


def public_stop(emu: JsonProc, dev: int, port: int, python: str) -> Dict[str, Any]:
    opened = emu.call("stats", dev=dev)["opened"]
    client = common.start_client(port, public=True, python=python, name="public pyhik client")
    try:
        if _new_stream(emu, dev, opened, 30.0) is None:
            raise common.ChildError("the public client did not open the stream")
        return client.call("stop", cap_s=PUBLIC_STOP_CAP_S, reply_s=PUBLIC_STOP_CAP_S + 30)
    finally:
        client.close()


def recovery_times(emu: JsonProc, dev: int, port: int, runs: int, *, public: bool,
                   python: Optional[str]) -> List[float]:
    """Seconds from the device dropping the stream to a new stream being open."""
    opened = emu.call("stats", dev=dev)["opened"]
    client = common.start_client(port, public=public, python=python,
                                 name="public pyhik client" if public else "pyhik client")
    out = []
    try:
        if _new_stream(emu, dev, opened, 30.0) is None:
            raise common.ChildError("the client did not open the stream")
        opened += 1
        for _ in range(runs):
            emu.call("push", dev=dev, event="VMD", state="active")  # a healthy stream
            time.sleep(0.3)
            t_drop = emu.call("drop", dev=dev)["t"]
            t_new = _new_stream(emu, dev, opened, RECOVERY_WAIT_S)
            out.append(t_new - t_drop if t_new is not None else float("inf"))
            opened = emu.call("stats", dev=dev)["opened"]
            time.sleep(0.5)
    finally:
        client.close()
    return out


class _Watch:
    """Heartbeat and connection times of a HikDevice, as this process sees them."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.heartbeats: List[float] = []
        self.connections: List[tuple] = []

    def on_alert(self, alert: Any) -> None:
        if alert.heartbeat:
            with self.cond:
                self.heartbeats.append(time.monotonic())
                self.cond.notify_all()

    def on_connection(self, connected: bool) -> None:
        with self.cond:
            self.connections.append((time.monotonic(), connected))
            self.cond.notify_all()

    def wait(self, predicate: Any, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


def dead_stream(emu: JsonProc, dev: int, port: int) -> Dict[str, Any]:
    from pyhik.stream.device import HikDevice
    watch = _Watch()
    device = HikDevice("http://127.0.0.1", port, common.USER, common.PASSWORD)
    device.connect()
    device.watcher.add_alert_listener(watch.on_alert)
    device.watcher.add_connection_listener(watch.on_connection)
    device.start()
    try:
        wait_s = HEARTBEAT_S * (HEARTBEATS_FIRST + 1) + 5
        if not watch.wait(lambda: len(watch.heartbeats) >= HEARTBEATS_FIRST, wait_s):
            return {"error": f"fewer than {HEARTBEATS_FIRST} heartbeats in {wait_s:.0f} s"}
        t_stall = emu.call("stall", dev=dev)["t"]
        t_last = watch.heartbeats[-1]
        n_conn = len(watch.connections)
        lost = watch.wait(lambda: any(not c for _, c in watch.connections[n_conn:]),
                          DETECT_TARGET_S * 2)
        back = lost and watch.wait(
            lambda: any(c for _, c in watch.connections[n_conn + 1:]), RECOVERY_WAIT_S)
        emu.call("resume", dev=dev)
        t_lost = next((t for t, c in watch.connections[n_conn:] if not c), None)
        t_back = next((t for t, c in watch.connections[n_conn + 1:] if c), None)
        return {"heartbeats_seen": len(watch.heartbeats), "t_last_heartbeat": t_last,
                "stall_after_last_byte_s": t_stall - t_last,
                "detect_s": (t_lost - t_last) if lost and t_lost else float("inf"),
                "reconnect_s": (t_back - t_last) if back and t_back else float("inf")}
    finally:
        device.close()


def run(quick: bool = False, public: bool = True, log: Any = print) -> Dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)
    runs = 3 if quick else 7
    python = common.public_python(log) if public else None
    emu = common.start_emulator()
    raw: Dict[str, Any] = {"runs": runs}
    rows = []
    try:
        made = emu.call("start", devices=[
            {"name": "bench-silent", "heartbeat_s": None},
            {"name": "bench-heartbeat", "heartbeat_s": HEARTBEAT_S},
            {"name": "bench-drop", "heartbeat_s": HEARTBEAT_S}])
        silent, beating, dropping = 0, 1, 2
        log("stop time ...")
        stops = stop_times(emu, silent, made["ports"][silent], runs)
        raw["stop_s"] = stops
        stop_med = median(stops)
        rows.append(row("stop (disconnect) with a silent stream",
                        f"{stop_med * 1000:.1f} ms (max {max(stops) * 1000:.1f} ms)",
                        f"<= {STOP_TARGET_S * 1000:.0f} ms", stop_med <= STOP_TARGET_S
                        and max(stops) <= STOP_TARGET_S, note=f"median of {runs}"))
        if python:
            log("stop time, public pyhik ...")
            pub = public_stop(emu, silent, made["ports"][silent], python)
            raw["public_stop"] = pub
            value = (f"{pub['stop_s'] * 1000:.1f} ms" if pub["returned"]
                     else f"did not return within {PUBLIC_STOP_CAP_S:.0f} s")
            rows.append(row(f"  public pyhik {common.PUBLIC_PYHIK_VERSION}, same", value,
                            note="1 run"))
        if quick:
            rows.append(row("dead stream detection", "skipped (--quick)"))
        else:
            log("dead stream detection (about 35 s) ...")
            dead = dead_stream(emu, beating, made["ports"][beating])
            raw["dead_stream"] = dead
            if "error" in dead:
                rows.append(row("dead stream detection", dead["error"],
                                f"<= {DETECT_TARGET_S:.0f} s", False))
            else:
                rows.append(row(f"dead stream detected (heartbeat every {HEARTBEAT_S:.0f} s)",
                                f"{dead['detect_s']:.1f} s after the last byte",
                                f"<= {DETECT_TARGET_S:.0f} s", dead["detect_s"] <= DETECT_TARGET_S,
                                note=f"after {dead['heartbeats_seen']} heartbeats"))
                rows.append(row("  new stream open after a dead one",
                                f"{dead['reconnect_s']:.1f} s after the last byte"))
        log("recovery after a drop ...")
        rec = recovery_times(emu, dropping, made["ports"][dropping], DROP_RUNS, public=False,
                             python=None)
        raw["recover_s"] = rec
        rows.append(row("recovery after the device drops the stream",
                        f"median {median(rec):.2f} s",
                        note=f"{DROP_RUNS} drops in a row, a healthy stream before each: "
                             + ", ".join(f"{x:.2f}" for x in rec) + " s"))
        if python:
            log("recovery after a drop, public pyhik ...")
            prec = recovery_times(emu, dropping, made["ports"][dropping], DROP_RUNS,
                                  public=True, python=python)
            raw["public_recover_s"] = prec
            rows.append(row(f"  public pyhik {common.PUBLIC_PYHIK_VERSION}, same",
                            f"median {median(prec):.2f} s",
                            note=", ".join(f"{x:.2f}" for x in prec) + " s"))
    finally:
        emu.close()
    return section("4. Resilience (this pyhik)", rows, raw)


def main() -> None:
    args = common.arg_parser(__doc__.splitlines()[0], public=True).parse_args()
    print(common.header_text("Benchmark 4: resilience"))
    common.finish([run(args.quick, not args.no_public)], args.json)


if __name__ == "__main__":
    main()
