"""Cuts whole alert documents (XML or JSON) out of bytes that carry no multipart framing.

This is the fallback of :mod:`pyhik.protocol.multipart`, for streams without a usable boundary and
for files holding bare documents. It finds, in stream order and without overlap:

- ``<EventNotificationAlert ...>...</EventNotificationAlert>`` with any namespace prefix on
  the root, together with an ``<?xml ...?>`` prolog just before it. A second start tag
  before the end tag means the first document was cut short: it is given up.
- top-level JSON objects that open with ``{"``: braces are counted outside strings,
  escapes are honoured, and a byte that cannot occur in JSON (outside or inside a string)
  ends the attempt, so binary noise is rejected quickly.

Pure and incremental like the framer: positions are stream offsets into a buffer the caller
owns, each needle has a search position that only moves forward (cost O(n) in the bytes
seen), a document larger than the cap is given up, and ``keep`` says from which offset the
caller must still hold the bytes. ``looks_complete`` tells whether a framed body looks whole.
This module imports nothing from the project.
"""

from __future__ import annotations

import re
from typing import Callable, List, Pattern

__all__ = ["Finder", "DocumentScanner", "looks_complete", "XML_OPEN", "XML_CLOSE",
           "PROLOG_MAX_BYTES"]

PROLOG_MAX_BYTES = 200
"""How far before a root start tag an ``<?xml ...?>`` prolog is looked for."""

_NAME = rb"(?:[A-Za-z_][\w.\-]{0,31}:)?EventNotificationAlert"
XML_OPEN = re.compile(rb"<" + _NAME + rb"(?=[ \t\r\n>])")
XML_CLOSE = re.compile(rb"</" + _NAME + rb"[ \t\r\n]{0,16}>")
_XML_CLOSE_AT_END = re.compile(XML_CLOSE.pattern + rb"\Z")
_JSON_START = re.compile(rb'\{[ \t\r\n]{0,255}"')
_JSON_OUTSIDE = re.compile(rb'[{}"]|[^ \t\r\n\[\]:,0-9A-Za-z+\-.]')
_JSON_INSIDE = re.compile(rb'["\\\x00-\x1f]')


def looks_complete(body: bytes, media: str = "") -> bool:
    """Whether a part's body looks like a whole document rather than one cut short."""
    text = body.rstrip()
    if not text:
        return False
    if text.endswith(b">"):
        if b"EventNotificationAlert" in text[:256]:  # an alert must end with its end tag
            return _XML_CLOSE_AT_END.search(text, max(0, len(text) - 80)) is not None
        return True
    if text.endswith((b"}", b"]")):
        return True
    return bool(media) and "xml" not in media and "json" not in media


class Finder:
    """Incremental regex search over a growing buffer whose position only moves forward.

    ``overlap`` must be at least the longest match plus its look-ahead, so a match cut by
    the end of the data is found again on the next call.
    """

    __slots__ = ("pattern", "overlap", "at", "end", "scan")

    def __init__(self, pattern: Pattern[bytes], overlap: int) -> None:
        self.pattern, self.overlap = pattern, overlap
        self.at = self.end = -1  # last match (stream offsets); none in [search start, at)
        self.scan = 0

    def next(self, buf: bytearray, base: int, lo: int) -> int:
        """Stream offset of the first match starting at or after ``lo``; -1: none yet.

        ``buf[0]`` is at stream offset ``base``; ``lo`` must not decrease between calls.
        """
        if self.at >= lo:
            return self.at
        start = max(self.scan, lo)
        match = self.pattern.search(buf, start - base)
        if match is None:
            self.at = -1
            self.scan = max(start, base + len(buf) - self.overlap)
            return -1
        self.at, self.end = base + match.start(), base + match.end()
        self.scan = self.at + 1
        return self.at


