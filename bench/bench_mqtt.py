"""Benchmark 7: the MQTT bridge (``pyhik mqtt``) on a real Mosquitto over loopback.

Three runs, each with its own Mosquitto (default limits: 20 messages in flight and
max_queued_messages 1000 per client) and ``pyhik mqtt`` as a process of its own:

1. latency: one camera sends VMD active/inactive at 100 alerts/s; from the emulator
   writing an alert to a subscriber seeing ``ON`` (or ``OFF``) on the state topic: p50/p99;
2. scale: 200 cameras x 1 alert/s on one bridge process: events delivered to a
   subscriber, the bridge's CPU, threads and RSS;
3. restart: 1,000 sensors (10 NVRs x 50 channels x motion + line crossing); the broker is
   killed and started again (persistence off): time until a subscriber holds the bridge's
   discovery and every state and attribute set again, and whether Mosquitto dropped any
   message for a client ("Outgoing messages are being dropped" in its log).

    python3 bench/bench_mqtt.py [--quick] [--devices N] [--seconds S] [--json FILE]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import common
from common import row, section
from mqttkit import Mosquitto, Subscriber, require_mosquitto

LATENCY_P99_TARGET_MS = 5.0
DELIVERED_TARGET = 0.999
RESTART_TARGET_S = 10.0
DROP_TEXT = "dropped"


class Proc:
    """/proc readings of another process: CPU seconds, threads, RSS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def status(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0


def write_config(path: Path, ports: List[int]) -> Path:
    lines = ["binary_sensor:"]
    for port in ports:
        lines += ["  - platform: hikvision", "    host: 127.0.0.1", f"    port: {port}",
                  f"    username: {common.USER}", f"    password: '{common.PASSWORD}'"]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_bridge(config: Path, port: int, folder: Path, bridge_id: str) -> subprocess.Popen:
    log = open(folder / f"bridge-{bridge_id}.log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "pyhik", "mqtt", "--config", str(config), "--broker",
         f"mqtt://127.0.0.1:{port}", "--bridge-id", bridge_id],
        env=common.our_env(), stdout=log, stderr=log, cwd=str(common.REPO))


def tear_down(bridge: Any, sub: Any, emu: Any, broker: Any) -> None:
    """Stop what a measurement started: the bridge and the subscriber (None when they
    never started), then the emulators and the broker."""
    if bridge is not None:
        stop_bridge(bridge)
    if sub is not None:
        sub.close()
    emu.close()
    broker.stop()


def stop_bridge(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def node_of(device_id: str) -> str:
    from pyhik.mqtt.topics import device_topic_id
    return device_topic_id(device_id)


# -- 1. latency --------------------------------------------------------------------------
def run_latency(folder: Path, alerts: int, log: Any) -> Dict[str, Any]:
    broker = Mosquitto(folder / "m1").start()
    emu = common.start_emulator()
    bridge = None
    sub = None
    try:
        made = emu.call("start", devices=[{"name": "Front Porch", "heartbeat_s": 10.0}])
        node = node_of(made["ids"][0])
        topic = f"pyhik/{node}/motion/state"
        sub = Subscriber(broker.port, [topic], name="bench-latency")
        bridge = start_bridge(write_config(folder / "one.yaml", made["ports"]), broker.port,
                              folder, "latency")
        if not sub.wait(lambda: sub.last_text(f"pyhik/{node}/motion/state") == "OFF", 30):
            raise RuntimeError("the bridge did not publish the camera's state")
        time.sleep(0.5)
        before = len(sub.on(topic))
        pushed = emu.call("push_rate", dev=0, n=alerts, rate=100, reply_s=alerts / 100 + 60)
        sub.wait(lambda: len(sub.on(topic)) >= before + alerts, 30)
        seen = sub.on(topic)[before:before + alerts]
    finally:
        tear_down(bridge, sub, emu, broker)
    lat_on, lat_all = [], []
    for t_push, is_on, msg in zip(pushed["times"], pushed["states"], seen):
        ms = (msg.at - t_push) * 1000
        lat_all.append(ms)
        if is_on:
            lat_on.append(ms)
    p50, p99 = common.percentile(lat_on, 50), common.percentile(lat_on, 99)
    log(f"latency: {len(seen)} of {alerts} state messages; ON p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    return {"rows": [
        row("alert -> ON on the state topic, p50", f"{p50:.2f} ms",
            note=f"{len(lat_on)} ONs at 100 alerts/s"),
        row("alert -> ON on the state topic, p99", f"{p99:.2f} ms",
            f"<= {LATENCY_P99_TARGET_MS:g} ms", p99 <= LATENCY_P99_TARGET_MS),
        row("alert -> ON or OFF, p99", f"{common.percentile(lat_all, 99):.2f} ms",
            note=f"{len(seen)} of {alerts} changes seen"),
    ], "raw": {"on_ms": lat_on, "all_ms_p50": common.percentile(lat_all, 50),
               "seen": len(seen), "alerts": alerts}}


