"""Shared set-up of the bridge tests: the docs' devices and a fast bridge on a test broker."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from pyhik.backoff import Backoff
from pyhik.config import DeviceConfig, parse_device
from pyhik.emulator import EmulatedDevice, TriggerSpec
from pyhik.mqtt.bridge import Bridge
from pyhik.mqtt.broker import Broker
from pyhik.mqtt.topics import Topics
from pyhik.watchdog import Watchdog

CAMERA_CUSTOMIZE = {"motion": {"delay": 1.0}, "line_crossing": {"ignored": True}}
NVR_CUSTOMIZE = {"motion_1": {"delay": 1.0}, "field_detection_2": {"ignored": True}}
HEARTBEAT_S = 0.2


def camera(emulators: Any, name: str = "Front Porch", **kw: Any) -> EmulatedDevice:
    kw.setdefault("triggers", [TriggerSpec("VMD", channel=1), TriggerSpec("linedetection", channel=1),
                               TriggerSpec("IO", io_port=1)])
    return emulators(name, heartbeat_s=HEARTBEAT_S, **kw)


def nvr(emulators: Any, name: str = "Home", channels: int = 2, **kw: Any) -> EmulatedDevice:
    triggers = [TriggerSpec(event, channel=ch) for ch in range(1, channels + 1)
                for event in ("VMD", "linedetection", "fielddetection")]
    return emulators(name, kind="nvr", channels=channels, heartbeat_s=HEARTBEAT_S,
                     triggers=triggers, **kw)


def config(dev: EmulatedDevice, customize: Optional[Dict[str, Any]] = None,
           **extra: Any) -> DeviceConfig:
    entry = {"host": "127.0.0.1", "port": dev.port, "username": "admin", "password": "12345",
             "customize": customize or {}}
    entry.update(extra)
    return parse_device(entry)


def device_options() -> Dict[str, Any]:
    return dict(backoff=Backoff(0.05, 0.2, jitter=0.0),
                watchdog=Watchdog(min_limit_s=1.0, silent_limit_s=1.0), stale_s=0.5)


def make_bridge(port: int, configs: List[DeviceConfig], bridge_id: str = "test",
                **kw: Any) -> Bridge:
    topics = Topics(bridge_id, kw.pop("base", "pyhik"), kw.pop("prefix", "homeassistant"))
    kw.setdefault("device_options", device_options)
    kw.setdefault("backoff", Backoff(0.05, 0.3, jitter=0.2))
    kw.setdefault("setup_backoff", lambda: Backoff(0.05, 0.2))
    kw.setdefault("birth_delay_s", (0.05, 0.1))
    return Bridge(configs, Broker("127.0.0.1", port), topics, **kw)
