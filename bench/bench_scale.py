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
from typing import Any, Dict

import common
from common import JsonProc, row, section

DELIVERED_TARGET = 0.999
THREADS_PER_DEVICE_TARGET = 2.0


def run(quick: bool = False, devices: int = 200, seconds: float = 60.0,
        log: Any = print) -> Dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)
    if quick:
        devices, seconds = min(devices, 50), min(seconds, 15.0)
    emu = common.start_emulator()
    client = JsonProc([sys.executable, str(common.BENCH_DIR / "scale_client.py")],
                      env=common.our_env(), name="scale client")
    try:
        client.recv()
        made = emu.call("start_many", n=devices, prefix="cam", heartbeat_s=10.0, reply_s=120)
        log(f"{devices} cameras up; opening {devices} HikCamera ...")
        opened = client.call("open", ports=made["ports"], user=common.USER,
                             password=common.PASSWORD, reply_s=300)
        log(f"opened in {opened['open_s']:.1f} s ({opened['connected']} streams connected); "
            f"running {seconds:.0f} s ...")
        client.call("go")
        sent = emu.call("scale_run", seconds=seconds, rate=1.0, reply_s=seconds + 60)
        got = client.call("collect", expected=sent["sent"], grace_s=5.0, reply_s=90)
    finally:
        client.close()
        emu.close()
    total_sent = sum(sent["sent"])
    delivered = sum(min(c, s) for c, s in zip(got["counts"], sent["sent"]))
    extra = sum(max(0, c - s) for c, s in zip(got["counts"], sent["sent"]))
    fraction = delivered / total_sent if total_sent else 0.0
    cpu_pct = 100.0 * got["cpu_s"] / got["wall_s"] if got["wall_s"] else float("nan")
    threads = got["threads_max"]
    per_device = threads / devices
    rows = [
        row("alerts delivered", f"{fraction * 100:.2f} % ({delivered:,} of {total_sent:,})",
            f">= {DELIVERED_TARGET * 100:.1f} %", fraction >= DELIVERED_TARGET,
            note=f"{extra} extra callbacks" if extra else ""),
        row("client CPU", f"{cpu_pct:.1f} % of one core",
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
    raw = {"devices": devices, "seconds": seconds, "sent": total_sent, "delivered": delivered,
           "extra": extra, "open": opened,
           "collect": {k: v for k, v in got.items() if k != "counts"},
           "emulator_max_late_s": sent["max_late_s"]}
    return section(f"5. Scale: {devices} cameras x 1 alert/s x {seconds:.0f} s, one client "
                   "process", rows, raw)


def main() -> None:
    parser = common.arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(common.header_text("Benchmark 5: scale"))
    common.finish([run(args.quick, args.devices, args.seconds)], args.json)


if __name__ == "__main__":
    main()
