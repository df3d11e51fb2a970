"""The per-device stream thread: open the alert stream, read, parse, apply, dispatch, heal.

One ``AlertWatcher`` per device owns one thread (``pyhik-<host>``). It reads bytes as they
arrive (``read1``: a close-delimited body delivers each alert as soon as its bytes are
in), frames and parses them, applies alerts to the device's ``SensorBook`` and hands the
changes to listeners. Deadlines of the book (stale events, holds) run on the shared timer
thread. The thread is thin; the rules live in ``state``, ``multipart`` and ``alerts``.

Threading: the book is guarded by ``state_lock``, held only briefly and never while
listeners run, so readers on other threads never wait for a callback. Changes are applied
and dispatched under ``dispatch_lock`` (re-entrant), so listeners see them one at a time
and in order, whichever thread (stream or timer) produced them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime
from typing import Any, Callable, Iterable, List, Optional, Tuple

from .alerts import Alert
from .backoff import AUTH_RETRY_S, Backoff
from .chunked import ChunkedDecoder
from .errors import AuthenticationError, DeviceError, PermissionDeniedError
from .multipart import MultipartFramer
from .state import Change, SensorBook
from .templates import AlertParser
from .timers import Scheduler, shared_scheduler
from .watchdog import Watchdog

_LOGGER = logging.getLogger(__name__)

READ_SIZE = 65536
STOP_JOIN_S = 1.0
MAX_AUTH_RETRY_S = 3600.0

ChangeListener = Callable[[Change], None]
ConnectionListener = Callable[[bool], None]
AlertListener = Callable[[Alert], None]


_zone: Tuple[float, Any] = (0.0, None)


def local_now() -> datetime:
    """Wall-clock time as an aware datetime in the local zone.

    The zone is looked up once a minute (``astimezone()`` per alert was ~3.5% of the
    client's time); offsets change only on whole minutes, so nothing is lost.
    """
    global _zone
    now = time.time()
    until, zone = _zone
    if now >= until:
        zone = datetime.fromtimestamp(now).astimezone().tzinfo
        _zone = (now - now % 60 + 60, zone)
    return datetime.fromtimestamp(now, zone)


class _Run:
    """One start()..stop() lifetime; a stale run's thread exits without side effects."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.response: Any = None
        self.delivered = False
        """The current connection delivered at least one alert."""
        self.lock = threading.Lock()

    def set_response(self, response: Any) -> bool:
        with self.lock:
            if self.stopped.is_set():
                return False
            self.response = response
            return True

    def abort(self) -> None:
        """Stop, and unblock a read in progress by shutting the socket down."""
        with self.lock:
            self.stopped.set()
            response = self.response
        if response is not None:
            _shutdown(response)


def _shutdown(response: Any) -> None:
    sock = _socket_of(response)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        response.close()
    except Exception:  # closing a half-dead response may raise anything; it is gone anyway
        pass


def _reader(response: Any) -> Callable[[], bytes]:
    """A function returning the body's next bytes as soon as any are in (b"" at the end).

    A chunked body is read from the socket's buffered file and de-chunked here, many
    HTTP chunks per call (through urllib3 it costs several calls per chunk, and devices
    send a chunk per alert); anything else goes through urllib3's ``read1``.
    """
    raw = response.raw
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    direct = (getattr(raw, "chunked", False) and hasattr(fp, "read1")
              and getattr(raw._fp, "chunk_left", None) is None
              and not response.headers.get("Content-Encoding"))
    if not direct:
        # urllib3 2 has read1; under urllib3 1.26 http.client's own read1 does the same.
        read1 = getattr(raw, "read1", None) or raw._fp.read1
        return lambda: read1(READ_SIZE)
    decoder = ChunkedDecoder()

    def read() -> bytes:
        while not decoder.done:
            data = fp.read1(READ_SIZE)
            if not data:
                return b""
            payload = decoder.feed(data)
            if payload:
                return payload
        return b""
    return read


def _socket_of(response: Any) -> Optional[socket.socket]:
    """The socket under a streaming ``requests`` response (urllib3 internals, guarded)."""
    raw = getattr(response, "raw", None)
    conn = getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class AlertWatcher:
    """Keeps one device's alert stream open and its sensor book current."""

    def __init__(self, client: Any, book: SensorBook, *, name: Optional[str] = None,
                 scheduler: Optional[Scheduler] = None, backoff: Optional[Backoff] = None,
                 watchdog: Optional[Watchdog] = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = local_now,
                 auth_retry_s: float = AUTH_RETRY_S) -> None:
        self.client = client
        self.book = book
        self.name = name or getattr(client, "host", "device")
        self.state_lock = threading.Lock()
        self.dispatch_lock = threading.RLock()
        self._scheduler = scheduler or shared_scheduler()
        self._backoff = backoff or Backoff()
        self._watchdog = watchdog or Watchdog()
        self._clock = clock
        self._wall = wall
        self._auth_retry_s = auth_retry_s
        self._change_listeners: List[ChangeListener] = []
        self._connection_listeners: List[ConnectionListener] = []
        self._alert_listeners: List[AlertListener] = []
        self._listeners_lock = threading.Lock()
        self._run: Optional[_Run] = None
        self._thread: Optional[threading.Thread] = None
        self._connected = False
        self._failures = 0
        self._lost_at: Optional[float] = None
        self.last_error: Optional[BaseException] = None

    # -- listeners -----------------------------------------------------------------------
    def add_listener(self, listener: ChangeListener) -> None:
        with self._listeners_lock:
            self._change_listeners = self._change_listeners + [listener]

    def remove_listener(self, listener: ChangeListener) -> None:
        with self._listeners_lock:
            self._change_listeners = [x for x in self._change_listeners if x is not listener]

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        with self._listeners_lock:
            self._connection_listeners = self._connection_listeners + [listener]

    def add_alert_listener(self, listener: AlertListener) -> None:
        """Called with every parsed alert (heartbeats included), before it is applied."""
        with self._listeners_lock:
            self._alert_listeners = self._alert_listeners + [listener]

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def running(self) -> bool:
        return self._run is not None and not self._run.stopped.is_set()

    def start(self) -> None:
        """Start the stream thread (returns at once); a no-op while running."""
        if self.running:
            return
        run = self._run = _Run()
        self._thread = threading.Thread(target=self._loop, args=(run,), name=f"pyhik-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_JOIN_S) -> None:
        """Stop the thread; returns within ``timeout`` and no listener runs after it."""
        run, thread = self._run, self._thread
        if run is None:
            return
        reading = run.response is not None
        run.abort()
        self._scheduler.cancel(self)
        # A thread still connecting has no socket to shut down; it is not waited for. It
        # ends when its connect does, touching nothing: every path checks run.stopped.
        if reading and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self.dispatch_lock.acquire(timeout=timeout):  # let a dispatch in flight finish
            self.dispatch_lock.release()
        if self._connected:
            self._connected = False
            with self.state_lock:
                self.book.release_all(self._wall())

    # -- the stream thread ----------------------------------------------------------------
    def _loop(self, run: _Run) -> None:
        refusals = 0
        while not run.stopped.is_set():
            run.delivered = False
            try:
                self._stream_once(run)
                if not run.stopped.is_set():
                    self._log_loss("the device closed the stream")
            except (AuthenticationError, PermissionDeniedError) as err:
                self.last_error = err
                self._failures += 1
                refusals += 1
                # 5 min, then 10, 20, 40, 60: at most 3 failed logins in any 30 minutes,
                # under the 5 (users) or 7 (admin) that lock the client out.
                wait_s = min(self._auth_retry_s * 2 ** (refusals - 1), MAX_AUTH_RETRY_S)
                _LOGGER.error("%s: %s (next try in %.0f s)", self.name, err, wait_s)
                self._lost(run)
                run.stopped.wait(wait_s)
                continue
            except Exception as err:  # any failure of one connection only means: reconnect
                if run.stopped.is_set():
                    break
                self.last_error = err
                self._log_loss(_describe(err, self._watchdog.limit_s))
            self._lost(run)
            if run.delivered:  # a healthy connection, however it ended: start over at 1 s
                self._backoff.reset()
                refusals = 0
            run.stopped.wait(self._backoff.next_delay())
        self._lost(run)

    def _log_loss(self, why: str) -> None:
        """Log a loss once (WARNING) and the failed retries after it at DEBUG only."""
        self._failures += 1
        if self._failures == 1:
            self._lost_at = self._clock()
            _LOGGER.warning("%s: alert stream lost (%s); reconnecting", self.name, why)
        else:
            _LOGGER.debug("%s: reconnect attempt %d failed (%s)", self.name, self._failures, why)

    def _log_connected(self) -> None:
        if self._failures and self._lost_at is not None:
            _LOGGER.info("%s: alert stream restored after %.1f s (%d failed attempts)",
                         self.name, self._clock() - self._lost_at, self._failures - 1)
        else:
            _LOGGER.info("%s: alert stream connected", self.name)
        self._failures = 0
        self._lost_at = None
        self.last_error = None

    def _stream_once(self, run: _Run) -> None:
        """Read one connection until it ends (``run.delivered`` tells if it was healthy)."""
        watchdog = self._watchdog
        watchdog.reset(self._clock())
        response = self.client.open_alert_stream(read_timeout=watchdog.limit_s)
        if not run.set_response(response):
            _shutdown(response)
            return
        framer = MultipartFramer(response.headers.get("Content-Type"))
        parse_alert = AlertParser().parse  # one per connection: its memo is not thread-safe
        read = _reader(response)
        sock = _socket_of(response)
        timeout = watchdog.limit_s
        self._log_connected()
        self._set_connected(run, True)
        try:
            while not run.stopped.is_set():
                if sock is not None and timeout != watchdog.limit_s:
                    timeout = watchdog.limit_s
                    sock.settimeout(timeout)
                data = read()
                if not data:
                    break
                now = self._clock()
                watchdog.saw_bytes(now)
                for part in framer.feed(data):
                    alert = parse_alert(part.body, part.content_type)
                    if alert is not None:
                        run.delivered = True
                        if alert.heartbeat:
                            watchdog.saw_heartbeat(now)
                        self._handle(run, alert, now)
            if not run.stopped.is_set():
                for part in framer.close():
                    alert = parse_alert(part.body, part.content_type)
                    if alert is not None:
                        self._handle(run, alert, self._clock())
        finally:
            run.set_response(None)
            _shutdown(response)

    def _handle(self, run: _Run, alert: Alert, now: float) -> None:
        for listener in self._alert_listeners:
            self._call(listener, alert)
        if run.stopped.is_set():
            return
        with self.dispatch_lock:
            if run.stopped.is_set():  # a stopped run must not touch the book a new run uses
                return
            with self.state_lock:
                changes = self.book.apply(alert, now, self._wall())
                deadline = self.book.next_deadline()
            # Scheduled under the lock: otherwise the timer thread's older deadline could
            # land after this one and cancel it, leaving an active-only sensor on.
            self._scheduler.schedule(self, deadline, self._on_timer)
            self._dispatch(run, changes)

    def _on_timer(self) -> None:
        run = self._run
        if run is None or run.stopped.is_set():
            return
        with self.dispatch_lock:
            if run.stopped.is_set():
                return
            with self.state_lock:
                changes = self.book.expire(self._clock(), self._wall())
                deadline = self.book.next_deadline()
            self._scheduler.schedule(self, deadline, self._on_timer)
            self._dispatch(run, changes)

    def _lost(self, run: _Run) -> None:
        """The connection ended: release sensors that were on and report the loss.

        Not for a stopped run: stop() has released the sensors, and the thread of a run
        stopped while it was still connecting may outlive it, beside a new run.
        """
        if run.stopped.is_set():  # before the lock: stop() may be holding it
            return
        with self.dispatch_lock:
            if run.stopped.is_set():
                return
            with self.state_lock:
                changes = self.book.release_all(self._wall())
            self._scheduler.cancel(self)
            self._dispatch(run, changes)
            self._set_connected(run, False)

    def _set_connected(self, run: _Run, connected: bool) -> None:
        with self.dispatch_lock:
            if self._connected == connected or run.stopped.is_set():
                return
            self._connected = connected
            for listener in self._connection_listeners:
                self._call(listener, connected)

    def _dispatch(self, run: _Run, changes: Iterable[Change]) -> None:
        for change in changes:
            for listener in self._change_listeners:
                if run.stopped.is_set():
                    return
                self._call(listener, change)

    def _call(self, listener: Callable[[Any], None], arg: Any) -> None:
        try:
            listener(arg)
        except Exception:
            _LOGGER.exception("%s: a listener raised; the stream goes on", self.name)


def _describe(err: BaseException, limit_s: float) -> str:
    if isinstance(err, DeviceError):
        return str(err)
    if "timeout" in type(err).__name__.lower() or "timed out" in str(err):
        return f"no data for {limit_s:.0f} s"
    text = str(err) or type(err).__name__
    return text if len(text) <= 200 else text[:200] + "..."
