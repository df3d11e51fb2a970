"""Benchmark 6: the client's memory while the device floods the alert stream.

Two floods, each on a chunked and on a close-delimited body, against a ``HikCamera``
client in its own process (the device in another):
* 100 MiB in one part that starts like an alert and never ends: no end tag, no boundary;
* one 50 MiB ``image/jpeg`` part.
After a warm-up of 200 alerts, the client samples its VmRSS every 5 ms (and its
ru_maxrss) from just before the flood until an alert sent after the flood reaches its
callback; the figure is the peak less the RSS before. The alert after the flood also
shows that the stream survived it. The public pyhik 0.4.8 gets the same floods.

    python3 bench/bench_memory.py [--quick] [--no-public] [--json FILE]
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

import common
from common import MIB, JsonProc, row, section

GROWTH_TARGET_MIB = 5.0
WARMUP_ALERTS = 200
BODIES = (("chunked", True), ("close-delimited", False))
FLOOD_TIMEOUT_S = 300.0


def _flood(emu: JsonProc, client: JsonProc, dev: int, kind: str, nbytes: int,
           state: str) -> Dict[str, Any]:
    client.call("go", n=1, timeout=FLOOD_TIMEOUT_S, rss_sample_ms=5)
    if kind == "garbage":
        sent = emu.call("flood", dev=dev, nbytes=nbytes, piece=65536, reply_s=120)
        t_start = sent["t_start"]
    else:
        t_start = emu.call("jpeg", dev=dev, nbytes=nbytes, reply_s=120)["t_start"]
    # The alert after the flood changes the sensor (the warm-up left it off): one callback.
    emu.call("push", dev=dev, event="VMD", state=state)
    res = client.recv(FLOOD_TIMEOUT_S + 30)
    done = res["count"] >= 1
    return {"growth_kib": res["rss_peak_kib"] - res["rss_before_kib"],
            "rss_before_kib": res["rss_before_kib"], "rss_peak_kib": res["rss_peak_kib"],
            "rss_after_kib": res["rss_after_kib"], "delivered_after": done,
            "seconds": (res["times"][0] - t_start) if done else float("nan"),
            "cpu_s": res["cpu_s"], "connected": res["connected"]}


def measure(emu: JsonProc, dev: int, port: int, garbage: int, jpeg: int, *, public: bool,
            python: Optional[str]) -> Dict[str, Any]:
    opened = emu.call("stats", dev=dev)["opened"]
    client = common.start_client(port, public=public, python=python,
                                 name="public pyhik client" if public else "pyhik client")
    try:
        if not emu.call("wait_streams", dev=dev, n=opened + 1, timeout=30)["ok"]:
            raise common.ChildError("the client did not open the alert stream")
        client.call("go", n=WARMUP_ALERTS, timeout=60)
        emu.call("push_fast", dev=dev, n=WARMUP_ALERTS)
        client.recv(90)
        return {"garbage": _flood(emu, client, dev, "garbage", garbage, "active"),
                "jpeg": _flood(emu, client, dev, "jpeg", jpeg, "inactive")}
    finally:
        client.close()


def run(quick: bool = False, public: bool = True, log: Any = print) -> Dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)
    garbage, jpeg = (20 * MIB, 10 * MIB) if quick else (100 * MIB, 50 * MIB)
    python = common.public_python(log) if public else None
    emu = common.start_emulator()
    raw: Dict[str, Any] = {"garbage_bytes": garbage, "jpeg_bytes": jpeg}
    try:
        made = emu.call("start", devices=[{"name": f"bench-mem-{label}", "chunked": chunked,
                                           "heartbeat_s": 10.0} for label, chunked in BODIES])
        for dev, (label, _) in enumerate(BODIES):
            log(f"[{label}] floods ...")
            raw[f"ours {label}"] = measure(emu, dev, made["ports"][dev], garbage, jpeg,
                                           public=False, python=None)
            if python:
                log(f"[{label}] floods, public pyhik ...")
                raw[f"public {label}"] = measure(emu, dev, made["ports"][dev], garbage, jpeg,
                                                 public=True, python=python)
    finally:
        emu.close()
    rows: List[Dict[str, Any]] = []
    for kind, what, size in (("garbage", "without an end or a boundary", garbage),
                             ("jpeg", "JPEG part", jpeg)):
        for label, _ in BODIES:
            fig = raw[f"ours {label}"][kind]
            growth = fig["growth_kib"] / 1024
            ok = growth <= GROWTH_TARGET_MIB and fig["delivered_after"]
            note = (f"next alert after {fig['seconds']:.1f} s" if fig["delivered_after"]
                    else "the alert after it never came")
            pub = raw.get(f"public {label}")
            if pub:
                p = pub[kind]
                note += (f"; public pyhik: +{p['growth_kib'] / 1024:.1f} MiB"
                         + ("" if p["delivered_after"] else ", alert after it lost"))
            rows.append(row(f"RSS growth, {size // MIB} MiB {what}, {label}",
                            f"{growth:.1f} MiB", f"<= {GROWTH_TARGET_MIB:g} MiB", ok, note=note))
    return section("6. Memory under floods (client RSS growth, peak)", rows, raw)


def main() -> None:
    args = common.arg_parser(__doc__.splitlines()[0], public=True).parse_args()
    print(common.header_text("Benchmark 6: memory"))
    common.finish([run(args.quick, not args.no_public)], args.json)


if __name__ == "__main__":
    main()
