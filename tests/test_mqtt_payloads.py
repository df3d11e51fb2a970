"""Unit tests of the pure MQTT modules: topics, payloads, discovery, clean-up, outbox, URL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pyhik.errors import ConfigError
from pyhik.mqtt.broker import parse_broker
from pyhik.mqtt.discovery import (
    Previous,
    bridge_messages,
    cleanup_for_device,
    cleanup_for_removed_device,
    device_document,
    device_messages,
    entity_documents,
)
from pyhik.mqtt.outbox import EventOutbox
from pyhik.mqtt.payloads import (
    DeviceView,
    SensorView,
    attributes_payload,
    event_payload,
    info_payload,
    state_payload,
)
from pyhik.mqtt.topics import Topics, bridge_id_of, default_bridge_id, device_topic_id

TZ = timezone(timedelta(hours=2))
WHEN = datetime(2024, 5, 1, 12, 30, 5, tzinfo=TZ)
T = Topics("site1")


def motion(key: str = "motion", name: str = "Motion", slug: str = "front_porch_motion",
           **kw: object) -> SensorView:
    return SensorView(key=key, name=name, slug=slug, device_class="motion", event="VMD",
                      channel=1, io_port=None, **kw)  # type: ignore[arg-type]


IO = SensorView(key="i_o_2", name="I/O 2", slug="front_porch_i_o_2", device_class=None,
                event="IO", channel=None, io_port=2)
CAM = DeviceView(node="DS-1_2", name="Front Porch", model="DS-2CD", firmware="V5.7.3",
                 serial="SN1", connected=True, sensors=(motion(), IO))


def test_identifiers():
    assert device_topic_id("a1:b2 C3/é.x") == "a1_b2_C3___x"
    assert bridge_id_of("My-Host.Example") == "my-host_example"
    assert default_bridge_id("Garage-Pi.local") == "garage-pi"
    assert default_bridge_id("...") == "bridge"
    assert T.client_id == "pyhik-site1"
    assert T.bridge_availability == "pyhik/bridge/site1/availability"
    assert T.bridge_info == "pyhik/bridge/site1/info"
    assert T.state("dev", "motion_1") == "pyhik/dev/motion_1/state"
    assert T.attributes("dev", "motion_1") == "pyhik/dev/motion_1/attributes"
    assert T.events("dev") == "pyhik/dev/events"
    assert T.availability("dev") == "pyhik/dev/availability"
    assert T.device_config("dev") == "homeassistant/device/dev/config"
    assert T.entity_config("dev", "motion") == "homeassistant/binary_sensor/dev/motion/config"
    other = Topics("b", "cams", "ha")
    assert other.state("d", "k") == "cams/d/k/state" and other.ha_status == "ha/status"


def test_state_attributes_event_info_payloads():
    view = motion(is_on=True, count=3, last_tripped=WHEN, delay=30.0, target="human")
    assert state_payload(view) == "ON" and state_payload(motion()) == "OFF"
    assert json.loads(attributes_payload(view)) == {
        "event": "VMD", "channel": 1, "io_port": None, "count": 3,
        "last_tripped_time": "2024-05-01T12:30:05+02:00", "delay": 30, "target": "human"}
    assert json.loads(attributes_payload(IO))["io_port"] == 2
    assert json.loads(attributes_payload(IO))["channel"] is None
    assert json.loads(event_payload(7, view, WHEN)) == {
        "seq": 7, "key": "motion", "state": "ON", "time": "2024-05-01T12:30:05+02:00",
        "event": "VMD", "channel": 1, "io_port": None, "target": "human"}
    assert json.loads(info_payload("1.0", "site1", ["a", "b"])) == {
        "version": "1.0", "bridge_id": "site1", "devices": ["a", "b"]}


def test_device_document():
    doc = device_document(T, CAM, "1.0", removed={"line_crossing"})
    assert doc["dev"] == {"ids": ["pyhik_DS-1_2"], "name": "Front Porch", "mf": "Hikvision",
                          "mdl": "DS-2CD", "sw": "V5.7.3", "sn": "SN1",
                          "via_device": "pyhik_bridge_site1"}
    assert doc["o"]["name"] == "pyhik" and doc["o"]["sw"] == "1.0" and doc["o"]["url"]
    assert doc["cmps"]["line_crossing"] == {"p": "binary_sensor"}
    cmp = doc["cmps"]["motion"]
    assert cmp["p"] == "binary_sensor" and cmp["unique_id"] == "pyhik_DS-1_2_motion"
    assert cmp["name"] == "Motion" and cmp["device_class"] == "motion"
    assert cmp["state_topic"] == "pyhik/DS-1_2/motion/state"
    assert cmp["json_attributes_topic"] == "pyhik/DS-1_2/motion/attributes"
    assert cmp["default_entity_id"] == "binary_sensor.front_porch_motion"
    assert cmp["object_id"] == "front_porch_motion"
    assert cmp["availability"] == [{"topic": "pyhik/bridge/site1/availability"},
                                   {"topic": "pyhik/DS-1_2/availability"}]
    assert cmp["availability_mode"] == "all"
    assert "device_class" not in doc["cmps"]["i_o_2"]
    assert "~" not in json.dumps(doc)


def test_entity_documents_and_bridge():
    (topic1, body1), (topic2, _) = entity_documents(T, CAM, "1.0")
    assert topic1 == "homeassistant/binary_sensor/DS-1_2/motion/config"
    assert topic2 == "homeassistant/binary_sensor/DS-1_2/i_o_2/config"
    body = json.loads(body1)
    assert "p" not in body and body["dev"]["via_device"] == "pyhik_bridge_site1"
    assert body["default_entity_id"] == "binary_sensor.front_porch_motion"
    [(topic, payload)] = bridge_messages(T, "1.0", "device")
    assert topic == "homeassistant/device/pyhik_bridge_site1/config"
    doc = json.loads(payload)
    assert doc["dev"]["ids"] == ["pyhik_bridge_site1"] and doc["dev"]["mf"] == "pyhik"
    assert doc["dev"]["name"] == "pyhik bridge site1"
    connected = doc["cmps"]["connected"]
    assert connected["device_class"] == "connectivity"
    assert connected["unique_id"] == "pyhik_bridge_site1_connected"
    assert connected["state_topic"] == T.bridge_availability
    assert (connected["payload_on"], connected["payload_off"]) == ("online", "offline")
    assert bridge_messages(T, "1.0", "none") == [] and device_messages(T, CAM, "1", "none") == []
    [(topic, _)] = bridge_messages(T, "1.0", "entity")
    assert topic == "homeassistant/binary_sensor/pyhik_bridge_site1/connected/config"


def _learned(*messages: tuple) -> Previous:
    prev = Previous(T)
    for topic, payload in messages:
        prev.feed(topic, payload if isinstance(payload, bytes) else payload.encode())
    return prev


def test_previous_learns_only_its_own_configs():
    old = device_messages(T, CAM, "1.0", "device", removed={"gone_before"})
    foreign = device_messages(Topics("other"),
                              DeviceView("X", "X", None, None, None, True, (motion(),)),
                              "1.0", "device")
    prev = _learned(*old, *foreign, ("homeassistant/device/bad/config", b"{not json"),
                    ("homeassistant/sensor/x/y/config", b"{}"))
    assert set(prev.devices) == {"DS-1_2"}
    got = prev.devices["DS-1_2"]
    assert got.device_doc and got.removed == {"gone_before"}
    assert got.sensors["motion"] == ("pyhik/DS-1_2/motion/state", "pyhik/DS-1_2/motion/attributes")
    assert got.availability == {"pyhik/DS-1_2/availability"}


def test_cleanup_device_mode_marks_removed_and_clears_topics():
    prev = _learned(*device_messages(T, CAM, "1.0", "device", removed={"old"}))
    messages, removed = cleanup_for_device(T, prev.devices["DS-1_2"], {"motion"}, "device")
    assert removed == {"i_o_2", "old"}
    assert set(messages) == {("pyhik/DS-1_2/i_o_2/state", ""), ("pyhik/DS-1_2/i_o_2/attributes", "")}
    doc = device_document(T, CAM, "1.0", removed)
    assert doc["cmps"]["old"] == {"p": "binary_sensor"}
    assert cleanup_for_device(T, None, {"motion"}, "device") == ([], set())


def test_cleanup_entity_mode_and_mode_switch():
    prev = _learned(*device_messages(T, CAM, "1.0", "entity"))
    messages, removed = cleanup_for_device(T, prev.devices["DS-1_2"], {"motion"}, "entity")
    assert removed == set()
    assert ("homeassistant/binary_sensor/DS-1_2/i_o_2/config", "") in messages
    assert ("pyhik/DS-1_2/i_o_2/state", "") in messages
    # entity -> device: the entity configs go first
    messages, _ = cleanup_for_device(T, prev.devices["DS-1_2"], {"motion", "i_o_2"}, "device")
    assert messages == [("homeassistant/binary_sensor/DS-1_2/i_o_2/config", ""),
                        ("homeassistant/binary_sensor/DS-1_2/motion/config", "")]
    # device -> entity: the device config goes
    prev = _learned(*device_messages(T, CAM, "1.0", "device"))
    messages, _ = cleanup_for_device(T, prev.devices["DS-1_2"], {"motion", "i_o_2"}, "entity")
    assert messages == [("homeassistant/device/DS-1_2/config", "")]


def test_cleanup_removed_device():
    prev = _learned(*device_messages(T, CAM, "1.0", "device"))
    messages = cleanup_for_removed_device(T, prev.devices["DS-1_2"])
    assert messages[0] == ("homeassistant/device/DS-1_2/config", "")
    assert set(messages[1:]) == {(t, "") for t in (
        "pyhik/DS-1_2/motion/state", "pyhik/DS-1_2/motion/attributes",
        "pyhik/DS-1_2/i_o_2/state", "pyhik/DS-1_2/i_o_2/attributes", "pyhik/DS-1_2/availability")}


def test_outbox_numbers_per_device_and_keeps_until_acknowledged():
    box = EventOutbox()
    a1, b1, a2 = (box.add("pyhik/a/events", motion(), WHEN), box.add("pyhik/b/events", motion(), WHEN),
                  box.add("pyhik/a/events", motion(), WHEN))
    assert (a1.seq, b1.seq, a2.seq) == (1, 1, 2)
    assert json.loads(a2.payload)["seq"] == 2
    assert box.unsent() == [a1, b1, a2]
    box.mark_sent(a1, 10)
    box.mark_sent(b1, 11)
    assert box.unsent() == [a2]
    assert box.acknowledged(10) and not box.acknowledged(99)
    box.new_connection()  # b1 was sent but not acknowledged: it goes again, in order
    assert box.unsent() == [b1, a2] and len(box) == 2


def test_outbox_is_bounded_and_counts_the_loss():
    assert EventOutbox().capacity >= 10_000
    box = EventOutbox(capacity=3)
    entries = [box.add("t", motion(), WHEN) for _ in range(5)]
    assert box.unsent() == entries[2:] and box.take_lost() == 2 and box.take_lost() == 0
    with pytest.raises(ValueError):
        EventOutbox(0)


def test_broker_urls():
    b = parse_broker("mqtt://broker.lan", {})
    assert (b.host, b.port, b.tls, b.username) == ("broker.lan", 1883, False, None)
    b = parse_broker("mqtts://u%40x:p%3Aw@10.0.0.2:8884", {})
    assert (b.port, b.tls, b.username, b.password) == (8884, True, "u@x", "p:w")
    assert "p:w" not in b.display and "p:w" not in repr(b)
    assert parse_broker("mqtts://h", {}).port == 8883
    env = {"PYHIK_MQTT_BROKER": "mqtt://user@h:1999", "PYHIK_MQTT_PASSWORD": "secret"}
    b = parse_broker(None, env)
    assert (b.port, b.username, b.password) == (1999, "user", "secret")
    for bad in ("http://h", "mqtt://", "mqtt://h:99999", "mqtt://h/x", "h:1883"):
        with pytest.raises(ConfigError):
            parse_broker(bad, {})
    with pytest.raises(ConfigError, match="PYHIK_MQTT_BROKER"):
        parse_broker(None, {})


@pytest.mark.parametrize("url", ["mqtt://bob:hunter2/x@127.0.0.1", "mqtt://bob:hun#ter2@127.0.0.1",
                                 "mqtt://bob:hunter2?x@127.0.0.1:1883",
                                 "mqtt://bob:12345/6@127.0.0.1:1883"])
def test_a_broker_password_is_never_echoed(url):
    with pytest.raises(ConfigError) as caught:
        parse_broker(url, {})
    text = str(caught.value)
    assert "hunter2" not in text and "hun" not in text and "12345" not in text
    assert "percent-encoded" in text


def test_special_characters_in_the_password_percent_encoded():
    b = parse_broker("mqtt://bob:hun%2Fter%232%40@127.0.0.1:1884", {})
    assert (b.username, b.password, b.host, b.port) == ("bob", "hun/ter#2@", "127.0.0.1", 1884)
    b = parse_broker("mqtt://bob:p@ss@[::1]:1885", {})  # the last @ ends the user info
    assert (b.password, b.host, b.port) == ("p@ss", "::1", 1885)
    b = parse_broker("mqtt://bob@h", {"PYHIK_MQTT_PASSWORD": "env"})
    assert (b.username, b.password) == ("bob", "env")