class DocumentScanner:
    """Finds whole documents in a buffer owned by the caller; see the module docstring."""

    def __init__(self, max_doc_bytes: int, at: int,
                 on_drop: Callable[[str, int], None]) -> None:
        self.max_doc_bytes = max_doc_bytes
        self._on_drop = on_drop
        self._opener = Finder(XML_OPEN, 64)
        self._closer = Finder(XML_CLOSE, 80)
        self._json = Finder(_JSON_START, 260)
        self._fb = at  # no document may start before this offset
        self._cand = ""  # "xml" or "json" while a document is open
        self._cand_at = self._cs = 0  # its start tag or brace, and where its bytes start
        self._js_pos, self._js_depth, self._js_str = 0, 0, False
        self._found: List[bytes] = []

    @property
    def keep(self) -> int:
        """Stream offset from which the caller must keep the bytes."""
        return self._cs if self._cand else self._fb

    def scan(self, buf: bytearray, base: int) -> List[bytes]:
        """Scan what ``buf`` holds (``buf[0]`` at offset ``base``); return new documents."""
        while self._step(buf, base):
            pass
        found, self._found = self._found, []
        return found

    def _step(self, buf: bytearray, base: int) -> bool:
        if self._cand == "xml":
            return self._scan_xml(buf, base)
        if self._cand == "json":
            return self._scan_json(buf, base)
        lo = self._fb
        x = self._opener.next(buf, base, lo)
        j = self._json.next(buf, base, lo)
        if x < 0 and j < 0:
            self._fb = max(lo, min(self._opener.scan - PROLOG_MAX_BYTES, self._json.scan))
            return False
        # Neither needle can straddle the other, so the first one found really is first.
        if j < 0 or 0 <= x < j:
            cs, w = x, max(lo, x - PROLOG_MAX_BYTES)
            head = bytes(buf[w - base:x - base]).rstrip()
            p = head.rfind(b"<?xml")
            if head.endswith(b"?>") and p >= 0 and head.find(b"?>", p) == len(head) - 2:
                cs = w + p
            self._cand, self._cand_at, self._cs = "xml", x, cs
        else:
            self._cand, self._cand_at, self._cs = "json", j, j
            self._js_pos, self._js_depth, self._js_str = j + 1, 1, False
        return True

    def _scan_xml(self, buf: bytearray, base: int) -> bool:
        x, cs, cap = self._cand_at, self._cs, self.max_doc_bytes
        o = self._opener.next(buf, base, x + 1)
        c = self._closer.next(buf, base, x + 1)
        if c >= 0 and (o < 0 or c < o):
            end = self._closer.end
            if end - cs <= cap:
                self._found.append(bytes(buf[cs - base:end - base]))
                self._fb, self._cand = end, ""
                return True
            # Too big: resume as if given up before its end was seen (split-independent).
            self._on_drop("XML document", end - cs)
            self._fb, self._cand = x + 1, ""
            return True
        seen = o if o >= 0 else base + len(buf)
        if o < 0 and seen - cs <= cap:
            return False
        if seen - cs > cap:
            self._on_drop("XML document", seen - cs)
        self._fb, self._cand = x + 1, ""  # cut short (another start tag) or too big
        return True

    def _scan_json(self, buf: bytearray, base: int) -> bool:
        cs = self._cs
        n, limit = len(buf), cs + self.max_doc_bytes - base  # the last brace must be < limit
        stop = min(n, limit)
        i, depth, in_str = self._js_pos - base, self._js_depth, self._js_str
        while True:
            match = (_JSON_INSIDE if in_str else _JSON_OUTSIDE).search(buf, i, stop)
            if match is None:
                i = stop
                break
            k = match.start()
            ch = buf[k]
            if ch == 0x22:  # '"'
                in_str = not in_str
            elif in_str and ch == 0x5C:  # backslash: skip the escaped byte
                if k + 1 >= stop:
                    i = k
                    break
                k += 1
            elif not in_str and ch == 0x7B:  # '{'
                depth += 1
            elif not in_str and ch == 0x7D:  # '}'
                depth -= 1
                if depth == 0:
                    self._found.append(bytes(buf[cs - base:k + 1]))
                    self._fb, self._cand = base + k + 1, ""
                    return True
            else:
                return self._json_abort(base + k)
            i = k + 1
        self._js_pos, self._js_depth, self._js_str = base + i, depth, in_str
        if n < limit:
            return False
        self._on_drop("JSON object", n - (cs - base))
        return self._json_abort(base + limit)

    def _json_abort(self, at: int) -> bool:
        """Not a JSON object after all: no JSON may start before ``at``; XML still may."""
        self._json.scan, self._json.at = max(self._json.scan, at), -1
        self._fb, self._cand = self._cs + 1, ""
        return True
