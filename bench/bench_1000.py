"""Benchmark 7: 1,000 cameras, 1 alert/s each, 60 s, one client process, both libraries.

The cameras run in a few emulator processes (bench/emulator_proc.py, ``--emulators``),
which write each alert on the stream socket themselves and note when; one client process
(bench/scale_client.py) holds a ``HikCamera`` per camera, with this pyhik and then with
the public pyhik 0.4.8. Figures, side by side: alerts delivered, client CPU, peak RSS,
threads, and the latency from the device's write to the callback (p50, p99, max, how many
over 50 ms), plus the emulators' own CPU (to show they are not the bottleneck) and the
client's garbage collections. ``--repeat N`` runs each side N times (the table shows
each figure's median, with 2 runs their mean; every run is printed and kept raw).

    python3 bench/bench_1000.py [--quick] [--devices N] [--seconds S] [--emulators K]
                                [--repeat N] [--no-public] [--client-arg=--gc-freeze ...]
                                [--py-spy FILE] [--json FILE]

``--client-arg`` passes an option to scale_client.py (the experiments: --switchinterval S,
--gc-freeze, --gc-threshold A,B,C, --gc-off); ``--py-spy FILE`` has py-spy sample our
client during the run (raw collapsed stacks into FILE; needs ``pip install py-spy`` in the
venv that runs the benchmark).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import bench_scale
import common
from common import row, section

DELIVERED_TARGET = 0.999
P99_TARGET_MS = 5.0
MAX_TARGET_MS = 50.0
RSS_TARGET_MIB = 150.0
CPU_SHARE_TARGET = 1 / 3


def _figures(m: Dict[str, Any]) -> Dict[str, float]:
    lat, got = m["latency_ms"], m["collect"]
    return {"fraction": m["fraction"], "cpu_pct": m["cpu_pct"],
            "rss_mib": got["rss_max_kib"] / 1024, "threads": got["threads_max"],
            "p50": lat["p50"], "p99": lat["p99"], "max": lat["max"],
            "over_50ms": lat["over_50ms"], "over_100ms": lat["over_100ms"],
            "emu_cpu_pct": sum(m["emulator_cpu_pct"]),
            "emu_late_ms": 1000 * m["emulator_max_late_s"],
            "gc_ms": sum(g["total_ms"] for g in got["gc"].values()),
            "gc_max_ms": max(g["max_ms"] for g in got["gc"].values()),
            "gc2_n": got["gc"]["gen2"]["n"]}


def _median_of(runs: List[Dict[str, float]]) -> Dict[str, float]:
    return {k: common.median([r[k] for r in runs]) for k in runs[0]}


def _rows(ours: Dict[str, float], pub: Optional[Dict[str, float]], n_runs: int
          ) -> List[Dict[str, Any]]:
    def pair(fmt: Callable[[float], str], key: str) -> str:
        return fmt(ours[key]) + (f" | public {fmt(pub[key])}" if pub else "")

    def ms(v: float) -> str:
        return f"{v:.1f} ms"

    def over(side: Dict[str, float]) -> str:
        return f"{side['over_50ms']:.0f} / {side['over_100ms']:.0f}"

    cpu_ok = ours["cpu_pct"] <= CPU_SHARE_TARGET * pub["cpu_pct"] if pub else None
    note = f"median of {n_runs} runs" if n_runs > 1 else ""
    return [
        row("alerts delivered", pair(lambda v: f"{v * 100:.2f} %", "fraction"),
            f">= {DELIVERED_TARGET * 100:.1f} %", ours["fraction"] >= DELIVERED_TARGET, note),
        row("client CPU", pair(lambda v: f"{v:.1f} % of a core", "cpu_pct"),
            "<= 1/3 of the public's", cpu_ok,
            f"ratio {ours['cpu_pct'] / pub['cpu_pct']:.2f}" if pub else ""),
        row("client RSS", pair(lambda v: f"{v:.0f} MiB", "rss_mib"),
            f"<= {RSS_TARGET_MIB:.0f} MiB", ours["rss_mib"] <= RSS_TARGET_MIB, "peak VmRSS"),
        row("client threads", pair(lambda v: f"{v:.0f}", "threads"), note="peak, all threads"),
        row("latency p50", pair(ms, "p50"), note="device's write -> callback"),
        row("latency p99", pair(ms, "p99"), f"<= {P99_TARGET_MS:g} ms",
            ours["p99"] <= P99_TARGET_MS),
        row("latency max", pair(ms, "max"), f"<= {MAX_TARGET_MS:g} ms",
            ours["max"] <= MAX_TARGET_MS),
        row("alerts over 50 ms / 100 ms", over(ours) + (f" | public {over(pub)}" if pub else ""),
            "0 over 50 ms", ours["over_50ms"] == 0),
        row("client GC time", pair(lambda v: f"{v:.0f} ms", "gc_ms"),
            note=f"ours: longest pause {ours['gc_max_ms']:.1f} ms, "
                 f"{ours['gc2_n']:.0f} full collections"),
        row("emulators' CPU", pair(lambda v: f"{v:.0f} % of a core", "emu_cpu_pct"),
            note="all emulator processes together"),
        row("emulators' worst lateness", pair(ms, "emu_late_ms"),
            note="how late an alert was written: the machine was overloaded"),
    ]


def run(quick: bool = False, devices: int = 1000, seconds: float = 60.0, emulators: int = 2,
        repeat: int = 1, public: bool = True, client_args: Optional[List[str]] = None,
        py_spy: Optional[str] = None, log: Any = print) -> Dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)
    if quick:
        devices, seconds = min(devices, 200), min(seconds, 15.0)
    public_python = common.public_python(log) if public else None
    spy_args = ["--py-spy", str(Path(py_spy).resolve())] if py_spy else []
    sides = [("ours", "")] + ([("public", public_python)] if public_python else [])
    raw: Dict[str, List[Dict[str, Any]]] = {name: [] for name, _ in sides}
    for i in range(max(1, repeat)):
        for name, python in sides:
            log(f"-- {name}, run {i + 1} of {repeat}")
            raw[name].append(bench_scale.measure(
                devices, seconds, emulators=emulators, public_python=python, latency=True,
                client_args=(client_args or []) + (spy_args if name == "ours" else []),
                log=log))
            log("   " + ", ".join(f"{k} {v:.4g}" for k, v in _figures(raw[name][-1]).items()))
    ours = _median_of([_figures(m) for m in raw["ours"]])
    pub = _median_of([_figures(m) for m in raw["public"]]) if raw.get("public") else None
    title = (f"7. {devices:,} cameras x 1 alert/s x {seconds:.0f} s, one client process, "
             f"{emulators} emulator processes")
    if client_args:
        title += " (client " + " ".join(client_args) + ")"
    return section(title, _rows(ours, pub, max(1, repeat)), {"runs": raw, "ours": ours,
                                                              "public": pub})


def main() -> None:
    parser = common.arg_parser(__doc__.splitlines()[0], public=True)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--emulators", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--client-arg", action="append", default=[], metavar="ARG")
    parser.add_argument("--py-spy", metavar="FILE")
    args = parser.parse_args()
    print(common.header_text("Benchmark 7: 1,000 cameras"))
    common.finish([run(args.quick, args.devices, args.seconds, args.emulators, args.repeat,
                       not args.no_public, args.client_arg, args.py_spy)], args.json)


if __name__ == "__main__":
    main()
