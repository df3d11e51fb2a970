"""Tests for pyhik.protocol.docscan: incremental finder, whole-document scanner, completeness check.

The scanner is also exercised end to end (splits, caps, garbage) by tests/test_multipart.py.
"""

from __future__ import annotations

import re
from typing import List, Sequence, Tuple

import pytest

from pyhik.protocol.docscan import XML_CLOSE, XML_OPEN, DocumentScanner, Finder, looks_complete


def scan_pieces(pieces: Sequence[bytes], cap: int = 1 << 20) -> Tuple[List[bytes], List[str]]:
    """Drive a scanner the way the framer does: append, scan, drop what it no longer needs."""
    buf, base, found, drops = bytearray(), 0, [], []
    scanner = DocumentScanner(cap, 0, lambda what, size: drops.append(what))
    for piece in pieces:
        buf += piece
        found += scanner.scan(buf, base)
        del buf[:scanner.keep - base]
        base = scanner.keep
        assert len(buf) <= cap + 1024
    return found, drops


def test_finder_finds_a_match_cut_by_a_read_and_never_goes_back() -> None:
    finder, buf = Finder(re.compile(rb"needle"), 6), bytearray(b"xxxxnee")
    assert finder.next(buf, 0, 0) == -1 and finder.scan == 1
    buf += b"dle needle"
    assert finder.next(buf, 0, 0) == 4 and finder.end == 10
    assert finder.next(buf, 0, 4) == 4  # cached
    assert finder.next(buf, 0, 5) == 11


def test_xml_tags_tolerate_prefixes_and_attributes_but_not_longer_names() -> None:
    assert XML_OPEN.search(b'<ns0:EventNotificationAlert version="2.0">')
    assert XML_OPEN.search(b"<EventNotificationAlert>")
    assert not XML_OPEN.search(b"<EventNotificationAlertList>")
    assert XML_CLOSE.search(b"</ns0:EventNotificationAlert \r\n>")


def test_documents_split_anywhere_come_out_whole() -> None:
    doc_xml = (b'<?xml version="1.0"?>\n<EventNotificationAlert a="1"><b>{"</b>'
               b"</EventNotificationAlert>")
    doc_json = b'{"x": "<EventNotificationAlert>", "y": {"z": "\\"}"}}'
    data = b"junk " + doc_xml + b"\r\n{ nope }\n" + doc_json + b" tail"
    for size in (1, 2, 5, len(data)):
        found, drops = scan_pieces([data[i:i + size] for i in range(0, len(data), size)])
        assert found == [doc_xml, doc_json] and drops == []


def test_a_cut_document_is_given_up_at_the_next_start_tag() -> None:
    doc = b"<EventNotificationAlert><a/></EventNotificationAlert>"
    assert scan_pieces([b"<EventNotificationAlert><a>cut short" + doc])[0] == [doc]


def test_too_big_documents_are_dropped_and_reported() -> None:
    small = b'{"k": 1}'
    big_xml = b"<EventNotificationAlert>" + b"x" * 200 + b"</EventNotificationAlert>"
    big_json = b'{"k": "' + b"y" * 200 + b'"}'
    found, drops = scan_pieces([big_xml, big_json, small], cap=100)
    assert found == [small] and drops == ["XML document", "JSON object"]


def test_binary_noise_is_not_taken_for_json() -> None:
    noise = bytes(range(256)) * 4 + b'{"\x01' + b'{"a"\xff}'
    assert scan_pieces([noise])[0] == []


@pytest.mark.parametrize("body, media, expected", [
    (b"<EventNotificationAlert>\r\n<a/>\r\n</EventNotificationAlert>\r\n", "", True),
    (b"<EventNotificationAlert>\r\n<a>1</a>", "application/xml", False),
    (b"<EventNotificationAlert>\r\n<a>1</a", "application/xml", False),
    (b'<?xml version="1.0"?><ResponseStatus/>', "application/xml", True),
    (b'{"a": 1}\n', "application/json", True),
    (b'{"a": 1', "application/json", False),
    (b"plain words", "text/plain", True),
    (b"plain words", "", False),
    (b" \r\n", "text/plain", False),
])
def test_looks_complete(body: bytes, media: str, expected: bool) -> None:
    assert looks_complete(body, media) is expected
