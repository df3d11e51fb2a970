"""Binary sensors as the Home Assistant docs describe them: names, ids, customize options.

A camera named "Front Porch" with motion and line crossing gives
``binary_sensor.front_porch_motion`` and ``binary_sensor.front_porch_line_crossing``; an
NVR named "Home" gives one sensor per channel, ``binary_sensor.home_motion_1``, ... (a
camera sensor on another channel than 1, as on multi-sensor cameras, carries its channel
too, ``binary_sensor.front_porch_motion_2``, so that no two sensors share an id).
``customize`` is keyed by the part after the device name (``motion``, ``motion_1``):
``ignored: true`` drops a sensor, ``delay: N`` keeps it on N seconds after its event ends.

Example::

    from pyhik.sensors.entities import DeviceSensors

    hub = DeviceSensors.from_kwargs(host="192.168.1.64", username="admin", password="pw",
                                    customize={"motion": {"delay": 30}})
    hub.setup()                       # reads the device; raises clear typed errors
    hub.add_listener(lambda ch: print(ch.sensor.entity_id, ch.new))
    hub.start()
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Union

from pyhik.isapi.http import split_host
from pyhik.protocol import events
from pyhik.state.book import Change, SensorKey, SensorState
from pyhik.stream.device import DeviceProfile, HikDevice
from pyhik.stream.listeners import Listeners

from .config import DeviceConfig, SensorOptions, parse_device, split_key

_LOGGER = logging.getLogger(__name__)

ENTITY_DOMAIN = "binary_sensor"

def entity_slug(text: str) -> str:
    """The object id Home Assistant makes from a name, character for character (its
    ``homeassistant.util.slugify``: python-slugify with ``_``): ``"Café Entrée Motion"``
    -> ``cafe_entree_motion``, ``"Камера Двор Motion"`` -> ``kamera_dvor_motion``;
    ``"unknown"`` when nothing is left (an emoji-only name), ``""`` for no text at all.

    Two names with the same slug give the same id: Home Assistant then appends ``_2``
    to the second entity it registers; here :func:`pyhik.cli.main` warns about it instead,
    since ids are made per device (see README, Configuration).
    """
    if text is None or text == "":
        return ""
    return events.slugify(text) or "unknown"


def shows_channel(channel: int, is_nvr: bool) -> bool:
    """NVR sensors carry their channel; a camera's only where it is not 1 (multi-sensor
    cameras, a second alarm input), so that two sensors never share a name."""
    return is_nvr or channel != 1


def customize_key(event_type: events.EventType, channel: int, is_nvr: bool) -> str:
    """The ``customize`` key of a sensor: ``motion`` on a camera, ``motion_1`` on an NVR."""
    if shows_channel(channel, is_nvr):
        return f"{event_type.slug}_{channel}"
    return event_type.slug


def sensor_name(device_name: str, event_type: events.EventType, channel: int,
                is_nvr: bool) -> str:
    """The friendly name: ``Front Porch Motion``, ``Home Motion 1``."""
    suffix = f" {channel}" if shows_channel(channel, is_nvr) else ""
    return f"{device_name} {event_type.name}{suffix}"


def entity_id_of(name: str) -> str:
    """``binary_sensor.`` and the slug of the friendly name."""
    return f"{ENTITY_DOMAIN}.{entity_slug(name)}"


def as_seconds(value: float) -> Any:
    """30.0 -> 30 (as the YAML said), 0.5 stays 0.5."""
    return int(value) if float(value).is_integer() else value


class BinarySensor:
    """One Home Assistant style binary sensor; its state is read live from the device."""

    def __init__(self, hub: "DeviceSensors", key: SensorKey, event_type: events.EventType) -> None:
        self._hub = hub
        self.key = key
        self.event_type = event_type
        self.channel = key.channel
        self.customize_key = customize_key(event_type, key.channel, hub.profile.is_nvr)
        self.name = sensor_name(hub.name, event_type, key.channel, hub.profile.is_nvr)
        self.entity_id = entity_id_of(self.name)
        # As Home Assistant's hikvision platform builds it: the same across restarts
        # and renames, because it comes from the device's own id.
        self.unique_id = f"{hub.profile.device_id}.{event_type.name}.{key.channel}"
        self.device_class = event_type.device_class

    def _state(self) -> SensorState:
        state = self._hub.device.sensor_state(self.key)
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
            attrs["delay"] = as_seconds(state.hold_s)
        if state.target:
            attrs["target"] = state.target
        return attrs

    def as_dict(self, state: Optional[SensorState] = None) -> Dict[str, Any]:
        """The JSON shape of ``pyhik watch --json`` (of ``state``, default the live one)."""
        state = state or self._state()
        return {"entity_id": self.entity_id, "name": self.name,
                "state": "on" if state.is_on else "off", "device_class": self.device_class,
                "event": self.event_type.code, "channel": self.channel,
                "last_tripped_time": state.last_tripped.isoformat() if state.last_tripped else None,
                "delay": as_seconds(state.hold_s)}

    def __repr__(self) -> str:
        return f"<BinarySensor {self.entity_id} {self.state}>"


@dataclass(frozen=True)
class SensorChange:
    """A sensor turned on or off."""

    sensor: BinarySensor
    old: bool
    new: bool
    time: datetime
    created: bool = False
    """The sensor was created by this alert (its type or channel is in no trigger)."""
    snapshot: Optional[SensorState] = field(default=None, repr=False, compare=False)
    """The sensor's state right after this change."""

    def as_dict(self) -> Dict[str, Any]:
        """The sensor as ``pyhik watch --json`` prints it, as of this change."""
        return self.sensor.as_dict(self.snapshot)


