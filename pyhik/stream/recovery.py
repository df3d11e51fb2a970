"""When a silent stream counts as dead, and how long to wait before the next try (pure).

Any byte proves the stream alive. Devices send a heartbeat every 10 s (every 300 ms on
old firmware) and Hikvision's own guide calls a stream dead after 30 s without one, so
once heartbeats have been seen the limit is three heartbeat periods, and never under
30 s. Some devices send no heartbeat at all: until one is seen a longer limit applies,
so such a device is not reconnected every half minute.

The period is the largest of the last ``window`` gaps between heartbeats, so the limit
adapts both ways: a late heartbeat stretches it (a device that is sometimes late is not
cut off), and once the device has sent ``window`` regular heartbeats after it, the short
limit is back (one late heartbeat does not make a dead stream go unnoticed for 120 s for
the rest of the device's life).
"""

from __future__ import annotations

import random
from collections import deque
from typing import Callable, Deque, Optional

INITIAL_DELAY_S = 1.0
MAX_DELAY_S = 60.0
AUTH_RETRY_S = 300.0
"""Wait after a rejected password. Hikvision locks the client's address after 7 failed
admin logins (5 for other users) for up to 30 minutes, so retries must be rare."""


class Backoff:
    """Delays of 1, 2, 4 ... seconds up to a cap, each with +-``jitter`` spread.

    ``reset()`` after a healthy connection starts again from the first delay.
    """

    def __init__(self, initial_s: float = INITIAL_DELAY_S, max_s: float = MAX_DELAY_S, *,
                 jitter: float = 0.2, rand: Optional[Callable[[], float]] = None) -> None:
        if initial_s <= 0 or max_s < initial_s or not 0 <= jitter < 1:
            raise ValueError("need 0 < initial_s <= max_s and 0 <= jitter < 1")
        self.initial_s = initial_s
        self.max_s = max_s
        self.jitter = jitter
        self._rand = rand or random.random
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        base = min(self.max_s, self.initial_s * (2 ** min(self.attempts, 32)))
        self.attempts += 1
        spread = base * self.jitter * (2 * self._rand() - 1)
        return max(0.0, min(self.max_s, base + spread))

    def reset(self) -> None:
        self.attempts = 0


MIN_LIMIT_S = 30.0
HEARTBEAT_FACTOR = 3.0
SILENT_LIMIT_S = 120.0
WINDOW = 10
"""Heartbeat gaps remembered: at 10 s heartbeats, a late one counts for about 100 s."""


class Watchdog:
    """Tracks heartbeats and gives the current silence limit in seconds."""

    def __init__(self, *, min_limit_s: float = MIN_LIMIT_S, factor: float = HEARTBEAT_FACTOR,
                 silent_limit_s: float = SILENT_LIMIT_S, window: int = WINDOW) -> None:
        if min_limit_s <= 0 or factor < 1 or silent_limit_s < min_limit_s or window < 1:
            raise ValueError("need 0 < min_limit_s <= silent_limit_s, factor >= 1, window >= 1")
        self.min_limit_s = min_limit_s
        self.factor = factor
        self.silent_limit_s = silent_limit_s
        self.heartbeats = 0
        self.last_byte: Optional[float] = None
        self._last_heartbeat: Optional[float] = None
        self._gaps: Deque[float] = deque(maxlen=window)
        self.limit_s = silent_limit_s
        """Seconds of silence after which the connection is declared dead."""

    @property
    def interval_s(self) -> Optional[float]:
        """The heartbeat period the limit is based on (the largest recent gap), or None."""
        return max(self._gaps) if self._gaps else None

    def _limit(self) -> float:
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
            # A gap longer than the silent limit is an outage, not a period.
            if gap < self.silent_limit_s:
                self._gaps.append(gap)
        self._last_heartbeat = now
        self.heartbeats += 1
        self.limit_s = self._limit()  # read on every wait of the stream thread: kept

    def due_at(self) -> Optional[float]:
        """The moment the stream counts as dead if no byte comes first (None before reset)."""
        return None if self.last_byte is None else self.last_byte + self.limit_s

    def expired(self, now: float) -> bool:
        """True when ``now`` is at or past the limit since the last byte."""
        return self.last_byte is not None and now - self.last_byte >= self.limit_s
