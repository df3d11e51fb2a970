"""Run every benchmark of bench/, then print one combined table (and write it as RST/JSON).

Each benchmark runs as a child process of its own (so no thread or memory of one leaks
into the next), with its output shown as it goes; the sections it writes are merged.

    python3 bench/run_all.py [--quick] [--no-public] [--skip NAME ...]
                             [--rst FILE] [--json FILE]

NAME is one of: parser, e2e, resilience, scale, memory, scale1000.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import common

BENCHES = (("parser", "bench_parser.py", False), ("e2e", "bench_e2e.py", True),
           ("resilience", "bench_resilience.py", True), ("scale", "bench_scale.py", False),
           ("memory", "bench_memory.py", True), ("scale1000", "bench_1000.py", True))
BENCH_TIMEOUT_S = 1200


def _rst(sections: List[Dict[str, Any]], info: Dict[str, Any], when: str, quick: bool) -> str:
    lines = [
        f"Measured {when} on {info['cpu']} ({info['cores']} cores, {info['ram']} RAM), "
        f"{info['os']}, {info['python']}; pyhik {info['pyhik']} against the public pyhik "
        f"{info['public_pyhik']} in the same run. Reproduce with "
        f"``python3 bench/run_all.py{' --quick' if quick else ''}``.",
        "",
        common.rst_table(sections),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = common.arg_parser(__doc__.splitlines()[0], public=True)
    parser.add_argument("--skip", nargs="*", default=[], metavar="NAME",
                        choices=[name for name, _, _ in BENCHES])
    parser.add_argument("--rst", metavar="FILE", help="write the table as reStructuredText")
    args = parser.parse_args()
    info = common.machine_info()
    when = datetime.date.today().isoformat()
    print(common.header_text("pyhik benchmarks"))
    if not args.no_public:
        common.public_python()
    sys.stdout.flush()
    sections: List[Dict[str, Any]] = []
    walls: Dict[str, float] = {}
    failures: List[str] = []
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, has_public in BENCHES:
            if name in args.skip:
                continue
            out = Path(tmp) / f"{name}.json"
            argv = [sys.executable, str(common.BENCH_DIR / script), "--json", str(out)]
            if args.quick:
                argv.append("--quick")
            if args.no_public and has_public:
                argv.append("--no-public")
            print(f"\n### {script}", flush=True)
            t0 = time.monotonic()
            try:
                rc = subprocess.run(argv, timeout=BENCH_TIMEOUT_S).returncode
            except subprocess.TimeoutExpired:
                rc = -1
            walls[name] = time.monotonic() - t0
            if rc != 0 or not out.exists():
                failures.append(f"{script} failed (exit {rc})")
                sections.append(common.section(f"{script}: FAILED (exit {rc})", [], {}))
                continue
            sections += json.loads(out.read_text(encoding="utf-8"))
    total = time.monotonic() - t_all
    print("\n" + "=" * 78)
    print(common.header_text("pyhik benchmarks: all results"))
    print()
    print(common.text_table(sections))
    print()
    targets = [r for s in sections for r in s["rows"] if r["ok"] is not None]
    passed = sum(1 for r in targets if r["ok"])
    print(f"targets: {passed} of {len(targets)} met"
          + "".join(f"\n  FAIL: {r['metric']}: {r['value']} (target {r['target']})"
                    for r in targets if not r["ok"]))
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items())
          + f"; total {total:.0f} s")
    for failure in failures:
        print(failure)
    if args.rst:
        Path(args.rst).write_text(_rst(sections, info, when, args.quick), encoding="utf-8")
        print(f"reStructuredText table written to {args.rst}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "date": when, "quick": args.quick,
                                               "wall_s": walls, "sections": sections},
                                              indent=1, default=str), encoding="utf-8")
        print(f"raw numbers written to {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
