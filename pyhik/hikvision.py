"""The drop-in ``HikCamera`` API of the public pyhik, built on :class:`pyhik.stream.device.HikDevice`.

Same import path, names and shapes as the public pyhik (what Home Assistant's hikvision
integration calls; see COMPAT.md in the project's shared notes), with its known faults
fixed: sensors are released when an event's end is never sent, the stream is watched and
reopened, ``disconnect()`` returns at once, ``start_stream()`` works again after it, the
camera id is stable across restarts, and a raising callback does not kill the stream.
Where the public pyhik swallows an error and returns None, so does this, after logging
the reason.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union
from urllib.parse import quote

import requests

from pyhik.isapi.client import Channel, IsapiClient
from pyhik.isapi.http import split_host, url_host
from pyhik.state.book import Change, SensorState
from pyhik.stream.device import HikDevice, sensor_channel_of
from pyhik.stream.watcher import local_now

from .constants import CAM_DEVICE, DEFAULT_RTSP_PORT, NVR_DEVICE, SENSOR_MAP
from .errors import PyhikError

_LOGGER = logging.getLogger(__name__)

VideoChannel = Channel
"""A video channel of a camera or NVR: ``id``, ``name``, ``enabled`` (a dataclass)."""

_SKIPPED_NAMES = {"Video Loss", "Ongoing Events"}
_CODE_OF_NAME: Dict[str, str] = {}
for _code, _name in SENSOR_MAP.items():
    _CODE_OF_NAME.setdefault(_name, _code)

Callback = Callable[[str], Any]
_SHARED_NAMES = {name for name in SENSOR_MAP.values()
                 if list(SENSOR_MAP.values()).count(name) > 1}
"""Public names that several device codes share (Tamper Detection)."""


def compat_name(code: str) -> Optional[str]:
    """The public pyhik's friendly name for a device code, None if it had none."""
    return SENSOR_MAP.get(code.lower())


