"""The demo's devices and script, shared by ``pyhik demo`` and ``pyhik demo --mqtt``.

The camera "Front Porch" (motion and line crossing) and the 2-channel NVR "Home" are
customized exactly as the Home Assistant documentation's examples (motion delay 30 s,
line crossing ignored on the camera; motion_1 delay 30 s, field_detection_2 ignored on the
NVR). The script shows sensors turning on, off, released after an active-only event, and
held by a delay.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Tuple

from pyhik.emulator import EmulatedDevice, TriggerSpec
from pyhik.sensors.config import DeviceConfig, parse_device
from pyhik.state.book import STALE_S

CAMERA_CUSTOMIZE: Dict[str, Dict[str, Any]] = {"motion": {"delay": 30}, "line_crossing": {"ignored": True}}
NVR_CUSTOMIZE: Dict[str, Dict[str, Any]] = {"motion_1": {"delay": 30}, "field_detection_2": {"ignored": True}}
USERNAME, PASSWORD = "admin", "demo-Passw0rd"
HEARTBEAT_S = 2.0
FOREVER_PAUSE_S = 40.0
FIRST_CONNECT_S = 10.0
END_MARGIN_S = 5.0

Step = Tuple[float, str, Callable[[], None]]


def _camera_triggers() -> List[Any]:
    return [TriggerSpec("VMD", channel=1), TriggerSpec("linedetection", channel=1)]


def _nvr_triggers(channels: int) -> List[Any]:
    return [TriggerSpec(event, channel=ch) for ch in range(1, channels + 1)
            for event in ("VMD", "linedetection", "fielddetection")]


def start_emulators() -> Tuple[EmulatedDevice, EmulatedDevice]:
    """The camera "Front Porch" and the NVR "Home", started on 127.0.0.1."""
    camera = EmulatedDevice("Front Porch", kind="camera", username=USERNAME, password=PASSWORD,
                            heartbeat_s=HEARTBEAT_S, triggers=_camera_triggers()).start()
    nvr = EmulatedDevice("Home", kind="nvr", channels=2, username=USERNAME, password=PASSWORD,
                         heartbeat_s=HEARTBEAT_S, triggers=_nvr_triggers(2)).start()
    return camera, nvr


def device_configs(devices: Tuple[EmulatedDevice, EmulatedDevice],
                   customs: List[Dict[str, Dict[str, Any]]]) -> List[DeviceConfig]:
    """The configuration entries of the started devices, with their customize options."""
    return [parse_device({"host": "127.0.0.1", "port": dev.port, "username": USERNAME,
                          "password": PASSWORD, "customize": custom})
            for dev, custom in zip(devices, customs)]


def scaled_customizes(time_scale: float) -> List[Dict[str, Dict[str, Any]]]:
    """The camera's and the NVR's customize options, delays scaled by ``time_scale``."""
    return [scaled_customize(CAMERA_CUSTOMIZE, time_scale),
            scaled_customize(NVR_CUSTOMIZE, time_scale)]


def scaled_customize(customize: Mapping[str, Mapping[str, Any]],
                     time_scale: float) -> Dict[str, Dict[str, Any]]:
    """The customize options with every delay multiplied by ``time_scale`` (unchanged at 1)."""
    out = {key: dict(options) for key, options in customize.items()}
    if time_scale != 1:
        for options in out.values():
            if "delay" in options:
                options["delay"] = options["delay"] * time_scale
    return out


def script(camera: EmulatedDevice, nvr: EmulatedDevice, *, time_scale: float = 1.0,
           delay_s: float = 30.0, stale_s: float = STALE_S) -> List[Step]:
    """(seconds from start, narration, action) of the demo's events."""
    steps = [
        (1.0, "Front Porch: motion starts", lambda: camera.push("VMD", "active")),
        (2.0, "Home channel 2: motion starts", lambda: nvr.push("VMD", "active", 2)),
        (3.0, "Home channel 2: motion ends (no delay: off at once)",
         lambda: nvr.push("VMD", "inactive", 2)),
        (4.0, f"Front Porch: motion ends (delay {delay_s:g} s keeps it on until then)",
         lambda: camera.push("VMD", "inactive")),
        (5.0, "Home channel 1: line crossing, sent only as 'active' "
              f"(released {stale_s:g} s after the last alert)",
         lambda: nvr.push("linedetection", "active", 1)),
        (6.0, "Home channel 1: motion starts", lambda: nvr.push("VMD", "active", 1)),
        (7.0, f"Home channel 1: motion ends (delay {delay_s:g} s)",
         lambda: nvr.push("VMD", "inactive", 1)),
        (8.0, "Front Porch: line crossing (ignored by customize: no sensor)",
         lambda: camera.push("linedetection", "active")),
        (9.0, "Home channel 2: field detection (ignored by customize: no sensor)",
         lambda: nvr.push("fielddetection", "active", 2)),
    ]
    return [(at * time_scale, text, action) for at, text, action in steps]
