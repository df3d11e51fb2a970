"""XML documents the emulated device serves, shaped like real Hikvision responses.

Cameras answer in ``version="2.0"`` with CRLF line ends, NVRs in ``version="1.0"`` with the
namespace repeated on nested elements and LF line ends, as the captured fixtures do.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

from pyhik.protocol import events

NAMESPACE = "http://www.hikvision.com/ver20/XMLSchema"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
HIKVISION_OUI = "44:19:b6"

# Hikvision ISAPI ResponseStatus codes (statusCode, statusString) by HTTP status.
_STATUS: Dict[int, Tuple[int, str, str]] = {
    200: (1, "OK", "ok"),
    400: (5, "Invalid XML Format", "badXmlFormat"),
    401: (4, "Invalid Operation", "unAuthorized"),
    403: (4, "Invalid Operation", "lowPrivilege"),
    404: (4, "Invalid Operation", "notSupport"),
    405: (4, "Invalid Operation", "methodNotAllowed"),
    413: (6, "Invalid Content", "badParameters"),
    500: (3, "Device Error", "deviceError"),
    503: (2, "Device Busy", "deviceBusy"),
}

# Trigger ids use these prefixes instead of the event code (``tamper-1``, not ``tamperdetection-1``).
_ID_PREFIX = {"tamperdetection": "tamper"}
# Device-level events carry no channel in their trigger.
DEVICE_LEVEL_EVENTS = frozenset({"diskfull", "diskerror", "nicbroken", "ipconflict", "illaccess",
                                 "recordingfailure", "videomismatch"})
# On an NVR these trigger types name their channel with dynVideoInputChannelID only; the
# others (smart events) with videoInputChannelID only (see the 16-channel NVR fixture).
_NVR_DYN_CHANNEL_EVENTS = frozenset({"vmd", "videoloss", "tamperdetection"})


@dataclass(frozen=True)
class TriggerSpec:
    """One entry of the device's trigger list (``GET /ISAPI/Event/triggers``).

    ``methods`` are the notification methods configured for it; ``("center",)`` makes the
    device report the event on the alert stream, ``()`` lists the trigger unconfigured.
    """

    event: str
    channel: Optional[int] = None
    io_port: Optional[int] = None
    methods: Tuple[str, ...] = ("center",)

    @property
    def trigger_id(self) -> str:
        """The device's id for this trigger: ``VMD-1``, ``tamper-2``, ``IO-1``, ``diskfull``."""
        prefix = _ID_PREFIX.get(self.event.lower(), self.event)
        number = self.io_port if self.io_port is not None else self.channel
        return prefix if number is None else f"{prefix}-{number}"


@dataclass(frozen=True)
class Identity:
    """What a device says about itself; stable defaults are derived from its name."""

    name: str
    kind: str
    channels: int
    device_id: str
    serial: str
    mac: str
    model: str
    firmware: str

    @property
    def is_nvr(self) -> bool:
        return self.kind == "nvr"

    @property
    def realm(self) -> str:
        return f"IP Camera({self.serial[-5:]})"

    def channel_name(self, channel: int) -> str:
        """The name an NVR gives its IP channels (``Camera 2``), or the camera's OSD name."""
        return f"Camera {channel}" if self.is_nvr else f"Camera {channel:02d}"


def make_identity(name: str, kind: str, channels: int, *, device_id: Optional[str] = None,
                  serial: Optional[str] = None, mac: Optional[str] = None,
                  model: Optional[str] = None, firmware: str = "V5.7.3") -> Identity:
    """Fill in the unset fields with values derived from ``name`` (same name, same values)."""
    digest = hashlib.sha256(f"{kind}:{name}".encode("utf-8")).digest()
    if model is None:
        model = "DS-2CD2185FWD-I" if kind == "camera" else _nvr_model(channels)
    if device_id is None:
        device_id = str(uuid.UUID(bytes=digest[:16], version=4))
    if serial is None:
        number = int.from_bytes(digest[16:24], "big") % 10 ** 9
        serial = f"{model}20220112CCWR{number:09d}"
    if mac is None:
        mac = HIKVISION_OUI + "".join(f":{b:02x}" for b in digest[24:27])
    return Identity(name, kind, channels, device_id, serial, mac, model, firmware)


def _nvr_model(channels: int) -> str:
    if channels <= 8:
        return "DS-7608NI-K2"
    if channels <= 16:
        return "DS-7616NI-K2"
    return "DS-7732NI-K4"


def default_triggers(kind: str, channels: int) -> List[TriggerSpec]:
    """VMD and line crossing reported to the center on every channel, IO input 1 on a
    camera, plus a few unconfigured triggers a real device also lists."""
    specs: List[TriggerSpec] = []
    for ch in range(1, channels + 1):
        vmd_methods = ("record", "center") if kind == "nvr" else ("center",)
        specs.append(TriggerSpec("VMD", channel=ch, methods=vmd_methods))
        specs.append(TriggerSpec("linedetection", channel=ch))
        specs.append(TriggerSpec("tamperdetection", channel=ch, methods=()))
        if kind == "nvr":
            specs.append(TriggerSpec("videoloss", channel=ch, methods=()))
    if kind == "camera":
        specs.append(TriggerSpec("IO", io_port=1))
    specs.append(TriggerSpec("diskfull", methods=()))
    return specs


