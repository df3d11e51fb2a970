"""Long fuzz runs of the alert-stream pipeline: framer -> parser -> sensor book.

Two engines run the same check (:func:`check_input`) on each input:

    python3 fuzz/fuzz_stream.py hypothesis --examples 200000   # structured + random inputs
    python3 fuzz/fuzz_stream.py seeds /tmp/pyhik-corpus        # seed corpus for atheris
    python3 fuzz/fuzz_stream.py atheris /tmp/pyhik-corpus -max_total_time=600 -max_len=65536
    python3 fuzz/fuzz_stream.py one crash-<hash>                  # re-run saved inputs

Catch-all hits of bugs already reported (:data:`KNOWN_BUGS`) are counted, not failures;
``--strict`` (any engine) makes them fail too.

An input is a small header (content type, part cap, cut points) and the stream bytes.
The check fails (AssertionError) when the framer or the parser raises, when the parser's
catch-all logs a traceback (a bug, never bad input), when the framer's buffer passes
``max_part_bytes + BUFFER_SLACK_BYTES`` after a feed, when two splits of the same bytes
give different parts, or when the sensor book breaks an invariant. See fuzz/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
import time
from datetime import datetime, timedelta
from typing import Dict, List, Optional, Sequence, Tuple

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [_ROOT, os.path.join(_ROOT, "tests")]

CONTENT_TYPES: Tuple[Optional[str], ...] = (
    "multipart/mixed; boundary=boundary", None, "multipart/mixed; boundary=b",
    "text/plain", 'multipart/mixed; boundary="MIME_boundary"', "application/xml")
CAPS = (1 << 20, 4096, 700, 64, 1)
MAX_CUTS = 16
T0 = datetime(2026, 1, 1)


KNOWN_BUGS: Dict[str, Tuple[type, str]] = {
    # name: (exception type, text in its message), for a catch-all hit already reported
    # and not fixed yet, e.g. "long-encoding-name": (LookupError, "unknown encoding"),
    # the first find of this fuzzer, fixed in d711d8d.
}
"""Catch-all hits already reported: counted, not failures (``--strict`` makes them fail)."""


class _Failures(logging.Handler):
    """Records library log records that carry a traceback (a catch-all was hit)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: List[logging.LogRecord] = []
        self.known = dict.fromkeys(KNOWN_BUGS, 0)
        self.strict = False

    def emit(self, record: logging.LogRecord) -> None:
        if not record.exc_info:
            return
        err = record.exc_info[1]
        for name, (kind, text) in KNOWN_BUGS.items():
            if not self.strict and isinstance(err, kind) and text in str(err):
                self.known[name] += 1
                return
        self.records.append(record)


FAILURES = _Failures()


def quiet_logging() -> None:
    """Bad input makes the library log warnings by design; keep them off the terminal."""
    logger = logging.getLogger("pyhik")
    logger.addHandler(FAILURES)
    logger.propagate = False
    logger.setLevel(logging.WARNING)


def encode(stream: bytes, content_type: int = 0, cap: int = 0,
           cuts: Sequence[int] = ()) -> bytes:
    """The input bytes that :func:`check_input` decodes back to these choices."""
    cuts = list(cuts)[:MAX_CUTS]
    head = bytes([content_type % 256, cap % 256, len(cuts)])
    return head + b"".join((c % 65536).to_bytes(2, "big") for c in cuts) + stream


def decode(data: bytes) -> Tuple[Optional[str], int, List[int], bytes]:
    if len(data) < 3:
        return CONTENT_TYPES[0], CAPS[0], [], data
    content_type = CONTENT_TYPES[data[0] % len(CONTENT_TYPES)]
    cap = CAPS[data[1] % len(CAPS)]
    n = data[2] % (MAX_CUTS + 1)
    raw = data[3:3 + 2 * n]
    cuts = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw) - 1, 2)]
    return content_type, cap, cuts, data[3 + 2 * n:]


def _frame(pieces: Sequence[bytes], content_type: Optional[str], cap: int) -> list:
    from streamkit import frame_checked
    parts, _ = frame_checked(pieces, content_type, cap)
    assert all(len(p.body) <= cap for p in parts), "a part over the cap came out"
    return parts


def check_input(data: bytes) -> int:
    """Run one input through the pipeline; return how many alerts it gave."""
    from pyhik.protocol.alerts import Alert, parse_alert
    from pyhik.protocol.templates import AlertParser
    from pyhik.state.book import SensorBook

    content_type, cap, cuts, stream = decode(data)
    whole = _frame([stream], content_type, cap)
    points = sorted({c for c in cuts if 0 < c < len(stream)})
    pieces = [stream[a:b] for a, b in zip([0] + points, points + [len(stream)])]
    split = _frame(pieces, content_type, cap)
    assert split == whole, "two splits of the same bytes gave different parts"

    del FAILURES.records[:]
    alerts = [parse_alert(p.body, p.content_type) for p in whole]
    assert not FAILURES.records, f"parser catch-all hit: {FAILURES.records[0].getMessage()}"
    memo = AlertParser()  # the watcher's parser: from a template's third sighting, filled in
    for _ in range(3):
        for part, want in zip(whole, alerts):
            got = memo.parse(part.body, part.content_type)
            assert got == want and (want is None or got.raw == want.raw), "memo disagrees"
    alerts = [a for a in alerts if a is not None]
    for alert in alerts:
        assert isinstance(alert, Alert) and alert.event and alert.state in ("active", "inactive")

    book = SensorBook(stale_s=2.0, track_video_loss=bool(cap & 1))
    now = 0.0
    for i, alert in enumerate(alerts):
        now += 0.7
        wall = T0 + timedelta(seconds=now)
        book.apply(alert, now, wall)
        if i % 2:
            book.expire(now, wall)
            deadline = book.next_deadline()
            assert deadline is None or deadline > now, "expire left a due deadline"
        on = any(s.is_on for s in book.states())
        assert on == (book.next_deadline() is not None), "deadline and on-state disagree"
    book.expire(now + 3.0, T0)
    assert not any(s.is_on for s in book.states()), "a sensor stayed on after stale_s"
    assert book.next_deadline() is None
    return len(alerts)


