"""ISAPI documents -> typed models: deviceInfo, event triggers, channels, ResponseStatus.

Pure functions over bytes and ElementTree elements; no I/O. Element names are matched
by local name, so any namespace works (hikvision.com ver10/ver20, isapi.org, none).
Nothing here raises on odd content: ids that are blank or not numbers become None (or
the entry is skipped where an id is required), and a body that is not XML parses to None.
Every device document is parsed by :mod:`defusedxml`, which refuses DTDs, entity
declarations and external references whatever the body's encoding.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from copy import deepcopy
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

__all__ = ["DeviceInfo", "Trigger", "Channel", "ResponseStatus", "parse_xml", "local_name",
           "parse_device_info", "parse_triggers", "parse_channels", "parse_response_status",
           "direct_child", "to_xml_bytes", "parse_bool", "is_recorder",
           "select_triggers"]

_LOGGER = logging.getLogger(__name__)

MAX_ID_DIGITS = 9
"""Longer numbers in id fields are treated as garbage (None)."""

_UTF8_BOM = b"\xef\xbb\xbf"
# deviceType values of recorders: NVR, DVR, HybirdNVR (sic, as firmware spells it),
# HybridNVR, MobileNVR, DVS (video servers: several channels, numbered like an NVR's).
_RECORDER_TYPE_RE = re.compile(r"NVR|DVR|DVS", re.IGNORECASE)
# Recorder models: Hikvision DS-7xxx / DS-8xxx / DS-9xxx (and the iDS- AcuSense ones:
# DS-7608NI-K2, DS-7208HUHI-F2, DS-9632NI-I8, iDS-7204HUHI-M1), HiWatch HWN- / HWD-.
# Cameras are DS-2xxx, intercoms DS-Kxxx, so the two never overlap.
_RECORDER_MODEL_RE = re.compile(r"^\s*(?:i?DS-[789]\d|HW[ND]-)", re.IGNORECASE)


@dataclass(frozen=True)
class DeviceInfo:
    """What ``/ISAPI/System/deviceInfo`` says about a device."""

    name: str
    """deviceName, stripped."""
    device_id: str
    """deviceID exactly as sent (not stripped: existing unique ids are built from it)."""
    model: str
    serial: str
    firmware: str
    """firmwareVersion (``V5.5.0``); the build date is in ``raw["firmwareReleasedDate"]``."""
    mac: str
    device_type: str
    """deviceType (``IPCamera``, ``IPDome``, ``NVR``, ``DVR``, ``HybirdNVR``, ``VIS``...)."""
    raw: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Every child element of DeviceInfo: local name -> text as sent."""

    @property
    def is_nvr(self) -> bool:
        """A recorder (several channels numbered ``channel*100+stream``)?

        True when deviceType names a recorder (contains NVR, DVR or DVS), or when the
        model is a recorder model (DS-7/8/9xxx, iDS-7/8/9xxx, HiWatch HWN-/HWD-): some
        DVRs report deviceType ``IPC``, so the model is checked as well.
        """
        return bool(_RECORDER_TYPE_RE.search(self.device_type)
                    or _RECORDER_MODEL_RE.match(self.model))

    @property
    def kind(self) -> str:
        """``"NVR"`` for recorders, ``"CAM"`` otherwise (the public pyhik's get_type)."""
        return "NVR" if self.is_nvr else "CAM"


@dataclass(frozen=True)
class Trigger:
    """One entry of ``/ISAPI/Event/triggers``: an event source and how it notifies."""

    event: str
    """Device code as sent (``VMD``, ``linedetection``, ``IO``)."""
    channel: Optional[int]
    """Video channel (videoInputChannelID, else dynVideoInputChannelID); None for IO
    triggers and for device-level triggers without a channel element."""
    io_port: Optional[int]
    """IO input port (inputIOPortID, else dynInputIOPortID) of IO triggers, else None."""
    methods: FrozenSet[str]
    """notificationMethod values as sent (``center``, ``record``, ``HTTP``...)."""
    trigger_id: str
    """The trigger's id (``VMD-1``, ``tamper-3``, ``vmd-1``, ``diskfull``)."""

    def notifies_by(self, methods: FrozenSet[str]) -> bool:
        """Whether one of ``methods`` (lower-case) is among this trigger's methods."""
        return any(method.lower() in methods for method in self.methods)


