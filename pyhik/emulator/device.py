"""EmulatedDevice: a fake Hikvision camera or NVR on 127.0.0.1, scriptable from Python."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from pyhik.protocol import events

from . import parts
from .auth import Authenticator, AuthResult
from .documents import Identity, TriggerSpec, default_triggers, event_description, make_identity
from .loop import ServerLoop
from .server import DeviceServer
from .stream import WAKE, SentAlert, StreamConn

_LOGGER = logging.getLogger(__name__)
KINDS = ("camera", "nvr")
RESTART_DOWN_S = 0.5
REBIND_TIMEOUT_S = 2.0
_REBIND_RETRY_S = 0.05


class EmulatedDevice:
    """A real HTTP/1.1 server that answers like a Hikvision camera or NVR.

    ``start()`` binds (``port=0`` picks a free port); every control method below acts on
    every open alert stream at once. Use as a context manager to stop it on exit.
    """

    def __init__(self, name: str = "Front Porch", *, kind: str = "camera", channels: int = 1,
                 username: str = "admin", password: str = "12345", auth: str = "digest",
                 host: str = "127.0.0.1", port: int = 0, heartbeat_s: Optional[float] = 10.0,
                 chunked: bool = True, boundary: str = "boundary",
                 triggers: Optional[Sequence[TriggerSpec]] = None,
                 device_id: Optional[str] = None, serial: Optional[str] = None,
                 mac: Optional[str] = None, model: Optional[str] = None,
                 firmware: str = "V5.7.3") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be 'camera' or 'nvr', not {kind!r}")
        channels = 1 if kind == "camera" else int(channels)
        if channels < 1:
            raise ValueError("an NVR needs at least one channel")
        if heartbeat_s is not None and heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be positive, or None for no heartbeats")
        self.identity: Identity = make_identity(name, kind, channels, device_id=device_id, serial=serial,
                                                mac=mac, model=model, firmware=firmware)
        self.host = host
        self.port = port
        self.heartbeat_s = heartbeat_s
        self.chunked = chunked
        self.boundary = boundary
        self.triggers: List[TriggerSpec] = list(triggers) if triggers is not None \
            else default_triggers(kind, channels)
        self.motion_detection: Dict[int, bool] = dict.fromkeys(range(1, channels + 1), True)
        self.sent: List[SentAlert] = []
        self._auth = Authenticator(username, password, auth, self.identity.realm)
        self._lock = threading.RLock()
        self._streams_changed = threading.Condition(self._lock)
        self._streams: Dict[int, StreamConn] = {}
        self._conns: Set[socket.socket] = set()
        self._opened = 0
        self._auth_failures = 0
        self._stalled = False
        self._stream_status: Optional[int] = None
        self._post_counts: Dict[Tuple[str, Optional[int], Optional[int]], int] = {}
        self._generation = 0
        self._running = False
        self._stopped = threading.Event()
        self._server: Optional[DeviceServer] = None
        self._loop: Optional[ServerLoop] = None

    # --- facts --------------------------------------------------------------------------

    name = property(lambda self: self.identity.name, doc="deviceName.")
    kind = property(lambda self: self.identity.kind, doc='``"camera"`` or ``"nvr"``.')
    channels = property(lambda self: self.identity.channels, doc="Video channels.")
    username = property(lambda self: self._auth.username, doc="The user it accepts.")

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (``http://[::1]:PORT`` for IPv6)."""
        return f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    @property
    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    @property
    def streams_opened(self) -> int:
        """Alert streams opened since start (counting those already closed)."""
        with self._lock:
            return self._opened

    @property
    def auth_failures(self) -> int:
        """Requests refused with 401 although they carried credentials."""
        with self._lock:
            return self._auth_failures

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> "EmulatedDevice":
        """Bind and serve in background threads; returns self."""
        with self._lock:
            if self._running:
                return self
            self._stopped = threading.Event()
            self._generation += 1
            server = DeviceServer((self.host, self.port), self, self._generation)
            self.port = server.server_address[1]
            self._server, self._running = server, True
            self._loop = ServerLoop(f"{self.identity.name}:{self.port}")
            self._loop.add_server(server)
            self._loop.start()
        _LOGGER.debug("emulated %s %r serving at %s", self.kind, self.name, self.url)
        return self

    def stop(self) -> None:
        """Close every stream and connection and stop serving; returns promptly."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._stopped.set()
            server, loop = self._server, self._loop
            self._server = None
        self._take_down(server)
        if loop is not None:
            loop.stop()

    def __enter__(self) -> "EmulatedDevice":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def restart(self, down_s: float = RESTART_DOWN_S) -> None:
        """Reboot: drop every connection, refuse new ones for ``down_s``, serve again on the
        same port with fresh nonces. Blocks until the device is back (or stopped)."""
        with self._lock:
            if not self._running:
                return
            self._generation += 1
            server, self._server = self._server, None
        self._take_down(server)
        self._auth.rotate()
        if self._stopped.wait(down_s):
            return
        deadline = time.monotonic() + REBIND_TIMEOUT_S
        while True:
            try:
                new_server = DeviceServer((self.host, self.port), self, self._generation)
                break
            except OSError as err:
                if err.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                self._stopped.wait(_REBIND_RETRY_S)
        with self._lock:
            if not self._running or self._loop is None:
                new_server.server_close()
                return
            self._server = new_server
            self._loop.add_server(new_server)

    def _take_down(self, server: Optional[DeviceServer]) -> None:
        if server is not None:
            if self._loop is not None:
                self._loop.remove_server(server)
            server.server_close()
        self.drop()
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- alert stream control -----------------------------------------------------------

    def push(self, event: str = "VMD", state: str = "active", channel: Optional[int] = 1, *,
             io_port: Optional[int] = None, count: Optional[int] = None, target: Optional[str] = None,
             fmt: str = "xml", retransmission: bool = False, description: Optional[str] = None) -> None:
        """Send one EventNotificationAlert on every open stream (logged in :attr:`sent`).

        An IO event (``"IO"``) without ``io_port`` uses ``channel`` as the input port. With
        ``count`` None, activePostCount climbs with each ``active`` of the same event/channel.
        """
        etype = events.lookup(event)
        if io_port is None and etype is not None and etype.io:
            io_port = channel if channel is not None else 1
        if io_port is not None:
            channel = None
        if count is None:
            key = (event.lower(), channel, io_port)
            with self._lock:
                count = self._post_counts.get(key, 0) + (1 if state == "active" else 0)
                self._post_counts[key] = count
        ident = self.identity
        fields = parts.AlertFields(
            event=event, state=state, channel=channel, io_port=io_port, count=count,
            description=description if description is not None else event_description(event),
            channel_name=ident.channel_name(channel or 1), ip=self.host, port=self.port,
            mac=ident.mac, serial=ident.serial, nvr=ident.is_nvr, target=target,
            retransmission=retransmission)
        body, ctype = parts.render_alert(fields, fmt)
        data = self._transfer(parts.frame_part(body, ctype, self.boundary))
        with self._lock:
            sent_at = time.monotonic()
            delivered = self._broadcast(data)
            self.sent.append(SentAlert(sent_at, event, channel, io_port, state, delivered))

    def push_raw(self, data: bytes) -> None:
        """Send arbitrary bytes as one chunk (nothing for empty data)."""
        if data:
            with self._lock:
                self._broadcast(self._transfer(bytes(data)))

    def push_parts(self, bodies: Sequence[bytes], *, split_at: Optional[int] = None) -> None:
        """Frame several bodies as parts and send them in one chunk, or, with ``split_at``,
        cut the framed bytes into two chunks at that offset."""
        framed = b"".join(parts.frame_part(b, parts.content_type_of(b), self.boundary) for b in bodies)
        pieces = [framed] if split_at is None else [framed[:split_at], framed[split_at:]]
        with self._lock:
            for piece in pieces:
                if piece:
                    self._broadcast(self._transfer(piece))

    def push_jpeg(self, size: int = 20000) -> None:
        """Send an ``image/jpeg`` part of about ``size`` bytes (FF D8 ... FF D9)."""
        framed = parts.frame_part(parts.jpeg(size), parts.JPEG_CONTENT_TYPE, self.boundary)
        with self._lock:
            self._broadcast(self._transfer(framed))

    def play(self, steps: Sequence[Tuple[float, Callable[[], None]]]) -> threading.Thread:
        """Run each callable after its delay (seconds after the previous step) in a background
        thread; stop() cancels what is left. Returns the (started) thread."""
        script = list(steps)
        stopped = self._stopped

        def run() -> None:
            for delay, action in script:
                if stopped.wait(max(0.0, delay)):
                    return
                try:
                    action()
                except Exception:
                    _LOGGER.exception("scripted step %r failed", action)

        thread = threading.Thread(target=run, name=f"emulator-play-{self.name}", daemon=True)
        thread.start()
        return thread

    def stall(self) -> None:
        """Send nothing at all (not even heartbeats) on open streams, but keep them open.
        Alerts pushed meanwhile are held and sent on resume()."""
        with self._lock:
            self._stalled = True
            conns = list(self._streams.values())
        for conn in conns:
            conn.wait_idle()

    def resume(self) -> None:
        with self._lock:
            self._stalled = False
            self._broadcast(WAKE)

    def drop(self) -> None:
        """Cut every open alert stream abruptly (as a reboot does); keep accepting."""
        with self._lock:
            conns = list(self._streams.values())
            self._streams.clear()
            self._streams_changed.notify_all()
        for conn in conns:
            conn.close()

    def set_password(self, password: str) -> None:
        self._auth.password = password

    def set_stream_status(self, status: Optional[int]) -> None:
        """Make alertStream answer ``status`` (with a ResponseStatus body); None: stream again."""
        self._stream_status = status

    def wait_for_streams(self, n: int, timeout: float = 5.0) -> bool:
        """True once ``n`` alert streams have been opened in total (False on timeout)."""
        with self._streams_changed:
            return self._streams_changed.wait_for(lambda: self._opened >= n, timeout)

    def wait_for_open_streams(self, n: int, timeout: float = 5.0) -> bool:
        """True once exactly ``n`` alert streams are open (e.g. 0 after clients hung up)."""
        with self._streams_changed:
            return self._streams_changed.wait_for(lambda: len(self._streams) == n, timeout)

    # --- used by the server -------------------------------------------------------------

    def _transfer(self, data: bytes) -> bytes:
        return parts.chunk(data) if self.chunked else data

    def _broadcast(self, item: object) -> int:
        # Called with the lock held, so every stream sees pushes in the same order.
        for conn in self._streams.values():
            conn.put(item)
        return len(self._streams)

    # -- what the HTTP side calls (the server.ServedDevice protocol) ---------------------
    @property
    def stream_status(self) -> Optional[int]:
        """The HTTP status alert-stream requests get instead of a stream (None: a stream)."""
        return self._stream_status

    def authenticate(self, method: str, path: str, authorization: Optional[str]) -> AuthResult:
        """The verdict on one request's ``Authorization`` header."""
        return self._auth.check(method, path, authorization)

    def auth_challenges(self, stale: bool) -> List[str]:
        """The ``WWW-Authenticate`` values of a 401 answer."""
        return self._auth.challenges(stale)

    def heartbeat_bytes(self) -> bytes:
        ident = self.identity
        fields = parts.AlertFields(
            event="videoloss", state="inactive", channel=1, io_port=None, count=0,
            description=event_description("videoloss"), channel_name=ident.channel_name(1),
            ip=self.host, port=self.port, mac=ident.mac, serial=ident.serial, nvr=ident.is_nvr)
        body, ctype = parts.render_alert(fields)
        return self._transfer(parts.frame_part(body, ctype, self.boundary))

    def is_stalled(self) -> bool:
        return self._stalled

    def set_motion(self, channel: int, enabled: bool) -> None:
        self.motion_detection[channel] = enabled

    def note_auth_failure(self) -> None:
        with self._lock:
            self._auth_failures += 1

    def track_connection(self, sock: socket.socket, generation: int) -> bool:
        with self._lock:
            if not self._running or generation != self._generation:
                return False
            self._conns.add(sock)
            return True

    def untrack_connection(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.discard(sock)

    def begin_stream(self, sock: socket.socket) -> Optional[StreamConn]:
        with self._lock:
            if not self._running:
                return None
            conn = StreamConn(sock)
            self._streams[id(conn)] = conn
            return conn

    def stream_ready(self, conn: StreamConn) -> None:
        with self._lock:
            self._opened += 1
            self._streams_changed.notify_all()
            loop = self._loop
        if loop is not None:
            loop.watch(conn.sock, conn.close)

    def end_stream(self, conn: StreamConn) -> None:
        loop = self._loop
        if loop is not None:
            loop.unwatch(conn.sock)
        with self._lock:
            if self._streams.pop(id(conn), None) is not None:
                self._streams_changed.notify_all()
