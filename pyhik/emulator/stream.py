"""One open alert stream: a queue of ready-made bytes and the thread loop that writes them.

:class:`SentAlert` is the record of one ``push()``, kept by the device.

``push()`` renders and frames an alert once and puts the same bytes on every open stream's
queue; the stream's own thread sleeps on that queue (with the heartbeat period as timeout),
writes what it finds, batching a backlog into one write, and sends a heartbeat when due.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from typing import Callable, List, NamedTuple, Optional

_LOGGER = logging.getLogger(__name__)
MAX_BATCH_ITEMS = 256
STALL_WAIT_S = 1.0

CLOSE = object()
"""Queue item: end the stream now."""
WAKE = object()
"""Queue item: look at the device's state again (stall / resume)."""


class SentAlert(NamedTuple):
    """One ``push()`` as logged in :attr:`EmulatedDevice.sent`."""

    time: float
    """time.monotonic() just before the alert was queued to the streams."""
    event: str
    channel: Optional[int]
    io_port: Optional[int]
    state: str
    delivered_to: int
    """How many open alert streams it was queued to (0: nobody was listening)."""


class StreamConn:
    """An open alert-stream connection as the device sees it."""

    __slots__ = ("sock", "queue", "write_lock", "__weakref__")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.queue: "queue.SimpleQueue[object]" = queue.SimpleQueue()
        self.write_lock = threading.Lock()

    def put(self, item: object) -> None:
        self.queue.put(item)

    def close(self) -> None:
        """Ask the sender to end and cut the connection at once (even mid-write)."""
        self.queue.put(CLOSE)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait_idle(self) -> None:
        """Return once no write is in progress (bounded: a client may not be reading)."""
        if self.write_lock.acquire(timeout=STALL_WAIT_S):
            self.write_lock.release()


def serve(conn: StreamConn, heartbeat_s: Optional[float], is_stalled: Callable[[], bool],
          heartbeat: Callable[[], bytes]) -> None:
    """Write queued bytes and heartbeats to ``conn`` until CLOSE or a write fails.

    ``heartbeat()`` returns the ready-to-send (framed, chunked) heartbeat; while
    ``is_stalled()`` nothing at all is written and queued bytes are held back.
    """
    get = conn.queue.get
    get_nowait = conn.queue.get_nowait
    next_beat = time.monotonic() + heartbeat_s if heartbeat_s else None
    held: List[bytes] = []
    while True:
        timeout = None
        if next_beat is not None and not is_stalled():
            timeout = max(0.0, next_beat - time.monotonic())
        try:
            item = get(timeout=timeout)
        except queue.Empty:
            item = None
        closing = item is CLOSE
        if isinstance(item, bytes):
            held.append(item)
        while not closing and len(held) < MAX_BATCH_ITEMS:
            try:
                more = get_nowait()
            except queue.Empty:
                break
            if more is CLOSE:
                closing = True
            elif isinstance(more, bytes):
                held.append(more)
        with conn.write_lock:
            if is_stalled() or closing:
                if closing:
                    return
                continue
            if next_beat is not None and time.monotonic() >= next_beat:
                held.append(heartbeat())
                next_beat = time.monotonic() + heartbeat_s  # type: ignore[operator]
            if not held:
                continue
            data = held[0] if len(held) == 1 else b"".join(held)
            held.clear()
            try:
                conn.sock.sendall(data)
            except OSError as err:
                _LOGGER.debug("alert stream write failed: %s", err)
                return
