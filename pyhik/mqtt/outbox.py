"""The ``events`` topic's numbering and its bounded backlog (pure: no I/O, no clock).

Each device's events are numbered from 1 at each bridge start (``seq``). An event stays in
the backlog until the broker acknowledged it (QoS 1 PUBACK), so that nothing published into
a connection that then died is lost: after a reconnect every unacknowledged event is sent
again, in order. Past ``capacity`` the oldest go; the loss is counted for the log.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Deque, Dict, List, Optional

from .payloads import SensorView, event_payload

MIN_CAPACITY = 10_000


class Pending:
    """One event waiting for its acknowledgement."""

    __slots__ = ("topic", "payload", "seq", "mid")

    def __init__(self, topic: str, payload: str, seq: int) -> None:
        self.topic = topic
        self.payload = payload
        self.seq = seq
        self.mid: Optional[int] = None
        """The message id on the current connection; None while not sent on it."""


class EventOutbox:
    """Per-device ``seq`` counters and the bounded, ordered backlog of unacknowledged events.

    Not thread-safe: its owner serialises calls.
    """

    def __init__(self, capacity: int = MIN_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._seq: Dict[str, int] = {}
        self._pending: Deque[Pending] = deque()
        self._by_mid: Dict[int, Pending] = {}
        self._lost = 0

    def add(self, topic: str, view: SensorView, time: datetime) -> Pending:
        """Number a new event on ``topic`` (one device's events topic) and queue it."""
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        entry = Pending(topic, event_payload(seq, view, time), seq)
        self._pending.append(entry)
        while len(self._pending) > self.capacity:
            old = self._pending.popleft()
            if old.mid is not None:
                self._by_mid.pop(old.mid, None)
            self._lost += 1
        return entry

    def unsent(self) -> List[Pending]:
        """Events not yet sent on the current connection, oldest first."""
        return [entry for entry in self._pending if entry.mid is None]

    def mark_sent(self, entry: Pending, mid: int) -> None:
        entry.mid = mid
        self._by_mid[mid] = entry

    def acknowledged(self, mid: int) -> bool:
        """The broker has the event sent as ``mid``: forget it. False for other mids."""
        entry = self._by_mid.pop(mid, None)
        if entry is None:
            return False
        if self._pending and self._pending[0] is entry:
            self._pending.popleft()
        else:
            try:
                self._pending.remove(entry)
            except ValueError:
                pass
        return True

    def new_connection(self) -> None:
        """The connection changed: every event still here must be sent again."""
        for entry in self._pending:
            entry.mid = None
        self._by_mid.clear()

    def take_lost(self) -> int:
        """Events dropped (backlog full) since the last call."""
        lost, self._lost = self._lost, 0
        return lost

    def __len__(self) -> int:
        return len(self._pending)
