"""The per-device stream thread: open the alert stream, read, parse, apply, dispatch, heal.

One ``AlertWatcher`` per device owns one thread (``pyhik-<host>``), and every callback of
the device runs on it: a slow callback delays only its own device, and each listener sees
the device's changes one at a time, in the order they happened. The thread is thin: it
reads bytes as soon as any arrive, frames and parses them, applies alerts to the device's
``SensorBook`` and hands the changes to listeners. Between bytes it sleeps until the next
byte or the book's next deadline (a stale event's end, a hold's end), whichever comes
first, and runs that deadline itself; no shared timer thread is involved. The socket
comes from :mod:`pyhik.stream.transport`, so ``stop()`` can shut it down in any phase.

Threading: the book is guarded by ``state_lock``, held only briefly and never while
listeners run, so readers on other threads never wait for a callback.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable, Iterable, Optional, Tuple, TypeVar

from pyhik.errors import AuthenticationError, DeviceError, PermissionDeniedError
from pyhik.isapi.client import PATH_ALERT_STREAM
from pyhik.protocol.alerts import Alert
from pyhik.protocol.multipart import MultipartFramer
from pyhik.protocol.templates import AlertParser
from pyhik.state.book import Change, SensorBook

from . import transport
from .listeners import Gate, Listeners
from .recovery import AUTH_RETRY_S, Backoff, Watchdog

_LOGGER = logging.getLogger(__name__)
CONNECTION_LOGGER = logging.getLogger(__name__ + ".connection")
"""The stream's connected / lost / restored lines and refused logins; a face that reports
them itself (``pyhik watch``) quiets this logger instead of matching message text."""

STOP_JOIN_S = 1.0
MAX_AUTH_RETRY_S = 3600.0

ChangeListener = Callable[[Change], None]
ConnectionListener = Callable[[bool], None]
AlertListener = Callable[[Alert], None]
T = TypeVar("T")


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


class _Run(Gate):
    """One start()..stop() lifetime; a stale run's thread exits without side effects.
    Its gate admits the callbacks; it is also its thread's
    :class:`pyhik.stream.transport.StreamHooks`: it keeps the socket of the current
    connection or attempt, for ``abort()`` to shut down from another thread."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.thread: Optional[threading.Thread] = None
        self.sock: Any = None
        self.reader: Optional[transport.SocketReader] = None
        self.body: Optional[io.BufferedReader] = None
        self.deadline: Optional[float] = None  # the book's next one, as last computed
        self.delivered = False  # the current connection delivered at least one alert

    def connecting(self, sock: Any) -> bool:
        with self.lock:  # kept even once stopped: a second abort() finds it closed
            self.sock = sock
            return not self.stopped.is_set()

    def connected(self, sock: Any) -> None:
        if not self.connecting(sock):
            transport.shutdown(sock)
            raise ConnectionAbortedError("the alert stream was stopped")

    def opened(self, reader: transport.SocketReader, body: io.BufferedReader) -> None:
        self.reader, self.body = reader, body

    def abort(self) -> None:
        """Stop, and unblock the thread by shutting its socket down (any phase)."""
        with self.lock:  # the thread closes a socket only after unregistering it
            self.stopped.set()
            if self.sock is not None:
                transport.shutdown(self.sock)


