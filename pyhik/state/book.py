"""Sensor state machine: alerts and clock values in, sensor changes out (pure, no I/O).

Everything that decides whether a sensor is on lives in this file. The rules:

1. A sensor is one (event type, channel) pair. IO sensors are keyed by the IO input port,
   events with no channel (disk full, IP conflict, ...) by channel 1, as the public pyhik
   does. Aliases share a sensor (``defocus`` is ``tamperdetection``).
2. An ``active`` alert starts (or refreshes) an event: the sensor turns on, and a new trip
   is counted when the event was not already in progress.
3. An ``inactive`` alert ends the event. So does silence: an event with no ``active``
   refresh for ``stale_s`` seconds (5 by default) is over, because many devices send only
   ``active`` for line crossing, intrusion, face detection ... and the end is never sent.
4. When an event ends, a sensor with a hold (the ``delay`` customize option) stays on for
   ``hold_s`` more seconds; a new trip inside that window keeps it on and the window starts
   again when that trip ends.
5. Heartbeats (``videoloss inactive`` and friends) are not sensors, and Video Loss is a
   sensor only when asked for (``track_video_loss``). Retransmitted alerts
   (``isDataRetransmission``) are replays of the past and change nothing.
6. Alerts for a type or channel the device's trigger list did not announce create the
   sensor on the fly (logged once), unless the user ignored that sensor.
7. When the stream is lost, sensors that were on are released at once: the end of their
   event will never be seen.

Time comes in as arguments: ``now`` is a monotonic clock value in seconds (deadlines),
``wall`` the wall-clock time reported to users. Nothing here reads a clock or a socket.
The book is not thread-safe; its owner serialises calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Dict, List, NamedTuple, Optional, Set, Union

from pyhik.protocol import events
from pyhik.protocol.alerts import Alert
from pyhik.protocol.events import EventType

_LOGGER = logging.getLogger(__name__)

STALE_S = 5.0
"""Seconds after the last ``active`` refresh at which an event counts as over."""

VIDEO_LOSS = "videoloss"


class SensorKey(NamedTuple):
    """Identity of a sensor inside one device: canonical event code and channel."""

    code: str
    channel: int


@dataclass(frozen=True)
class SensorState:
    """A read-only snapshot of one sensor."""

    key: SensorKey
    event_type: EventType
    is_on: bool = False
    count: int = 0
    """Trips seen since the sensor was created."""
    last_tripped: Optional[datetime] = None
    """Wall time of the last trip (start of an event), None if never."""
    last_update: Optional[datetime] = None
    """Wall time of the last alert or change for this sensor."""
    target: Optional[str] = None
    """Detection target (``human`` / ``vehicle``) of the last trip, where the device said."""
    hold_s: float = 0.0
    """Seconds the sensor stays on after its event ends (the ``delay`` option)."""

    @property
    def channel(self) -> int:
        return self.key.channel


@dataclass(frozen=True)
class Change:
    """What one alert or clock tick did to one sensor."""

    sensor: SensorState
    """The sensor after the change."""
    old: bool
    new: bool
    at: datetime
    created: bool = False
    """The sensor did not exist before this alert (announced by no trigger)."""


def _evolve(state: SensorState, **changes: object) -> SensorState:
    """``dataclasses.replace`` for SensorState without its per-call field introspection
    (it was ~9% of the client's time per alert in the end-to-end benchmark)."""
    new = object.__new__(SensorState)
    new.__dict__.update(state.__dict__, **changes)
    return new


class _Entry:
    """Mutable book-keeping behind a SensorState."""

    __slots__ = ("state", "in_event", "release_at", "hold_until")

    def __init__(self, state: SensorState) -> None:
        self.state = state
        self.in_event = False
        self.release_at: Optional[float] = None
        self.hold_until: Optional[float] = None


EventLike = Union[str, EventType]


def _etype(event: EventLike) -> EventType:
    if isinstance(event, EventType):
        return event
    return events.lookup(event) or events.by_name(event) or events.unknown(event)


def sensor_channel(alert: Alert, etype: EventType) -> int:
    """The channel a sensor for this alert is keyed by (IO port for IO events)."""
    if etype.io:
        number = alert.io_port if alert.io_port is not None else alert.channel
    else:
        number = alert.channel if alert.channel is not None else alert.io_port
    return number if number else 1


class SensorBook:
    """All sensors of one device and the rules that move them (see the module doc)."""

    def __init__(self, *, stale_s: float = STALE_S, track_video_loss: bool = False) -> None:
        if stale_s <= 0:
            raise ValueError("stale_s must be positive")
        self.stale_s = stale_s
        self.track_video_loss = track_video_loss
        self._entries: Dict[SensorKey, _Entry] = {}
        self._ignored: Set[SensorKey] = set()
        self._preset_holds: Dict[SensorKey, float] = {}

    # -- the set of sensors ----------------------------------------------------------
    def add(self, event: EventLike, channel: int, *, hold_s: Optional[float] = None,
            wall: Optional[datetime] = None) -> SensorState:
        """Create a sensor (off) unless it exists; set its hold when one is given."""
        etype = _etype(event)
        key = SensorKey(etype.code, channel or 1)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._create(key, etype, wall)
        if hold_s is not None:
            self.set_hold(key, hold_s)
        return entry.state

    def _create(self, key: SensorKey, etype: EventType, wall: Optional[datetime]) -> _Entry:
        hold_s = self._preset_holds.get(key, 0.0)
        entry = self._entries[key] = _Entry(SensorState(key, etype, last_update=wall,
                                                        hold_s=hold_s))
        return entry

    def ignore(self, event: EventLike, channel: int) -> None:
        """Drop this sensor and every alert for it from now on."""
        key = SensorKey(_etype(event).code, channel or 1)
        self._ignored.add(key)
        self._entries.pop(key, None)

    def set_hold(self, key: SensorKey, hold_s: float) -> None:
        """Set a sensor's hold; for a sensor not created yet, it applies on creation."""
        if hold_s < 0:
            raise ValueError("hold_s must not be negative")
        self._preset_holds[key] = float(hold_s)
        entry = self._entries.get(key)
        if entry is not None:
            entry.state = _evolve(entry.state, hold_s=float(hold_s))

    def get(self, key: SensorKey) -> Optional[SensorState]:
        entry = self._entries.get(key)
        return entry.state if entry else None

    def states(self) -> List[SensorState]:
        """Snapshots of every sensor, in creation order."""
        return [entry.state for entry in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)

    # -- transitions --------------------------------------------------------------------
    def apply(self, alert: Alert, now: float, wall: datetime) -> List[Change]:
        """Apply one alert received at ``now``; return what changed, in order.

        Usually 0 or 1 changes; 2 when the sensor's stale end or hold was already due
        (an off before the alert's new on).
        """
        if alert.retransmission:
            return []
        etype = alert.event_type
        is_video_loss = etype.code == VIDEO_LOSS
        if is_video_loss and not self.track_video_loss:
            return []
        if alert.heartbeat and not is_video_loss:
            return []
        key = SensorKey(etype.code, sensor_channel(alert, etype))
        if key in self._ignored:
            return []
        entry = self._entries.get(key)
        if entry is None:
            _LOGGER.info("%s on channel %s is not in the device's trigger list; "
                         "created its sensor from the alert", etype.name, key.channel)
            entry = self._create(key, etype, wall)
            change = self._alert(entry, alert, now, wall)
            state = entry.state
            return [replace(change, created=True) if change
                    else Change(state, False, state.is_on, wall, created=True)]
        # Deadlines already due come first, so the outcome never depends on how late the
        # wakeup that would have run them is.
        changes = self._expire_entry(entry, now, wall)
        change = self._alert(entry, alert, now, wall)
        return changes + [change] if change else changes

    def _alert(self, entry: _Entry, alert: Alert, now: float, wall: datetime) -> Optional[Change]:
        if alert.active:
            return self._start(entry, alert, now, wall)
        change = self._end(entry, end_at=now, wall=wall)
        entry.state = _evolve(entry.state, last_update=wall)
        return change

    def expire(self, now: float, wall: datetime) -> List[Change]:
        """End stale events and finished holds due by ``now``; return the changes."""
        changes = []
        for entry in self._entries.values():
            changes += self._expire_entry(entry, now, wall)
        return changes

    def _expire_entry(self, entry: _Entry, now: float, wall: datetime) -> List[Change]:
        changes = []
        if entry.in_event and entry.release_at is not None and entry.release_at <= now:
            change = self._end(entry, end_at=entry.release_at, wall=wall)
            if change:
                changes.append(change)
        if not entry.in_event and entry.hold_until is not None and entry.hold_until <= now:
            entry.hold_until = None
            change = self._report(entry, False, wall)
            if change:
                changes.append(change)
        return changes

    def next_deadline(self) -> Optional[float]:
        """The earliest monotonic time at which :meth:`expire` has work, or None."""
        deadline = None
        for entry in self._entries.values():
            for when in (entry.release_at if entry.in_event else None, entry.hold_until):
                if when is not None and (deadline is None or when < deadline):
                    deadline = when
        return deadline

    def release_all(self, wall: datetime) -> List[Change]:
        """The stream is lost: turn every sensor off now, holds included."""
        changes = []
        for entry in self._entries.values():
            entry.in_event = False
            entry.release_at = entry.hold_until = None
            change = self._report(entry, False, wall)
            if change:
                changes.append(change)
        return changes

    # -- internals ----------------------------------------------------------------------
    def _start(self, entry: _Entry, alert: Alert, now: float, wall: datetime) -> Optional[Change]:
        state = entry.state
        if not entry.in_event:
            entry.in_event = True
            state = _evolve(state, count=state.count + 1, last_tripped=wall,
                           target=alert.target or state.target)
        elif alert.target:
            state = _evolve(state, target=alert.target)
        entry.release_at = now + self.stale_s
        entry.hold_until = None
        entry.state = _evolve(state, last_update=wall)
        return self._report(entry, True, wall)

    def _end(self, entry: _Entry, end_at: float, wall: datetime) -> Optional[Change]:
        if not entry.in_event:
            return None
        entry.in_event = False
        entry.release_at = None
        if entry.state.hold_s > 0 and entry.state.is_on:
            entry.hold_until = end_at + entry.state.hold_s
            return None
        return self._report(entry, False, wall)

    @staticmethod
    def _report(entry: _Entry, is_on: bool, wall: datetime) -> Optional[Change]:
        old = entry.state.is_on
        if old == is_on:
            return None
        entry.state = _evolve(entry.state, is_on=is_on, last_update=wall)
        return Change(entry.state, old, is_on, wall)

