"""Tests of pyhik.protocol.alerts (and pyhik.protocol.alerts_json): one body in, one Alert or None out."""

import json
import logging
import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyhik.protocol import alerts
from pyhik.protocol.alerts import Alert, parse_alert

FIXTURES = Path(__file__).parent / "fixtures"
ALERT_FILES = sorted((FIXTURES / "alerts").glob("*"))
STREAM_FILES = sorted((FIXTURES / "streams").glob("*.jsonl"))
NON_ALERT_FILES = sorted(p for d in ("deviceinfo", "triggers", "motiondetection")
                         for p in (FIXTURES / d).glob("*.xml"))
FILE_NAME_RE = re.compile(r"^[a-z]+_[^_]+_(?:ch(\d+)_)?([A-Za-z]+)_([a-z]+)")

HIK10 = "http://www.hikvision.com/ver10/XMLSchema"
HIK20 = "http://www.hikvision.com/ver20/XMLSchema"
ISAPI20 = "http://www.isapi.org/ver20/XMLSchema"
STDCGI20 = "http://www.std-cgi.com/ver20/XMLSchema"
PSIA = "urn:psialliance-org"
DECL = '<?xml version="1.0" encoding="UTF-8"?>'


def doc(inner: str, ns: str = HIK20, decl: str = "", sep: str = "\n") -> str:
    """A small EventNotificationAlert with ``inner`` as its body (hand-written, not captured)."""
    xmlns = ' xmlns="%s"' % ns if ns else ""
    lines = [decl] if decl else []
    lines += ['<EventNotificationAlert version="2.0"%s>' % xmlns, inner,
              "</EventNotificationAlert>", ""]
    return sep.join(lines)


def fields(event="VMD", state="active", **extra) -> str:
    """Leaf elements of an alert: the usual ones plus ``extra`` (None leaves one out)."""
    parts = {"ipAddress": "192.0.2.10", "portNo": "80", "protocol": "HTTP",
             "macAddress": "00:00:5e:00:53:01", "channelID": "1",
             "dateTime": "2024-05-01T10:00:00+02:00", "activePostCount": "1",
             "eventType": event, "eventState": state, "eventDescription": "%s alarm" % event}
    parts.update(extra)
    return "\n".join("<%s>%s</%s>" % (k, v, k) if v != "" else "<%s/>" % k
                     for k, v in parts.items() if v is not None)


def parse(text, content_type="") -> Alert:
    result = parse_alert(text.encode("utf-8") if isinstance(text, str) else text, content_type)
    assert result is not None
    return result


def stream_docs(path: Path):
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["content"].encode("utf-8") for line in handle if line.strip()]


@contextmanager
def captured(logger_name="pyhik.protocol.alerts"):
    """Collect log records without pytest fixtures (usable inside hypothesis tests)."""
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger(logger_name)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# --- the captured fixtures ---------------------------------------------------------------

@pytest.mark.parametrize("path", ALERT_FILES, ids=lambda p: p.name)
def test_every_fixture_alert_parses_to_its_file_name(path):
    channel, code, state = FILE_NAME_RE.match(path.name).groups()
    result = parse(path.read_bytes())
    assert result.event.lower() == code.lower()
    assert result.state == state
    if channel:
        assert result.channel == int(channel)
    assert result.heartbeat == ("heartbeat" in path.name)
    assert not result.retransmission and not result.ongoing


def test_fixture_details_camera():
    result = parse((FIXTURES / "alerts" / "ipc_hiksink-cam_VMD_inactive.xml").read_bytes())
    assert (result.channel, result.count, result.io_port) == (1, 20, None)
    assert result.time == "2021-07-02T14:28:07+08:00"
    assert result.description == "Motion alarm" and result.channel_name == ""
    assert result.event_type.name == "Motion" and not result.active
    # Leaves inside <Extensions> (foreign namespaces) are in raw, names without namespace.
    assert result.raw["serialNumber"] == "DS-2CD2185FWD-I20180101AAWR111111111"
    assert result.raw["eventPush"].startswith("IO&&DS-2CD2185FWD")


def test_fixture_details_nvr_has_only_dyn_channel():
    result = parse((FIXTURES / "alerts" / "nvr_hiksink-nvr_ch16_videoloss_active.xml").read_bytes())
    assert result.channel == 16 and "channelID" not in result.raw
    assert result.active and not result.heartbeat