# -- 2. scale ----------------------------------------------------------------------------
def run_scale(folder: Path, devices: int, seconds: float, log: Any) -> Dict[str, Any]:
    broker = Mosquitto(folder / "m2").start()
    emu = common.start_emulator()
    bridge = None
    sub = None
    samples: List[Dict[str, float]] = []
    try:
        made = emu.call("start_many", n=devices, prefix="cam", heartbeat_s=10.0, reply_s=120)
        nodes = [node_of(i) for i in made["ids"]]
        sub = Subscriber(broker.port, ["pyhik/+/events", "pyhik/+/availability"],
                         name="bench-scale")
        started = time.monotonic()
        bridge = start_bridge(write_config(folder / "many.yaml", made["ports"]), broker.port,
                              folder, "scale")
        if not wait(lambda: all(sub.last_text(f"pyhik/{n}/availability") == "online"
                                for n in nodes), 120, 0.2):
            raise RuntimeError("not every camera came online on the broker")
        log(f"scale: {devices} cameras online on the broker after "
            f"{time.monotonic() - started:.1f} s; running {seconds:.0f} s ...")
        proc = Proc(bridge.pid)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append({"t": time.monotonic(), "cpu": proc.cpu_s(),
                                "threads": proc.status("Threads"), "rss": proc.status("VmRSS")})
        sampler = threading.Thread(target=sample, daemon=True)
        t0, cpu0 = time.monotonic(), proc.cpu_s()
        sampler.start()
        sent = emu.call("scale_run", seconds=seconds, rate=1.0, reply_s=seconds + 60)
        total = sum(sent["sent"])
        events = lambda: sum(1 for m in sub.messages if m.topic.endswith("/events"))  # noqa: E731
        wait(lambda: events() >= total, 15, 0.2)
        t1, cpu1 = time.monotonic(), proc.cpu_s()
        stop.set()
        got = events()
    finally:
        tear_down(bridge, sub, emu, broker)
    fraction = min(got, total) / total if total else 0.0
    cpu_pct = 100 * (cpu1 - cpu0) / (t1 - t0)
    threads = max(s["threads"] for s in samples) if samples else 0
    rss = max(s["rss"] for s in samples) if samples else 0
    log(f"scale: {got} of {total} events, CPU {cpu_pct:.1f} %, {threads} threads, "
        f"RSS {rss / 1024:.1f} MiB")
    return {"rows": [
        row("events delivered to a subscriber", f"{fraction * 100:.2f} % ({got:,} of {total:,})",
            f">= {DELIVERED_TARGET * 100:.1f} %", fraction >= DELIVERED_TARGET),
        row("bridge CPU", f"{cpu_pct:.1f} % of one core",
            note=f"{devices} cameras x 1 alert/s; 3 messages per change"),
        row("bridge threads", f"{threads} ({threads / devices:.2f} per device)", note="peak"),
        row("bridge RSS", f"{rss / 1024:.1f} MiB", note="peak VmRSS, interpreter included"),
    ], "raw": {"devices": devices, "seconds": seconds, "sent": total, "events": got,
               "cpu_pct": cpu_pct, "threads": threads, "rss_kib": rss}}


