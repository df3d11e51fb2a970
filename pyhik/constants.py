"""Constants of the public pyhik API, kept as they were for existing users.

``SENSOR_MAP`` maps lower-case device codes to the friendly names the public pyhik
gave them. Home Assistant indexes it at import time and builds unique ids from its
values, so neither keys nor values may change: ``shelteralarm`` stays "Tamper
Detection" here, although :mod:`pyhik.protocol.events` (the library's own, richer table) gives
Shelter Alarm a type of its own as the Home Assistant documentation lists it.
"""

from typing import Dict, FrozenSet

from pyhik import __version__  # noqa: F401 - the public pyhik's path to it; one source

DEFAULT_PORT = 80
DEFAULT_RTSP_PORT = 554
CONNECT_TIMEOUT = 10

SENSOR_MAP: Dict[str, str] = {
    "vmd": "Motion",
    "linedetection": "Line Crossing",
    "fielddetection": "Field Detection",
    "videoloss": "Video Loss",
    "tamperdetection": "Tamper Detection",
    "shelteralarm": "Tamper Detection",
    "defocus": "Tamper Detection",
    "diskfull": "Disk Full",
    "diskerror": "Disk Error",
    "nicbroken": "Net Interface Broken",
    "ipconflict": "IP Conflict",
    "illaccess": "Illegal Access",
    "videomismatch": "Video Mismatch",
    "badvideo": "Bad Video",
    "pir": "PIR Alarm",
    "facedetection": "Face Detection",
    "scenechangedetection": "Scene Change Detection",
    "io": "I/O",
    "unattendedbaggage": "Unattended Baggage",
    "attendedbaggage": "Attended Baggage",
    "recordingfailure": "Recording Failure",
    "regionexiting": "Exiting Region",
    "regionentrance": "Entering Region",
    "duration": "Ongoing Events",
    "thermometry": "Thermometry",
}

VALID_NOTIFICATION_METHODS: FrozenSet[str] = frozenset({"center", "HTTP", "record", "email", "beep"})
"""Every notification method that can mark a trigger as configured (the public pyhik's
set). The default used to pick sensors is narrower: see pyhik.isapi.client."""

CAM_DEVICE = "CAM"
NVR_DEVICE = "NVR"
