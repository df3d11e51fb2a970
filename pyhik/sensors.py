"""Binary sensors as the Home Assistant docs describe them: names, ids, customize options.

A camera named "Front Porch" with motion and line crossing gives
``binary_sensor.front_porch_motion`` and ``binary_sensor.front_porch_line_crossing``; an
NVR named "Home" gives one sensor per channel, ``binary_sensor.home_motion_1``, ...
``customize`` is keyed by the part after the device name (``motion``, ``motion_1``):
``ignored: true`` drops a sensor, ``delay: N`` keeps it on N seconds after its event ends.

Example::

    from pyhik.sensors import DeviceSensors

    hub = DeviceSensors.from_kwargs(host="192.168.1.64", username="admin", password="pw",
                                    customize={"motion": {"delay": 30}})
    hub.setup()                       # reads the device; raises clear typed errors
    hub.add_listener(lambda ch: print(ch.sensor.entity_id, ch.new))
    hub.start()
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional

from . import events
from .config import DeviceConfig, SensorOptions, parse_device, split_key
from .device import HikDevice
from .state import Change, SensorKey, SensorState

_LOGGER = logging.getLogger(__name__)

ENTITY_DOMAIN = "binary_sensor"


class BinarySensor:
    """One Home Assistant style binary sensor; its state is read live from the device."""

    def __init__(self, hub: "DeviceSensors", key: SensorKey, event_type: events.EventType) -> None:
        self._hub = hub
        self.key = key
        self.event_type = event_type
        self.channel = key.channel
        self.customize_key = (f"{event_type.slug}_{key.channel}" if hub.is_nvr
                              else event_type.slug)
        suffix = f" {key.channel}" if hub.is_nvr else ""
        self.name = f"{hub.name} {event_type.name}{suffix}"
        self.entity_id = f"{ENTITY_DOMAIN}.{events.slugify(self.name)}"
        self.unique_id = f"{hub.device_id}.{event_type.name}.{key.channel}"
        self.device_class = event_type.device_class

    def _state(self) -> SensorState:
        state = self._hub.device.sensor(self.key)
        return state if state is not None else SensorState(self.key, self.event_type)

    @property
    def event(self) -> str:
        """The device code of the event type (``VMD``, ``linedetection``)."""
        return self.event_type.code

    @property
    def is_on(self) -> bool:
        return self._state().is_on

    @property
    def state(self) -> str:
        return "on" if self.is_on else "off"

    @property
    def last_tripped_time(self) -> Optional[datetime]:
        return self._state().last_tripped

    @property
    def delay(self) -> float:
        """Seconds the sensor stays on after its event ends (customize ``delay``)."""
        return self._state().hold_s

    @property
    def attributes(self) -> Dict[str, Any]:
        """What Home Assistant shows: last tripped time, and the delay where set."""
        state = self._state()
        attrs: Dict[str, Any] = {
            "last_tripped_time": state.last_tripped.isoformat() if state.last_tripped else None}
        if state.hold_s:
            attrs["delay"] = state.hold_s
        if state.target:
            attrs["target"] = state.target
        return attrs

    def as_dict(self) -> Dict[str, Any]:
        """The JSON shape of ``pyhik watch --json``."""
        state = self._state()
        delay = state.hold_s
        return {"entity_id": self.entity_id, "name": self.name,
                "state": "on" if state.is_on else "off", "device_class": self.device_class,
                "event": self.event_type.code, "channel": self.channel,
                "last_tripped_time": state.last_tripped.isoformat() if state.last_tripped else None,
                "delay": int(delay) if float(delay).is_integer() else delay}

    def __repr__(self) -> str:
        return f"<BinarySensor {self.entity_id} {self.state}>"


@dataclass(frozen=True)
class SensorChange:
    """A sensor turned on or off."""

    sensor: BinarySensor
    old: bool
    new: bool
    time: datetime


Listener = Callable[[SensorChange], None]


class DeviceSensors:
    """The binary sensors of one device, configured as in Home Assistant."""

    def __init__(self, config: DeviceConfig, *, device: Optional[HikDevice] = None,
                 **device_options: Any) -> None:
        self.config = config
        scheme = "https" if config.ssl else "http"
        self.device = device or HikDevice(f"{scheme}://{config.host}", config.port,
                                          config.username, config.password, ssl=config.ssl,
                                          verify_ssl=config.verify_ssl, **device_options)
        self._sensors: Dict[SensorKey, BinarySensor] = {}
        self._lock = threading.Lock()
        self._listeners: List[Listener] = []
        self._ready = False
        self.device.add_listener(self._on_change)

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any], **device_options: Any) -> "DeviceSensors":
        """From a mapping with the documented keys (a Home Assistant YAML entry)."""
        return cls(parse_device(mapping), **device_options)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "DeviceSensors":
        """From keyword arguments: ``host=``, ``port=``, ``ssl=``, ``username=``, ..."""
        verify_ssl = kwargs.pop("verify_ssl", True)
        return cls(parse_device(kwargs, verify_ssl=verify_ssl))

    # -- identity ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name or self.device.name

    @property
    def device_id(self) -> str:
        return self.device.device_id

    @property
    def is_nvr(self) -> bool:
        return self.device.is_nvr

    # -- set-up --------------------------------------------------------------------------
    def setup(self) -> "DeviceSensors":
        """Read the device and create its sensors (raises pyhik.errors on failure)."""
        self.device.connect()
        by_key = self._customize_by_sensor()
        for key, options in by_key.items():
            if options.ignored:
                self.device.ignore(key)
            elif options.delay:
                self.device.set_hold(key, options.delay)
        with self._lock:
            for state in self.device.sensors():
                self._sensors[state.key] = BinarySensor(self, state.key, state.event_type)
        present = {s.customize_key for s in self._sensors.values()}
        for name, options in self.config.customize.items():
            if name not in present and not options.ignored:
                _LOGGER.warning("%s: customize %r matches no sensor of this %s (sensors: %s)",
                                self.name, name, self.device.kind,
                                ", ".join(sorted(present)) or "none")
        self._ready = True
        return self

    def _customize_by_sensor(self) -> Dict[SensorKey, SensorOptions]:
        result: Dict[SensorKey, SensorOptions] = {}
        for name, options in self.config.customize.items():
            etype, channel = split_key(name)
            if channel is None and self.is_nvr:
                _LOGGER.warning("%s is an NVR: customize %r needs a channel (%s_1, %s_2, ...)",
                                self.name, name, name, name)
                continue
            result[SensorKey(etype.code, channel or 1)] = options
        return result

    @property
    def sensors(self) -> List[BinarySensor]:
        """Every sensor, in the order the device announced them."""
        with self._lock:
            return list(self._sensors.values())

    def sensor(self, entity_id: str) -> Optional[BinarySensor]:
        return next((s for s in self.sensors if s.entity_id == entity_id), None)

    # -- events --------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(SensorChange)`` on every change, in registration order."""
        with self._lock:
            self._listeners = self._listeners + [listener]

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [x for x in self._listeners if x is not listener]

    def _on_change(self, change: Change) -> None:
        if not self._ready:
            return
        key = change.sensor.key
        with self._lock:
            sensor = self._sensors.get(key)
            if sensor is None:
                sensor = self._sensors[key] = BinarySensor(self, key, change.sensor.event_type)
                _LOGGER.info("%s: new sensor %s (from an alert)", self.name, sensor.entity_id)
        if change.old == change.new:
            return
        event = SensorChange(sensor, change.old, change.new, change.at)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("a sensor listener raised; the stream goes on")

    def add_connection_listener(self, listener: Callable[[bool], None]) -> None:
        self.device.add_connection_listener(listener)

    @property
    def connected(self) -> bool:
        return self.device.connected

    def start(self) -> None:
        """Open the alert stream (call :meth:`setup` first)."""
        if not self._ready:
            self.setup()
        self.device.start()

    def stop(self) -> None:
        self.device.stop()

    def close(self) -> None:
        self.device.close()