def test_fixture_details_regions_and_people_counting():
    line = parse((FIXTURES / "alerts" / "ipc_hiksink-cam_linedetection_active.xml").read_bytes())
    assert line.raw["positionX"] == "424"  # first occurrence
    assert line.raw["regionID"] == "1" and line.target is None
    people = parse((FIXTURES / "alerts"
                    / "ipc_dumacp_PeopleCounting_active_psialliance-ns.xml").read_bytes())
    assert people.channel_name == "Camera 01" and people.channel == 1
    assert people.raw["enter"] == "70" and people.raw["statisticalMethods"] == "realTime"


def test_radar_json_fixture():
    result = parse((FIXTURES / "alerts" / "radar_supergiovane_cidEvent_active.json").read_bytes())
    assert (result.event, result.state) == ("cidEvent", "active")
    assert (result.channel, result.count) == (1, 1)
    assert result.time == "2012-01-13T03:58:19+01:00" and result.description == "CID event"
    assert result.raw["code"] == "3103" and result.raw["type"] == "zoneAlarm"
    assert result.raw["ip"] == "192.168.1.32" and result.raw["ipv6Address"] == ""
    assert result.event_type.code == "cidEvent"


@pytest.mark.parametrize("path", NON_ALERT_FILES, ids=lambda p: p.name)
def test_other_device_documents_are_not_alerts(path):
    assert parse_alert(path.read_bytes()) is None


def test_broken_alert_stream_body_is_only_a_declaration():
    transcript = (FIXTURES / "streams"
                  / "vis_DS-KB8113-IME1B_V2.2.60_alertStream_broken_transcript.txt").read_text()
    body = transcript.split("\n\n", 1)[1]
    assert body.strip().startswith("<?xml")
    assert parse_alert(body.encode(), "application/xml") is None


# --- the captured streams ----------------------------------------------------------------

@pytest.fixture(scope="module")
def streams():
    return {path.name.split("_")[0]: [parse(d) for d in stream_docs(path)] for path in STREAM_FILES}


def test_every_stream_document_parses(streams):
    assert {name: len(items) for name, items in streams.items()} == {
        "hiksink-cam": 770, "hiksink-nvr": 5581, "hiksink-ptz": 1516}


def test_nvr_stream_facts(streams):
    nvr = streams["hiksink-nvr"]
    assert {a.channel for a in nvr if a.event == "VMD"} == {2, 3, 4, 5, 6, 7, 10, 15}
    loss = [a for a in nvr if a.event == "videoloss"]
    assert len(loss) == 3062 and {(a.channel, a.state) for a in loss} == {(16, "active")}
    assert not any(a.heartbeat or not a.active for a in nvr)
    assert Counter(a.event for a in nvr)["fielddetection"] == 1
    assert {a.channel for a in nvr if a.event == "linedetection"} == {5}


def test_camera_and_ptz_stream_facts(streams):
    cam = Counter((a.event, a.state, a.heartbeat) for a in streams["hiksink-cam"])
    assert cam[("videoloss", "inactive", True)] == 349
    assert cam[("VMD", "active", False)] == 259 and cam[("VMD", "inactive", False)] == 30
    assert cam[("linedetection", "active", False)] == 112
    assert cam[("linedetection", "inactive", False)] == 20
    ptz = Counter((a.event, a.heartbeat) for a in streams["hiksink-ptz"])
    assert ptz == {("VMD", False): 1425, ("fielddetection", False): 16, ("videoloss", True): 75}
    assert {a.channel for name in ("hiksink-cam", "hiksink-ptz") for a in streams[name]} == {1}


def test_fast_path_parses_each_document_once(monkeypatch):
    docs = stream_docs(STREAM_FILES[0])
    calls = []
    real = alerts.defused_fromstring

    def counting(data, *args, **kw):
        calls.append(1)
        return real(data, *args, **kw)

    monkeypatch.setattr(alerts, "defused_fromstring", counting)
    assert all(parse_alert(d) is not None for d in docs)
    assert len(calls) == len(docs)


# --- namespaces and layout ---------------------------------------------------------------

@pytest.mark.parametrize("ns", [HIK10, HIK20, ISAPI20, STDCGI20, PSIA, ""])
def test_any_namespace(ns):
    result = parse(doc(fields(channelID="3"), ns=ns))
    assert (result.event, result.channel) == ("VMD", 3)


def test_prefixed_namespace_and_nested_foreign_extensions():
    text = ('<hik:EventNotificationAlert xmlns:hik="%s"><hik:eventType>VMD</hik:eventType>'
            '<hik:dynChannelID>4</hik:dynChannelID><hik:Extensions xmlns:x="urn:x-vendor">'
            '<x:serialNumber>SN1</x:serialNumber><x:eventType>nested</x:eventType>'
            '</hik:Extensions></hik:EventNotificationAlert>' % ISAPI20)
    result = parse(text)
    assert (result.event, result.channel, result.raw["serialNumber"]) == ("VMD", 4, "SN1")


