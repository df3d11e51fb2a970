"""Property tests across the stream pipeline (framer -> parser -> sensor book).

What tests/test_multipart.py and tests/test_alerts.py already cover (part-level split
agreement, arbitrary bytes into each piece alone) is not repeated. Here:

- any split of a stream of real fixture alerts (XML and JSON parts, JPEG and binary parts
  between them, mixed framing) gives the same alerts through framer + parser as the whole
  stream, and the same as parsing each document alone;
- valid streams with random corruption never make the framer or the parser raise or log
  an internal failure, keep the framer's buffer under its cap, and still split-agree;
- alerts rendered with random field values parse back to those values (XML and JSON);
- random JSON documents never break the parser;
- the sensor book under random alerts, clock advances, holds, ignores and releases keeps
  its invariants.

Derandomized and without example database: the same examples every run, never flaky.
"""

from __future__ import annotations

import json
import logging
import string
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from streamkit import fixture_alert_bodies, fixture_alert_files, frame_checked, multipart_part, split_at

from pyhik.emulator import parts as emu_parts
from pyhik.protocol import events
from pyhik.protocol.alerts import Alert, parse_alert
from pyhik.protocol.multipart import MAX_PART_BYTES, MultipartFramer, Part
from pyhik.protocol.templates import AlertParser
from pyhik.state.book import SensorBook, SensorKey, sensor_channel

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=120,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
XML_CT = 'application/xml; charset="UTF-8"'
JSON_CT = 'application/json; charset="UTF-8"'
BOUNDARIES = ["boundary", "MIME_boundary", "hik-0123456789abcdef"]


# -- material ------------------------------------------------------------------------------
def _rendered(fmt: str) -> List[bytes]:
    out = []
    for event, state, channel, io_port, target, nvr in [
            ("VMD", "active", 1, None, None, False),
            ("linedetection", "active", 3, None, "human", True),
            ("fielddetection", "inactive", 2, None, "vehicle", True),
            ("IO", "active", None, 2, None, False),
            ("tamperdetection", "active", 1, None, None, False)]:
        fields = emu_parts.AlertFields(
            event=event, state=state, channel=channel, io_port=io_port, count=7,
            description=f"{event} alarm", channel_name="Cam & <01>", ip="192.0.2.7", port=80,
            mac="44:19:b6:00:00:01", serial="DS-2CD0000-I0000", nvr=nvr, target=target,
            time="2021-07-02T14:25:36+08:00")
        out.append(emu_parts.render_alert(fields, fmt)[0])
    return out


_STREAM_BODIES = fixture_alert_bodies()
DOCS: List[Tuple[bytes, str]] = (
    [(body, XML_CT) for body in _STREAM_BODIES[::300]]
    + [(p.read_bytes(), JSON_CT if p.suffix == ".json" else XML_CT) for p in fixture_alert_files()]
    + [(body, JSON_CT) for body in _rendered("json")]
    + [(body, XML_CT) for body in _rendered("xml-oneline")])
EXPECTED = [parse_alert(body, ctype) for body, ctype in DOCS]
assert all(isinstance(alert, Alert) for alert in EXPECTED)
JPEG = emu_parts.jpeg(3000)