def _doc(lines: Sequence[str], nvr: bool) -> bytes:
    return ("\n" if nvr else "\r\n").join(lines).encode("utf-8") + (b"\n" if nvr else b"\r\n")


def _open(tag: str, nvr: bool, nested: bool = False) -> str:
    """Opening tag; NVR firmware repeats version and namespace on nested elements."""
    if nested and not nvr:
        return f"<{tag}>"
    return f'<{tag} version="{"1.0" if nvr else "2.0"}" xmlns="{NAMESPACE}">'


def device_info(ident: Identity) -> bytes:
    nvr = ident.is_nvr
    kind = "NVR" if nvr else "IPCamera"
    return _doc([
        XML_DECLARATION, _open("DeviceInfo", nvr),
        f"<deviceName>{escape(ident.name)}</deviceName>",
        f"<deviceID>{escape(ident.device_id)}</deviceID>",
        f"<deviceDescription>{kind}</deviceDescription>",
        "<deviceLocation>hangzhou</deviceLocation>",
        "<systemContact>Hikvision.China</systemContact>",
        f"<model>{escape(ident.model)}</model>",
        f"<serialNumber>{escape(ident.serial)}</serialNumber>",
        f"<macAddress>{escape(ident.mac)}</macAddress>",
        f"<firmwareVersion>{escape(ident.firmware)}</firmwareVersion>",
        "<firmwareReleasedDate>build 220112</firmwareReleasedDate>",
        "<encoderVersion>V7.3</encoderVersion>",
        "<encoderReleasedDate>build 211223</encoderReleasedDate>",
        "<bootVersion>V1.3.4</bootVersion>",
        "<bootReleasedDate>100316</bootReleasedDate>",
        "<hardwareVersion>0x0</hardwareVersion>",
        f"<deviceType>{kind}</deviceType>",
        "<telecontrolID>88</telecontrolID>",
        "<supportBeep>true</supportBeep>",
        "<supportVideoLoss>false</supportVideoLoss>",
        "<firmwareVersionInfo>B-R-G1-0</firmwareVersionInfo>",
        "</DeviceInfo>",
    ], nvr)


def _notification(method: str, spec: TriggerSpec, nvr: bool) -> List[str]:
    lines = ["<EventTriggerNotification>"]
    if method == "record" and spec.channel is not None:
        tag = "dynVideoInputID" if nvr else "videoInputID"
        lines += [f"<id>record-{spec.channel}</id>", "<notificationMethod>record</notificationMethod>",
                  f"<{tag}>{spec.channel}</{tag}>"]
    elif method == "IO":
        lines += ["<id>IO-1</id>", "<notificationMethod>IO</notificationMethod>",
                  "<outputIOPortID>1</outputIOPortID>"]
    else:
        lines += [f"<id>{escape(method)}</id>", f"<notificationMethod>{escape(method)}</notificationMethod>"]
    if not nvr:
        lines.append("<notificationRecurrence>beginning</notificationRecurrence>")
    return lines + ["</EventTriggerNotification>"]


def _trigger(spec: TriggerSpec, nvr: bool) -> List[str]:
    code = spec.event
    lines = [_open("EventTrigger", nvr, nested=True), f"<id>{escape(spec.trigger_id)}</id>",
             f"<eventType>{escape(code)}</eventType>"]
    if not nvr:
        lines.append(f"<eventDescription>{escape(code)} Event trigger Information</eventDescription>")
    if spec.io_port is not None:
        lines.append(f"<inputIOPortID>{spec.io_port}</inputIOPortID>")
    elif spec.channel is not None:
        ch = spec.channel
        if not nvr:
            lines += [f"<videoInputChannelID>{ch}</videoInputChannelID>",
                      f"<dynVideoInputChannelID>{ch}</dynVideoInputChannelID>"]
        elif code.lower() in _NVR_DYN_CHANNEL_EVENTS:
            lines.append(f"<dynVideoInputChannelID>{ch}</dynVideoInputChannelID>")
        else:
            lines.append(f"<videoInputChannelID>{ch}</videoInputChannelID>")
    lines.append(_open("EventTriggerNotificationList", nvr, nested=True))
    for method in spec.methods:
        lines += _notification(method, spec, nvr)
    return lines + ["</EventTriggerNotificationList>", "</EventTrigger>"]


def trigger_list(ident: Identity, specs: Sequence[TriggerSpec]) -> bytes:
    nvr = ident.is_nvr
    lines = [XML_DECLARATION, _open("EventTriggerList", nvr)]
    for spec in specs:
        lines += _trigger(spec, nvr)
    return _doc(lines + ["</EventTriggerList>"], nvr)


