"""Home Assistant MQTT discovery: the documents, and the clean-up of what a bridge left.

Pure: documents are built from views (:mod:`~pyhik.mqtt.payloads`); what a previous run
published is learned from the broker's retained config messages (fed in by the bridge) and
turned into removal messages. No I/O, no clock.

Modes: ``device`` (one document per device, Home Assistant 2024.11+), ``entity`` (one per
sensor, older Home Assistant and openHAB) and ``none``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from .payloads import DeviceView, SensorView
from .topics import OFFLINE, ONLINE, STATE_OFF, STATE_ON, Topics

_LOGGER = logging.getLogger(__name__)

MODES = ("device", "entity", "none")
PLATFORM = "binary_sensor"
MANUFACTURER = "Hikvision"
PROJECT_URL = "https://pypi.org/project/pyhik/"

Message = Tuple[str, str]
"""(topic, payload) of a retained message; an empty payload clears the topic."""


def encode(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def origin(version: str) -> Dict[str, Any]:
    return {"name": "pyhik", "sw": version, "url": PROJECT_URL}


def device_ref(node: str) -> str:
    """The Home Assistant device identifier of a camera or NVR."""
    return f"pyhik_{node}"


def availability(topics: Topics, node: str) -> Dict[str, Any]:
    """Bridge and device availability, both needed (``availability_mode: all``)."""
    return {"availability": [{"topic": topics.bridge_availability},
                             {"topic": topics.availability(node)}],
            "availability_mode": "all", "payload_available": ONLINE,
            "payload_not_available": OFFLINE}


def sensor_component(topics: Topics, node: str, sensor: SensorView) -> Dict[str, Any]:
    """One sensor's discovery options (a ``cmps`` entry, or an entity document's body)."""
    component: Dict[str, Any] = {
        "p": PLATFORM, "unique_id": f"pyhik_{node}_{sensor.key}", "name": sensor.name}
    if sensor.device_class:
        component["device_class"] = sensor.device_class
    component.update({
        "state_topic": topics.state(node, sensor.key),
        "json_attributes_topic": topics.attributes(node, sensor.key),
        "payload_on": STATE_ON, "payload_off": STATE_OFF, "qos": 1,
        "default_entity_id": f"{PLATFORM}.{sensor.slug}", "object_id": sensor.slug})
    component.update(availability(topics, node))
    return component


def device_info(topics: Topics, device: DeviceView) -> Dict[str, Any]:
    """The ``dev`` block of a camera or NVR, linked to its bridge."""
    dev: Dict[str, Any] = {"ids": [device_ref(device.node)], "name": device.name,
                           "mf": MANUFACTURER}
    for short, value in (("mdl", device.model), ("sw", device.firmware), ("sn", device.serial)):
        if value:
            dev[short] = value
    dev["via_device"] = topics.bridge_device_id
    return dev


def device_document(topics: Topics, device: DeviceView, version: str,
                    removed: Iterable[str] = ()) -> Dict[str, Any]:
    """``homeassistant/device/<device>/config``: every sensor, plus a ``{"p": ...}`` entry
    for each key in ``removed`` (Home Assistant's way to remove a component)."""
    cmps: Dict[str, Any] = {key: {"p": PLATFORM} for key in sorted(removed)}
    for sensor in device.sensors:
        cmps[sensor.key] = sensor_component(topics, device.node, sensor)
    return {"dev": device_info(topics, device), "o": origin(version), "cmps": cmps, "qos": 1}


def entity_documents(topics: Topics, device: DeviceView, version: str) -> List[Message]:
    """``homeassistant/binary_sensor/<device>/<key>/config``, one per sensor."""
    out = []
    for sensor in device.sensors:
        body = sensor_component(topics, device.node, sensor)
        del body["p"]
        body.update({"dev": device_info(topics, device), "o": origin(version)})
        out.append((topics.entity_config(device.node, sensor.key), encode(body)))
    return out


def bridge_component(topics: Topics) -> Dict[str, Any]:
    """The bridge's connectivity sensor: on while the bridge is online."""
    slug = f"{topics.bridge_device_id}_connected"
    return {"p": PLATFORM, "unique_id": slug, "name": "Connected",
            "device_class": "connectivity", "state_topic": topics.bridge_availability,
            "payload_on": ONLINE, "payload_off": OFFLINE, "qos": 1,
            "entity_category": "diagnostic",
            "default_entity_id": f"{PLATFORM}.{slug}", "object_id": slug}


def bridge_messages(topics: Topics, version: str, mode: str) -> List[Message]:
    """The bridge's own device, so that ``via_device`` names a real device."""
    dev = {"ids": [topics.bridge_device_id], "name": f"pyhik bridge {topics.bridge_id}",
           "mf": "pyhik", "sw": version}
    if mode == "device":
        doc = {"dev": dev, "o": origin(version), "cmps": {"connected": bridge_component(topics)},
               "qos": 1}
        return [(topics.device_config(topics.bridge_device_id), encode(doc))]
    if mode == "entity":
        body = bridge_component(topics)
        del body["p"]
        body.update({"dev": dev, "o": origin(version)})
        return [(topics.entity_config(topics.bridge_device_id, "connected"), encode(body))]
    return []


def device_messages(topics: Topics, device: DeviceView, version: str, mode: str,
                    removed: Iterable[str] = ()) -> List[Message]:
    """The discovery messages of one device in ``mode``."""
    if mode == "device":
        return [(topics.device_config(device.node),
                 encode(device_document(topics, device, version, removed)))]
    if mode == "entity":
        return entity_documents(topics, device, version)
    return []


# -- what a previous run left --------------------------------------------------------------
@dataclass
class PreviousDevice:
    """What the broker holds for one device of this bridge (from retained configs)."""

    node: str
    device_doc: bool = False
    removed: Set[str] = field(default_factory=set)
    """Keys already marked removed (``{"p": ...}``) in the device document."""
    sensors: Dict[str, Tuple[Optional[str], Optional[str]]] = field(default_factory=dict)
    """key -> (state topic, attributes topic)."""
    entity_keys: Set[str] = field(default_factory=set)
    availability: Set[str] = field(default_factory=set)


class Previous:
    """Learns, from retained config messages, what this bridge published before."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.devices: Dict[str, PreviousDevice] = {}

    def feed(self, topic: str, payload: bytes) -> bool:
        """Take one retained message; True when it was one of this bridge's configs."""
        where = self._parse_topic(topic)
        if where is None or not payload:
            return False
        try:
            doc = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            _LOGGER.debug("not JSON, skipped: %s", topic)
            return False
        if not isinstance(doc, dict) or not isinstance(doc.get("dev"), dict):
            return False
        if doc["dev"].get("via_device") != self.topics.bridge_device_id:
            return False
        node, key = where
        prev = self.devices.setdefault(node, PreviousDevice(node))
        if key is None:
            prev.device_doc = True
            cmps = doc.get("cmps")
            for cid, comp in (cmps.items() if isinstance(cmps, dict) else ()):
                if isinstance(comp, dict) and "unique_id" not in comp:
                    prev.removed.add(cid)
                elif isinstance(comp, dict):
                    self._note_sensor(prev, cid, comp)
        else:
            prev.entity_keys.add(key)
            self._note_sensor(prev, key, doc)
        return True

    def _parse_topic(self, topic: str) -> Optional[Tuple[str, Optional[str]]]:
        prefix = self.topics.discovery_prefix + "/"
        if not topic.startswith(prefix) or not topic.endswith("/config"):
            return None
        parts = topic[len(prefix):].split("/")
        if len(parts) == 3 and parts[0] == "device":
            return parts[1], None
        if len(parts) == 4 and parts[0] == PLATFORM:
            return parts[1], parts[2]
        return None

    def _note_sensor(self, prev: PreviousDevice, key: str, comp: Mapping[str, Any]) -> None:
        state, attrs = comp.get("state_topic"), comp.get("json_attributes_topic")
        prev.sensors[key] = (state if isinstance(state, str) else None,
                             attrs if isinstance(attrs, str) else None)
        for entry in comp.get("availability") or ():
            topic = entry.get("topic") if isinstance(entry, dict) else None
            if isinstance(topic, str) and topic != self.topics.bridge_availability:
                prev.availability.add(topic)


def _clear_sensor(topics: Topics, node: str, key: str, prev: PreviousDevice) -> List[Message]:
    state, attrs = prev.sensors.get(key, (None, None))
    return [(state or topics.state(node, key), ""), (attrs or topics.attributes(node, key), "")]


def cleanup_for_device(topics: Topics, prev: Optional[PreviousDevice], current: Iterable[str],
                       mode: str) -> Tuple[List[Message], Set[str]]:
    """Messages that remove what ``prev`` has and the device no longer has, to publish
    before the device's own discovery, and the keys its device document must mark removed."""
    if prev is None or mode == "none":
        return [], set()
    keys = set(current)
    gone = sorted(set(prev.sensors) - keys)
    out: List[Message] = []
    removed: Set[str] = set()
    if mode == "device":
        out += [(topics.entity_config(prev.node, key), "") for key in sorted(prev.entity_keys)]
        if prev.device_doc:
            removed = (set(gone) | prev.removed) - keys
    else:  # entity
        if prev.device_doc:
            out.append((topics.device_config(prev.node), ""))
        out += [(topics.entity_config(prev.node, key), "")
                for key in sorted(prev.entity_keys - keys)]
    for key in gone:
        out += _clear_sensor(topics, prev.node, key, prev)
    return out, removed


def cleanup_for_removed_device(topics: Topics, prev: PreviousDevice) -> List[Message]:
    """Messages that remove a device no longer in the configuration, and its topics."""
    out: List[Message] = []
    if prev.device_doc:
        out.append((topics.device_config(prev.node), ""))
    out += [(topics.entity_config(prev.node, key), "") for key in sorted(prev.entity_keys)]
    for key in sorted(prev.sensors):
        out += _clear_sensor(topics, prev.node, key, prev)
    out += [(topic, "") for topic in sorted(prev.availability)]
    return out
