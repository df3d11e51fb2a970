"""What the bridge says about sensors: views of devices and sensors, and the JSON payloads.

Pure: views are plain frozen values built from :mod:`pyhik.sensors.entities` objects, payloads are
strings built from views; no I/O, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, Optional, Sequence, Tuple

from pyhik.sensors.entities import (
    BinarySensor,
    DeviceSensors,
    SensorChange,
    as_seconds,
    shows_channel,
)
from pyhik.state.book import SensorState

from .topics import STATE_OFF, STATE_ON, device_topic_id


@dataclass(frozen=True)
class SensorView:
    """One sensor as the bridge publishes it."""

    key: str
    """The customize key: ``motion``, ``motion_1``, ``i_o_2``."""
    name: str
    """The sensor's name within its device: ``Motion``, ``Motion 1``."""
    slug: str
    """The docs' entity id without ``binary_sensor.``: ``front_porch_motion``."""
    device_class: Optional[str]
    event: str
    """The device's event code (``VMD``, ``linedetection``, ``IO``)."""
    channel: Optional[int]
    io_port: Optional[int]
    is_on: bool = False
    count: int = 0
    last_tripped: Optional[datetime] = None
    delay: float = 0.0
    target: Optional[str] = None


@dataclass(frozen=True)
class DeviceView:
    """One camera or NVR as the bridge publishes it."""

    node: str
    """``<device>``: the stable id made topic-safe."""
    name: str
    model: Optional[str]
    firmware: Optional[str]
    serial: Optional[str]
    connected: bool
    sensors: Tuple[SensorView, ...]


def _where(sensor: BinarySensor) -> Tuple[Optional[int], Optional[int]]:
    """(channel, io_port): an alarm input has its port and no channel."""
    if sensor.event_type.io:
        return None, sensor.channel
    return sensor.channel, None


def sensor_view(sensor: BinarySensor, state: Optional[SensorState], is_nvr: bool) -> SensorView:
    """The view of ``sensor`` as of ``state`` (None: a sensor that never changed)."""
    if state is None:
        state = SensorState(sensor.key, sensor.event_type)
    channel, io_port = _where(sensor)
    suffix = f" {sensor.channel}" if shows_channel(sensor.channel, is_nvr) else ""
    return SensorView(
        key=sensor.customize_key, name=f"{sensor.event_type.name}{suffix}",
        slug=sensor.entity_id.split(".", 1)[1], device_class=sensor.device_class,
        event=sensor.event_type.code, channel=channel, io_port=io_port, is_on=state.is_on,
        count=state.count, last_tripped=state.last_tripped, delay=state.hold_s,
        target=state.target)


def device_view(hub: DeviceSensors) -> DeviceView:
    """The view of a set-up device and all its sensors, as of now."""
    info = hub.profile.info
    return DeviceView(
        node=device_topic_id(hub.profile.device_id), name=hub.name,
        model=(info.model or None) if info else None,
        firmware=(info.firmware or None) if info else None,
        serial=(info.serial or None) if info else None,
        connected=hub.connected,
        sensors=tuple(sensor_view(s, hub.device.sensor_state(s.key), hub.profile.is_nvr)
                      for s in hub.sensors))


def change_view(change: SensorChange, is_nvr: bool) -> SensorView:
    """The view of the changed sensor right after ``change``."""
    return sensor_view(change.sensor, change.snapshot, is_nvr)


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def _json(document: Dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def state_payload(view: SensorView) -> str:
    return STATE_ON if view.is_on else STATE_OFF


def attributes_payload(view: SensorView) -> str:
    return _json({"event": view.event, "channel": view.channel, "io_port": view.io_port,
                  "count": view.count, "last_tripped_time": _iso(view.last_tripped),
                  "delay": as_seconds(view.delay), "target": view.target})


def event_payload(seq: int, view: SensorView, time: datetime) -> str:
    """One message of ``<device>/events``: a sensor turned on or off at ``time``."""
    return _json({"seq": seq, "key": view.key, "state": state_payload(view),
                  "time": time.isoformat(), "event": view.event, "channel": view.channel,
                  "io_port": view.io_port, "target": view.target})


def info_payload(version: str, bridge_id: str, devices: Sequence[str]) -> str:
    return _json({"version": version, "bridge_id": bridge_id, "devices": list(devices)})