def video_inputs(ident: Identity) -> bytes:
    """Analog inputs: the camera's sensor; none on an IP-only NVR (its cameras are proxies)."""
    nvr = ident.is_nvr
    if nvr:
        return _doc([XML_DECLARATION, _open("VideoInputChannelList", nvr), "</VideoInputChannelList>"], nvr)
    return _doc([
        XML_DECLARATION, _open("VideoInputChannelList", nvr), _open("VideoInputChannel", False),
        "<id>1</id>", "<inputPort>1</inputPort>", "<videoInputEnabled>true</videoInputEnabled>",
        f"<name>{escape(ident.channel_name(1))}</name>", "<videoFormat>PAL</videoFormat>",
        "</VideoInputChannel>", "</VideoInputChannelList>",
    ], nvr)


def input_proxy_channels(ident: Identity) -> bytes:
    nvr = ident.is_nvr
    lines = [XML_DECLARATION, _open("InputProxyChannelList", nvr)]
    for ch in range(1, ident.channels + 1):
        lines += [
            _open("InputProxyChannel", nvr), f"<id>{ch}</id>",
            f"<name>{escape(ident.channel_name(ch))}</name>",
            _open("sourceInputPortDescriptor", nvr),
            "<proxyProtocol>HIKVISION</proxyProtocol>",
            "<addressingFormatType>ipaddress</addressingFormatType>",
            f"<ipAddress>192.168.254.{ch + 1}</ipAddress>",
            "<managePortNo>8000</managePortNo>", "<srcInputPort>1</srcInputPort>",
            "<userName>admin</userName>", "<streamType>auto</streamType>",
            "</sourceInputPortDescriptor>",
            "<enableAnr>false</enableAnr>", "<enableTiming>true</enableTiming>",
            "</InputProxyChannel>",
        ]
    return _doc(lines + ["</InputProxyChannelList>"], nvr)


def streaming_channels(ident: Identity) -> bytes:
    nvr = ident.is_nvr
    lines = [XML_DECLARATION, _open("StreamingChannelList", nvr)]
    for ch in range(1, ident.channels + 1):
        for stream, (width, height) in ((1, (1920, 1080)), (2, (640, 360))):
            lines += [
                _open("StreamingChannel", nvr, nested=True), f"<id>{ch * 100 + stream}</id>",
                f"<channelName>{escape(ident.channel_name(ch))}</channelName>",
                "<enabled>true</enabled>", "<Video>", "<enabled>true</enabled>",
                f"<videoInputChannelID>{ch}</videoInputChannelID>",
                "<videoCodecType>H.264</videoCodecType>",
                f"<videoResolutionWidth>{width}</videoResolutionWidth>",
                f"<videoResolutionHeight>{height}</videoResolutionHeight>",
                "<maxFrameRate>2500</maxFrameRate>", "</Video>", "</StreamingChannel>",
            ]
    return _doc(lines + ["</StreamingChannelList>"], nvr)


def motion_detection(ident: Identity, enabled: bool) -> bytes:
    nvr = ident.is_nvr
    return _doc([
        XML_DECLARATION, _open("MotionDetection", nvr),
        f"<enabled>{'true' if enabled else 'false'}</enabled>",
        "<enableHighlight>true</enableHighlight>", "<samplingInterval>2</samplingInterval>",
        "<startTriggerTime>500</startTriggerTime>", "<endTriggerTime>500</endTriggerTime>",
        "<regionType>grid</regionType>",
        "<Grid>", "<rowGranularity>18</rowGranularity>", "<columnGranularity>22</columnGranularity>",
        "</Grid>", _open("MotionDetectionLayout", nvr, nested=True),
        "<sensitivityLevel>20</sensitivityLevel>", "<layout>",
        "<gridMap>" + "f" * 88 + "</gridMap>",
        "</layout>", "</MotionDetectionLayout>", "</MotionDetection>",
    ], nvr)


def response_status(url: str, http_status: int, nvr: bool = False) -> bytes:
    """The ``ResponseStatus`` document Hikvision sends with errors (and with PUT results)."""
    code, text, sub = _STATUS.get(http_status, (4, "Invalid Operation", "notSupport"))
    return _doc([
        XML_DECLARATION, _open("ResponseStatus", nvr),
        f"<requestURL>{escape(url)}</requestURL>", f"<statusCode>{code}</statusCode>",
        f"<statusString>{text}</statusString>", f"<subStatusCode>{sub}</subStatusCode>",
        "</ResponseStatus>",
    ], nvr)


def event_description(event: str) -> str:
    """What firmware writes in ``eventDescription`` for this event code."""
    etype = events.lookup(event)
    if etype is not None and etype.code == "VMD":
        return "Motion alarm"
    if etype is not None and etype.io:
        return "IO alarm"
    return f"{event} alarm"
