"""Callback lists that any thread may change while the stream thread calls them.

One :class:`Listeners` per kind of callback (changes, connection, alerts; a face's own):
adding and removing take a lock and make a new tuple, so a dispatch in progress keeps the
tuple it started with and never holds the lock while a callback runs.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, Iterator, Tuple, TypeVar

T = TypeVar("T")


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
