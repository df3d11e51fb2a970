"""The header lines of one multipart part, and the boundary of a Content-Type (pure).

:class:`HeaderBlocks` reads a part's header block into a read-only mapping (names
lower-cased) with the two things the framer needs from it: the media type and the
Content-Length. A device sends the same few blocks over and over (the same Content-Type,
a few lengths), so each stream keeps the blocks it has read, bounded; the mapping is then
shared by the parts that had the same block.
"""

from __future__ import annotations

import functools
import re
from types import MappingProxyType
from typing import Dict, Hashable, Mapping, NamedTuple, Optional, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(Dict[K, V]):
    """A plain dict (lookups cost what a dict's do) whose :meth:`put` keeps at most
    ``cap`` entries, dropping the one stored first. For memos a peer's input fills."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = max(1, int(cap))

    def put(self, key: K, value: V) -> None:
        if key not in self and len(self) >= self.cap:
            del self[next(iter(self))]
        self[key] = value


__all__ = ["boundary_from_content_type", "media_type", "HeaderBlocks", "PartHeaders",
           "BOUNDARY_MAX_CHARS", "BINARY_TYPES"]

BOUNDARY_MAX_CHARS = 200
BINARY_TYPES = ("image/", "video/", "audio/", "application/octet-stream")
"""Media types of parts that are skipped, not parsed."""
MAX_BLOCKS = 64
"""Header blocks a stream remembers."""

_BOUNDARY = re.compile(r'(?:^|[;\s])boundary\s*=\s*(?:"([^"]*)"|([^\s;,"]+))', re.I)


def boundary_from_content_type(content_type: Optional[str]) -> Optional[str]:
    """The boundary of a ``multipart/*`` Content-Type (quotes removed), else None."""
    if not content_type:
        return None
    media, _, params = content_type.partition(";")
    if not media.strip().lower().startswith("multipart/"):
        return None
    match = _BOUNDARY.search(params)
    if match is None:
        return None
    value = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
    return value if 0 < len(value) <= BOUNDARY_MAX_CHARS else None


@functools.lru_cache(maxsize=64)  # a device repeats the same few header values
def media_type(value: str) -> str:
    """Lower-cased media type of a Content-Type value, without parameters."""
    return value.split(";", 1)[0].strip().lower()


def _content_length(headers: Mapping[str, str]) -> Optional[int]:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 16 else None


def add_header(headers: Dict[str, str], line: bytes) -> None:
    """Add one ``Name: value`` line (the caller checked it is one) to ``headers``."""
    name, _, value = line.partition(b":")
    headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")


class PartHeaders(NamedTuple):
    """A part's headers and what the framer reads from them."""

    headers: Mapping[str, str]
    media: str
    """Lower-cased media type, '' when there is no Content-Type."""
    length: Optional[int]
    """Content-Length, None when absent or not a number."""

    @classmethod
    def of(cls, headers: Dict[str, str]) -> "PartHeaders":
        return cls(MappingProxyType(headers), media_type(headers.get("content-type", "")),
                   _content_length(headers))


class HeaderBlocks:
    """The header blocks one stream has read (see the module docstring)."""

    def __init__(self) -> None:
        self._known: BoundedMemo[bytes, PartHeaders] = BoundedMemo(MAX_BLOCKS)

    def read(self, block: bytes) -> PartHeaders:
        """A whole block: header lines separated by LF (CRs are stripped), no blank line."""
        known = self._known.get(block)
        if known is None:
            headers: Dict[str, str] = {}
            for line in block.split(b"\n"):
                add_header(headers, line)
            known = PartHeaders.of(headers)
            self._known.put(block, known)
        return known
