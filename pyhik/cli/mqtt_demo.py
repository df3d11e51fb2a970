"""``pyhik demo --mqtt URL``: the demo's emulated camera and NVR, published through the bridge.

A user with Home Assistant and a broker sees "Front Porch" and "Home" arrive by MQTT
discovery, without any hardware, and their sensors turn on and off as the demo's script
plays (again every 40 s) until Ctrl-C; then everything goes ``offline``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Mapping, Optional, cast

from pyhik.emulator import EmulatedDevice, TriggerSpec
from pyhik.mqtt.bridge import Bridge
from pyhik.mqtt.broker import parse_broker
from pyhik.mqtt.topics import Topics
from pyhik.sensors.config import parse_device
from pyhik.state.book import STALE_S

from .demo import (
    CAMERA_CUSTOMIZE,
    FOREVER_PAUSE_S,
    HEARTBEAT_S,
    NVR_CUSTOMIZE,
    PASSWORD,
    USERNAME,
    scaled_customize,
    script,
)

DEMO_BRIDGE_ID = "demo"


def _emulators() -> List[EmulatedDevice]:
    camera = EmulatedDevice("Front Porch", kind="camera", username=USERNAME, password=PASSWORD,
                            heartbeat_s=HEARTBEAT_S,
                            triggers=[TriggerSpec("VMD", channel=1),
                                      TriggerSpec("linedetection", channel=1)])
    nvr = EmulatedDevice("Home", kind="nvr", channels=2, username=USERNAME, password=PASSWORD,
                         heartbeat_s=HEARTBEAT_S,
                         triggers=[TriggerSpec(event, channel=ch) for ch in (1, 2)
                                   for event in ("VMD", "linedetection", "fielddetection")])
    return [camera.start(), nvr.start()]


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
    devices = _emulators()
    bridge = None
    try:
        customs = [scaled_customize(cast(Mapping[str, Mapping[str, Any]], custom), time_scale)
                   for custom in (CAMERA_CUSTOMIZE, NVR_CUSTOMIZE)]
        configs = [parse_device({"host": "127.0.0.1", "port": dev.port, "username": USERNAME,
                                 "password": PASSWORD, "customize": custom})
                   for dev, custom in zip(devices, customs)]  # noqa: B905 (3.9)
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
