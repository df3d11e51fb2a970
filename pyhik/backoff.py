"""Reconnect delays: exponential backoff with jitter and a cap (pure)."""

from __future__ import annotations

import random
from typing import Callable, Optional

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