class AlertWatcher:
    """Keeps one device's alert stream open and its sensor book current."""

    def __init__(self, client: Any, book: SensorBook, *, name: Optional[str] = None,
                 backoff: Optional[Backoff] = None, watchdog: Optional[Watchdog] = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = local_now,
                 auth_retry_s: float = AUTH_RETRY_S) -> None:
        self.client = client
        self.book = book
        self.name = name or getattr(client, "host", "device")
        self.state_lock = threading.Lock()
        self._backoff = backoff or Backoff()
        self._watchdog = watchdog or Watchdog()
        self._clock = clock
        self._wall = wall
        self._auth_retry_s = auth_retry_s
        self._change_listeners: Listeners[Change] = Listeners()
        self._connection_listeners: Listeners[bool] = Listeners()
        self._alert_listeners: Listeners[Alert] = Listeners()
        self._run: Optional[_Run] = None
        self._connected = False
        self._failures = 0
        self._lost_at: Optional[float] = None
        self.last_error: Optional[BaseException] = None
        self.loss_reason: Optional[str] = None
        """Why the stream was last lost (set before the connection listeners hear of it)."""
        base, path = getattr(client, "base_url", None), PATH_ALERT_STREAM  # an IsapiClient's
        self._adapter = None if base is None else transport.mount(  # old firmware: no /ISAPI
            client.session, [base + path, base + path[len("/ISAPI"):]])

    # -- listeners -----------------------------------------------------------------------
    def add_change_listener(self, listener: ChangeListener) -> None:
        """Called with every :class:`~pyhik.state.book.Change` of the book, in order."""
        self._change_listeners.add(listener)

    def remove_change_listener(self, listener: ChangeListener) -> None:
        self._change_listeners.remove(listener)

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        self._connection_listeners.add(listener)

    def add_alert_listener(self, listener: AlertListener) -> None:
        """Called with every parsed alert (heartbeats included), before it is applied."""
        self._alert_listeners.add(listener)

    def remove_alert_listener(self, listener: AlertListener) -> None:
        self._alert_listeners.remove(listener)

    def call(self, listener: Callable[[T], None], arg: T) -> bool:
        """Call a face's own ``listener(arg)`` from inside a listener of this watcher,
        through the same gate as the watcher's own: not once stopped (a listener that
        stopped the stream was the last), a raise logged. False when it did not run:
        then call no more. Only the current run's thread gets through."""
        run = self._run
        if run is None or run.thread is not threading.current_thread():
            return False
        return run.call(listener, arg)

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
        run = self._run = _Run(str(self.name))
        run.thread = threading.Thread(target=self._loop, args=(run,), name=f"pyhik-{self.name}",
                                      daemon=True)
        run.thread.start()

    def stop(self, timeout: float = STOP_JOIN_S) -> None:
        """Stop the stream; returns within ``timeout`` seconds in all (one deadline).

        Once it returns, no callback of this watcher starts any more (nor one a face
        calls through :meth:`call`). The stream's socket
        is shut down at once, in any phase (connecting, logging in, streaming); a callback
        already running is waited for, and then the thread, within the same deadline (a
        callback still running at the deadline is left to finish on its own). Called from
        inside a callback of this watcher, it returns at once: that callback is the last.
        Sensors that were on are released without callbacks. Safe from any thread,
        idempotent.
        """
        run = self._run
        if run is None:
            return
        deadline = time.monotonic() + timeout
        run.abort()
        thread = run.thread
        if thread is not threading.current_thread():
            run.wait_calls(timeout)
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        with self.state_lock:
            self._connected = False
            self.book.release_all(self._wall())

    # -- the stream thread ----------------------------------------------------------------
    def _loop(self, run: _Run) -> None:
        with transport.serving(run):
            self._serve(run)
        if self._adapter is not None:  # a connection kept after a refused login: closed
            self._adapter.close()

    def _serve(self, run: _Run) -> None:
        refusals = 0
        while not run.stopped.is_set():
            run.delivered = False
            try:
                self._stream_once(run)
                if not run.stopped.is_set():
                    self._log_loss("the device closed the stream")
            except (AuthenticationError, PermissionDeniedError) as err:
                if run.stopped.is_set():
                    break
                self.last_error = err
                self._failures += 1
                refusals += 1
                # 5 min, then 10, 20, 40, 60: at most 3 failed logins in any 30 minutes,
                # under the 5 (users) or 7 (admin) that lock the client out.
                wait_s = min(self._auth_retry_s * 2 ** (refusals - 1), MAX_AUTH_RETRY_S)
                self.loss_reason = str(err)
                CONNECTION_LOGGER.error("%s: %s (next try in %.0f s)", self.name, err, wait_s)
                self._lost(run)
                self._sleep(run, wait_s)
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
            self._sleep(run, self._backoff.next_delay())

    def _sleep(self, run: _Run, seconds: float) -> None:
        """Wait ``seconds`` (or until stopped), running the book's deadlines on time."""
        end = self._clock() + seconds
        while True:
            now = self._clock()
            wake = end if run.deadline is None else min(end, run.deadline)
            if run.stopped.wait(max(0.0, wake - now)) or self._clock() >= end:
                return
            self._expire(run, self._clock())

    def _log_loss(self, why: str) -> None:
        """Log a loss once (WARNING) and the failed retries after it at DEBUG only."""
        self._failures += 1
        if self._failures == 1:
            self._lost_at = self._clock()
            self.loss_reason = why
            CONNECTION_LOGGER.warning("%s: alert stream lost (%s); reconnecting", self.name, why)
        else:
            _LOGGER.debug("%s: reconnect attempt %d failed (%s)", self.name, self._failures, why)

    def _log_connected(self) -> None:
        if self._failures and self._lost_at is not None:
            CONNECTION_LOGGER.info("%s: alert stream restored after %.1f s (%d failed attempts)",
                                   self.name, self._clock() - self._lost_at, self._failures - 1)
        else:
            CONNECTION_LOGGER.info("%s: alert stream connected", self.name)
        self._failures = 0
        self._lost_at = None
        self.last_error = None
        self.loss_reason = None

    def _stream_once(self, run: _Run) -> None:
        """Read one connection until it ends (``run.delivered`` tells if it was healthy)."""
        watchdog = self._watchdog
        watchdog.reset(self._clock())
        run.reader = run.body = None
        response = self.client.open_alert_stream(read_timeout=watchdog.limit_s)
        try:
            reader, body = run.reader, run.body
            if reader is None or body is None:
                raise RuntimeError("the alert stream did not come through pyhik's stream "
                                   "transport (a SOCKS proxy?)")
            read = transport.body_reader(response.headers, reader, body)
            framer = MultipartFramer(response.headers.get("Content-Type"))
            parse_alert = AlertParser().parse  # one per connection: its memo is not thread-safe
            self._log_connected()
            self._set_connected(run, True)
            reader.until(lambda: self._wait_s(run))
            while not run.stopped.is_set():
                data = read()
                now = self._clock()
                if data is None:  # a deadline came before any byte
                    if watchdog.expired(now):
                        raise TimeoutError("timed out")
                    self._expire(run, now)
                    continue
                if not data:
                    break
                watchdog.saw_bytes(now)
                for part in framer.feed(data):
                    alert = parse_alert(part.body, part.content_type)
                    if alert is not None:
                        run.delivered = True
                        if alert.heartbeat:
                            watchdog.saw_heartbeat(now)
                        self._handle(run, alert, now)
                if run.deadline is not None and now >= run.deadline:  # bytes never stop
                    self._expire(run, now)
            if not run.stopped.is_set():
                for part in framer.close():
                    alert = parse_alert(part.body, part.content_type)
                    if alert is not None:
                        self._handle(run, alert, self._clock())
        finally:
            with run.lock:
                sock, run.sock = run.sock, None
            if sock is not None:
                transport.shutdown(sock)
            response.close()

    def _wait_s(self, run: _Run) -> Optional[float]:
        """Seconds until the book's next deadline or the watchdog's, whichever is first."""
        due = self._watchdog.due_at()
        if run.deadline is not None and (due is None or run.deadline < due):
            due = run.deadline
        return None if due is None else due - self._clock()

    def _handle(self, run: _Run, alert: Alert, now: float) -> None:
        for listener in self._alert_listeners:
            run.call(listener, alert)
        with self.state_lock:
            if run.stopped.is_set():  # a stopped run must not touch the book a new run uses
                return
            changes = self.book.apply(alert, now, self._wall())
            run.deadline = self.book.next_deadline()
        self._dispatch(run, changes)

    def _expire(self, run: _Run, now: float) -> None:
        with self.state_lock:
            if run.stopped.is_set():
                return
            changes = self.book.expire(now, self._wall())
            run.deadline = self.book.next_deadline()
        self._dispatch(run, changes)

    def _lost(self, run: _Run) -> None:
        """The connection ended: release sensors that were on and report the loss.

        Not for a stopped run: stop() has released the sensors, and the thread of a run
        stopped while it was still connecting may outlive it, beside a new run.
        """
        with self.state_lock:
            if run.stopped.is_set():
                return
            changes = self.book.release_all(self._wall())
            run.deadline = None
        self._dispatch(run, changes)
        self._set_connected(run, False)

    def _set_connected(self, run: _Run, connected: bool) -> None:
        with self.state_lock:
            if self._connected == connected or run.stopped.is_set():
                return
            self._connected = connected
        for listener in self._connection_listeners:
            run.call(listener, connected)

    def _dispatch(self, run: _Run, changes: Iterable[Change]) -> None:
        for change in changes:
            for listener in self._change_listeners:
                if not run.call(listener, change):
                    return


def _describe(err: BaseException, limit_s: float) -> str:
    if isinstance(err, DeviceError):
        return str(err)
    if "timeout" in type(err).__name__.lower() or "timed out" in str(err):
        return f"no data for {limit_s:.0f} s"
    text = str(err) or type(err).__name__
    return text if len(text) <= 200 else text[:200] + "..."