@pytest.mark.parametrize("layout", ["one-line", "pretty", "crlf", "blank-line-decl",
                                    "bom-decl", "bom-blank-decl", "leading-spaces"])
def test_layouts(layout):
    inner = fields(channelID="2")
    text = {
        "one-line": doc(inner.replace("\n", ""), sep=""),
        "pretty": doc("\n".join("    " + line for line in inner.split("\n")), decl=DECL),
        "crlf": doc(inner.replace("\n", "\r\n"), decl=DECL, sep="\r\n"),
        "blank-line-decl": "\n" + doc(inner, decl=DECL),
        "bom-decl": "\ufeff" + doc(inner, decl=DECL),
        "bom-blank-decl": "\ufeff\r\n" + doc(inner, decl=DECL),
        "leading-spaces": "  \t\r\n" + doc(inner),
    }[layout]
    result = parse(text)
    assert (result.event, result.channel, result.count) == ("VMD", 2, 1)


def test_trailing_multipart_junk_is_cut():
    result = parse(doc(fields()) + "\r\n--boundary\r\nContent-Type: image/jpeg\r\n")
    assert result.event == "VMD"


def test_wrong_body_types_do_not_raise():
    assert parse_alert(None) is None  # type: ignore[arg-type]
    assert parse_alert(12) is None  # type: ignore[arg-type]


def test_str_bytearray_and_memoryview_bodies():
    text = doc(fields())
    assert parse(text).event == parse(bytearray(text.encode())).event == "VMD"
    assert parse(memoryview(text.encode())).event == "VMD"


# --- field rules -------------------------------------------------------------------------

@pytest.mark.parametrize("extra, channel", [
    ({"channelID": ""}, None),
    ({"channelID": None}, None),
    ({"channelID": "", "dynChannelID": ""}, None),
    ({"channelID": "", "dynChannelID": "12"}, 12),
    ({"channelID": None, "dynChannelID": "9"}, 9),
    ({"channelID": "0"}, 0),
    ({"channelID": "abc"}, None),
    ({"channelID": "-1"}, None),
    ({"channelID": " 5 "}, 5),
    ({"channelID": "99999999999999999999"}, None),
])
def test_channel(extra, channel):
    assert parse(doc(fields(**extra))).channel == channel


def test_empty_count_and_io_ports():
    result = parse(doc(fields("IO", activePostCount="", channelID=None, inputIOPortID="2")))
    assert (result.count, result.io_port, result.channel) == (None, 2, None)
    dyn = parse(doc(fields("IO", channelID=None, dynInputIOPortID="501")))
    assert dyn.io_port == 501 and dyn.event_type.io


def test_std_cgi_nvr_heartbeat_channel_zero():
    text = doc(fields("videoloss", "inactive", channelID="0", activePostCount="0",
                      dateTime="2019-11-14T11:47:0500:00"), ns=STDCGI20, decl=DECL)
    result = parse(text)
    assert (result.channel, result.heartbeat, result.time) == (0, True, "2019-11-14T11:47:0500:00")


@pytest.mark.parametrize("raw_state, state", [
    ("active", "active"), ("inactive", "inactive"), ("Active", "active"),
    ("INACTIVE", "inactive"), ("", "active"), (None, "active")])
def test_state(raw_state, state):
    assert parse(doc(fields(state=raw_state))).state == state


@pytest.mark.parametrize("event, state, description, heartbeat", [
    ("videoloss", "inactive", "videoloss alarm", True),
    ("videoloss", "active", "videoloss alarm", False),
    ("heartBeat", "active", "", True),
    ("HEARTBEAT", "inactive", "", True),
    ("heartbeat", "active", "", True),
    ("other", "active", "Heartbeat", True),
    ("other", "active", "device HEARTBEAT signal", True),
    ("other", "active", "something else", False),
    ("VMD", "inactive", "Motion alarm", False),
])
def test_heartbeats(event, state, description, heartbeat):
    assert parse(doc(fields(event, state, eventDescription=description))).heartbeat is heartbeat


def test_duration_with_relation_event_is_ongoing():
    inner = fields("duration", channelID="3") + (
        "<DurationList><Duration><relationEvent>linedetection</relationEvent>"
        "</Duration></DurationList>")
    result = parse(doc(inner, ns=HIK10))
    assert (result.event, result.state, result.ongoing, result.channel) == (
        "linedetection", "active", True, 3)
    assert result.event_type.name == "Line Crossing"