class HikCamera:
    """A Hikvision camera or NVR as the public pyhik presents it."""

    def __init__(self, host: Optional[str] = None, port: int = 80, usr: Optional[str] = None,
                 pwd: Optional[str] = None, verify_ssl: Union[bool, str] = True) -> None:
        self.event_states: Optional[Dict[str, List[list]]] = {}
        self.name: Optional[str] = ""
        self.cam_id: Optional[str] = None
        self.device_type: Optional[str] = None
        self.motion_detection: Optional[bool] = None
        self.last_error: Optional[BaseException] = None
        self._callbacks: List[Tuple[Callback, str]] = []
        self._callbacks_lock = threading.Lock()
        self._states_lock = threading.Lock()
        self.usr, self.pwd = usr, pwd
        # Set from split_host only: the host as written may carry a password (refused).
        self.host, self.port, self.root_url = "", port, ""
        self._device: Optional[HikDevice] = None
        if not host:
            _LOGGER.error("Host not specified! Cannot continue.")
            self._fail()
            return
        try:
            # The one reading of a host (scheme, [IPv6], port) that every entry point uses.
            scheme, self.host, self.port = split_host(str(host), port, None)
            self.root_url = f"{scheme}://{url_host(self.host)}:{self.port}"
            self._device = HikDevice(str(host), self.port, usr, pwd, verify_ssl=verify_ssl)
        except PyhikError as err:  # a malformed host or port: not a RequestException
            self.last_error = err
            # err says what is wrong; it quotes the host only when no password is in it
            _LOGGER.error("Cannot use this Hikvision device: %s", err)
            self._fail()
            return
        self._device.watcher.add_change_listener(self._on_change)
        self._device.watcher.add_connection_listener(self._on_connection)
        self._initialize()

    def _fail(self) -> None:
        self.name = None
        self.cam_id = None
        self.event_states = None

    def _initialize(self) -> None:
        device = self._device
        assert device is not None
        try:
            profile = device.connect()
        except (PyhikError, requests.exceptions.RequestException) as err:
            self.last_error = err
            _LOGGER.error("Unable to set up Hikvision device at %s: %s", self.root_url, err)
            self._fail()
            return
        finally:
            # Home Assistant's config flow drops a camera without disconnect(): keep no
            # keep-alive socket (the session stays usable; it reconnects on the next call).
            device.client.close()
        self.name = profile.name
        self.cam_id = profile.device_id
        self.device_type = NVR_DEVICE if profile.is_nvr else CAM_DEVICE
        with self._states_lock:
            for state in profile.sensor_states:
                self._store(state)
        self.get_motion_detection()
        device.client.close()

    # -- identity ------------------------------------------------------------------------
    @property
    def get_id(self) -> Optional[str]:
        """The device's own id (deviceID, else serial, else MAC): stable across restarts."""
        return self.cam_id

    @property
    def get_name(self) -> Optional[str]:
        return self.name

    @property
    def get_type(self) -> Optional[str]:
        """``"NVR"`` for recorders, ``"CAM"`` otherwise."""
        return self.device_type

    @property
    def current_event_states(self) -> Optional[Dict[str, List[list]]]:
        """Friendly name -> list of ``[is_on, channel, count, last_update, target]``."""
        return self.event_states

    @property
    def current_motion_detection_state(self) -> Optional[bool]:
        return self.motion_detection

    @property
    def stream_connected(self) -> bool:
        return self._device is not None and self._device.connected

    # -- sensor states -------------------------------------------------------------------
    def _store(self, state: SensorState, *, create: bool = True) -> Optional[str]:
        """Write a sensor snapshot into event_states (caller holds _states_lock)."""
        name = compat_name(state.key.code)
        if name is None or name in _SKIPPED_NAMES or self.event_states is None:
            return None
        channel = state.key.channel
        entries = self.event_states.setdefault(name, []) if create else self.event_states.get(name)
        if entries is None:
            return None
        is_on = state.is_on or self._sibling_on(name, channel, state)
        entry = [is_on, channel, state.count, state.last_update or local_now(), state.target]
        for i, old in enumerate(entries):
            if old[1] == channel:
                entries[i] = entry
                return name
        if create:
            entries.append(entry)
            return name
        return None

    def _sibling_on(self, name: str, channel: int, state: SensorState) -> bool:
        """Another device code sharing this public name and channel is on (shelteralarm)."""
        if self._device is None or name not in _SHARED_NAMES:
            return False
        for other in self._device.sensor_states():
            if (other.key != state.key and other.key.channel == channel and other.is_on
                    and compat_name(other.key.code) == name):
                return True
        return False

    def fetch_attributes(self, event: str, channel: Any) -> Optional[list]:
        """The ``[is_on, channel, count, last_update, target]`` entry of a sensor, or None."""
        try:
            channel = int(channel)
        except (TypeError, ValueError):
            return None
        with self._states_lock:
            for entry in (self.event_states or {}).get(event, ()):
                if entry[1] == channel:
                    return entry
        return None

    def inject_events(self, events: Dict[str, Iterable[int]]) -> None:
        """Add sensors by friendly name (``{"Motion": [1, 2]}``); duplicates are ignored."""
        if self.event_states is None:
            return
        for name, channels in events.items():
            code = _CODE_OF_NAME.get(name, name)
            for channel in channels:
                if self._device is not None:
                    self._device.add_sensor(code, int(channel))
                with self._states_lock:
                    entries = self.event_states.setdefault(name, [])
                    if not any(e[1] == int(channel) for e in entries):
                        entries.append([False, int(channel), 0, local_now(), None])

    # -- callbacks -----------------------------------------------------------------------
    def add_update_callback(self, callback: Callback, sensor: str) -> None:
        """Call ``callback(sensor)`` when the sensor ``"ID.Event Name.channel"`` changes."""
        with self._callbacks_lock:
            self._callbacks = self._callbacks + [(callback, sensor)]

    def remove_update_callback(self, callback: Callback, sensor: str) -> None:
        """Undo add_update_callback; removing an unknown pair is a no-op."""
        with self._callbacks_lock:
            callbacks = list(self._callbacks)
            if (callback, sensor) in callbacks:
                callbacks.remove((callback, sensor))
                self._callbacks = callbacks

    def _on_change(self, change: Change) -> None:
        with self._states_lock:
            name = self._store(change.sensor)
        if name is None:
            return
        msg = f"{self.cam_id}.{name}.{change.sensor.key.channel}"
        self._dispatch([(callback, msg) for callback, sensor in self._callbacks if sensor == msg])

    def _on_connection(self, connected: bool) -> None:
        self._dispatch(self._callbacks)

    def _dispatch(self, calls: Iterable[Tuple[Callback, str]]) -> None:
        """Through the watcher's gate: a callback that called disconnect() is the last."""
        assert self._device is not None  # the watcher that calls this is the device's
        watcher = self._device.watcher
        for callback, msg in calls:
            if not watcher.call(callback, msg):
                return

    # -- stream --------------------------------------------------------------------------
    def start_stream(self) -> None:
        """Open the alert stream on a background thread; returns at once."""
        if self._device is None or self.event_states is None:
            _LOGGER.error("Cannot start the stream of a device that failed to set up")
            return
        self._device.start()

    def disconnect(self) -> None:
        """Close the stream; bounded (about a second at most), idempotent.

        No new callback starts after it returns. Called from inside a callback (they all
        run on this camera's own stream thread), it returns at once and that callback is
        the last one.
        """
        if self._device is None:
            return
        self._device.stop()
        self._device.client.close()  # idle keep-alive sockets; start_stream() still works
        with self._states_lock:  # sensors were released silently: show them off
            for state in self._device.sensor_states():
                self._store(state, create=False)

    # -- device queries ------------------------------------------------------------------
    def get_event_triggers(self, notification_methods: Optional[Iterable[str]] = None
                           ) -> Optional[Dict[str, List[int]]]:
        """Raw device code -> channels whose trigger notifies by one of the methods."""
        if self._device is None:
            return None
        triggers = self._device.client.triggers(notification_methods)
        events: Dict[str, List[int]] = {}
        for trigger in triggers:
            channels = events.setdefault(trigger.event, [])
            channel = sensor_channel_of(trigger)
            if channel not in channels:
                channels.append(channel)
        return events

    def get_motion_detection(self) -> Optional[bool]:
        """Read whether motion detection is enabled on channel 1 (None on failure)."""
        self.motion_detection = self._query("read motion detection",
                                            lambda c: c.motion_detection(1))
        return self.motion_detection

    def enable_motion_detection(self) -> None:
        self._set_motion_detection(True)

    def disable_motion_detection(self) -> None:
        self._set_motion_detection(False)

    def _set_motion_detection(self, enable: bool) -> None:
        if self._query("set motion detection", lambda c: c.set_motion_detection(enable, 1)):
            self.motion_detection = enable

    def get_snapshot(self, channel: int = 1) -> Optional[bytes]:
        """A JPEG still of a channel, or None."""
        return self._query("fetch a snapshot",
                           lambda c: c.snapshot(channel, nvr=self.device_type == NVR_DEVICE))

    def get_stream_url(self, channel: int = 1, protocol: str = "rtsp", stream_type: int = 1) -> str:
        """``rtsp://user:pass@host:554/Streaming/Channels/<n>`` for a channel."""
        number = channel * 100 + stream_type if self.device_type == NVR_DEVICE else stream_type
        user = quote(self.usr or "", safe="")
        password = quote(self.pwd or "", safe="")
        return (f"{protocol}://{user}:{password}@{url_host(self.host)}:{DEFAULT_RTSP_PORT}"
                f"/Streaming/Channels/{number}")

    def get_channels(self) -> List[int]:
        """Channel numbers that have sensors; ``[1]`` when none."""
        with self._states_lock:
            channels = {e[1] for entries in (self.event_states or {}).values() for e in entries
                        if e[1] > 0}
        return sorted(channels) or [1]

    def _query(self, what: str, call: Callable[[IsapiClient], Any]) -> Any:
        if self._device is None:
            return None
        try:
            return call(self._device.client)
        except (PyhikError, requests.exceptions.RequestException) as err:
            _LOGGER.warning("%s: could not %s: %s", self.name or self.root_url, what, err)
            return None


def inject_events_into_camera(camera: HikCamera, events: Dict[str, Iterable[int]]) -> None:
    """Add sensors to a camera by friendly name (see :meth:`HikCamera.inject_events`)."""
    camera.inject_events(events)


def get_video_channels(host: str, port: int, username: str, password: str,
                       ssl: bool = False) -> List[VideoChannel]:
    """The video channels of a device; ``[]`` on any failure (callers do not catch)."""
    try:
        # split_host reads the host, as for every entry point ([IPv6], a scheme, a port)
        client = IsapiClient(host, port, username, password, ssl=bool(ssl), verify_ssl=bool(ssl))
    except Exception as err:  # the message never quotes a password written in the host
        _LOGGER.error("Unable to fetch video channels: %s", err)
        return []
    try:
        return list(client.video_channels())
    except Exception as err:  # the contract is: never raise
        _LOGGER.error("Unable to fetch video channels from %s: %s", client.base_url, err)
        return []
    finally:
        client.close()


__all__ = ["HikCamera", "VideoChannel", "get_video_channels", "inject_events_into_camera"]