def is_recorder(info: Optional[DeviceInfo], triggers: Iterable[Trigger]) -> bool:
    """An NVR: deviceInfo says so, or a trigger is on a channel above 1 (the one rule the
    client, the device and ``pyhik check`` use)."""
    return (info is not None and info.is_nvr) or any((t.channel or 0) > 1 for t in triggers)


def select_triggers(every: List[Trigger], methods: FrozenSet[str], is_nvr: bool) -> List[Trigger]:
    """The triggers that give sensors: those notifying by one of ``methods`` (lower-case),
    else, on an NVR, every trigger with any notification method."""
    chosen = [trigger for trigger in every if trigger.notifies_by(methods)]
    return chosen or ([trigger for trigger in every if trigger.methods] if is_nvr else [])


@dataclass(frozen=True)
class Channel:
    """A video channel (the public pyhik's ``VideoChannel``)."""

    id: int
    name: str
    enabled: bool = True


@dataclass(frozen=True)
class ResponseStatus:
    """An ISAPI ``ResponseStatus`` document (the answer to PUTs, and to errors)."""

    status_code: Optional[int]
    status_string: str
    sub_status_code: str

    @property
    def ok(self) -> bool:
        """1 is OK; 7 is "Reboot Required", which still means the change was taken."""
        return self.status_code in (1, 7)

    def __str__(self) -> str:
        text = self.status_string or "no status text"
        return f"{text} (statusCode {self.status_code}, {self.sub_status_code or '-'})"


def parse_xml(data: bytes) -> Optional[ET.Element]:
    """The root element of an XML body, or None when it is not XML.

    Leading whitespace and a UTF-8 BOM are skipped (real trigger lists start with a blank
    line). Documents with a DTD (``<!DOCTYPE``), entity declarations or external
    references are refused, in any encoding: a device needs none of them.
    """
    data = data.lstrip()
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):].lstrip()
    try:
        return defused_fromstring(data, forbid_dtd=True)
    except DefusedXmlException as err:  # before ValueError: it is one
        _LOGGER.warning("Refused an XML document with a DTD or entities (%s): %r",
                        type(err).__name__, data[:80])
        return None
    except (ET.ParseError, LookupError, ValueError) as err:  # LookupError: unknown encoding
        _LOGGER.debug("Not well-formed XML (%s): %r", err, data[:80])
        return None