def test_duration_without_relation_event_stays_duration():
    result = parse(doc(fields("duration") + "<DurationList><Duration/></DurationList>"))
    assert (result.event, result.ongoing) == ("duration", False)


@pytest.mark.parametrize("value, expected", [("true", True), ("TRUE", True),
                                             ("false", False), (None, False)])
def test_retransmission(value, expected):
    assert parse(doc(fields(isDataRetransmission=value))).retransmission is expected


def test_target_at_top_or_inside_region_entry():
    top = parse(doc(fields(targetType="Human")))
    assert top.target == "human"
    region = ("<DetectionRegionList><DetectionRegionEntry><regionID>1</regionID>"
              "<detectionTarget>vehicle</detectionTarget></DetectionRegionEntry>"
              "</DetectionRegionList>")
    assert parse(doc(fields("fielddetection") + region)).target == "vehicle"
    nested_type = region.replace("detectionTarget", "targetType").replace("vehicle", "human")
    assert parse(doc(fields("linedetection") + nested_type)).target == "human"
    assert parse(doc(fields(targetType=""))).target is None


def test_own_children_win_over_nested_names():
    inner = ("<Extensions><channelID>7</channelID><eventType>nested</eventType></Extensions>"
             + fields(channelID="2"))
    result = parse(doc(inner))
    assert (result.event, result.channel, result.raw["channelID"]) == ("VMD", 2, "2")


# --- repairs -----------------------------------------------------------------------------

def test_stray_ampersand_is_repaired_and_entities_kept():
    text = doc(fields(eventDescription="Motion & alarm &amp; more &#38; &#x26; &lt;x&gt; a&b",
                      channelName="Front & Back", macAddress="&nbsp;"))
    result = parse(text)
    assert result.description == "Motion & alarm & more & & <x> a&b"
    assert result.raw["macAddress"] == "&nbsp;"  # no DTD, so not an entity: plain text
    assert result.channel_name == "Front & Back"


@pytest.mark.parametrize("name_bytes", ["摄像机1".encode("gb2312"), "Caméra".encode("latin-1")])
def test_non_utf8_bytes_in_utf8_document(name_bytes):
    body = doc(fields(channelID="4", channelName="@"), decl=DECL).encode().replace(b"@", name_bytes)
    result = parse(body)
    assert (result.event, result.channel) == ("VMD", 4)
    assert "\ufffd" in result.channel_name


def test_declared_gb2312_is_decoded():
    text = doc(fields(channelName="摄像机1"), decl='<?xml version="1.0" encoding="GB2312"?>')
    assert parse(text.encode("gb2312")).channel_name == "摄像机1"


def test_utf16_with_bom():
    assert parse(doc(fields(channelName="Ω"), decl="").encode("utf-16")).channel_name == "Ω"


def test_control_characters_are_dropped():
    body = doc(fields(channelName="Cam\x01era\x1f")).encode()
    assert parse(body).channel_name == "Camera"


def test_leading_junk_is_stripped():
    assert parse(b"\x00\x00junk" + doc(fields()).encode()).event == "VMD"


# --- not alerts ---------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b"", b"   \r\n\t", DECL.encode(), (DECL + "\r\n").encode(), b"\xef\xbb\xbf" + DECL.encode(),
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ResponseStatus version="1.0" xmlns="'
    + ISAPI20.encode() + b'"><statusCode>4</statusCode><statusString>Invalid Operation'
    b'</statusString></ResponseStatus>',
    b"<EventNotificationAlert><eventType>VMD</eventType>",
    b"garbage", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"<<<>>>", b"<a></b>",
    b"<EventNotificationAlert><ipAddress>1.2.3.4</ipAddress></EventNotificationAlert>",
    b"{", b"[1, 2]", b'{"ipAddress": "1.2.3.4"}', b"null", b"[" * 100000,
])
def test_not_alerts_give_none(body):
    assert parse_alert(body) is None


def test_every_truncation_of_an_alert_gives_none():
    body = (FIXTURES / "alerts" / "ptz_hiksink-ptz_VMD_active.xml").read_bytes()
    end = body.index(b"</EventNotificationAlert>") + len(b"</EventNotificationAlert>")
    assert all(parse_alert(body[:cut]) is None for cut in range(end))
    assert parse_alert(body[:end]) is not None


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    b"<EventNotificationAlert><eventType>&lol2;</eventType></EventNotificationAlert>",
    b'<!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd"><EventNotificationAlert>'
    b"<eventType>VMD</eventType></EventNotificationAlert>",
    ('<!DOCTYPE x [<!ENTITY a "aaaa">]><EventNotificationAlert><eventType>&a;</eventType>'
     "</EventNotificationAlert>").encode("utf-16"),
    b"junk<!DOCTYPE x [<!ENTITY a 'a'>]><EventNotificationAlert/>",
])
def test_entity_declarations_are_refused(body, caplog):
    with caplog.at_level(logging.WARNING, logger="pyhik.protocol.alerts"):
        assert parse_alert(body) is None
    assert "DOCTYPE/ENTITY" in caplog.text


