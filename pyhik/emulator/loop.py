"""The device's network thread: accepts connections and notices when a stream's client hangs up.

One thread per device blocks in a selector over the listening socket, a wake-up socket and
every open alert-stream socket. It never polls, and ``stop()`` wakes it at once. A client
closing its end makes the stream socket readable (EOF); the loop then tells the stream's
sender thread, which is otherwise asleep on its queue and would not notice until its next write.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from typing import Any, Callable, Optional

_LOGGER = logging.getLogger(__name__)
_DISCARD_BYTES = 65536
_JOIN_TIMEOUT_S = 1.0


class ServerLoop:
    """Selector thread shared by one device's listening socket and stream sockets."""

    def __init__(self, name: str) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"emulator-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the thread; returns once it has (bounded by a short timeout)."""
        self._running = False
        self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(_JOIN_TIMEOUT_S)

    def add_server(self, server: Any) -> None:
        """Accept connections for ``server`` (a socketserver with ``timeout = 0``)."""
        self._register(server.socket, ("server", server))

    def remove_server(self, server: Any) -> None:
        self._unregister(server.socket)

    def watch(self, sock: socket.socket, on_hangup: Callable[[], None]) -> None:
        """Call ``on_hangup`` (on the loop thread) when the peer closes ``sock``."""
        self._register(sock, ("watch", on_hangup))

    def unwatch(self, sock: socket.socket) -> None:
        """Stop watching; must happen before ``sock`` is closed."""
        self._unregister(sock)

    def _register(self, sock: socket.socket, data: Any) -> None:
        with self._lock:
            if not self._running:
                return
            try:
                self._selector.register(sock, selectors.EVENT_READ, data)
            except (KeyError, ValueError, OSError) as err:
                _LOGGER.debug("cannot watch socket: %s", err)
                return
        # Select-based selectors only see new sockets on their next call.
        self._wake()

    def _unregister(self, sock: socket.socket) -> None:
        with self._lock:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # buffer full (a wake-up is pending anyway) or already closed

    def _run(self) -> None:
        try:
            while self._running:
                for key, _ in self._selector.select():
                    kind, target = key.data
                    if kind == "wake":
                        self._drain_wake()
                    elif kind == "server":
                        self._accept(target)
                    else:
                        self._check_hangup(key.fileobj, target)
        except Exception:  # pragma: no cover - a bug here must not go unseen
            _LOGGER.exception("emulator network loop failed")
        finally:
            with self._lock:
                self._running = False
                self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    @staticmethod
    def _accept(server: Any) -> None:
        try:
            server.handle_request()  # returns at once: server.timeout is 0
        except (OSError, ValueError) as err:
            _LOGGER.debug("accept failed: %s", err)

    def _check_hangup(self, sock: Any, on_hangup: Callable[[], None]) -> None:
        data: Optional[bytes]
        try:
            data = sock.recv(_DISCARD_BYTES, getattr(socket, "MSG_DONTWAIT", 0))
        except BlockingIOError:
            return
        except OSError:
            data = None
        if data:
            return  # a client may send bytes on a stream; nothing reads them
        self._unregister(sock)
        try:
            on_hangup()
        except Exception:  # pragma: no cover
            _LOGGER.exception("hang-up handler failed")
