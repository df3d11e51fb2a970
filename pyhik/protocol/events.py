"""The table of Hikvision event types: device code -> friendly name, slug, device class.

Device codes are what a device puts in ``<eventType>`` of an alert or a trigger
(``VMD``, ``linedetection``, ...). They are matched case-insensitively: firmware
varies (``VMD`` / ``vmd``, ``PIR`` / ``pir``, ``IO`` / ``io``).

Shelter Alarm is its own type here, although the public pyhik files ``shelteralarm``
under "Tamper Detection": the Home Assistant documentation lists "Shelter Alarm" as a
separate supported type, and a camera that reports both (a lens covered vs. a camera
moved) should give two sensors the user can tell apart. ``defocus`` has no type of its
own in the documentation and stays an alias of Tamper Detection. The public mapping,
which existing Home Assistant unique ids depend on, is kept unchanged in
:data:`pyhik.constants.SENSOR_MAP`.

This module imports nothing of pyhik (only python-slugify, Home Assistant's own slug
maker): it is safe to use from any layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple

from slugify import slugify as _slugify

__all__ = ["EventType", "EVENT_TYPES", "DOCUMENTED_TYPES", "lookup", "by_name", "by_slug",
           "slugify", "unknown", "HEARTBEAT_CODES"]


@dataclass(frozen=True)
class EventType:
    """One kind of event a device reports."""

    code: str
    """Canonical device code, as Hikvision spells it (``VMD``, ``linedetection``)."""
    name: str
    """Friendly name (``Motion``, ``Line Crossing``); used in entity names."""
    slug: str
    """Entity-id part (``motion``, ``line_crossing``)."""
    device_class: Optional[str]
    """Home Assistant binary-sensor device class, or None where none fits."""
    aliases: Tuple[str, ...] = ()
    """Other device codes that mean this type."""
    documented: bool = False
    """One of the 21 types the Home Assistant documentation lists."""
    io: bool = False
    """Keyed by IO input port rather than video channel."""


def _t(code: str, name: str, device_class: Optional[str], *aliases: str,
       documented: bool = False, io: bool = False) -> EventType:
    return EventType(code, name, slugify(name), device_class, tuple(aliases), documented, io)


def slugify(text: str) -> str:
    """Make an id part the way Home Assistant does: python-slugify with ``_`` joins.

    Lower case, transliterated to ASCII (``é`` -> ``e``, ``ä`` -> ``a``, ``ß`` -> ``ss``,
    ``Камера`` -> ``kamera``), every run of other characters one ``_``, none at the ends:
    ``"I/O"`` -> ``"i_o"``. ``""`` when nothing is left (Home Assistant then says
    ``unknown``: see :func:`pyhik.sensors.entities.entity_slug`).
    """
    return _slugify(str(text), separator="_")


EVENT_TYPES: Tuple[EventType, ...] = (
    # The 21 types of the Home Assistant documentation, in its order.
    _t("VMD", "Motion", "motion", documented=True),
    _t("linedetection", "Line Crossing", "motion", documented=True),
    _t("fielddetection", "Field Detection", "motion", documented=True),
    _t("tamperdetection", "Tamper Detection", "tamper", "defocus", documented=True),
    _t("shelteralarm", "Shelter Alarm", "tamper", documented=True),
    _t("diskfull", "Disk Full", "problem", documented=True),
    _t("diskerror", "Disk Error", "problem", documented=True),
    _t("nicbroken", "Net Interface Broken", "problem", documented=True),
    _t("ipconflict", "IP Conflict", "problem", documented=True),
    _t("illaccess", "Illegal Access", "safety", documented=True),
    _t("videomismatch", "Video Mismatch", "problem", documented=True),
    _t("badvideo", "Bad Video", "problem", documented=True),
    _t("PIR", "PIR Alarm", "motion", documented=True),
    _t("facedetection", "Face Detection", "occupancy", documented=True),
    _t("scenechangedetection", "Scene Change Detection", "tamper", documented=True),
    _t("IO", "I/O", None, documented=True, io=True),
    _t("unattendedBaggage", "Unattended Baggage", "safety", documented=True),
    _t("attendedBaggage", "Attended Baggage", "tamper", documented=True),
    _t("recordingfailure", "Recording Failure", "problem", documented=True),
    _t("regionExiting", "Exiting Region", "motion", documented=True),
    _t("regionEntrance", "Entering Region", "motion", documented=True),
    # Others that real devices send (trigger lists and alert captures).
    _t("videoloss", "Video Loss", "problem"),
    _t("thermometry", "Thermometry", "heat"),
    _t("duration", "Ongoing Events", None),
    _t("faceSnap", "Face Snap", "occupancy", "faceCapture"),
    _t("storageDetection", "Storage Detection", "problem"),
    _t("audioexception", "Audio Exception", "sound"),
    _t("PeopleCounting", "People Counting", "occupancy"),
    _t("cidEvent", "CID Event", "safety"),
    _t("loitering", "Loitering", "motion"),
    _t("group", "People Gathering", "occupancy", "peopleGathering"),
    _t("running", "Fast Moving", "motion"),
    _t("parking", "Parking Detection", "occupancy"),
    _t("fireDetection", "Fire Detection", "smoke"),
    _t("ANPR", "License Plate Recognition", None, "vehicleDetection"),
    _t("humanRecognition", "Human Recognition", "occupancy"),
    _t("AccessControllerEvent", "Access Controller Event", None),
    _t("temperature", "Temperature Alarm", "heat"),
    _t("videotampering", "Video Tampering", "tamper"),
    _t("hdBadVideo", "HD Bad Video", "problem"),
)

HEARTBEAT_CODES = frozenset({"heartbeat", "other"})
"""Codes that some firmware sends only as keep-alives (``heartBeat``; ``other`` with
description Heartbeat). ``videoloss inactive`` is the common heartbeat; see alerts."""


def _index(types: Iterable[EventType]) -> Dict[str, EventType]:
    table: Dict[str, EventType] = {}
    for etype in types:
        for code in (etype.code,) + etype.aliases:
            table[code.lower()] = etype
    return table


_BY_CODE = _index(EVENT_TYPES)
_BY_NAME = {t.name.lower(): t for t in EVENT_TYPES}
_BY_SLUG = {t.slug: t for t in EVENT_TYPES}

DOCUMENTED_TYPES: Tuple[EventType, ...] = tuple(t for t in EVENT_TYPES if t.documented)


def lookup(code: str) -> Optional[EventType]:
    """The type a device code stands for (case-insensitive), or None if unknown."""
    return _BY_CODE.get(code.strip().lower()) if code else None


def by_name(name: str) -> Optional[EventType]:
    """The type with this friendly name (``"Line Crossing"``), case-insensitive."""
    return _BY_NAME.get(name.strip().lower()) if name else None


def by_slug(slug: str) -> Optional[EventType]:
    """The type with this slug (``"line_crossing"``)."""
    return _BY_SLUG.get(slug)


def unknown(code: str) -> EventType:
    """A stand-in type for a code that is not in the table, so nothing is lost."""
    return EventType(code, code, slugify(code) or "event", None)
