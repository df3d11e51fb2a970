"""One shared timer thread that runs each device's next deadline (stale events, holds).

A thread per sensor (as ``threading.Timer`` would give) does not scale to hundreds of
devices; each device keeps at most one entry here, the earliest moment its sensor book
has work (``SensorBook.next_deadline``). Callbacks run on the timer thread, so they must
be short; device callbacks only apply the expiry and dispatch its changes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Dict, Hashable, List, Optional, Tuple

_LOGGER = logging.getLogger(__name__)

Callback = Callable[[], None]


class Scheduler:
    """Runs ``callback`` at monotonic time ``when``; one pending entry per owner.

    The heap holds about one entry per owner: moving a deadline later (every refreshing
    alert does) only updates the owner's wish, and the entry is re-armed when it comes
    due; only an earlier deadline pushes a new entry. (One push per alert left 20,000
    dead entries after a burst, and purging them stalled ``schedule()`` callers.)
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, name: str = "pyhik-timers") -> None:
        self._clock = clock
        self._name = name
        self._cond = threading.Condition()
        self._heap: List[Tuple[float, int, Hashable]] = []
        self._pending: Dict[Hashable, Tuple[float, Callback]] = {}
        self._queued: Dict[Hashable, Tuple[float, int]] = {}
        self._seq = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def schedule(self, owner: Hashable, when: Optional[float], callback: Callback) -> None:
        """Replace ``owner``'s pending entry with one at ``when`` (None cancels it)."""
        with self._cond:
            if when is None:
                self._pending.pop(owner, None)
                return
            self._pending[owner] = (when, callback)
            queued = self._queued.get(owner)
            if queued is not None and queued[0] <= when:
                return  # the queued entry comes first and re-arms itself
            seq = next(self._seq)
            self._queued[owner] = (when, seq)
            heapq.heappush(self._heap, (when, seq, owner))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif self._heap[0][1] == seq:
                self._cond.notify()

    def cancel(self, owner: Hashable) -> None:
        self.schedule(owner, None, lambda: None)

    def pending(self, owner: Hashable) -> Optional[float]:
        """When ``owner``'s entry is due, or None."""
        with self._cond:
            entry = self._pending.get(owner)
            return entry[0] if entry else None

    def __len__(self) -> int:
        """Entries in the heap (live and superseded), for tests and benchmarks."""
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                callback = self._next_due()
            if callback is None:
                return
            try:
                callback()
            except Exception:  # a timer must never die of one device's failure
                _LOGGER.exception("timer callback failed")

    def _next_due(self) -> Optional[Callback]:
        """Wait (holding the condition) for the next due entry; None ends an idle thread."""
        while True:
            while self._heap:
                when, seq, owner = self._heap[0]
                if self._queued.get(owner, (None, None))[1] != seq:
                    heapq.heappop(self._heap)  # superseded by an earlier entry
                    continue
                wish = self._pending.get(owner)
                if wish is None:  # cancelled
                    heapq.heappop(self._heap)
                    del self._queued[owner]
                    continue
                if wish[0] > when:  # moved later since queued: re-arm
                    heapq.heapreplace(self._heap, (wish[0], seq, owner))
                    self._queued[owner] = (wish[0], seq)
                    continue
                delay = when - self._clock()
                if delay <= 0:
                    heapq.heappop(self._heap)
                    del self._pending[owner], self._queued[owner]
                    return wish[1]
                self._cond.wait(delay)
                break
            else:
                if not self._cond.wait(60.0) and not self._heap:
                    self._thread = None
                    return None


_shared: Optional[Scheduler] = None
_shared_lock = threading.Lock()


def shared_scheduler() -> Scheduler:
    """The process-wide scheduler, created on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Scheduler()
        return _shared
