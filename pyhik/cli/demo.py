"""``pyhik demo``: an emulated camera and NVR on 127.0.0.1, watched with the docs' options.

The devices, their customize options and the script are :mod:`pyhik.cli.demo_script`'s.
It ends by itself once every sensor is off again (about 40 s); ``--mqtt URL`` publishes
the same devices to a broker instead (:mod:`pyhik.cli.mqtt_demo`).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any, List, Optional

from pyhik.state.book import STALE_S

from .console import Printer, run_with_signals
from .demo_script import (
    END_MARGIN_S,
    FIRST_CONNECT_S,
    FOREVER_PAUSE_S,
    device_configs,
    scaled_customizes,
    script,
    start_emulators,
)


def run_demo(printer: Any, *, forever: bool = False, stop: Optional[threading.Event] = None,
             time_scale: float = 1.0) -> int:
    """Run the demo; returns 0 when the script is played and every held sensor is off.

    ``time_scale`` multiplies every time of the script, the release of active-only events
    (5 s) and, only when it is not 1, the customize delays (30 s -> 30 * time_scale), so
    a test can play the whole demo in a second or two. ``pyhik demo`` uses 1: the delays
    are then exactly the documentation's 30 s.
    """
    from .console import start_hubs, stop_hubs, wait_until

    if not time_scale > 0:
        raise ValueError("time_scale must be positive")
    stop = stop or threading.Event()
    stale_s = STALE_S * time_scale
    customs = scaled_customizes(time_scale)
    delay_s = float(customs[0]["motion"]["delay"])
    camera, nvr = start_emulators()
    hubs: List[Any] = []
    try:
        printer.note(f"Emulated camera 'Front Porch' at {camera.url}, NVR 'Home' at {nvr.url}")
        printer.note(f"customize: Front Porch {customs[0]}; Home {customs[1]}\n")
        configs = device_configs((camera, nvr), customs)
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
        try:
            from .mqtt_demo import cmd_mqtt_demo
        except ImportError as err:
            print(f"pyhik demo: needs paho-mqtt 2.x: pip install 'pyhik[mqtt]' ({err})",
                  file=sys.stderr)
            return 1
        return cmd_mqtt_demo(args)
    # A closed stdout (pyhik demo | head -3) ends the demo, as it ends watch.
    return run_with_signals(lambda stop: run_demo(Printer(args.json, closed=stop),
                                                  forever=args.forever, stop=stop))
