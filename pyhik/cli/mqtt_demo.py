"""``pyhik demo --mqtt URL``: the demo's emulated camera and NVR, published through the bridge.

A user with Home Assistant and a broker sees "Front Porch" and "Home" arrive by MQTT
discovery, without any hardware, and their sensors turn on and off as the demo's script
plays (again every 40 s) until Ctrl-C; then everything goes ``offline``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any, Callable, Mapping, Optional

from pyhik.errors import PyhikError
from pyhik.mqtt.bridge import Bridge
from pyhik.mqtt.broker import parse_broker
from pyhik.mqtt.topics import Topics
from pyhik.state.book import STALE_S

from .demo_script import FOREVER_PAUSE_S, device_configs, scaled_customizes, script, start_emulators
from .mqtt import EXIT_FAILED, signals_set

DEMO_BRIDGE_ID = "demo"


def run_mqtt_demo(broker_url: Optional[str], note: Callable[[str], None] = print, *,
                  stop: Optional[threading.Event] = None, time_scale: float = 1.0,
                  bridge_id: str = DEMO_BRIDGE_ID, tls_ca: Optional[str] = None,
                  env: Optional[Mapping[str, str]] = None, **bridge_options: Any) -> int:
    """Run until ``stop`` is set (SIGINT / SIGTERM in the CLI); returns 0.

    Raises :class:`~pyhik.errors.PyhikError` (bad URL, broker unreachable or refusing).
    """
    import os

    if not time_scale > 0:
        raise ValueError("time_scale must be positive")
    stop = stop or threading.Event()
    broker = parse_broker(broker_url, os.environ if env is None else env)
    devices = start_emulators()
    bridge = None
    try:
        customs = scaled_customizes(time_scale)
        configs = device_configs(devices, customs)
        stale_s = STALE_S * time_scale
        bridge_options.setdefault("device_options", lambda: {"stale_s": stale_s})
        bridge = Bridge(configs, broker, Topics(bridge_id), tls_ca=tls_ca, **bridge_options)
        bridge.start(cancel=stop)
        note(f"Publishing the emulated camera 'Front Porch' and NVR 'Home' to "
             f"{broker.display} (bridge id '{bridge_id}', topics pyhik/#).")
        note("In Home Assistant (MQTT integration set up with this broker) they appear under "
             "Settings > Devices & services > MQTT. Ctrl-C to stop.")
        camera, nvr = devices
        delay_s = float(customs[0]["motion"]["delay"])
        while not stop.is_set():
            start = time.monotonic()
            for at, narration, action in script(camera, nvr, time_scale=time_scale,
                                                delay_s=delay_s, stale_s=stale_s):
                if stop.wait(max(0.0, start + at - time.monotonic())):
                    break
                note(f"  -> {narration}")
                action()
            stop.wait(FOREVER_PAUSE_S * time_scale)
        return 0
    finally:
        if bridge is not None:
            bridge.stop()
        for dev in devices:
            dev.stop()


def cmd_mqtt_demo(args: argparse.Namespace) -> int:
    """``pyhik demo --mqtt URL``: the emulated camera and NVR on a broker, until a signal."""
    stop = threading.Event()
    try:
        with signals_set(stop):
            return run_mqtt_demo(args.mqtt, lambda line: print(line, flush=True), stop=stop)
    except PyhikError as err:
        print(f"pyhik demo: {err}", file=sys.stderr)
        return EXIT_FAILED
