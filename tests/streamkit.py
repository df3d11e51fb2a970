"""Test helpers that build alert-stream bytes from the real fixture documents.

Shared by tests, benchmarks and the fuzz script; imports no test framework.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from pyhik.protocol.multipart import BUFFER_SLACK_BYTES, MAX_PART_BYTES, MultipartFramer, Part

FIXTURES = Path(__file__).parent / "fixtures"

DEFAULT_CONTENT_TYPE = 'application/xml; charset="UTF-8"'


def multipart_part(body: bytes, boundary: str = "boundary", *, crlf: bool = True,
                   content_length: bool = True,
                   content_type: str = DEFAULT_CONTENT_TYPE) -> bytes:
    """One part as a Hikvision device sends it: delimiter, headers, blank line, body, EOL."""
    eol = b"\r\n" if crlf else b"\n"
    head = [b"--" + boundary.encode("latin-1")]
    if content_type:
        head.append(b"Content-Type: " + content_type.encode("latin-1"))
    if content_length:
        head.append(b"Content-Length: %d" % len(body))
    return eol.join(head) + eol + eol + body + eol


def wrap_multipart(bodies: Iterable[bytes], boundary: str = "boundary", *, crlf: bool = True,
                   content_length: bool = True,
                   content_type: str = DEFAULT_CONTENT_TYPE, closing: bool = False) -> bytes:
    """A ``multipart/mixed`` stream body holding ``bodies``; ``closing`` adds ``--boundary--``."""
    out = b"".join(multipart_part(body, boundary, crlf=crlf, content_length=content_length,
                                  content_type=content_type) for body in bodies)
    if closing:
        out += b"--" + boundary.encode("latin-1") + b"--" + (b"\r\n" if crlf else b"\n")
    return out


@lru_cache(maxsize=None)
def _stream_alerts() -> Tuple[bytes, ...]:
    bodies = []
    for path in sorted((FIXTURES / "streams").glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    bodies.append(json.loads(line)["content"].encode("utf-8"))
    return tuple(bodies)


def fixture_alert_bodies() -> List[bytes]:
    """Every alert document of ``fixtures/streams/*.jsonl`` as bytes, in file order."""
    return list(_stream_alerts())


def fixture_alert_files() -> List[Path]:
    """The single-document files of ``fixtures/alerts/`` (XML and JSON), sorted."""
    return sorted(p for p in (FIXTURES / "alerts").iterdir() if p.suffix in (".xml", ".json"))


def split_at(data: bytes, cuts: Iterable[int]) -> List[bytes]:
    """``data`` cut at the given offsets (out-of-range and repeated ones are ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


def chunks(data: bytes, size: int) -> List[bytes]:
    """``data`` in pieces of ``size`` bytes (the last one shorter)."""
    return [data[i:i + size] for i in range(0, len(data), size)]


def frame_checked(pieces: Sequence[bytes], content_type: Optional[str],
                  max_part_bytes: int = MAX_PART_BYTES) -> Tuple[List[Part], MultipartFramer]:
    """Feed the pieces to a new framer, then close it; assert the buffer bound after
    every feed. Returns the parts and the framer (for its counters)."""
    framer = MultipartFramer(content_type, max_part_bytes=max_part_bytes)
    parts: List[Part] = []
    for piece in pieces:
        parts += framer.feed(piece)
        assert framer.buffered_bytes <= framer.max_part_bytes + BUFFER_SLACK_BYTES, \
            f"buffer {framer.buffered_bytes} over the cap {framer.max_part_bytes}"
    parts += framer.close()
    return parts, framer