@contextmanager
def internal_failures() -> Iterator[List[logging.LogRecord]]:
    """Log records carrying a traceback (a catch-all hit: a bug, never bad input)."""
    records: List[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info:
                records.append(record)

    handler = Grab(logging.DEBUG)
    logger = logging.getLogger("pyhik")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def alerts_of(pieces: Sequence[bytes], content_type: Optional[str],
              cap: int = MAX_PART_BYTES) -> Tuple[List[Part], List[Alert]]:
    """Framer + parser over the pieces, checking the buffer bound after every feed."""
    parts, framer = frame_checked(pieces, content_type, cap)
    assert framer.buffered_bytes == 0
    alerts = [parse_alert(p.body, p.content_type) for p in parts]
    memo = AlertParser()  # the watcher's parser: from a template's third sighting, filled in
    for _ in range(3):
        for part, want in zip(parts, alerts):
            got = memo.parse(part.body, part.content_type)
            assert got == want and (want is None or got.raw == want.raw)
    return parts, [a for a in alerts if a is not None]


# -- streams of real alerts -------------------------------------------------------------
_part_item = st.tuples(
    st.one_of(st.integers(0, len(DOCS) - 1),        # an alert document
              st.sampled_from(["jpeg", "binary"])),  # or a part to be skipped
    st.booleans(),  # CRLF (else LF)
    st.booleans(),  # Content-Length
    st.booleans())  # Content-Type header (always for images)


def build_stream(items: Sequence[Tuple[object, bool, bool, bool]], boundary: str
                 ) -> Tuple[bytes, List[Alert]]:
    out, expected = [], []
    for what, crlf, length, typed in items:
        if what == "jpeg":
            out.append(multipart_part(JPEG, boundary, crlf=crlf, content_length=length,
                                      content_type="image/jpeg"))
        elif what == "binary":
            blob = bytes(range(256)) * 8
            out.append(multipart_part(blob, boundary, crlf=crlf, content_length=True,
                                      content_type="application/octet-stream"))
        else:
            body, ctype = DOCS[what]  # type: ignore[index]
            out.append(multipart_part(body, boundary, crlf=crlf, content_length=length,
                                      content_type=ctype if typed else ""))
            expected.append(EXPECTED[what])  # type: ignore[index]
    return b"".join(out), expected


@SETTINGS
@given(items=st.lists(_part_item, min_size=1, max_size=8),
       boundary=st.sampled_from(BOUNDARIES), declared=st.booleans(),
       cuts=st.lists(st.integers(0, 40000), max_size=30))
def test_any_split_of_real_alerts_gives_the_same_alerts(items, boundary, declared, cuts) -> None:
    data, expected = build_stream(items, boundary)
    content_type = f"multipart/mixed; boundary={boundary}" if declared else None
    with internal_failures() as failures:
        _, whole = alerts_of([data], content_type)
        _, split = alerts_of(split_at(data, cuts), content_type)
    assert whole == expected
    assert split == expected
    assert not failures


@settings(SETTINGS, max_examples=15)
@given(items=st.lists(_part_item, min_size=1, max_size=4), boundary=st.sampled_from(BOUNDARIES))
def test_one_byte_at_a_time_gives_the_same_alerts(items, boundary) -> None:
    data, expected = build_stream(items, boundary)
    _, alerts = alerts_of([data[i:i + 1] for i in range(len(data))],
                          f"multipart/mixed; boundary={boundary}")
    assert alerts == expected


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_json_part_without_headers_is_framed(eol: bytes) -> None:
    # Found by the property above: '{"eventType":' once matched the header-name pattern.
    json_body = b'{"eventType": "VMD", "eventState": "active", "channelID": 1}'
    data = b"--b" + eol + eol + json_body + eol + b"--b" + eol
    parts = MultipartFramer("multipart/mixed; boundary=b").feed(data)
    assert [p.body for p in parts] == [json_body]


# -- corrupted streams ----------------------------------------------------------------------
TOKENS = [b"--boundary", b"--boundary--", b"\r\n", b"\n\n", b"Content-Length: 0\r\n",
          b"Content-Length: 999999\r\n", b"Content-Type: image/jpeg\r\n", b"\x00", b"\xff\xd8",
          b"<EventNotificationAlert>", b"</EventNotificationAlert>", b"<?xml version='1.0'?>",
          b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&", b"]]>", b"{", b"}", b'"', b"\\", b"[",
          b"\xef\xbb\xbf", b"\xfe\xff"]

_mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "repeat"]),
                      st.integers(0, 1 << 16), st.integers(0, 300),
                      st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=12)))


def mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for op, where, size, token in mutations:
        at = where % (len(buf) + 1)
        if op == "flip" and buf:
            at %= len(buf)
            buf[at] ^= 1 << (size % 8)
        elif op == "insert":
            buf[at:at] = token
        elif op == "delete":
            del buf[at:at + size]
        else:
            buf[at:at] = buf[at:at + size] * 2
    return bytes(buf)


@SETTINGS
@given(items=st.lists(_part_item, min_size=1, max_size=5),
       mutations=st.lists(_mutation, min_size=1, max_size=12),
       content_type=st.sampled_from(["multipart/mixed; boundary=boundary", None, "text/plain",
                                     "multipart/mixed; boundary=other"]),
       cap=st.sampled_from([48, 700, 4096, MAX_PART_BYTES]),
       cuts=st.lists(st.integers(0, 40000), max_size=30))