def test_a_lower_case_doctype_is_no_dtd_and_no_alert():
    assert parse_alert(b"junk<!doctype x [<!ENTITY a 'a'>]><EventNotificationAlert/>") is None


def test_warning_names_the_reason_and_bounds_the_body(caplog):
    with caplog.at_level(logging.DEBUG, logger="pyhik.protocol.alerts"):
        assert parse_alert(b"<ResponseStatus>" + b"x" * 10000 + b"</ResponseStatus>") is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "ResponseStatus" in record.getMessage()
    assert len(record.getMessage()) < 300


def test_empty_body_is_only_debug(caplog):
    with caplog.at_level(logging.DEBUG, logger="pyhik.protocol.alerts"):
        assert parse_alert(b"\r\n") is None
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


# --- JSON --------------------------------------------------------------------------------

def test_json_numbers_as_strings_or_numbers():
    as_numbers = {"eventType": "VMD", "eventState": "inactive", "channelID": 2,
                  "activePostCount": 5, "dateTime": "2024-05-01T10:00:00+02:00",
                  "eventDescription": "Motion alarm", "isDataRetransmission": True}
    as_strings = dict(as_numbers, channelID="2", activePostCount="5",
                      isDataRetransmission="true")
    for obj in (as_numbers, as_strings):
        result = parse(json.dumps(obj), "application/json")
        assert (result.event, result.state, result.channel) == ("VMD", "inactive", 2)
        assert result.count == 5
        assert result.retransmission and result.description == "Motion alarm"


def test_json_wrapper_dyn_channel_and_nested_objects():
    obj = {"EventNotificationAlert": {
        "eventType": "AccessControllerEvent", "dynChannelID": 3.0, "channelName": None,
        "AccessControllerEvent": {"majorEventType": 5, "subEventType": 75,
                                  "cards": [{"cardNo": "123"}, {"cardNo": "456"}],
                                  "verifyOk": False}}}
    result = parse(json.dumps(obj))
    assert (result.event, result.state, result.channel) == ("AccessControllerEvent", "active", 3)
    assert result.raw["majorEventType"] == "5" and result.raw["cardNo"] == "123"
    assert result.raw["verifyOk"] == "false" and result.channel_name == ""


def test_json_heartbeat_non_utf8_and_content_type_tolerance():
    assert parse(b'{"eventType": "heartBeat"}').heartbeat
    assert "\ufffd" in parse(b'{"eventType": "VMD", "channelName": "\xb2\xe2"}').channel_name
    assert parse(b'\n  {"eventType": "VMD"}', "application/xml").event == "VMD"
    assert parse(doc(fields()), "application/json").event == "VMD"  # the body decides
    assert parse_alert(b"not json", "application/json; charset=utf-8") is None


# --- never raises ---------------------------------------------------------------------------

def _assert_no_crash(body, content_type=""):
    with captured() as records:
        result = parse_alert(body, content_type)
    assert result is None or isinstance(result, Alert)
    # The catch-all logs with exc_info: that would be a parser bug, not bad input.
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from(["", "application/xml", "application/json",
                                                  "image/jpeg"]))
def test_arbitrary_bytes_never_raise(body, content_type):
    _assert_no_crash(body, content_type)


_SAMPLE = (FIXTURES / "alerts" / "ipc_hiksink-cam_linedetection_active.xml").read_bytes()
_JSON_SAMPLE = (FIXTURES / "alerts" / "radar_supergiovane_cidEvent_active.json").read_bytes()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([_SAMPLE, _JSON_SAMPLE]), st.data())
def test_mutated_alerts_never_raise(sample, data):
    start = data.draw(st.integers(0, len(sample)))
    end = data.draw(st.integers(start, len(sample)))
    insert = data.draw(st.binary(max_size=20) | st.sampled_from(
        [b"&", b"<", b"<!DOCTYPE x>", b"\x00", b"\xff\xfe", b"]]>", b'"', b"{", b"}"]))
    _assert_no_crash(sample[:start] + insert + sample[end:])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/&;#x?!= \"'abcEventNotificationAlert\r\n\ufeff")),
               max_size=200))
def test_xmlish_text_never_raises(text):
    _assert_no_crash(text)