# -- 3. restart --------------------------------------------------------------------------
def run_restart(folder: Path, nvrs: int, channels: int, log: Any) -> Dict[str, Any]:
    from pyhik.emulator import EmulatedDevice, TriggerSpec

    broker = Mosquitto(folder / "m3", extra=["log_type warning", "log_type notice"]).start()
    devices = [EmulatedDevice(f"NVR {i}", kind="nvr", channels=channels, heartbeat_s=10.0,
                              triggers=[TriggerSpec(e, channel=c) for c in range(1, channels + 1)
                                        for e in ("VMD", "linedetection")]).start()
               for i in range(nvrs)]
    sensors = nvrs * channels * 2
    bridge = None
    sub = None
    try:
        nodes = [node_of(d.identity.device_id) for d in devices]
        want = {f"homeassistant/device/{n}/config" for n in nodes}
        want |= {f"pyhik/{n}/{kind}_{c}/{leaf}" for n in nodes for c in range(1, channels + 1)
                 for kind in ("motion", "line_crossing") for leaf in ("state", "attributes")}
        want |= {f"pyhik/{n}/availability" for n in nodes}
        sub = Subscriber(broker.port, ["homeassistant/#", "pyhik/#"], name="bench-ha")
        bridge = start_bridge(write_config(folder / "nvrs.yaml", [d.port for d in devices]),
                              broker.port, folder, "restart")

        def complete() -> bool:
            return want <= set(sub.latest())
        first = time.monotonic()
        if not wait(complete, 60, 0.1):
            raise RuntimeError("the first publication did not complete")
        log(f"restart: {sensors} sensors published at start in {time.monotonic() - first:.1f} s "
            "(device set-up included); restarting the broker ...")
        broker.kill()
        sub.clear()
        broker.start()
        back = time.monotonic()
        ok = wait(complete, 60, 0.02)
        took = time.monotonic() - back
        time.sleep(1.0)
        log_text = broker.log.read_text(errors="replace") if broker.log.exists() else ""
        drops = sum(1 for line in log_text.splitlines() if DROP_TEXT in line.lower())
    finally:
        if bridge is not None:
            stop_bridge(bridge)
        if sub is not None:
            sub.close()
        broker.stop()
        for dev in devices:
            dev.stop()
    log(f"restart: everything back in {took:.2f} s; Mosquitto drop warnings: {drops}")
    return {"rows": [
        row(f"discovery + state of {sensors:,} sensors after a broker restart",
            f"{took:.2f} s" if ok else "incomplete", f"<= {RESTART_TARGET_S:g} s",
            ok and took <= RESTART_TARGET_S,
            note=f"{len(want):,} retained topics; a subscriber holds them all again"),
        row("messages Mosquitto dropped for a client", str(drops), "0", drops == 0,
            note="default max_queued_messages 1000; the bridge keeps <= 20 in flight"),
    ], "raw": {"sensors": sensors, "topics": len(want), "seconds": took, "drops": drops}}


def run(quick: bool = False, devices: int = 200, seconds: float = 60.0,
        log: Any = print) -> Dict[str, Any]:
    require = require_mosquitto  # skips (pytest) only inside tests; here it raises
    try:
        require()
    except BaseException as err:  # pytest's Skipped is not an Exception
        raise SystemExit(f"bench_mqtt: {err}") from None
    if quick:
        devices, seconds = min(devices, 50), min(seconds, 15.0)
    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    parts = [run_latency(folder, 300 if quick else 1000, log),
             run_scale(folder, devices, seconds, log),
             run_restart(folder, 10, 50, log)]
    rows = [r for p in parts for r in p["rows"]]
    raw = {"latency": parts[0]["raw"], "scale": parts[1]["raw"], "restart": parts[2]["raw"]}
    return section(f"7. MQTT bridge ({devices} cameras x 1 alert/s x {seconds:.0f} s; "
                   "1,000 sensors after a broker restart)", rows, raw)


def main() -> None:
    parser = common.arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(common.header_text("Benchmark 7: MQTT bridge"))
    common.finish([run(args.quick, args.devices, args.seconds)], args.json)


if __name__ == "__main__":
    main()
