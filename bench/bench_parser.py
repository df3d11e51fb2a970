"""Benchmark 1: framer + alert parser over the real captured alerts, against bare ElementTree.

The HikSink sequences of tests/fixtures/streams (about 7,800 real alert documents from a
camera, an NVR and a PTZ) are wrapped as one multipart stream and fed to
``MultipartFramer`` in 1 KiB and 64 KiB reads, each part going through the stream's
``AlertParser`` (``parse_alert`` with the per-stream template memo, as the watcher uses it).
Beside it: the framer alone, the parser alone (with its memo, and ``parse_alert`` without
one), and a bare ``ElementTree.fromstring`` over the same documents (the floor of any
ElementTree-based parser, which the memo goes under for repeated alerts). Median of
several runs.

    python3 bench/bench_parser.py [--quick] [--json FILE]
"""

from __future__ import annotations

import gc
import logging
import time
import xml.etree.ElementTree as ET
from typing import Callable, Dict, List

import common
from common import fmt_rate, median, row, section
from streamkit import chunks, fixture_alert_bodies, wrap_multipart

from pyhik.protocol.alerts import parse_alert
from pyhik.protocol.multipart import MultipartFramer
from pyhik.protocol.templates import AlertParser

CONTENT_TYPE = "multipart/mixed; boundary=boundary"
READ_SIZES = (1024, 65536)


def timed(fn: Callable[[], int], runs: int) -> Dict[str, float]:
    """Median seconds of ``runs`` calls (after one warm-up call) and the count it returned."""
    count = fn()
    times = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        got = fn()
        times.append(time.perf_counter() - t0)
        if got != count:
            raise RuntimeError(f"runs disagree: {got} vs {count}")
    return {"s": median(times), "min_s": min(times), "max_s": max(times), "count": count}


def framer_and_parser(pieces: List[bytes]) -> int:
    framer = MultipartFramer(CONTENT_TYPE)
    parse = AlertParser().parse
    n = 0
    for piece in pieces:
        for part in framer.feed(piece):
            if parse(part.body, part.content_type) is not None:
                n += 1
    for part in framer.close():
        if parse(part.body, part.content_type) is not None:
            n += 1
    return n


def framer_only(pieces: List[bytes]) -> int:
    framer = MultipartFramer(CONTENT_TYPE)
    n = 0
    for piece in pieces:
        n += len(framer.feed(piece))
    return n + len(framer.close())


def parser_only(bodies: List[bytes]) -> int:
    return sum(1 for body in bodies if parse_alert(body, "application/xml") is not None)


def memo_parser_only(bodies: List[bytes]) -> int:
    parse = AlertParser().parse
    return sum(1 for body in bodies if parse(body, "application/xml") is not None)


def memo_hits(bodies: List[bytes]) -> Dict[str, int]:
    parser = AlertParser()
    for body in bodies:
        parser.parse(body, "application/xml")
    return {"hits": parser.hits, "misses": parser.misses}


def bare_fromstring(bodies: List[bytes]) -> int:
    fromstring = ET.fromstring
    for body in bodies:
        fromstring(body)
    return len(bodies)


def run(quick: bool = False) -> Dict:
    logging.basicConfig(level=logging.ERROR)
    bodies = fixture_alert_bodies()
    stream = wrap_multipart(bodies)
    runs = 3 if quick else 7
    n_docs = len(bodies)
    print(f"{n_docs} real alert documents, {len(stream) / common.MIB:.1f} MiB as a multipart "
          f"stream; median of {runs} runs")
    raw: Dict[str, Dict[str, float]] = {}
    for size in READ_SIZES:
        pieces = chunks(stream, size)
        raw[f"framer+parser {size}"] = timed(lambda pieces=pieces: framer_and_parser(pieces), runs)
        raw[f"framer {size}"] = timed(lambda pieces=pieces: framer_only(pieces), runs)
    raw["memo parser"] = timed(lambda: memo_parser_only(bodies), runs)
    raw["parser"] = timed(lambda: parser_only(bodies), runs)
    raw["fromstring"] = timed(lambda: bare_fromstring(bodies), runs)
    for _name, fig in raw.items():
        fig["us_per_alert"] = fig["s"] / n_docs * 1e6
        fig["alerts_per_s"] = n_docs / fig["s"]
    floor = raw["fromstring"]["us_per_alert"]
    rows = []
    for size in READ_SIZES:
        fig = raw[f"framer+parser {size}"]
        label = "1 KiB" if size == 1024 else "64 KiB"
        rows.append(row(f"framer + parser, {label} reads",
                        f"{fmt_rate(fig['alerts_per_s'])} alerts/s, "
                        f"{fig['us_per_alert']:.1f} us/alert",
                        note=f"{fig['us_per_alert'] / floor:.2f}x bare fromstring"))
    for size in READ_SIZES:
        fig = raw[f"framer {size}"]
        label = "1 KiB" if size == 1024 else "64 KiB"
        rows.append(row(f"  of which framer alone, {label} reads",
                        f"{fig['us_per_alert']:.1f} us/alert"))
    fig = raw["memo parser"]
    memo = memo_hits(bodies)
    rows.append(row("  of which AlertParser alone (template memo)",
                    f"{fig['us_per_alert']:.1f} us/alert",
                    note=f"{memo['hits']:,} of {n_docs:,} filled from a template"))
    fig = raw["parser"]
    rows.append(row("parse_alert alone, no memo", f"{fig['us_per_alert']:.1f} us/alert"))
    fig = raw["fromstring"]
    rows.append(row("bare ElementTree.fromstring (floor)",
                    f"{fmt_rate(fig['alerts_per_s'])} docs/s, {fig['us_per_alert']:.1f} us/doc"))
    counts = {name: fig["count"] for name, fig in raw.items()}
    if any(c != n_docs for c in counts.values()):
        rows.append(row("documents counted", str(counts), "all", False))
    return section(f"1. Parser over {n_docs:,} real alerts", rows,
                   {"documents": n_docs, "stream_bytes": len(stream), "runs": runs,
                    "memo": memo, "figures": raw})


def main() -> None:
    args = common.arg_parser(__doc__.splitlines()[0]).parse_args()
    print(common.header_text("Benchmark 1: parser"))
    common.finish([run(args.quick)], args.json)


if __name__ == "__main__":
    main()