def local_name(tag: object) -> str:
    """``{namespace}name`` -> ``name`` (comments and other nodes give ``""``)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def direct_child(element: ET.Element, name: str) -> Optional[ET.Element]:
    """The first direct child with local name ``name``."""
    for child in element:
        if local_name(child.tag) == name:
            return child
    return None


def parse_bool(text: Optional[str]) -> Optional[bool]:
    """``"true"``/``"false"`` in any case and padding -> bool; anything else -> None."""
    return {"true": True, "false": False}.get((text or "").strip().lower())


def _leaves(element: ET.Element) -> Dict[str, str]:
    """Direct leaf children: local name -> stripped text (first occurrence wins)."""
    fields: Dict[str, str] = {}
    for child in element:
        if not len(child):
            fields.setdefault(local_name(child.tag), (child.text or "").strip())
    return fields


def _int(text: Optional[str]) -> Optional[int]:
    text = (text or "").strip()
    if text and len(text) <= MAX_ID_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None


def _first_int(fields: Mapping[str, str], *names: str) -> Optional[int]:
    for name in names:
        number = _int(fields.get(name))
        if number is not None:
            return number
    return None


def _elements(root: ET.Element, name: str) -> Iterator[ET.Element]:
    return (element for element in root.iter() if local_name(element.tag) == name)


def parse_device_info(root: ET.Element) -> Optional[DeviceInfo]:
    """A DeviceInfo from its document, or None when the root is not ``DeviceInfo``."""
    if local_name(root.tag).lower() != "deviceinfo":
        return None
    raw: Dict[str, str] = {}
    for child in root:
        raw.setdefault(local_name(child.tag), child.text or "")

    def text(name: str) -> str:
        return raw.get(name, "").strip()

    return DeviceInfo(name=text("deviceName"), device_id=raw.get("deviceID", ""),
                      model=text("model"), serial=text("serialNumber"),
                      firmware=text("firmwareVersion"), mac=text("macAddress"),
                      device_type=text("deviceType"), raw=MappingProxyType(raw))


def parse_triggers(root: ET.Element) -> List[Trigger]:
    """Every ``EventTrigger`` anywhere under ``root`` (a list, or a wrapped list).

    IO triggers (with inputIOPortID / dynInputIOPortID, or eventType IO) get ``io_port``
    and no channel, even where the device also names a video channel. Entries without an
    eventType are skipped. Any other document gives ``[]``.
    """
    triggers = []
    for element in _elements(root, "EventTrigger"):
        fields = _leaves(element)
        event = fields.get("eventType", "")
        if not event:
            _LOGGER.debug("Skipping an EventTrigger without eventType: %s", fields)
            continue
        io_port = _first_int(fields, "inputIOPortID", "dynInputIOPortID")
        is_io = (io_port is not None or event.lower() == "io"
                 or "inputIOPortID" in fields or "dynInputIOPortID" in fields)
        channel = (None if is_io else
                   _first_int(fields, "videoInputChannelID", "dynVideoInputChannelID"))
        methods = frozenset(
            text for text in ((node.text or "").strip()
                              for node in _elements(element, "notificationMethod")) if text)
        number = io_port if is_io else channel
        trigger_id = fields.get("id") or (f"{event}-{number}" if number is not None else event)
        triggers.append(Trigger(event, channel, io_port, methods, trigger_id))
    return triggers


_CHANNEL_ELEMENTS = {"VideoInputChannel": False, "InputProxyChannel": False,
                     "StreamingChannel": True}


def parse_channels(root: ET.Element) -> List[Channel]:
    """Channels from a VideoInputChannelList, InputProxyChannelList or StreamingChannelList.

    Streaming channel ids are ``channel*100+stream`` (101, 102, 201): they give channels
    1, 2, once each. Entries with a blank or non-numeric id are skipped. A channel is
    disabled when its ``enabled``, ``videoInputEnabled`` or ``online`` says ``false``.
    """
    channels: List[Channel] = []
    seen = set()
    for element in root.iter():
        streaming = _CHANNEL_ELEMENTS.get(local_name(element.tag))
        if streaming is None:
            continue
        fields = _leaves(element)
        number = _int(fields.get("id"))
        if number is None:
            continue
        if streaming and number >= 100:
            number //= 100
        if number <= 0 or number in seen:
            continue
        seen.add(number)
        name = fields.get("name") or fields.get("channelName") or f"Channel {number}"
        enabled = all(parse_bool(fields.get(key)) is not False
                      for key in ("enabled", "videoInputEnabled", "online"))
        channels.append(Channel(number, name, enabled))
    return channels


def parse_response_status(root: ET.Element) -> Optional[ResponseStatus]:
    """The ResponseStatus in ``root``, or None when it is another document."""
    if local_name(root.tag) != "ResponseStatus":
        return None
    fields = _leaves(root)
    return ResponseStatus(_int(fields.get("statusCode")), fields.get("statusString", ""),
                          fields.get("subStatusCode", ""))


def to_xml_bytes(root: ET.Element) -> bytes:
    """Serialise a document to send back in the shape the device sent it.

    Devices expect ``<MotionDetection xmlns="...">`` with unprefixed children, not the
    ``ns0:`` prefixes ElementTree writes for namespaced tags, so tags are written by local
    name with an ``xmlns`` attribute wherever the namespace changes. ``root`` is unchanged.
    """
    copy = deepcopy(root)
    stack = [(copy, "")]
    while stack:
        element, inherited = stack.pop()
        namespace, name = "", element.tag
        if element.tag.startswith("{"):
            namespace, _, name = element.tag[1:].partition("}")
        element.tag = name
        if namespace != inherited:
            element.set("xmlns", namespace)
        stack.extend((child, namespace) for child in element if isinstance(child.tag, str))
    text = ET.tostring(copy, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text.encode("utf-8")
