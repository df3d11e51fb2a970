"""How long a silent alert stream may stay silent before it counts as dead (pure).

Any byte proves the stream alive. Devices send a heartbeat every 10 s (every 300 ms on
old firmware) and Hikvision's own guide calls a stream dead after 30 s without one, so
once heartbeats have been seen the limit is three heartbeat periods, and never under
30 s. Some devices send no heartbeat at all: until one is seen a longer limit applies,
so such a device is not reconnected every half minute.
"""

from __future__ import annotations

from typing import Optional

MIN_LIMIT_S = 30.0
HEARTBEAT_FACTOR = 3.0
SILENT_LIMIT_S = 120.0


class Watchdog:
    """Tracks heartbeats and gives the current silence limit in seconds."""

    def __init__(self, *, min_limit_s: float = MIN_LIMIT_S, factor: float = HEARTBEAT_FACTOR,
                 silent_limit_s: float = SILENT_LIMIT_S) -> None:
        if min_limit_s <= 0 or factor < 1 or silent_limit_s < min_limit_s:
            raise ValueError("need 0 < min_limit_s <= silent_limit_s and factor >= 1")
        self.min_limit_s = min_limit_s
        self.factor = factor
        self.silent_limit_s = silent_limit_s
        self.interval_s: Optional[float] = None
        self.heartbeats = 0
        self.last_byte: Optional[float] = None
        self._last_heartbeat: Optional[float] = None

    @property
    def limit_s(self) -> float:
        """Seconds of silence after which the connection is declared dead."""
        if not self.heartbeats:
            return self.silent_limit_s
        interval = self.interval_s or 0.0
        return min(self.silent_limit_s, max(self.min_limit_s, self.factor * interval))

    def reset(self, now: float) -> None:
        """A new connection: what was learnt of the heartbeat period is kept."""
        self.last_byte = now
        self._last_heartbeat = None

    def saw_bytes(self, now: float) -> None:
        self.last_byte = now

    def saw_heartbeat(self, now: float) -> None:
        if self._last_heartbeat is not None:
            gap = now - self._last_heartbeat
            # The largest gap seen rules: a device that sometimes sends late must not be
            # cut off; a gap longer than the silent limit is an outage, not a period.
            if gap < self.silent_limit_s and (self.interval_s is None or gap > self.interval_s):
                self.interval_s = gap
        self._last_heartbeat = now
        self.heartbeats += 1

    def expired(self, now: float) -> bool:
        """True when ``now`` is past the limit since the last byte."""
        return self.last_byte is not None and now - self.last_byte > self.limit_s
