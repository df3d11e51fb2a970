"""Frames the body of a Hikvision ``multipart/mixed`` alert stream into parts, without I/O.

``MultipartFramer.feed(data)`` takes bytes as they are read and returns the parts they
completed; ``close()`` ends the stream. It reads no socket and no clock, and every decision
depends only on the bytes, never on how they were split: any split gives the same parts.

Rules of the machine
- Delimiter: ``--`` + the boundary of the Content-Type. Without one, the stream's first
  non-blank line when it starts with ``--`` (a raw capture as ``curl`` saves it); that line
  also wins when the declared boundary is not the first line (a device lying about it).
- A part is header lines (CRLF or LF) up to a blank line, or up to a line that is not a
  header, then a body. With Content-Length the body ends there as soon as those bytes look
  like a whole document (so an alert is handed over without waiting for the next part);
  when they do not, or the delimiter comes first, the Content-Length is wrong and the body
  ends at the next delimiter, or for XML right after the ``EventNotificationAlert`` end tag.
  Bodies come out stripped of surrounding white space; empty ones do not come out.
- Binary parts (``image/*``, ``application/octet-stream``, ...) are skipped and not kept:
  counted down by Content-Length, else scanned for the delimiter. A text part over
  ``max_part_bytes`` is dropped with a warning. Between parts, anything up to the next
  delimiter is skipped (extra blank lines, a closing ``--boundary--``, stray bytes).
- Fallback, when there is no boundary, or the declared one is not seen within
  ``PREAMBLE_MAX_BYTES`` or before a whole alert document: :mod:`pyhik.protocol.docscan` cuts whole
  documents out of the bytes (``<EventNotificationAlert>`` XML with its ``<?xml?>`` prolog,
  top-level JSON objects). Those parts have no headers. A file holding one document (a
  fixture, a saved alert) therefore gives one part. (Pure: imports only pyhik.protocol.docscan.)

Cost: the peer controls the input, so a slow path would be a denial of service. The work is
O(n) in the bytes received, whatever the split (like h11's ``_receivebuffer``). Each kind of
needle (delimiter, XML start tag, XML end tag, JSON start, JSON tokens) has its own search
position that only moves forward; a search that finds nothing resumes next time at the end
of the data less the longest match, so no byte is looked at more than a bounded number of
times. Between calls the buffer holds at most ``max_part_bytes + BUFFER_SLACK_BYTES``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, List, Mapping, Optional

from .docscan import XML_CLOSE, DocumentScanner, Finder, looks_complete
from .partheaders import (
    BINARY_TYPES,
    HeaderBlocks,
    PartHeaders,
    add_header,
    boundary_from_content_type,
    media_type,
)

__all__ = ["Part", "MultipartFramer", "boundary_from_content_type", "MAX_PART_BYTES",
           "PREAMBLE_MAX_BYTES", "BUFFER_SLACK_BYTES"]

_LOGGER = logging.getLogger(__name__)

MAX_PART_BYTES = 1 << 20
"""Default cap on one part (and one fallback document)."""
PREAMBLE_MAX_BYTES = 64 * 1024
"""Bytes searched for the declared delimiter before falling back to document scanning."""
HEADER_MAX_BYTES = 16 * 1024
LINE_MAX_BYTES = 256
BUFFER_SLACK_BYTES = 1024
"""What the buffer may hold beyond ``max_part_bytes`` between calls."""

_NEVER = re.compile(rb"(?!)")
_NONBLANK = re.compile(rb"[^ \t\r\n]")
_BLANK_LINE = re.compile(rb"[ \t\r]{0,255}\n")
_SPACES = re.compile(rb"[ \t\r]*")
# Header names are RFC 7230 tokens: a body line such as '{"eventType": ...' is not a header.
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}"
_HEADER = re.compile(_TOKEN + rb"[ \t]{0,8}:")
_HEADER_BLOCK = re.compile(rb"(?:" + _TOKEN + rb"[ \t]{0,8}:[^\n]*\n){1,32}([ \t\r]{0,255}\n)")
_HEADER_PEEK_BYTES = 80
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Part:
    """One part of the stream: its headers and its body."""

    headers: Mapping[str, str] = field(hash=False)
    """Header names lower-cased; empty for documents found by the fallback scanner."""
    body: bytes
    """The payload, stripped of surrounding white space."""

    @property
    def content_type(self) -> str:
        """Lower-cased media type without parameters (``application/xml``); '' if unknown."""
        return media_type(self.headers.get("content-type", ""))


class MultipartFramer:
    """Incremental, sans-IO framer of an alert stream body: bytes in, :class:`Part` out."""

    def __init__(self, content_type: Optional[str] = None, *,
                 max_part_bytes: int = MAX_PART_BYTES) -> None:
        self.max_part_bytes = max(1, int(max_part_bytes))
        self.bytes_received = 0
        self.parts = 0
        self.dropped_parts = 0
        self.skipped_binary_parts = 0
        self._preamble_max = min(PREAMBLE_MAX_BYTES, self.max_part_bytes)
        self._header_max = min(HEADER_MAX_BYTES, self.max_part_bytes)
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]; every position below is a stream offset
        self._out: List[Part] = []
        self._closed = False
        boundary = boundary_from_content_type(content_type)
        self._declared = None if boundary is None else \
            ("--" + boundary).encode("latin-1", "replace")
        self._delim = b""
        self._delim_find = Finder(_NEVER, 0)  # replaced once a delimiter is known
        if self._declared is not None:
            self._set_delim(self._declared)
        self._state = "sniff"
        self._pos = self._pstart = self._hstart = self._start = 0
        self._end = -1  # Content-Length end of the body being read or skipped, -1 if none
        self._headers: Dict[str, str] = {}  # of the part whose header lines are being read
        self._part = PartHeaders.of({})  # of the part being read
        self._blocks = HeaderBlocks()
        self._block_tried, self._eol_from = False, 0
        self._closer = Finder(XML_CLOSE, 80)
        self._scanner: Optional[DocumentScanner] = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes held in the buffer now (bounded, see the module docstring)."""
        return len(self._buf)

    @property
    def mode(self) -> str:
        """``"sniff"`` (not decided yet), ``"multipart"`` or ``"fallback"``."""
        if self._state in ("sniff", "preamble"):
            return "sniff"
        return "fallback" if self._state == "fallback" else "multipart"

    @property
    def boundary(self) -> Optional[str]:
        """The boundary in use (or declared, before it is decided), without the ``--``."""
        return self._delim[2:].decode("latin-1") if self._delim else None

    def feed(self, data: bytes) -> List[Part]:
        """Add bytes read from the stream; return the parts they completed, in order."""
        if self._closed or not data:
            return []
        self.bytes_received += len(data)
        self._buf += data
        self._run(final=False)
        return self._take()

    def close(self) -> List[Part]:
        """End of stream: return a last whole document still held, if any."""
        if self._closed:
            return []
        self._run(final=True)
        if self._state == "body":
            body = bytes(self._buf[self._start - self._base:])
            if len(body) <= self.max_part_bytes and looks_complete(body, self._part.media):
                self._emit(body, self._part.headers)
        self._closed = True
        self._buf = bytearray()
        return self._take()

    # -- machinery -------------------------------------------------------------------
    def _take(self) -> List[Part]:
        out, self._out = self._out, []
        return out

    def _run(self, final: bool) -> None:
        steps = _STEPS
        while steps[self._state](self, final):
            pass
        state = self._state
        if state == "fallback":
            keep = self._scanner.keep if self._scanner is not None else self._pos
        else:
            keep = {"preamble": self._pstart, "headers": self._hstart,
                    "body": self._start}.get(state, self._pos)
        if keep > self._base:
            del self._buf[:keep - self._base]
            self._base = keep

    def _set_delim(self, delim: bytes) -> None:
        self._delim = delim
        self._delim_find = Finder(re.compile(re.escape(delim) + rb"(?=[ \t\r\n]|--)"),
                                   len(delim) + 2)

    def _goto(self, state: str, pos: int) -> bool:
        self._state, self._pos = state, pos
        return True

    def _emit(self, body: bytes, headers: Mapping[str, str]) -> None:
        body = body.strip()
        if body:
            self._out.append(Part(headers, body))
            self.parts += 1

    def _drop(self, what: str, size: int) -> None:
        self.dropped_parts += 1
        _LOGGER.warning("Dropped a %s of more than max_part_bytes=%d bytes (%d seen)",
                        what, self.max_part_bytes, size)

    def _to_fallback(self, at: int, why: str) -> bool:
        if why:
            _LOGGER.warning("Alert stream: %s; scanning for whole documents instead", why)
        self._state = "fallback"
        self._scanner = DocumentScanner(self.max_part_bytes, at, self._drop)
        return True

    # -- deciding how to frame ---------------------------------------------------------
    def _step_sniff(self, final: bool) -> bool:
        buf, base = self._buf, self._base
        match = _NONBLANK.search(buf, self._pos - base)
        if match is None:
            self._pos = base + len(buf)
            return False
        i = match.start()
        self._pos = base + i
        if buf[i:i + 2] == b"--":
            eol = buf.find(b"\n", i, i + LINE_MAX_BYTES)
            if eol >= 0:
                if self._declared is not None and self._delim_find.pattern.match(buf, i):
                    return self._goto("delim", base + i)
                line = bytes(buf[i:eol]).rstrip()
                if len(line) > 2:
                    if self._declared is not None:
                        _LOGGER.warning("Alert stream declares boundary %r but uses %r",
                                        self._declared[2:], line[2:])
                    self._set_delim(line)
                    return self._goto("delim", base + i)
            elif len(buf) - i < LINE_MAX_BYTES and not final:
                return False
        elif buf[i:i + 1] == b"-" and len(buf) - i < 2 and not final:
            return False
        if self._declared is None or buf[i] in b"<{":
            why = "a document came instead of the declared boundary" if self._declared else ""
            return self._to_fallback(base + i, why)
        self._pstart = base + i
        self._state = "preamble"
        return True

    def _step_preamble(self, final: bool) -> bool:
        buf, base, lo = self._buf, self._base, self._pstart
        n, lim, size = base + len(buf), lo + self._preamble_max, len(self._delim)
        j = self._delim_find.next(buf, base, lo)
        c = self._closer.next(buf, base, lo)
        if c >= 0 and c < lim and (j > c or (j < 0 and (final or n >= c + size + 2))):
            return self._to_fallback(lo, "a whole alert came before any declared boundary")
        if 0 <= j < lim and (c < 0 or j < c):
            return self._goto("delim", j)
        if final or n >= lim + max(size + 2, self._closer.overlap):
            return self._to_fallback(lo, "the declared boundary was not found")
        return False

    # -- multipart ---------------------------------------------------------------------
    def _step_seek(self, final: bool) -> bool:
        j = self._delim_find.next(self._buf, self._base, self._pos)
        if j >= 0:
            return self._goto("delim", j)
        self._pos = max(self._pos, self._delim_find.scan)
        return False

    def _step_delim(self, final: bool) -> bool:
        buf, base = self._buf, self._base
        e = self._pos - base + len(self._delim)
        if buf[e:e + 2] == b"--":  # closing delimiter: whatever follows is epilogue
            return self._goto("seek", base + e + 2)
        eol = buf.find(b"\n", e, e + LINE_MAX_BYTES)
        if eol < 0:
            if len(buf) - e >= LINE_MAX_BYTES:
                return self._goto("seek", base + e)
            return False
        self._hstart = base + eol + 1
        self._headers, self._block_tried = {}, False
        return self._goto("headers", self._hstart)

    def _step_headers(self, final: bool) -> bool:
        buf, base, headers = self._buf, self._base, self._headers
        n, i = len(buf), self._pos - base
        if not self._block_tried:  # fast path, once a part: a retry would rescan the block
            self._block_tried = True
            block = _HEADER_BLOCK.match(buf, i)
            if block is not None and base + block.start(1) - self._hstart <= self._header_max:
                self._part = self._blocks.read(bytes(buf[i:block.start(1) - 1]))
                return self._begin_body(block.end())
        while i < n:  # the same rules, line by line, for blocks cut by a read
            blank = _BLANK_LINE.match(buf, i)
            if blank is not None:
                i = blank.end()
                if headers:
                    self._part = PartHeaders.of(headers)
                    return self._begin_body(i)
            else:
                spaces = _SPACES.match(buf, i)  # matches always (it may match nothing)
                if spaces is not None and spaces.end() == n and n - i <= 255 and not final:
                    break
                head = _HEADER.match(buf, i, i + _HEADER_PEEK_BYTES)
                if head is None:
                    if n - i < _HEADER_PEEK_BYTES and buf.find(b"\n", i) < 0 and not final:
                        break
                    self._part = PartHeaders.of(headers)
                    return self._begin_body(i)
                eol = buf.find(b"\n", max(head.end(), self._eol_from - base))
                if eol < 0:
                    self._eol_from = base + n
                    if base + n - self._hstart > self._header_max:
                        return self._goto("seek", self._hstart)
                    break
                add_header(headers, bytes(buf[i:eol]))
                i = eol + 1
            if base + i - self._hstart > self._header_max:
                return self._goto("seek", self._hstart)
        self._pos = base + i
        return False

    def _begin_body(self, i: int) -> bool:
        """The header block ended at ``i`` (buffer index); ``self._part`` holds it."""
        media, length = self._part.media, self._part.length
        start = self._base + i
        if media.startswith(BINARY_TYPES) or (length or 0) > self.max_part_bytes:
            if media.startswith(BINARY_TYPES):
                self.skipped_binary_parts += 1
            else:
                self._drop("part (by its Content-Length)", length or 0)
            if length is None:
                return self._goto("seek", start)
            self._end = start + length
            return self._goto("skip", start)
        self._start = start
        self._end = -1 if length is None else start + length
        self._state = "body"
        return True

    def _step_skip(self, final: bool) -> bool:
        if self._base + len(self._buf) >= self._end:
            return self._goto("seek", self._end)
        self._pos = self._base + len(self._buf)
        return False

    def _step_body(self, final: bool) -> bool:
        buf, base, start, end = self._buf, self._base, self._start, self._end
        media = self._part.media
        n, size, cap = base + len(buf), len(self._delim), self.max_part_bytes
        j = self._delim_find.next(buf, base, start)
        if end >= 0:
            # A delimiter wholly inside the counted bytes means Content-Length ran long.
            if j < 0 or j + size + (2 if buf[j + size - base] == 0x2D else 1) > end:
                if n < end:
                    return False
                body = bytes(buf[start - base:end - base])
                if looks_complete(body, media):
                    self._emit(body, self._part.headers)
                    return self._goto("seek", max(start, end - size - 1))
            _LOGGER.debug("Content-Length %d does not frame the part; using the delimiter",
                          end - start)
            self._end = -1
            return True
        xmlish = not media or "xml" in media
        c = self._closer.next(buf, base, start) if xmlish else -1
        if j >= 0 and (c < 0 or j < c):
            stop, state, pos = j, "delim", j
        elif c >= 0 and (j >= 0 or final or n >= c + size + 2):
            stop, state, pos = self._closer.end, "seek", c
        elif n - start > cap + size + 2:
            self._drop("part", n - start)
            return self._goto("seek", start)
        else:
            return False
        if stop - start > cap:
            self._drop("part", stop - start)
        else:
            self._emit(bytes(buf[start - base:stop - base]), self._part.headers)
        return self._goto(state, pos)

    def _step_fallback(self, final: bool) -> bool:
        if self._scanner is not None:
            for doc in self._scanner.scan(self._buf, self._base):
                self._emit(doc, _NO_HEADERS)
        return False


_STEPS = {name[len("_step_"):]: step for name, step in vars(MultipartFramer).items()
          if name.startswith("_step_")}
