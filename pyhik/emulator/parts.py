"""Bytes of the alert stream: EventNotificationAlert bodies, multipart framing, chunks, JPEGs."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional, Tuple
from xml.sax.saxutils import escape

from .documents import NAMESPACE

XML_CONTENT_TYPE = 'application/xml; charset="UTF-8"'
JSON_CONTENT_TYPE = 'application/json; charset="UTF-8"'
JPEG_CONTENT_TYPE = "image/jpeg"
FORMATS = ("xml", "xml-oneline", "json")
MAX_COMMENT_BYTES = 65533  # a JPEG segment's payload: 65535 minus its 2-byte length
_PSIA_EXT = "urn:selfextension:psiaext-ver10-xsd"
# Events whose alerts carry a DetectionRegionList (where a target type goes).
_REGION_EVENTS = frozenset({"linedetection", "fielddetection", "regionentrance", "regionexiting"})


@dataclass(frozen=True)
class AlertFields:
    """Everything one EventNotificationAlert says."""

    event: str
    state: str
    channel: Optional[int]
    io_port: Optional[int]
    count: int
    description: str
    channel_name: str
    ip: str
    port: int
    mac: str
    serial: str
    nvr: bool
    target: Optional[str] = None
    retransmission: bool = False
    time: str = ""


def now_iso() -> str:
    """Local time with its UTC offset, as devices write ``dateTime``: 2021-07-02T14:25:36+08:00."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _alert_lines(a: AlertFields) -> List[str]:
    version = "1.0" if a.nvr else "2.0"
    when = a.time or now_iso()
    lines = [f'<EventNotificationAlert version="{version}" xmlns="{NAMESPACE}">',
             f"<ipAddress>{escape(a.ip)}</ipAddress>", f"<portNo>{a.port}</portNo>",
             "<protocol>HTTP</protocol>", f"<macAddress>{escape(a.mac)}</macAddress>"]
    if a.io_port is not None:
        lines.append(f"<inputIOPortID>{a.io_port}</inputIOPortID>")
    elif a.channel is not None:
        tag = "dynChannelID" if a.nvr else "channelID"
        lines.append(f"<{tag}>{a.channel}</{tag}>")
    lines += [f"<dateTime>{when}</dateTime>", f"<activePostCount>{a.count}</activePostCount>",
              f"<eventType>{escape(a.event)}</eventType>", f"<eventState>{escape(a.state)}</eventState>",
              f"<eventDescription>{escape(a.description)}</eventDescription>"]
    if a.target is not None and a.event.lower() in _REGION_EVENTS:
        lines += ["<DetectionRegionList>", "<DetectionRegionEntry>", "<regionID>1</regionID>",
                  "<sensitivityLevel>50</sensitivityLevel>", "<RegionCoordinatesList>",
                  "<RegionCoordinates>", "<positionX>424</positionX>", "<positionY>642</positionY>",
                  "</RegionCoordinates>", "<RegionCoordinates>", "<positionX>161</positionX>",
                  "<positionY>610</positionY>", "</RegionCoordinates>", "</RegionCoordinatesList>",
                  f"<detectionTarget>{escape(a.target)}</detectionTarget>",
                  "</DetectionRegionEntry>", "</DetectionRegionList>"]
    if a.io_port is None:
        lines.append(f"<channelName>{escape(a.channel_name)}</channelName>")
    if a.target is not None:
        lines.append(f"<targetType>{escape(a.target)}</targetType>")
    if a.retransmission:
        lines.append("<isDataRetransmission>true</isDataRetransmission>")
    if not a.nvr:
        serial = escape(a.serial)
        lines += ['<Extensions version="1.0" xmlns="urn:psialliance-org">',
                  f'<serialNumber xmlns="{_PSIA_EXT}">{serial}</serialNumber>',
                  f'<eventPush xmlns="{_PSIA_EXT}">IO&amp;&amp;{serial},{when},1.0</eventPush>',
                  "</Extensions>"]
    lines.append("</EventNotificationAlert>")
    return lines


def _alert_json(a: AlertFields) -> bytes:
    doc = {"ipAddress": a.ip, "portNo": a.port, "protocol": "HTTP", "macAddress": a.mac}
    if a.io_port is not None:
        doc["inputIOPortID"] = a.io_port
    elif a.channel is not None:
        doc["dynChannelID" if a.nvr else "channelID"] = a.channel
    doc.update({"dateTime": a.time or now_iso(), "activePostCount": a.count, "eventType": a.event,
                "eventState": a.state, "eventDescription": a.description})
    if a.io_port is None:
        doc["channelName"] = a.channel_name
    if a.target is not None:
        doc["targetType"] = a.target
    if a.retransmission:
        doc["isDataRetransmission"] = True
    return json.dumps(doc).encode("utf-8")


def render_alert(a: AlertFields, fmt: str = "xml") -> Tuple[bytes, str]:
    """(body, content type) of one alert; fmt is ``xml`` (a line per element, CRLF on cameras
    as they send it), ``xml-oneline`` or ``json``."""
    if fmt == "json":
        return _alert_json(a), JSON_CONTENT_TYPE
    if fmt == "xml":
        newline = "\n" if a.nvr else "\r\n"
        return (newline.join(_alert_lines(a)) + newline).encode("utf-8"), XML_CONTENT_TYPE
    if fmt == "xml-oneline":
        return "".join(_alert_lines(a)).encode("utf-8"), XML_CONTENT_TYPE
    raise ValueError(f"unknown alert format {fmt!r}; use one of {', '.join(FORMATS)}")


def content_type_of(body: bytes) -> str:
    """The part Content-Type a device would give this body."""
    if body[:2] == b"\xff\xd8":
        return JPEG_CONTENT_TYPE
    if body.lstrip()[:1] in (b"{", b"["):
        return JSON_CONTENT_TYPE
    return XML_CONTENT_TYPE


def frame_part(body: bytes, content_type: str, boundary: str) -> bytes:
    """One multipart part: ``--boundary``, its headers, the body, CRLF."""
    head = f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body + b"\r\n"


def chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk (never the empty chunk, which would end the body)."""
    if not data:
        raise ValueError("an empty chunk would end the stream")
    return b"%x\r\n%s\r\n" % (len(data), data)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def jpeg(size: int = 0) -> bytes:
    """A real (decodable) 8x8 grey baseline JPEG, padded with comment segments to ``size``
    bytes when that is larger. Starts FF D8, ends FF D9; the padding holds no FF byte."""
    head = b"\xff\xd8" + _segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    tables = (_segment(0xFFDB, b"\x00" + b"\x01" * 64)
              + _segment(0xFFC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00")
              # One Huffman code ("0") per table: DC difference 0, AC end-of-block.
              + _segment(0xFFC4, b"\x00\x01" + b"\x00" * 15 + b"\x00")
              + _segment(0xFFC4, b"\x10\x01" + b"\x00" * 15 + b"\x00"))
    scan = _segment(0xFFDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x3f" + b"\xff\xd9"
    pad = size - (len(head) + len(tables) + len(scan))
    comments = []
    filler = bytes(range(255)) * (MAX_COMMENT_BYTES // 255 + 1)
    while pad >= 4:
        n = min(pad - 4, MAX_COMMENT_BYTES)
        if 0 < pad - 4 - n < 4:  # leave enough for one last whole segment
            n -= 4
        comments.append(_segment(0xFFFE, filler[:n]))
        pad -= n + 4
    return head + b"".join(comments) + tables + scan
