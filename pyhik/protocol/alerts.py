"""Alert model and the parsers that turn one multipart body (XML or JSON) into an Alert.

:func:`parse_alert` never raises: a body that is not an alert (empty, an XML declaration
alone, a ``ResponseStatus``, garbage, truncated) gives None and a log line saying why.

XML: element names are matched by local name, so any namespace works (hikvision.com
ver10/ver20, isapi.org, std-cgi.com, psialliance, none). The fast path is one parse and one
pass over the elements. Only when that fails is the body repaired once (decoded with
replacement, leading junk and the declaration dropped, stray ``&`` escaped, control
characters removed, trailing junk cut) and parsed again. Both parses go through
:mod:`defusedxml`, which refuses a DTD, entity declarations and external references in
whatever encoding expat reads the body: such a body is skipped (entity-expansion bombs,
injected text), and the stream goes on.

JSON bodies (same key names) are flattened by :mod:`pyhik.protocol.alerts_json`.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Union

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from . import events
from .alerts_json import JsonAlertError, flatten_alert

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One parsed ``EventNotificationAlert`` (or its JSON twin)."""

    event: str
    """Device code as sent (``VMD``); for a ``duration`` alert, the related event's code."""
    state: str
    """``"active"`` or ``"inactive"`` (lower case)."""
    channel: Optional[int] = None
    """Video channel from channelID / dynChannelID; None when absent, blank or not a number."""
    io_port: Optional[int] = None
    """IO input port from inputIOPortID / dynInputIOPortID; None when absent."""
    count: Optional[int] = None
    """activePostCount, None when absent or blank."""
    time: Optional[str] = None
    """dateTime as the device wrote it (not parsed: devices send broken time zones)."""
    description: str = ""
    channel_name: str = ""
    target: Optional[str] = None
    """Detection target (``human``, ``vehicle``) of smart events, lower case, where given."""
    retransmission: bool = False
    """isDataRetransmission true: a replay of an old alert after a reconnect."""
    heartbeat: bool = False
    """A keep-alive (videoloss inactive, heartBeat, other/Heartbeat): not a real event."""
    ongoing: bool = False
    """Came as ``eventType duration`` standing for ``event`` still being active."""
    raw: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Flat map of leaf element names (namespace stripped) to text, first occurrence;
    the alert's own children win over deeper ones. JSON: leaf keys, values as text."""

    @property
    def active(self) -> bool:
        return self.state == "active"

    @property
    def event_type(self) -> events.EventType:
        """The table entry for ``event`` (a stand-in entry when the code is unknown)."""
        return events.lookup(self.event) or events.unknown(self.event)


MAX_LOGGED_BODY_CHARS = 120
"""How much of a rejected body a log line shows."""
MAX_INT_DIGITS = 9
"""Longer numbers in channel, port or count fields are treated as garbage (None)."""
MAX_CACHED_TAG_NAMES = 1024
"""Bound on the tag -> local-name cache (a device controls the tag names)."""

_ROOT_NAME = "eventnotificationalert"
_UTF8_BOM = b"\xef\xbb\xbf"
_REFUSED = "DOCTYPE/ENTITY declarations are refused"

