"""``pyhik demo``: an emulated camera and NVR on 127.0.0.1, watched with the docs' options.

The camera "Front Porch" (motion and line crossing) and the 2-channel NVR "Home" are
customized exactly as the Home Assistant documentation's examples (motion delay 30 s,
line crossing ignored on the camera; motion_1 delay 30 s, field_detection_2 ignored on the
NVR). A short script then shows sensors turning on, off, released after an active-only
event, and held by a delay. It ends by itself once every sensor is off again (about 40 s).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from pyhik.emulator import EmulatedDevice, TriggerSpec
from pyhik.state.book import STALE_S

from .console import Printer, run_with_signals

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


def run_demo(printer: Any, *, forever: bool = False, stop: Optional[threading.Event] = None,
             time_scale: float = 1.0) -> int:
    """Run the demo; returns 0 when the script is played and every held sensor is off.

    ``time_scale`` multiplies every time of the script, the release of active-only events
    (5 s) and, only when it is not 1, the customize delays (30 s -> 30 * time_scale), so
    a test can play the whole demo in a second or two. ``pyhik demo`` uses 1: the delays
    are then exactly the documentation's 30 s.
    """
    from pyhik.sensors.config import parse_device

    from .console import start_hubs, stop_hubs, wait_until

    if not time_scale > 0:
        raise ValueError("time_scale must be positive")
    stop = stop or threading.Event()
    stale_s = STALE_S * time_scale
    customs = [scaled_customize(CAMERA_CUSTOMIZE, time_scale),
               scaled_customize(NVR_CUSTOMIZE, time_scale)]
    delay_s = float(customs[0]["motion"]["delay"])
    camera = EmulatedDevice("Front Porch", kind="camera", username=USERNAME, password=PASSWORD,
                            heartbeat_s=HEARTBEAT_S, triggers=_camera_triggers()).start()
    nvr = EmulatedDevice("Home", kind="nvr", channels=2, username=USERNAME, password=PASSWORD,
                         heartbeat_s=HEARTBEAT_S, triggers=_nvr_triggers(2)).start()
    hubs: List[Any] = []
    try:
        printer.note(f"Emulated camera 'Front Porch' at {camera.url}, NVR 'Home' at {nvr.url}")
        printer.note(f"customize: Front Porch {customs[0]}; Home {customs[1]}\n")
        configs = [parse_device({"host": "127.0.0.1", "port": dev.port, "username": USERNAME,
                                 "password": PASSWORD, "customize": custom})
                   for dev, custom in zip((camera, nvr), customs)]
        hubs = start_hubs(configs, printer, first_connect_s=FIRST_CONNECT_S, stop=stop,
                          stale_s=stale_s)
        changed = threading.Event()
        for hub in hubs:
            hub.add_listener(lambda _change: changed.set())
        printer.note(f"\nPlaying the script (the delayed sensors turn off {delay_s:g} s after "
                     "their event ends):")
        while True:
            start = time.monotonic()
            for at, narration, action in script(camera, nvr, time_scale=time_scale,
                                                delay_s=delay_s, stale_s=stale_s):
                wait_until(start + at, stop)
                if stop.is_set():
                    return 0
                printer.note(f"  -> {narration}")
                action()
            if not forever:
                break
            wait_until(time.monotonic() + FOREVER_PAUSE_S * time_scale, stop)
            if stop.is_set():
                return 0
        held = [s.entity_id for hub in hubs for s in hub.sensors if s.is_on]
        if held and not stop.is_set():
            printer.note(f"\nWaiting for {', '.join(held)} to turn off: the delayed ones "
                         f"{delay_s:g} s after their event ended, the active-only ones "
                         f"{stale_s:g} s after their last alert.")
        deadline = time.monotonic() + delay_s + stale_s + END_MARGIN_S * time_scale
        while not stop.is_set() and any(s.is_on for hub in hubs for s in hub.sensors):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            changed.wait(min(remaining, 0.5))
            changed.clear()
        printer.note("\nAll sensors are off again. Done.")
        return 0
    finally:
        stop_hubs(hubs)
        camera.stop()
        nvr.stop()


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--forever", action="store_true", help="keep playing events until Ctrl-C")
    parser.add_argument("--mqtt", metavar="URL",
                        help="publish the emulated devices to this MQTT broker "
                             "(mqtt://HOST:PORT) with Home Assistant discovery, until Ctrl-C")
    parser.add_argument("--json", action="store_true", help="print JSON lines")


def cmd_demo(args: argparse.Namespace) -> int:
    if args.mqtt:
        from .mqtt import run_demo as run_mqtt_demo
        return run_mqtt_demo(args)
    # A closed stdout (pyhik demo | head -3) ends the demo, as it ends watch.
    return run_with_signals(lambda stop: run_demo(Printer(args.json, closed=stop),
                                                  forever=args.forever, stop=stop))
