"""Decodes HTTP/1.1 chunked transfer coding incrementally, without I/O.

The alert stream is one endless chunked body. Reading it through urllib3 and http.client
costs a few Python calls per HTTP chunk, and devices send one chunk per alert; and a read
through them cannot return "no bytes yet, a deadline is due" without ending the body.
:mod:`pyhik.stream.transport` reads the response's buffered file (over its own socket reader)
directly instead and undoes the chunk framing here, many chunks per read. Any split of the
input gives the same output; the cost is linear in the bytes fed (each byte is looked at a
bounded number of times).
"""

from __future__ import annotations

from typing import List

__all__ = ["ChunkedDecoder", "ChunkError", "MAX_SIZE_LINE_BYTES"]

MAX_SIZE_LINE_BYTES = 1024
"""A chunk-size line (hex size, extensions) longer than this is not HTTP."""

_SIZE, _DATA, _DATA_END = 0, 1, 2


class ChunkError(ValueError):
    """The bytes are not chunked transfer coding."""


class ChunkedDecoder:
    """``feed(data)`` returns the payload bytes in ``data``; ``done`` after the last chunk."""

    def __init__(self) -> None:
        self.done = False
        self._state = _SIZE
        self._left = 0
        self._line = bytearray()

    def feed(self, data: bytes) -> bytes:
        out = []
        i, n = 0, len(data)
        while i < n and not self.done:
            if self._state == _DATA:
                take = min(self._left, n - i)
                out.append(data[i:i + take])
                i += take
                self._left -= take
                if not self._left:
                    self._state = _DATA_END
            elif self._state == _DATA_END:  # the CRLF after a chunk's data (LF tolerated)
                end = data.find(b"\n", i)
                if end < 0:
                    return self._join(out)
                i = end + 1
                self._state = _SIZE
            else:
                end = data.find(b"\n", i)
                if end < 0:
                    self._line += data[i:]
                    if len(self._line) > MAX_SIZE_LINE_BYTES:
                        raise ChunkError("chunk-size line too long")
                    return self._join(out)
                self._line += data[i:end]
                i = end + 1
                self._start_chunk()
        return self._join(out)

    def _start_chunk(self) -> None:
        text = bytes(self._line).split(b";", 1)[0].strip()
        self._line.clear()
        if not text:
            return  # a stray blank line between chunks
        try:
            size = int(text, 16)
        except ValueError:
            raise ChunkError(f"bad chunk size {text[:20]!r}") from None
        if size < 0:
            raise ChunkError("negative chunk size")
        if size == 0:
            self.done = True
        else:
            self._left = size
            self._state = _DATA

    @staticmethod
    def _join(out: List[bytes]) -> bytes:
        return out[0] if len(out) == 1 else b"".join(out)
