"""``pyhik demo``: an emulated camera and NVR on 127.0.0.1, watched with the docs' options.

The camera "Front Porch" and the 2-channel NVR "Home" are customized exactly as the Home
Assistant documentation's examples (motion delay 30 s, line crossing ignored on the
camera; motion_1 delay 30 s, field_detection_2 ignored on the NVR). A short script then
shows sensors turning on, off, released after an active-only event, and held by a delay.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Optional, Tuple

from .emulator import EmulatedDevice, TriggerSpec

CAMERA_CUSTOMIZE = {"motion": {"delay": 30}, "line_crossing": {"ignored": True}}
NVR_CUSTOMIZE = {"motion_1": {"delay": 30}, "field_detection_2": {"ignored": True}}
USERNAME, PASSWORD = "admin", "demo-Passw0rd"


def _nvr_triggers(channels: int) -> List[Any]:
    return [TriggerSpec(event, channel=ch) for ch in range(1, channels + 1)
            for event in ("VMD", "linedetection", "fielddetection")]


def script(camera: EmulatedDevice, nvr: EmulatedDevice) -> List[Tuple[float, str, Callable[[], None]]]:
    """(seconds from start, narration, action) of the demo's events."""
    return [
        (1.0, "Front Porch: motion starts", lambda: camera.push("VMD", "active")),
        (2.0, "Home channel 2: motion starts", lambda: nvr.push("VMD", "active", 2)),
        (3.0, "Home channel 2: motion ends (no delay: off at once)",
         lambda: nvr.push("VMD", "inactive", 2)),
        (4.0, "Front Porch: motion ends (delay 30 s keeps it on until then)",
         lambda: camera.push("VMD", "inactive")),
        (5.0, "Home channel 1: line crossing, sent only as 'active' "
              "(released 5 s after the last alert)",
         lambda: nvr.push("linedetection", "active", 1)),
        (6.0, "Home channel 1: motion starts", lambda: nvr.push("VMD", "active", 1)),
        (7.0, "Home channel 1: motion ends (delay 30 s)", lambda: nvr.push("VMD", "inactive", 1)),
        (8.0, "Front Porch: line crossing (ignored by customize: no sensor)",
         lambda: camera.push("linedetection", "active")),
        (9.0, "Home channel 2: field detection (ignored by customize: no sensor)",
         lambda: nvr.push("fielddetection", "active", 2)),
    ]


def run_demo(printer: Any, *, forever: bool = False, stop: Optional[threading.Event] = None) -> int:
    """Run the demo; returns when the script is played and every held sensor is off."""
    from .cli import start_hubs, stop_hubs, wait_until
    from .config import parse_device

    stop = stop or threading.Event()
    camera = EmulatedDevice("Front Porch", kind="camera", username=USERNAME, password=PASSWORD,
                            heartbeat_s=2.0).start()
    nvr = EmulatedDevice("Home", kind="nvr", channels=2, username=USERNAME, password=PASSWORD,
                         heartbeat_s=2.0, triggers=_nvr_triggers(2)).start()
    hubs: List[Any] = []
    try:
        printer.note(f"Emulated camera 'Front Porch' at {camera.url}, NVR 'Home' at {nvr.url}")
        printer.note(f"customize: Front Porch {CAMERA_CUSTOMIZE}; Home {NVR_CUSTOMIZE}\n")
        configs = [parse_device({"host": "127.0.0.1", "port": dev.port, "username": USERNAME,
                                 "password": PASSWORD, "customize": custom})
                   for dev, custom in ((camera, CAMERA_CUSTOMIZE), (nvr, NVR_CUSTOMIZE))]
        hubs = start_hubs(configs, printer)
        for dev in (camera, nvr):
            dev.wait_for_streams(1, timeout=10)
        printer.note("\nPlaying the script (the delayed sensors turn off about 30 s after "
                     "their event ends):")
        while True:
            start = time.monotonic()
            for at, narration, action in script(camera, nvr):
                wait_until(start + at, stop)
                if stop.is_set():
                    return 0
                printer.note(f"  -> {narration}")
                action()
            if not forever:
                break
            wait_until(time.monotonic() + 40, stop)
            if stop.is_set():
                return 0
        # The last held sensor (Home motion 1) ends its event at 7 s + 30 s delay.
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not stop.is_set():
            if not any(s.is_on for hub in hubs for s in hub.sensors):
                break
            wait_until(time.monotonic() + 0.2, stop)
        printer.note("\nAll sensors are off again. Done.")
        return 0
    finally:
        stop_hubs(hubs)
        camera.stop()
        nvr.stop()
