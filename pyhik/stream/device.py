"""One camera or NVR: its ISAPI client, its sensor book and its stream watcher, together.

``HikDevice`` is the library's own face of a device; the drop-in ``HikCamera`` and the
Home Assistant style ``pyhik.sensors.entities`` are built on it, top-down: each calls
``connect()`` once, gets a :class:`DeviceProfile` (identity and the announced sensors) and
builds its sensors from it; listeners are added on ``device.watcher``, which calls them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, List, Mapping, Optional, Sequence, Tuple

from pyhik.errors import PermissionDeniedError
from pyhik.isapi.client import DeviceInfo, IsapiClient, Trigger
from pyhik.isapi.http import Verify
from pyhik.isapi.models import is_recorder
from pyhik.state.book import STALE_S, VIDEO_LOSS, Change, SensorBook, SensorKey, SensorState

from .recovery import AUTH_RETRY_S, Backoff, Watchdog
from .watcher import AlertWatcher, local_now

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceProfile:
    """What a face needs of a device, read in one go by :meth:`HikDevice.connect`: who it
    is, whether it is a recorder, and the sensors its trigger list announces."""

    name: str
    """deviceName, else the host."""
    device_id: str
    """A stable id: deviceID, else serial number, else MAC, else host:port."""
    is_nvr: bool
    """deviceInfo says recorder, or a trigger is on a channel above 1."""
    sensor_states: Tuple[SensorState, ...] = ()
    """The device's sensors right after the read: one per announced (event type, channel
    or IO port), in trigger order (after any added before)."""
    info: Optional[DeviceInfo] = None
    """deviceInfo as read; None before the device was read."""

    @property
    def kind(self) -> str:
        return "NVR" if self.is_nvr else "CAM"

    @classmethod
    def of(cls, host: str, port: int, info: Optional[DeviceInfo] = None,
           triggers: Sequence[Trigger] = (),
           sensor_states: Tuple[SensorState, ...] = ()) -> "DeviceProfile":
        ids = (info.device_id, info.serial, info.mac) if info else ()
        return cls(name=info.name if info and info.name else host,
                   device_id=next((i for i in ids if i and i.strip()), f"{host}:{port}"),
                   is_nvr=is_recorder(info, triggers),
                   sensor_states=sensor_states, info=info)


class HikDevice:
    """A Hikvision device whose alert stream drives a set of on/off sensors.

    ``connect()`` reads deviceInfo and the trigger list (blocking, raises the typed errors
    of :mod:`pyhik.errors`), creates one sensor per (event type, channel or IO port) that
    notifies the surveillance center, and returns all a face needs as a
    :class:`DeviceProfile`. ``start()`` opens the stream on a thread of
    its own, where every listener of the device runs; ``stop()`` closes it within a
    second (see :meth:`AlertWatcher.stop`).
    """

    def __init__(self, host: str, port: int = 80, username: Optional[str] = None,
                 password: Optional[str] = None, *, ssl: Optional[bool] = None,
                 verify_ssl: Verify = True, notification_methods: Optional[Iterable[str]] = None,
                 stale_s: float = STALE_S, track_video_loss: bool = False,
                 client: Optional[IsapiClient] = None,
                 backoff: Optional[Backoff] = None, watchdog: Optional[Watchdog] = None,
                 auth_retry_s: float = AUTH_RETRY_S,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = local_now) -> None:
        self.client = client or IsapiClient(host, port, username, password, ssl=ssl,
                                            verify_ssl=verify_ssl)
        self.notification_methods = (frozenset(notification_methods)
                                     if notification_methods is not None else None)
        self.book = SensorBook(stale_s=stale_s, track_video_loss=track_video_loss)
        label = self.client.host
        if self.client.port not in (80, 443):
            label = f"{label}:{self.client.port}"
        self.watcher = AlertWatcher(self.client, self.book, name=label,
                                    backoff=backoff, watchdog=watchdog,
                                    auth_retry_s=auth_retry_s, clock=clock, wall=wall)
        self._wall = wall
        self.profile = DeviceProfile.of(self.client.host, self.client.port)
        """What the last :meth:`connect` read (until then: the address only)."""

    # -- discovery ----------------------------------------------------------------------
    def connect(self) -> DeviceProfile:
        """Read deviceInfo and triggers, create the sensors they announce, and return all
        of that as one :class:`DeviceProfile` (also kept as :attr:`profile`)."""
        host = self.client.host
        info = self.client.device_info()
        try:
            # A recorder by deviceInfo is one; else the client judges by the channels.
            triggers = self.client.triggers(self.notification_methods,
                                            is_nvr=True if info.is_nvr else None)
        except PermissionDeniedError as err:  # common for operator accounts
            _LOGGER.warning("%s: cannot read the event triggers (%s); sensors will be "
                            "created from the alerts as they come", host, err)
            triggers = []
        wall = self._wall()
        with self.watcher.state_lock:
            for trigger in triggers:
                if trigger.event.lower() == VIDEO_LOSS and not self.book.track_video_loss:
                    continue  # videoloss doubles as the heartbeat; a sensor only on request
                self.book.add(trigger.event, sensor_channel_of(trigger), wall=wall)
            states = tuple(self.book.states())
        profile = self.profile = DeviceProfile.of(host, self.client.port, info, triggers, states)
        _LOGGER.debug("%s: %s %s with %d sensors", host, profile.kind, profile.name, len(states))
        return profile

    # -- sensors ------------------------------------------------------------------------
    def sensor_states(self) -> List[SensorState]:
        """Snapshots of every sensor (safe from any thread)."""
        with self.watcher.state_lock:
            return self.book.states()

    def sensor_state(self, key: SensorKey) -> Optional[SensorState]:
        with self.watcher.state_lock:
            return self.book.get(key)

    def add_sensor(self, event: str, channel: int, *, hold_s: Optional[float] = None) -> SensorState:
        with self.watcher.state_lock:
            return self.book.add(event, channel, hold_s=hold_s, wall=self._wall())

    def configure_sensors(self, *, ignored: Iterable[SensorKey] = (),
                          holds: Optional[Mapping[SensorKey, float]] = None) -> None:
        """Drop the ``ignored`` sensors (alerts do not bring them back) and set the hold of
        others (``holds``: seconds on after the event ends; for a sensor not created yet it
        applies when an alert creates it), in one step."""
        with self.watcher.state_lock:
            for key in ignored:
                self.book.ignore(key.code, key.channel)
            for key, hold_s in (holds or {}).items():
                self.book.set_hold(key, hold_s)

    # -- stream (listeners: on the watcher, which calls them) --------------------------
    @property
    def connected(self) -> bool:
        """True while the alert stream is open."""
        return self.watcher.connected

    def start(self) -> None:
        self.watcher.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the stream within ``timeout`` s; no listener starts after it returns
        (from inside a listener: returns at once, that listener is the last one)."""
        self.watcher.stop(timeout)

    def close(self) -> None:
        """Stop the stream and release the HTTP session."""
        self.stop()
        self.client.close()


def sensor_channel_of(trigger: Trigger) -> int:
    """The sensor channel a trigger stands for: its IO port for IO, else its channel, else 1."""
    if trigger.io_port is not None:
        return trigger.io_port or 1
    return trigger.channel or 1


__all__ = ["HikDevice", "DeviceProfile", "Change", "SensorKey", "SensorState", "sensor_channel_of"]
