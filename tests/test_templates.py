"""AlertParser: the per-stream template memo gives exactly what parse_alert gives."""

from __future__ import annotations

import dataclasses
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamkit import fixture_alert_bodies, fixture_alert_files

from pyhik.protocol import templates
from pyhik.protocol.alerts import Alert, parse_alert
from pyhik.protocol.templates import AlertParser

ALERT = """<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>10.0.0.7</ipAddress>
<channelID>1</channelID>
<dateTime>{date}</dateTime>
<activePostCount>{count}</activePostCount>
<eventType>{event}</eventType>
<eventState>active</eventState>
<eventDescription>{description}</eventDescription>
<channelName>{name}</channelName>
<Extensions version="1.0" xmlns="urn:psialliance-org">
<eventPush xmlns="urn:selfextension:psiaext-ver10-xsd">IO&amp;&amp;SN,{date},1.0</eventPush>
</Extensions>
</EventNotificationAlert>"""


def body(date: str = "2021-07-02T14:27:55+08:00", count: str = "1", event: str = "VMD",
         description: str = "Motion alarm", name: str = "Porch") -> bytes:
    return ALERT.format(date=date, count=count, event=event, description=description,
                        name=name).encode("utf-8")


def same(got: Optional[Alert], want: Optional[Alert]) -> None:
    """Equal in every field, ``raw`` (which Alert's == leaves out) and type included."""
    assert got == want
    if want is not None:
        assert type(got) is Alert
        assert got.__dict__ == want.__dict__
        assert dict(got.raw) == dict(want.raw)


def test_real_captures_give_what_parse_alert_gives_and_mostly_from_templates():
    bodies = fixture_alert_bodies()
    parser = AlertParser()
    for data in bodies:
        same(parser.parse(data), parse_alert(data))
    assert parser.hits + parser.misses == len(bodies)
    assert parser.hits > 0.99 * len(bodies)


@pytest.mark.parametrize("path", fixture_alert_files(), ids=lambda p: p.name)
def test_fixture_files_twice_and_three_times(path):
    parser = AlertParser()
    data = path.read_bytes()
    for _ in range(3):
        same(parser.parse(data, "application/xml"), parse_alert(data, "application/xml"))


def test_a_template_is_parsed_on_the_second_sighting_and_filled_after():
    parser = AlertParser()
    first = parser.parse(body(count="1"))
    assert (parser.hits, parser.misses) == (0, 1)
    parser.parse(body(date="2021-07-02T14:27:56+08:00", count="2"))
    assert (parser.hits, parser.misses) == (0, 2)
    got = parser.parse(body(date="2021-07-02T14:27:57+08:00", count="3"))
    assert (parser.hits, parser.misses) == (1, 2)
    same(got, parse_alert(body(date="2021-07-02T14:27:57+08:00", count="3")))
    assert got.time == "2021-07-02T14:27:57+08:00" and got.count == 3
    assert got.raw["eventPush"] == "IO&&SN,2021-07-02T14:27:57+08:00,1.0"
    assert first.count == 1 and first.raw["activePostCount"] == "1"  # not touched by later fills


def test_filled_alerts_are_independent_and_behave_like_alerts():
    parser = AlertParser()
    for n in range(3):
        parser.parse(body(count=str(n + 1)))
    a, b = parser.parse(body(count="7")), parser.parse(body(count="8"))
    assert a.raw is not b.raw and a.count == 7 and b.count == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.count = 9  # type: ignore[misc]
    assert dataclasses.replace(a, count=9).count == 9
    assert hash(a) != hash(b) and a.active and a.event_type.slug == "motion"


@pytest.mark.parametrize("kwargs", [
    {"description": "Motion at 2021-07-02T14:27:55+08:00"},  # the date in a derived field
    {"event": "2021-07-02T14:27:55+08:00"},
    {"name": "2021-07-02T14:27:55+08:00"},
    {"description": "@pyhik:date@"},  # a body holding the placeholder itself
    {"date": "2021-07-02 14:27:55"},  # a space: not masked
    {"date": "2021&amp;07-02T14:27:55"},  # an entity: not masked
    {"date": "2021-07"},  # too short to be masked
    {"count": ""},
    {"count": "12a"},
    {"count": "1234567890"},  # longer than a count parse_alert takes
])
def test_what_cannot_be_filled_is_parsed_in_full(kwargs):
    parser = AlertParser()
    for _ in range(4):
        same(parser.parse(body(**kwargs)), parse_alert(body(**kwargs)))


def test_a_body_with_the_placeholder_after_a_template_exists():
    parser = AlertParser()
    for n in range(3):
        parser.parse(body(count=str(n + 1)))
    sneaky = body(name="@pyhik:date@")
    same(parser.parse(sneaky), parse_alert(sneaky))


def test_bodies_that_are_not_alerts_still_log_and_give_none(caplog):
    parser = AlertParser()
    broken = body()[:-30]
    for _ in range(3):
        assert parser.parse(broken) is None
    assert parser.hits == 0
    assert sum("not an alert" in r.getMessage() for r in caplog.records) == 3


def test_json_goes_the_full_way_and_str_bodies_are_encoded_first():
    parser = AlertParser()
    doc = b'{"eventType": "VMD", "eventState": "active", "channelID": 2}'
    for _ in range(3):
        same(parser.parse(doc, "application/json"), parse_alert(doc, "application/json"))
        same(parser.parse(body().decode()), parse_alert(body()))
    assert parser.hits == 1  # the third str body: seen, then its template, then filled


def test_the_memo_is_bounded():
    parser = AlertParser(max_templates=4)
    for n in range(50):
        for _ in range(3):
            parser.parse(body(name=f"camera {n}"))
        assert len(parser._memo) <= 4
    assert parser.hits == 50


def test_unique_bodies_never_parse_a_template(monkeypatch):
    calls = []
    monkeypatch.setattr(templates, "parse_alert_quietly",
                        lambda *a: calls.append(a) or None)
    parser = AlertParser()
    for n in range(100):
        parser.parse(body(name=f"camera {n}"))
    assert calls == [] and parser.hits == 0


_DATE = st.text(alphabet="0123456789-:+.TZ", min_size=10, max_size=40)
_COUNT = st.text(alphabet="0123456789", min_size=1, max_size=9)
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dates=st.lists(_DATE, min_size=3, max_size=6), counts=st.lists(_COUNT, min_size=6,
       max_size=6), description=_TEXT, name=_TEXT, reuse=st.booleans())
def test_property_memo_equals_parse_alert(dates, counts, description, name, reuse):
    """Whatever dates and counts come, and wherever the date also turns up."""
    from xml.sax.saxutils import escape
    parser = AlertParser()
    for date, count in zip(dates, counts):
        desc = escape(description + (date if reuse else ""))
        data = body(date=date, count=count, description=desc, name=escape(name))
        same(parser.parse(data), parse_alert(data))


@settings(max_examples=100, deadline=None)
@given(date=st.text(alphabet="0123456789-", min_size=10, max_size=20))
def test_property_a_date_inside_a_tag_name(date):
    data = body(date=date).replace(b"<ipAddress>10.0.0.7</ipAddress>",
                                   b"<x" + date.encode() + b">1</x" + date.encode() + b">")
    parser = AlertParser()
    for _ in range(3):
        same(parser.parse(data), parse_alert(data))
