"""A dict with a bound on its size that forgets its oldest entry first (pure)."""

from __future__ import annotations

from typing import Dict, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(Dict[K, V]):
    """A plain dict (lookups cost what a dict's do) whose :meth:`put` keeps at most
    ``cap`` entries, dropping the one stored first. For memos a peer's input fills."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = max(1, int(cap))

    def put(self, key: K, value: V) -> None:
        if key not in self and len(self) >= self.cap:
            del self[next(iter(self))]
        self[key] = value
