"""Tests for pyhik.protocol.multipart: framing real alert streams, tolerance, bounded memory, and
the promise that any split of the same bytes gives the same parts."""

from __future__ import annotations

import json
import logging
import random
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamkit import (
    FIXTURES,
    chunks,
    fixture_alert_bodies,
    fixture_alert_files,
    frame_checked,
    multipart_part,
    split_at,
    wrap_multipart,
)

from pyhik.protocol.multipart import (
    BUFFER_SLACK_BYTES,
    MAX_PART_BYTES,
    MultipartFramer,
    Part,
    boundary_from_content_type,
)

CT = "multipart/mixed; boundary=boundary"
WRONG_CT = "multipart/mixed; boundary=not-the-one"
SETTINGS = settings(derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ALERTS = fixture_alert_bodies()
# A few of each device, and the most varied documents (regions, prolog, namespaces).
SAMPLE = ALERTS[:4] + ALERTS[770:774] + ALERTS[-4:]
FILES = {p.name: p.read_bytes() for p in fixture_alert_files()}
RADAR_JSON = FILES["radar_supergiovane_cidEvent_active.json"]
PEOPLE_XML = FILES["ipc_dumacp_PeopleCounting_active_psialliance-ns.xml"]


def jpeg(size: int, seed: int = 1) -> bytes:
    """Random 'image' bytes salted with things that look like framing or documents."""
    rnd = random.Random(seed)
    noise = bytearray(b"\xff\xd8\xff\xe0" + rnd.randbytes(size))
    for bait in (b'{"a": 1}', b"<EventNotificationAlert>", b"</EventNotificationAlert>",
                 b"\r\n\r\n", b"--boundar", b"Content-Length: 3\r\n"):
        at = rnd.randrange(8, len(noise))
        noise[at:at] = bait
    return bytes(noise)


def run(pieces: Sequence[bytes], content_type: Optional[str] = CT,
        max_part_bytes: int = MAX_PART_BYTES) -> Tuple[List[Part], MultipartFramer]:
    """Feed the pieces then close; check the buffer bound after every feed."""
    return frame_checked(pieces, content_type, max_part_bytes)


def bodies(parts: Sequence[Part]) -> List[bytes]:
    return [p.body for p in parts]


def stripped(docs: Sequence[bytes]) -> List[bytes]:
    return [d.strip() for d in docs]


# -- realistic streams, each as (bytes, the bodies that must come out) ---------------------
def _no_eol_before_delimiter() -> bytes:
    return b"".join(b"--boundary\r\nContent-Type: application/xml\r\n\r\n" + d.strip()
                    for d in SAMPLE)


def _messy() -> bytes:
    out = b"\r\n\r\n"
    for i, doc in enumerate(SAMPLE):
        out += b" \t--boundary  \r\ncontent-type:application/xml\r\n" if i % 2 else \
            b"\n\n--boundary\nContent-Type: application/xml\nContent-Length: %d\n" % len(doc)
        out += b"\r\n" + doc + b"\r\n\r\n"
    return out + b"--boundary--\r\n"


def _with_jpegs(content_length: bool) -> bytes:
    half = len(SAMPLE) // 2
    return (wrap_multipart(SAMPLE[:half])
            + multipart_part(jpeg(20000, 2), content_type="image/jpeg")
            + wrap_multipart(SAMPLE[half:half + 2], content_length=content_length)
            + multipart_part(jpeg(30000, 3), content_type="image/jpeg", content_length=False)
            + multipart_part(jpeg(500, 4), content_type="application/octet-stream")
            + wrap_multipart(SAMPLE[half + 2:], content_length=content_length))


VARIANTS: Dict[str, Callable[[], bytes]] = {
    "crlf": lambda: wrap_multipart(SAMPLE),
    "lf_only": lambda: wrap_multipart(SAMPLE, crlf=False),
    "no_content_length": lambda: wrap_multipart(SAMPLE, content_length=False),
    "lf_no_content_length": lambda: wrap_multipart(SAMPLE, crlf=False, content_length=False),
    "no_headers_at_all": lambda: wrap_multipart(SAMPLE, content_length=False, content_type=""),
    "closing_delimiter": lambda: wrap_multipart(SAMPLE, closing=True),
    "no_eol_before_delimiter": _no_eol_before_delimiter,
    "blank_lines_and_spaces": _messy,
    "jpeg_parts": lambda: _with_jpegs(True),
    "jpeg_parts_no_content_length": lambda: _with_jpegs(False),
}
STREAMS = {name: make() for name, make in VARIANTS.items()}
EXPECTED = stripped(SAMPLE)


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("content_type", [CT, None, WRONG_CT, "application/xml"])
def test_variants_whole_and_one_byte_at_a_time(name: str, content_type: Optional[str]) -> None:
    data = STREAMS[name]
    whole, framer = run([data], content_type)
    assert bodies(whole) == EXPECTED
    assert framer.mode == "multipart" and framer.boundary == "boundary"
    one_by_one, framer = run([data[i:i + 1] for i in range(len(data))], content_type)
    assert one_by_one == whole
    assert framer.parts == len(EXPECTED)
    assert framer.skipped_binary_parts == (3 if name.startswith("jpeg") else 0)
    assert framer.dropped_parts == 0


@SETTINGS
@given(name=st.sampled_from(sorted(STREAMS)),
       content_type=st.sampled_from([CT, None, WRONG_CT]),
       cuts=st.lists(st.integers(min_value=0, max_value=80000), max_size=60))
def test_variants_any_split(name: str, content_type: Optional[str], cuts: List[int]) -> None:
    data = STREAMS[name]
    parts, _ = run(split_at(data, cuts), content_type)
    assert bodies(parts) == EXPECTED


def test_part_headers_and_content_type() -> None:
    parts, _ = run([wrap_multipart(SAMPLE[:1]) + multipart_part(
        RADAR_JSON, content_type="application/json", content_length=False)])
    assert parts[0].headers == {"content-type": 'application/xml; charset="UTF-8"',
                                "content-length": str(len(SAMPLE[0]))}
    assert parts[0].content_type == "application/xml"
    assert parts[1].content_type == "application/json"
    assert json.loads(parts[1].body)["eventType"] == "cidEvent"


@pytest.mark.parametrize("read_size", [1024, 65536])
@pytest.mark.parametrize("content_length", [True, False])
def test_every_real_alert_comes_out_in_order(read_size: int, content_length: bool) -> None:
    data = wrap_multipart(ALERTS, content_length=content_length)
    parts, framer = run(chunks(data, read_size))
    assert bodies(parts) == stripped(ALERTS)
    assert framer.parts == len(ALERTS) == 7867
    assert framer.bytes_received == len(data)
    assert {p.content_type for p in parts} == {"application/xml"}


@pytest.mark.parametrize("boundary", ["MIME_boundary", "hikboundary"])
def test_sniffs_a_raw_capture_and_other_boundary_names(boundary: str) -> None:
    data = wrap_multipart(SAMPLE, boundary, crlf=False, content_length=False)
    for content_type in (None, f'multipart/mixed; boundary="{boundary}"'):
        parts, framer = run(chunks(data, 7), content_type)
        assert bodies(parts) == EXPECTED and framer.boundary == boundary


# -- fallback: no boundary, or one that never shows ------------------------------------
BARE_DOCS = [PEOPLE_XML, RADAR_JSON] + SAMPLE[:5] + [FILES["ptz_hiksink-ptz_VMD_active.xml"]]


def _bare(sep: bytes) -> bytes:
    return sep.join(BARE_DOCS)


@pytest.mark.parametrize("content_type", [None, "application/xml", CT])
@pytest.mark.parametrize("sep", [b"", b"\r\n", b"\nnoise } { ] \"\x00\xff\n"])
def test_bare_documents_come_out_whole(content_type: Optional[str], sep: bytes) -> None:
    data = _bare(sep)
    whole, framer = run([data], content_type)
    assert bodies(whole) == stripped(BARE_DOCS)
    assert all(p.headers == {} and p.content_type == "" for p in whole)
    assert framer.mode == "fallback"
    assert whole[0].body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert run([data[i:i + 1] for i in range(len(data))], content_type)[0] == whole


def test_headers_of_a_curl_capture_are_skipped() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n" + _bare(b"\r\n")
    assert bodies(run(chunks(data, 100), None)[0]) == stripped(BARE_DOCS)


def test_wrong_boundary_with_a_preamble_falls_back_after_the_first_document() -> None:
    data = b"hello\r\n" + wrap_multipart(SAMPLE)
    framer = MultipartFramer(WRONG_CT)
    first = framer.feed(data[:len(data) // 3])
    assert framer.mode == "fallback" and first and first[0].body == EXPECTED[0]
    assert bodies(first + framer.feed(data[len(data) // 3:]) + framer.close()) == EXPECTED


def test_declared_boundary_missing_for_64_kib_falls_back() -> None:
    data = b"x" * 70000 + _bare(b"\n")
    parts, framer = run(chunks(data, 4096), CT)
    assert framer.mode == "fallback" and bodies(parts) == stripped(BARE_DOCS)


@pytest.mark.parametrize("path", fixture_alert_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("content_type", [None, "application/xml"])
def test_a_single_document_file_gives_exactly_one_part(path, content_type) -> None:
    data = path.read_bytes()
    assert bodies(run([data], content_type)[0]) == [data.strip()]
    assert bodies(run([data[i:i + 1] for i in range(len(data))], content_type)[0]) \
        == [data.strip()]


def test_jsonl_lines_come_out_as_json_objects() -> None:
    data = (FIXTURES / "streams" / "hiksink-ptz_alert_sequence.jsonl").read_bytes()
    parts, _ = run(chunks(data, 1024), None)
    assert [json.loads(p.body)["content"].encode() for p in parts] == ALERTS[-1516:]


def test_broken_device_answer_gives_nothing() -> None:
    path = FIXTURES / "streams" / "vis_DS-KB8113-IME1B_V2.2.60_alertStream_broken_transcript.txt"
    assert run([path.read_bytes()], None)[0] == []


def test_fallback_xml_variants_and_json_strings() -> None:
    docs = [b'<ns0:EventNotificationAlert xmlns:ns0="urn:x"><a/></ns0:EventNotificationAlert >',
            b'{"s": "} { \\" \\\\", "n": {"m": [1, {"k": "}"}]}}',
            b"<?xml version='1.0'?>\n<EventNotificationAlert>\n<b/></EventNotificationAlert>"]
    junk = [b"{not json}", b"<EventNotificationAlertList>", b"{ 1: 2 }",
            b"<EventNotificationAlert>cut"]
    data = b"\n".join(j + d for j, d in zip(junk, docs))
    assert bodies(run([data], None)[0]) == docs
    assert bodies(run(chunks(data, 3), None)[0]) == docs


# -- Content-Length that lies, and when parts are handed over ----------------------------
def _with_length(doc: bytes, length: int) -> bytes:
    return b"--boundary\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n" % length \
        + doc + b"\r\n"


@pytest.mark.parametrize("delta", [-300, -20, -2, 0, 2, 3, 14, 60, 2000])
def test_wrong_content_length_does_not_lose_parts(delta: int) -> None:
    docs = SAMPLE[:3]
    data = _with_length(docs[0], len(docs[0]) + delta) + wrap_multipart(docs[1:])
    for pieces in ([data], [data[i:i + 1] for i in range(len(data))]):
        assert bodies(run(pieces)[0])[-2:] == stripped(docs[1:])
    assert bodies(run([data])[0]) == stripped(docs)  # the first one is recovered whole, too


@pytest.mark.parametrize("value", ["abc", "-5", "", "99999999999999999999", "\u00b2"])
def test_bad_content_length_values_are_ignored(value: str) -> None:
    data = b"--boundary\r\nContent-Length: " + value.encode("latin-1") + b"\r\n\r\n" + SAMPLE[0]
    assert bodies(run([data + wrap_multipart(SAMPLE[1:2])])[0]) == EXPECTED[:2]


@pytest.mark.parametrize("content_length", [True, False])
def test_an_xml_part_is_handed_over_without_waiting_for_the_next_delimiter(
        content_length: bool) -> None:
    framer = MultipartFramer(CT)
    assert framer.feed(wrap_multipart(SAMPLE[:1], content_length=content_length)[:-2]) \
        and framer.parts == 1


def test_close_flushes_a_last_whole_part_but_not_a_cut_one() -> None:
    json_part = multipart_part(RADAR_JSON, content_type="application/json", content_length=False)
    framer = MultipartFramer(CT)
    assert framer.feed(json_part) == []  # JSON without length ends at the next delimiter
    assert bodies(framer.close()) == [RADAR_JSON.strip()]
    framer = MultipartFramer(CT)
    assert framer.feed(wrap_multipart(SAMPLE[:1])[:-60]) == [] and framer.close() == []
    assert framer.close() == [] and framer.feed(b"--boundary\r\n") == []


# -- memory bounds ----------------------------------------------------------------------
def test_oversized_part_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    big = b"<EventNotificationAlert>" + b"<x>y</x>" * 1500 + b"</EventNotificationAlert>"
    for content_length in (True, False):
        data = wrap_multipart([SAMPLE[0], big, SAMPLE[1]], content_length=content_length)
        with caplog.at_level(logging.WARNING, logger="pyhik.protocol.multipart"):
            parts, framer = run(chunks(data, 1), CT, max_part_bytes=4096)
        assert bodies(parts) == EXPECTED[:2] and framer.dropped_parts == 1
        assert "max_part_bytes" in caplog.text
        assert bodies(run([data], CT, max_part_bytes=4096)[0]) == EXPECTED[:2]


@pytest.mark.parametrize("content_length", [True, False])
def test_a_huge_jpeg_is_skipped_without_being_held(content_length: bool) -> None:
    data = (wrap_multipart(SAMPLE[:1]) + multipart_part(
        jpeg(3 << 20), content_type="image/jpeg", content_length=content_length)
        + wrap_multipart(SAMPLE[1:2]))
    framer, parts, peak = MultipartFramer(CT), [], 0
    for piece in chunks(data, 65536):
        parts += framer.feed(piece)
        peak = max(peak, framer.buffered_bytes)
    assert bodies(parts) == EXPECTED[:2] and framer.skipped_binary_parts == 1
    assert peak <= BUFFER_SLACK_BYTES


@pytest.mark.parametrize("content_type", [CT, None])
@pytest.mark.parametrize("mode", ["multipart", "fallback"])
def test_four_mib_of_garbage_in_100_byte_reads_stays_bounded(content_type: Optional[str],
                                                             mode: str) -> None:
    # Quadratic rescanning would not finish; the bound is checked after every read by run().
    garbage = random.Random(5).randbytes(4 << 20)
    lead = wrap_multipart(SAMPLE[:1]) if mode == "multipart" else b"#"
    data = lead + garbage + b"\r\n" + wrap_multipart(SAMPLE[1:2])
    parts, framer = run(chunks(data, 100), content_type, max_part_bytes=256 * 1024)
    assert bodies(parts)[-1] == EXPECTED[1] and framer.mode == mode


ADVERSARIAL = [b'{"', b"{", b'{"a":"\\', b"<EventNotificationAlert ", b"</", b"--boundar",
               b"--boundary\r\n", b"Content-Type: text/plain\r\n", b"\r\n", b" ",
               b"<?xml version='1.0'?>", b"<EventNotificationAlert>" + b"{" * 30]


@pytest.mark.parametrize("unit", ADVERSARIAL)
@pytest.mark.parametrize("content_type", [CT, None])
def test_repeated_tricky_patterns_stay_bounded(unit: bytes, content_type: Optional[str]) -> None:
    data = unit * ((256 << 10) // len(unit)) + b"\r\n" + wrap_multipart(SAMPLE[:1])
    parts, _ = run(chunks(data, 1000), content_type, max_part_bytes=16 * 1024)
    assert all(isinstance(p, Part) for p in parts)


@SETTINGS
@given(data=st.binary(max_size=3000),
       cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=40),
       content_type=st.sampled_from([CT, None, "multipart/mixed; boundary=b", "text/plain"]),
       cap=st.sampled_from([1, 64, 700, MAX_PART_BYTES]))
def test_arbitrary_bytes_never_raise_and_any_split_agrees(data: bytes, cuts: List[int],
                                                          content_type: Optional[str],
                                                          cap: int) -> None:
    whole, _ = run([data], content_type, cap)
    assert run(split_at(data, cuts), content_type, cap)[0] == whole


PIECES = [b"--b", b"--b--", b"\r\n", b"\n", b" ", b"Content-Type: application/xml\r\n",
          b"Content-Type: image/jpeg\n", b"Content-Length: 5\r\n", b"Content-Length: 30\n",
          b"<EventNotificationAlert>", b"</EventNotificationAlert>", b"<?xml version='1.0'?>",
          b'{"a": "}\\"{", "b": {}}', b"{", b"}", b'"', b"\\", b"x", b" " * 255,
          SAMPLE[0][:200], SAMPLE[1]]


@SETTINGS
@given(units=st.lists(st.sampled_from(PIECES), max_size=40),
       cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=40),
       content_type=st.sampled_from(["multipart/mixed; boundary=b", None]),
       cap=st.sampled_from([40, 300, MAX_PART_BYTES]))
def test_framing_like_bytes_any_split_agrees(units: List[bytes], cuts: List[int],
                                             content_type: Optional[str], cap: int) -> None:
    data = b"".join(units)
    whole, _ = run([data], content_type, cap)
    assert run(split_at(data, cuts), content_type, cap)[0] == whole
    assert run([data[i:i + 1] for i in range(len(data))], content_type, cap)[0] == whole


# -- small API pieces -------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("multipart/mixed; boundary=boundary", "boundary"),
    ('multipart/mixed; boundary="MIME_boundary"', "MIME_boundary"),
    ("Multipart/Mixed;BOUNDARY=hikboundary", "hikboundary"),
    ("multipart/mixed; charset=utf-8; boundary=abc; x=y", "abc"),
    ("multipart/x-mixed-replace; boundary=--myboundary", "--myboundary"),
    ("multipart/mixed; xboundary=abc", None),
    ("multipart/mixed; boundary=", None),
    ("multipart/mixed", None),
    ("application/xml; boundary=abc", None),
    ("", None),
    (None, None),
])
def test_boundary_from_content_type(value: Optional[str], expected: Optional[str]) -> None:
    assert boundary_from_content_type(value) == expected


def test_part_is_a_small_frozen_value() -> None:
    part = Part({"content-type": 'Application/XML; charset="UTF-8"'}, b"<a/>")
    assert part.content_type == "application/xml" and Part({}, b"x").content_type == ""
    assert hash(part) == hash(Part({}, b"<a/>"))
    with pytest.raises(AttributeError):
        part.body = b""  # type: ignore[misc]


def test_empty_feeds_and_counters() -> None:
    framer = MultipartFramer(CT)
    assert framer.feed(b"") == [] and framer.mode == "sniff" and framer.boundary == "boundary"
    data = wrap_multipart(SAMPLE[:2])
    assert len(framer.feed(data)) == 2
    assert (framer.bytes_received, framer.parts, framer.dropped_parts,
            framer.skipped_binary_parts) == (len(data), 2, 0, 0)