def test_corrupted_streams_never_break_framer_or_parser(items, mutations, content_type, cap,
                                                        cuts) -> None:
    data = mutate(build_stream(items, "boundary")[0], mutations)
    with internal_failures() as failures:
        whole_parts, whole = alerts_of([data], content_type, cap)
        split_parts, split = alerts_of(split_at(data, cuts), content_type, cap)
    assert not failures, [r.getMessage() for r in failures]
    assert split_parts == whole_parts and split == whole
    assert all(len(p.body) <= cap for p in whole_parts)


@settings(SETTINGS, max_examples=60)
@given(data=st.binary(max_size=4000), cap=st.sampled_from([1, 64, 1000]),
       content_type=st.sampled_from([None, "multipart/mixed; boundary=b"]),
       size=st.integers(1, 97))
def test_arbitrary_bytes_through_framer_and_parser(data, cap, content_type, size) -> None:
    with internal_failures() as failures:
        alerts_of([data[i:i + size] for i in range(0, len(data), size)], content_type, cap)
    assert not failures


# -- rendered alerts parse back to their fields ---------------------------------------------
_TEXT = st.text(st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), max_size=30)
_CODES = sorted({t.code for t in events.EVENT_TYPES} - {"duration"})


@SETTINGS
@given(event=st.one_of(st.sampled_from(_CODES),
                       st.text(string.ascii_letters + string.digits + "_", min_size=1,
                               max_size=20).filter(lambda s: s.lower() != "duration")),
       state=st.sampled_from(["active", "inactive", "Active", "INACTIVE"]),
       where=st.one_of(st.tuples(st.integers(0, 999), st.none()),
                       st.tuples(st.none(), st.integers(0, 999))),
       count=st.integers(0, 10 ** 9 - 1), description=_TEXT, channel_name=_TEXT,
       target=st.one_of(st.none(), st.sampled_from(["human", "vehicle", "Human"])),
       retransmission=st.booleans(), nvr=st.booleans(),
       fmt=st.sampled_from(list(emu_parts.FORMATS)))
def test_rendered_alerts_parse_back(event, state, where, count, description, channel_name,
                                    target, retransmission, nvr, fmt) -> None:
    channel, io_port = where
    fields = emu_parts.AlertFields(
        event=event, state=state, channel=channel, io_port=io_port, count=count,
        description=description, channel_name=channel_name, ip="192.0.2.1", port=8000,
        mac="44:19:b6:00:00:01", serial="SERIAL&<1>", nvr=nvr, target=target,
        retransmission=retransmission, time="2021-07-02T14:25:36+08:00")
    body, ctype = emu_parts.render_alert(fields, fmt)
    with internal_failures() as failures:
        alert = parse_alert(body, ctype)
    assert not failures
    assert alert is not None
    assert (alert.event, alert.state) == (event.strip(), state.lower())
    assert (alert.channel, alert.io_port, alert.count) == (channel, io_port, count)
    assert alert.description == description.strip()
    assert alert.channel_name == ("" if io_port is not None else channel_name.strip())
    assert alert.target == (target.lower() if target else None)
    assert alert.retransmission == retransmission
    assert alert.time == "2021-07-02T14:25:36+08:00"


_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12),
                         st.floats(allow_nan=False), _TEXT)
_KEYS = ["eventType", "eventState", "channelID", "dynChannelID", "inputIOPortID",
         "activePostCount", "targetType", "isDataRetransmission", "relationEvent",
         "EventNotificationAlert", "CIDEvent", "x"]
_json = st.recursive(_json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6)),
    max_leaves=25)


@SETTINGS
@given(doc=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=8))
def test_random_json_documents_never_break_the_parser(doc) -> None:
    body = json.dumps(doc).encode()
    with internal_failures() as failures:
        alert = parse_alert(body, "application/json")
    assert not failures
    event = doc.get("eventType")
    if isinstance(event, str) and event.strip() and event.strip().lower() != "duration":
        assert alert is not None and alert.event == event.strip()


