"""Benchmark 5: 200 emulated cameras, each sending 1 alert/s for 60 s, one client process.

The cameras run in one process of their own (bench/emulator_proc.py); the client
(bench/scale_client.py) opens one ``HikCamera`` per camera, the way Home Assistant does,
and counts callbacks (VMD alternates active/inactive: one callback per alert). Figures:
fraction of alerts delivered, the client's CPU (% of one core over the run), its threads
(per device) and resident memory.

    python3 bench/bench_scale.py [--quick] [--devices N] [--seconds S] [--json FILE]
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import common
from common import JsonProc, row, section

DELIVERED_TARGET = 0.999
THREADS_PER_DEVICE_TARGET = 2.0


def _latencies(sent_times: List[List[Optional[float]]],
               cb_times: List[List[float]]) -> List[float]:
    """Write-to-callback latency of each alert: the k-th callback of a camera answers its
    k-th alert (VMD alternates, so each alert is a change); extras are left out."""
    out: List[float] = []
    for sent, got in zip(sent_times, cb_times):
        out += [g - s for s, g in zip(sent, got) if s is not None]
    return out


def measure(devices: int, seconds: float, *, emulators: int = 1, public_python: str = "",
            latency: bool = False, client_args: Sequence[str] = (), log: Any = print) -> Dict[str, Any]:
    """One run: ``devices`` cameras over ``emulators`` processes, one client process (the
    public pyhik's when ``public_python`` is given). With ``latency`` the devices write
    each alert themselves and every write-to-callback latency is taken. ``client_args``
    go to scale_client.py."""
    emulators = max(1, min(emulators, devices))
    emus = [common.start_emulator() for _ in range(emulators)]
    argv = [public_python or sys.executable,
            str(common.BENCH_DIR / "scale_client.py")] + list(client_args)
    client = JsonProc(argv, env=common.clean_env() if public_python else common.our_env(),
                      name="scale client")
    try:
        hello = client.recv()
        ports: List[int] = []
        for i, emu in enumerate(emus):
            share = devices // emulators + (1 if i < devices % emulators else 0)
            ports += emu.call("start_many", n=share, prefix=f"cam{i}", heartbeat_s=10.0,
                              reply_s=300)["ports"]
        log(f"{devices} cameras up in {emulators} emulator process(es); opening "
            f"{devices} HikCamera ...")
        opened = client.call("open", ports=ports, user=common.USER,
                             password=common.PASSWORD, reply_s=600)
        log(f"opened in {opened['open_s']:.1f} s ({opened['connected']} streams connected); "
            f"running {seconds:.0f} s ...")
        armed = client.call("go")
        start = time.monotonic() + 0.5
        for i, emu in enumerate(emus):
            emu.send({"cmd": "scale_run", "seconds": seconds, "rate": 1.0, "start": start,
                      "slot": i, "slots": emulators, "direct": latency, "times": latency})
        runs = [emu.recv(seconds + 60) for emu in emus]
        sent = [n for r in runs for n in r["sent"]]
        got = client.call("collect", expected=sent, grace_s=5.0, times=latency, reply_s=120)
    finally:
        client.close()
        for emu in emus:
            emu.close()
    total_sent = sum(sent)
    delivered = sum(min(c, s) for c, s in zip(got["counts"], sent))
    result = {"devices": devices, "seconds": seconds, "emulators": emulators,
              "pid": hello.get("pid"), "sent": total_sent, "delivered": delivered,
              "extra": sum(max(0, c - s) for c, s in zip(got["counts"], sent)),
              "fraction": delivered / total_sent if total_sent else 0.0,
              "cpu_pct": 100.0 * got["cpu_s"] / got["wall_s"] if got["wall_s"] else float("nan"),
              "open": opened, "go": armed, "collect": {k: v for k, v in got.items() if k not in
                                          ("counts", "times")},
              "emulator_cpu_pct": [100.0 * r["cpu_s"] / max(r["t_end"] - r["t_start"], 1e-9)
                                   for r in runs],
              "emulator_max_late_s": max(r["max_late_s"] for r in runs)}
    if latency:
        lat = _latencies([t for r in runs for t in r["times"]], got["times"])
        result["latency_ms"] = {
            "n": len(lat), "p50": 1000 * common.percentile(lat, 50),
            "p99": 1000 * common.percentile(lat, 99),
            "p999": 1000 * common.percentile(lat, 99.9), "max": 1000 * max(lat, default=0.0),
            "over_50ms": sum(1 for v in lat if v > 0.050),
            "over_100ms": sum(1 for v in lat if v > 0.100)}
    return result


def run(quick: bool = False, devices: int = 200, seconds: float = 60.0,
        log: Any = print) -> Dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)
    if quick:
        devices, seconds = min(devices, 50), min(seconds, 15.0)
    m = measure(devices, seconds, log=log)
    got, opened = m["collect"], m["open"]
    fraction, extra = m["fraction"], m["extra"]
    threads = got["threads_max"]
    per_device = threads / devices
    rows = [
        row("alerts delivered", f"{fraction * 100:.2f} % ({m['delivered']:,} of {m['sent']:,})",
            f">= {DELIVERED_TARGET * 100:.1f} %", fraction >= DELIVERED_TARGET,
            note=f"{extra} extra callbacks" if extra else ""),
        row("client CPU", f"{m['cpu_pct']:.1f} % of one core",
            note=f"{got['cpu_s']:.1f} s over {got['wall_s']:.0f} s"),
        row("client threads", f"{threads} ({per_device:.2f} per device)",
            f"<= {THREADS_PER_DEVICE_TARGET:g} per device", per_device <= THREADS_PER_DEVICE_TARGET,
            note="peak; every thread of the process, main and the bench sampler included"),
        row("client RSS", f"{got['rss_max_kib'] / 1024:.1f} MiB "
            f"({got['rss_max_kib'] / 1024 / devices * 1024:.0f} KiB per device)",
            note="peak VmRSS, interpreter included"),
        row("startup", f"{opened['open_s']:.1f} s to connect {devices} cameras",
            note=f"{opened['failed']} failed" if opened["failed"] else ""),
    ]
    return section(f"5. Scale: {devices} cameras x 1 alert/s x {seconds:.0f} s, one client "
                   "process", rows, m)


def main() -> None:
    parser = common.arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(common.header_text("Benchmark 5: scale"))
    common.finish([run(args.quick, args.devices, args.seconds)], args.json)


if __name__ == "__main__":
    main()