_DECLARED_ENCODING_RE = re.compile(
    rb"""<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_DECLARATION_RE = re.compile(r"<\?xml[^>]*\?>\s*")
# With DTDs refused, only the five predefined entities exist; any other ``&`` is text.
_STRAY_AMP_RE = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)")
_BAD_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ROOT_START_RE = re.compile(r"<(?:[^\s<>/:]+:)?EventNotificationAlert[\s>/]")
_ROOT_END_RE = re.compile(r"(?s).*?</(?:[^\s<>/:]+:)?EventNotificationAlert\s*>")

_LOCAL_NAMES: Dict[str, str] = {}


class _NotAnAlert(Exception):
    """Internal: the body is not an alert; the message says why."""

    def __init__(self, why: str, quiet: bool = False) -> None:
        super().__init__(why)
        self.quiet = quiet


def parse_alert(body: Union[bytes, bytearray, memoryview, str],
                content_type: str = "") -> Optional[Alert]:
    """Parse one part body into an :class:`Alert`, or None if it is not one.

    The body's first non-blank byte picks the format (``<`` XML, ``{``/``[`` JSON);
    ``content_type`` decides only for bodies that start with anything else. Never raises.
    """
    try:
        return _parse_body(body, content_type)
    except _NotAnAlert as why:
        log = _LOGGER.debug if why.quiet else _LOGGER.warning
        log("Skipping a body that is not an alert (%s): %s", why, _snippet(body))
    except Exception:  # noqa: BLE001 - the contract is "never raises"
        _LOGGER.warning("Alert parser failed on %s", _snippet(body), exc_info=True)
    return None


def parse_alert_quietly(body: bytes, content_type: str = "") -> Optional[Alert]:
    """:func:`parse_alert` without its log lines, for a body the caller made itself."""
    try:
        return _parse_body(body, content_type)
    except Exception:  # noqa: BLE001 - _NotAnAlert and, as in parse_alert, anything else
        return None


def _parse_body(body: Union[bytes, bytearray, memoryview, str], content_type: str) -> Alert:
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    data = data.lstrip()
    if data[:1] == b"<":  # the common case
        fields = _scan(_alert_element(_xml_root(data)))
    else:
        fields = _parse(data, content_type)
    return _build(fields)


def _snippet(body: object) -> str:
    try:
        if isinstance(body, str):
            text = body[:MAX_LOGGED_BODY_CHARS]
        else:
            text = bytes(body[:MAX_LOGGED_BODY_CHARS]).decode("utf-8", "replace")  # type: ignore
    except Exception:  # noqa: BLE001 - logging must not raise either
        return "<%s>" % type(body).__name__
    return repr(text)[:MAX_LOGGED_BODY_CHARS]


def _parse(data: bytes, content_type: str) -> Dict[str, str]:
    """Fields of a body that does not start with ``<``: a BOM, JSON, leading junk."""
    if data[:3] == _UTF8_BOM:
        data = data[3:].lstrip()
    if not data:
        raise _NotAnAlert("empty body", quiet=True)
    first = data[:1]
    if first == b"{" or first == b"[":
        return _json_fields(data)
    if first != b"<" and "json" in content_type.lower():
        return _json_fields(data)
    if first == b"<" or "xml" in content_type.lower() or b"<" in data:
        return _scan(_alert_element(_xml_root(data)))
    raise _NotAnAlert("neither XML nor JSON (content type %r)" % content_type)


def _json_fields(data: bytes) -> Dict[str, str]:
    try:
        top, leaves = flatten_alert(data)
    except JsonAlertError as err:
        raise _NotAnAlert(str(err)) from None
    leaves.update(top)
    return leaves


def _xml_root(data: bytes) -> ET.Element:
    """Parse XML bytes: one defused parse on the fast path, else the repair path."""
    try:
        return defused_fromstring(data, forbid_dtd=True)
    except DefusedXmlException:  # before ValueError, which it is
        raise _NotAnAlert(_REFUSED) from None
    except (ET.ParseError, LookupError, ValueError):  # LookupError: an unknown encoding name
        return _parse_repaired(_decode(data))


def _decode(data: bytes) -> str:
    """Bytes to text: BOM, else UTF-16 by its zero bytes, else the declared codec, else
    UTF-8 with replacement."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    if data[:2] in (b"<\x00", b"\x00<"):  # "<" in UTF-16 without a BOM
        return data.decode("utf-16-le" if data[:1] == b"<" else "utf-16-be", "replace")
    match = _DECLARED_ENCODING_RE.search(data, 0, 300)
    if match:
        try:
            return data.decode(match.group(1).decode("ascii"))
        except (LookupError, UnicodeError, TypeError, ValueError):
            pass
    return data.decode("utf-8", "replace")


def _parse_repaired(text: str) -> ET.Element:
    """The repair path: fix what real devices get wrong, then parse once more."""
    start = text.find("<")
    if start < 0:
        raise _NotAnAlert("no XML element")
    text = text[start:]
    text = _DECLARATION_RE.sub("", text, count=1) if text.startswith("<?xml") else text
    if not text.strip():
        raise _NotAnAlert("only an XML declaration")
    if "&" in text:
        text = _STRAY_AMP_RE.sub("&amp;", text)
    text = _BAD_CHARS_RE.sub("", text)
    end = _ROOT_END_RE.match(text) if _ROOT_START_RE.match(text) else None
    if end:
        text = text[:end.end()]
    try:
        return defused_fromstring(text, forbid_dtd=True)
    except DefusedXmlException:
        raise _NotAnAlert(_REFUSED) from None
    except (ET.ParseError, ValueError) as err:
        raise _NotAnAlert("malformed XML: %s" % err) from None


def _local(tag: str) -> str:
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rpartition("}")[2]
        if len(_LOCAL_NAMES) < MAX_CACHED_TAG_NAMES:
            _LOCAL_NAMES[tag] = name
    return name


def _alert_element(root: ET.Element) -> ET.Element:
    """The EventNotificationAlert element: the root, or a child of a wrapper root."""
    name = _local(root.tag)
    if name.lower() == _ROOT_NAME:
        return root
    for child in root:
        if _local(child.tag).lower() == _ROOT_NAME:
            return child
    raise _NotAnAlert("root element is <%s>, not EventNotificationAlert" % name[:40])


def _scan(root: ET.Element) -> Dict[str, str]:
    """One pass over the alert's elements: leaf local name -> stripped text.

    The alert's own children win; a name found only deeper (``targetType`` inside
    ``DetectionRegionEntry``) keeps its first occurrence in document order.
    """
    top: Dict[str, str] = {}
    nested: Dict[str, str] = {}
    names = _LOCAL_NAMES
    for child in root:
        if len(child):
            for element in child.iter():
                if not len(element):
                    name = names.get(element.tag) or _local(element.tag)
                    if name not in nested:
                        nested[name] = (element.text or "").strip()
        else:
            name = names.get(child.tag) or _local(child.tag)
            if name not in top:
                top[name] = (child.text or "").strip()
    if not nested:
        return top
    nested.update(top)
    return nested


def _int(text: Optional[str]) -> Optional[int]:
    if text and len(text) <= MAX_INT_DIGITS and text.isdigit() and text.isascii():
        return int(text)
    return None


def _build(fields: Dict[str, str]) -> Alert:
    """Apply the field rules shared by XML and JSON alerts."""
    get = fields.get
    event = get("eventType")
    if not event:
        raise _NotAnAlert("no eventType")
    state = "inactive" if get("eventState", "").lower() == "inactive" else "active"
    ongoing = False
    if event.lower() == "duration":
        related = get("relationEvent")
        if related:
            event, ongoing = related, True
    description = get("eventDescription", "")
    code = event.lower()
    heartbeat = ((code == "videoloss" and state == "inactive") or code == "heartbeat"
                 or (code == "other" and "heartbeat" in description.lower()))
    channel = _int(get("channelID"))
    if channel is None:
        channel = _int(get("dynChannelID"))
    io_port = _int(get("inputIOPortID"))
    if io_port is None:
        io_port = _int(get("dynInputIOPortID"))
    target = get("targetType") or get("detectionTarget")
    return Alert(event, state, channel, io_port, _int(get("activePostCount")),
                 get("dateTime") or None, description, get("channelName", ""),
                 target.lower() if target else None,
                 get("isDataRetransmission", "").lower() == "true",
                 heartbeat, ongoing, fields)