# -- the sensor book ------------------------------------------------------------------------
T0 = datetime(2026, 1, 1)
_BOOK_CODES = ["VMD", "linedetection", "defocus", "tamperdetection", "IO", "videoloss",
               "diskfull", "heartBeat", "mystery"]
_op = st.one_of(
    st.tuples(st.just("alert"), st.sampled_from(_BOOK_CODES),
              st.sampled_from(["active", "active", "inactive"]), st.sampled_from([None, 0, 1, 2]),
              st.sampled_from([None, None, 1, 2]), st.booleans(), st.booleans()),
    st.tuples(st.just("advance"), st.floats(0.0, 12.0), st.booleans()),
    st.tuples(st.just("hold"), st.sampled_from(_BOOK_CODES), st.integers(1, 2),
              st.sampled_from([0.0, 0.5, 3.0, 20.0])),
    st.tuples(st.just("ignore"), st.sampled_from(_BOOK_CODES), st.integers(1, 2)),
    st.tuples(st.just("release"),))


def _key(event: str, channel: int) -> SensorKey:
    etype = events.lookup(event) or events.unknown(event)
    return SensorKey(etype.code, channel)


# An alert after an overdue stale end: apply() reports the end, then the new trip.
@example(ops=[("alert", "VMD", "active", 1, None, False, False), ("advance", 1.0, False),
              ("alert", "VMD", "active", 1, None, False, False)],
         stale_s=0.5, track_video_loss=False)
@settings(SETTINGS, max_examples=250)
@given(ops=st.lists(_op, max_size=60), stale_s=st.sampled_from([0.5, 5.0]),
       track_video_loss=st.booleans())
def test_sensor_book_invariants(ops, stale_s, track_video_loss) -> None:
    book = SensorBook(stale_s=stale_s, track_video_loss=track_video_loss)
    now = 100.0
    last_active = {}       # key -> time of the last active alert that counted
    max_hold = {}          # key -> largest hold ever set (a hold running keeps its length)
    is_on = {}             # key -> what the changes said
    ignored = set()

    def wall() -> datetime:
        return T0 + timedelta(seconds=now)

    def take(changes) -> None:
        for change in changes:
            key = change.sensor.key
            assert change.old == is_on.get(key, False), "a change from a state it was not in"
            assert change.new == change.sensor.is_on
            assert change.old != change.new or change.created
            is_on[key] = change.new
        for key in {change.sensor.key for change in changes}:
            assert book.get(key).is_on == is_on[key]  # a key's last change is its state now

    for op in ops:
        before = {s.key: s for s in book.states()}
        if op[0] == "alert":
            _, code, state, channel, io_port, retrans, heartbeat = op
            alert = Alert(code, state, channel, io_port, retransmission=retrans,
                          heartbeat=heartbeat)
            etype = alert.event_type
            key = SensorKey(etype.code, sensor_channel(alert, etype))
            changes = book.apply(alert, now, wall())
            no_effect = (retrans or heartbeat and etype.code != "videoloss"
                         or etype.code == "videoloss" and not track_video_loss
                         or key in ignored)
            if no_effect:
                assert changes == [] and {s.key: s for s in book.states()} == before
            else:
                assert book.get(key) is not None
                if state == "active":
                    last_active[key] = now
                    assert book.get(key).is_on
                    old = before.get(key)
                    trips = book.get(key).count - (old.count if old else 0)
                    assert trips in (0, 1)
            take(changes)
        elif op[0] == "advance":
            now += op[1]
            if op[2]:  # the timer fires
                take(book.expire(now, wall()))
                deadline = book.next_deadline()
                assert deadline is None or deadline > now
                for key, at in last_active.items():
                    state = book.get(key)
                    if state is not None and now > at + stale_s + max_hold.get(key, 0.0):
                        assert not state.is_on, f"{key} still on long after its last active"
        elif op[0] == "hold":
            key = _key(op[1], op[2])
            book.set_hold(key, op[3])
            max_hold[key] = max(max_hold.get(key, 0.0), op[3])
        elif op[0] == "ignore":
            key = _key(op[1], op[2])
            book.ignore(op[1], op[2])
            ignored.add(key)
            is_on.pop(key, None)
            assert book.get(key) is None
        else:
            take(book.release_all(wall()))
            assert book.next_deadline() is None
        # State agrees with the changes reported; a deadline exactly when something is on.
        states = book.states()
        assert {s.key: s.is_on for s in states} == {k: is_on.get(k, False)
                                                    for k in (s.key for s in states)}
        anything_on = any(s.is_on for s in states)
        assert (book.next_deadline() is not None) == anything_on
        assert not ignored & {s.key for s in states}
        for state in states:
            old = before.get(state.key)
            if old is not None:
                assert state.count >= old.count
                if state.count == old.count:
                    assert state.last_tripped == old.last_tripped
    # However it got here, enough quiet time turns everything off.
    now += stale_s + max(max_hold.values(), default=0.0) + 1.0
    take(book.expire(now, wall()))
    assert not any(s.is_on for s in book.states()) and book.next_deadline() is None