# -- seeds ----------------------------------------------------------------------------------
def seed_inputs() -> List[bytes]:
    """Valid streams from the fixtures, in several framings and splits."""
    from streamkit import fixture_alert_bodies, fixture_alert_files, multipart_part, wrap_multipart

    from pyhik.emulator import parts as emu_parts

    bodies = fixture_alert_bodies()
    files = [p.read_bytes() for p in fixture_alert_files()]
    jpeg = emu_parts.jpeg(2000)
    seeds = []
    for i in range(0, len(bodies), 400):
        docs = bodies[i:i + 4]
        seeds.append(encode(wrap_multipart(docs), 0, 0, [50, 400]))
        seeds.append(encode(wrap_multipart(docs, crlf=False, content_length=False), 1, 2, [7]))
    for doc in files:
        ctype = "application/json" if doc.lstrip()[:1] == b"{" else "application/xml"
        seeds.append(encode(multipart_part(doc, content_type=ctype)
                            + multipart_part(jpeg, content_type="image/jpeg")
                            + multipart_part(doc, content_type=ctype, content_length=False),
                            0, 0, [100, 3000]))
        seeds.append(encode(doc, 1, 0))
    seeds.append(encode(wrap_multipart(bodies[:3], boundary="b", closing=True), 2, 3, [1, 2, 3]))
    return seeds


def write_seeds(directory: str) -> int:
    os.makedirs(directory, exist_ok=True)
    seeds = seed_inputs()
    for i, seed in enumerate(seeds):
        with open(os.path.join(directory, f"seed-{i:03d}"), "wb") as out:
            out.write(seed)
    return len(seeds)


# -- engines --------------------------------------------------------------------------------
def run_hypothesis(examples: int, seconds: Optional[float], seed: int) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    seeds = seed_inputs()
    from test_fuzz_properties import TOKENS, mutate  # the suite's mutator, more tokens here

    tokens = TOKENS + [b"--b", b"Content-Type: application/json\r\n", b"<!DOCTYPE x>"]
    mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "repeat"]),
                         st.integers(0, 1 << 16), st.integers(0, 400),
                         st.one_of(st.sampled_from(tokens), st.binary(min_size=1, max_size=16)))

    structured = st.builds(lambda s, ops: mutate(s, ops), st.sampled_from(seeds),
                           st.lists(mutation, max_size=10))
    unstructured = st.builds(encode, st.binary(max_size=6000), st.integers(0, 255),
                             st.integers(0, 255), st.lists(st.integers(0, 65535), max_size=16))
    stats = {"examples": 0, "alerts": 0}
    deadline = time.monotonic() + seconds if seconds else None

    @hseed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(structured, structured, unstructured))
    def fuzz(data: bytes) -> None:
        if deadline is not None and time.monotonic() > deadline:
            return
        stats["examples"] += 1
        stats["alerts"] += check_input(data)

    started = time.monotonic()
    failed = 0
    try:
        fuzz()
    except Exception as err:  # the falsifying example is printed by hypothesis
        failed = 1
        print(f"FAILURE: {type(err).__name__}: {err}")
    print(f"hypothesis: {stats['examples']} examples in {time.monotonic() - started:.0f} s "
          f"(seed {seed}), {stats['alerts']} alerts parsed, failures: {failed}")
    return failed


def run_atheris(argv: List[str]) -> None:
    import atheris

    with atheris.instrument_imports():
        import pyhik.protocol.alerts  # noqa: F401
        import pyhik.protocol.alerts_json  # noqa: F401
        import pyhik.protocol.docscan  # noqa: F401
        import pyhik.protocol.multipart  # noqa: F401
        import pyhik.protocol.partheaders  # noqa: F401
        import pyhik.protocol.templates  # noqa: F401
        import pyhik.state.book  # noqa: F401
    atheris.Setup([sys.argv[0]] + argv, check_input)
    atheris.Fuzz()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("hypothesis", "atheris", "seeds", "one"):
        print(__doc__)
        return 2
    quiet_logging()
    engine, rest = args[0], args[1:]
    if "--strict" in rest:
        rest.remove("--strict")
        FAILURES.strict = True
    atexit.register(lambda: print(f"known bugs hit (not counted as failures): {FAILURES.known}"))
    if engine == "atheris":
        run_atheris(rest)
        return 0
    if engine == "seeds":
        print(f"wrote {write_seeds(rest[0] if rest else 'corpus')} seeds")
        return 0
    if engine == "one":  # re-run saved inputs (a crash file, a corpus entry)
        for path in rest:
            with open(path, "rb") as saved:
                print(path, "alerts:", check_input(saved.read()))
        return 0
    parser = argparse.ArgumentParser(prog="fuzz_stream.py hypothesis")
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    opts = parser.parse_args(rest)
    return run_hypothesis(opts.examples, opts.seconds, opts.seed)


if __name__ == "__main__":
    sys.exit(main())
