"""Callback lists that any thread may change while the stream thread calls them, and the
gate every callback of a watcher passes.

One :class:`Listeners` per kind of callback (changes, connection, alerts; a face's own):
adding and removing take a lock and make a new tuple, so a dispatch in progress keeps the
tuple it started with and never holds the lock while a callback runs. A :class:`Gate`
(one per start()..stop() run of a watcher) admits callbacks until the run is stopped: a
callback that calls stop() is the last one, and none starts once stop() has returned.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Generic, Iterator, Tuple, TypeVar

T = TypeVar("T")

_LOGGER = logging.getLogger(__name__)


class Gate:
    """Admits callbacks until ``stopped`` is set; counts the one running (for stop())."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.calls = 0  # callbacks running now (nested: a face's listener inside the watcher's)

    def enter(self) -> bool:
        """Admit one callback; False once stopped (then it must not start)."""
        with self.lock:
            if self.stopped.is_set():
                return False
            self.calls += 1
            return True

    def leave(self) -> None:
        with self.lock:
            self.calls -= 1
            if not self.calls and self.stopped.is_set():  # only stop() waits
                self.cond.notify_all()

    def wait_calls(self, timeout: float) -> bool:
        """Wait (bounded) until no callback runs; True if none does."""
        with self.cond:
            return self.cond.wait_for(lambda: not self.calls, max(0.0, timeout))

    def call(self, listener: Callable[[Any], None], arg: Any) -> bool:
        """Run one callback unless stopped (False then: call no more); a raise is logged."""
        if not self.enter():
            return False
        try:
            listener(arg)
        except Exception:
            _LOGGER.exception("%s: a listener raised; the stream goes on", self.name)
        finally:
            self.leave()
        return True


class Listeners(Generic[T]):
    """Callbacks taking a ``T``, in registration order; iterate to call them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: Tuple[Callable[[T], None], ...] = ()

    def add(self, listener: Callable[[T], None]) -> None:
        with self._lock:
            self._all = self._all + (listener,)

    def remove(self, listener: Callable[[T], None]) -> None:
        """Remove every registration of ``listener``; an unknown one is a no-op."""
        with self._lock:
            self._all = tuple(x for x in self._all if x is not listener)

    def __iter__(self) -> Iterator[Callable[[T], None]]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)