def _outcome(book: SensorBook) -> List[tuple]:
    return [(s.key, s.is_on, s.count, s.last_tripped, s.target) for s in book.states()]


_SIMPLE_CODES = ["VMD", "linedetection"]


@settings(SETTINGS, max_examples=200)
@given(ops=st.lists(st.one_of(
           st.tuples(st.just("alert"), st.sampled_from(_SIMPLE_CODES),
                     st.sampled_from(["active", "active", "inactive"]), st.integers(1, 2),
                     st.none(), st.just(False), st.just(False)),
           st.tuples(st.just("advance"), st.floats(0.0, 8.0), st.booleans())), max_size=40),
       holds=st.dictionaries(st.tuples(st.sampled_from(_SIMPLE_CODES), st.integers(1, 2)),
                             st.sampled_from([0.0, 0.5, 3.0, 20.0]), max_size=4),
       stale_s=st.sampled_from([0.5, 5.0]))
def test_book_outcome_does_not_depend_on_timer_latency(ops, holds, stale_s) -> None:
    """One book's timer fires at every clock step, the other's only now and then (a late
    timer thread): once both have caught up, the sensors are the same."""
    on_time, late = SensorBook(stale_s=stale_s), SensorBook(stale_s=stale_s)
    for book in (on_time, late):
        for (code, channel), hold_s in holds.items():
            book.set_hold(_key(code, channel), hold_s)
    now = 100.0
    for op in ops:
        if op[0] == "alert":
            _, code, state, channel, io_port, retrans, heartbeat = op
            alert = Alert(code, state, channel, io_port, retransmission=retrans,
                          heartbeat=heartbeat)
            for book in (on_time, late):
                book.apply(alert, now, T0 + timedelta(seconds=now))
        else:
            now += op[1]
            on_time.expire(now, T0)
            if op[2]:
                late.expire(now, T0)
    late.expire(now, T0)
    on_time.expire(now, T0)
    assert _outcome(late) == _outcome(on_time)


@pytest.mark.parametrize("late", ["inactive", "active"])
def test_book_does_not_depend_on_when_the_timer_runs(late: str) -> None:
    """An alert that comes after a stale deadline the timer has not handled yet (a late
    timer thread) ends up as if the timer had run on time."""
    books = []
    for timer_on_time in (True, False):
        book = SensorBook(stale_s=5.0)
        book.add("VMD", 1, hold_s=10.0 if late == "inactive" else 0.0)
        book.apply(Alert("VMD", "active", 1), 100.0, T0)
        if timer_on_time:
            book.expire(105.0, T0)  # the stale deadline, when the timer fires in time
        book.apply(Alert("VMD", late, 1), 107.0, T0)  # the timer is 2 s late
        book.expire(115.5, T0)
        books.append(book.states())
    assert books[0] == books[1]


def test_long_unknown_encoding_name_is_repaired_like_a_short_one() -> None:
    # Found by fuzz/fuzz_stream.py (atheris): ElementTree raised LookupError, not ParseError.
    doc = (b'<EventNotificationAlert><eventType>VMD</eventType>'
           b'<eventState>active</eventState></EventNotificationAlert>')
    short = b'<?xml version="1.0" encoding="x-unknown"?>' + doc
    long = b'<?xml version="1.0" encoding="x-' + b"y" * 40 + b'"?>' + doc
    assert parse_alert(short) is not None
    with internal_failures() as failures:
        alert = parse_alert(long)
    assert not failures
    assert alert == parse_alert(short)