Listener = Callable[[SensorChange], None]


class DeviceSensors:
    """The binary sensors of one device, configured as in Home Assistant."""

    def __init__(self, config: DeviceConfig, *, device: Optional[HikDevice] = None,
                 **device_options: Any) -> None:
        self.config = config
        if device is None:
            # The host goes as written: split_host reads it, as for every entry point.
            port = split_host(config.host, config.port, config.ssl)[2]
            device = HikDevice(config.host, port, config.username, config.password,
                               ssl=config.ssl, verify_ssl=config.verify_ssl,
                               **device_options)
        self.device = device
        self.profile: DeviceProfile = device.profile
        """What :meth:`setup` read of the device (until then: its address only)."""
        self._sensors: Dict[SensorKey, BinarySensor] = {}
        self._lock = threading.Lock()
        self._listeners: Listeners[SensorChange] = Listeners()
        self._ready = False
        self.device.watcher.add_change_listener(self._on_change)

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any], *, verify_ssl: Union[bool, str] = True,
                    **device_options: Any) -> "DeviceSensors":
        """From a mapping with the documented keys (a Home Assistant YAML entry).

        ``device_options`` go to :class:`~pyhik.stream.device.HikDevice` (``stale_s``, ...).
        """
        return cls(parse_device(mapping, verify_ssl=verify_ssl), **device_options)

    @classmethod
    def from_kwargs(cls, *, verify_ssl: Union[bool, str] = True,
                    device_options: Optional[Mapping[str, Any]] = None,
                    **config: Any) -> "DeviceSensors":
        """From keyword arguments with the documented names: ``host=``, ``port=``,
        ``ssl=``, ``username=``, ``password=``, ``name=``, ``customize=``."""
        return cls(parse_device(config, verify_ssl=verify_ssl), **dict(device_options or {}))

    # -- identity ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The configured ``name``, else the device's own (``profile`` has the rest)."""
        return self.config.name or self.profile.name

    # -- set-up --------------------------------------------------------------------------
    def setup(self) -> "DeviceSensors":
        """Read the device and create its sensors (raises pyhik.errors on failure).

        One read of the device (:meth:`HikDevice.connect`) gives its identity and its
        sensors; ``customize`` is checked against them and applied in one step, and the
        binary sensors are made from the same read. Customize keys that match no sensor
        are logged as warnings; their options still apply if an alert creates that
        sensor later.
        """
        profile = self.profile = self.device.connect()
        announced = {customize_key(state.event_type, state.key.channel, profile.is_nvr)
                     for state in profile.sensor_states}
        options = self._customize_by_sensor(announced)
        ignored = {key for key, option in options.items() if option.ignored}
        self.device.configure_sensors(ignored=ignored, holds={
            key: option.delay for key, option in options.items()
            if not option.ignored and option.delay})
        with self._lock:
            self._sensors = {state.key: BinarySensor(self, state.key, state.event_type)
                             for state in profile.sensor_states if state.key not in ignored}
        self._ready = True
        return self

    def _customize_by_sensor(self, announced: Set[str]) -> Dict[SensorKey, SensorOptions]:
        result: Dict[SensorKey, SensorOptions] = {}
        listed = ", ".join(sorted(announced)) or "none"
        for name, options in self.config.customize.items():
            etype, channel = split_key(name)
            if channel is None and self.profile.is_nvr:
                _LOGGER.warning("%s is an NVR: customize %r needs a channel (%s_1, %s_2, ...); "
                                "ignoring it (sensors: %s)", self.name, name, name, name, listed)
                continue
            if channel == 1 and not self.profile.is_nvr:
                _LOGGER.warning("%s is a camera: customize %r matches no sensor, its key has no "
                                "channel (%s); ignoring it", self.name, name, etype.slug)
                continue
            if name not in announced:
                # An ignored key still keeps alerts from creating that sensor: no warning.
                _LOGGER.log(logging.INFO if options.ignored else logging.WARNING,
                            "%s: customize %r matches no sensor of this %s (sensors: %s)",
                            self.name, name, self.profile.kind, listed)
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
        self._listeners.add(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

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
        event = SensorChange(sensor, change.old, change.new, change.at, change.created,
                             change.sensor)
        watcher = self.device.watcher
        for listener in self._listeners:  # through the watcher's gate: stop() is obeyed
            if not watcher.call(listener, event):
                return

    def add_connection_listener(self, listener: Callable[[bool], None]) -> None:
        self.device.watcher.add_connection_listener(listener)

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
